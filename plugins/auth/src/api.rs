//! `/api/v1/auth`: bearer tokens, the caller, API access tokens.

use chrono::Utc;
use daas_common::model::AccessToken;
use daas_plugin_api::{
    abi::BackendError,
    identity::Identity,
    poem::{web::Data, Request},
    poem_openapi::{param::Path, payload::Json, ApiResponse, Object, OpenApi},
    sdk::Attributes,
    ApiError,
};

use crate::accounts::{Accounts, LoginError};

/// The auth plugin's API.
pub struct AuthApi(pub Accounts);

/// A user name and password.
#[derive(Object)]
struct Credentials {
    /// The login name.
    username: String,
    /// The password.
    #[oai(write_only)]
    password: String,
    /// The one-time code, for users with a second factor.
    #[oai(write_only)]
    otp: Option<String>,
}

/// A one-time code.
#[derive(Object)]
struct Code {
    /// The code the authenticator app shows (none: start the set-up).
    code: Option<String>,
}

/// The second factor's state.
#[derive(Object)]
struct SecondFactor {
    /// Whether logins need a one-time code.
    enabled: bool,
    /// The new secret (base32), during set-up only: enter it or scan the URL, then
    /// confirm with a code.
    secret: Option<String>,
    /// The `otpauth://` URL of the new secret, during set-up only.
    otpauth_url: Option<String>,
}

/// A bearer token.
#[derive(Object)]
struct Token {
    /// Send as `Authorization: Bearer <token>`.
    token: String,
    /// Always `Bearer`.
    token_type: String,
    /// When it stops working.
    expires_at: chrono::DateTime<Utc>,
}

/// The caller.
#[derive(Object)]
struct Me {
    /// User id.
    id: i64,
    /// Login name.
    name: String,
    /// Administrator.
    admin: bool,
    /// How this request authenticated: `cookie`, `bearer` or `access_token`.
    via: String,
    /// The CSRF token to send as `x-csrf-token` with cookie-authenticated changes.
    csrf_token: Option<String>,
}

/// A new access token's request.
#[derive(Object)]
struct NewAccessToken {
    /// What it is for.
    description: String,
    /// When it expires (none: when revoked).
    expires_at: Option<chrono::DateTime<Utc>>,
}

/// A created access token: the only time its secret is shown.
#[derive(Object)]
struct CreatedAccessToken {
    /// The full token; store it now, it cannot be shown again.
    token: String,
    /// Its metadata.
    access_token: AccessToken,
}

#[derive(ApiResponse)]
enum Failure {
    /// Invalid request.
    #[oai(status = 400)]
    BadRequest(Json<ApiError>),
    /// Wrong credentials, or no caller.
    #[oai(status = 401)]
    Unauthenticated(Json<ApiError>),
    /// Not found, or not yours.
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
    /// Too many failed logins for this user name from this address; retry after the
    /// given seconds.
    #[oai(status = 429)]
    Locked(Json<ApiError>, #[oai(header = "Retry-After")] String),
    /// The user store does not answer, or too many logins are being checked at once
    /// (with `Retry-After`).
    #[oai(status = 503)]
    Unavailable(Json<ApiError>, #[oai(header = "Retry-After")] Option<String>),
}

impl From<BackendError> for Failure {
    fn from(e: BackendError) -> Failure {
        tracing::error!(error = %e, "auth: the user store failed");
        Failure::Unavailable(Json(ApiError::new("unavailable", "the user store does not answer", "try again shortly")), None)
    }
}

impl From<LoginError> for Failure {
    fn from(e: LoginError) -> Failure {
        let message = e.to_string();
        match e {
            LoginError::Wrong => Failure::Unauthenticated(Json(ApiError::new("unauthenticated", message, ""))),
            LoginError::OtpRequired => Failure::Unauthenticated(Json(ApiError::new("otp_required", message, "send it as `otp`"))),
            LoginError::Throttled(secs) => Failure::Locked(Json(ApiError::new("locked_out", message, "")), secs.to_string()),
            LoginError::Busy => {
                Failure::Unavailable(Json(ApiError::new("busy", message, "")), Some(crate::hashing::BUSY_RETRY_SECONDS.to_string()))
            }
            LoginError::Store(e) => e.into(),
        }
    }
}

fn caller(attributes: &Attributes) -> Result<Identity, Failure> {
    Identity::from_attributes(attributes)
        .ok_or_else(|| Failure::Unauthenticated(Json(ApiError::new("unauthenticated", "this route needs an authenticated user", ""))))
}

#[derive(ApiResponse)]
enum Created {
    /// Created.
    #[oai(status = 201)]
    Created(Json<CreatedAccessToken>),
}

#[derive(ApiResponse)]
enum Done {
    /// Done.
    #[oai(status = 204)]
    Done,
}

impl AuthApi {
    /// Store a user's second factor secret, and only it: writing back the whole user
    /// read earlier would undo an administrator's change made meanwhile (disabled).
    async fn set_totp(&self, user: i64, stored: &str) -> Result<(), BackendError> {
        self.0.db.patch::<daas_common::model::User>(user, serde_json::json!({"totp_secret": stored})).await
    }
}

#[OpenApi]
impl AuthApi {
    /// Log in with a user name and password; answers a bearer token.
    #[oai(path = "/token", method = "post", operation_id = "token")]
    async fn token(&self, req: &Request, body: Json<Credentials>) -> Result<Json<Token>, Failure> {
        let addr = req.remote_addr().as_socket_addr().map(|a| a.ip());
        let user = self.0.login(&body.username, &body.password, body.otp.as_deref(), addr).await?;
        let s = self.0.open_session(&user, self.0.policy.token_ttl).await?;
        Ok(Json(Token { token: s.token, token_type: "Bearer".into(), expires_at: s.expires_at }))
    }

    /// End the bearer session this request was made with.
    #[oai(path = "/token", method = "delete", operation_id = "revoke_token")]
    async fn revoke_token(&self, req: &Request, attributes: Data<&Attributes>) -> Result<Done, Failure> {
        caller(&attributes)?;
        match req.header("authorization").and_then(crate::http::bearer) {
            Some(t) if !t.starts_with(crate::tokens::ACCESS_PREFIX) => {
                self.0.close_session(t).await?;
                Ok(Done::Done)
            }
            _ => Err(Failure::BadRequest(Json(ApiError::new(
                "bad_request",
                "this request was not made with a bearer session token",
                "access tokens are revoked with DELETE /api/v1/auth/access-tokens/{id}; browser sessions with POST /logout",
            )))),
        }
    }

    /// The caller.
    #[oai(path = "/me", method = "get", operation_id = "me")]
    async fn me(&self, attributes: Data<&Attributes>) -> Result<Json<Me>, Failure> {
        let who = caller(&attributes)?;
        Ok(Json(Me {
            id: who.user_id,
            name: who.user_name,
            admin: who.admin,
            via: attributes.get(crate::layer::ATTR_VIA).unwrap_or_default().to_string(),
            csrf_token: attributes.get(crate::layer::ATTR_CSRF).map(str::to_string),
        }))
    }

    /// Set up the caller's second factor: without a code, a new secret to enter in an
    /// authenticator app (not active yet); with a code from the app, the secret becomes
    /// active and logins need a code from then on.
    #[oai(path = "/totp", method = "post", operation_id = "setup_totp")]
    async fn setup_totp(&self, attributes: Data<&Attributes>, body: Json<Code>) -> Result<Json<SecondFactor>, Failure> {
        let who = caller(&attributes)?;
        let Some(user) = self.0.db.get::<daas_common::model::User>(who.user_id).await? else {
            return Err(Failure::BadRequest(Json(ApiError::new("bad_request", "only local users have a second factor here", ""))));
        };
        let stored = user.totp_secret.clone().unwrap_or_default();
        let (secret, active) = crate::totp::parse(&stored);
        match body.0.code {
            None => {
                if active && !secret.is_empty() {
                    return Err(Failure::BadRequest(Json(ApiError::new(
                        "bad_request",
                        "the second factor is active already",
                        "remove it first with DELETE /api/v1/auth/totp",
                    ))));
                }
                let secret = crate::totp::new_secret();
                self.set_totp(user.id, &crate::totp::pending(&secret)).await?;
                let otpauth_url = crate::totp::url(&secret, &user.name);
                Ok(Json(SecondFactor { enabled: false, secret: Some(secret), otpauth_url: Some(otpauth_url) }))
            }
            Some(code) => {
                if secret.is_empty() || !crate::totp::check(secret, &user.name, &code) {
                    return Err(Failure::BadRequest(Json(ApiError::new(
                        "bad_request",
                        "the code does not match the secret being set up",
                        "check the app's clock; start again with an empty body",
                    ))));
                }
                self.set_totp(user.id, secret).await?;
                Ok(Json(SecondFactor { enabled: true, secret: None, otpauth_url: None }))
            }
        }
    }

    /// Remove the caller's second factor (needs a current code).
    #[oai(path = "/totp", method = "delete", operation_id = "remove_totp")]
    async fn remove_totp(&self, attributes: Data<&Attributes>, body: Json<Code>) -> Result<Done, Failure> {
        let who = caller(&attributes)?;
        let Some(user) = self.0.db.get::<daas_common::model::User>(who.user_id).await? else {
            return Err(Failure::NotFound(Json(ApiError::new("not_found", "no second factor", ""))));
        };
        let stored = user.totp_secret.clone().unwrap_or_default();
        let (secret, active) = crate::totp::parse(&stored);
        if active && !secret.is_empty() && !body.code.as_deref().is_some_and(|c| crate::totp::check(secret, &user.name, c)) {
            return Err(Failure::BadRequest(Json(ApiError::new(
                "bad_request",
                "a current one-time code is needed to remove the second factor",
                "",
            ))));
        }
        // Empty, not none: a secret given as none keeps the stored one.
        self.set_totp(user.id, "").await?;
        Ok(Done::Done)
    }

    /// The caller's API access tokens (without their secrets).
    #[oai(path = "/access-tokens", method = "get", operation_id = "list_access_tokens")]
    async fn list_access_tokens(&self, attributes: Data<&Attributes>) -> Result<Json<Vec<AccessToken>>, Failure> {
        let who = caller(&attributes)?;
        let tokens: Vec<AccessToken> = self.0.db.find(vec![daas_common::protocols::Filter::eq("id_user", who.user_id)]).await?;
        Ok(Json(tokens))
    }

    /// Create an API access token for the caller; the answer is the only time its secret
    /// is shown.
    #[oai(path = "/access-tokens", method = "post", operation_id = "create_access_token")]
    async fn create_access_token(&self, attributes: Data<&Attributes>, body: Json<NewAccessToken>) -> Result<Created, Failure> {
        let who = caller(&attributes)?;
        if body.expires_at.is_some_and(|t| t <= Utc::now()) {
            return Err(Failure::BadRequest(Json(ApiError::new("bad_request", "expires_at is in the past", ""))));
        }
        let (access_token, token) = self.0.create_access_token(who.user_id, &body.description, body.expires_at).await.map_err(|e| {
            if e.kind == daas_plugin_api::abi::BackendErrorKind::BadRequest {
                Failure::BadRequest(Json(ApiError::from(e)))
            } else {
                e.into()
            }
        })?;
        Ok(Created::Created(Json(CreatedAccessToken { token, access_token })))
    }

    /// Revoke one of the caller's access tokens (admins: anyone's).
    #[oai(path = "/access-tokens/:id", method = "delete", operation_id = "revoke_access_token")]
    async fn revoke_access_token(&self, attributes: Data<&Attributes>, id: Path<String>) -> Result<Done, Failure> {
        let who = caller(&attributes)?;
        let not_found = || Failure::NotFound(Json(ApiError::new("not_found", format!("access token `{}` does not exist", id.0), "")));
        let Some(token) = self.0.db.get::<AccessToken>(&id.0).await? else { return Err(not_found()) };
        if token.id_user != who.user_id && !who.admin {
            return Err(not_found());
        }
        if token.revoked_at.is_none() {
            self.0.db.patch::<AccessToken>(&token.id, serde_json::json!({"revoked_at": Utc::now()})).await?;
            // The cache knows tokens by their digest, not by this id: revocations are
            // rare, so every caller is forgotten rather than keeping an index.
            self.0.callers.forget_all();
        }
        Ok(Done::Done)
    }
}
