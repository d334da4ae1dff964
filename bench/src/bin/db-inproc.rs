//! The in-process side of the db bench (`bench/run.sh`, BENCH_DB): the db plugin's
//! `Store`, linked into this program, opened on the bench site's `db.toml` with the
//! environment's overrides (as `daas serve` reads it), and the calls of
//! `daas_common::bench` through `Store::client()`: the typed DbClient, requests through
//! JSON as across the boundary, but no host, no dylib boundary, no second runtime. The
//! other side is the testbackend's `POST /api/v1/testbackend/bench/db`, the same calls
//! through the host.
//!
//! Usage: `db-inproc --site bench/site-db --data DIR --op get|insert|find --n N
//! [--warmup 100]`. `--data` replaces `[db] data_path`, so that this side has a database
//! of its own; run after run it keeps growing as the server's does. Prints the result as
//! one JSON line (the bench route's answer).

use std::path::PathBuf;

use daas_common::{
    bench::{self, DbBenchOp},
    config::{load_file, ConfigFile, DbFile, EnvOverrides},
};

struct Args {
    site: PathBuf,
    data: PathBuf,
    op: DbBenchOp,
    n: u64,
    warmup: u64,
}

fn parse_args() -> Result<Args, String> {
    let (mut site, mut data, mut op, mut n, mut warmup) = (None, None, None, None, 100);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--site" => site = Some(PathBuf::from(value()?)),
            "--data" => data = Some(PathBuf::from(value()?)),
            "--op" => {
                let name = value()?;
                op = Some(DbBenchOp::ALL.into_iter().find(|o| o.name() == name).ok_or(format!("--op `{name}`: get, insert or find"))?);
            }
            "--n" => n = Some(value()?.parse().map_err(|e| format!("--n: {e}"))?),
            "--warmup" => warmup = value()?.parse().map_err(|e| format!("--warmup: {e}"))?,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let missing = |what: &str| format!("{what} is required");
    Ok(Args {
        site: site.ok_or_else(|| missing("--site"))?,
        data: data.ok_or_else(|| missing("--data"))?,
        op: op.ok_or_else(|| missing("--op"))?,
        n: n.ok_or_else(|| missing("--n"))?,
        warmup,
    })
}

async fn run(args: Args) -> Result<String, String> {
    let value = load_file(ConfigFile::Db, &args.site, &EnvOverrides::from_env())
        .map_err(|problems| problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))?;
    let mut file: DbFile = serde_json::from_value(value).map_err(|e| format!("db.toml: {e}"))?;
    if !matches!(file.db.db_type.as_str(), "" | "sqlite") {
        return Err(format!("the db bench compares SQLite; {}/db.toml says db_type = `{}`", args.site.display(), file.db.db_type));
    }
    file.db.data_path = args.data.display().to_string();
    let store = daas_plugin_db::Store::open(&file, &args.site).await?;
    let result = bench::run(&store.client(), args.op, args.n, args.warmup).await;
    let _ = store.tables.db.close_by_ref().await;
    let result = result.map_err(|e| format!("{:?}: {}", e.kind, e.message))?;
    serde_json::to_string(&result).map_err(|e| e.to_string())
}

// Two workers: what each plugin's runtime has (`daas_plugin_api::sdk::runtime`).
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let outcome = match parse_args() {
        Ok(args) => run(args).await,
        Err(e) => Err(format!("{e}\nusage: db-inproc --site DIR --data DIR --op get|insert|find --n N [--warmup 100]")),
    };
    match outcome {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("db-inproc: {e}");
            std::process::exit(1);
        }
    }
}
