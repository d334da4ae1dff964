//! `/api/v1/auth/users`: users (administrators).

use daas_common::model::{Membership, SubjectKind, User};
use daas_plugin_api::{
    poem_openapi::{param::Path, payload::Json, types::Example, Object, OpenApi},
    sdk::{Caller, Created, Done, Failure},
};

use super::{name_of, taken, AdminApi};
use crate::{
    accounts::Accounts,
    hashing::{HashError, Hasher},
};

/// What only administrators do here, for the 403's message.
const WHAT: &str = "manage users";

/// A user as administrators see it: never a password hash or a secret.
#[derive(Object, Debug, Clone)]
#[oai(rename = "User")]
pub struct UserView {
    /// Id, made by the server.
    id: i64,
    /// Login name.
    name: String,
    /// E-mail address (may be empty).
    email: String,
    /// Administrator.
    admin: bool,
    /// Cannot log in.
    disabled: bool,
    /// Has a local password.
    has_password: bool,
    /// Logins need a one-time code (an active TOTP second factor).
    second_factor: bool,
    /// Failed logins since the last success (they hold back the address that sent
    /// them, not the user).
    failed_logins: i32,
    /// Unused: failed logins no longer lock an account (null; kept for older rows).
    #[oai(nullable)]
    locked_until: Option<chrono::DateTime<chrono::Utc>>,
    /// When it was created.
    created_at: chrono::DateTime<chrono::Utc>,
    /// The ids of the groups the user is in.
    groups: Vec<i64>,
}

pub(crate) fn view(u: &User, groups: Vec<i64>) -> UserView {
    UserView {
        id: u.id,
        name: u.name.clone(),
        email: u.email.clone(),
        admin: u.admin,
        disabled: u.disabled,
        has_password: u.password_hash.as_deref().is_some_and(|h| !h.is_empty()),
        second_factor: u.totp_secret.as_deref().map(crate::totp::parse).is_some_and(|(secret, active)| active && !secret.is_empty()),
        failed_logins: u.failed_logins,
        locked_until: u.locked_until,
        created_at: u.created_at,
        groups,
    }
}

/// A new user. The server makes the id; the password is stored as an argon2id hash.
#[derive(Object)]
#[oai(example, deny_unknown_fields, skip_serializing_if_is_none)]
struct NewUser {
    /// Login name, unique: 1 to 128 characters, no control characters, not only spaces
    /// (leading and trailing spaces are dropped).
    #[oai(
        deserialize_with = "daas_plugin_api::sdk::text",
        validator(min_length = 1, max_length = 128, pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$")
    )]
    name: String,
    /// E-mail address (absent: empty).
    #[oai(deserialize_with = "daas_plugin_api::sdk::maybe_text", validator(max_length = 256, pattern = r"^[^\x00]*$"))]
    email: Option<String>,
    /// The password (absent: the user cannot log in locally).
    #[oai(write_only, deserialize_with = "daas_plugin_api::sdk::maybe_text", validator(min_length = 1, max_length = 4096))]
    password: Option<String>,
    /// Administrator (absent: no).
    #[oai(deserialize_with = "daas_plugin_api::sdk::present")]
    admin: Option<bool>,
    /// Cannot log in (absent: no).
    #[oai(deserialize_with = "daas_plugin_api::sdk::present")]
    disabled: Option<bool>,
}

impl Example for NewUser {
    fn example() -> Self {
        NewUser {
            name: "alice".into(),
            email: Some("alice@example.org".into()),
            password: Some("a long passphrase of hers".into()),
            admin: Some(false),
            disabled: None,
        }
    }
}

/// Changes to a user; only the fields given change.
#[derive(Object)]
#[oai(example, deny_unknown_fields, skip_serializing_if_is_none)]
struct UserPatch {
    /// Login name: 1 to 128 characters, no control characters.
    #[oai(
        deserialize_with = "daas_plugin_api::sdk::maybe_text",
        validator(min_length = 1, max_length = 128, pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$")
    )]
    name: Option<String>,
    /// E-mail address.
    #[oai(deserialize_with = "daas_plugin_api::sdk::maybe_text", validator(max_length = 256, pattern = r"^[^\x00]*$"))]
    email: Option<String>,
    /// A new password; the user's sessions and tokens end.
    #[oai(write_only, deserialize_with = "daas_plugin_api::sdk::maybe_text", validator(min_length = 1, max_length = 4096))]
    password: Option<String>,
    /// Administrator.
    #[oai(deserialize_with = "daas_plugin_api::sdk::present")]
    admin: Option<bool>,
    /// Disable (true: the user's sessions and tokens end) or enable (false) logins.
    #[oai(deserialize_with = "daas_plugin_api::sdk::present")]
    disabled: Option<bool>,
    /// True: remove the user's second factor (a lost authenticator); they can set up a
    /// new one.
    #[oai(deserialize_with = "daas_plugin_api::sdk::present")]
    reset_second_factor: Option<bool>,
}

impl Example for UserPatch {
    fn example() -> Self {
        UserPatch { name: None, email: None, password: None, admin: None, disabled: Some(true), reset_second_factor: None }
    }
}

pub(crate) async fn hash(hasher: &Hasher, password: &str) -> Result<String, Failure> {
    hasher.hash(password).await.map_err(|e| match e {
        HashError::Password(daas_common::password::PasswordError::Empty) => Failure::bad("the password cannot be empty"),
        HashError::Busy => Failure::unavailable("the server is checking too many passwords at once")
            .with_code("busy")
            .retry_after(crate::hashing::BUSY_RETRY_SECONDS),
        HashError::Password(other) => Failure::internal("hashing the password failed", other),
    })
}

/// The users part of the admin API.
pub struct UsersApi(pub AdminApi);

#[OpenApi]
impl UsersApi {
    /// List users
    ///
    /// Every user with the groups they are in, by id (administrators).
    #[oai(path = "/users", method = "get", operation_id = "list_users")]
    async fn list_users(&self, caller: Caller) -> Result<Json<Vec<UserView>>, Failure> {
        caller.admin(WHAT)?;
        let mut users: Vec<User> = self.0.db.find(vec![]).await?;
        users.sort_by_key(|u| u.id);
        let memberships: Vec<Membership> = self.0.db.find(vec![]).await?;
        Ok(Json(
            users
                .iter()
                .map(|u| {
                    let mut groups: Vec<i64> = memberships.iter().filter(|m| m.id_user == u.id).map(|m| m.id_group).collect();
                    groups.sort_unstable();
                    view(u, groups)
                })
                .collect(),
        ))
    }

    /// Create a user
    ///
    /// A local user (administrators). The password is stored as an argon2id hash; a
    /// user without one cannot log in locally. 409 when the name is taken.
    #[oai(path = "/users", method = "post", operation_id = "create_user")]
    async fn create_user(&self, caller: Caller, body: Json<NewUser>) -> Result<Created<UserView>, Failure> {
        caller.admin(WHAT)?;
        let name = name_of(&body.name, "user")?;
        let password_hash = match body.password.as_deref() {
            Some(password) => Some(hash(&self.0.hasher, password).await?),
            None => None,
        };
        let user = User {
            name: name.clone(),
            email: body.email.clone().unwrap_or_default(),
            password_hash,
            admin: body.admin.unwrap_or(false),
            disabled: body.disabled.unwrap_or(false),
            ..Default::default()
        };
        let stored = self.0.db.insert(&user).await.map_err(taken("user", &name))?;
        tracing::info!(user = %stored.name, id = stored.id, admin = stored.admin, "user created");
        Ok(Created::Created(Json(view(&stored, Vec::new()))))
    }

    /// Get a user
    ///
    /// One user with the groups they are in (administrators).
    #[oai(path = "/users/:id", method = "get", operation_id = "get_user")]
    async fn get_user(
        &self,
        caller: Caller,
        /// The user's id.
        id: Path<i64>,
    ) -> Result<Json<UserView>, Failure> {
        caller.admin(WHAT)?;
        let user = self.0.user(id.0).await?;
        Ok(Json(view(&user, self.0.groups_of(id.0).await?)))
    }

    /// Change a user
    ///
    /// Name, e-mail, password, administrator, disabled, second factor reset
    /// (administrators); only the fields given change. Administrators cannot demote or
    /// disable themselves (409). A new password or disabling ends the user's sessions
    /// and tokens.
    #[oai(path = "/users/:id", method = "patch", operation_id = "update_user")]
    async fn update_user(
        &self,
        caller: Caller,
        /// The user's id.
        id: Path<i64>,
        body: Json<UserPatch>,
    ) -> Result<Json<UserView>, Failure> {
        let who = caller.admin(WHAT)?;
        let mut user = self.0.user(id.0).await?;
        if who.user_id == user.id && (body.admin == Some(false) || body.disabled == Some(true)) {
            return Err(Failure::conflict("administrators cannot demote or disable themselves").with_detail("ask another administrator"));
        }
        // Only the fields the body names are written: the user's failed-login count or
        // second factor may change meanwhile, and must not be set back.
        let mut changes = serde_json::Map::new();
        if let Some(name) = &body.name {
            user.name = name_of(name, "user")?;
            changes.insert("name".into(), user.name.clone().into());
        }
        if let Some(email) = &body.email {
            changes.insert("email".into(), email.clone().into());
        }
        if let Some(password) = &body.password {
            changes.insert("password_hash".into(), hash(&self.0.hasher, password).await?.into());
        }
        if let Some(admin) = body.admin {
            changes.insert("admin".into(), admin.into());
        }
        if body.reset_second_factor == Some(true) {
            // Empty, not none: a secret given as none keeps the stored one.
            changes.insert("totp_secret".into(), "".into());
        }
        if let Some(disabled) = body.disabled {
            changes.insert("disabled".into(), disabled.into());
        }
        let name = user.name.clone();
        if !changes.is_empty() {
            self.0.db.patch::<User>(user.id, changes.into()).await.map_err(taken("user", &name))?;
        }
        let user = self.0.user(user.id).await?;
        // A disabled user, or one whose password changed (it may have leaked), keeps no
        // session or token: enabling them again, or changing the password back, must
        // not revive what was open before.
        if body.disabled == Some(true) || body.password.is_some() {
            Accounts::end_sessions_of(&self.0.db, &self.0.callers, user.id).await?;
        }
        self.0.changed();
        tracing::info!(user = %user.name, id = user.id, by = %who.user_name, "user changed");
        Ok(Json(view(&user, self.0.groups_of(user.id).await?)))
    }

    /// Delete a user
    ///
    /// The user with their memberships, privilege entries, sessions and tokens
    /// (administrators; not themselves: 409).
    #[oai(path = "/users/:id", method = "delete", operation_id = "delete_user")]
    async fn delete_user(
        &self,
        caller: Caller,
        /// The user's id.
        id: Path<i64>,
    ) -> Result<Done, Failure> {
        let who = caller.admin(WHAT)?;
        let user = self.0.user(id.0).await?;
        if who.user_id == user.id {
            return Err(Failure::conflict("administrators cannot delete themselves").with_detail("ask another administrator"));
        }
        let deleted = async {
            super::privileges::drop_privileges_of(&self.0, SubjectKind::User, user.id).await?;
            // Memberships, sessions and access tokens follow by their foreign keys.
            Ok::<_, Failure>(self.0.db.delete::<User>(user.id).await?)
        };
        // Forgotten even when the delete failed half-way: some entries may be gone.
        let deleted = deleted.await;
        self.0.changed();
        deleted?;
        tracing::info!(user = %user.name, id = user.id, by = %who.user_name, "user deleted");
        Ok(Done::Done)
    }
}
