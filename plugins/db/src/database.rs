//! Connecting to the configured database and migrating it.

use std::{path::Path, time::Duration};

use daas_common::config::{DbSection, MigrateMode};
use sea_orm::{ConnectOptions, Database as SeaDatabase, DatabaseConnection, DbBackend};
use sea_orm_migration::{MigrationStatus, MigratorTrait};

use crate::migration::Migrator;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// `db_type` is not one we know.
    #[error("[db] db_type = `{0}` is not supported; use sqlite, mariadb or postgres")]
    UnknownType(String),
    /// The data directory could not be created.
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    /// The server refused or is unreachable.
    #[error("cannot connect to the {kind} database at {target}: {source}")]
    Connect { kind: String, target: String, source: sea_orm::DbErr },
    /// A migration failed.
    #[error("migrating the database failed: {0}")]
    Migrate(sea_orm::DbErr),
    /// `migrate = "manual"` and the schema is behind.
    #[error("{} database migration(s) pending ({}): run `daas db migrate --site {site}`", .pending.len(), .pending.join(", "))]
    Pending { pending: Vec<String>, site: String },
}

/// Where to connect, and a version of the URL without the password for messages.
pub fn url(db: &DbSection, site_dir: &Path) -> Result<(String, String, DbBackend), OpenError> {
    let name = if db.db_name.is_empty() { "daas" } else { db.db_name.as_str() };
    let host = if db.db_host.is_empty() { "127.0.0.1" } else { db.db_host.as_str() };
    match db.db_type.as_str() {
        "" | "sqlite" => {
            if db.database == ":memory:" {
                return Ok(("sqlite::memory:".into(), "sqlite::memory:".into(), DbBackend::Sqlite));
            }
            let file = if db.database.is_empty() {
                let data = if db.data_path.is_empty() { "data" } else { db.data_path.as_str() };
                site_dir.join(data).join(format!("{name}.sqlite"))
            } else {
                site_dir.join(&db.database)
            };
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(|e| OpenError::DataDir(parent.display().to_string(), e))?;
            }
            let u = format!("sqlite://{}?mode=rwc", file.display());
            Ok((u.clone(), u, DbBackend::Sqlite))
        }
        "mariadb" | "mysql" => {
            let port = if db.db_port == 0 { 3306 } else { db.db_port };
            let auth = if db.db_pass.is_empty() { db.db_user.clone() } else { format!("{}:{}", db.db_user, db.db_pass) };
            Ok((format!("mysql://{auth}@{host}:{port}/{name}"), format!("mysql://{}@{host}:{port}/{name}", db.db_user), DbBackend::MySql))
        }
        "postgres" | "postgresql" => {
            let port = if db.db_port == 0 { 5432 } else { db.db_port };
            let auth = if db.db_pass.is_empty() { db.db_user.clone() } else { format!("{}:{}", db.db_user, db.db_pass) };
            Ok((
                format!("postgres://{auth}@{host}:{port}/{name}"),
                format!("postgres://{}@{host}:{port}/{name}", db.db_user),
                DbBackend::Postgres,
            ))
        }
        other => Err(OpenError::UnknownType(other.to_string())),
    }
}

/// Open the database; apply pending migrations, refuse them, or leave them as
/// `[db] migrate` says.
pub async fn open(db: &DbSection, site_dir: &Path) -> Result<DatabaseConnection, OpenError> {
    let (url, shown, backend) = url(db, site_dir)?;
    let mut opts = ConnectOptions::new(url);
    let memory = shown == "sqlite::memory:";
    // One connection for an in-memory SQLite database: each connection would see its
    // own empty database.
    let max = if memory {
        1
    } else if db.pool_max == 0 {
        10
    } else {
        db.pool_max
    };
    opts.max_connections(max)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(db.enable_echo);
    let kind = match backend {
        DbBackend::Sqlite => "sqlite",
        DbBackend::MySql => "mariadb",
        _ => "postgres",
    };
    if backend == DbBackend::Sqlite {
        // On every pooled connection: WAL, so that readers do not block the writer; a
        // busy timeout instead of immediate "database is locked" errors under concurrent
        // writes; FULL synchronous, so that an acknowledged write survives a crash.
        let busy = Duration::from_millis(if db.busy_timeout_ms == 0 { 5000 } else { db.busy_timeout_ms });
        opts.map_sqlx_sqlite_opts(move |o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            let o = o.busy_timeout(busy).synchronous(SqliteSynchronous::Full).foreign_keys(true);
            if memory {
                o
            } else {
                o.journal_mode(SqliteJournalMode::Wal)
            }
        });
    }
    let conn =
        SeaDatabase::connect(opts).await.map_err(|source| OpenError::Connect { kind: kind.into(), target: shown.clone(), source })?;
    match db.migrate {
        MigrateMode::Auto => {
            Migrator::up(&conn, None).await.map_err(OpenError::Migrate)?;
            tracing::info!(database = %shown, "database open and migrated");
        }
        MigrateMode::Manual => {
            let (_, pending) = migration_status(&conn).await.map_err(OpenError::Migrate)?;
            if !pending.is_empty() {
                let _ = conn.close_by_ref().await;
                return Err(OpenError::Pending { pending, site: site_dir.display().to_string() });
            }
            tracing::info!(database = %shown, "database open, no migration pending");
        }
        MigrateMode::Never => {
            tracing::info!(database = %shown, "database open; migrations neither applied nor checked (migrate = never)");
        }
    }
    Ok(conn)
}

/// Names of applied and pending migrations. Reads only: the migrations table is not
/// created, so `daas db status` changes nothing.
pub async fn migration_status(conn: &DatabaseConnection) -> Result<(Vec<String>, Vec<String>), sea_orm::DbErr> {
    let mut applied = Vec::new();
    let mut pending = Vec::new();
    for m in Migrator::get_migration_with_status_read_only(conn).await? {
        match m.status() {
            MigrationStatus::Applied => applied.push(m.name().to_string()),
            MigrationStatus::Pending => pending.push(m.name().to_string()),
        }
    }
    Ok((applied, pending))
}

/// Apply the pending migrations; answers their names.
pub async fn migrate(conn: &DatabaseConnection) -> Result<Vec<String>, sea_orm::DbErr> {
    let (_, pending) = migration_status(conn).await?;
    Migrator::up(conn, None).await?;
    Ok(pending)
}
