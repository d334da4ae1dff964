//! `auth.toml`.

use super::*;

file! {
    /// `auth.toml`: authentication (seed `QwebAuthenticatorConfig`).
    AuthFile {
        /// `[auth]`
        auth: AuthSection,
        /// `[local]`
        local: AuthLocalSection,
        /// `[remote]`
        remote: AuthRemoteSection,
    }
}

/// `[auth]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct AuthSection {
    /// Verify the user of every request.
    pub enable_auth_user: bool,
    /// Verify the privilege of every endpoint (seed 000 §3.3.4: user, static group and
    /// group accept/deny lists; administrators and public routes pass). Off by default,
    /// so that a site without privileges configured keeps working.
    pub enable_auth_endpoint: bool,
    /// How long the static groups' privileges are cached, in seconds (0: 60); changes
    /// through `/api/v1/auth` take effect at once.
    pub static_groups_ttl_seconds: u64,
    /// How long the caller a session or access token resolves to, and a user's own
    /// privilege entries and group memberships, are remembered, in seconds (0: not at
    /// all: every request reads them). Never longer than the session or token lasts;
    /// changes through `/api/v1/auth` take effect at once, others (`daas import`, SQL)
    /// after this long at the latest.
    pub cache_seconds: u64,
    /// Accept bearer tokens.
    pub enable_auth_token: bool,
    /// Verify ownership of entities.
    pub enable_entity_verification: bool,
    /// Log ownership verification.
    pub enable_log_entity_verification: bool,
    /// Limit the calls per caller (apicrud `RATELIMIT_ENABLE`): over the limit, 429
    /// with `Retry-After`.
    pub ratelimit_enable: bool,
    /// Calls per interval and caller (0: 600).
    pub ratelimit_limit: u64,
    /// The interval, in seconds (apicrud `RATELIMIT_INTERVAL`; 0: 60).
    pub ratelimit_interval_seconds: u64,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            enable_auth_user: false,
            enable_auth_endpoint: false,
            static_groups_ttl_seconds: 0,
            // Long enough that a client's burst of calls (a page and its API calls)
            // resolves its caller once; short enough that a change made around the
            // auth plugin shows soon.
            cache_seconds: 5,
            enable_auth_token: false,
            enable_entity_verification: false,
            enable_log_entity_verification: false,
            ratelimit_enable: false,
            ratelimit_limit: 0,
            ratelimit_interval_seconds: 0,
        }
    }
}

file! {
    /// `[local]`
    AuthLocalSection {
        /// The user id of the local default user.
        default_userid: i64,
        /// The name of the local default user.
        default_username: String,
        /// How long a browser session lasts without use, in minutes (0: 480).
        session_ttl_minutes: u64,
        /// How long a bearer token from `POST /api/v1/auth/token` lasts, in minutes (0: 60).
        token_ttl_minutes: u64,
        /// Failed logins in a row, from one client address for one user name, before
        /// that address must wait to try that name again (0: 5). The wait starts at one
        /// second and doubles with each further failure. Other addresses, and the user
        /// from elsewhere, are not held back.
        lockout_attempts: u32,
        /// The longest such wait, in minutes (0: 15).
        lockout_minutes: u64,
        /// Threads that check passwords (argon2id, 19 MiB of memory each), off the
        /// request threads (0: half the CPUs, at least one).
        password_workers: u64,
        /// Password checks that may wait for a thread (0: 8 per thread); past that a
        /// login answers 503 with `Retry-After`.
        password_queue: u64,
        /// Mark cookies `Secure` (set when a TLS-terminating proxy is in front).
        secure_cookies: bool,
    }
}

file! {
    /// `[remote]` (seed `AuthenticatorConfig`).
    AuthRemoteSection {
        /// Base URL of the remote authentication service.
        url: String,
        /// OAuth2 client id.
        clientid: String,
        /// OAuth2 scope.
        scope: String,
        /// Service user name.
        username: String,
        /// Service user password.
        password: String,
        /// Verify endpoint permissions remotely.
        verify_endpoints: bool,
        /// Verify users remotely.
        remote_verification: bool,
        /// Log requests.
        logrequests: bool,
        /// Timeout of one request to the service, in milliseconds (0: 5000).
        timeout_ms: u64,
        /// How long a verified user token or endpoint permission is trusted without
        /// asking again, in seconds (0: 60).
        cache_seconds: u64,
    }
}
