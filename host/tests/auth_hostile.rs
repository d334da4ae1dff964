//! The auth plugin against an attacker, through the real host: guesses sent all at once,
//! floods of logins, lock-outs that must not lock anyone else out, sessions that must
//! stay ended, redirects off the site, and forged login forms.

mod common;

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, Barrier},
};

use common::*;
use reqwest::{blocking::Client, StatusCode};
use serde_json::{json, Value};

/// A client that sends from `source` (any 127.x.y.z address reaches the server).
fn from(source: [u8; 4]) -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::V4(Ipv4Addr::from(source)))
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

/// `POST /api/v1/auth/token` from `source`: the status and its `Retry-After`.
fn guess(client: &Client, server: &Server, user: &str, password: &str) -> (StatusCode, Option<u64>) {
    let r = client.post(server.url("/api/v1/auth/token")).json(&json!({"username": user, "password": password})).send().unwrap();
    let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().unwrap());
    (r.status(), retry)
}

/// `n` guesses sent at once (each on its own connection, released together).
fn at_once(server: &Server, n: usize, user: &str, password: impl Fn(usize) -> String) -> Vec<StatusCode> {
    let barrier = Arc::new(Barrier::new(n));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, password) = (barrier.clone(), password(i));
                s.spawn(move || {
                    let client = from([127, 0, 0, 1]);
                    barrier.wait();
                    guess(&client, server, user, &password).0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

fn failed_logins(admin: &As, name: &str) -> i64 {
    let (_, users) = admin.get("/api/v1/auth/users");
    users.as_array().unwrap().iter().find(|u| u["name"] == name).unwrap()["failed_logins"].as_i64().unwrap()
}

#[test]
fn guesses_sent_at_once_are_held_to_the_same_limit_as_guesses_sent_one_by_one() {
    let site = auth_site("[local]\nlockout_attempts = 5\n");
    let server = Server::start(site.path());
    let admin = login(&server, "admin", "s3cret!");
    let (status, _) = admin.post("/api/v1/auth/users", json!({"name": "ann", "password": "ann-secret"}));
    assert_eq!(status, StatusCode::CREATED);

    // 199 wrong passwords at once, and the right one among them: five are checked, the
    // others wait. The right one gets in only if it is one of those five (released
    // together, any of them may arrive first): exactly what five guesses one by one
    // would give, never a sixth check.
    let statuses = at_once(&server, 200, "ann", |i| if i == 199 { "ann-secret".into() } else { format!("guess-{i}") });
    let (ok, wrong) = (count(&statuses, StatusCode::OK), count(&statuses, StatusCode::UNAUTHORIZED));
    assert!(ok + wrong <= 5, "at most five were checked: {statuses:?}");
    assert_eq!(ok + wrong + count(&statuses, StatusCode::TOO_MANY_REQUESTS), 200, "every other one waits: {statuses:?}");
    let checked = wrong as i64;
    // Every failure was counted, none overwritten by a concurrent one (a success in the
    // batch may have reset the count).
    if ok == 0 {
        assert_eq!(failed_logins(&admin, "ann"), checked);
    } else {
        assert!(failed_logins(&admin, "ann") <= checked);
    }
    // After them, the source waits, even with the right password.
    let (status, retry) = guess(&from([127, 0, 0, 1]), &server, "ann", "ann-secret");
    if checked == 5 {
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(retry.is_some_and(|s| (1..=2).contains(&s)), "{retry:?}");
    }
}

#[test]
fn the_throttle_holds_back_the_source_never_the_account_and_names_known_or_not_alike() {
    let site = auth_site("[local]\nlockout_attempts = 3\nlockout_minutes = 10\n");
    let server = Server::start(site.path());
    let attacker = from([127, 0, 0, 1]);
    let mut answers = Vec::new();
    for name in ["admin", "nobody-at-all"] {
        let tries: Vec<_> = (0..5).map(|_| guess(&attacker, &server, name, "guess")).collect();
        answers.push(tries.iter().map(|(s, _)| *s).collect::<Vec<_>>());
        assert!(tries[3].1.is_some(), "429 says how long to wait");
    }
    let expected = [vec![StatusCode::UNAUTHORIZED; 3], vec![StatusCode::TOO_MANY_REQUESTS; 2]].concat();
    assert_eq!(answers, [expected.clone(), expected], "an unknown name is answered exactly as a real one");

    // The administrator, from another address, is not locked out.
    let (status, _) = guess(&from([127, 0, 0, 2]), &server, "admin", "s3cret!");
    assert_eq!(status, StatusCode::OK, "another source logs in as usual");
    // Nor from the attacker's address under another name.
    assert_eq!(guess(&attacker, &server, "root", "guess").0, StatusCode::UNAUTHORIZED);
}

#[test]
fn wrong_one_time_codes_count_like_wrong_passwords() {
    let site = auth_site("[local]\nlockout_attempts = 3\n");
    let server = Server::start(site.path());
    let admin = login(&server, "admin", "s3cret!");
    let (_, setup) = admin.post("/api/v1/auth/totp", json!({}));
    let secret = setup["secret"].as_str().unwrap().to_string();
    let code = || totp_code(&secret, "admin");
    assert_eq!(admin.post("/api/v1/auth/totp", json!({"code": code()})).0, StatusCode::OK);
    let wrong = if code() == "123456" { "654321" } else { "123456" };
    let client = from([127, 0, 0, 1]);
    let with_code = |otp: &str| {
        client
            .post(server.url("/api/v1/auth/token"))
            .json(&json!({"username": "admin", "password": "s3cret!", "otp": otp}))
            .send()
            .unwrap()
            .status()
    };
    let statuses: Vec<_> = (0..4).map(|_| with_code(wrong)).collect();
    assert_eq!(statuses, [StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS]);
    assert_eq!(with_code(&code()), StatusCode::TOO_MANY_REQUESTS, "the right code waits too");
    assert_eq!(failed_logins(&admin, "admin"), 3);
}

#[test]
fn a_flood_of_logins_is_refused_with_retry_after_and_other_routes_keep_answering() {
    // One hashing thread with room for two: a flood of logins for made-up names (each
    // name once, so the throttle does not stop them) must be refused early, not queued.
    let site = auth_site("[local]\npassword_workers = 1\npassword_queue = 2\n");
    let server = Server::start(site.path());
    let admin = login(&server, "admin", "s3cret!");
    let n = 100;
    let barrier = Arc::new(Barrier::new(n + 1));
    let (statuses, during) = std::thread::scope(|s| {
        let flood: Vec<_> = (0..n)
            .map(|i| {
                let barrier = barrier.clone();
                let server = &server;
                s.spawn(move || {
                    let client = from([127, 0, 0, 1]);
                    barrier.wait();
                    client
                        .post(server.url("/api/v1/auth/token"))
                        .json(&json!({"username": format!("made-up-{i}"), "password": "x"}))
                        .send()
                        .map(|r| (r.status(), r.headers().get("retry-after").is_some()))
                        .unwrap()
                })
            })
            .collect();
        barrier.wait();
        // An authenticated route and the readiness probe during the flood.
        let during: Vec<StatusCode> = (0..10).flat_map(|_| [admin.get("/api/v1/auth/me").0, admin.get("/readyz").0]).collect();
        (flood.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>(), during)
    });
    let busy: Vec<_> = statuses.iter().filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE).collect();
    assert!(!busy.is_empty(), "a full queue refuses: {statuses:?}");
    assert!(busy.iter().all(|(_, retry)| *retry), "every refusal says when to come back");
    assert!(
        statuses.iter().all(|(s, _)| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::SERVICE_UNAVAILABLE),
        "no other answer (no 500): {statuses:?}"
    );
    assert!(during.iter().all(|s| *s == StatusCode::OK), "other routes answer during the flood: {during:?}");
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[test]
fn disabling_a_user_or_changing_the_password_ends_every_session_for_good() {
    let site = auth_site("");
    let server = Server::start(site.path());
    let admin = login(&server, "admin", "s3cret!");
    for change in [json!({"disabled": true}), json!({"password": "ann-other"})] {
        let (_, ann) = admin.post("/api/v1/auth/users", json!({"name": "ann", "password": "ann-secret"}));
        let ann_id = id(&ann);
        let bearer = login(&server, "ann", "ann-secret");
        let (_, at) = bearer.post("/api/v1/auth/access-tokens", json!({"description": "ci"}));
        let access = at["token"].as_str().unwrap().to_string();
        let (cookie, _) = browser_login(&server, "ann", "ann-secret");
        let c = http();
        let works = || {
            [
                c.get(server.url("/api/v1/auth/me")).bearer_auth(&bearer.bearer).send().unwrap().status(),
                c.get(server.url("/api/v1/auth/me")).bearer_auth(&access).send().unwrap().status(),
                c.get(server.url("/api/v1/auth/me")).header("cookie", format!("daas_session={cookie}")).send().unwrap().status(),
            ]
        };
        assert_eq!(works(), [StatusCode::OK; 3]);
        assert_eq!(admin.patch(&format!("/api/v1/auth/users/{ann_id}"), change.clone()).0, StatusCode::OK);
        assert_eq!(works(), [StatusCode::UNAUTHORIZED; 3], "after {change}");
        // Enabled again with the old password: nothing that was open comes back.
        let (status, _) = admin.patch(&format!("/api/v1/auth/users/{ann_id}"), json!({"disabled": false, "password": "ann-secret"}));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(works(), [StatusCode::UNAUTHORIZED; 3], "after {change} and back");
        assert_eq!(guess(&http(), &server, "ann", "ann-secret").0, StatusCode::OK, "a new login works");
        assert_eq!(admin.delete(&format!("/api/v1/auth/users/{ann_id}")).0, StatusCode::NO_CONTENT);
    }
}

/// A fresh login form: the CSRF cookie's value (also the form's token).
fn login_form(server: &Server) -> String {
    let page = http().get(server.url("/login")).send().unwrap();
    cookie_value(&page, "daas_login_csrf").unwrap()
}

#[test]
fn after_a_login_the_browser_goes_only_to_a_path_of_this_site() {
    let site = auth_site("");
    let server = Server::start(site.path());
    let csrf = login_form(&server);
    for next in
        ["/\t/evil.example", "/\n/evil.example", "/\r//evil.example", "/\0x", "/\x0b/evil.example", "/\x7f/evil.example", "/ /evil.example"]
    {
        let r = http()
            .post(server.url("/login"))
            .header("cookie", format!("daas_login_csrf={csrf}"))
            .form(&[("username", "admin"), ("password", "s3cret!"), ("csrf", &csrf), ("next", next)])
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(r.headers().get("location").map(|l| l.to_str().unwrap()), Some("/"), "{next:?}");
    }
    let page = http().get(server.url("/login?next=%2F%09%2Fevil.example")).send().unwrap().text().unwrap();
    assert!(page.contains("name=\"next\" value=\"/\""), "{page}");
}

#[test]
fn a_login_form_that_this_server_did_not_issue_or_that_another_site_posts_is_refused() {
    let site = auth_site("");
    let server = Server::start(site.path());
    let post = |cookie: &str, field: &str, headers: &[(&str, &str)]| {
        let mut r = http().post(server.url("/login")).header("cookie", format!("daas_login_csrf={cookie}")).form(&[
            ("username", "admin"),
            ("password", "s3cret!"),
            ("csrf", field),
        ]);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send().unwrap().status()
    };
    // A made-up value planted as the cookie and sent as the field.
    assert_eq!(post("planted-by-someone", "planted-by-someone", &[]), StatusCode::FORBIDDEN);
    let csrf = login_form(&server);
    // The browser says the form was posted from another site.
    assert_eq!(post(&csrf, &csrf, &[("sec-fetch-site", "cross-site")]), StatusCode::FORBIDDEN);
    assert_eq!(post(&csrf, &csrf, &[("origin", "http://evil.example")]), StatusCode::FORBIDDEN);
    assert_eq!(post(&csrf, &csrf, &[("origin", "null")]), StatusCode::FORBIDDEN);
    // This site's own form.
    let host = server.base.trim_start_matches("http://").to_string();
    let origin = format!("http://{host}");
    assert_eq!(post(&csrf, &csrf, &[("sec-fetch-site", "same-origin"), ("origin", &origin)]), StatusCode::SEE_OTHER);
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let site = auth_site("");
    let server = Server::start(site.path());
    let admin = login(&server, "admin", "s3cret!");
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let r = http().get(server.url("/api/v1/auth/me")).header("authorization", format!("{scheme} {}", admin.bearer)).send().unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
    }
    let r = http().delete(server.url("/api/v1/auth/token")).header("authorization", format!("bearer {}", admin.bearer)).send().unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let body: Value = http().get(server.url("/api/v1/auth/me")).bearer_auth(&admin.bearer).send().unwrap().json().unwrap();
    assert_eq!(body["code"], "unauthenticated");
}

#[test]
fn an_access_token_records_its_last_use() {
    let site = auth_site("");
    let server = Server::start(site.path());
    let admin = login(&server, "admin", "s3cret!");
    let (_, created) = admin.post("/api/v1/auth/access-tokens", json!({"description": "ci"}));
    assert!(created["access_token"]["last_used_at"].is_null(), "{created}");
    let token = created["token"].as_str().unwrap().to_string();
    assert_eq!(http().get(server.url("/api/v1/auth/me")).bearer_auth(&token).send().unwrap().status(), StatusCode::OK);
    let (_, listed) = admin.get("/api/v1/auth/access-tokens");
    let used = listed[0]["last_used_at"].as_str().unwrap_or_else(|| panic!("no last use recorded: {listed}"));
    assert!(used >= created["access_token"]["created_at"].as_str().unwrap(), "{listed}");
    assert!(listed[0]["revoked_at"].is_null());
}
