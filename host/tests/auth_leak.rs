//! The leak test: a site seeded with secrets (the administrator's and a user's
//! passwords, VNC and OS passwords of objects made through the API and imported, a
//! remote-desktop connection's password, the TOTP secret, bearer-session, browser-session
//! and access-token secrets, the database's secret key) answers a broad run of requests —
//! every GET of the merged document as the administrator and as a user, logins good and
//! bad (API and browser, with and without the second factor), token creation, listings —
//! and no secret appears in any response body or header, nor in a line the server writes
//! (stdout and its log at debug level), nor in `daas export` / `daas db status` output.
//!
//! The only exceptions are the answers that must carry a secret, each identified
//! precisely: the body of the `POST /api/v1/auth/token` that made a bearer token, of the
//! `POST /api/v1/auth/access-tokens` that made an access token, of the
//! `POST /api/v1/auth/totp` that made the TOTP secret, and the `Set-Cookie` header of the
//! `POST /login` that made the browser session. Each secret must be found there exactly
//! once, so that the test also proves it recognises a secret where one is.

mod common;

use std::{fmt::Write as _, path::Path};

use common::*;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{json, Value};

/// base64 of 32 bytes: only this test's site uses it.
const KEY: &str = "TGVha1Rlc3RLZXktMDEyMzQ1Njc4OWFiY2RlZmdoaWo=";
const ADMIN_PW: &str = "adminpw-Zq81x";
const ANN_PW: &str = "annpw-Hx47q";
const OS_PW: &str = "ospw-Kd29w";
const VNC_PW: &str = "vncpw-Lm53e";
const IMPORTED_OS: &str = "importos-Tr61r";
const IMPORTED_VNC: &str = "importvnc-Pw72t";
const GUAC_PW: &str = "guacpw-Bn38y";

/// Rows written before the server starts: shared objects with secrets, a connection
/// with its password and the instance using it.
const IMPORT: &str = r#"
daas_objects:
  - {id: leak-obj, id_owner: 0, object_type: vm, vnc_password: importvnc-Pw72t, os_password: importos-Tr61r}
environments:
  - {id: leak-env, id_object: leak-obj, name: office}
guacamole_connections:
  - {id: leak-con, user: u, password: guacpw-Bn38y, protocol: vnc, hostname: 127.0.0.1, port: 5901}
instances:
  - {id: leak-inst, id_owner: 0, id_app: leak-obj, id_env: leak-env, id_con: leak-con, host: 127.0.0.1}
"#;

/// Where a secret may be seen: nowhere, or in exactly one answer.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Carrier {
    Nowhere,
    /// The body of the answer with this index in the record.
    Body(usize),
    /// The `Set-Cookie` header of the answer with this index.
    SetCookie(usize),
}

struct Secret {
    name: String,
    value: String,
    carrier: Carrier,
}

struct Answer {
    what: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

struct Run<'a> {
    server: &'a Server,
    http: Client,
    answers: Vec<Answer>,
    secrets: Vec<Secret>,
}

impl Run<'_> {
    /// Send and record; the answer's index and its body as JSON (or null).
    fn send(&mut self, what: String, r: RequestBuilder) -> (usize, u16, Value) {
        let resp = r.send().unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = resp.status().as_u16();
        let headers =
            resp.headers().iter().map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).to_string())).collect();
        let body = resp.text().unwrap_or_default();
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        self.answers.push(Answer { what, status, headers, body });
        (self.answers.len() - 1, status, json)
    }

    fn call(&mut self, method: &str, path: &str, bearer: Option<&str>, body: Option<Value>) -> (usize, u16, Value) {
        let mut r = self.http.request(method.parse().unwrap(), self.server.url(path));
        if let Some(t) = bearer {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        self.send(format!("{method} {path}"), r)
    }

    fn secret(&mut self, name: &str, value: &str, carrier: Carrier) {
        assert!(value.len() >= 8, "{name} is too short to search for: `{value}`");
        self.secrets.push(Secret { name: name.into(), value: value.into(), carrier });
    }

    /// `POST /api/v1/auth/token`; the bearer token, recorded as carried by that answer.
    fn token(&mut self, name: &str, user: &str, password: &str, otp: Option<String>) -> String {
        let (i, status, body) = self.call(
            "POST",
            "/api/v1/auth/token",
            None,
            Some(match otp {
                Some(otp) => json!({"username": user, "password": password, "otp": otp}),
                None => json!({"username": user, "password": password}),
            }),
        );
        assert_eq!(status, 200, "login of {user}: {body}");
        let token = body["token"].as_str().unwrap().to_string();
        self.secret(name, &token, Carrier::Body(i));
        token
    }

    fn login_csrf(&mut self) -> String {
        let (i, _, _) = self.call("GET", "/login", None, None);
        let set = self.answers[i].headers.iter().find(|(k, v)| k == "set-cookie" && v.starts_with("daas_login_csrf="));
        set.and_then(|(_, v)| v.split(';').next()).and_then(|c| c.split_once('=')).map(|(_, v)| v.to_string()).unwrap()
    }

    fn browser_login(&mut self, user: &str, password: &str, otp: &str) -> (usize, u16) {
        let csrf = self.login_csrf();
        let r = self.http.post(self.server.url("/login")).header("cookie", format!("daas_login_csrf={csrf}")).form(&[
            ("username", user),
            ("password", password),
            ("otp", otp),
            ("csrf", &csrf),
            ("next", "/"),
        ]);
        let (i, status, _) = self.send("POST /login".into(), r);
        (i, status)
    }
}

/// Every GET of the merged document, path parameters filled with the run's rows.
fn every_get(run: &mut Run, doc: &Value, bearer: &str, fill: &dyn Fn(&str, &str) -> String) {
    for (path, item) in doc["paths"].as_object().unwrap() {
        if item.get("get").is_none() {
            continue;
        }
        let mut concrete = String::new();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            let part = match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) => fill(path, param),
                None => seg.to_string(),
            };
            write!(concrete, "/{part}").unwrap();
        }
        let concrete = if concrete.is_empty() { "/".into() } else { concrete };
        let query = if path.ends_with("/slow") { "?ms=1" } else { "" };
        run.call("GET", &format!("{concrete}{query}"), Some(bearer), None);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn no_seeded_secret_reaches_a_response_or_a_log_line() {
    let site = TempSite::new(&[
        (
            "extensions.toml",
            "[extensions]\nlayers = [\"auth\"]\n\n[[extensions.plugin]]\nname = \"db\"\n\n[[extensions.plugin]]\nname = \"auth\"\n\n[[extensions.plugin]]\nname = \"info\"\n\n[[extensions.plugin]]\nname = \"testbackend\"\n",
        ),
        (
            "db.toml",
            &format!("[db]\ndb_type = \"sqlite\"\ndata_path = \"data\"\nsecret_key = \"{KEY}\"\nadmin_credentials = \"admin:{ADMIN_PW}\"\n"),
        ),
    ]);
    let files = tempfile::tempdir().unwrap();
    let fixture = files.path().join("seed.yaml");
    std::fs::write(&fixture, IMPORT).unwrap();
    let (code, out, err) = run(&["import", s(&fixture), "--site", s(site.path())]);
    assert_eq!(code, 0, "{out}{err}");
    let mut cli_output = format!("{out}{err}");

    let server = Server::start_with(site.path(), &[("RUST_LOG", "debug")]);
    let http = Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(std::time::Duration::from_secs(20)).build().unwrap();
    let mut run = Run { server: &server, http, answers: Vec::new(), secrets: Vec::new() };
    for (name, value) in [
        ("the administrator's password", ADMIN_PW),
        ("ann's password", ANN_PW),
        ("an object's OS password", OS_PW),
        ("an object's VNC password", VNC_PW),
        ("an imported OS password", IMPORTED_OS),
        ("an imported VNC password", IMPORTED_VNC),
        ("a connection's password", GUAC_PW),
        ("the database's secret key", KEY),
    ] {
        run.secret(name, value, Carrier::Nowhere);
    }

    // Bad logins first: wrong password, unknown user with a real password, browser form.
    assert_eq!(run.call("POST", "/api/v1/auth/token", None, Some(json!({"username": "admin", "password": ANN_PW}))).1, 401);
    assert_eq!(run.call("POST", "/api/v1/auth/token", None, Some(json!({"username": "nobody", "password": ADMIN_PW}))).1, 401);
    assert_ne!(run.browser_login("admin", ANN_PW, "").1, 303, "a wrong password makes no session");

    let admin = run.token("the administrator's bearer token", "admin", ADMIN_PW, None);
    let (_, status, ann) = run.call("POST", "/api/v1/auth/users", Some(&admin), Some(json!({"name": "ann", "password": ANN_PW})));
    assert_eq!(status, 201, "{ann}");
    let ann_id = ann["id"].as_i64().unwrap();
    let ann = run.token("ann's first bearer token", "ann", ANN_PW, None);

    // An object with secrets, made, read and listed by its owner.
    let (_, status, object) = run.call(
        "POST",
        "/api/v1/db/objects",
        Some(&ann),
        Some(json!({"object_type": "vm", "os_password": OS_PW, "vnc_password": VNC_PW})),
    );
    assert_eq!(status, 201, "{object}");
    let object_id = object["id"].as_str().unwrap().to_string();
    run.call("PATCH", &format!("/api/v1/db/objects/{object_id}"), Some(&ann), Some(json!({"object_type": "vm", "vnc_password": VNC_PW})));

    // The second factor: set up (the secret is answered once), activated, then needed.
    let (setup, status, body) = run.call("POST", "/api/v1/auth/totp", Some(&ann), Some(json!({})));
    assert_eq!(status, 200, "{body}");
    let totp = body["secret"].as_str().unwrap().to_string();
    run.secret("ann's TOTP secret", &totp, Carrier::Body(setup));
    let (_, status, body) = run.call("POST", "/api/v1/auth/totp", Some(&ann), Some(json!({"code": totp_code(&totp, "ann")})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(run.call("POST", "/api/v1/auth/token", None, Some(json!({"username": "ann", "password": ANN_PW, "otp": "000000"}))).1, 401);
    let ann2 = run.token("ann's bearer token with a second factor", "ann", ANN_PW, Some(totp_code(&totp, "ann")));

    // An access token: answered once, then used.
    let (made, status, body) = run.call("POST", "/api/v1/auth/access-tokens", Some(&ann2), Some(json!({"description": "ci"})));
    assert_eq!(status, 201, "{body}");
    let access = body["token"].as_str().unwrap().to_string();
    let public_id = body["access_token"]["id"].as_str().unwrap().to_string();
    let secret_part = access.strip_prefix(&format!("daas_at_{public_id}_")).unwrap_or_else(|| panic!("{access}")).to_string();
    run.secret("an access token", &access, Carrier::Body(made));
    run.secret("an access token's secret part", &secret_part, Carrier::Body(made));
    assert_eq!(run.call("GET", "/api/v1/auth/me", Some(&access), None).1, 200);
    run.call("GET", "/api/v1/auth/access-tokens", Some(&access), None);

    // A browser session: the cookie is set once, then used.
    let (login, status) = run.browser_login("ann", ANN_PW, &totp_code(&totp, "ann"));
    assert_eq!(status, 303);
    let cookie = run.answers[login]
        .headers
        .iter()
        .find_map(|(k, v)| (k == "set-cookie").then(|| v.strip_prefix("daas_session=")).flatten())
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string();
    run.secret("ann's browser session", &cookie, Carrier::SetCookie(login));
    let r = run.http.get(server.url("/api/v1/db/objects")).header("cookie", format!("daas_session={cookie}"));
    assert_eq!(run.send("GET /api/v1/db/objects (cookie)".into(), r).1, 200);

    // Every GET of the document, as the administrator and as ann.
    let (_, _, doc) = run.call("GET", "/openapi.json", None, None);
    run.call("GET", "/docs", None, None);
    let fill = |path: &str, param: &str| -> String {
        match (path, param) {
            (p, "id") if p.contains("/objects/") => object_id.clone(),
            (p, "id") if p.contains("/environments/") => "leak-env".into(),
            (p, "id") if p.contains("/users/") => ann_id.to_string(),
            (_, "topic") => "leak".into(),
            _ => "1".into(),
        }
    };
    every_get(&mut run, &doc, &admin, &fill);
    every_get(&mut run, &doc, &ann2, &fill);
    assert!(run.answers.len() > 80, "a broad run: {} answers", run.answers.len());
    // Secrets stay unusable after a revocation, and revoking answers none of them.
    run.call("DELETE", &format!("/api/v1/auth/access-tokens/{public_id}"), Some(&ann2), None);
    run.call("DELETE", "/api/v1/auth/token", Some(&ann), None);

    let log = format!("{}{}", server.log(), server.stdout());
    assert!(log.contains("DEBUG"), "the server logs at debug level: {}", &log[..log.len().min(2000)]);
    let Run { answers, secrets, .. } = run;
    drop(server);

    // The command line: an export (secrets sealed) and the status.
    for args in [vec!["export", "--site", s(site.path())], vec!["db", "status", "--site", s(site.path())]] {
        let (code, out, err) = run_cli(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        write!(cli_output, "{out}{err}").unwrap();
    }

    let mut leaks = Vec::new();
    for secret in &secrets {
        let mut carried = Vec::new();
        for (i, a) in answers.iter().enumerate() {
            if a.body.contains(&secret.value) {
                carried.push((Carrier::Body(i), format!("the body of {} ({})", a.what, a.status)));
            }
            for (k, v) in &a.headers {
                if v.contains(&secret.value) || k.contains(&secret.value) {
                    let at = if k == "set-cookie" { Carrier::SetCookie(i) } else { Carrier::Nowhere };
                    carried.push((at, format!("header `{k}` of {} ({})", a.what, a.status)));
                }
            }
        }
        let allowed = |c: &Carrier| secret.carrier != Carrier::Nowhere && *c == secret.carrier;
        for (c, where_) in &carried {
            if !allowed(c) {
                leaks.push(format!("{} in {where_}", secret.name));
            }
        }
        if secret.carrier != Carrier::Nowhere && carried.iter().filter(|(c, _)| allowed(c)).count() != 1 {
            leaks.push(format!("{} was not found exactly once where it must be ({:?})", secret.name, secret.carrier));
        }
        for line in log.lines().filter(|l| l.contains(&secret.value)) {
            leaks.push(format!("{} in a server log line: {line}", secret.name));
        }
        for line in cli_output.lines().filter(|l| l.contains(&secret.value)) {
            leaks.push(format!("{} in the command line's output: {line}", secret.name));
        }
    }
    assert!(leaks.is_empty(), "{} leak(s) in {} answers:\n{}", leaks.len(), answers.len(), leaks.join("\n"));
}

/// `daas ARGS`: (exit code, stdout, stderr).
fn run_cli(args: &[&str]) -> (i32, String, String) {
    common::run(args)
}
