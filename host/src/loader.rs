//! Loading plugin libraries: find each configured library, check its ABI, check that it
//! is the plugin the site says it is.

use std::path::PathBuf;

use abi_stable::library::{lib_header_from_path, LibraryError};
use daas_common::config::{PluginEntry, SiteConfig};
use daas_plugin_api::{abi::PluginModRef, PluginName};

/// A library that loaded and passed the ABI checks (not started yet).
#[derive(Clone)]
pub struct LoadedLibrary {
    /// The configured (and declared) plugin name.
    pub name: PluginName,
    /// The plugin crate's version.
    pub version: String,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// The root module.
    pub module: PluginModRef,
    /// Its `[[extensions.plugin]]` entry.
    pub entry: PluginEntry,
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The library file does not exist.
    #[error("plugin `{name}`: library {path} does not exist; build it (`cargo build --workspace`) or set `library` in its [[extensions.plugin]] entry")]
    Missing { name: PluginName, path: PathBuf },
    /// The file could not be opened as a dynamic library, or exports no daas root module.
    #[error("plugin `{name}`: {path} is not a daas plugin library: {reason}")]
    NotAPlugin { name: PluginName, path: PathBuf, reason: String },
    /// Built against another plugin-api.
    #[error("plugin `{name}`: {path} was built against an incompatible plugin-api: {mismatch}; rebuild it against plugin-api {host_abi}")]
    AbiMismatch { name: PluginName, path: PathBuf, mismatch: String, host_abi: &'static str },
    /// It declares another name than its entry.
    #[error("plugin `{name}`: {path} declares itself as `{declared}`; fix `name` or `library` in its [[extensions.plugin]] entry")]
    WrongName { name: PluginName, path: PathBuf, declared: PluginName },
    /// The same plugin is configured twice.
    #[error("plugin `{name}` is listed twice in extensions.toml; remove one of the [[extensions.plugin]] entries")]
    Duplicate { name: PluginName },
}

/// The library path of a plugin entry.
pub fn library_path(site: &SiteConfig, entry: &PluginEntry) -> PathBuf {
    match &entry.library {
        Some(p) => site.resolve(p),
        None => site.resolve(&site.extensions.extensions.library_dir).join(format!("libdaas_plugin_{}.so", entry.name)),
    }
}

/// The useful lines of abi_stable's layout report: each error's kind with what was
/// expected and what was found. The full report is hundreds of lines long.
pub fn summarize_abi_error(err: &LibraryError) -> String {
    match err {
        LibraryError::IncompatibleVersionNumber { expected_version, actual_version, .. } => {
            format!("plugin-api version {actual_version} is not compatible with the host's {expected_version}")
        }
        LibraryError::AbiInstability(e) => summarize_layout_report(&e.to_string()),
        other => other.to_string().lines().next().unwrap_or_default().to_string(),
    }
}

/// Extract `Error:<kind>` / `Expected:` / `Found:` triples from a layout report.
fn summarize_layout_report(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut found = Vec::new();
    let next_value = |from: usize| lines[from..].iter().find(|l| !l.is_empty()).copied().unwrap_or("?");
    for (i, line) in lines.iter().enumerate() {
        if let Some(kind) = line.strip_prefix("Error:") {
            let expected = lines[i..].iter().position(|l| *l == "Expected:").map(|p| next_value(i + p + 1));
            let actual = lines[i..].iter().position(|l| *l == "Found:").map(|p| next_value(i + p + 1));
            let mut s = kind.trim().to_string();
            if let (Some(e), Some(f)) = (expected, actual) {
                s.push_str(&format!(" (expected `{e}`, found `{f}`)"));
            }
            if !found.contains(&s) {
                found.push(s);
            }
        }
    }
    if found.is_empty() {
        "the root module's layout differs".to_string()
    } else {
        found.join("; ")
    }
}

/// Load and check one plugin library.
pub fn load(site: &SiteConfig, entry: &PluginEntry) -> Result<LoadedLibrary, LoadError> {
    let path = library_path(site, entry);
    let name = entry.name;
    if !path.exists() {
        return Err(LoadError::Missing { name, path });
    }
    // lib_header_from_path opens each path with its own handle (libloading), unlike
    // RootModule::load_from_file, which caches one module per type in a static and would
    // hand the first plugin's module back for every later one.
    let header = lib_header_from_path(&path).map_err(|e| LoadError::NotAPlugin { name, path: path.clone(), reason: first_line(&e) })?;
    let module = header.init_root_module::<PluginModRef>().map_err(|e| match e {
        LibraryError::IncompatibleVersionNumber { .. } | LibraryError::AbiInstability(_) => {
            LoadError::AbiMismatch { name, path: path.clone(), mismatch: summarize_abi_error(&e), host_abi: daas_plugin_api::ABI_VERSION }
        }
        other => LoadError::NotAPlugin { name, path: path.clone(), reason: first_line(&other) },
    })?;
    let declared = (module.name())();
    if declared != name {
        return Err(LoadError::WrongName { name, path, declared });
    }
    let version = (module.version())().into_string();
    Ok(LoadedLibrary { name, version, path, module, entry: entry.clone() })
}

fn first_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().to_string()
}

/// Load every enabled plugin of the site, in order. Problems with optional plugins are
/// returned as warnings; all others as errors (every one of them, not just the first).
pub fn load_all(site: &SiteConfig) -> (Vec<LoadedLibrary>, Vec<LoadError>, Vec<LoadError>) {
    let (mut loaded, mut errors, mut warnings) = (Vec::new(), Vec::new(), Vec::new());
    let mut seen = std::collections::HashSet::new();
    for entry in site.extensions.extensions.plugin.iter().filter(|e| e.enabled) {
        if !seen.insert(entry.name) {
            errors.push(LoadError::Duplicate { name: entry.name });
            continue;
        }
        match load(site, entry) {
            Ok(lib) => loaded.push(lib),
            Err(e) if entry.optional => warnings.push(e),
            Err(e) => errors.push(e),
        }
    }
    (loaded, errors, warnings)
}

#[cfg(test)]
mod tests {
    #[test]
    fn layout_reports_are_summarized_to_their_errors() {
        let report = "Layout of expected type:\n  lots\n\nError:incompatible type size\nExpected:\n    16\nFound:\n    24\n\nError:mismatched package\nExpected:\n    a\nFound:\n    b\n";
        assert_eq!(
            super::summarize_layout_report(report),
            "incompatible type size (expected `16`, found `24`); mismatched package (expected `a`, found `b`)"
        );
    }
}
