use poem_openapi::{types::MaybeUndefined, Enum, Object};
use serde::{Deserialize, Serialize};

use super::{input::request_body, Timestamp};

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
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(example)]
pub struct AccessGrant {
    /// The 32-character mapping id.
    pub id: String,
    /// The app (a DaasObject id).
    pub id_app: String,
    /// The user.
    pub id_user: i64,
    /// Mount the user's home workspace.
    pub allow_home: bool,
    /// Others may view the session.
    pub allow_view: bool,
    /// Mount the common share.
    pub allow_common: bool,
    /// A volume as `source:target:ro|rw` (null: no extra volume).
    #[oai(nullable)]
    pub volume: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was moved to the trash (null: not deleted).
    #[oai(nullable)]
    pub deleted_at: Option<Timestamp>,
}

request_body! {
    /// A new grant of an app to a user (administrators only). The server makes the id
    /// unless one is given, and the times. Unknown fields, `null` and values of the wrong
    /// JSON type are refused with a 400 naming the field.
    #[oai(example)]
    pub struct NewAccessGrant {
        /// The 32-character mapping id (default: one the server makes).
        #[oai(validator(max_length = 32, pattern = "^[A-Za-z0-9_-]*$"))]
        pub id: Option<String>,
        /// The app (a DaasObject id).
        #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
        pub id_app: String,
        /// The user.
        #[oai(validator(minimum(value = "1")))]
        pub id_user: i64,
        /// Mount the user's home workspace (default false).
        pub allow_home: Option<bool>,
        /// Others may view the session (default false).
        pub allow_view: Option<bool>,
        /// Mount the common share (default false).
        pub allow_common: Option<bool>,
        /// A volume as `source:target:ro|rw`, the target an absolute path, source and target at most 1024 characters each (default: none).
        #[oai(validator(pattern = "^[^:\\x00]+:/[^:\\x00]*:(ro|rw)$"))]
        pub volume: Option<String>,
    }
}

request_body! {
    /// Changes to a grant (administrators only): only the fields given change; `null`
    /// clears the volume. The path names it. Unknown fields, `null` elsewhere and values
    /// of the wrong JSON type are refused with a 400 naming the field.
    #[oai(example)]
    pub struct AccessGrantPatch {
        /// The app (a DaasObject id).
        #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
        pub id_app: Option<String>,
        /// The user.
        #[oai(validator(minimum(value = "1")))]
        pub id_user: Option<i64>,
        /// Mount the user's home workspace.
        pub allow_home: Option<bool>,
        /// Others may view the session.
        pub allow_view: Option<bool>,
        /// Mount the common share.
        pub allow_common: Option<bool>,
        /// A volume as `source:target:ro|rw`, the target an absolute path, source and target at most 1024 characters each (null: none).
        #[oai(nullable, validator(pattern = "^[^:\\x00]+:/[^:\\x00]*:(ro|rw)$"))]
        pub volume: MaybeUndefined<String>,
    }
}

impl poem_openapi::types::Example for AccessGrant {
    fn example() -> Self {
        AccessGrant {
            id: "3f2b9c1d8e7a4b6c9d0e1f2a3b4c5d6e".into(),
            id_app: "0b6e7f5c-9f3e-4a4e-8d8e-0c1f2a3b4c5d".into(),
            id_user: 7,
            allow_home: true,
            volume: Some("/srv/projects:/data:rw".into()),
            created_at: chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
            ..AccessGrant::default()
        }
    }
}

impl poem_openapi::types::Example for NewAccessGrant {
    fn example() -> Self {
        NewAccessGrant {
            id_app: "0b6e7f5c-9f3e-4a4e-8d8e-0c1f2a3b4c5d".into(),
            id_user: 7,
            allow_home: Some(true),
            volume: Some("/srv/projects:/data:rw".into()),
            ..NewAccessGrant::default()
        }
    }
}

impl poem_openapi::types::Example for AccessGrantPatch {
    fn example() -> Self {
        AccessGrantPatch { allow_view: Some(true), volume: MaybeUndefined::Null, ..AccessGrantPatch::default() }
    }
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
