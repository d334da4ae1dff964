//! Checking one parsed config file against its type: every unknown key and every wrong
//! value, each with its key path (the loader adds file and line).

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

pub(crate) fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A problem found while validating, before file and line are known.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RawProblem {
    pub(crate) path: Vec<Seg>,
    pub(crate) unknown: bool,
    pub(crate) message: String,
}

fn ignored_path(path: &serde_ignored::Path<'_>, out: &mut Vec<Seg>) {
    use serde_ignored::Path as P;
    match path {
        P::Root => {}
        P::Seq { parent, index } => {
            ignored_path(parent, out);
            out.push(Seg::Index(*index));
        }
        P::Map { parent, key } => {
            ignored_path(parent, out);
            out.push(Seg::Key(key.clone()));
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => ignored_path(parent, out),
    }
}

fn error_path(path: &serde_path_to_error::Path) -> Vec<Seg> {
    use serde_path_to_error::Segment as S;
    path.iter()
        .filter_map(|s| match s {
            S::Seq { index } => Some(Seg::Index(*index)),
            S::Map { key } => Some(Seg::Key(key.clone())),
            S::Enum { variant } => Some(Seg::Key(variant.clone())),
            S::Unknown => None,
        })
        .collect()
}

/// Remove the value at `path` so that its default applies on the next attempt.
fn remove_path(value: &mut toml::Value, path: &[Seg]) -> bool {
    let Some((last, parents)) = path.split_last() else { return false };
    let mut cur = value;
    for seg in parents {
        cur = match (seg, cur) {
            (Seg::Key(k), toml::Value::Table(t)) => match t.get_mut(k) {
                Some(v) => v,
                None => return false,
            },
            (Seg::Index(i), toml::Value::Array(a)) => match a.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, cur) {
        (Seg::Key(k), toml::Value::Table(t)) => t.remove(k).is_some(),
        (Seg::Index(i), toml::Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

/// Validate `value` as `T`: every unknown key and every wrongly typed value is a
/// problem. A bad value is removed and validation retried, so that one bad key does not
/// hide the next.
pub(crate) fn validate_as<T: DeserializeOwned + serde::Serialize>(mut value: toml::Value) -> Result<serde_json::Value, Vec<RawProblem>> {
    let mut problems = BTreeSet::new();
    // Paths are reported as the user wrote them: removing a bad array element shifts
    // the ones after it, so every path found on a later attempt is mapped back.
    let mut removed_paths: Vec<Vec<Seg>> = Vec::new();
    let mut removed_elements: BTreeMap<Vec<Seg>, Vec<usize>> = BTreeMap::new();
    for _attempt in 0..64 {
        let mut unknown = Vec::new();
        let mut track = serde_path_to_error::Track::new();
        let result: Result<T, _> = {
            let de = serde_path_to_error::Deserializer::new(value.clone(), &mut track);
            serde_ignored::deserialize(de, |path| {
                let mut p = Vec::new();
                ignored_path(&path, &mut p);
                unknown.push(p);
            })
        };
        match result {
            Ok(typed) => {
                for path in unknown {
                    problems.insert(RawProblem { path: to_original(&path, &removed_elements), unknown: true, message: String::new() });
                }
                if problems.is_empty() {
                    return Ok(serde_json::to_value(&typed).expect("config types serialize to JSON"));
                }
                return Err(problems.into_iter().collect());
            }
            Err(err) => {
                let current = error_path(&track.path());
                let path = to_original(&current, &removed_elements);
                // The toml error's text ends with "in `path`" lines; the path is
                // reported separately.
                let message = err.to_string().lines().next().unwrap_or_default().to_string();
                let removed = remove_path(&mut value, &current);
                if let (true, Some((Seg::Index(i), parent))) = (removed, path.split_last()) {
                    let list = removed_elements.entry(parent.to_vec()).or_default();
                    list.push(*i);
                    list.sort_unstable();
                }
                // Removing a bad required value makes its table miss that field: that
                // is the same problem again, not a new one.
                let cascade = message.starts_with("missing field") && removed_paths.iter().any(|r| r.starts_with(&path));
                if !cascade {
                    problems.insert(RawProblem { path: path.clone(), unknown: false, message });
                }
                removed_paths.push(path);
                if !removed {
                    break;
                }
            }
        }
    }
    Err(problems.into_iter().collect())
}

/// Map a path on the current (shrunk) value back to the path as written.
fn to_original(path: &[Seg], removed: &BTreeMap<Vec<Seg>, Vec<usize>>) -> Vec<Seg> {
    let mut out: Vec<Seg> = Vec::with_capacity(path.len());
    for seg in path {
        match seg {
            Seg::Index(current) => {
                let mut original = *current;
                for r in removed.get(&out).map(Vec::as_slice).unwrap_or_default() {
                    if *r <= original {
                        original += 1;
                    }
                }
                out.push(Seg::Index(original));
            }
            key => out.push(key.clone()),
        }
    }
    out
}
