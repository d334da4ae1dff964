//! The `auth` layer: runs first around every route. It resolves the caller from the
//! session cookie, a bearer session token or an access token and attaches the
//! [`Identity`](daas_plugin_api::identity::Identity); a non-public route without a
//! valid caller is refused (401 JSON for the API, a redirect to the login page for a
//! browser page). Cookie-authenticated calls that change state must carry the
//! session's CSRF token in `x-csrf-token` (root-level form POSTs carry it in the form,
//! which their handlers check). The caller's roles must then hold the
//! route's permission rule ([`crate::rbac`]), and with `[auth] enable_auth_endpoint`
//! the caller must hold the route's privilege ([`crate::guard`]).

use std::sync::Arc;

use daas_plugin_api::{
    abi::{HttpResponse, LayerRequest, LayerVerdict},
    futures::future::BoxFuture,
    sdk::Layer,
    ApiError,
};

use crate::{
    accounts::{Accounts, Resolved, Via},
    guard::Guard,
    http, rbac, tokens,
};

/// The attributes with how the caller authenticated and the session's CSRF token.
pub use daas_plugin_api::identity::{ATTR_CSRF, ATTR_VIA};
/// The session cookie.
pub const SESSION_COOKIE: &str = "daas_session";

/// The layer, and the privilege checks it runs after authentication.
pub struct AuthLayer(pub Accounts, pub Arc<Guard>);

fn header<'a>(req: &'a LayerRequest, name: &str) -> Option<&'a str> {
    req.header(name)
}

fn reject(status: u16, code: &str, message: &str, detail: &str) -> LayerVerdict {
    LayerVerdict::reject(status, code, message, detail)
}

fn is_browser_page(req: &LayerRequest) -> bool {
    let uri = req.uri();
    req.method() == "GET" && !req.websocket && !uri.starts_with("/api/") && header(req, "accept").is_some_and(|a| a.contains("text/html"))
}

async fn resolve(accounts: &Accounts, req: &LayerRequest) -> Result<Option<(Resolved, Via)>, String> {
    let bearer = header(req, "authorization").and_then(http::bearer);
    let cookie = header(req, "cookie").and_then(|c| http::cookie(c, SESSION_COOKIE));
    let found = match (bearer, cookie) {
        (Some(t), _) if t.starts_with(tokens::ACCESS_PREFIX) => {
            accounts.resolve_access_token(t).await.map(|r| r.map(|r| (r, Via::AccessToken)))
        }
        (Some(t), _) => match accounts.resolve_session(t).await {
            Ok(None) if accounts.remote.is_some() => return resolve_remote(accounts, t).await,
            other => other.map(|r| r.map(|r| (r, Via::Bearer))),
        },
        (None, Some(c)) => accounts.resolve_session(c).await.map(|r| r.map(|r| (r, Via::Cookie))),
        (None, None) => Ok(None),
    };
    found.map_err(|e| e.to_string())
}

/// Count a call against the site's rate limit, if it has one.
fn limited(accounts: &Accounts, caller: &str) -> Result<(), u64> {
    accounts.limiter.as_ref().map_or(Ok(()), |l| l.call(caller))
}

fn too_many(wait: u64) -> LayerVerdict {
    let resp = ApiError::new("rate_limited", "too many requests", format!("retry in {wait} seconds")).to_ffi(429);
    LayerVerdict::Reject(resp.with_header("retry-after", &wait.to_string()))
}

/// The client's address without its port.
fn client_ip(req: &LayerRequest) -> String {
    req.client().map(|a| a.ip().to_string()).unwrap_or_default()
}

/// A bearer token the local store does not know, asked of the remote service.
async fn resolve_remote(accounts: &Accounts, token: &str) -> Result<Option<(Resolved, Via)>, String> {
    let Some(remote) = &accounts.remote else { return Ok(None) };
    let identity = remote.user(token).await.map_err(|e| e.to_string())?;
    Ok(identity.map(|identity| (Resolved { identity, csrf: None }, Via::Remote)))
}

/// With `verify_endpoints`, a remote user's route is allowed by the remote service.
async fn remote_allows(accounts: &Accounts, req: &LayerRequest) -> Result<bool, String> {
    let Some(remote) = accounts.remote.as_ref().filter(|r| r.verifies_endpoints()) else { return Ok(true) };
    let token = header(req, "authorization").and_then(http::bearer).unwrap_or_default();
    remote.allows(token, req.operation_id.as_str()).await.map_err(|e| e.to_string())
}

impl Layer for AuthLayer {
    fn before(&self, req: LayerRequest) -> BoxFuture<'static, LayerVerdict> {
        let accounts = self.0.clone();
        let guard = self.1.clone();
        Box::pin(async move {
            let presented = header(&req, "authorization").is_some()
                || header(&req, "cookie").is_some_and(|c| http::cookie(c, SESSION_COOKIE).is_some());
            let resolved = match resolve(&accounts, &req).await {
                Ok(r) => r,
                Err(e) if req.public => {
                    tracing::warn!(error = %e, "auth: the user store does not answer; serving a public route anonymously");
                    None
                }
                Err(e) => {
                    tracing::error!(error = %e, "auth: the user store does not answer");
                    return reject(
                        503,
                        "unavailable",
                        "authentication is unavailable: the user store does not answer",
                        "try again shortly",
                    );
                }
            };
            match resolved {
                Some((r, via)) => {
                    if via == Via::Remote && !req.public {
                        match remote_allows(&accounts, &req).await {
                            Ok(true) => {}
                            Ok(false) => {
                                return reject(
                                    403,
                                    "forbidden",
                                    &format!("the authentication service does not allow `{}` to this user", req.operation_id),
                                    "ask an administrator of the authentication service",
                                )
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "auth: the remote service failed");
                                return reject(503, "unavailable", "the authentication service does not answer", "try again shortly");
                            }
                        }
                    }
                    let unsafe_method = !matches!(req.method(), "GET" | "HEAD" | "OPTIONS");
                    // Root-level POSTs are browser form targets, which cannot send a
                    // header: their handlers check the form's `csrf` field. Every other
                    // change (any DELETE, PUT, PATCH) must carry the header.
                    let header_checked = req.uri().starts_with("/api/") || req.method() != "POST";
                    if via == Via::Cookie && unsafe_method && header_checked {
                        let sent = header(&req, "x-csrf-token").unwrap_or_default();
                        if !r.csrf.as_deref().is_some_and(|c| tokens::same(c, sent)) {
                            return reject(
                                403,
                                "csrf",
                                "a request authenticated by the session cookie needs the session's CSRF token",
                                "send it in the x-csrf-token header (GET /api/v1/auth/me answers it), or use a bearer token",
                            );
                        }
                    }
                    if let Err(wait) = limited(&accounts, &format!("user:{}", r.identity.user_id)) {
                        return too_many(wait);
                    }
                    // Remote users have no local user row to hold roles or entries; the
                    // remote service decides their routes (`verify_endpoints`, above).
                    let mut identity = r.identity;
                    let mut scope = None;
                    if via != Via::Remote {
                        match guard.rbac.check(&req, &identity).await {
                            Ok(grant) => {
                                identity.admin = grant.admin;
                                scope = grant.scope;
                            }
                            Err(denied) => return denied,
                        }
                        if let Some(denied) = guard.check(&req, &identity).await {
                            return denied;
                        }
                    }
                    let mut attrs = identity.to_attributes();
                    if let Some(scope) = scope {
                        attrs.push((rbac::ATTR_SCOPE.into(), scope.as_str().into()));
                    }
                    attrs.push((ATTR_VIA.into(), via.as_str().into()));
                    if let (Via::Cookie, Some(csrf)) = (via, r.csrf) {
                        attrs.push((ATTR_CSRF.into(), csrf));
                    }
                    LayerVerdict::Continue(attrs.into_iter().map(|(k, v)| (k.into(), v.into()).into()).collect())
                }
                // A viewer link (`/instance/{id}?token=`) without a session.
                None if crate::viewer::link(&req).is_some() => match limited(&accounts, &format!("addr:{}", client_ip(&req))) {
                    Err(wait) => too_many(wait),
                    Ok(()) => crate::viewer::verdict(&accounts.db, &req).await,
                },
                None if req.public => match limited(&accounts, &format!("addr:{}", client_ip(&req))) {
                    Err(wait) => too_many(wait),
                    Ok(()) => LayerVerdict::Continue(Default::default()),
                },
                None if is_browser_page(&req) => {
                    let location = format!("/login?next={}", http::encode_query_value(req.uri()));
                    LayerVerdict::Reject(HttpResponse::new(303, &[("location", location)], Vec::new()))
                }
                None if presented => reject(401, "unauthenticated", "the session or token is invalid or has expired", "log in again"),
                None => reject(
                    401,
                    "unauthenticated",
                    "this route needs an authenticated user",
                    "log in at /login, or send `Authorization: Bearer <token>` (POST /api/v1/auth/token)",
                ),
            }
        })
    }
}
