//! `db.toml`.

use super::*;

file! {
    /// `db.toml`: the database (seed `DatabaseConfig`) and demo samples.
    DbFile {
        /// `[db]`
        db: DbSection,
        /// `[samples]`
        samples: SamplesSection,
    }
}

file! {
    /// `[db]` (seed `DatabaseConfig`).
    DbSection {
        /// `sqlite`, `mariadb` or `postgres`.
        db_type: String,
        /// File path of an SQLite database, relative to the site directory unless
        /// absolute (empty: `<data_path>/<db_name>.sqlite`; `:memory:` for a throwaway).
        database: String,
        /// Directory for data files, relative to the site directory unless absolute.
        data_path: String,
        /// Database name.
        db_name: String,
        /// Database user (MariaDB, PostgreSQL).
        db_user: String,
        /// Database password (MariaDB, PostgreSQL).
        db_pass: String,
        /// Database host.
        db_host: String,
        /// Database port.
        db_port: u16,
        /// Log every SQL statement.
        enable_echo: bool,
        /// `user:password` of the bootstrap administrator.
        admin_credentials: Option<String>,
        /// Load the `[samples]` demo data.
        include_samples: bool,
        /// The key that encrypts secrets at rest (VNC, OS and connection passwords): 32
        /// bytes, base64. Prefer the environment: `DAAS__DB__DB__SECRET_KEY`.
        secret_key: String,
        /// Use the built-in, publicly known demo key when `secret_key` is empty. Only for
        /// the demo site: without a key the db plugin refuses to start otherwise.
        allow_demo_key: bool,
        /// Most connections in the pool (0: 10, or 1 for SQLite in memory).
        pool_max: u32,
        /// How long SQLite waits for a lock before failing, in milliseconds (0: 5000).
        busy_timeout_ms: u64,
        /// When the schema migrations run: `auto` (at start-up) or `manual` (the server
        /// refuses to start while any is pending; apply them with `daas db migrate`).
        migrate: MigrateMode,
    }
}

/// `[db] migrate`: when the db plugin applies its schema migrations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MigrateMode {
    /// At start-up.
    #[default]
    Auto,
    /// Only by `daas db migrate`: the server refuses to start while any is pending.
    Manual,
    /// Neither applied nor refused: used by `daas db status` and `daas db migrate`, not for
    /// servers (a server on an unmigrated database fails its queries).
    Never,
}

file! {
    /// `[samples]` (seed `SampleRegistryConfig`).
    SamplesSection {
        /// Owner id of shared objects.
        shared_owner: i64,
        /// Name of the shared owner.
        shared_owner_name: String,
        /// Owner id of test objects.
        test_owner: i64,
        /// Name of the test owner.
        test_owner_name: String,
        /// Default owner id.
        default_owner: i64,
        /// Default owner name.
        default_owner_name: String,
        /// Default viewer resolution, e.g. `1280x800`.
        default_resolution: String,
        /// Persist sample files.
        persist_files: bool,
        /// Persist sample applications.
        persist_apps: bool,
        /// Persist sample objects.
        persist_objects: bool,
        /// Persist the sample session.
        persist_session: bool,
    }
}
