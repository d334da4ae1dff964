//! `/api/v1/auth/groups/{id}/members`: who is in a group (administrators).

use daas_common::{
    model::{Membership, User},
    protocols::Filter,
};
use daas_plugin_api::{
    abi::BackendErrorKind,
    poem_openapi::{param::Path, payload::Json, OpenApi},
    sdk::{Caller, Done, Failure},
};

use super::{
    users::{view, UserView},
    AdminApi,
};

/// What only administrators do here, for the 403's message.
const WHAT: &str = "manage group members";

/// The memberships part of the admin API.
pub struct MembershipsApi(pub AdminApi);

#[OpenApi]
impl MembershipsApi {
    /// List a group's members
    ///
    /// The users in a group, by id (administrators).
    #[oai(path = "/groups/:id/members", method = "get", operation_id = "list_members")]
    async fn list_members(
        &self,
        caller: Caller,
        /// The group's id.
        id: Path<i64>,
    ) -> Result<Json<Vec<UserView>>, Failure> {
        caller.admin(WHAT)?;
        self.0.group(id.0).await?;
        let m: Vec<Membership> = self.0.db.find(vec![Filter::eq("id_group", id.0)]).await?;
        if m.is_empty() {
            return Ok(Json(Vec::new()));
        }
        let mut users: Vec<User> = self.0.db.find(vec![Filter::any_of("id", m.iter().map(|m| m.id_user))]).await?;
        users.sort_by_key(|u| u.id);
        let mut out = Vec::with_capacity(users.len());
        for u in &users {
            out.push(view(u, self.0.groups_of(u.id).await?));
        }
        Ok(Json(out))
    }

    /// Add a user to a group
    ///
    /// Idempotent: a member already is answered 204 too (administrators).
    #[oai(path = "/groups/:id/members/:user_id", method = "put", operation_id = "add_member")]
    async fn add_member(
        &self,
        caller: Caller,
        /// The group's id.
        id: Path<i64>,
        /// The user's id.
        user_id: Path<i64>,
    ) -> Result<Done, Failure> {
        caller.admin(WHAT)?;
        self.0.group(id.0).await?;
        self.0.user(user_id.0).await?;
        match self.0.db.insert(&Membership { id_group: id.0, id_user: user_id.0 }).await {
            // Already a member: PUT is idempotent.
            Err(e) if e.kind == BackendErrorKind::Conflict => Ok(Done::Done),
            Err(e) => Err(e.into()),
            Ok(_) => {
                self.0.changed();
                Ok(Done::Done)
            }
        }
    }

    /// Remove a user from a group
    ///
    /// 404 when the user is not in the group (administrators).
    #[oai(path = "/groups/:id/members/:user_id", method = "delete", operation_id = "remove_member")]
    async fn remove_member(
        &self,
        caller: Caller,
        /// The group's id.
        id: Path<i64>,
        /// The user's id.
        user_id: Path<i64>,
    ) -> Result<Done, Failure> {
        caller.admin(WHAT)?;
        self.0.db.delete::<Membership>(serde_json::json!([id.0, user_id.0])).await.map_err(|e| match e.kind {
            BackendErrorKind::NotFound => Failure::not_found(format!("user {} is not in group {}", user_id.0, id.0)),
            _ => e.into(),
        })?;
        self.0.changed();
        Ok(Done::Done)
    }
}
