//! Privileges at run time: the [`privileges`](crate::privileges) engine fed from the db
//! backend, the static groups' cache, the server's privilege ids, and the check the auth
//! layer runs when `[auth] enable_auth_endpoint` is set.
//!
//! Requests, in the seed's terms: the *user request* is the user's accept/deny lists and
//! group memberships (two db calls, issued together); each non-static group costs one
//! call for its lists; the static groups come from the cache. The cache holds every
//! static group's lists (the seed's "endpoint to initially request all static groups at
//! once"); it is reloaded after `static_groups_ttl_seconds`, and at once when an
//! administrator changes a group or a group's privileges through `/api/v1/auth`
//! ([`Guard::invalidate`]). Changes made behind the API's back (an import, SQL) show
//! after the TTL at the latest.
//!
//! The user request's answer (the user's own lists and group ids) is remembered per user
//! for `[auth] cache_seconds` ([`crate::cache`]) and forgotten by the same
//! invalidation, so that a user's repeated calls cost no request when a user or static
//! group entry decides. Non-static groups stay read at every verification that reaches
//! them, as the seed has it: they are the lists that change often.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use daas_common::{
    config::AuthSection,
    model::{Group, Membership, Privilege, PrivilegeEffect, SubjectKind},
    protocols::{DbClient, Filter},
};
use daas_plugin_api::{
    abi::{BackendError, LayerRequest, LayerVerdict},
    events::HostOperations,
    identity::Identity,
    ApiError,
};

use crate::{
    cache::Memo,
    privileges::{self, privilege_id, Decision, Rules},
};

/// Operations every authenticated caller may use whatever their privileges: they only
/// concern the caller's own session, and refusing them would keep a session open
/// (logout) or hide from a client who it is (and its CSRF token) without protecting
/// anything.
pub const SELF_SERVICE: &[&str] = &["auth_me", "auth_revoke_token", "auth_logout"];

/// A route of the running server and its privilege id.
#[derive(Debug, Clone, PartialEq, Eq, daas_plugin_api::poem_openapi::Object)]
pub struct RouteInfo {
    /// The privilege id (the merged operation id).
    pub privilege: String,
    /// `GET`, `POST`, …
    pub method: String,
    /// The path template (`/api/v1/db/objects/{id}`).
    pub path: String,
    /// The plugin serving it (`host` for the host's routes).
    pub plugin: String,
    /// Needs no identity, so no privilege is checked.
    pub public: bool,
    /// Allowed to every authenticated caller (their own session).
    pub self_service: bool,
}

struct Cached {
    loaded: Instant,
    generation: u64,
    groups: Arc<HashMap<i64, Rules>>,
}

/// The privilege state of the plugin. Shared by the layer and the API.
pub struct Guard {
    db: DbClient,
    enforce: bool,
    ttl: Duration,
    cache: tokio::sync::Mutex<Option<Cached>>,
    /// Bumped by every invalidation, so that a load that started before a change is not
    /// taken for fresh.
    generation: AtomicU64,
    routes: tokio::sync::watch::Sender<Option<Arc<Vec<RouteInfo>>>>,
    /// Each user's own lists and group ids (`[auth] cache_seconds`).
    users: Memo<i64, Arc<UserLists>>,
    /// Roles and permission rules, checked before the privileges.
    pub rbac: Arc<crate::rbac::Rbac>,
}

/// The answer of the user request: the user's own accept/deny lists and their groups.
#[derive(Debug, Default)]
struct UserLists {
    own: Rules,
    /// Sorted.
    groups: Vec<i64>,
}

/// Lists from privilege rows.
pub fn rules_of(rows: &[Privilege]) -> Rules {
    let mut rules = Rules::default();
    for p in rows {
        match p.effect {
            PrivilegeEffect::Accept => rules.accept.insert(p.privilege.clone()),
            PrivilegeEffect::Deny => rules.deny.insert(p.privilege.clone()),
        };
    }
    rules
}

fn reject(status: u16, code: &str, message: String, detail: &str) -> LayerVerdict {
    LayerVerdict::Reject(ApiError::new(code, message, detail).to_ffi(status))
}

impl Guard {
    /// From `[auth]`.
    pub fn new(db: DbClient, config: &AuthSection) -> Guard {
        let secs = if config.static_groups_ttl_seconds == 0 { 60 } else { config.static_groups_ttl_seconds };
        Guard {
            rbac: Arc::new(crate::rbac::Rbac::new(db.clone(), Duration::from_secs(secs))),
            db,
            enforce: config.enable_auth_endpoint,
            ttl: Duration::from_secs(secs),
            cache: tokio::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
            routes: tokio::sync::watch::channel(None).0,
            users: Memo::new(Duration::from_secs(config.cache_seconds)),
        }
    }

    /// Whether the layer checks privileges.
    pub fn enforces(&self) -> bool {
        self.enforce
    }

    /// Forget the cached static groups and users' lists (a group, a membership or
    /// privileges changed).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.users.forget_all();
    }

    /// Every static group's lists, from the cache or loaded now.
    pub async fn static_groups(&self) -> Result<Arc<HashMap<i64, Rules>>, BackendError> {
        // Held across the load: concurrent requests after an expiry wait for one load
        // instead of each issuing their own.
        let mut cache = self.cache.lock().await;
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some(c) = cache.as_ref().filter(|c| c.generation == generation && c.loaded.elapsed() < self.ttl) {
            return Ok(c.groups.clone());
        }
        let statics: Vec<Group> = self.db.find(vec![Filter::eq("is_static", true)]).await?;
        let mut groups: HashMap<i64, Rules> = statics.iter().map(|g| (g.id, Rules::default())).collect();
        if !groups.is_empty() {
            let rows: Vec<Privilege> = self
                .db
                .find(vec![Filter::eq("subject_kind", SubjectKind::Group), Filter::any_of("subject_id", groups.keys().copied())])
                .await?;
            for (id, rules) in groups.iter_mut() {
                let own: Vec<Privilege> = rows.iter().filter(|p| p.subject_id == *id).cloned().collect();
                *rules = rules_of(&own);
            }
        }
        let groups = Arc::new(groups);
        *cache = Some(Cached { loaded: Instant::now(), generation, groups: groups.clone() });
        Ok(groups)
    }

    /// The user request: the user's own lists and memberships (two db calls, issued
    /// together), or what was remembered of it.
    async fn user_lists(&self, user_id: i64) -> Result<Arc<UserLists>, BackendError> {
        let load = async {
            let (own, memberships) = futures::try_join!(
                self.db.privileges_of(SubjectKind::User, user_id),
                self.db.find::<Membership>(vec![Filter::eq("id_user", user_id)]),
            )?;
            let mut groups: Vec<i64> = memberships.iter().map(|m| m.id_group).collect();
            groups.sort_unstable();
            Ok::<_, BackendError>(Some((Arc::new(UserLists { own: rules_of(&own), groups }), None)))
        };
        Ok(self.users.get_or_load(user_id, load).await?.unwrap_or_default())
    }

    /// Verify one privilege for one user (seed §3.3.4 "Verification Requests").
    pub async fn verify(&self, privilege: &str, user_id: i64) -> Result<Decision, BackendError> {
        let (user, statics) = futures::try_join!(self.user_lists(user_id), self.static_groups())?;
        let static_rules = user.groups.iter().filter_map(|id| statics.get(id));
        let non_static = user.groups.iter().copied().filter(|id| !statics.contains_key(id));
        let db = &self.db;
        privileges::evaluate(privilege, &user.own, static_rules, non_static, |id| async move {
            Ok(rules_of(&db.privileges_of(SubjectKind::Group, id).await?))
        })
        .await
    }

    /// The layer's check after authentication: `None` lets the request through.
    pub async fn check(&self, req: &LayerRequest, who: &Identity) -> Option<LayerVerdict> {
        if !self.enforce || req.public || who.admin {
            return None;
        }
        let privilege = privilege_id(req.operation_id.as_str());
        if SELF_SERVICE.contains(&privilege) {
            return None;
        }
        if privilege.is_empty() {
            // Fail closed: a request the host matched to no documented route has no
            // privilege that could grant it.
            return Some(reject(
                403,
                "forbidden",
                format!("{} {} is no documented route, so no privilege grants it", req.method(), req.uri()),
                "GET /api/v1/auth/privileges lists the routes and their privilege ids",
            ));
        }
        match self.verify(privilege, who.user_id).await {
            Ok(d) => {
                tracing::debug!(user = %who.user_name, privilege, allowed = d.allowed, level = %d.level, requests = d.requests, "privilege verified");
                (!d.allowed).then(|| {
                    let why = if d.level == privileges::Level::NoRule { "no rule grants it" } else { "a rule denies it" };
                    reject(
                        403,
                        "forbidden",
                        format!("you lack the privilege `{privilege}`: {why}"),
                        "ask an administrator to grant it (POST /api/v1/auth/users/{id}/privileges)",
                    )
                })
            }
            Err(e) => {
                tracing::error!(error = %e, privilege, "auth: privileges could not be read");
                Some(reject(
                    503,
                    "unavailable",
                    "privileges cannot be verified: the user store does not answer".into(),
                    "try again shortly",
                ))
            }
        }
    }

    /// Take the host's [`HostOperations`]: the server's routes, and the rule catalogue.
    pub fn on_operations(&self, ev: &HostOperations) {
        self.rbac.on_operations(ev);
        let mut routes: Vec<RouteInfo> = ev
            .operations
            .iter()
            .map(|o| RouteInfo {
                privilege: o.operation_id.clone(),
                method: o.method.clone(),
                path: o.path.clone(),
                plugin: o.plugin.clone(),
                public: o.public,
                self_service: SELF_SERVICE.contains(&o.operation_id.as_str()),
            })
            .collect();
        routes.sort_by(|a, b| a.privilege.cmp(&b.privilege));
        tracing::debug!(count = routes.len(), "privilege ids of the server received");
        self.routes.send_replace(Some(Arc::new(routes)));
    }

    /// The server's routes and privilege ids. The host publishes them right after the
    /// start, before it serves; the short wait covers a request that overtakes the event.
    pub async fn routes(&self) -> Option<Arc<Vec<RouteInfo>>> {
        let mut rx = self.routes.subscribe();
        let routes = match tokio::time::timeout(Duration::from_secs(5), rx.wait_for(Option::is_some)).await {
            Ok(Ok(r)) => r.clone(),
            _ => None,
        };
        routes
    }

    /// Whether a privilege id names a route of this server (`None`: not known yet).
    pub fn knows(&self, privilege: &str) -> Option<bool> {
        self.routes.borrow().as_ref().map(|r| r.iter().any(|r| r.privilege == privilege))
    }
}

#[cfg(test)]
mod tests {
    use daas_common::protocols::{MemoryDb, TableName};
    use futures::executor::block_on;
    use serde_json::json;

    use super::*;

    /// A db backend with two static groups (1 denies, 2 accepts `p`) and one non-static
    /// group (3 accepts `q`); user 7 is in all three.
    fn guard(ttl: u64, cache_seconds: u64) -> (Guard, MemoryDb) {
        let privilege =
            |id: i64, p: &str, effect: &str| json!({"subject_kind": "group", "subject_id": id, "privilege": p, "effect": effect});
        let db = MemoryDb::new()
            .with(TableName::Groups, [json!({"id": 1, "is_static": true}), json!({"id": 2, "is_static": true}), json!({"id": 3})])
            .with(TableName::GroupMemberships, (1..=3).map(|g| json!({"id_group": g, "id_user": 7})))
            .with(TableName::Privileges, [privilege(1, "p", "deny"), privilege(2, "p", "accept"), privilege(3, "q", "accept")]);
        let config = AuthSection { enable_auth_endpoint: true, static_groups_ttl_seconds: ttl, cache_seconds, ..Default::default() };
        (Guard::new(db.client(), &config), db)
    }

    #[test]
    fn static_groups_and_user_lists_are_cached_until_invalidated() {
        let (g, db) = guard(3600, 3600);
        let d = block_on(g.verify("p", 7)).unwrap();
        assert_eq!((d.allowed, d.level, d.requests), (false, privileges::Level::StaticGroupDeny, 1));
        // User lists + memberships + the static groups' two loads.
        assert_eq!(db.take_calls(), 4);
        let d = block_on(g.verify("q", 7)).unwrap();
        assert_eq!((d.allowed, d.level, d.requests), (true, privileges::Level::GroupAccept, 2));
        assert_eq!(db.take_calls(), 1, "the caches answer; the non-static group is read");
        g.invalidate();
        block_on(g.verify("p", 7)).unwrap();
        assert_eq!(db.take_calls(), 4, "reloaded after a change");
    }

    #[test]
    fn without_cache_seconds_every_verification_reads_the_user() {
        let (g, db) = guard(3600, 0);
        block_on(g.verify("p", 7)).unwrap();
        assert_eq!(db.take_calls(), 4);
        block_on(g.verify("p", 7)).unwrap();
        assert_eq!(db.take_calls(), 2, "the user request again; the static groups cached");
    }

    #[tokio::test]
    async fn routes_come_from_the_host_event() {
        let (g, _) = guard(0, 0);
        assert_eq!(g.knows("auth_me"), None);
        let op = |id: &str, path: &str, plugin: &str| daas_plugin_api::events::HostOperation {
            operation_id: id.into(),
            method: "GET".into(),
            path: path.into(),
            plugin: plugin.into(),
            public: false,
            rule: None,
        };
        g.on_operations(&HostOperations {
            operations: vec![op("db_list_objects", "/api/v1/db/objects", "db"), op("auth_me", "/api/v1/auth/me", "auth")],
            rules: vec![],
        });
        let routes = g.routes().await.unwrap();
        assert_eq!(
            routes.iter().map(|r| (r.privilege.as_str(), r.self_service)).collect::<Vec<_>>(),
            [("auth_me", true), ("db_list_objects", false)]
        );
        assert_eq!((g.knows("db_list_objects"), g.knows("db_nope")), (Some(true), Some(false)));
    }
}
