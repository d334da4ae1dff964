//! `/api/v1/auth`: the server's privilege ids (any authenticated caller), and the
//! administration of users, groups, memberships and privileges (administrators only;
//! 403 for anyone else).
//!
//! Password hashes and TOTP secrets never leave: users are answered as [`UserView`],
//! which has no field for them. Every change made here forgets what the auth layer
//! remembers about callers and their rights ([`AdminApi::changed`]) before it answers,
//! so it applies to the very next request.

use std::sync::Arc;

use daas_common::{
    model::{Group, Membership, Privilege, PrivilegeEffect, SubjectKind, User},
    protocols::{DbClient, Filter},
};
use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind},
    error::error_id,
    identity::Identity,
    poem::web::Data,
    poem_openapi::{param::Path, payload::Json, ApiResponse, Object, OpenApi},
    sdk::Attributes,
    ApiError,
};

use crate::{
    accounts::{Accounts, Callers},
    guard::{Guard, RouteInfo},
    hashing::{HashError, Hasher},
};

/// The admin API.
pub struct AdminApi {
    /// The db backend.
    pub db: DbClient,
    /// The privilege state (cache, route list).
    pub guard: Arc<Guard>,
    /// The callers tokens resolved to lately.
    pub callers: Arc<Callers>,
    /// The password hashing threads.
    pub hasher: Hasher,
}

/// A user as administrators see it: never a password hash or a secret.
#[derive(Object, Debug, Clone)]
pub struct UserView {
    /// Id.
    id: i64,
    /// Login name.
    name: String,
    /// E-mail address.
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
    /// Unused: failed logins no longer lock an account (kept for older rows).
    locked_until: Option<chrono::DateTime<chrono::Utc>>,
    /// When it was created.
    created_at: chrono::DateTime<chrono::Utc>,
    /// The groups the user is in.
    groups: Vec<i64>,
}

fn view(u: &User, groups: Vec<i64>) -> UserView {
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

/// A new user.
#[derive(Object)]
struct NewUser {
    /// Login name, unique.
    name: String,
    /// E-mail address.
    #[oai(default)]
    email: String,
    /// The password (stored as an argon2id hash; none: the user cannot log in locally).
    #[oai(write_only)]
    password: Option<String>,
    /// Administrator.
    #[oai(default)]
    admin: bool,
    /// Cannot log in.
    #[oai(default)]
    disabled: bool,
}

/// Changes to a user; fields left out stay.
#[derive(Object)]
struct UserPatch {
    /// Login name.
    name: Option<String>,
    /// E-mail address.
    email: Option<String>,
    /// A new password.
    #[oai(write_only)]
    password: Option<String>,
    /// Administrator.
    admin: Option<bool>,
    /// Disable (true) or enable (false) logins; enabling also lifts a lock-out.
    disabled: Option<bool>,
    /// Remove the user's second factor (a lost authenticator); they can set up a new one.
    #[oai(default)]
    reset_second_factor: bool,
}

/// A new group.
#[derive(Object)]
struct NewGroup {
    /// Name, unique.
    name: String,
    /// Free text.
    #[oai(default)]
    description: String,
    /// Static groups are evaluated before the others and cached (seed §3.3.4).
    #[oai(default)]
    is_static: bool,
}

/// Changes to a group; fields left out stay.
#[derive(Object)]
struct GroupPatch {
    /// Name.
    name: Option<String>,
    /// Free text.
    description: Option<String>,
    /// Static.
    is_static: Option<bool>,
}

/// One entry of an accept or deny list.
#[derive(Object)]
struct PrivilegeEntry {
    /// A privilege id (`GET /api/v1/auth/privileges`).
    privilege: String,
    /// `accept` or `deny`.
    effect: PrivilegeEffect,
}

/// The errors of the admin API, each a JSON [`ApiError`].
#[derive(ApiResponse, Debug)]
pub enum Failure {
    /// The request is invalid.
    #[oai(status = 400)]
    BadRequest(Json<ApiError>),
    /// No caller.
    #[oai(status = 401)]
    Unauthenticated(Json<ApiError>),
    /// The caller is no administrator.
    #[oai(status = 403)]
    Forbidden(Json<ApiError>),
    /// No such user, group, membership or privilege entry.
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
    /// It exists already, or the change would lock the caller out.
    #[oai(status = 409)]
    Conflict(Json<ApiError>),
    /// The server failed; the error id is in its log.
    #[oai(status = 500)]
    Internal(Json<ApiError>),
    /// The user store does not answer, or too many passwords are being hashed at once.
    #[oai(status = 503)]
    Unavailable(Json<ApiError>),
}

impl Failure {
    pub(crate) fn bad(message: impl Into<String>) -> Failure {
        Failure::BadRequest(Json(ApiError::new("bad_request", message, "")))
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Failure {
        Failure::NotFound(Json(ApiError::new("not_found", message, "")))
    }

    pub(crate) fn conflict(message: impl Into<String>, detail: &str) -> Failure {
        Failure::Conflict(Json(ApiError::new("conflict", message, detail)))
    }
}

impl From<BackendError> for Failure {
    fn from(e: BackendError) -> Failure {
        let api = ApiError::from(e.clone());
        match e.kind {
            BackendErrorKind::BadRequest => Failure::BadRequest(Json(api)),
            BackendErrorKind::NotFound => Failure::NotFound(Json(api)),
            BackendErrorKind::Conflict => Failure::Conflict(Json(api)),
            BackendErrorKind::Forbidden => Failure::Forbidden(Json(api)),
            BackendErrorKind::Unavailable | BackendErrorKind::NotAvailable => Failure::Unavailable(Json(api)),
            BackendErrorKind::Internal => {
                let id = error_id();
                tracing::error!(error_id = %id, error = %e.message, "auth: user store request failed");
                Failure::Internal(Json(ApiError::new("internal", format!("the user store request failed (error id {id})"), "")))
            }
        }
    }
}

#[derive(ApiResponse)]
pub(crate) enum Created<T: daas_plugin_api::poem_openapi::types::ToJSON + daas_plugin_api::poem_openapi::types::ParseFromJSON + Send + Sync>
{
    /// Created; the body is what was stored.
    #[oai(status = 201)]
    Created(Json<T>),
}

#[derive(ApiResponse)]
pub(crate) enum Done {
    /// Done.
    #[oai(status = 204)]
    Done,
}

pub(crate) fn caller(attributes: &Attributes) -> Result<Identity, Failure> {
    Identity::from_attributes(attributes)
        .ok_or_else(|| Failure::Unauthenticated(Json(ApiError::new("unauthenticated", "this route needs an authenticated user", ""))))
}

pub(crate) fn admin(attributes: &Attributes) -> Result<Identity, Failure> {
    let who = caller(attributes)?;
    if !who.admin {
        return Err(Failure::Forbidden(Json(ApiError::new(
            "forbidden",
            "only administrators manage users, groups, roles and privileges",
            "ask an administrator",
        ))));
    }
    Ok(who)
}

pub(crate) fn name_of(name: &str, what: &str) -> Result<String, Failure> {
    let name = name.trim();
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(Failure::bad(format!("a {what} name must be 1 to 128 characters without control characters")));
    }
    Ok(name.to_string())
}

async fn hash(hasher: &Hasher, password: &str) -> Result<String, Failure> {
    hasher.hash(password).await.map_err(|e| match e {
        HashError::Password(daas_common::password::PasswordError::Empty) => Failure::bad("the password cannot be empty"),
        HashError::Busy => {
            Failure::Unavailable(Json(ApiError::new("busy", "the server is checking too many passwords at once", "try again in a second")))
        }
        HashError::Password(other) => {
            tracing::error!(error = %other, "auth: hashing a password failed");
            Failure::Internal(Json(ApiError::new("internal", "hashing the password failed", "")))
        }
    })
}

/// A conflict on insert means "the name is taken" for users and groups.
pub(crate) fn taken<'a>(what: &'a str, name: &'a str) -> impl FnOnce(BackendError) -> Failure + 'a {
    move |e| match e.kind {
        BackendErrorKind::Conflict => Failure::conflict(format!("a {what} named `{name}` exists already"), "choose another name"),
        _ => e.into(),
    }
}

impl AdminApi {
    /// After any change to users, groups, memberships, privileges or roles: forget every
    /// resolved caller (their name, admin flag or very existence may have changed), the
    /// users' and static groups' lists, and the roles and assignments. Changes here are
    /// rare, so all of it goes rather than working out which entries a change touches.
    pub(crate) fn changed(&self) {
        self.callers.forget_all();
        self.guard.invalidate();
        self.guard.rbac.invalidate();
    }

    pub(crate) async fn user(&self, id: i64) -> Result<User, Failure> {
        self.db.get::<User>(id).await?.ok_or_else(|| Failure::not_found(format!("user {id} does not exist")))
    }

    async fn group(&self, id: i64) -> Result<Group, Failure> {
        self.db.get::<Group>(id).await?.ok_or_else(|| Failure::not_found(format!("group {id} does not exist")))
    }

    async fn groups_of(&self, id_user: i64) -> Result<Vec<i64>, Failure> {
        let m: Vec<Membership> = self.db.find(vec![Filter::eq("id_user", id_user)]).await?;
        let mut ids: Vec<i64> = m.into_iter().map(|m| m.id_group).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// The subject must exist: a privilege row of a missing user or group would
    /// silently apply to whoever gets that id later.
    async fn subject(&self, kind: SubjectKind, id: i64) -> Result<(), Failure> {
        match kind {
            SubjectKind::User => self.user(id).await.map(drop),
            SubjectKind::Group => self.group(id).await.map(drop),
        }
    }

    async fn list_privileges_of(&self, kind: SubjectKind, id: i64) -> Result<Vec<Privilege>, Failure> {
        self.subject(kind, id).await?;
        let mut rows = self.db.privileges_of(kind, id).await?;
        rows.sort_by(|a, b| a.privilege.cmp(&b.privilege));
        Ok(rows)
    }

    async fn add_privilege(&self, kind: SubjectKind, id: i64, entry: PrivilegeEntry) -> Result<Created<Privilege>, Failure> {
        self.subject(kind, id).await?;
        let privilege = entry.privilege.trim().to_string();
        if privilege.is_empty() || privilege.len() > 128 {
            return Err(Failure::bad("a privilege id must be 1 to 128 characters"));
        }
        if self.guard.knows(&privilege) == Some(false) {
            return Err(Failure::bad(format!(
                "`{privilege}` is not a privilege id of this server; GET /api/v1/auth/privileges lists them"
            )));
        }
        let row = Privilege { subject_kind: kind, subject_id: id, privilege: privilege.clone(), effect: entry.effect };
        let stored = self.db.insert(&row).await.map_err(|e| match e.kind {
            BackendErrorKind::Conflict => Failure::conflict(
                format!("{} {id} has an entry for `{privilege}` already", kind_name(kind)),
                "remove it first to change its effect",
            ),
            _ => e.into(),
        })?;
        self.changed();
        Ok(Created::Created(Json(stored)))
    }

    async fn remove_privilege(&self, kind: SubjectKind, id: i64, privilege: &str) -> Result<Done, Failure> {
        self.subject(kind, id).await?;
        self.db.delete::<Privilege>(serde_json::json!([kind, id, privilege])).await.map_err(|e| match e.kind {
            BackendErrorKind::NotFound => Failure::not_found(format!("{} {id} has no entry for `{privilege}`", kind_name(kind))),
            _ => e.into(),
        })?;
        self.changed();
        Ok(Done::Done)
    }

    /// Privilege rows have no foreign key (a subject is a user or a group), so they go
    /// with their subject here.
    async fn drop_privileges_of(&self, kind: SubjectKind, id: i64) -> Result<(), Failure> {
        for p in self.db.privileges_of(kind, id).await? {
            match self.db.delete::<Privilege>(serde_json::json!([kind, id, p.privilege])).await {
                Err(e) if e.kind != BackendErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }
}

fn kind_name(kind: SubjectKind) -> &'static str {
    match kind {
        SubjectKind::User => "user",
        SubjectKind::Group => "group",
    }
}

#[OpenApi]
impl AdminApi {
    /// Every route of the running server with its privilege id (the merged operation
    /// id), method and path. Public routes need no privilege; self-service routes are
    /// allowed to every authenticated caller.
    #[oai(path = "/privileges", method = "get", operation_id = "list_privileges")]
    async fn list_privileges(&self, attributes: Data<&Attributes>) -> Result<Json<Vec<RouteInfo>>, Failure> {
        caller(&attributes)?;
        match self.guard.routes().await {
            Some(routes) => Ok(Json(routes.as_ref().clone())),
            None => Err(Failure::Unavailable(Json(ApiError::new(
                "unavailable",
                "the server's routes are not known yet",
                "the host publishes them when the start is complete; try again shortly",
            )))),
        }
    }

    // ---- users ---------------------------------------------------------------------

    /// Every user (administrators).
    #[oai(path = "/users", method = "get", operation_id = "list_users")]
    async fn list_users(&self, attributes: Data<&Attributes>) -> Result<Json<Vec<UserView>>, Failure> {
        admin(&attributes)?;
        let mut users: Vec<User> = self.db.find(vec![]).await?;
        users.sort_by_key(|u| u.id);
        let memberships: Vec<Membership> = self.db.find(vec![]).await?;
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

    /// Create a user (administrators); the password is stored as an argon2id hash.
    #[oai(path = "/users", method = "post", operation_id = "create_user")]
    async fn create_user(&self, attributes: Data<&Attributes>, body: Json<NewUser>) -> Result<Created<UserView>, Failure> {
        admin(&attributes)?;
        let name = name_of(&body.name, "user")?;
        let password_hash = match body.password.as_deref() {
            Some(password) => Some(hash(&self.hasher, password).await?),
            None => None,
        };
        let user = User {
            name: name.clone(),
            email: body.email.clone(),
            password_hash,
            admin: body.admin,
            disabled: body.disabled,
            ..Default::default()
        };
        let stored = self.db.insert(&user).await.map_err(taken("user", &name))?;
        tracing::info!(user = %stored.name, id = stored.id, admin = stored.admin, "user created");
        Ok(Created::Created(Json(view(&stored, Vec::new()))))
    }

    /// One user (administrators).
    #[oai(path = "/users/:id", method = "get", operation_id = "get_user")]
    async fn get_user(&self, attributes: Data<&Attributes>, id: Path<i64>) -> Result<Json<UserView>, Failure> {
        admin(&attributes)?;
        let user = self.user(id.0).await?;
        Ok(Json(view(&user, self.groups_of(id.0).await?)))
    }

    /// Change a user (administrators): name, e-mail, password, administrator, disabled,
    /// second factor reset.
    /// Administrators cannot demote or disable themselves.
    #[oai(path = "/users/:id", method = "patch", operation_id = "update_user")]
    async fn update_user(&self, attributes: Data<&Attributes>, id: Path<i64>, body: Json<UserPatch>) -> Result<Json<UserView>, Failure> {
        let who = admin(&attributes)?;
        let mut user = self.user(id.0).await?;
        if who.user_id == user.id && (body.admin == Some(false) || body.disabled == Some(true)) {
            return Err(Failure::conflict("administrators cannot demote or disable themselves", "ask another administrator"));
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
            changes.insert("password_hash".into(), hash(&self.hasher, password).await?.into());
        }
        if let Some(admin) = body.admin {
            changes.insert("admin".into(), admin.into());
        }
        if body.reset_second_factor {
            // Empty, not none: a secret given as none keeps the stored one.
            changes.insert("totp_secret".into(), "".into());
        }
        if let Some(disabled) = body.disabled {
            changes.insert("disabled".into(), disabled.into());
        }
        let name = user.name.clone();
        if !changes.is_empty() {
            self.db.patch::<User>(user.id, changes.into()).await.map_err(taken("user", &name))?;
        }
        let user = self.user(user.id).await?;
        // A disabled user, or one whose password changed (it may have leaked), keeps no
        // session or token: enabling them again, or changing the password back, must
        // not revive what was open before.
        if body.disabled == Some(true) || body.password.is_some() {
            Accounts::end_sessions_of(&self.db, &self.callers, user.id).await?;
        }
        self.changed();
        tracing::info!(user = %user.name, id = user.id, by = %who.user_name, "user changed");
        Ok(Json(view(&user, self.groups_of(user.id).await?)))
    }

    /// Delete a user with their memberships, privileges, sessions and tokens
    /// (administrators; not themselves).
    #[oai(path = "/users/:id", method = "delete", operation_id = "delete_user")]
    async fn delete_user(&self, attributes: Data<&Attributes>, id: Path<i64>) -> Result<Done, Failure> {
        let who = admin(&attributes)?;
        let user = self.user(id.0).await?;
        if who.user_id == user.id {
            return Err(Failure::conflict("administrators cannot delete themselves", "ask another administrator"));
        }
        let deleted = async {
            self.drop_privileges_of(SubjectKind::User, user.id).await?;
            // Memberships, sessions and access tokens follow by their foreign keys.
            Ok::<_, Failure>(self.db.delete::<User>(user.id).await?)
        };
        // Forgotten even when the delete failed half-way: some entries may be gone.
        let deleted = deleted.await;
        self.changed();
        deleted?;
        tracing::info!(user = %user.name, id = user.id, by = %who.user_name, "user deleted");
        Ok(Done::Done)
    }

    /// A user's accept and deny entries (administrators).
    #[oai(path = "/users/:id/privileges", method = "get", operation_id = "list_user_privileges")]
    async fn list_user_privileges(&self, attributes: Data<&Attributes>, id: Path<i64>) -> Result<Json<Vec<Privilege>>, Failure> {
        admin(&attributes)?;
        Ok(Json(self.list_privileges_of(SubjectKind::User, id.0).await?))
    }

    /// Accept or deny a privilege for a user (administrators). User entries come first
    /// in the evaluation: they override the user's groups.
    #[oai(path = "/users/:id/privileges", method = "post", operation_id = "add_user_privilege")]
    async fn add_user_privilege(
        &self,
        attributes: Data<&Attributes>,
        id: Path<i64>,
        body: Json<PrivilegeEntry>,
    ) -> Result<Created<Privilege>, Failure> {
        admin(&attributes)?;
        self.add_privilege(SubjectKind::User, id.0, body.0).await
    }

    /// Remove a user's entry for a privilege (administrators).
    #[oai(path = "/users/:id/privileges/:privilege", method = "delete", operation_id = "remove_user_privilege")]
    async fn remove_user_privilege(&self, attributes: Data<&Attributes>, id: Path<i64>, privilege: Path<String>) -> Result<Done, Failure> {
        admin(&attributes)?;
        self.remove_privilege(SubjectKind::User, id.0, &privilege.0).await
    }

    // ---- groups --------------------------------------------------------------------

    /// Every group (administrators).
    #[oai(path = "/groups", method = "get", operation_id = "list_groups")]
    async fn list_groups(&self, attributes: Data<&Attributes>) -> Result<Json<Vec<Group>>, Failure> {
        admin(&attributes)?;
        let mut groups: Vec<Group> = self.db.find(vec![]).await?;
        groups.sort_by_key(|g| g.id);
        Ok(Json(groups))
    }

    /// Create a group (administrators).
    #[oai(path = "/groups", method = "post", operation_id = "create_group")]
    async fn create_group(&self, attributes: Data<&Attributes>, body: Json<NewGroup>) -> Result<Created<Group>, Failure> {
        admin(&attributes)?;
        let name = name_of(&body.name, "group")?;
        let group = Group { name: name.clone(), description: body.description.clone(), is_static: body.is_static, ..Default::default() };
        let stored = self.db.insert(&group).await.map_err(taken("group", &name))?;
        self.changed();
        Ok(Created::Created(Json(stored)))
    }

    /// One group (administrators).
    #[oai(path = "/groups/:id", method = "get", operation_id = "get_group")]
    async fn get_group(&self, attributes: Data<&Attributes>, id: Path<i64>) -> Result<Json<Group>, Failure> {
        admin(&attributes)?;
        Ok(Json(self.group(id.0).await?))
    }

    /// Change a group (administrators): name, description, static.
    #[oai(path = "/groups/:id", method = "patch", operation_id = "update_group")]
    async fn update_group(&self, attributes: Data<&Attributes>, id: Path<i64>, body: Json<GroupPatch>) -> Result<Json<Group>, Failure> {
        admin(&attributes)?;
        let mut group = self.group(id.0).await?;
        if let Some(name) = &body.name {
            group.name = name_of(name, "group")?;
        }
        if let Some(description) = &body.description {
            group.description = description.clone();
        }
        if let Some(is_static) = body.is_static {
            group.is_static = is_static;
        }
        let name = group.name.clone();
        self.db.update(&group).await.map_err(taken("group", &name))?;
        self.changed();
        Ok(Json(group))
    }

    /// Delete a group with its memberships and privileges (administrators).
    #[oai(path = "/groups/:id", method = "delete", operation_id = "delete_group")]
    async fn delete_group(&self, attributes: Data<&Attributes>, id: Path<i64>) -> Result<Done, Failure> {
        admin(&attributes)?;
        let group = self.group(id.0).await?;
        let deleted = async {
            self.drop_privileges_of(SubjectKind::Group, group.id).await?;
            Ok::<_, Failure>(self.db.delete::<Group>(group.id).await?)
        };
        // Forgotten even when the delete failed half-way: some entries may be gone.
        let deleted = deleted.await;
        self.changed();
        deleted?;
        Ok(Done::Done)
    }

    /// The members of a group (administrators).
    #[oai(path = "/groups/:id/members", method = "get", operation_id = "list_members")]
    async fn list_members(&self, attributes: Data<&Attributes>, id: Path<i64>) -> Result<Json<Vec<UserView>>, Failure> {
        admin(&attributes)?;
        self.group(id.0).await?;
        let m: Vec<Membership> = self.db.find(vec![Filter::eq("id_group", id.0)]).await?;
        if m.is_empty() {
            return Ok(Json(Vec::new()));
        }
        let mut users: Vec<User> = self.db.find(vec![Filter::any_of("id", m.iter().map(|m| m.id_user))]).await?;
        users.sort_by_key(|u| u.id);
        let mut out = Vec::with_capacity(users.len());
        for u in &users {
            out.push(view(u, self.groups_of(u.id).await?));
        }
        Ok(Json(out))
    }

    /// Add a user to a group (administrators).
    #[oai(path = "/groups/:id/members/:user_id", method = "put", operation_id = "add_member")]
    async fn add_member(&self, attributes: Data<&Attributes>, id: Path<i64>, user_id: Path<i64>) -> Result<Done, Failure> {
        admin(&attributes)?;
        self.group(id.0).await?;
        self.user(user_id.0).await?;
        match self.db.insert(&Membership { id_group: id.0, id_user: user_id.0 }).await {
            // Already a member: PUT is idempotent.
            Err(e) if e.kind == BackendErrorKind::Conflict => Ok(Done::Done),
            Err(e) => Err(e.into()),
            Ok(_) => {
                self.changed();
                Ok(Done::Done)
            }
        }
    }

    /// Remove a user from a group (administrators).
    #[oai(path = "/groups/:id/members/:user_id", method = "delete", operation_id = "remove_member")]
    async fn remove_member(&self, attributes: Data<&Attributes>, id: Path<i64>, user_id: Path<i64>) -> Result<Done, Failure> {
        admin(&attributes)?;
        self.db.delete::<Membership>(serde_json::json!([id.0, user_id.0])).await.map_err(|e| match e.kind {
            BackendErrorKind::NotFound => Failure::not_found(format!("user {} is not in group {}", user_id.0, id.0)),
            _ => e.into(),
        })?;
        self.changed();
        Ok(Done::Done)
    }

    /// A group's accept and deny entries (administrators).
    #[oai(path = "/groups/:id/privileges", method = "get", operation_id = "list_group_privileges")]
    async fn list_group_privileges(&self, attributes: Data<&Attributes>, id: Path<i64>) -> Result<Json<Vec<Privilege>>, Failure> {
        admin(&attributes)?;
        Ok(Json(self.list_privileges_of(SubjectKind::Group, id.0).await?))
    }

    /// Accept or deny a privilege for a group's members (administrators).
    #[oai(path = "/groups/:id/privileges", method = "post", operation_id = "add_group_privilege")]
    async fn add_group_privilege(
        &self,
        attributes: Data<&Attributes>,
        id: Path<i64>,
        body: Json<PrivilegeEntry>,
    ) -> Result<Created<Privilege>, Failure> {
        admin(&attributes)?;
        self.add_privilege(SubjectKind::Group, id.0, body.0).await
    }

    /// Remove a group's entry for a privilege (administrators).
    #[oai(path = "/groups/:id/privileges/:privilege", method = "delete", operation_id = "remove_group_privilege")]
    async fn remove_group_privilege(&self, attributes: Data<&Attributes>, id: Path<i64>, privilege: Path<String>) -> Result<Done, Failure> {
        admin(&attributes)?;
        self.remove_privilege(SubjectKind::Group, id.0, &privilege.0).await
    }
}
