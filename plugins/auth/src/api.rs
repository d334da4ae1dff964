//! `/api/v1/auth`: bearer tokens, the caller, the second factor, API access tokens.

use chrono::Utc;
use daas_common::model::AccessToken;
use daas_plugin_api::{
    abi::BackendError,
    poem::{web::Data, Request},
    poem_openapi::{param::Path, payload::Json, types::Example, Object, OpenApi},
    sdk::{Attributes, Caller, Created, Done, Failure},
};

use crate::accounts::Accounts;

/// The auth plugin's API.
pub struct AuthApi(pub Accounts);

/// What `POST /api/v1/auth/token` takes: a user name, the password and, for users with
/// a second factor, the one-time code.
#[derive(Object)]
#[oai(example, deny_unknown_fields, skip_serializing_if_is_none)]
struct Credentials {
    /// The login name (no NUL: no database here stores one).
    #[oai(deserialize_with = "daas_plugin_api::sdk::text", validator(min_length = 1, max_length = 128, pattern = r"^[^\x00]*$"))]
    username: String,
    /// The password.
    #[oai(write_only, deserialize_with = "daas_plugin_api::sdk::text", validator(max_length = 4096))]
    password: String,
    /// The one-time code of the authenticator app, for users with a second factor.
    #[oai(write_only, deserialize_with = "daas_plugin_api::sdk::maybe_text", validator(max_length = 16))]
    otp: Option<String>,
}

impl Example for Credentials {
    fn example() -> Self {
        Credentials { username: "admin".into(), password: "correct horse battery staple".into(), otp: None }
    }
}

/// A one-time code. Without a code, `POST /api/v1/auth/totp` starts the set-up.
#[derive(Object)]
#[oai(example, deny_unknown_fields, skip_serializing_if_is_none)]
struct TotpCode {
    /// The code the authenticator app shows (six digits).
    #[oai(deserialize_with = "daas_plugin_api::sdk::maybe_text", validator(max_length = 16))]
    code: Option<String>,
}

impl Example for TotpCode {
    fn example() -> Self {
        TotpCode { code: Some("123456".into()) }
    }
}

/// The caller's second factor.
#[derive(Object)]
struct SecondFactor {
    /// Whether logins need a one-time code.
    enabled: bool,
    /// The new secret (base32), during set-up only: enter it or scan the URL, then
    /// confirm with a code. Null once the factor is enabled.
    #[oai(nullable)]
    secret: Option<String>,
    /// The `otpauth://` URL of the new secret, during set-up only.
    #[oai(nullable)]
    otpauth_url: Option<String>,
}

/// A bearer token.
#[derive(Object)]
struct BearerToken {
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
    /// How this request authenticated: `cookie`, `bearer`, `access_token` or `remote`.
    via: String,
    /// The CSRF token to send as `x-csrf-token` with cookie-authenticated changes; null
    /// for other callers.
    #[oai(nullable)]
    csrf_token: Option<String>,
}

/// A new API access token. The server makes its id and secret.
#[derive(Object)]
#[oai(example, deny_unknown_fields, skip_serializing_if_is_none)]
struct NewAccessToken {
    /// What it is for.
    #[oai(deserialize_with = "daas_plugin_api::sdk::text", validator(max_length = 1024, pattern = r"^[^\x00]*$"))]
    description: String,
    /// When it expires, in the future (absent or null: when revoked).
    #[oai(nullable)]
    expires_at: Option<chrono::DateTime<Utc>>,
}

impl Example for NewAccessToken {
    fn example() -> Self {
        NewAccessToken { description: "nightly export script".into(), expires_at: Some(Utc::now() + chrono::Duration::days(90)) }
    }
}

/// An API access token, without its secret.
#[derive(Object, Clone)]
#[oai(rename = "AccessToken")]
pub struct AccessTokenView {
    /// Public id (`DELETE /api/v1/auth/access-tokens/{id}` revokes it).
    id: String,
    /// The user the token acts as.
    id_user: i64,
    /// What it was created for.
    description: String,
    /// When it was created.
    created_at: chrono::DateTime<Utc>,
    /// When it expires (null: when revoked).
    #[oai(nullable)]
    expires_at: Option<chrono::DateTime<Utc>>,
    /// When it was revoked (null: valid).
    #[oai(nullable)]
    revoked_at: Option<chrono::DateTime<Utc>>,
    /// When it was last used (null: never).
    #[oai(nullable)]
    last_used_at: Option<chrono::DateTime<Utc>>,
}

impl From<AccessToken> for AccessTokenView {
    fn from(t: AccessToken) -> Self {
        AccessTokenView {
            id: t.id,
            id_user: t.id_user,
            description: t.description,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// A created access token: the only time its secret is shown. `access_token` is its
/// metadata.
#[derive(Object)]
struct CreatedAccessToken {
    /// The full token, sent as `Authorization: Bearer <token>`; store it now, it cannot
    /// be shown again.
    token: String,
    access_token: AccessTokenView,
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
    /// Log in for a bearer token
    ///
    /// Checks the user name and password (and the one-time code of a user with a second
    /// factor) and answers a bearer token to send as `Authorization: Bearer <token>`.
    /// Repeated failures from one address for one user name are answered 429 for a
    /// while; the account itself is never locked.
    #[oai(path = "/token", method = "post", operation_id = "token")]
    async fn token(&self, req: &Request, body: Json<Credentials>) -> Result<Json<BearerToken>, Failure> {
        let addr = req.remote_addr().as_socket_addr().map(|a| a.ip());
        let user = self.0.login(&body.username, &body.password, body.otp.as_deref(), addr).await?;
        let s = self.0.open_session(&user, self.0.policy.token_ttl).await?;
        Ok(Json(BearerToken { token: s.token, token_type: "Bearer".into(), expires_at: s.expires_at }))
    }

    /// Log out a bearer token
    ///
    /// Ends the bearer session this request was made with (409 for a request made with
    /// another credential). Access tokens are revoked
    /// with `DELETE /api/v1/auth/access-tokens/{id}`, browser sessions with `POST
    /// /logout`.
    #[oai(path = "/token", method = "delete", operation_id = "revoke_token")]
    async fn revoke_token(&self, req: &Request, _caller: Caller) -> Result<Done, Failure> {
        match req.header("authorization").and_then(crate::http::bearer) {
            Some(t) if !t.starts_with(crate::tokens::ACCESS_PREFIX) => {
                self.0.close_session(t).await?;
                Ok(Done::Done)
            }
            // The request is well formed; the credential it came with is no session.
            _ => Err(Failure::conflict("this request was not made with a bearer session token")
                .with_detail("access tokens are revoked with DELETE /api/v1/auth/access-tokens/{id}; browser sessions with POST /logout")),
        }
    }

    /// The caller
    ///
    /// Who this request authenticated as, how, and the CSRF token a browser session
    /// sends with its changes.
    #[oai(path = "/me", method = "get", operation_id = "me")]
    async fn me(&self, caller: Caller, attributes: Data<&Attributes>) -> Result<Json<Me>, Failure> {
        let who = caller.into_inner();
        Ok(Json(Me {
            id: who.user_id,
            name: who.user_name,
            admin: who.admin,
            via: attributes.get(crate::layer::ATTR_VIA).unwrap_or_default().to_string(),
            csrf_token: attributes.get(crate::layer::ATTR_CSRF).map(str::to_string),
        }))
    }

    /// Set up the caller's second factor
    ///
    /// Without a code: a new secret to enter in an authenticator app (not active yet).
    /// With a code from the app: the secret becomes active, and logins need a code from
    /// then on.
    #[oai(path = "/totp", method = "post", operation_id = "setup_totp")]
    async fn setup_totp(&self, caller: Caller, body: Json<TotpCode>) -> Result<Json<SecondFactor>, Failure> {
        let Some(user) = self.0.db.get::<daas_common::model::User>(caller.user_id).await? else {
            return Err(Failure::unprocessable("only local users have a second factor here"));
        };
        let stored = user.totp_secret.clone().unwrap_or_default();
        let (secret, active) = crate::totp::parse(&stored);
        match body.0.code {
            None => {
                if active && !secret.is_empty() {
                    return Err(Failure::conflict("the second factor is active already")
                        .with_detail("remove it first with DELETE /api/v1/auth/totp"));
                }
                let secret = crate::totp::new_secret();
                self.set_totp(user.id, &crate::totp::pending(&secret)).await?;
                let otpauth_url = crate::totp::url(&secret, &user.name);
                Ok(Json(SecondFactor { enabled: false, secret: Some(secret), otpauth_url: Some(otpauth_url) }))
            }
            Some(code) => {
                if secret.is_empty() || !crate::totp::check(secret, &user.name, &code) {
                    return Err(Failure::unprocessable("the code does not match the secret being set up")
                        .with_detail("check the app's clock; start again with an empty body"));
                }
                self.set_totp(user.id, secret).await?;
                Ok(Json(SecondFactor { enabled: true, secret: None, otpauth_url: None }))
            }
        }
    }

    /// Remove the caller's second factor
    ///
    /// Needs a current code from the authenticator app while the factor is active.
    #[oai(path = "/totp", method = "delete", operation_id = "remove_totp")]
    async fn remove_totp(&self, caller: Caller, body: Json<TotpCode>) -> Result<Done, Failure> {
        let Some(user) = self.0.db.get::<daas_common::model::User>(caller.user_id).await? else {
            return Err(Failure::not_found("no second factor"));
        };
        let stored = user.totp_secret.clone().unwrap_or_default();
        let (secret, active) = crate::totp::parse(&stored);
        if active && !secret.is_empty() && !body.code.as_deref().is_some_and(|c| crate::totp::check(secret, &user.name, c)) {
            return Err(Failure::forbidden("a current one-time code is needed to remove the second factor")
                .with_detail("send the code the authenticator app shows as `code`"));
        }
        // Empty, not none: a secret given as none keeps the stored one.
        self.set_totp(user.id, "").await?;
        Ok(Done::Done)
    }

    /// The caller's access tokens
    ///
    /// The caller's API access tokens, revoked and expired ones included, without their
    /// secrets.
    #[oai(path = "/access-tokens", method = "get", operation_id = "list_access_tokens")]
    async fn list_access_tokens(&self, caller: Caller) -> Result<Json<Vec<AccessTokenView>>, Failure> {
        let tokens: Vec<AccessToken> = self.0.db.find(vec![daas_common::protocols::Filter::eq("id_user", caller.user_id)]).await?;
        Ok(Json(tokens.into_iter().map(AccessTokenView::from).collect()))
    }

    /// Create an access token
    ///
    /// An API access token acting as the caller, sent as `Authorization: Bearer
    /// <token>`. The answer is the only time its secret is shown.
    #[oai(path = "/access-tokens", method = "post", operation_id = "create_access_token")]
    async fn create_access_token(&self, caller: Caller, body: Json<NewAccessToken>) -> Result<Created<CreatedAccessToken>, Failure> {
        if body.expires_at.is_some_and(|t| t <= Utc::now()) {
            return Err(Failure::unprocessable("expires_at is in the past").with_detail("give a time in the future, or none"));
        }
        let (access_token, token) = self.0.create_access_token(caller.user_id, &body.description, body.expires_at).await?;
        Ok(Created::Created(Json(CreatedAccessToken { token, access_token: access_token.into() })))
    }

    /// Revoke an access token
    ///
    /// Revokes one of the caller's access tokens (administrators: anyone's); it stops
    /// working at once. Revoking a revoked token is fine.
    #[oai(path = "/access-tokens/:id", method = "delete", operation_id = "revoke_access_token")]
    async fn revoke_access_token(
        &self,
        caller: Caller,
        /// The access token's id (`GET /api/v1/auth/access-tokens`).
        id: Path<String>,
    ) -> Result<Done, Failure> {
        let not_found = || Failure::not_found(format!("access token `{}` does not exist", id.0));
        let Some(token) = self.0.db.get::<AccessToken>(&id.0).await? else { return Err(not_found()) };
        if token.id_user != caller.user_id && !caller.admin {
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
