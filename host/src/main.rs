//! # `daas`: the plugin host
//!
//! Where things live:
//!
//! - `main.rs` (this file): the command line (clap) and the `serve` sequence.
//! - [`db_cli`]: `daas db migrate|status`, `daas import`, `daas export`, done by the
//!   site's db plugin started on its own.
//! - [`daas_common::config`]: the site's config files, their schema and validation.
//! - [`loader`]: finding and opening plugin libraries, ABI and name checks.
//! - [`registry`]: the started plugins, their backends, and the host services plugins
//!   call (logging, backend calls, events).
//! - [`net`]: TCP connections the host opens for plugins (relays stay on one reactor).
//! - [`server`]: starting and stopping the plugins; the state requests share.
//! - [`listen`]: the HTTP server: connections, their timeouts and per-client limit.
//! - [`router`]: the request path: layers, forwarding across the boundary, WebSocket
//!   upgrades.
//! - [`openapi`]: merging the plugins' OpenAPI documents into `/openapi.json`.
//! - [`headers`]: the security headers of every response.
//! - [`host_api`]: the host's own routes (`/healthz`, `/readyz`, `/api/v1/plugins`).
//! - [`logging`]: the tracing subscriber and the panic hook.
//! - [`output`]: the CLI's output, which a closed stdout ends quietly.
//!
//! The ABI itself is in the `daas-plugin-api` crate; the plugins are in `plugins/`.

#[macro_use]
mod output;
mod db_cli;
mod headers;
mod host_api;
mod json_keys;
mod listen;
mod loader;
mod logging;
mod net;
mod openapi;
mod registry;
mod router;
mod server;
mod state;

use std::{path::PathBuf, process::ExitCode, sync::atomic::Ordering, time::Duration};

use clap::{Parser, Subcommand};
use daas_common::config::{load_site, ConfigFile, ConfigProblem, EnvOverrides, SiteConfig};

/// daas: desktop-as-a-service backend, a host for plugins.
#[derive(Parser)]
#[command(name = "daas", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server for a site.
    Serve {
        /// The site's configuration directory.
        #[arg(long, default_value = "config/demo")]
        site: PathBuf,
        /// Listen address; overrides `[extensions] listen`.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Check or describe configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Inspect plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// The site's database: its schema migrations.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Insert the rows of a YAML, TOML or JSON fixture into the site's database, in one
    /// transaction (all or nothing).
    Import {
        /// The fixture: a mapping of table names to lists of rows (`-`: stdin, as YAML).
        file: PathBuf,
        /// The site's configuration directory.
        #[arg(long, default_value = "config/demo")]
        site: PathBuf,
        /// Empty every table first (in the same transaction).
        #[arg(long)]
        drop_all: bool,
        /// The file's format (default: by its extension).
        #[arg(long, value_enum)]
        format: Option<db_cli::Format>,
    },
    /// Write every table of the site's database (trashed rows included, secrets sealed)
    /// in a form `daas import` reads back.
    Export {
        /// Where to (default or `-`: stdout). The format follows the extension: .yaml,
        /// .yml, .toml or .json.
        file: Option<PathBuf>,
        /// The site's configuration directory.
        #[arg(long, default_value = "config/demo")]
        site: PathBuf,
        /// The format (default: by the file's extension; YAML on stdout).
        #[arg(long, value_enum)]
        format: Option<db_cli::Format>,
    },
    /// Print the host version and the plugin ABI version.
    Version,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Apply the pending schema migrations (needed with `[db] migrate = "manual"`).
    Migrate {
        /// The site's configuration directory.
        #[arg(long, default_value = "config/demo")]
        site: PathBuf,
    },
    /// Show the database kind and the applied and pending migrations; changes nothing.
    Status {
        /// The site's configuration directory.
        #[arg(long, default_value = "config/demo")]
        site: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate every config file of a site and open every plugin library; report every
    /// problem at once. Exit status 2 when there is any.
    Check {
        /// The site's configuration directory.
        #[arg(long, default_value = "config/demo")]
        site: PathBuf,
    },
    /// Print the JSON Schema of the config files (all, keyed by file name, or one).
    Schema {
        /// One file, e.g. `db.toml`.
        #[arg(long)]
        file: Option<String>,
    },
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// List the site's plugins: name, version, library, and whether it loads.
    List {
        /// The site's configuration directory.
        #[arg(long, default_value = "config/demo")]
        site: PathBuf,
    },
}

/// Exit status for an invalid configuration.
const EXIT_CONFIG: u8 = 2;
/// Exit status for plugins that could not be loaded or started.
const EXIT_PLUGINS: u8 = 3;
/// Exit status for a listen address that cannot be bound.
const EXIT_LISTEN: u8 = 4;

fn print_problems(site: &std::path::Path, problems: &[ConfigProblem]) {
    errln!("daas: the configuration in {} has {} problem(s):", site.display(), problems.len());
    for p in problems {
        errln!("  {p}");
    }
}

fn load(site: &std::path::Path) -> Result<SiteConfig, ExitCode> {
    load_site(site, &EnvOverrides::from_env()).map_err(|problems| {
        print_problems(site, &problems);
        ExitCode::from(EXIT_CONFIG)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            outln!("daas {}", env!("CARGO_PKG_VERSION"));
            outln!("plugin-api (ABI) {}", daas_plugin_api::ABI_VERSION);
            ExitCode::SUCCESS
        }
        Command::Config { command: ConfigCommand::Schema { file } } => config_schema(file),
        Command::Config { command: ConfigCommand::Check { site } } => config_check(&site),
        Command::Plugins { command: PluginsCommand::List { site } } => plugins_list(&site),
        Command::Db { command: DbCommand::Status { site } } => db_cli::run(&site, db_cli::Action::Status),
        Command::Db { command: DbCommand::Migrate { site } } => db_cli::run(&site, db_cli::Action::Migrate),
        Command::Import { file, site, drop_all, format } => db_cli::run(&site, db_cli::Action::Import { file, drop_all, format }),
        Command::Export { file, site, format } => db_cli::run(&site, db_cli::Action::Export { file, format }),
        Command::Serve { site, listen } => {
            let config = match load(&site) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let max_level = logging::init(&config.logging.log);
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("daas-host").build() {
                Ok(r) => r,
                Err(e) => {
                    errln!("daas: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(serve(config, listen, max_level))
        }
    }
}

fn config_schema(file: Option<String>) -> ExitCode {
    let value = match file {
        Some(name) => match ConfigFile::from_file_name(&name) {
            Some(f) => serde_json::to_value(f.json_schema()).unwrap_or_default(),
            None => {
                let allowed: Vec<&str> = ConfigFile::ALL.iter().map(|f| f.file_name()).collect();
                errln!("daas: `{name}` is not a config file; allowed: {}", allowed.join(", "));
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        None => serde_json::Value::Object(
            ConfigFile::ALL
                .iter()
                .map(|f| (f.file_name().to_string(), serde_json::to_value(f.json_schema()).unwrap_or_default()))
                .collect(),
        ),
    };
    outln!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    ExitCode::SUCCESS
}

fn config_check(site: &std::path::Path) -> ExitCode {
    let config = match load(site) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (loaded, errors, warnings) = loader::load_all(&config);
    for w in &warnings {
        errln!("daas: warning: optional {w}");
    }
    if !errors.is_empty() {
        errln!("daas: the plugins of {} have {} problem(s):", site.display(), errors.len());
        for e in &errors {
            errln!("  {e}");
        }
        return ExitCode::from(EXIT_CONFIG);
    }
    outln!("{}: configuration OK ({} config files, {} plugin(s) load)", site.display(), ConfigFile::ALL.len(), loaded.len());
    ExitCode::SUCCESS
}

fn plugins_list(site: &std::path::Path) -> ExitCode {
    let config = match load(site) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut failed = false;
    outln!("{:<12} {:<9} {:<9} LIBRARY", "NAME", "VERSION", "STATUS");
    for entry in config.extensions.extensions.plugin.iter() {
        let path = loader::library_path(&config, entry);
        if !entry.enabled {
            outln!("{:<12} {:<9} {:<9} {}", entry.name, "-", "disabled", path.display());
            continue;
        }
        match loader::load(&config, entry) {
            Ok(lib) => outln!("{:<12} {:<9} {:<9} {}", lib.name, lib.version, "ok", path.display()),
            Err(e) => {
                failed |= !entry.optional;
                outln!("{:<12} {:<9} {:<9} {}", entry.name, "-", "error", path.display());
                errln!("  {e}");
            }
        }
    }
    outln!("(routes, backends and layers are known once started: GET /api/v1/plugins on a running server)");
    if failed {
        ExitCode::from(EXIT_PLUGINS)
    } else {
        ExitCode::SUCCESS
    }
}

async fn serve(config: SiteConfig, listen: Option<String>, max_level: daas_plugin_api::abi::LogLevel) -> ExitCode {
    let started = std::time::Instant::now();
    registry::init(tokio::runtime::Handle::current(), max_level);
    let shutdown = match server::watch_signals() {
        Ok(rx) => rx,
        Err(e) => {
            errln!("daas: cannot install the SIGINT/SIGTERM handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let state = match server::start(&config, shutdown.clone()).await {
        Ok(s) => s,
        Err(e @ server::StartError::Interrupted(_)) => {
            // What the operator asked for: not a failure.
            tracing::info!("{e}; the plugins already started were stopped");
            errln!("daas: {e}; stopped");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            tracing::error!("{e}");
            errln!("daas: cannot start: {e}");
            return ExitCode::from(EXIT_PLUGINS);
        }
    };
    let soon = || std::time::Instant::now() + Duration::from_secs(5);
    let app = match router::router(state.clone()) {
        Ok(a) => a,
        Err(e) => {
            errln!("daas: cannot start: {e}");
            server::stop_plugins(&state.plugins, soon()).await;
            return ExitCode::from(EXIT_PLUGINS);
        }
    };
    let addr = listen.unwrap_or_else(|| config.extensions.extensions.listen.clone());
    let listener = match tokio::net::TcpListener::bind(addr.as_str()).await {
        Ok(l) => l,
        Err(e) => {
            errln!("daas: cannot listen on {addr}: {e}; pick a free address with --listen or [extensions] listen");
            server::stop_plugins(&state.plugins, soon()).await;
            return ExitCode::from(EXIT_LISTEN);
        }
    };
    let shown = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
    state.ready.store(true, Ordering::SeqCst);
    tracing::info!(plugins = state.plugins.len(), ms = started.elapsed().as_millis() as u64, "daas listening on http://{shown}");
    // Machine-readable, for scripts and tests that start the server on port 0.
    {
        use std::io::Write as _;
        // Not `outln!`: a server whose stdout is closed keeps serving.
        let _ = writeln!(std::io::stdout(), "daas: listening on http://{shown}");
    }

    // One deadline for the whole shutdown: draining requests, closing WebSockets and
    // stopping plugins all fit in `shutdown_grace_ms` from the signal.
    let grace = Duration::from_millis(config.extensions.extensions.shutdown_grace_ms);
    let (deadline_tx, deadline_rx) = tokio::sync::oneshot::channel();
    let signal_state = state.clone();
    let mut signal = shutdown;
    listen::serve(
        listener,
        app,
        listen::Limits::of(&config.extensions.extensions),
        async move {
            server::requested(&mut signal).await;
            let _ = deadline_tx.send(std::time::Instant::now() + grace);
            signal_state.ready.store(false, Ordering::SeqCst);
            // Upgraded connections are not tracked by the server: tell them.
            signal_state.shutdown.send_replace(true);
            tracing::info!("shutting down: no new connections, draining in-flight requests");
        },
        grace,
    )
    .await;
    let deadline = deadline_rx.await.unwrap_or_else(|_| std::time::Instant::now() + grace);
    while router::OPEN_WEBSOCKETS.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Event handlers run in their plugins: let them finish before the plugins stop.
    registry::drain_events(deadline).await;
    server::stop_plugins(&state.plugins, deadline).await;
    tracing::info!("daas stopped");
    ExitCode::SUCCESS
}
