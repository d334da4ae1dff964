//! # auth: who is calling, in front of every route
//!
//! The original authenticated against an external OAuth2 service (seed 000 §3.3); this
//! plugin is the local side of it: users with argon2id password hashes (the first
//! administrator comes from `[db] admin_credentials`), browser logins with a session
//! cookie, bearer tokens for the API, API access tokens (seed `AccessToken`) and a
//! lock-out after repeated failed logins (seed 002). Its [`layer`] runs first around
//! every route and attaches the caller's
//! [`Identity`](daas_plugin_api::identity::Identity) that the other plugins' routes
//! check ownership against, and, with `[auth] enable_auth_endpoint`, checks the
//! caller's privilege for the route ([`privileges`], seed 000 §3.3.4).
//!
//! Map: [`accounts`] logins, sessions, tokens on the db backend; [`tokens`] random
//! secrets and their digests; [`layer`] the auth layer; [`api`] `/api/v1/auth`;
//! [`browser`] `/login` and `/logout`; [`http`] cookie and redirect helpers; [`remote`]
//! the original's remote authentication service; [`viewer`] viewer links (`?token=`).

pub mod accounts;
pub mod admin;
pub mod api;
pub mod browser;
pub mod guard;
pub mod http;
pub mod layer;
pub mod privileges;
pub mod ratelimit;
pub mod remote;
pub mod tokens;
pub mod totp;
pub mod viewer;

use std::sync::Arc;

use daas_common::{config::AuthFile, protocols::DbClient};
use daas_plugin_api::{
    export_plugin,
    names::{LayerName, PluginName},
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
    let accounts = accounts::Accounts { db: DbClient::host(), policy: accounts::Policy::from_config(&file.local), remote, limiter };
    let guard = Arc::new(guard::Guard::new(DbClient::host(), &file.auth));
    let admin = admin::AdminApi { db: DbClient::host(), guard: guard.clone() };
    let api = OpenApiService::new((api::AuthApi(accounts.clone()), admin), "auth", env!("CARGO_PKG_VERSION"))
        .description("Authentication: bearer tokens, the caller, API access tokens; privilege ids; users, groups, privileges.");
    let events = guard.clone();
    Ok(PluginBuilder::new()
        .api(api)
        .public_operations(["token"])
        .browser(browser::routes(), browser::endpoint(accounts.clone()))
        .layer(LayerName::Auth, layer::AuthLayer(accounts, guard))
        .on_event(&[guard::OPERATIONS_TOPIC], move |_, payload| {
            events.on_operations(payload);
            async {}
        }))
}

export_plugin!(PluginName::Auth, start);
