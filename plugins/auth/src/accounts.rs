//! Logins (throttled per source, [`crate::throttle`]; passwords checked on the hashing
//! pool, [`crate::hashing`]), sessions and access tokens, on the db backend's tables.
//! The caller a token resolves to is remembered for `[auth] cache_seconds`
//! ([`crate::cache`]); ending a session forgets it at once.

use std::{net::IpAddr, sync::Arc};

use chrono::{Duration, Utc};
use daas_common::{
    config::AuthLocalSection,
    model::{AccessToken, Session, User},
    protocols::DbClient,
};
use daas_plugin_api::{abi::BackendError, identity::Identity};

use crate::{
    cache::{instant_of, Memo},
    hashing::{HashError, Hasher},
    throttle::Throttle,
    tokens,
};

/// The login policy, from `[local]` with its defaults.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Browser session lifetime.
    pub session_ttl: Duration,
    /// Bearer token lifetime.
    pub token_ttl: Duration,
    /// `Secure` cookies.
    pub secure_cookies: bool,
}

impl Policy {
    /// From `[local]`, zero meaning the default.
    pub fn from_config(c: &AuthLocalSection) -> Policy {
        let or = |v: u64, d: u64| if v == 0 { d } else { v };
        Policy {
            session_ttl: Duration::minutes(or(c.session_ttl_minutes, 480) as i64),
            token_ttl: Duration::minutes(or(c.token_ttl_minutes, 60) as i64),
            secure_cookies: c.secure_cookies,
        }
    }
}

/// The login throttle of `[local]`: `lockout_attempts` failures, waits of at most
/// `lockout_minutes`.
pub fn throttle_from_config(c: &AuthLocalSection) -> Throttle {
    let attempts = if c.lockout_attempts == 0 { 5 } else { c.lockout_attempts };
    let minutes = if c.lockout_minutes == 0 { 15 } else { c.lockout_minutes };
    Throttle::new(attempts, std::time::Duration::from_secs(minutes * 60))
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user, wrong password or disabled user: one message for all, so that
    /// logins cannot be used to find out which users exist.
    #[error("wrong user name or password")]
    Wrong,
    /// The password was right; the user's second factor needs a one-time code.
    #[error("a one-time code from the authenticator app is needed")]
    OtpRequired,
    /// Too many failed logins for this name from this address; the same for every
    /// name, known or not.
    #[error("too many failed logins for this user name from this address: try again in {0} seconds")]
    Throttled(u64),
    /// Every password checking thread is busy.
    #[error("the server is checking too many logins at once: try again in {} second", crate::hashing::BUSY_RETRY_SECONDS)]
    Busy,
    /// The db backend failed.
    #[error("the user store does not answer: {0}")]
    Store(#[from] BackendError),
}

impl From<LoginError> for daas_plugin_api::sdk::Failure {
    fn from(e: LoginError) -> Self {
        use daas_plugin_api::{poem_openapi::payload::Json, sdk::Failure, ApiError};
        let message = e.to_string();
        match e {
            LoginError::Wrong => {
                Failure::Unauthenticated(Json(ApiError::new("unauthenticated", message, "check the user name and password")))
            }
            LoginError::OtpRequired => Failure::Unauthenticated(Json(ApiError::new("otp_required", message, "send it as `otp`"))),
            LoginError::Throttled(secs) => Failure::too_many("locked_out", message, secs),
            LoginError::Busy => {
                Failure::unavailable(message).with_code("busy").with_detail("").retry_after(crate::hashing::BUSY_RETRY_SECONDS)
            }
            LoginError::Store(e) => e.into(),
        }
    }
}

impl From<HashError> for LoginError {
    fn from(e: HashError) -> LoginError {
        match e {
            HashError::Busy => LoginError::Busy,
            // A login never hashes a new password; an empty one simply does not match.
            HashError::Password(_) => LoginError::Wrong,
        }
    }
}

/// A new session's token (to hand to the client) and its CSRF token.
pub struct NewSession {
    /// The token (cookie value or bearer).
    pub token: String,
    /// The CSRF token of its forms.
    pub csrf: String,
    /// When it ends.
    pub expires_at: chrono::DateTime<Utc>,
}

/// How a request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The session cookie (CSRF applies).
    Cookie,
    /// A bearer session token.
    Bearer,
    /// An API access token.
    AccessToken,
    /// A token of the remote authentication service.
    Remote,
}

impl Via {
    /// Its name in attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Cookie => "cookie",
            Via::Bearer => "bearer",
            Via::AccessToken => "access_token",
            Via::Remote => "remote",
        }
    }
}

/// A resolved credential.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Who.
    pub identity: Identity,
    /// The session's CSRF token (cookie sessions).
    pub csrf: Option<String>,
}

/// Which table a token is looked up in: the cache key's first part, so that a token is
/// remembered only for the way it was resolved (an access token sent as a session cookie
/// resolves to no one, cached or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A session (bearer token or cookie).
    Session,
    /// An API access token.
    Access,
}

/// The callers tokens resolved to, by the token's kind and SHA-256 digest.
pub type Callers = Memo<(TokenKind, String), Resolved>;

/// The accounts of a site.
#[derive(Clone)]
pub struct Accounts {
    /// The db backend.
    pub db: DbClient,
    /// The policy.
    pub policy: Policy,
    /// The remote authentication service, when `[remote]` enables it.
    pub remote: Option<crate::remote::Remote>,
    /// The per-caller rate limit, when `[auth] ratelimit_enable` is set.
    pub limiter: Option<Arc<crate::ratelimit::RateLimit>>,
    /// The callers tokens resolved to lately (`[auth] cache_seconds`).
    pub callers: Arc<Callers>,
    /// The password checking threads.
    pub hasher: Hasher,
    /// Failed logins per client address and user name.
    pub throttle: Arc<Throttle>,
}

fn identity(user: &User) -> Identity {
    Identity { user_id: user.id, user_name: user.name.clone(), admin: user.admin }
}

impl Accounts {
    /// Check a user name and password (and the one-time code when the user has a second
    /// factor) sent from `addr`. Failures count toward the throttle of that address and
    /// name, and in the user's `failed_logins` (one atomic increment each, so that
    /// concurrent failures all count).
    pub async fn login(&self, name: &str, password: &str, otp: Option<&str>, addr: Option<IpAddr>) -> Result<User, LoginError> {
        let attempt = self.throttle.begin(addr, name).map_err(LoginError::Throttled)?;
        // An early return before `end` (the store or the pool failed) counts as nothing.
        let user = self.db.user_by_name(name).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref()).filter(|h| !h.is_empty());
        // An unknown user costs the same check, so that timing does not tell who exists.
        let matches = self.hasher.verify(password, stored.unwrap_or(dummy_hash())).await?;
        let user = match user {
            Some(user) if matches && stored.is_some() && !user.disabled => user,
            other => {
                attempt.end(false);
                if let Some(user) = other {
                    self.count_failure(&user).await?;
                }
                return Err(LoginError::Wrong);
            }
        };
        let second =
            user.totp_secret.as_deref().map(crate::totp::parse).filter(|(s, active)| *active && !s.is_empty()).map(|(s, _)| s.to_string());
        if let Some(secret) = second {
            match otp.map(str::trim).filter(|c| !c.is_empty()) {
                // The password was right: asking for the code is not a failure, nor a
                // success that would forget the failed codes before it.
                None => return Err(LoginError::OtpRequired),
                Some(code) if !crate::totp::check(&secret, &user.name, code) => {
                    attempt.end(false);
                    self.count_failure(&user).await?;
                    return Err(LoginError::Wrong);
                }
                Some(_) => {}
            }
        }
        attempt.end(true);
        if user.failed_logins != 0 {
            // Relative, not `= 0`: a failure counted meanwhile stays counted, and no
            // other field of the user is written back.
            self.db.increment::<User>(user.id, "failed_logins", -i64::from(user.failed_logins)).await?;
        }
        Ok(user)
    }

    async fn count_failure(&self, user: &User) -> Result<(), BackendError> {
        let failures = self.db.increment::<User>(user.id, "failed_logins", 1).await?;
        tracing::warn!(user = %user.name, failures, "failed login");
        Ok(())
    }

    /// End every session and revoke every access token of a user: what disabling a user
    /// or changing their password means. Revoked for good: enabling the user again or
    /// restoring the password brings none of them back.
    pub async fn end_sessions_of(db: &DbClient, callers: &Callers, user_id: i64) -> Result<(), BackendError> {
        let by_user = || vec![daas_common::protocols::Filter::eq("id_user", user_id)];
        let ended = async {
            for session in db.find::<Session>(by_user()).await? {
                match db.delete::<Session>(&session.id).await {
                    Err(e) if e.kind != daas_plugin_api::abi::BackendErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            for token in db.find::<AccessToken>(by_user()).await? {
                if token.revoked_at.is_none() {
                    db.patch::<AccessToken>(&token.id, serde_json::json!({"revoked_at": Utc::now()})).await?;
                }
            }
            Ok(())
        };
        let ended = ended.await;
        // Forgotten even when ending failed half-way: some are gone already.
        callers.forget_all();
        ended
    }

    /// Open a session for a user.
    pub async fn open_session(&self, user: &User, ttl: Duration) -> Result<NewSession, BackendError> {
        let token = tokens::random_token();
        let csrf = tokens::random_token();
        let expires_at = Utc::now() + ttl;
        let session =
            Session { id: tokens::digest(&token), id_user: user.id, csrf_token: Some(csrf.clone()), expires_at, ..Default::default() };
        self.db.insert(&session).await?;
        Ok(NewSession { token, csrf, expires_at })
    }

    /// End the session of a token (unknown tokens are fine: already ended).
    pub async fn close_session(&self, token: &str) -> Result<(), BackendError> {
        let id = tokens::digest(token);
        let deleted = self.db.delete::<Session>(&id).await;
        self.callers.forget(&(TokenKind::Session, id));
        match deleted {
            Err(e) if e.kind != daas_plugin_api::abi::BackendErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    async fn active_user(&self, id: i64) -> Result<Option<User>, BackendError> {
        Ok(self.db.get::<User>(id).await?.filter(|u| !u.disabled))
    }

    /// Who a session token belongs to, if it is valid.
    pub async fn resolve_session(&self, token: &str) -> Result<Option<Resolved>, BackendError> {
        let id = tokens::digest(token);
        let load = async {
            let Some(session) = self.db.get::<Session>(&id).await? else { return Ok(None) };
            if session.expires_at <= Utc::now() {
                let _ = self.db.delete::<Session>(&session.id).await;
                return Ok(None);
            }
            let until = Some(instant_of(session.expires_at));
            Ok(self.active_user(session.id_user).await?.map(|u| (Resolved { identity: identity(&u), csrf: session.csrf_token }, until)))
        };
        self.callers.get_or_load((TokenKind::Session, id.clone()), load).await
    }

    /// Who an access token belongs to, if it is valid.
    pub async fn resolve_access_token(&self, token: &str) -> Result<Option<Resolved>, BackendError> {
        let Some((id, secret)) = tokens::split_access_token(token) else { return Ok(None) };
        let load = async {
            let Some(at) = self.db.get::<AccessToken>(id).await? else { return Ok(None) };
            let valid = at.secret_hash.as_deref().is_some_and(|h| tokens::same(h, &tokens::digest(secret)))
                && at.revoked_at.is_none()
                && at.expires_at.is_none_or(|t| t > Utc::now());
            if !valid {
                return Ok(None);
            }
            // Recorded when the token is looked up (at most once per `cache_seconds`) and
            // no more than once a minute; only this field is written, so that a
            // revocation made meanwhile is never undone.
            if at.last_used_at.is_none_or(|t| Utc::now() - t > Duration::minutes(1)) {
                if let Err(e) = self.db.patch::<AccessToken>(&at.id, serde_json::json!({"last_used_at": Utc::now()})).await {
                    tracing::warn!(error = %e, token = %at.id, "auth: recording an access token's last use failed");
                }
            }
            let until = at.expires_at.map(instant_of);
            Ok(self.active_user(at.id_user).await?.map(|u| (Resolved { identity: identity(&u), csrf: None }, until)))
        };
        self.callers.get_or_load((TokenKind::Access, tokens::digest(token)), load).await
    }

    /// Create an access token; answers it with the full token (shown once).
    pub async fn create_access_token(
        &self,
        user_id: i64,
        description: &str,
        expires_at: Option<chrono::DateTime<Utc>>,
    ) -> Result<(AccessToken, String), BackendError> {
        let (id, secret) = (tokens::random_id(), tokens::random_token());
        let token = AccessToken {
            id: id.clone(),
            id_user: user_id,
            description: description.into(),
            secret_hash: Some(tokens::digest(&secret)),
            expires_at,
            ..Default::default()
        };
        let stored = self.db.insert(&token).await?;
        Ok((stored, format!("{}{id}_{secret}", tokens::ACCESS_PREFIX)))
    }
}

/// The hash of a random password, verified against when the user does not exist.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| daas_common::password::hash(&tokens::random_token()).unwrap_or_default())
}
