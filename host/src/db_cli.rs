//! `daas db migrate|status`, `daas import` and `daas export`: the site's db plugin, started
//! on its own, does the work through its backend; the host never links the database code.
//!
//! Only the db entry of the site's extensions.toml is loaded (found and checked as
//! `serve` does). Its config is the site's, except that it never loads the demo samples
//! or creates the bootstrap administrator (a tool must not add rows), and for `db
//! status`/`db migrate` `[db] migrate` is
//! `never`, so that status reports pending migrations instead of applying or refusing
//! them. Import and export open the database as the server would (`auto` migrates,
//! `manual` refuses while migrations are pending).

use std::{
    collections::HashMap,
    io::{Read, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context};
use daas_common::{
    config::{ConfigFile, LogFormat, LogLevelName, LogSection, MigrateMode, SiteConfig},
    protocols::{Db, DbClient, TableName},
};
use daas_plugin_api::PluginName;
use serde::{ser::SerializeMap, Serialize, Serializer};
use serde_json::Value;

use crate::{loader, registry, server};

/// What to do.
pub enum Action {
    /// `daas db status`
    Status,
    /// `daas db migrate`
    Migrate,
    /// `daas import`
    Import { file: PathBuf, drop_all: bool, format: Option<Format> },
    /// `daas export`
    Export { file: Option<PathBuf>, format: Option<Format> },
}

/// A fixture file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// TOML (`.toml`).
    Toml,
    /// JSON (`.json`).
    Json,
}

impl Format {
    fn of(path: &Path) -> anyhow::Result<Format> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("yaml" | "yml") => Ok(Format::Yaml),
            Some("toml") => Ok(Format::Toml),
            Some("json") => Ok(Format::Json),
            _ => bail!("cannot tell the format of {}: name it .yaml, .yml, .toml or .json, or give --format", path.display()),
        }
    }
}

/// Exit status when the operation itself fails (a bad fixture, the database refuses).
const EXIT_FAILED: u8 = 1;
/// Exit status of `db status` when migrations are pending, so that a deployment script
/// can tell without reading the output.
const EXIT_PENDING: u8 = 5;

/// A failure and the exit status it means.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    fn failed(error: anyhow::Error) -> Failure {
        Failure { code: EXIT_FAILED, error }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure::failed(error)
    }
}

/// Run one command against the site's database.
pub fn run(site: &Path, action: Action) -> ExitCode {
    let config = match crate::load(site) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // The plugin's info lines (database open, ...) are noise around a command's output;
    // warnings and errors still show, and RUST_LOG still overrides.
    let level = if config.logging.log.level == LogLevelName::Error { LogLevelName::Error } else { LogLevelName::Warn };
    let max_level = crate::logging::init(&LogSection { level, format: LogFormat::Human, backtraces: config.logging.log.backtraces });
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("daas-host").build() {
        Ok(r) => r,
        Err(e) => {
            errln!("daas: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    registry::init(runtime.handle().clone(), max_level);
    match runtime.block_on(execute(&config, action)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            errln!("daas: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

async fn execute(config: &SiteConfig, action: Action) -> Result<(), Failure> {
    let site = config.dir.display().to_string();
    match action {
        Action::Status => {
            let status = with_db(config, Some(MigrateMode::Never), |db| async move { db.status().await }).await?;
            outln!("database: {}", status.db_type);
            outln!("applied migrations: {}", status.applied.len());
            for m in &status.applied {
                outln!("  {m}");
            }
            if status.pending.is_empty() {
                outln!("pending migrations: none");
            } else {
                outln!("pending migrations: {} (apply them with `daas db migrate --site {site}`)", status.pending.len());
                for m in &status.pending {
                    outln!("  {m}");
                }
                return Err(Failure {
                    code: EXIT_PENDING,
                    error: anyhow!("{} migration(s) pending: run `daas db migrate --site {site}`", status.pending.len()),
                });
            }
        }
        Action::Migrate => {
            let applied = with_db(config, Some(MigrateMode::Never), |db| async move { db.migrate().await }).await?;
            if applied.is_empty() {
                outln!("no migration pending: the database is up to date");
            } else {
                outln!("applied {} migration(s):", applied.len());
                for m in &applied {
                    outln!("  {m}");
                }
            }
        }
        Action::Import { file, drop_all, format } => {
            // The file is read and checked before the database is touched.
            let format = match format {
                Some(f) => f,
                None if file.as_os_str() == "-" => Format::Yaml,
                None => Format::of(&file)?,
            };
            let tables = read_fixture(&file, format)?;
            let report = with_db(config, None, |db| async move { db.import(tables, drop_all).await })
                .await
                .map_err(|f| Failure { code: f.code, error: f.error.context(format!("importing {} failed", file.display())) })?;
            let total: u64 = report.inserted.values().sum();
            outln!(
                "imported {total} row(s) from {} into {site}{}",
                file.display(),
                if drop_all { " after emptying every table" } else { "" }
            );
            let mut lines = Vec::new();
            for table in TableName::ALL {
                let (removed, inserted) =
                    (report.removed.get(&table).copied().unwrap_or(0), report.inserted.get(&table).copied().unwrap_or(0));
                if removed > 0 || inserted > 0 {
                    lines.push((table, removed, inserted));
                }
            }
            if !lines.is_empty() {
                if drop_all {
                    outln!("{:<24} {:>8} {:>8}", "TABLE", "REMOVED", "INSERTED");
                } else {
                    outln!("{:<24} {:>8}", "TABLE", "INSERTED");
                }
                for (table, removed, inserted) in lines {
                    if drop_all {
                        outln!("{:<24} {:>8} {:>8}", table.as_str(), removed, inserted);
                    } else {
                        outln!("{:<24} {:>8}", table.as_str(), inserted);
                    }
                }
            }
        }
        Action::Export { file, format } => {
            let to_stdout = file.as_ref().is_none_or(|f| f.as_os_str() == "-");
            let format = match (format, &file) {
                (Some(f), _) => f,
                (None, Some(path)) if !to_stdout => Format::of(path)?,
                _ => Format::Yaml,
            };
            let tables = with_db(config, None, |db| async move { db.export().await }).await?;
            let text = write_export(&tables, format)?;
            let rows: usize = tables.values().map(Vec::len).sum();
            // With the data on stdout, the summary goes to stderr.
            let summary = format!("exported {rows} row(s) of {} table(s) from {site}", tables.len());
            match file.filter(|_| !to_stdout) {
                None => {
                    crate::output::bytes(text.as_bytes());
                    errln!("{summary}");
                }
                Some(path) => {
                    write_atomically(&path, &text)?;
                    outln!("{summary} to {}", path.display());
                    outln!("{:<24} {:>8}", "TABLE", "ROWS");
                    for table in TableName::ALL {
                        if let Some(rows) = tables.get(&table).filter(|r| !r.is_empty()) {
                            outln!("{:<24} {:>8}", table.as_str(), rows.len());
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Start the site's db plugin (only it), run `work` against its backend, stop it.
/// `migrate` overrides `[db] migrate`.
async fn with_db<T, F, Fut>(config: &SiteConfig, migrate: Option<MigrateMode>, work: F) -> Result<T, Failure>
where
    F: FnOnce(DbClient) -> Fut,
    Fut: std::future::Future<Output = Result<T, daas_plugin_api::abi::BackendError>>,
{
    let site = config.dir.display();
    let Some(entry) = config.extensions.extensions.plugin.iter().find(|e| e.name == PluginName::Db && e.enabled) else {
        return Err(Failure {
            code: crate::EXIT_CONFIG,
            error: anyhow!(
                "the site {site} loads no db plugin: its extensions.toml needs an enabled [[extensions.plugin]] entry with name = \"db\""
            ),
        });
    };
    let lib = loader::load(config, entry).map_err(|e| Failure { code: crate::EXIT_PLUGINS, error: e.into() })?;
    let mut config = config.clone();
    let file = config.files.entry(ConfigFile::Db).or_insert_with(|| serde_json::json!({}));
    if let Some(file) = file.as_object_mut() {
        let db = file.entry("db").or_insert_with(|| serde_json::json!({}));
        if let Some(db) = db.as_object_mut() {
            db.insert("include_samples".into(), Value::Bool(false));
            // Nor does it create the bootstrap administrator (on `db status`, the users
            // table may not exist yet; on `import --drop-all`, it would be dropped anyway).
            db.insert("admin_credentials".into(), Value::Null);
            if let Some(mode) = migrate {
                db.insert("migrate".into(), serde_json::to_value(mode).unwrap_or_default());
            }
        }
    }
    let plugin = server::start_one(&config, lib).await.map_err(|e| Failure { code: crate::EXIT_PLUGINS, error: e.into() })?;
    let client = DbClient::from_fn(|request| Box::pin(async move { registry::call::<Db>(&request).await }));
    let result = work(client).await;
    server::stop_plugins(std::slice::from_ref(&plugin), Instant::now() + Duration::from_secs(10)).await;
    result.map_err(|e| Failure::failed(anyhow!("{}", e.message)))
}

// ---------------------------------------------------------------- reading fixtures

/// A fixture as the rows of each table. Every problem of the file's shape is an error
/// naming the file; the rows themselves are checked by the db plugin.
fn read_fixture(path: &Path, format: Format) -> anyhow::Result<HashMap<TableName, Vec<Value>>> {
    let shown = path.display();
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("cannot read the fixture from stdin")?;
        s
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {shown}"))?
    };
    let value: Value = match format {
        // serde_norway: serde_yaml's maintained fork (serde_yaml is deprecated, and
        // serde_yml, the other fork, is flagged unsound: RUSTSEC-2025-0068).
        Format::Yaml => serde_norway::from_str(&text).map_err(|e| anyhow!("{shown} is not valid YAML: {e}"))?,
        Format::Toml => toml_to_json(toml::from_str::<toml::Table>(&text).map_err(|e| anyhow!("{shown} is not valid TOML: {e}"))?.into()),
        Format::Json => serde_json::from_str(&text).map_err(|e| anyhow!("{shown} is not valid JSON: {e}"))?,
    };
    let map = match value {
        Value::Object(map) => map,
        // An empty YAML document: nothing to import.
        Value::Null => Default::default(),
        _ => bail!("{shown}: a fixture is a mapping of table names to lists of rows"),
    };
    let mut tables = HashMap::new();
    for (name, rows) in map {
        let table: TableName = name.parse().map_err(|e: String| anyhow!("{shown}: {e}"))?;
        let rows = match rows {
            Value::Array(rows) => rows,
            // `users:` with nothing after it.
            Value::Null => Vec::new(),
            _ => bail!("{shown}: table `{name}` must be a list of rows"),
        };
        tables.insert(table, rows);
    }
    Ok(tables)
}

/// TOML's value as JSON; its dates and times become RFC 3339 strings, as the models
/// expect them.
fn toml_to_json(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => Value::from(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect()),
    }
}

// ---------------------------------------------------------------- writing exports

/// The tables in import order (parents first), so that a file reads top-down.
struct Ordered<'a>(&'a HashMap<TableName, Vec<Value>>);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for table in TableName::ALL {
            if let Some(rows) = self.0.get(&table) {
                map.serialize_entry(table.as_str(), rows)?;
            }
        }
        map.end()
    }
}

const HEADER: &str = "# daas export: every table of the site, trashed rows included. Secrets are sealed with the
# site's [db] secret_key: only a site with the same key can use them. Read it back with
# `daas import FILE --site DIR --drop-all`.
";

fn write_export(tables: &HashMap<TableName, Vec<Value>>, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Yaml => format!("{HEADER}{}", serde_norway::to_string(&Ordered(tables)).context("cannot write the export as YAML")?),
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&Ordered(tables)).context("cannot write the export as JSON")?),
        Format::Toml => {
            let tables = without_nulls(tables)?;
            format!("{HEADER}\n{}", toml::to_string(&Ordered(&tables)).context("cannot write the export as TOML")?)
        }
    })
}

/// TOML has no null: a field that is null is left out (an import reads a missing field
/// as null, so nothing is lost). A null inside a JSON field cannot be left out; the
/// export refuses it rather than change the value.
fn without_nulls(tables: &HashMap<TableName, Vec<Value>>) -> anyhow::Result<HashMap<TableName, Vec<Value>>> {
    fn has_null(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Array(a) => a.iter().any(has_null),
            Value::Object(o) => o.values().any(has_null),
            _ => false,
        }
    }
    let mut out = HashMap::new();
    for (table, rows) in tables {
        let mut kept = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let mut row = row.clone();
            if let Some(fields) = row.as_object_mut() {
                fields.retain(|_, v| !v.is_null());
                if let Some((field, _)) = fields.iter().find(|(_, v)| has_null(v)) {
                    bail!(
                        "table `{table}`, row {}: field `{field}` holds a null, which TOML cannot represent; export as YAML or JSON instead",
                        i + 1
                    );
                }
            }
            kept.push(row);
        }
        out.insert(*table, kept);
    }
    Ok(out)
}

/// Write `text` to `path` through a temporary file in the same directory, so that a
/// failed export never leaves a truncated file behind.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| anyhow!("{} is not a file name", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        // Owner-only, like a database file: sealed secrets, password hashes, session ids.
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow!("cannot write {}: {e}", path.display())
    })
}
