//! The browser routes of the original: `GET /login` (the form), `POST /login` (sets the
//! session cookie and goes back where the user came from), `POST /logout`.
//!
//! The login form is protected against cross-site posts (login CSRF) twice: a post the
//! browser marks as coming from another site (`Sec-Fetch-Site`, `Origin`) is refused,
//! and the form carries a double-submit token (a cookie and a form field that must
//! match) that this server signed, so that a planted cookie with a made-up value does
//! not pass. The logout form carries the session's CSRF token. Cookies are HttpOnly and
//! SameSite.

use std::sync::Arc;

use daas_plugin_api::{
    abi::BrowserRoute,
    poem::{
        handler,
        http::StatusCode,
        web::{Data, Form, Query},
        EndpointExt, IntoEndpoint, Request, Response, Route,
    },
    sdk::Attributes,
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    accounts::{Accounts, LoginError},
    hashing, http, layer,
    tokens::{self, FormSigner},
};

const LOGIN_CSRF_COOKIE: &str = "daas_login_csrf";

/// An HTML page answer.
fn html(description: &str) -> serde_json::Value {
    json!({ "description": description, "content": { "text/html": { "schema": { "type": "string" } } } })
}

/// The routes, for the manifest, each with its OpenAPI operation.
pub fn routes() -> Vec<BrowserRoute> {
    let bad_form = json!({ "description": "The form's fields are missing or malformed.", "content": { "application/json; charset=utf-8": { "schema": { "$ref": "#/components/schemas/ApiError" } } } });
    vec![
        BrowserRoute::new("GET", "/login", "login_page", "The login form").public().documented(json!({
            "summary": "The login form",
            "description": "The login page. Its form posts to `POST /login` with a signed token that must match the cookie this answer sets (login CSRF protection). Needs no identity.",
            "parameters": [{ "name": "next", "in": "query", "required": false, "description": "Where to go after the login: a path on this site (anything else goes to `/`).", "schema": { "type": "string" } }],
            "responses": { "200": html("The login form; sets the form's cookie.") },
        })),
        BrowserRoute::new("POST", "/login", "login", "Log in with the login form").public().documented(json!({
            "summary": "Log in with the login form",
            "description": "Checks the form's user name and password (and one-time code), sets the session cookie (HttpOnly, SameSite=Lax) and redirects to `next`. A failed login answers the form again with the reason. Posts the browser marks as coming from another site, and forms without the signed token of `GET /login`, are refused. Needs no identity.",
            "requestBody": {
                "required": true,
                "content": { "application/x-www-form-urlencoded": { "schema": {
                    "type": "object",
                    "required": ["username", "password", "csrf"],
                    "properties": {
                        "username": { "type": "string", "description": "The login name." },
                        "password": { "type": "string", "format": "password", "description": "The password." },
                        "csrf": { "type": "string", "description": "The form's signed token (the hidden field of `GET /login`)." },
                        "next": { "type": "string", "description": "Where to go after the login (a path on this site)." },
                        "otp": { "type": "string", "description": "The one-time code, for users with a second factor." },
                    },
                }, "example": { "username": "admin", "password": "correct horse battery staple", "csrf": "<the form's hidden field>", "next": "/" } } },
            },
            "responses": {
                "303": { "description": "Logged in: the session cookie is set; to `next`.", "headers": {
                    "Location": { "description": "`next`, or `/`.", "schema": { "type": "string" } },
                    "Set-Cookie": { "description": "The session cookie `daas_session`.", "schema": { "type": "string" } },
                } },
                "400": bad_form,
                "401": html("Wrong user name or password, or the one-time code is needed: the form again."),
                "403": html("The form expired or came from another site: the form again."),
                "429": html("Too many failed logins for this name from this address: the form again, with `Retry-After`."),
                "503": html("The user store does not answer, or too many logins are being checked: the form again."),
            },
        })),
        BrowserRoute::new("POST", "/logout", "logout", "Log out").documented(json!({
            "summary": "Log out",
            "description": "Ends the browser session, clears its cookie and redirects to the login form. The form carries the session's CSRF token (`GET /api/v1/auth/me` answers it).",
            "requestBody": {
                "required": true,
                "content": { "application/x-www-form-urlencoded": { "schema": {
                    "type": "object",
                    "required": ["csrf"],
                    "properties": { "csrf": { "type": "string", "description": "The session's CSRF token." } },
                }, "example": { "csrf": "<the session's CSRF token>" } } },
            },
            "responses": {
                "303": { "description": "Logged out: the cookie is cleared; to `/login`.", "headers": {
                    "Location": { "description": "`/login`.", "schema": { "type": "string" } },
                } },
                "400": bad_form,
                "403": { "description": "The form's token is not the session's (the page expired), or the caller's roles refuse it.", "content": {
                    "text/plain": { "schema": { "type": "string" } },
                    "application/json; charset=utf-8": { "schema": { "$ref": "#/components/schemas/ApiError" } },
                } },
            },
        })),
    ]
}

/// The endpoint serving them.
pub fn endpoint(accounts: Accounts) -> impl IntoEndpoint {
    Route::new()
        .at("/login", daas_plugin_api::poem::get(login_page).post(login))
        .at("/logout", daas_plugin_api::poem::post(logout))
        .data(accounts)
        .data(Arc::new(FormSigner::default()))
}

/// How long a login form may stay open.
const FORM_SECONDS: i64 = 3600;

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

fn page(status: StatusCode, next: &str, message: &str, secure: bool, signer: &FormSigner) -> Response {
    let csrf = signer.issue(FORM_SECONDS);
    let error = if message.is_empty() { String::new() } else { format!("<p role=\"alert\">{}</p>", http::escape(message)) };
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>daas: log in</title></head><body>\
         <h1>Log in</h1>{error}<form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label>User <input name=\"username\" autocomplete=\"username\" required></label>\
         <label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
         <label>One-time code (if you set one up) <input name=\"otp\" inputmode=\"numeric\" autocomplete=\"one-time-code\"></label>\
         <button type=\"submit\">Log in</button></form></body></html>",
        next = http::escape(next),
    );
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header("set-cookie", http::set_cookie(LOGIN_CSRF_COOKIE, &csrf, "/login", FORM_SECONDS, "Strict", secure))
        .header("cache-control", "no-store")
        .body(html)
}

#[handler]
fn login_page(Query(q): Query<Next>, accounts: Data<&Accounts>, signer: Data<&Arc<FormSigner>>) -> Response {
    page(StatusCode::OK, http::safe_next(q.next.as_deref()), "", accounts.policy.secure_cookies, &signer)
}

/// Whether the browser says that this post comes from another site: `Sec-Fetch-Site`
/// other than `same-origin` (or `none`, the user's own navigation), or an `Origin`
/// whose host is not the one the request was sent to. Clients that send neither (not a
/// browser, or a very old one) rely on the signed form token alone.
fn cross_site(req: &Request) -> bool {
    if req.header("sec-fetch-site").is_some_and(|site| !matches!(site, "same-origin" | "none")) {
        return true;
    }
    match req.header("origin") {
        None => false,
        Some(origin) => {
            let host = req.header("host").unwrap_or_default();
            origin.split_once("://").is_none_or(|(_, origin_host)| !origin_host.eq_ignore_ascii_case(host))
        }
    }
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    csrf: String,
    next: Option<String>,
    otp: Option<String>,
}

#[handler]
async fn login(req: &Request, Form(form): Form<LoginForm>, accounts: Data<&Accounts>, signer: Data<&Arc<FormSigner>>) -> Response {
    let secure = accounts.policy.secure_cookies;
    let page = |status, next: &str, message: &str| page(status, next, message, secure, &signer);
    let next = http::safe_next(form.next.as_deref()).to_string();
    let cookie = req.header("cookie").and_then(|c| http::cookie(c, LOGIN_CSRF_COOKIE)).unwrap_or_default();
    if cross_site(req) || !signer.valid(cookie) || !tokens::same(cookie, &form.csrf) {
        return page(StatusCode::FORBIDDEN, &next, "The form expired or came from another site; please log in again.");
    }
    let addr = req.remote_addr().as_socket_addr().map(|a| a.ip());
    let retry_after = |mut r: Response, secs: u64| {
        r.headers_mut().insert("retry-after", secs.to_string().parse().expect("digits are a valid header value"));
        r
    };
    let user = match accounts.login(&form.username, &form.password, form.otp.as_deref(), addr).await {
        Ok(u) => u,
        Err(e @ (LoginError::Wrong | LoginError::OtpRequired)) => return page(StatusCode::UNAUTHORIZED, &next, &e.to_string()),
        Err(e @ LoginError::Throttled(secs)) => return retry_after(page(StatusCode::TOO_MANY_REQUESTS, &next, &e.to_string()), secs),
        Err(e @ LoginError::Busy) => {
            return retry_after(page(StatusCode::SERVICE_UNAVAILABLE, &next, &e.to_string()), hashing::BUSY_RETRY_SECONDS)
        }
        Err(LoginError::Store(e)) => {
            tracing::error!(error = %e, "login: the user store failed");
            return page(StatusCode::SERVICE_UNAVAILABLE, &next, "The user store does not answer; try again shortly.");
        }
    };
    match accounts.open_session(&user, accounts.policy.session_ttl).await {
        Ok(s) => Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header("location", next)
            .header(
                "set-cookie",
                http::set_cookie(layer::SESSION_COOKIE, &s.token, "/", accounts.policy.session_ttl.num_seconds(), "Lax", secure),
            )
            .header("cache-control", "no-store")
            .finish(),
        Err(e) => {
            tracing::error!(error = %e, "login: opening the session failed");
            page(StatusCode::SERVICE_UNAVAILABLE, &next, "The session could not be opened; try again shortly.")
        }
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: String,
}

#[handler]
async fn logout(req: &Request, Form(form): Form<LogoutForm>, attributes: Data<&Attributes>, accounts: Data<&Accounts>) -> Response {
    let expected = attributes.get(layer::ATTR_CSRF).unwrap_or_default();
    if expected.is_empty() || !tokens::same(expected, &form.csrf) {
        return Response::builder()
            .status(StatusCode::FORBIDDEN)
            .content_type("text/plain; charset=utf-8")
            .body("The logout form expired; reload the page.");
    }
    if let Some(token) = req.header("cookie").and_then(|c| http::cookie(c, layer::SESSION_COOKIE)) {
        if let Err(e) = accounts.close_session(token).await {
            tracing::error!(error = %e, "logout: closing the session failed");
        }
    }
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("location", "/login")
        .header("set-cookie", http::set_cookie(layer::SESSION_COOKIE, "", "/", 0, "Lax", accounts.policy.secure_cookies))
        .finish()
}
