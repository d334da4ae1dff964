//! Test harness: start the real `daas` binary on an ephemeral loopback port against a
//! site directory, with the real plugin libraries of this build.

#![allow(dead_code)]

pub mod browser;
pub mod lifecycle;

use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// The daas binary of this build.
pub fn daas_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_daas"))
}

/// The directory the plugin libraries of this build are in (next to the binary).
pub fn library_dir() -> PathBuf {
    daas_bin().parent().unwrap().to_path_buf()
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A checked-in test site under tests/sites.
pub fn site_dir(name: &str) -> PathBuf {
    workspace().join("tests/sites").join(name)
}

/// A site written to a temporary directory.
pub struct TempSite(pub tempfile::TempDir);

impl TempSite {
    pub fn new(files: &[(&str, &str)]) -> TempSite {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        TempSite(dir)
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// The database key of the tests' sites (32 bytes, base64).
pub const TEST_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A site with the auth layer in front of the db, auth and testbackend plugins, the
/// administrator `admin` / `s3cret!`, and this `auth.toml`.
pub fn auth_site(auth_toml: &str) -> TempSite {
    TempSite::new(&[
        (
            "extensions.toml",
            "[extensions]\nlayers = [\"auth\"]\n\n[[extensions.plugin]]\nname = \"db\"\n\n[[extensions.plugin]]\nname = \"auth\"\n\n[[extensions.plugin]]\nname = \"testbackend\"\n",
        ),
        ("db.toml", &format!("[db]\ndb_type = \"sqlite\"\ndata_path = \"data\"\nsecret_key = \"{TEST_KEY}\"\nadmin_credentials = \"admin:s3cret!\"\n")),
        ("auth.toml", auth_toml),
    ])
}

/// A `daas` command with the library directory pointed at this build.
pub fn daas() -> Command {
    let mut c = Command::new(daas_bin());
    c.env("DAAS__EXTENSIONS__EXTENSIONS__LIBRARY_DIR", library_dir());
    c.env_remove("RUST_LOG");
    c
}

/// Run `daas` with arguments; (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = daas().args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// A running server, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Everything the server wrote to stderr (its log) so far.
    log: Arc<Mutex<String>>,
    /// Everything it wrote to stdout so far.
    stdout: Arc<Mutex<String>>,
}

impl Server {
    /// Start `daas serve` on the site and wait (at most 30 s) until it listens.
    pub fn start(site: &Path) -> Server {
        Self::start_with(site, &[])
    }

    /// Like [`Server::start`], with extra environment variables.
    pub fn start_with(site: &Path, env: &[(&str, &str)]) -> Server {
        let (mut server, listening) = Self::spawn(site, env);
        match listening.recv_timeout(Duration::from_secs(30)) {
            Ok(base) => {
                server.base = base;
                server
            }
            Err(_) => {
                server.kill();
                std::thread::sleep(Duration::from_millis(100));
                panic!("daas did not start listening within 30 s; its log:\n{}", server.log());
            }
        }
    }

    /// Start `daas serve` without waiting: the receiver gets the base URL once it
    /// listens (`base` is empty until then).
    pub fn spawn(site: &Path, env: &[(&str, &str)]) -> (Server, std::sync::mpsc::Receiver<String>) {
        let mut cmd = daas();
        cmd.args(["serve", "--site"]).arg(site).args(["--listen", "127.0.0.1:0"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let log2 = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                log2.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let out = Arc::new(Mutex::new(String::new()));
        let out2 = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                out2.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(addr) = line.strip_prefix("daas: listening on ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        (Server { child, base: String::new(), log, stdout: out }, rx)
    }

    /// The URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `ws://` URL of a path.
    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{}", self.base.replacen("http://", "ws://", 1), path)
    }

    /// The log so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// What it wrote to stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Wait until the log contains `needle` (at most 10 s).
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Kill the process with SIGKILL (no chance to flush or clean up) and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Wait (at most `timeout`) for the process to exit.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response's status and body: JSON when it parses, else the text as a JSON string,
/// null when empty (so that an error page still shows in a failed assertion).
pub fn status_and_body(resp: reqwest::blocking::Response) -> (reqwest::StatusCode, serde_json::Value) {
    let status = resp.status();
    let text = resp.text().unwrap();
    let body =
        if text.is_empty() { serde_json::Value::Null } else { serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)) };
    (status, body)
}

/// A blocking HTTP client with a bounded timeout.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

// ---- a logged-in caller ------------------------------------------------------------------

/// A client logged in as one user (bearer token). Every answer is checked for password
/// hashes, secret fields and the tests' passwords (all `*-pass-*`).
pub struct As<'a> {
    pub server: &'a Server,
    pub client: reqwest::blocking::Client,
    pub bearer: String,
}

/// A client that does not follow redirects.
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(20)).build().unwrap()
}

/// Log in with `POST /api/v1/auth/token`, which must succeed.
pub fn login<'a>(server: &'a Server, user: &str, password: &str) -> As<'a> {
    let client = http();
    let r =
        client.post(server.url("/api/v1/auth/token")).json(&serde_json::json!({"username": user, "password": password})).send().unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK, "login of {user}");
    let bearer = r.json::<serde_json::Value>().unwrap()["token"].as_str().unwrap().to_string();
    As { server, client, bearer }
}

impl As<'_> {
    pub fn send(&self, r: reqwest::blocking::RequestBuilder) -> (reqwest::StatusCode, serde_json::Value) {
        let r = r.bearer_auth(&self.bearer).send().unwrap();
        let status = r.status();
        let text = r.text().unwrap();
        for secret in ["$argon2", "password_hash", "totp_secret", "-pass-"] {
            assert!(!text.contains(secret), "a response must not carry `{secret}`: {text}");
        }
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    }
    pub fn get(&self, path: &str) -> (reqwest::StatusCode, serde_json::Value) {
        self.send(self.client.get(self.server.url(path)))
    }
    pub fn delete(&self, path: &str) -> (reqwest::StatusCode, serde_json::Value) {
        self.send(self.client.delete(self.server.url(path)))
    }
    pub fn put(&self, path: &str) -> (reqwest::StatusCode, serde_json::Value) {
        self.send(self.client.put(self.server.url(path)))
    }
    pub fn post(&self, path: &str, body: serde_json::Value) -> (reqwest::StatusCode, serde_json::Value) {
        self.send(self.client.post(self.server.url(path)).json(&body))
    }
    pub fn patch(&self, path: &str, body: serde_json::Value) -> (reqwest::StatusCode, serde_json::Value) {
        self.send(self.client.patch(self.server.url(path)).json(&body))
    }
}

/// The current one-time code of a TOTP secret (base32) for `account`, as an
/// authenticator app shows it.
pub fn totp_code(secret: &str, account: &str) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_string()).to_bytes().unwrap();
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes, Some("daas".into()), account.into()).unwrap().generate_current().unwrap()
}

/// A cookie's value from a response's `set-cookie` headers.
pub fn cookie_value(resp: &reqwest::blocking::Response, name: &str) -> Option<String> {
    resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let first = v.split(';').next()?;
        let (k, val) = first.split_once('=')?;
        (k.trim() == name).then(|| val.to_string())
    })
}

/// A browser login through the `/login` form (with its double-submit token), which
/// must succeed: the `daas_session` cookie's value and the session's CSRF token.
pub fn browser_login(server: &Server, user: &str, password: &str) -> (String, String) {
    let http = http();
    let page = http.get(server.url("/login")).send().unwrap();
    let csrf = cookie_value(&page, "daas_login_csrf").expect("GET /login sets the login CSRF cookie");
    let resp = http
        .post(server.url("/login"))
        .header("cookie", format!("daas_login_csrf={csrf}"))
        .form(&[("username", user), ("password", password), ("csrf", &csrf), ("next", "/")])
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303, "browser login of {user}");
    let session = cookie_value(&resp, "daas_session").expect("a session cookie");
    let me: serde_json::Value =
        http.get(server.url("/api/v1/auth/me")).header("cookie", format!("daas_session={session}")).send().unwrap().json().unwrap();
    (session, me["csrf_token"].as_str().expect("a cookie session has a CSRF token").to_string())
}

/// `POST` that must answer 201; the created row.
pub fn created(who: &As, path: &str, body: serde_json::Value) -> serde_json::Value {
    let (status, row) = who.post(path, body);
    assert_eq!(status, reqwest::StatusCode::CREATED, "POST {path}: {row}");
    row
}

/// A row's numeric id.
pub fn id(row: &serde_json::Value) -> i64 {
    row["id"].as_i64().unwrap()
}
