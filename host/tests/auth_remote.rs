//! Remote authentication against a simulator of the original's OAuth2 service, written
//! from seed 000 (`DaasRemoteAuthenticator`): `POST /oauth2/user/token` (form, password
//! grant) issues short-lived service tokens, `GET /oauth2/user/session` answers who a
//! user token belongs to, `POST /permissions_info` (with a valid service token) answers
//! whether a user may call a function. The simulator counts its calls, so the test sees
//! the plugin's caching and token refresh.

mod common;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use common::*;
use poem::{
    handler,
    http::StatusCode,
    listener::{Acceptor, TcpAcceptor},
    post,
    web::{Data, Form, Json},
    EndpointExt, IntoResponse, Request, Response, Route,
};
use serde_json::{json, Value};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// Service tokens live this long (seconds).
const SERVICE_TOKEN_LIFE: u64 = 4;

#[derive(Default)]
struct Sim {
    token_calls: AtomicUsize,
    session_calls: AtomicUsize,
    permission_calls: AtomicUsize,
    /// Issued service tokens and when they expire.
    service_tokens: Mutex<HashMap<String, Instant>>,
    /// Makes every issued service token invalid (as a service restart would).
    revoke_all: AtomicBool,
}

fn bearer(req: &Request) -> String {
    req.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default().to_string()
}

#[handler]
fn issue_token(Form(form): Form<HashMap<String, String>>, sim: Data<&Arc<Sim>>) -> Response {
    let n = sim.token_calls.fetch_add(1, Ordering::SeqCst);
    let ok = form.get("username").map(String::as_str) == Some("svc")
        && form.get("password").map(String::as_str) == Some("pw")
        && form.get("client_id").map(String::as_str) == Some("daas")
        && form.get("grant_type").map(String::as_str) == Some("password");
    if !ok {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_grant"}))).into_response();
    }
    let t = format!("svc-{n}");
    sim.revoke_all.store(false, Ordering::SeqCst);
    sim.service_tokens.lock().unwrap().insert(t.clone(), Instant::now() + Duration::from_secs(SERVICE_TOKEN_LIFE));
    Json(json!({"access_token": t, "token_type": "bearer", "expires_in": SERVICE_TOKEN_LIFE})).into_response()
}

#[handler]
fn session(req: &Request, sim: Data<&Arc<Sim>>) -> Response {
    sim.session_calls.fetch_add(1, Ordering::SeqCst);
    match bearer(req).as_str() {
        "user-ann" => Json(json!({"user_id": 42, "name": "ann", "scopes": ["user"]})).into_response(),
        "user-root" => Json(json!({"user_id": 1, "name": "root", "admin": true})).into_response(),
        _ => (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_token"}))).into_response(),
    }
}

#[handler]
fn permissions(req: &Request, Json(body): Json<Value>, sim: Data<&Arc<Sim>>) -> Response {
    sim.permission_calls.fetch_add(1, Ordering::SeqCst);
    let valid = !sim.revoke_all.load(Ordering::SeqCst)
        && sim.service_tokens.lock().unwrap().get(&bearer(req)).is_some_and(|until| *until > Instant::now());
    if !valid {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_token"}))).into_response();
    }
    let (user, function) = (body["token"].as_str().unwrap_or_default(), body["function_name"].as_str().unwrap_or_default());
    let allow = user == "user-root" || (user == "user-ann" && function == "db_list_objects");
    Json(json!({"result": if allow { "allow" } else { "deny" }, "user": {"id": 42, "name": "ann"}})).into_response()
}

/// Start the simulator on a loopback port of its own; it stops with the test process.
fn simulator() -> (Arc<Sim>, String) {
    let sim = Arc::new(Sim::default());
    let (tx, rx) = std::sync::mpsc::channel();
    let app_sim = sim.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
            let addr = acceptor.local_addr()[0].as_socket_addr().cloned().unwrap();
            tx.send(format!("http://{addr}")).unwrap();
            let app = Route::new()
                .at("/oauth2/user/token", post(issue_token))
                .at("/oauth2/user/session", poem::get(session))
                .at("/permissions_info", post(permissions))
                .data(app_sim);
            poem::Server::new_with_acceptor(acceptor).run(app).await.unwrap();
        });
    });
    (sim, rx.recv_timeout(Duration::from_secs(10)).unwrap())
}

fn site(url: &str) -> TempSite {
    TempSite::new(&[
        (
            "extensions.toml",
            "[extensions]\nlayers = [\"auth\"]\n\n[[extensions.plugin]]\nname = \"db\"\n\n[[extensions.plugin]]\nname = \"auth\"\n\n[[extensions.plugin]]\nname = \"testbackend\"\n",
        ),
        ("db.toml", &format!("[db]\ndb_type = \"sqlite\"\ndata_path = \"data\"\nsecret_key = \"{KEY}\"\n")),
        (
            "auth.toml",
            &format!(
                "[remote]\nurl = \"{url}/\"\nclientid = \"daas\"\nscope = \"api\"\nusername = \"svc\"\npassword = \"pw\"\nverify_endpoints = true\nremote_verification = true\ncache_seconds = 1\n"
            ),
        ),
    ])
}

#[test]
fn remote_users_are_verified_cached_and_endpoints_checked_with_a_refreshed_service_token() {
    let (sim, url) = simulator();
    let site = site(&url);
    let server = Server::start(site.path());
    let http = client();
    let get = |path: &str, token: &str| {
        let r = http.get(server.url(path)).bearer_auth(token).send().unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().unwrap_or(Value::Null))
    };
    let calls =
        || (sim.token_calls.load(Ordering::SeqCst), sim.session_calls.load(Ordering::SeqCst), sim.permission_calls.load(Ordering::SeqCst));

    // A token the service knows: identified, and the route allowed remotely.
    let (status, me) = get("/api/v1/auth/me", "user-ann");
    assert_eq!(status, 403, "the service allows ann only db_list_objects: {me}");
    let (status, page) = get("/api/v1/db/objects", "user-ann");
    assert_eq!(status, 200, "{page}");
    assert_eq!(calls(), (1, 1, 2), "one service login, one user check (cached), two permission checks");
    // Cached: no new calls within cache_seconds.
    assert_eq!(get("/api/v1/db/objects", "user-ann").0, 200);
    assert_eq!(calls(), (1, 1, 2));
    // Denied routes say which privilege.
    let (status, body) = get("/api/v1/db/files", "user-ann");
    assert_eq!(status, 403);
    assert!(body["message"].as_str().unwrap().contains("db_list_files"), "{body}");
    // An administrator of the service is an administrator here.
    let (status, me) = get("/api/v1/auth/me", "user-root");
    assert_eq!((status, me["admin"].as_bool(), me["via"].as_str()), (200, Some(true), Some("remote")), "{me}");
    // Unknown tokens are refused.
    assert_eq!(get("/api/v1/db/objects", "made-up").0, 401);

    // After the caches and the service token expire, the plugin asks again and logs in
    // again.
    std::thread::sleep(Duration::from_millis(SERVICE_TOKEN_LIFE * 1000 + 200));
    let before = calls();
    assert_eq!(get("/api/v1/db/objects", "user-ann").0, 200);
    let after = calls();
    assert_eq!((after.0 - before.0, after.1 - before.1, after.2 - before.2), (1, 1, 1), "{before:?} -> {after:?}");

    // A service token the service stopped accepting is replaced once, transparently.
    sim.revoke_all.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(1100));
    let before = calls();
    assert_eq!(get("/api/v1/db/objects", "user-ann").0, 200);
    let after = calls();
    assert_eq!(after.0 - before.0, 1, "a new service token: {before:?} -> {after:?}");
    assert_eq!(after.2 - before.2, 2, "the refused check and its retry: {before:?} -> {after:?}");
}

#[test]
fn an_unreachable_service_is_a_503_not_a_hang_or_a_pass() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let site = site(&format!("http://127.0.0.1:{port}"));
    let server = Server::start(site.path());
    let r = client().get(server.url("/api/v1/db/objects")).bearer_auth("user-ann").send().unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(client().get(server.url("/healthz")).send().unwrap().status().as_u16(), 200, "public routes still work");
}
