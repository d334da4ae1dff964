use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// How a granted volume is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Enum)]
#[serde(rename_all = "lowercase")]
#[oai(rename_all = "lowercase")]
pub enum VolumeMode {
    /// Read-only.
    #[default]
    Ro,
    /// Read-write.
    Rw,
}

/// A user's access to an app, with the policy it runs under (seed 001
/// `ABCApplicationPolicy` and `grant_access`): one grant per user and app.
///
/// As a request body, unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default, deny_unknown_fields)]
pub struct AccessGrant {
    /// The 32-character mapping id (generated when empty).
    #[oai(validator(max_length = 32, pattern = "^[A-Za-z0-9_-]*$"))]
    pub id: String,
    /// The app (a DaasObject id).
    #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
    pub id_app: String,
    /// The user.
    #[oai(validator(minimum(value = "1")))]
    pub id_user: i64,
    /// Mount the user's home workspace.
    pub allow_home: bool,
    /// Others may view the session.
    pub allow_view: bool,
    /// Mount the common share.
    pub allow_common: bool,
    /// A volume as `source:target:ro|rw` (none: no extra volume).
    pub volume: Option<String>,
    /// When it was created.
    #[oai(read_only)]
    pub created_at: Timestamp,
    /// When it was moved to the trash (none: not deleted).
    #[oai(read_only)]
    pub deleted_at: Option<Timestamp>,
}

impl AccessGrant {
    /// The volume split into source, target and mode; an error names what is wrong.
    pub fn parse_volume(spec: &str) -> Result<(String, String, VolumeMode), String> {
        let parts: Vec<&str> = spec.split(':').collect();
        let [source, target, mode] = parts.as_slice() else {
            return Err(format!("volume `{spec}` is not `source:target:ro|rw`"));
        };
        if source.is_empty() || target.is_empty() {
            return Err(format!("volume `{spec}` needs a source and a target path"));
        }
        if !target.starts_with('/') {
            return Err(format!("volume `{spec}`: the target `{target}` must be an absolute path"));
        }
        let mode = match *mode {
            "ro" => VolumeMode::Ro,
            "rw" => VolumeMode::Rw,
            other => return Err(format!("volume `{spec}`: mode `{other}` is neither `ro` nor `rw`")),
        };
        Ok((source.to_string(), target.to_string(), mode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_source_target_mode() {
        assert_eq!(AccessGrant::parse_volume("/srv/a:/data:rw").unwrap(), ("/srv/a".into(), "/data".into(), VolumeMode::Rw));
        for bad in ["/srv/a:/data", "/srv/a:/data:rx", ":/data:ro", "/srv/a:data:ro", "a:b:c:d"] {
            assert!(AccessGrant::parse_volume(bad).is_err(), "{bad}");
        }
    }
}
