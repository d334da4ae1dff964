//! Databases for the db plugin's tests: SQLite (always), MariaDB (127.0.0.1:3306, root)
//! and PostgreSQL (127.0.0.1:5432, postgres). Each test works in a database of its own,
//! dropped afterwards; a server that is unreachable is skipped with a line saying so.

// Every test file compiles this module on its own and uses a part of it.
#![allow(dead_code)]

use daas_common::config::{DbFile, DbSection};
use sea_orm::{ConnectionTrait, Database};

/// The three tests that run `suite(kind)` on SQLite, MariaDB and PostgreSQL, in a
/// module named after the suite (`suite::sqlite`, `suite::mariadb`, `suite::postgres`);
/// after the suite's name, the `#[tokio::test]` arguments if any.
#[macro_export]
macro_rules! on_every_database {
    ($suite:ident $(, $($test:tt)+)?) => {
        mod $suite {
            #[tokio::test$(($($test)+))?]
            async fn sqlite() {
                super::$suite("sqlite").await;
            }

            #[tokio::test$(($($test)+))?]
            async fn mariadb() {
                super::$suite("mariadb").await;
            }

            #[tokio::test$(($($test)+))?]
            async fn postgres() {
                super::$suite("postgres").await;
            }
        }
    };
}

/// The secret key of every test database.
pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A database name no other test (or concurrent run) uses: `<prefix>_<pid>_<n>`.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// A fresh database of the given kind, or None when its server is unreachable.
pub async fn fresh(kind: &str) -> Option<(DbFile, tempfile::TempDir, Option<(String, String)>)> {
    fresh_named(kind, "daas_test").await
}

/// [`fresh`], with the database named after `prefix`; the last value is the server's
/// admin URL and the statement that drops the database, for [`drop_db`].
pub async fn fresh_named(kind: &str, prefix: &str) -> Option<(DbFile, tempfile::TempDir, Option<(String, String)>)> {
    let dir = tempfile::tempdir().unwrap();
    let name = unique_name(prefix);
    let mut db = DbSection { secret_key: KEY.into(), db_name: name.clone(), ..Default::default() };
    let admin = match kind {
        "sqlite" => {
            db.db_type = "sqlite".into();
            None
        }
        "mariadb" => {
            db.db_type = "mariadb".into();
            db.db_user = "root".into();
            Some(("mysql://root@127.0.0.1:3306/test".to_string(), format!("CREATE DATABASE {name}")))
        }
        _ => {
            db.db_type = "postgres".into();
            db.db_user = "postgres".into();
            Some(("postgres://postgres@127.0.0.1:5432/postgres".to_string(), format!("CREATE DATABASE {name}")))
        }
    };
    if let Some((url, create)) = &admin {
        let mut opts = sea_orm::ConnectOptions::new(url.clone());
        opts.connect_timeout(std::time::Duration::from_secs(5));
        let Ok(conn) = Database::connect(opts).await else {
            println!("SKIPPED: {kind} is unreachable at {url}");
            return None;
        };
        conn.execute_unprepared(create).await.unwrap();
    }
    Some((DbFile { db, ..Default::default() }, dir, admin.map(|(url, _)| (url, format!("DROP DATABASE {name}")))))
}

/// Drop a database [`fresh`] created on a server.
pub async fn drop_db(admin: Option<(String, String)>) {
    if let Some((url, drop)) = admin {
        let conn = Database::connect(url).await.unwrap();
        let _ = conn.execute_unprepared(&drop).await;
    }
}
