//! `/api/v1/auth`: the server's privilege ids (any authenticated caller), and the
//! administration of users ([`users`]), groups ([`groups`]), memberships
//! ([`memberships`]) and privilege entries ([`privileges`]) (administrators only; 403
//! for anyone else).
//!
//! Password hashes and TOTP secrets never leave: users are answered as
//! [`users::UserView`], which has no field for them. Every change made here forgets
//! what the auth layer remembers about callers and their rights ([`AdminApi::changed`])
//! before it answers, so it applies to the very next request.

pub mod groups;
pub mod memberships;
pub mod privileges;
pub mod users;

use std::{collections::HashMap, sync::Arc};

use daas_common::{
    model::{Group, Membership, User},
    protocols::{DbClient, Filter},
};
use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind},
    poem::{endpoint::BoxEndpoint, http::Method},
    poem_openapi::{
        registry::{MetaApi, Registry},
        OpenApi,
    },
    sdk::Failure,
};

use crate::{accounts::Callers, guard::Guard, hashing::Hasher};

/// The admin API: the state its parts share. Its routes are those of [`users`],
/// [`groups`], [`memberships`] and [`privileges`].
#[derive(Clone)]
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

type Parts = (users::UsersApi, groups::GroupsApi, memberships::MembershipsApi, privileges::PrivilegesApi);

impl AdminApi {
    fn parts(self) -> Parts {
        (
            users::UsersApi(self.clone()),
            groups::GroupsApi(self.clone()),
            memberships::MembershipsApi(self.clone()),
            privileges::PrivilegesApi(self),
        )
    }
}

impl OpenApi for AdminApi {
    fn meta() -> Vec<MetaApi> {
        Parts::meta()
    }

    fn register(registry: &mut Registry) {
        Parts::register(registry)
    }

    fn add_routes(self, route_table: &mut HashMap<String, HashMap<Method, BoxEndpoint<'static>>>) {
        self.parts().add_routes(route_table)
    }
}

/// What the names of users, groups and roles must be: 1 to 128 characters, not only
/// spaces, no control characters. The same pattern is in their schemas.
pub const NAME_PATTERN: &str = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$";

/// A user, group or role name as stored: trimmed, checked against [`NAME_PATTERN`]'s
/// rules (the schema refuses most of what this does, this says why).
pub(crate) fn name_of(name: &str, what: &str) -> Result<String, Failure> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(Failure::bad(format!("a {what} name must be 1 to 128 characters without control characters")));
    }
    Ok(name.to_string())
}

/// A conflict on insert means "the name is taken" for users, groups and roles.
pub(crate) fn taken<'a>(what: &'a str, name: &'a str) -> impl FnOnce(BackendError) -> Failure + 'a {
    move |e| match e.kind {
        BackendErrorKind::Conflict => {
            Failure::conflict(format!("a {what} named `{name}` exists already")).with_detail("choose another name")
        }
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

    pub(crate) async fn group(&self, id: i64) -> Result<Group, Failure> {
        self.db.get::<Group>(id).await?.ok_or_else(|| Failure::not_found(format!("group {id} does not exist")))
    }

    pub(crate) async fn groups_of(&self, id_user: i64) -> Result<Vec<i64>, Failure> {
        let m: Vec<Membership> = self.db.find(vec![Filter::eq("id_user", id_user)]).await?;
        let mut ids: Vec<i64> = m.into_iter().map(|m| m.id_group).collect();
        ids.sort_unstable();
        Ok(ids)
    }
}
