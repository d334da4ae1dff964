//! Users, groups and what they may do: the state of the auth plugin (seed 000 §3.3,
//! `AccessToken`; seed 003 sessions).

use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// A local user.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default)]
pub struct User {
    /// Unique id (assigned by the database; the `id_owner` of what they own).
    #[oai(read_only)]
    pub id: i64,
    /// Login name, unique.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// The argon2id hash of the password (secret, never answered; none: no local
    /// password).
    #[oai(skip)]
    pub password_hash: Option<String>,
    /// The TOTP secret of the second factor (secret, never answered; none: no second
    /// factor).
    #[oai(skip)]
    pub totp_secret: Option<String>,
    /// Administrators see and change everything.
    pub admin: bool,
    /// A disabled user cannot log in.
    pub disabled: bool,
    /// Failed logins since the last success (lock-out).
    #[oai(read_only)]
    pub failed_logins: i32,
    /// Locked out until then (null: not locked out).
    #[oai(read_only, nullable)]
    pub locked_until: Option<Timestamp>,
    /// When it was created.
    #[oai(read_only)]
    pub created_at: Timestamp,
}

/// A group of users. A static group's privileges are cached (seed §3.3.5).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default)]
pub struct Group {
    /// Unique id (assigned by the database).
    #[oai(read_only)]
    pub id: i64,
    /// Name, unique.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Static groups are evaluated before the others and cached.
    pub is_static: bool,
    /// When it was created.
    #[oai(read_only)]
    pub created_at: Timestamp,
}

/// A user's membership in a group.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default)]
pub struct Membership {
    /// The group.
    pub id_group: i64,
    /// The user.
    pub id_user: i64,
}

/// Whom a privilege entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Enum)]
#[serde(rename_all = "lowercase")]
#[oai(rename_all = "lowercase")]
pub enum SubjectKind {
    /// A user.
    #[default]
    User,
    /// A group.
    Group,
}

/// Whether a privilege entry accepts or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Enum)]
#[serde(rename_all = "lowercase")]
#[oai(rename_all = "lowercase")]
pub enum PrivilegeEffect {
    /// On the accept list.
    #[default]
    Accept,
    /// On the deny list.
    Deny,
}

/// One entry of a user's or group's accept or deny list (seed §3.3.4): `subject_kind`
/// says whether the subject is a user or a group, `effect` whether the entry accepts
/// or denies.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
pub struct Privilege {
    pub subject_kind: SubjectKind,
    /// The user's or group's id.
    pub subject_id: i64,
    /// The privilege id (derived from a route's operation id).
    pub privilege: String,
    pub effect: PrivilegeEffect,
}

/// A role (seed 002, vantage6 `Role`): a named bundle of permission rules
/// (`<resource>:<scope>:<operation>` ids, see `daas_plugin_api::permissions`). The
/// built-in roles `admin`, `user` and `viewer` store no rules: theirs follow from the
/// rules the loaded plugins register.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default)]
pub struct Role {
    /// Unique id (assigned by the database).
    #[oai(read_only)]
    pub id: i64,
    /// Name, unique.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Rule ids.
    pub rules: Vec<String>,
    /// When it was created.
    #[oai(read_only)]
    pub created_at: Timestamp,
}

/// A user's role.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default)]
pub struct UserRole {
    /// The user.
    pub id_user: i64,
    /// The role.
    pub id_role: i64,
}

/// An API access token (seed `AccessToken`, apicrud): a public id and a secret shown
/// once at creation and stored only as a hash.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default)]
pub struct AccessToken {
    /// Public id, useful for revocation.
    pub id: String,
    /// The user the token acts as.
    pub id_user: i64,
    /// What the token was created for.
    pub description: String,
    /// Hash of the secret (secret, never answered).
    #[oai(skip)]
    pub secret_hash: Option<String>,
    /// When it was created.
    #[oai(read_only)]
    pub created_at: Timestamp,
    /// When it expires (null: never).
    #[oai(nullable)]
    pub expires_at: Option<Timestamp>,
    /// When it was revoked (null: valid).
    #[oai(nullable)]
    pub revoked_at: Option<Timestamp>,
    /// When it was last used (null: never).
    #[oai(nullable)]
    pub last_used_at: Option<Timestamp>,
}

/// A browser or bearer session.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default)]
pub struct Session {
    /// Hash of the session token (the token itself is only in the client's cookie).
    pub id: String,
    /// The user.
    pub id_user: i64,
    /// The CSRF token of the session's forms (secret, never answered).
    #[oai(skip)]
    pub csrf_token: Option<String>,
    /// When it was created.
    #[oai(read_only)]
    pub created_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
    /// When it was last used (null: not yet).
    #[oai(nullable)]
    pub last_seen_at: Option<Timestamp>,
}
