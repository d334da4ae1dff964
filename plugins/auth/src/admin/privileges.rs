//! `/api/v1/auth/privileges` (the server's privilege ids, any authenticated caller)
//! and the accept and deny entries of users and groups (administrators).

use daas_common::model::{Privilege, PrivilegeEffect, SubjectKind};
use daas_plugin_api::{
    abi::BackendErrorKind,
    poem_openapi::{param::Path, payload::Json, types::Example, Object, OpenApi},
    sdk::{Caller, Created, Done, Failure},
};

use super::AdminApi;
use crate::guard::RouteInfo;

/// What only administrators do here, for the 403's message.
const WHAT: &str = "manage privileges";

/// One entry of a user's or group's accept or deny list (seed §3.3.4): `subject_kind`
/// says whether `subject_id` is a user or a group, `effect` whether the entry accepts
/// or denies the privilege.
#[derive(Object, Debug, Clone)]
#[oai(rename = "Privilege")]
pub struct PrivilegeView {
    subject_kind: SubjectKind,
    /// The user's or group's id.
    subject_id: i64,
    /// The privilege id (`GET /api/v1/auth/privileges`).
    privilege: String,
    effect: PrivilegeEffect,
}

impl From<Privilege> for PrivilegeView {
    fn from(p: Privilege) -> Self {
        PrivilegeView { subject_kind: p.subject_kind, subject_id: p.subject_id, privilege: p.privilege, effect: p.effect }
    }
}

/// A new entry of an accept or deny list: `effect` says which list.
#[derive(Object)]
#[oai(example, deny_unknown_fields, skip_serializing_if_is_none)]
struct NewPrivilege {
    /// A privilege id of this server (`GET /api/v1/auth/privileges`), 1 to 128
    /// characters.
    #[oai(deserialize_with = "daas_plugin_api::sdk::text", validator(min_length = 1, max_length = 128, pattern = r"^\s*\S+\s*$"))]
    privilege: String,
    effect: PrivilegeEffect,
}

impl Example for NewPrivilege {
    fn example() -> Self {
        NewPrivilege { privilege: "db_list_objects".into(), effect: PrivilegeEffect::Deny }
    }
}

fn kind_name(kind: SubjectKind) -> &'static str {
    match kind {
        SubjectKind::User => "user",
        SubjectKind::Group => "group",
    }
}

/// The subject must exist: a privilege row of a missing user or group would silently
/// apply to whoever gets that id later.
async fn subject(admin: &AdminApi, kind: SubjectKind, id: i64) -> Result<(), Failure> {
    match kind {
        SubjectKind::User => admin.user(id).await.map(drop),
        SubjectKind::Group => admin.group(id).await.map(drop),
    }
}

/// Privilege rows have no foreign key (a subject is a user or a group), so they go with
/// their subject.
pub(crate) async fn drop_privileges_of(admin: &AdminApi, kind: SubjectKind, id: i64) -> Result<(), Failure> {
    for p in admin.db.privileges_of(kind, id).await? {
        match admin.db.delete::<Privilege>(serde_json::json!([kind, id, p.privilege])).await {
            Err(e) if e.kind != BackendErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}

/// The privileges part of the admin API.
pub struct PrivilegesApi(pub AdminApi);

impl PrivilegesApi {
    async fn list(&self, kind: SubjectKind, id: i64) -> Result<Vec<PrivilegeView>, Failure> {
        subject(&self.0, kind, id).await?;
        let mut rows = self.0.db.privileges_of(kind, id).await?;
        rows.sort_by(|a, b| a.privilege.cmp(&b.privilege));
        Ok(rows.into_iter().map(PrivilegeView::from).collect())
    }

    async fn add(&self, kind: SubjectKind, id: i64, entry: NewPrivilege) -> Result<Created<PrivilegeView>, Failure> {
        subject(&self.0, kind, id).await?;
        let privilege = entry.privilege.trim().to_string();
        if privilege.is_empty() || privilege.chars().count() > 128 {
            return Err(Failure::bad("a privilege id must be 1 to 128 characters"));
        }
        if self.0.guard.knows(&privilege) == Some(false) {
            return Err(Failure::not_found(format!(
                "`{privilege}` is not a privilege id of this server; GET /api/v1/auth/privileges lists them"
            )));
        }
        let row = Privilege { subject_kind: kind, subject_id: id, privilege: privilege.clone(), effect: entry.effect };
        let stored = self.0.db.insert(&row).await.map_err(|e| match e.kind {
            BackendErrorKind::Conflict => Failure::conflict(format!("{} {id} has an entry for `{privilege}` already", kind_name(kind)))
                .with_detail("remove it first to change its effect"),
            _ => e.into(),
        })?;
        self.0.changed();
        Ok(Created::Created(Json(stored.into())))
    }

    async fn remove(&self, kind: SubjectKind, id: i64, privilege: &str) -> Result<Done, Failure> {
        subject(&self.0, kind, id).await?;
        self.0.db.delete::<Privilege>(serde_json::json!([kind, id, privilege])).await.map_err(|e| match e.kind {
            BackendErrorKind::NotFound => Failure::not_found(format!("{} {id} has no entry for `{privilege}`", kind_name(kind))),
            _ => e.into(),
        })?;
        self.0.changed();
        Ok(Done::Done)
    }
}

#[OpenApi]
impl PrivilegesApi {
    /// List the privilege ids
    ///
    /// Every route of the running server with its privilege id (the merged operation
    /// id), method and path. Public routes need no privilege; self-service routes are
    /// allowed to every authenticated caller. 503 until the server's start is complete.
    #[oai(path = "/privileges", method = "get", operation_id = "list_privileges")]
    async fn list_privileges(&self, _caller: Caller) -> Result<Json<Vec<RouteInfo>>, Failure> {
        match self.0.guard.routes().await {
            Some(routes) => Ok(Json(routes.as_ref().clone())),
            None => Err(Failure::unavailable("the server's routes are not known yet")
                .with_detail("the host publishes them when the start is complete; try again shortly")),
        }
    }

    /// List a user's privilege entries
    ///
    /// The user's accept and deny entries, by privilege id (administrators).
    #[oai(path = "/users/:id/privileges", method = "get", operation_id = "list_user_privileges")]
    async fn list_user_privileges(
        &self,
        caller: Caller,
        /// The user's id.
        id: Path<i64>,
    ) -> Result<Json<Vec<PrivilegeView>>, Failure> {
        caller.admin(WHAT)?;
        Ok(Json(self.list(SubjectKind::User, id.0).await?))
    }

    /// Add a privilege entry to a user
    ///
    /// Accept or deny a privilege for a user (administrators). User entries come first
    /// in the evaluation: they override the user's groups. 409 when the user has an
    /// entry for it already.
    #[oai(path = "/users/:id/privileges", method = "post", operation_id = "add_user_privilege")]
    async fn add_user_privilege(
        &self,
        caller: Caller,
        /// The user's id.
        id: Path<i64>,
        body: Json<NewPrivilege>,
    ) -> Result<Created<PrivilegeView>, Failure> {
        caller.admin(WHAT)?;
        self.add(SubjectKind::User, id.0, body.0).await
    }

    /// Remove a user's privilege entry
    ///
    /// The user's entry for a privilege goes (administrators).
    #[oai(path = "/users/:id/privileges/:privilege", method = "delete", operation_id = "remove_user_privilege")]
    async fn remove_user_privilege(
        &self,
        caller: Caller,
        /// The user's id.
        id: Path<i64>,
        /// The privilege id of the entry.
        privilege: Path<String>,
    ) -> Result<Done, Failure> {
        caller.admin(WHAT)?;
        self.remove(SubjectKind::User, id.0, &privilege.0).await
    }

    /// List a group's privilege entries
    ///
    /// The group's accept and deny entries, by privilege id (administrators).
    #[oai(path = "/groups/:id/privileges", method = "get", operation_id = "list_group_privileges")]
    async fn list_group_privileges(
        &self,
        caller: Caller,
        /// The group's id.
        id: Path<i64>,
    ) -> Result<Json<Vec<PrivilegeView>>, Failure> {
        caller.admin(WHAT)?;
        Ok(Json(self.list(SubjectKind::Group, id.0).await?))
    }

    /// Add a privilege entry to a group
    ///
    /// Accept or deny a privilege for a group's members (administrators). 409 when the
    /// group has an entry for it already.
    #[oai(path = "/groups/:id/privileges", method = "post", operation_id = "add_group_privilege")]
    async fn add_group_privilege(
        &self,
        caller: Caller,
        /// The group's id.
        id: Path<i64>,
        body: Json<NewPrivilege>,
    ) -> Result<Created<PrivilegeView>, Failure> {
        caller.admin(WHAT)?;
        self.add(SubjectKind::Group, id.0, body.0).await
    }

    /// Remove a group's privilege entry
    ///
    /// The group's entry for a privilege goes (administrators).
    #[oai(path = "/groups/:id/privileges/:privilege", method = "delete", operation_id = "remove_group_privilege")]
    async fn remove_group_privilege(
        &self,
        caller: Caller,
        /// The group's id.
        id: Path<i64>,
        /// The privilege id of the entry.
        privilege: Path<String>,
    ) -> Result<Done, Failure> {
        caller.admin(WHAT)?;
        self.remove(SubjectKind::Group, id.0, &privilege.0).await
    }
}
