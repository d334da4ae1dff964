//! Roles and permission rules (seed 002, vantage6's RBAC): every plugin declares the
//! rule each of its operations needs (`PluginBuilder::require`); the host hands the
//! layer each request's rule (`LayerRequest::rule`) and publishes the catalogue of every
//! plugin's rules once ([`HostOperations`]); a role bundles rules; a user holds roles.
//! The auth layer refuses an operation whose rule none of the caller's roles holds, at
//! the required scope or a wider one ([`Rbac::check`]).
//!
//! Built-in roles, whose rules follow from what the loaded plugins register (so a new
//! plugin's operations are covered without an administrator's edit):
//! - `admin`: every rule at `global` scope;
//! - `user`: every rule at `own` scope;
//! - `viewer`: every `view` rule at `own` scope.
//!
//! A user with no role assigned has the default role of their `admin` flag (`admin` or
//! `user`): existing users keep what they could do before roles existed.
//!
//! Scopes and rows: the scope a caller is granted for an operation goes to the plugins
//! as the `auth.scope` attribute, and `global` is what the identity's `admin` flag
//! means to them (the db plugin's ownership filter shows every row to it). `own` and
//! `group` both reach the caller's own and shared rows: rows in this product belong to
//! users, never to groups, so a group scope has no further rows to add (see
//! `docs/auth.md`).
//!
//! Requests: the roles table (small) and each user's assignments are cached for
//! `[auth] static_groups_ttl_seconds` and dropped at once when an administrator changes
//! them through the API, so that a warm verification costs no request at all.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use daas_common::{
    model::{Role, UserRole},
    protocols::{DbClient, Filter},
};
use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind, LayerRequest, LayerVerdict},
    events::HostOperations,
    identity::Identity,
    permissions::{Operation, Rule, Scope},
    ApiError,
};

/// Attribute with the scope the caller was granted for the operation (`own`, `group`,
/// `global`); absent for operations that need no rule.
pub const ATTR_SCOPE: &str = "auth.scope";

/// The built-in roles, in the order they are listed.
pub const BUILTIN: [&str; 3] = ["admin", "user", "viewer"];

/// A rule of the catalogue, as the plugins registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueRule {
    /// The rule id.
    pub rule: String,
    /// What it is for.
    pub description: String,
    /// The plugin registering it.
    pub plugin: String,
}

/// Every rule the loaded plugins register, and the rule each operation needs.
#[derive(Debug, Default)]
pub struct Catalogue {
    /// The rules, sorted by id (one entry per rule; the first plugin's description).
    pub rules: Vec<(Rule, CatalogueRule)>,
    /// Merged operation id → its rule.
    pub operations: HashMap<String, Rule>,
}

impl Catalogue {
    /// Whether a rule is in the catalogue.
    pub fn has(&self, rule: &Rule) -> bool {
        self.rules.iter().any(|(r, _)| r == rule)
    }

    /// A built-in role's rules (none for another name).
    pub fn builtin_rules(&self, role: &str) -> Vec<Rule> {
        let all = self.rules.iter().map(|(r, _)| r);
        match role {
            "admin" => all.filter(|r| r.scope == Scope::Global).cloned().collect(),
            "user" => all.filter(|r| r.scope == Scope::Own).cloned().collect(),
            "viewer" => all.filter(|r| r.scope == Scope::Own && r.operation == Operation::View).cloned().collect(),
            _ => Vec::new(),
        }
    }
}

struct Timed<T> {
    loaded: Instant,
    generation: u64,
    value: T,
}

/// The RBAC state of the plugin, shared by the layer and the API.
pub struct Rbac {
    db: DbClient,
    ttl: Duration,
    generation: AtomicU64,
    catalogue: tokio::sync::watch::Sender<Option<Arc<Catalogue>>>,
    roles: tokio::sync::Mutex<Option<Timed<Arc<Vec<Role>>>>>,
    assignments: std::sync::Mutex<HashMap<i64, Timed<Arc<Vec<i64>>>>>,
}

/// What a caller holds.
#[derive(Debug, Clone)]
pub struct Held {
    /// The roles' names (the default role when none is assigned).
    pub roles: Vec<String>,
    /// Whether the roles were assigned (false: the default of the admin flag).
    pub assigned: bool,
    /// The union of the roles' rules.
    pub rules: Vec<Rule>,
}

fn reject(status: u16, code: &str, message: String, detail: &str) -> LayerVerdict {
    LayerVerdict::Reject(ApiError::new(code, message, detail).to_ffi(status))
}

impl Rbac {
    /// With the cache lifetime of the static groups' (`[auth] static_groups_ttl_seconds`).
    pub fn new(db: DbClient, ttl: Duration) -> Rbac {
        Rbac {
            db,
            ttl,
            generation: AtomicU64::new(0),
            catalogue: tokio::sync::watch::channel(None).0,
            roles: tokio::sync::Mutex::new(None),
            assignments: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Take the rule catalogue out of the host's [`HostOperations`].
    pub fn on_operations(&self, ev: &HostOperations) {
        let mut rules: BTreeMap<Rule, CatalogueRule> = BTreeMap::new();
        for r in &ev.rules {
            rules.entry(r.rule.clone()).or_insert_with(|| CatalogueRule {
                rule: r.rule.to_string(),
                description: r.description.clone(),
                plugin: r.plugin.clone(),
            });
        }
        let operations = ev.operations.iter().filter_map(|o| Some((o.operation_id.clone(), o.rule.clone()?))).collect();
        let catalogue = Catalogue { rules: rules.into_iter().collect(), operations };
        tracing::debug!(rules = catalogue.rules.len(), operations = catalogue.operations.len(), "permission rules received");
        self.catalogue.send_replace(Some(Arc::new(catalogue)));
    }

    /// The catalogue. The host publishes it right after the start, before it serves;
    /// the short wait covers a request that overtakes the event.
    pub async fn catalogue(&self) -> Option<Arc<Catalogue>> {
        let mut rx = self.catalogue.subscribe();
        let found = match tokio::time::timeout(Duration::from_secs(5), rx.wait_for(Option::is_some)).await {
            Ok(Ok(c)) => c.clone(),
            _ => None,
        };
        found
    }

    /// Forget the cached roles and assignments (an administrator changed them).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.assignments.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn fresh<T>(&self, t: &Timed<T>) -> bool {
        t.generation == self.generation.load(Ordering::SeqCst) && t.loaded.elapsed() < self.ttl
    }

    /// Every role, the built-in ones made if they are missing.
    pub async fn roles(&self) -> Result<Arc<Vec<Role>>, BackendError> {
        let mut cache = self.roles.lock().await;
        if let Some(c) = cache.as_ref().filter(|c| self.fresh(c)) {
            return Ok(c.value.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let mut roles: Vec<Role> = self.db.find(vec![]).await?;
        for name in BUILTIN {
            if !roles.iter().any(|r| r.name == name) {
                let role = Role { name: name.into(), description: builtin_description(name).into(), ..Default::default() };
                match self.db.insert(&role).await {
                    Ok(stored) => roles.push(stored),
                    // Made meanwhile by another request: read again below.
                    Err(e) if e.kind == BackendErrorKind::Conflict => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if BUILTIN.iter().any(|n| !roles.iter().any(|r| r.name == *n)) {
            roles = self.db.find(vec![]).await?;
        }
        roles.sort_by_key(|r| r.id);
        let roles = Arc::new(roles);
        *cache = Some(Timed { loaded: Instant::now(), generation, value: roles.clone() });
        Ok(roles)
    }

    /// The ids of the roles assigned to a user.
    pub async fn assigned(&self, user_id: i64) -> Result<Arc<Vec<i64>>, BackendError> {
        if let Some(t) = self.assignments.lock().unwrap_or_else(|e| e.into_inner()).get(&user_id).filter(|t| self.fresh(t)) {
            return Ok(t.value.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let rows: Vec<UserRole> = self.db.find(vec![Filter::eq("id_user", user_id)]).await?;
        let mut ids: Vec<i64> = rows.into_iter().map(|r| r.id_role).collect();
        ids.sort_unstable();
        let ids = Arc::new(ids);
        let mut map = self.assignments.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: a cache entry per user who called within the TTL; stale ones go first.
        if map.len() > 10_000 {
            map.retain(|_, t| t.loaded.elapsed() < self.ttl);
        }
        map.insert(user_id, Timed { loaded: Instant::now(), generation, value: ids.clone() });
        Ok(ids)
    }

    /// A role's rules: the built-in ones computed, the others as stored (rule ids that
    /// no loaded plugin registers any more are skipped).
    pub fn rules_of(role: &Role, catalogue: &Catalogue) -> Vec<Rule> {
        if BUILTIN.contains(&role.name.as_str()) {
            catalogue.builtin_rules(&role.name)
        } else {
            role.rules.iter().filter_map(|r| r.parse().ok()).collect()
        }
    }

    /// What a user holds: their roles (or the default role of their admin flag) and
    /// the union of the roles' rules.
    pub async fn held(&self, user_id: i64, admin_flag: bool) -> Result<Held, BackendError> {
        let (roles, assigned) = futures::try_join!(self.roles(), self.assigned(user_id))?;
        let catalogue = self.catalogue().await.unwrap_or_default();
        let mut mine: Vec<&Role> = roles.iter().filter(|r| assigned.contains(&r.id)).collect();
        let explicit = !mine.is_empty();
        if !explicit {
            let default = if admin_flag { "admin" } else { "user" };
            mine = roles.iter().filter(|r| r.name == default).collect();
        }
        let mut rules: Vec<Rule> = mine.iter().flat_map(|r| Rbac::rules_of(r, &catalogue)).collect();
        rules.sort();
        rules.dedup();
        Ok(Held { roles: mine.iter().map(|r| r.name.clone()).collect(), assigned: explicit, rules })
    }

    /// The layer's check after authentication: a [`Grant`] with the widest scope held
    /// for the operation's rule, or none when the operation needs no rule (public, or its
    /// plugin requires none); `Err`: the answer to send.
    pub async fn check(&self, req: &LayerRequest, who: &Identity) -> Result<Grant, LayerVerdict> {
        if req.public {
            // No rule to check; the identity stays as it came.
            return Ok(Grant { scope: None, admin: who.admin });
        }
        // The built-in roles' rules follow the catalogue: without it no role holds any.
        if self.catalogue().await.is_none() {
            return Err(reject(503, "unavailable", "the permission rules are not known yet".into(), "try again shortly"));
        }
        let unavailable = |e: BackendError| {
            tracing::error!(error = %e, "auth: roles could not be read");
            reject(503, "unavailable", "permissions cannot be verified: the user store does not answer".into(), "try again shortly")
        };
        let held = self.held(who.user_id, who.admin).await.map_err(unavailable)?;
        // The host hands every request its operation's rule.
        let Some(required) = req.rule() else {
            return Ok(Grant { scope: None, admin: held.roles.iter().any(|r| r == "admin") });
        };
        let scope = held.rules.iter().filter(|r| r.satisfies(&required)).map(|r| r.scope).max();
        match scope {
            Some(scope) => Ok(Grant { scope: Some(scope), admin: scope == Scope::Global }),
            None => {
                tracing::debug!(user = %who.user_name, rule = %required, roles = ?held.roles, "permission rule missing");
                Err(LayerVerdict::Reject(
                    ApiError::new(
                        "forbidden",
                        format!("you lack the permission rule `{required}` for `{}`", req.operation_id),
                        format!(
                            "your roles ({}) do not hold it; ask an administrator for a role with it (PUT /api/v1/auth/users/{{id}}/roles/{{role_id}})",
                            held.roles.join(", ")
                        ),
                    )
                    .to_ffi(403),
                ))
            }
        }
    }
}

/// What the check grants a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The widest scope held for the operation's rule (none: it needs none).
    pub scope: Option<Scope>,
    /// The caller acts as an administrator for this call (global scope, or the `admin`
    /// role on an operation without a rule).
    pub admin: bool,
}

/// What the built-in roles are for.
pub fn builtin_description(name: &str) -> &'static str {
    match name {
        "admin" => "Every rule at global scope (built-in; follows the registered rules).",
        "user" => "Every rule at own scope: what a user does with their own rows (built-in).",
        "viewer" => "Every view rule at own scope (built-in).",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> Catalogue {
        let mut c = Catalogue::default();
        for id in ["object:own:view", "object:global:view", "object:own:create", "node:global:view"] {
            c.rules.push((id.parse().unwrap(), CatalogueRule { rule: id.into(), description: String::new(), plugin: "db".into() }));
        }
        c
    }

    #[test]
    fn builtin_roles_follow_the_catalogue() {
        let c = catalogue();
        let ids = |role: &str| c.builtin_rules(role).iter().map(|r| r.to_string()).collect::<Vec<_>>();
        assert_eq!(ids("admin"), ["object:global:view", "node:global:view"]);
        assert_eq!(ids("user"), ["object:own:view", "object:own:create"]);
        assert_eq!(ids("viewer"), ["object:own:view"]);
        let custom = Role { name: "ops".into(), rules: vec!["node:global:view".into(), "junk".into()], ..Default::default() };
        assert_eq!(Rbac::rules_of(&custom, &c), vec!["node:global:view".parse::<Rule>().unwrap()]);
    }
}
