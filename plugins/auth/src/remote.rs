//! Remote authentication, the original's protocol (seed 000 `DaasRemoteAuthenticator`):
//!
//! - a user's bearer token is checked with `GET {url}/oauth2/user/session`, sent with
//!   the user's own token; a 200 answer `{"user_id": .., "name": ..}` identifies them
//!   (`"admin": true`, or `"admin"` in `scopes`, makes them an administrator);
//! - when `verify_endpoints` is set, each route is checked with
//!   `POST {url}/permissions_info` `{"token": <user token>, "function_name": <privilege
//!   id>}`, sent with the service's own token; `{"result": "allow"}` allows it;
//! - the service token comes from `POST {url}/oauth2/user/token` (form: username,
//!   password, client_id, grant_type=password, scope) and is fetched again when it
//!   expires or the service answers 401.
//!
//! Answers are cached for `cache_seconds`, keyed by a digest of the token, so that a
//! page with many requests costs the service one check. Remote user ids are used as
//! owner ids, as in the original.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use daas_common::config::AuthRemoteSection;
use daas_plugin_api::identity::Identity;
use serde::Deserialize;

use crate::tokens;

/// Why the remote service could not answer.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// Network or protocol failure.
    #[error("the authentication service at {url} does not answer: {message}")]
    Unreachable {
        /// Where.
        url: String,
        /// What happened.
        message: String,
    },
    /// The service refused the service account.
    #[error("the authentication service refused the service account `{0}` (check [remote] username, password, clientid)")]
    ServiceLogin(String),
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct SessionAnswer {
    user_id: i64,
    name: String,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Deserialize)]
struct PermissionAnswer {
    result: String,
}

/// Cache of answers by a token's digest (and, for permissions, the privilege id).
type Cache<K, T> = Arc<Mutex<HashMap<K, Cached<T>>>>;

struct Cached<T> {
    value: T,
    until: Instant,
}

/// The client of the remote service.
#[derive(Clone)]
pub struct Remote {
    config: AuthRemoteSection,
    http: reqwest::Client,
    ttl: Duration,
    service_token: Arc<tokio::sync::Mutex<Option<Cached<String>>>>,
    users: Cache<String, Option<Identity>>,
    permissions: Cache<(String, String), bool>,
}

fn cached<K: std::hash::Hash + Eq, T: Clone>(map: &Mutex<HashMap<K, Cached<T>>>, key: &K) -> Option<T> {
    let map = map.lock().unwrap_or_else(|e| e.into_inner());
    map.get(key).filter(|c| c.until > Instant::now()).map(|c| c.value.clone())
}

fn remember<K: std::hash::Hash + Eq, T>(map: &Mutex<HashMap<K, Cached<T>>>, key: K, value: T, ttl: Duration) {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    // Bounded: expired entries go whenever the cache grows large.
    if map.len() > 10_000 {
        map.retain(|_, c| c.until > now);
    }
    map.insert(key, Cached { value, until: now + ttl });
}

impl Remote {
    /// A client when `[remote]` enables remote verification, else none.
    pub fn from_config(config: &AuthRemoteSection) -> Result<Option<Remote>, String> {
        if !config.remote_verification || config.url.trim().is_empty() {
            return Ok(None);
        }
        let timeout = Duration::from_millis(if config.timeout_ms == 0 { 5000 } else { config.timeout_ms });
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("the HTTP client for [remote] could not be built: {e}"))?;
        Ok(Some(Remote {
            config: AuthRemoteSection { url: config.url.trim_end_matches('/').to_string(), ..config.clone() },
            http,
            ttl: Duration::from_secs(if config.cache_seconds == 0 { 60 } else { config.cache_seconds }),
            service_token: Default::default(),
            users: Default::default(),
            permissions: Default::default(),
        }))
    }

    /// Whether routes are checked remotely too.
    pub fn verifies_endpoints(&self) -> bool {
        self.config.verify_endpoints
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> RemoteError {
        RemoteError::Unreachable { url: self.config.url.clone(), message: e.to_string() }
    }

    /// Who a user token belongs to (none: the service does not know it).
    pub async fn user(&self, token: &str) -> Result<Option<Identity>, RemoteError> {
        let key = tokens::digest(token);
        if let Some(hit) = cached(&self.users, &key) {
            return Ok(hit);
        }
        let url = format!("{}/oauth2/user/session", self.config.url);
        let resp =
            self.http.get(&url).bearer_auth(token).header("accept", "application/json").send().await.map_err(|e| self.unreachable(e))?;
        let identity = match resp.status().as_u16() {
            200 => {
                let s: SessionAnswer = resp.json().await.map_err(|e| self.unreachable(format!("{url}: unexpected answer: {e}")))?;
                Some(Identity { user_id: s.user_id, user_name: s.name, admin: s.admin || s.scopes.iter().any(|x| x == "admin") })
            }
            401 | 403 | 404 => None,
            other => return Err(self.unreachable(format!("{url} answered {other}"))),
        };
        if self.config.logrequests {
            tracing::info!(known = identity.is_some(), "remote auth: user token checked");
        }
        remember(&self.users, key, identity.clone(), self.ttl);
        Ok(identity)
    }

    async fn token(&self, force: bool) -> Result<String, RemoteError> {
        let mut slot = self.service_token.lock().await;
        if let Some(t) = slot.as_ref().filter(|t| !force && t.until > Instant::now()) {
            return Ok(t.value.clone());
        }
        let url = format!("{}/oauth2/user/token", self.config.url);
        let form = [
            ("username", self.config.username.as_str()),
            ("password", self.config.password.as_str()),
            ("client_id", self.config.clientid.as_str()),
            ("grant_type", "password"),
            ("scope", self.config.scope.as_str()),
        ];
        let resp = self.http.post(&url).header("accept", "application/json").form(&form).send().await.map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            return Err(RemoteError::ServiceLogin(self.config.username.clone()));
        }
        let t: TokenAnswer = resp.json().await.map_err(|e| self.unreachable(format!("{url}: unexpected answer: {e}")))?;
        // Renew a little early, so that a token does not expire on its way.
        let life = Duration::from_secs(t.expires_in.unwrap_or(300)).saturating_sub(Duration::from_secs(1));
        *slot = Some(Cached { value: t.access_token.clone(), until: Instant::now() + life });
        Ok(t.access_token)
    }

    /// Whether the service allows this user token the privilege.
    pub async fn allows(&self, token: &str, privilege: &str) -> Result<bool, RemoteError> {
        let key = (tokens::digest(token), privilege.to_string());
        if let Some(hit) = cached(&self.permissions, &key) {
            return Ok(hit);
        }
        let url = format!("{}/permissions_info", self.config.url);
        let body = serde_json::json!({"token": token, "function_name": privilege});
        let mut answer = None;
        for attempt in 0..2 {
            let service = self.token(attempt > 0).await?;
            let resp = self.http.post(&url).bearer_auth(&service).json(&body).send().await.map_err(|e| self.unreachable(e))?;
            match resp.status().as_u16() {
                // The service token expired early or was revoked: fetch a new one once.
                401 if attempt == 0 => continue,
                200 => {
                    let p: PermissionAnswer = resp.json().await.map_err(|e| self.unreachable(format!("{url}: unexpected answer: {e}")))?;
                    answer = Some(p.result == "allow");
                }
                403 => answer = Some(false),
                other => return Err(self.unreachable(format!("{url} answered {other}"))),
            }
            break;
        }
        let allowed = answer.ok_or_else(|| RemoteError::ServiceLogin(self.config.username.clone()))?;
        remember(&self.permissions, key, allowed, self.ttl);
        Ok(allowed)
    }
}
