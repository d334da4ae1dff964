//! Loading and validating a site's config files, reporting every problem at once with
//! file, line, key and what is allowed.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};

use super::{
    files::ConfigFile,
    sections::*,
    validate::{path_string, Seg},
};

/// Environment variables starting with this override config keys:
/// `DAAS__<FILE>__<SECTION>__<KEY>=value`, with `<FILE>` the file name without `.toml`
/// (`DAAS__EXTENSIONS__EXTENSIONS__LISTEN=127.0.0.1:9000`,
/// `DAAS__CEPH__CEPHSTORE__DAASFS__KEY=...`). Names are case-insensitive; the value is
/// read as a TOML value when it is one (`true`, `5`, `["a"]`), otherwise as a string.
pub const ENV_PREFIX: &str = "DAAS__";

/// The overriding environment variables (name, value).
#[derive(Debug, Clone, Default)]
pub struct EnvOverrides(pub Vec<(String, String)>);

impl EnvOverrides {
    /// The `DAAS__*` variables of this process.
    pub fn from_env() -> Self {
        // vars_os: a variable that is not UTF-8 (anyone's, not only ours) must not stop
        // the server; ours are read lossily and then validated like any value.
        EnvOverrides(
            std::env::vars_os()
                .filter_map(|(k, v)| {
                    let k = k.into_string().ok()?;
                    k.to_ascii_uppercase().starts_with(ENV_PREFIX).then(|| (k, v.to_string_lossy().into_owned()))
                })
                .collect(),
        )
    }
}

/// One problem with a site's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file (or environment variable) it is in.
    pub file: String,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The key path (`extensions.plugin[0].name`), empty for the whole file.
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": key `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A validated site: every config file as JSON with defaults filled in, and the typed
/// files the host itself reads.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    /// The site directory.
    pub dir: PathBuf,
    /// `extensions.toml`
    pub extensions: ExtensionsFile,
    /// `logging.toml`
    pub logging: LoggingFile,
    /// Every file, validated, as JSON (what plugins receive).
    pub files: BTreeMap<ConfigFile, serde_json::Value>,
}

impl SiteConfig {
    /// Resolve a path from the config relative to the site directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

/// The line a key path is written on (its deepest part that is in the document).
fn line_of_path(doc: &toml_edit::ImDocument<String>, path: &[Seg]) -> Option<usize> {
    use toml_edit::{Item, TableLike, Value};
    let mut line = None;
    let mut mark = |span: Option<std::ops::Range<usize>>| {
        if let Some(span) = span {
            line = Some(line_of(doc.raw(), span.start));
        }
    };
    // Where the walk is: a table (the document, an element of an array of tables, an
    // inline table in an array), or the value the last key led to.
    let mut table: Option<&dyn TableLike> = Some(doc.as_table());
    let mut item: Option<&Item> = None;
    for seg in path {
        match seg {
            Seg::Key(k) => {
                let Some((key, value)) = table.or_else(|| item.and_then(Item::as_table_like)).and_then(|t| t.get_key_value(k)) else {
                    break;
                };
                mark(key.span().or_else(|| value.span()));
                (table, item) = (None, Some(value));
            }
            Seg::Index(i) => {
                let (span, next): (_, Option<&dyn TableLike>) = match item {
                    Some(Item::ArrayOfTables(a)) => match a.get(*i) {
                        Some(t) => (t.span(), Some(t)),
                        None => break,
                    },
                    Some(Item::Value(Value::Array(a))) => match a.get(*i) {
                        Some(v) => (v.span(), v.as_inline_table().map(|t| t as &dyn TableLike)),
                        None => break,
                    },
                    _ => break,
                };
                mark(span);
                if next.is_none() {
                    break;
                }
                (table, item) = (next, None);
            }
        }
    }
    line
}

fn resolve<'a>(root: &'a serde_json::Value, mut node: &'a serde_json::Value) -> &'a serde_json::Value {
    for _ in 0..8 {
        if let Some(r) = node.get("$ref").and_then(|r| r.as_str()) {
            let name = r.trim_start_matches("#/definitions/");
            match root.get("definitions").and_then(|d| d.get(name)) {
                Some(n) => node = n,
                None => return node,
            }
        } else if let Some(first) = node
            .get("allOf")
            .or_else(|| node.get("anyOf"))
            .and_then(|a| a.as_array())
            .and_then(|a| a.iter().find(|n| n.get("type").and_then(|t| t.as_str()) != Some("null")))
        {
            node = first;
        } else {
            return node;
        }
    }
    node
}

/// The schema of the value at `path`.
fn schema_at<'a>(schema: &'a serde_json::Value, path: &[Seg]) -> Option<&'a serde_json::Value> {
    let mut node = resolve(schema, schema);
    for seg in path {
        let next = match seg {
            Seg::Key(k) => node.get("properties").and_then(|p| p.get(k)),
            Seg::Index(_) => node.get("items"),
        }?;
        node = resolve(schema, next);
    }
    Some(node)
}

/// The keys the schema allows at `path` (the parent of an unknown key).
fn allowed_keys(schema: &serde_json::Value, path: &[Seg]) -> Vec<String> {
    schema_at(schema, path)
        .and_then(|n| n.get("properties"))
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Whether the schema says the value at `path` is a string (or an optional string).
fn is_string(schema: &serde_json::Value, path: &[Seg]) -> bool {
    let types = |n: &serde_json::Value| -> Vec<String> {
        match n.get("type") {
            Some(serde_json::Value::String(t)) => vec![t.clone()],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        }
    };
    schema_at(schema, path).is_some_and(|n| types(n).iter().any(|t| t == "string") || n.get("enum").is_some())
}

/// The value of an environment override: a string where the schema wants one, else
/// exactly one TOML value (`5`, `true`, `["a"]`); anything else is taken as a string.
fn override_value(raw: &str, wants_string: bool) -> toml::Value {
    if wants_string || raw.contains('\n') || raw.contains('#') {
        return toml::Value::String(raw.to_string());
    }
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .filter(|t| t.len() == 1)
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

fn set_override(value: &mut toml::Value, path: &[String], parsed: toml::Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else { return Err("names no key".into()) };
    let mut cur = value;
    for seg in parents {
        let toml::Value::Table(t) = cur else { return Err(format!("`{seg}` is not a table")) };
        cur = t.entry(seg.clone()).or_insert_with(|| toml::Value::Table(Default::default()));
    }
    let toml::Value::Table(t) = cur else { return Err(format!("`{last}`'s parent is not a table")) };
    t.insert(last.clone(), parsed);
    Ok(())
}

/// Load and validate one config file of the site in `dir` (a missing file means all
/// defaults), with environment overrides applied. Returns the file as JSON.
pub fn load_file(file: ConfigFile, dir: &Path, env: &EnvOverrides) -> Result<serde_json::Value, Vec<ConfigProblem>> {
    let path = dir.join(file.file_name());
    let name = file.file_name().to_string();
    let problem = |line, key: String, message: String| ConfigProblem { file: name.clone(), line, key, message };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(vec![problem(None, String::new(), format!("cannot be read: {e}"))]),
    };
    let mut value = match toml::from_str::<toml::Table>(&text) {
        Ok(t) => toml::Value::Table(t),
        Err(e) => {
            let line = e.span().map(|s| line_of(&text, s.start));
            return Err(vec![problem(line, String::new(), format!("is not valid TOML: {}", e.message()))]);
        }
    };
    let doc =
        toml_edit::ImDocument::parse(text.clone()).map_err(|e| vec![problem(None, String::new(), format!("is not valid TOML: {e}"))])?;

    let schema = serde_json::to_value(file.json_schema()).unwrap_or_default();
    let mut problems = Vec::new();
    // Which keys came from the environment, so that their problems name the variable.
    let mut overridden: Vec<(Vec<Seg>, String)> = Vec::new();
    for (var, raw) in &env.0 {
        let Some((stem, key)) = env_target(var) else { continue };
        if stem != file.stem() {
            continue;
        }
        let segs: Vec<Seg> = key.iter().cloned().map(Seg::Key).collect();
        match set_override(&mut value, &key, override_value(raw, is_string(&schema, &segs))) {
            Ok(()) => overridden.push((segs, var.clone())),
            Err(e) => {
                problems.push(ConfigProblem { file: format!("environment variable {var}"), line: None, key: key.join("."), message: e })
            }
        }
    }

    match file.validate(value) {
        Ok(json) if problems.is_empty() => Ok(json),
        Ok(_) => Err(problems),
        Err(raw) => {
            for p in raw {
                let from_env = overridden.iter().find(|(segs, _)| p.path.starts_with(segs)).map(|(_, var)| var);
                let line = if from_env.is_some() { None } else { line_of_path(&doc, &p.path) };
                let key = path_string(&p.path);
                let message = if p.unknown {
                    let allowed = allowed_keys(&schema, &p.path[..p.path.len().saturating_sub(1)]);
                    if allowed.is_empty() {
                        "unknown key; this section takes no keys (yet)".to_string()
                    } else {
                        format!("unknown key; allowed keys here: {}", allowed.join(", "))
                    }
                } else {
                    p.message.clone()
                };
                let file = from_env.map_or_else(|| name.clone(), |var| format!("environment variable {var}"));
                problems.push(ConfigProblem { file, line, key, message });
            }
            Err(problems)
        }
    }
}

/// The file stem and key path an override variable names (`DAAS__INFO__SYS__SITE_NAME`
/// → `info`, `[sys, site_name]`), lower-cased.
fn env_target(var: &str) -> Option<(String, Vec<String>)> {
    let upper = var.to_ascii_uppercase();
    let rest = upper.strip_prefix(ENV_PREFIX)?;
    let mut parts = rest.split("__").map(|s| s.to_ascii_lowercase());
    let stem = parts.next()?;
    Some((stem, parts.collect()))
}

/// Load and validate every config file of the site in `dir`, collecting every problem.
pub fn load_site(dir: &Path, env: &EnvOverrides) -> Result<SiteConfig, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    for (var, _) in &env.0 {
        let known = env_target(var).is_some_and(|(stem, key)| !key.is_empty() && ConfigFile::ALL.iter().any(|f| f.stem() == stem));
        if !known {
            problems.push(ConfigProblem {
                file: format!("environment variable {var}"),
                line: None,
                key: String::new(),
                message: format!(
                    "names no config file; use {ENV_PREFIX}<FILE>__<SECTION>__<KEY> with <FILE> one of {}",
                    ConfigFile::ALL.iter().map(|f| f.stem().to_ascii_uppercase()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }
    let dir_name = dir.display().to_string();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if name.ends_with(".toml") && ConfigFile::from_file_name(&name).is_none() {
                    problems.push(ConfigProblem {
                        file: name,
                        line: None,
                        key: String::new(),
                        message: format!(
                            "is not a daas config file (a typo?); allowed files: {}",
                            ConfigFile::ALL.iter().map(|f| f.file_name()).collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
            }
        }
        Err(e) => {
            return Err(vec![ConfigProblem {
                file: dir_name,
                line: None,
                key: String::new(),
                message: format!("site directory cannot be read: {e}; pass an existing directory with --site"),
            }])
        }
    }
    let mut files = BTreeMap::new();
    for file in ConfigFile::ALL {
        match load_file(*file, dir, env) {
            Ok(json) => {
                files.insert(*file, json);
            }
            Err(p) => problems.extend(p),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let typed = |f: ConfigFile| files.get(&f).cloned().unwrap_or_default();
    let extensions: ExtensionsFile =
        serde_json::from_value(typed(ConfigFile::Extensions)).map_err(|e| internal(e, ConfigFile::Extensions))?;
    let logging: LoggingFile = serde_json::from_value(typed(ConfigFile::Log)).map_err(|e| internal(e, ConfigFile::Log))?;
    Ok(SiteConfig { dir: dir.to_path_buf(), extensions, logging, files })
}

fn internal(e: serde_json::Error, file: ConfigFile) -> Vec<ConfigProblem> {
    vec![ConfigProblem {
        file: file.file_name().into(),
        line: None,
        key: String::new(),
        message: format!("internal error re-reading: {e}"),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(files: &[(&str, &str)]) -> tempdir::Dir {
        let d = tempdir::Dir::new();
        for (name, text) in files {
            std::fs::write(d.path().join(name), text).unwrap();
        }
        d
    }

    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicUsize, Ordering};
                static N: AtomicUsize = AtomicUsize::new(0);
                let p = std::env::temp_dir().join(format!("daas-config-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn empty_site_means_defaults() {
        let d = site(&[]);
        let s = load_site(d.path(), &EnvOverrides::default()).unwrap();
        assert_eq!(s.extensions.extensions.listen, "127.0.0.1:8080");
        assert_eq!(s.files.len(), ConfigFile::ALL.len());
    }

    #[test]
    fn every_unknown_key_is_reported_with_line_and_allowed_keys() {
        let d = site(&[(
            "extensions.toml",
            "[extensions]\nlisten = \"127.0.0.1:1\"\nlisen = 3\nlayerz = []\n\n[[extensions.plugin]]\nname = \"testbackend\"\nlibary = \"x.so\"\n",
        )]);
        let problems = load_site(d.path(), &EnvOverrides::default()).unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 3, "{text:#?}");
        assert!(
            text.iter().any(
                |t| t.starts_with("extensions.toml:3: key `extensions.lisen`: unknown key; allowed keys here:") && t.contains("listen")
            ),
            "{text:#?}"
        );
        assert!(text.iter().any(|t| t.starts_with("extensions.toml:4: key `extensions.layerz`")), "{text:#?}");
        assert!(
            text.iter().any(|t| t.starts_with("extensions.toml:8: key `extensions.plugin[0].libary`") && t.contains("library")),
            "{text:#?}"
        );
    }

    #[test]
    fn wrong_types_and_unknown_names_are_all_reported() {
        let d = site(&[
            ("extensions.toml", "[extensions]\nshutdown_grace_ms = \"soon\"\nmax_body_bytes = -1\n[[extensions.plugin]]\nname = \"dbx\"\n"),
            ("db.toml", "[db]\ndb_port = \"five\"\n"),
        ]);
        let problems = load_site(d.path(), &EnvOverrides::default()).unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 4, "{text:#?}");
        assert!(
            text.iter().any(|t| t.starts_with("extensions.toml:2: key `extensions.shutdown_grace_ms`") && t.contains("invalid type")),
            "{text:#?}"
        );
        assert!(text.iter().any(|t| t.starts_with("extensions.toml:3: key `extensions.max_body_bytes`")), "{text:#?}");
        assert!(
            text.iter().any(|t| t.contains("extensions.plugin[0].name") && t.contains("dbx") && t.contains("testbackend")),
            "{text:#?}"
        );
        assert!(text.iter().any(|t| t.starts_with("db.toml:2: key `db.db_port`")), "{text:#?}");
    }

    #[test]
    fn reserved_sections_refuse_keys_and_unknown_files_are_reported() {
        let d = site(&[("files.toml", "[filestore]\nx = 1\n"), ("extention.toml", "")]);
        let problems = load_site(d.path(), &EnvOverrides::default()).unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(
            text.iter().any(|t| t.starts_with("files.toml:2: key `filestore.x`: unknown key; this section takes no keys")),
            "{text:#?}"
        );
        assert!(text.iter().any(|t| t.starts_with("extention.toml: is not a daas config file")), "{text:#?}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let d = site(&[("info.toml", "[sys]\nsite_name = \n")]);
        let problems = load_site(d.path(), &EnvOverrides::default()).unwrap_err();
        assert_eq!(problems[0].file, "info.toml");
        assert_eq!(problems[0].line, Some(2));
        assert!(problems[0].message.contains("not valid TOML"));
    }

    #[test]
    fn environment_overrides_keys() {
        let d = site(&[("extensions.toml", "[extensions]\nlisten = \"127.0.0.1:1\"\n")]);
        let env = EnvOverrides(vec![
            ("DAAS__EXTENSIONS__EXTENSIONS__LISTEN".into(), "127.0.0.1:9".into()),
            ("DAAS__EXTENSIONS__EXTENSIONS__SHUTDOWN_GRACE_MS".into(), "5".into()),
            ("DAAS__INFO__SYS__SITE_NAME".into(), "from-env".into()),
        ]);
        let s = load_site(d.path(), &env).unwrap();
        assert_eq!(s.extensions.extensions.listen, "127.0.0.1:9");
        assert_eq!(s.extensions.extensions.shutdown_grace_ms, 5);
        assert_eq!(s.files[&ConfigFile::Info]["sys"]["site_name"], "from-env");
        let bad = EnvOverrides(vec![("DAAS__INFO__SYS__NOPE".into(), "1".into())]);
        let problems = load_site(d.path(), &bad).unwrap_err();
        assert!(problems[0].to_string().contains("key `sys.nope`: unknown key"), "{:?}", problems);
    }

    #[test]
    fn problems_after_a_removed_array_element_keep_their_written_index_and_line() {
        let d = site(&[(
            "extensions.toml",
            "[extensions]\nlayers = [\"testing\", \"bogus1\", \"bogus2\"]\n[[extensions.plugin]]\nname = \"dbx\"\n[[extensions.plugin]]\nname = \"info\"\n[[extensions.plugin]]\nname = \"db\"\nlibary = \"x\"\n",
        )]);
        let problems = load_site(d.path(), &EnvOverrides::default()).unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(text.iter().any(|t| t.contains("key `extensions.layers[1]`") && t.contains("bogus1")), "{text:#?}");
        assert!(text.iter().any(|t| t.contains("key `extensions.layers[2]`") && t.contains("bogus2")), "{text:#?}");
        assert!(text.iter().any(|t| t.starts_with("extensions.toml:4: key `extensions.plugin[0].name`")), "{text:#?}");
        assert!(text.iter().any(|t| t.starts_with("extensions.toml:9: key `extensions.plugin[2].libary`")), "{text:#?}");
        assert_eq!(problems.len(), 4, "{text:#?}");
    }

    #[test]
    fn environment_overrides_are_typed_by_the_schema_and_blamed_on_the_variable() {
        let d = site(&[("extensions.toml", "[extensions]\nlisten = \"127.0.0.1:1\"\n")]);
        // A string key takes a numeric-looking value as a string.
        let env = EnvOverrides(vec![("DAAS__INFO__SYS__SITE_NAME".into(), "1234".into())]);
        assert_eq!(load_site(d.path(), &env).unwrap().files[&ConfigFile::Info]["sys"]["site_name"], "1234");
        // A bad value names the variable, not the file.
        let env = EnvOverrides(vec![("DAAS__EXTENSIONS__EXTENSIONS__SHUTDOWN_GRACE_MS".into(), "1_000 # soon".into())]);
        let problems = load_site(d.path(), &env).unwrap_err();
        assert_eq!(problems[0].file, "environment variable DAAS__EXTENSIONS__EXTENSIONS__SHUTDOWN_GRACE_MS", "{problems:?}");
        assert_eq!(problems[0].line, None);
        // A variable naming no file is reported.
        let env = EnvOverrides(vec![
            ("DAAS__EXTENSION__EXTENSIONS__LISTEN".into(), "x".into()),
            ("DAAS__LOG__LOG__LEVEL".into(), "debug".into()),
        ]);
        let problems = load_site(d.path(), &env).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(|p| p.message.starts_with("names no config file")), "{problems:?}");
        // The right name works.
        let env = EnvOverrides(vec![("DAAS__LOGGING__LOG__LEVEL".into(), "debug".into())]);
        assert_eq!(load_site(d.path(), &env).unwrap().logging.log.level, LogLevelName::Debug);
    }

    #[test]
    fn every_file_has_a_schema_that_refuses_unknown_keys() {
        for f in ConfigFile::ALL {
            let schema = serde_json::to_value(f.json_schema()).unwrap();
            assert_eq!(schema["additionalProperties"], serde_json::json!(false), "{f}");
        }
    }
}
