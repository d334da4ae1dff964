//! Durability: the server is killed with SIGKILL while clients write concurrently;
//! after a restart every write the server had acknowledged (201) is there. Runs on
//! SQLite (WAL, synchronous FULL) and, when their servers answer, MariaDB and
//! PostgreSQL (databases created and dropped with the `mariadb` and `psql` clients).

mod common;

use std::{
    process::Command,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use common::*;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const WRITERS: usize = 4;
/// Each writer stops after this many writes even if the kill came late.
const MAX_WRITES: usize = 3000;
/// Kill once this many writes have been acknowledged.
const KILL_AFTER: usize = 200;

fn site(db_toml: &str) -> TempSite {
    TempSite::new(&[
        ("extensions.toml", "[extensions]\nlayers = [\"testing\"]\n\n[[extensions.plugin]]\nname = \"db\"\n\n[[extensions.plugin]]\nname = \"testbackend\"\n"),
        ("db.toml", db_toml),
    ])
}

/// Run one SQL statement with a database's command-line client; false when the
/// client or the server is not there.
fn admin_sql(kind: &str, sql: &str) -> bool {
    let out = match kind {
        "mariadb" => Command::new("mariadb").args(["-h", "127.0.0.1", "-u", "root", "-e", sql]).output(),
        _ => Command::new("psql").args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", sql]).output(),
    };
    out.is_ok_and(|o| o.status.success())
}

fn kill_during_writes(site: &TempSite) {
    let mut server = Server::start(site.path());
    let base = server.base.clone();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (base, acked, count, stop) = (base.clone(), acked.clone(), count.clone(), stop.clone());
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
                for i in 0..MAX_WRITES {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    // The server makes the ids of a user's rows: the acknowledgement names it.
                    let body = serde_json::json!({"object_type": "container", "vnc_password": format!("p-w{w}-{i}")});
                    let sent = http.post(format!("{base}/api/v1/db/objects")).header("x-test-user-id", "7").json(&body).send();
                    match sent {
                        Ok(r) if r.status() == 201 => {
                            let row: serde_json::Value = r.json().expect("a 201 answers the stored row");
                            acked.lock().unwrap().push(row["id"].as_str().expect("the row's id").to_string());
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => panic!("write w{w}-{i} answered {}: {}", r.status(), r.text().unwrap_or_default()),
                        // The server died under this request: not acknowledged.
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::Relaxed) < KILL_AFTER && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= KILL_AFTER, "only {} writes were acknowledged before the kill", acked.len());

    let server = Server::start(site.path());
    let http = client();
    let mut missing = Vec::new();
    for id in &acked {
        let r = http.get(server.url(&format!("/api/v1/db/objects/{id}"))).header("x-test-user-id", "7").send().unwrap();
        if r.status() != 200 {
            missing.push(id.clone());
        }
    }
    assert!(missing.is_empty(), "{} of {} acknowledged writes are lost after SIGKILL: {missing:?}", missing.len(), acked.len());
    println!("{} acknowledged writes, all present after SIGKILL and restart", acked.len());
}

#[test]
fn sqlite_keeps_every_acknowledged_write_through_sigkill() {
    let site = site(&format!("[db]\ndb_type = \"sqlite\"\ndata_path = \"data\"\nsecret_key = \"{KEY}\"\n"));
    kill_during_writes(&site);
}

fn server_db(kind: &str) {
    let name = format!("daas_kill_{}", std::process::id());
    if !admin_sql(kind, &format!("CREATE DATABASE {name}")) {
        println!("SKIPPED: {kind} is unreachable (or its client is missing)");
        return;
    }
    let (user, port) = if kind == "mariadb" { ("root", 3306) } else { ("postgres", 5432) };
    let site = site(&format!(
        "[db]\ndb_type = \"{kind}\"\ndb_host = \"127.0.0.1\"\ndb_port = {port}\ndb_user = \"{user}\"\ndb_name = \"{name}\"\nsecret_key = \"{KEY}\"\n"
    ));
    kill_during_writes(&site);
    admin_sql(kind, &format!("DROP DATABASE {name}"));
}

#[test]
fn mariadb_keeps_every_acknowledged_write_through_sigkill() {
    server_db("mariadb");
}

#[test]
fn postgres_keeps_every_acknowledged_write_through_sigkill() {
    server_db("postgres");
}
