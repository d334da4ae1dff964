//! The db bench's workload (`bench/db.sh`, run by `bash bench/run.sh`): the calls it
//! times, in one place, so that its in-process side (`bench/src/bin/db-inproc.rs`, on the
//! db plugin's `Store::client()`) and its across-the-boundary side (the testbackend's
//! `POST /api/v1/testbackend/bench/db`, on [`DbClient::host`]) run the very same code and
//! differ only in how a request reaches the db plugin.

use std::time::{Duration, Instant};

use daas_plugin_api::abi::{BackendError, BackendErrorKind};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use crate::{
    model::DaasObject,
    protocols::{DbClient, Filter},
};

/// A db backend operation the bench times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[serde(rename_all = "lowercase")]
#[oai(rename_all = "lowercase")]
pub enum DbBenchOp {
    /// Get one object by its key (`DbClient::get`).
    Get,
    /// Insert a new object; the backend makes its id, seals its two secrets and commits
    /// (`DbClient::insert`).
    Insert,
    /// Find objects by an indexed column, `id_docker` (`DbClient::find`); one matches.
    Find,
}

impl DbBenchOp {
    /// Every operation, in the order the bench runs them.
    pub const ALL: [DbBenchOp; 3] = [DbBenchOp::Get, DbBenchOp::Insert, DbBenchOp::Find];

    /// Its name (`get`, `insert`, `find`).
    pub fn name(self) -> &'static str {
        match self {
            DbBenchOp::Get => "get",
            DbBenchOp::Insert => "insert",
            DbBenchOp::Find => "find",
        }
    }
}

/// How fast one run of the operation `op` went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
pub struct DbBenchResult {
    pub op: DbBenchOp,
    /// Timed calls (after the warm-up).
    pub n: u64,
    /// Untimed calls before them.
    pub warmup: u64,
    /// Wall time of the timed calls, in milliseconds.
    pub elapsed_ms: f64,
    /// Timed calls per second.
    pub ops_per_sec: f64,
    /// CPU time (user and system, every thread of the process: caller, host, db plugin,
    /// SQLite) during the timed calls, per call, in microseconds. Unlike `ops_per_sec`
    /// it leaves out time spent waiting (for the CPU, for the disk), so other load on the
    /// machine moves it much less.
    pub cpu_us_per_op: f64,
}

/// Most calls (timed, and warm-up) one run makes: a client of the bench route cannot tie
/// the db plugin up for long.
pub const MAX_N: u64 = 100_000;

/// The object every run stores first and then gets or finds: a realistic row, with JSON
/// fields and both secrets, so that a call carries what a real one would.
fn sample(tag: &str) -> DaasObject {
    DaasObject {
        id: tag.into(),
        id_user: "bench office suite".into(),
        id_owner: 7,
        id_docker: tag.into(),
        object_type: "container".into(),
        object_mode: "app".into(),
        object_state: "stopped".into(),
        object_tasks: vec![serde_json::json!({"task": "install", "args": ["--quiet"]})],
        object_apps: vec![serde_json::json!("libreoffice")],
        object_target: serde_json::json!({"cmd": "libreoffice", "args": ["--calc"]}),
        hw_cpus: 2,
        hw_memory: 2 << 30,
        vnc_password: Some("bench-vnc-secret".into()),
        ..Default::default()
    }
}

/// A tag no earlier run used (the database may be reused between runs).
fn unique_tag() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("bench-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn wrong(op: DbBenchOp, what: String) -> BackendError {
    BackendError::new(BackendErrorKind::Internal, format!("db bench `{}`: {what}", op.name()))
}

/// One call of `op`, checked (a bench of calls that fail measures nothing).
async fn once(db: &DbClient, op: DbBenchOp, tag: &str, row: &DaasObject) -> Result<(), BackendError> {
    match op {
        DbBenchOp::Get => match db.get::<DaasObject>(tag).await? {
            Some(o) if o.id == tag => Ok(()),
            other => Err(wrong(op, format!("answered {other:?}"))),
        },
        DbBenchOp::Insert => db.insert(row).await.map(drop),
        DbBenchOp::Find => match db.find::<DaasObject>(vec![Filter::eq("id_docker", tag)]).await?.as_slice() {
            [o] if o.id_docker == tag => Ok(()),
            other => Err(wrong(op, format!("found {} rows", other.len()))),
        },
    }
}

/// Store the sample object, make `warmup` untimed calls of `op`, then time `n` calls,
/// one after another. Inserted objects stay (they get fresh ids).
pub async fn run(db: &DbClient, op: DbBenchOp, n: u64, warmup: u64) -> Result<DbBenchResult, BackendError> {
    if n == 0 || n > MAX_N || warmup > MAX_N {
        return Err(BackendError::new(BackendErrorKind::BadRequest, format!("n must be in 1..={MAX_N} and warmup at most {MAX_N}")));
    }
    let tag = unique_tag();
    db.insert(&sample(&tag)).await?;
    // Inserts leave the id empty: the backend makes one, as for a new object.
    let row = DaasObject { id: String::new(), id_docker: format!("{tag}-new"), ..sample(&tag) };
    for _ in 0..warmup {
        once(db, op, &tag, &row).await?;
    }
    let (start, cpu_start) = (Instant::now(), process_cpu());
    for _ in 0..n {
        once(db, op, &tag, &row).await?;
    }
    let elapsed = start.elapsed().max(Duration::from_nanos(1));
    let cpu = process_cpu().saturating_sub(cpu_start);
    Ok(DbBenchResult {
        op,
        n,
        warmup,
        elapsed_ms: elapsed.as_secs_f64() * 1000.0,
        ops_per_sec: n as f64 / elapsed.as_secs_f64(),
        cpu_us_per_op: cpu.as_secs_f64() * 1e6 / n as f64,
    })
}

/// CPU time (user and system) of this whole process so far; zero where unknown.
fn process_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the rusage it is given and touches nothing else; it is only
    // read after it reported success.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
        return Duration::ZERO;
    }
    // SAFETY: initialized by the successful call above (and zeroed before).
    let usage = unsafe { usage.assume_init() };
    let time = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    time(usage.ru_utime) + time(usage.ru_stime)
}
