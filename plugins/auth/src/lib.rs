//! # auth: who is calling, in front of every route
//!
//! The original authenticated against an external OAuth2 service (seed 000 §3.3); this
//! plugin is the local side of it: users with argon2id password hashes (the first
//! administrator comes from `[db] admin_credentials`), browser logins with a session
//! cookie, bearer tokens for the API, API access tokens (seed `AccessToken`) and a
//! throttle of repeated failed logins per client address and user name (seed 002's
//! lock-out, made safe: it holds back the source, never the account). Its [`layer`] runs first around
//! every route and attaches the caller's
//! [`Identity`](daas_plugin_api::identity::Identity) that the other plugins' routes
//! check ownership against, and, with `[auth] enable_auth_endpoint`, checks the
//! caller's privilege for the route ([`privileges`], seed 000 §3.3.4).
//!
//! Map: [`accounts`] logins, sessions, tokens on the db backend; [`throttle`] failed
//! logins per source; [`hashing`] password checks on threads of their own, bounded;
//! [`tokens`] random secrets, their digests, the login form's signed token; [`cache`] the short-lived memory of resolved callers and
//! users' lists; [`layer`] the auth layer; [`api`] `/api/v1/auth`;
//! [`browser`] `/login` and `/logout`; [`http`] cookie and redirect helpers; [`remote`]
//! the original's remote authentication service; [`viewer`] viewer links (`?token=`).

pub mod accounts;
pub mod admin;
pub mod api;
pub mod browser;
pub mod cache;
pub mod guard;
pub mod hashing;
pub mod http;
pub mod layer;
pub mod privileges;
pub mod ratelimit;
pub mod rbac;
pub mod remote;
pub mod roles;
pub mod throttle;
pub mod tokens;
pub mod totp;
pub mod viewer;

use std::sync::Arc;

use daas_common::{config::AuthFile, protocols::DbClient};
use daas_plugin_api::{
    events::HostOperations,
    export_plugin,
    names::{LayerName, PluginName},
    permissions::{Operation, Rule},
    poem_openapi::OpenApiService,
    sdk::{PluginBuilder, PluginContext},
};

async fn start(ctx: PluginContext) -> Result<PluginBuilder, String> {
    let file: AuthFile = ctx.config()?;
    let remote = remote::Remote::from_config(&file.remote)?;
    let limiter = file.auth.ratelimit_enable.then(|| {
        let or = |v: u64, d: u64| if v == 0 { d } else { v };
        std::sync::Arc::new(ratelimit::RateLimit::new(or(file.auth.ratelimit_limit, 600), or(file.auth.ratelimit_interval_seconds, 60)))
    });
    let callers = Arc::new(accounts::Callers::new(std::time::Duration::from_secs(file.auth.cache_seconds)));
    let accounts = accounts::Accounts {
        db: DbClient::host(),
        policy: accounts::Policy::from_config(&file.local),
        remote,
        limiter,
        callers: callers.clone(),
        hasher: hashing::Hasher::new(file.local.password_workers as usize, file.local.password_queue as usize),
        throttle: Arc::new(accounts::throttle_from_config(&file.local)),
    };
    let guard = Arc::new(guard::Guard::new(DbClient::host(), &file.auth));
    let admin =
        || admin::AdminApi { db: DbClient::host(), guard: guard.clone(), callers: callers.clone(), hasher: accounts.hasher.clone() };
    let roles = roles::RolesApi { admin: admin(), rbac: guard.rbac.clone() };
    let admin = admin();
    let api = OpenApiService::new((api::AuthApi(accounts.clone()), admin, roles), "auth", env!("CARGO_PKG_VERSION")).description(
        "Authentication: bearer tokens, the caller, API access tokens; privilege ids; users, groups, privileges; rules and roles.",
    );
    let events = guard.clone();
    Ok(PluginBuilder::new()
        .api(api)
        .public_operations(["token"])
        .requires(permissions())
        .browser(browser::routes(), browser::endpoint(accounts.clone()))
        .layer(LayerName::Auth, layer::AuthLayer(accounts, guard))
        .on_host_event(move |operations: HostOperations| {
            events.on_operations(&operations);
            async {}
        }))
}

/// The permission rule of each operation. The caller's own session (`me`,
/// `revoke_token`, `logout`) and second factor need none: every authenticated caller
/// may end their session or secure their account.
fn permissions() -> Vec<(&'static str, Rule)> {
    use Operation::*;
    let own = Rule::own;
    let global = Rule::global;
    vec![
        ("list_access_tokens", own("access_token", View)),
        ("create_access_token", own("access_token", Create)),
        ("revoke_access_token", own("access_token", Delete)),
        ("list_privileges", own("route", View)),
        ("list_users", global("user", View)),
        ("get_user", global("user", View)),
        ("create_user", global("user", Create)),
        ("update_user", global("user", Edit)),
        ("delete_user", global("user", Delete)),
        ("list_user_privileges", global("privilege", View)),
        ("add_user_privilege", global("privilege", Create)),
        ("remove_user_privilege", global("privilege", Delete)),
        ("list_groups", global("group", View)),
        ("create_group", global("group", Create)),
        ("get_group", global("group", View)),
        ("update_group", global("group", Edit)),
        ("delete_group", global("group", Delete)),
        ("list_members", global("group", View)),
        ("add_member", global("group", Edit)),
        ("remove_member", global("group", Edit)),
        ("list_group_privileges", global("privilege", View)),
        ("add_group_privilege", global("privilege", Create)),
        ("remove_group_privilege", global("privilege", Delete)),
        ("list_rules", global("rule", View)),
        ("list_roles", global("role", View)),
        ("get_role", global("role", View)),
        ("create_role", global("role", Create)),
        ("update_role", global("role", Edit)),
        ("delete_role", global("role", Delete)),
        ("list_user_roles", global("role", View)),
        ("assign_role", global("role", Edit)),
        ("unassign_role", global("role", Edit)),
    ]
}

export_plugin!(PluginName::Auth, start);
