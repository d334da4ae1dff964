//! The auth bench, for `bench/auth.sh`.
//!
//! 1. **Per-request cost of the auth layer, warm.** Five servers of the same build: the
//!    plain site (`bench/site`: testbackend, no layers), the auth site
//!    (`bench/site-auth`: the auth layer, the db plugin as its user store, privileges
//!    off) and the same auth site with privileges on, each of these two with the cache
//!    of resolved callers (`[auth] cache_seconds`, the default) and without it
//!    (`cache_seconds = 0`). The same route, `GET /api/v1/testbackend/hello`, is called
//!    N times one after another on one keep-alive connection: anonymously on the plain
//!    site; with a session cookie, a bearer token and an access token on the auth site
//!    (and a bearer token without the cache); with a bearer token (a non-administrator
//!    holding a user accept entry for the route) on the privileges sites. Warm: every
//!    cache has been filled by untimed calls first (resolved callers, roles, static
//!    groups, the rule catalogue). `--rounds` rounds, the variants' order rotating;
//!    medians of the rounds' µs per request and of each round's ratio to the plain site.
//! 2. **Requests per privilege verification in each scenario of seed 000 §3.3.5**: the
//!    auth plugin's real `Guard` over the in-memory db backend that counts the calls
//!    (`MemoryDb`, as the guard's own tests); the static groups' cache warm, the user's
//!    lists not (a user's first verification). Printed:
//!    the decision, the level, the requests in the seed's terms (1 user request + 1 per
//!    non-static group read) and the db backend calls they took.
//! 3. **A login flood.** An auth server per variant: the password pool as configured by
//!    default, and one made as wide as the old unbounded hashing (64 threads, 10 000
//!    waiting). 64 concurrent clients send logins with made-up names (each name once, so
//!    the per-source throttle does not stop them: every one costs a password check) for
//!    `--flood-seconds`, while one client calls an unrelated route (`GET
//!    /api/v1/auth/me` with a bearer token) one call after another. Printed: logins
//!    checked and refused per second, the unrelated route's p50 and p99 before and
//!    during the flood, the server's resident memory before, at its peak and 3 s after.
//!
//! Prints a markdown section on stdout. Usage: `auth-bench --daas target/release/daas
//! --plain-site bench/site --auth-site bench/site-auth --data DIR [--n 3000] [--rounds 5]
//! [--flood-seconds 10]`.
//! Bounded: each server must be ready within 30 s and is killed at the end.

use std::{
    collections::HashMap,
    io::{BufRead as _, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use daas_common::{
    config::AuthSection,
    protocols::{MemoryDb, TableName},
};
use daas_plugin_auth::{guard::Guard, privileges::Level};
use serde_json::{json, Value};

const PREFIX: &str = "daas: listening on ";
const ROUTE: &str = "/api/v1/testbackend/hello";
const ADMIN: (&str, &str) = ("bench-admin", "bench-only-password");

struct Args {
    daas: PathBuf,
    plain_site: PathBuf,
    auth_site: PathBuf,
    data: PathBuf,
    n: usize,
    rounds: usize,
    flood_seconds: u64,
}

fn parse_args() -> Result<Args, String> {
    let (mut daas, mut plain, mut auth, mut data, mut n, mut rounds, mut flood_seconds) = (None, None, None, None, 3000, 5, 10);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--daas" => daas = Some(PathBuf::from(value()?)),
            "--plain-site" => plain = Some(PathBuf::from(value()?)),
            "--auth-site" => auth = Some(PathBuf::from(value()?)),
            "--data" => data = Some(PathBuf::from(value()?)),
            "--n" => n = value()?.parse().map_err(|e| format!("--n: {e}"))?,
            "--rounds" => rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--flood-seconds" => flood_seconds = value()?.parse().map_err(|e| format!("--flood-seconds: {e}"))?,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if !(1..=100_000).contains(&n) || !(1..=50).contains(&rounds) || !(1..=120).contains(&flood_seconds) {
        return Err("--n must be 1..=100000, --rounds 1..=50 and --flood-seconds 1..=120".into());
    }
    Ok(Args {
        daas: daas.ok_or("--daas is required")?,
        plain_site: plain.ok_or("--plain-site is required")?,
        auth_site: auth.ok_or("--auth-site is required")?,
        data: data.ok_or("--data is required")?,
        n,
        rounds,
        flood_seconds,
    })
}

/// A running server, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &Args, site: &PathBuf, env: &[(&str, String)]) -> Result<Server, String> {
    let mut cmd = Command::new(&args.daas);
    cmd.args(["serve", "--site"]).arg(site).args(["--listen", "127.0.0.1:0"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", args.daas.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix(PREFIX) {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    let server = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(base) => Server { child, base },
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("daas serve --site {} did not listen within 30 s", site.display()));
        }
    };
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{}/readyz", server.base)).send().map(|r| r.status().as_u16()).ok() != Some(200) {
        if Instant::now() > deadline {
            return Err(format!("{} did not become ready within 30 s", site.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(server)
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("an HTTP client")
}

fn json_call(r: reqwest::blocking::RequestBuilder, what: &str) -> Result<Value, String> {
    let resp = r.send().map_err(|e| format!("{what}: {e}"))?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        return Err(format!("{what} answered {status}: {body}"));
    }
    Ok(body)
}

/// A credential for the route: a header name and value.
type Credential = Option<(&'static str, String)>;

struct Credentials {
    cookie: Credential,
    bearer: Credential,
    access: Credential,
    /// A non-administrator's bearer token (privileges are checked for them).
    user_bearer: Credential,
}

/// Log in every way on an auth server; make a non-administrator with a user accept
/// entry for the route.
fn credentials(server: &Server) -> Result<Credentials, String> {
    let http = client();
    let url = |p: &str| format!("{}{p}", server.base);
    let token = |user: &str, password: &str| -> Result<String, String> {
        let body = json_call(
            http.post(url("/api/v1/auth/token")).json(&json!({"username": user, "password": password})),
            "POST /api/v1/auth/token",
        )?;
        Ok(body["token"].as_str().unwrap_or_default().to_string())
    };
    let admin = token(ADMIN.0, ADMIN.1)?;
    let access = json_call(
        http.post(url("/api/v1/auth/access-tokens")).bearer_auth(&admin).json(&json!({"description": "bench"})),
        "POST /api/v1/auth/access-tokens",
    )?["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The browser login: the form's double-submit token, then the session cookie.
    let page = http.get(url("/login")).send().map_err(|e| format!("GET /login: {e}"))?;
    let login_csrf = cookie(&page, "daas_login_csrf").ok_or("GET /login set no daas_login_csrf cookie")?;
    let form = [("username", ADMIN.0), ("password", ADMIN.1), ("csrf", login_csrf.as_str()), ("next", "/")];
    let resp = http
        .post(url("/login"))
        .header("cookie", format!("daas_login_csrf={login_csrf}"))
        .form(&form)
        .send()
        .map_err(|e| format!("POST /login: {e}"))?;
    let session = cookie(&resp, "daas_session").ok_or_else(|| format!("POST /login answered {} without a session", resp.status()))?;
    // A user whose privilege is checked: a user accept entry for the route.
    let user = json_call(
        http.post(url("/api/v1/auth/users")).bearer_auth(&admin).json(&json!({"name": "bench-user", "password": "bench-user-password"})),
        "POST /api/v1/auth/users",
    )?;
    let id = user["id"].as_i64().unwrap_or_default();
    json_call(
        http.post(url(&format!("/api/v1/auth/users/{id}/privileges")))
            .bearer_auth(&admin)
            .json(&json!({"privilege": "testbackend_hello", "effect": "accept"})),
        "POST /api/v1/auth/users/{id}/privileges",
    )?;
    let user_token = token("bench-user", "bench-user-password")?;
    Ok(Credentials {
        cookie: Some(("cookie", format!("daas_session={session}"))),
        bearer: Some(("authorization", format!("Bearer {admin}"))),
        access: Some(("authorization", format!("Bearer {access}"))),
        user_bearer: Some(("authorization", format!("Bearer {user_token}"))),
    })
}

fn cookie(resp: &reqwest::blocking::Response, name: &str) -> Option<String> {
    resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let first = v.split(';').next()?;
        let (k, value) = first.split_once('=')?;
        (k.trim() == name).then(|| value.to_string())
    })
}

/// µs per request over `n` calls one after another on one keep-alive connection.
fn measure(http: &reqwest::blocking::Client, base: &str, credential: &Credential, n: usize) -> Result<f64, String> {
    let url = format!("{base}{ROUTE}");
    let call = || {
        let mut r = http.get(&url);
        if let Some((k, v)) = credential {
            r = r.header(*k, v);
        }
        let resp = r.send().map_err(|e| format!("GET {ROUTE}: {e}"))?;
        let status = resp.status().as_u16();
        let _ = resp.bytes();
        if status != 200 {
            return Err(format!("GET {ROUTE} answered {status}"));
        }
        Ok(())
    };
    let started = Instant::now();
    for _ in 0..n {
        call()?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / n as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn layer_cost(args: &Args) -> Result<String, String> {
    std::fs::create_dir_all(&args.data).map_err(|e| format!("{}: {e}", args.data.display()))?;
    let data = |name: &str| args.data.join(name).to_string_lossy().to_string();
    let plain = serve(args, &args.plain_site, &[])?;
    let no_cache = ("DAAS__AUTH__AUTH__CACHE_SECONDS", "0");
    let privileges = ("DAAS__AUTH__AUTH__ENABLE_AUTH_ENDPOINT", "true");
    let auth_site = |name: &str, env: &[(&'static str, &str)]| {
        let mut env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.to_string())).collect();
        env.push(("DAAS__DB__DB__DATA_PATH", data(name)));
        serve(args, &args.auth_site, &env)
    };
    let auth = auth_site("auth", &[])?;
    let auth_uncached = auth_site("auth-uncached", &[no_cache])?;
    let privileged = auth_site("privileges", &[privileges])?;
    let privileged_uncached = auth_site("privileges-uncached", &[privileges, no_cache])?;
    let on_auth = credentials(&auth)?;
    let on_auth_uncached = credentials(&auth_uncached)?;
    let on_privileged = credentials(&privileged)?;
    let on_privileged_uncached = credentials(&privileged_uncached)?;
    let variants: Vec<(&str, &Server, Credential)> = vec![
        ("no auth layer (bench/site), anonymous", &plain, None),
        ("auth layer, session cookie", &auth, on_auth.cookie.clone()),
        ("auth layer, bearer token", &auth, on_auth.bearer.clone()),
        ("auth layer, access token", &auth, on_auth.access.clone()),
        ("auth layer, bearer token, no cache (`cache_seconds = 0`)", &auth_uncached, on_auth_uncached.bearer.clone()),
        ("auth layer + privileges (user accept entry), bearer token", &privileged, on_privileged.user_bearer.clone()),
        ("auth layer + privileges, bearer token, no cache", &privileged_uncached, on_privileged_uncached.user_bearer.clone()),
    ];
    let http = client();
    // Warm: connections, the plugins' caches (roles, rule catalogue, static groups).
    for (_, server, credential) in &variants {
        measure(&http, &server.base, credential, 200.min(args.n))?;
    }
    let mut us: HashMap<usize, Vec<f64>> = HashMap::new();
    let mut ratios: HashMap<usize, Vec<f64>> = HashMap::new();
    for round in 0..args.rounds {
        let mut this = vec![0.0; variants.len()];
        for k in 0..variants.len() {
            let i = (k + round) % variants.len();
            let (_, server, credential) = &variants[i];
            this[i] = measure(&http, &server.base, credential, args.n)?;
        }
        for (i, v) in this.iter().enumerate() {
            us.entry(i).or_default().push(*v);
            ratios.entry(i).or_default().push(v / this[0]);
        }
    }
    let base = median(us[&0].clone());
    let mut out = String::from("| route `GET /api/v1/testbackend/hello` | µs per request (median) | requests/s | × no auth (median of rounds) | auth layer µs |\n|---|---:|---:|---:|---:|\n");
    for (i, (name, _, _)) in variants.iter().enumerate() {
        let m = median(us[&i].clone());
        let r = median(ratios[&i].clone());
        let extra = if i == 0 { "—".to_string() } else { format!("{:+.0}", m - base) };
        out.push_str(&format!("| {name} | {m:.0} | {:.0} | {r:.2} | {extra} |\n", 1e6 / m));
    }
    Ok(out)
}

// ---- a login flood ------------------------------------------------------------------

/// The server's resident memory, in MiB.
fn rss_mib(server: &Server) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap_or_default();
    let kib: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0.0);
    kib / 1024.0
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or(0.0)
}

/// µs of each call to the unrelated route, one after another, until `stop`.
fn unrelated_calls(base: &str, bearer: &str, stop: impl Fn(usize) -> bool) -> Result<Vec<f64>, String> {
    let http = client();
    let mut us = Vec::new();
    while !stop(us.len()) {
        let started = Instant::now();
        let resp =
            http.get(format!("{base}/api/v1/auth/me")).bearer_auth(bearer).send().map_err(|e| format!("GET /api/v1/auth/me: {e}"))?;
        if resp.status().as_u16() != 200 {
            return Err(format!("GET /api/v1/auth/me answered {}", resp.status()));
        }
        let _ = resp.bytes();
        us.push(started.elapsed().as_secs_f64() * 1e6);
    }
    Ok(us)
}

/// Logins for made-up names from `clients` concurrent clients until `until`: (checked
/// (401), refused busy (503), other answers).
async fn flood(base: String, clients: usize, until: Instant) -> (u64, u64, u64) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("an HTTP client");
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, base, next) = (http.clone(), base.clone(), next.clone());
            tokio::spawn(async move {
                let mut counts = (0u64, 0u64, 0u64);
                while Instant::now() < until {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let body = json!({"username": format!("flood-{i}"), "password": "x"});
                    match http.post(format!("{base}/api/v1/auth/token")).json(&body).send().await.map(|r| r.status().as_u16()) {
                        Ok(401) => counts.0 += 1,
                        Ok(503) => counts.1 += 1,
                        _ => counts.2 += 1,
                    }
                }
                counts
            })
        })
        .collect();
    let mut total = (0, 0, 0);
    for t in tasks {
        if let Ok((a, b, c)) = t.await {
            total = (total.0 + a, total.1 + b, total.2 + c);
        }
    }
    total
}

fn login_flood(args: &Args, rt: &tokio::runtime::Runtime) -> Result<String, String> {
    let variants: [(&str, &[(&str, &str)]); 2] = [
        ("bounded: the defaults (half the CPUs, 8 waiting per thread)", &[]),
        (
            "as wide as the old unbounded hashing (64 threads, 10 000 waiting)",
            &[("DAAS__AUTH__LOCAL__PASSWORD_WORKERS", "64"), ("DAAS__AUTH__LOCAL__PASSWORD_QUEUE", "10000")],
        ),
    ];
    let mut out = String::from(
        "| password pool | logins checked/s | refused (503)/s | other answers | `GET /me` p50 / p99 ms, quiet | during the flood | RSS MiB before | peak | 3 s after |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (i, (name, env)) in variants.iter().enumerate() {
        let mut env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.to_string())).collect();
        env.push(("DAAS__DB__DB__DATA_PATH", args.data.join(format!("flood-{i}")).to_string_lossy().to_string()));
        let server = serve(args, &args.auth_site, &env)?;
        let bearer = json_call(
            client().post(format!("{}/api/v1/auth/token", server.base)).json(&json!({"username": ADMIN.0, "password": ADMIN.1})),
            "POST /api/v1/auth/token",
        )?["token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let quiet = unrelated_calls(&server.base, &bearer, |n| n >= 500)?;
        let before = rss_mib(&server);
        let seconds = args.flood_seconds;
        let until = Instant::now() + Duration::from_secs(seconds);
        let (flooded, during, peak) = std::thread::scope(|s| {
            let measured = s.spawn(|| unrelated_calls(&server.base, &bearer, |_| Instant::now() >= until));
            let sampled = s.spawn(|| {
                let mut peak = 0.0f64;
                while Instant::now() < until {
                    peak = peak.max(rss_mib(&server));
                    std::thread::sleep(Duration::from_millis(50));
                }
                peak
            });
            let flooded = rt.block_on(flood(server.base.clone(), 64, until));
            (flooded, measured.join().unwrap_or_else(|_| Err("the measuring thread panicked".into())), sampled.join().unwrap_or(0.0))
        });
        let during = during?;
        std::thread::sleep(Duration::from_secs(3));
        let after = rss_mib(&server);
        let ms = |v: &Vec<f64>, p| percentile(v.clone(), p) / 1000.0;
        out.push_str(&format!(
            "| {name} | {:.0} | {:.0} | {} | {:.1} / {:.1} | {:.1} / {:.1} | {before:.0} | {:.0} | {after:.0} |\n",
            flooded.0 as f64 / seconds as f64,
            flooded.1 as f64 / seconds as f64,
            flooded.2,
            ms(&quiet, 0.5),
            ms(&quiet, 0.99),
            ms(&during, 0.5),
            ms(&during, 0.99),
            peak.max(after),
        ));
    }
    Ok(out)
}

// ---- the seed's scenarios -----------------------------------------------------------

/// One scenario of seed 000 §3.3.5: the user's lists, the static groups' and the
/// non-static groups' (each `(accept?, deny?)` for the verified privilege, or `other`:
/// lists about other privileges).
struct Scenario {
    name: &'static str,
    user: Lists,
    statics: Vec<Lists>,
    groups: Vec<Lists>,
}

#[derive(Clone, Copy)]
enum Lists {
    Accept,
    Deny,
    Other,
    Empty,
}

const P: &str = "testbackend_hello";

fn scenarios() -> Vec<Scenario> {
    use Lists::*;
    let s = |name, user, statics: &[Lists], groups: &[Lists]| Scenario { name, user, statics: statics.to_vec(), groups: groups.to_vec() };
    vec![
        s("best 1: user accepted by a user privilege", Accept, &[Other], &[Empty, Other]),
        s("best 2: user accept over groups' deny", Accept, &[Deny], &[Deny]),
        s("best 3: user deny over groups' accept", Deny, &[Accept], &[Accept]),
        s("best 4: denied by a static group", Other, &[Deny], &[Accept]),
        s("worst 1: accepted by a non-static group (3 groups)", Empty, &[Other], &[Empty, Accept, Other]),
        s("worst 2: denied by a non-static group (3 groups)", Empty, &[Other], &[Other, Empty, Deny]),
        s("worst 3: non-static deny over accept (3 groups)", Empty, &[Empty], &[Accept, Other, Deny]),
        s("worst 4: static deny, 3 non-static groups never read", Empty, &[Accept, Deny], &[Accept, Accept, Accept]),
    ]
}

fn rows_of(kind: &str, id: i64, lists: Lists) -> Vec<Value> {
    let row = |privilege: &str, effect: &str| json!({"subject_kind": kind, "subject_id": id, "privilege": privilege, "effect": effect});
    match lists {
        Lists::Accept => vec![row(P, "accept")],
        Lists::Deny => vec![row(P, "deny")],
        Lists::Other => vec![row("db_get_object", "accept"), row("db_delete_object", "deny")],
        Lists::Empty => vec![],
    }
}

/// The guard over an in-memory db backend holding the scenario.
fn simulated(sc: &Scenario) -> (Guard, MemoryDb) {
    const USER: i64 = 7;
    let statics: Vec<i64> = (1..=sc.statics.len() as i64).collect();
    let groups: Vec<i64> = (100..100 + sc.groups.len() as i64).collect();
    let mut privileges = rows_of("user", USER, sc.user);
    for (id, l) in statics.iter().zip(&sc.statics) {
        privileges.extend(rows_of("group", *id, *l));
    }
    for (id, l) in groups.iter().zip(&sc.groups) {
        privileges.extend(rows_of("group", *id, *l));
    }
    let all_groups: Vec<Value> = statics
        .iter()
        .map(|id| json!({"id": id, "is_static": true}))
        .chain(groups.iter().map(|id| json!({"id": id, "is_static": false})))
        .collect();
    let memberships: Vec<Value> = statics.iter().chain(&groups).map(|g| json!({"id_group": g, "id_user": USER})).collect();
    let db = MemoryDb::new()
        .with(TableName::Groups, all_groups)
        .with(TableName::GroupMemberships, memberships)
        .with(TableName::Privileges, privileges);
    let config = AuthSection { enable_auth_endpoint: true, static_groups_ttl_seconds: 3600, ..Default::default() };
    (Guard::new(db.client(), &config), db)
}

async fn seed_scenarios() -> Result<String, String> {
    let mut out = String::from(
        "| seed 000 §3.3.5 scenario | decision | level | requests (seed's terms) | db backend calls |\n|---|---|---|---:|---:|\n",
    );
    for sc in scenarios() {
        let (guard, db) = simulated(&sc);
        guard.static_groups().await.map_err(|e| e.to_string())?; // warm
        db.take_calls();
        let d = guard.verify(P, 7).await.map_err(|e| e.to_string())?;
        let db_calls = db.take_calls();
        let decision = if d.allowed { "allowed" } else { "denied" };
        let level = if d.level == Level::NoRule { "none".to_string() } else { d.level.to_string() };
        out.push_str(&format!("| {} | {decision} | {level} | {} | {db_calls} |\n", sc.name, d.requests));
    }
    Ok(out)
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("auth-bench: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let result = layer_cost(&args).and_then(|layer| Ok((layer, rt.block_on(seed_scenarios())?, login_flood(&args, &rt)?)));
    match result {
        Ok((layer, seed, flood)) => {
            println!("{layer}\n{seed}\n{flood}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("auth-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
