//! The lifecycle's API as the host tests drive it (the phases plugin's routes through
//! the real host): who asks (the testbackend's `testing` layer stands in for the auth
//! layer), transitions and tasks waited for, app starts, the viewer's WebSocket.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, Message};

use super::{client, status_and_body, workspace, Server, TempSite, TEST_KEY};

/// A site of the lifecycle: the db on SQLite, testbackend (its `testing` layer makes the
/// caller from `x-test-user-id`), the machine plugin `machine` (`container`, `vm`) with
/// its config file `machine_toml`, phases (with the limits layer) and the proxy (the
/// noVNC viewer).
pub fn lifecycle_site(machine: &str, machine_toml: &str) -> TempSite {
    let plugins = ["db", "testbackend", machine, "phases", "proxy"].map(|p| format!("[[extensions.plugin]]\nname = \"{p}\"\n")).join("\n");
    let webroot = workspace().join("webroot");
    TempSite::new(&[
        ("extensions.toml", &format!("[extensions]\nlayers = [\"testing\", \"limits\"]\n\n{plugins}")),
        ("db.toml", &format!("[db]\ndb_type = \"sqlite\"\ndata_path = \"data\"\nsecret_key = \"{TEST_KEY}\"\n")),
        (&format!("{machine}.toml"), machine_toml),
        ("proxy.toml", &format!("[viewer]\nwebroot = \"{}\"\ndefault_path = \"novnc\"\n", webroot.display())),
    ])
}

#[derive(Clone, Copy)]
pub enum Who {
    User(i64),
    Admin,
    Nobody,
}

impl Who {
    pub fn headers(self, mut r: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
        match self {
            Who::User(id) => r = r.header("x-test-user-id", id.to_string()),
            Who::Admin => r = r.header("x-test-user-id", "1").header("x-test-admin", "true"),
            Who::Nobody => {}
        }
        r
    }
}

pub const ANN: Who = Who::User(7);
pub const BOB: Who = Who::User(8);

pub struct Api {
    pub server: Server,
    pub http: reqwest::blocking::Client,
}

impl Api {
    pub fn start(site: &Path) -> Api {
        Api { server: Server::start(site), http: client() }
    }

    pub fn call(&self, who: Who, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_with(who, method, path, body, None)
    }

    pub fn call_with(&self, who: Who, method: &str, path: &str, body: Option<Value>, key: Option<&str>) -> (StatusCode, Value) {
        let mut r = who.headers(self.http.request(method.parse().unwrap(), self.server.url(path)).timeout(Duration::from_secs(60)));
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        status_and_body(r.send().unwrap())
    }

    pub fn created(&self, who: Who, path: &str, body: Value) -> String {
        let (status, obj) = self.call(who, "POST", path, Some(body));
        assert_eq!(status, StatusCode::CREATED, "{obj}");
        obj["id"].as_str().unwrap().to_string()
    }

    /// Ask for a transition: the task (202, its URL in Location).
    pub fn transition(&self, who: Who, parent: &str, body: Value) -> Value {
        let (status, task) = self.call(who, "POST", &format!("/api/v1/phases/objects/{parent}/transitions"), Some(body));
        assert_eq!(status, StatusCode::ACCEPTED, "{task}");
        task
    }

    /// Wait until the task is over; its final row.
    pub fn wait(&self, who: Who, task: &Value) -> Value {
        let id = task["id"].as_str().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, t) = self.call(who, "GET", &format!("/api/v1/phases/tasks/{id}"), None);
            assert_eq!(status, StatusCode::OK, "{t}");
            if ["succeeded", "failed", "cancelled"].contains(&t["state"].as_str().unwrap()) {
                return t;
            }
            assert!(Instant::now() < deadline, "task {id} did not end: {t}\n{}", self.server.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Derive and wait: the derived object, after asserting the task succeeded.
    pub fn derive(&self, who: Who, parent: &str, body: Value) -> Value {
        let task = self.wait(who, &self.transition(who, parent, body));
        assert_eq!(task["state"], "succeeded", "{task}\n{}", self.server.log());
        let id = task["id_object"].as_str().unwrap();
        let (status, object) = self.call(who, "GET", &format!("/api/v1/db/objects/{id}"), None);
        assert_eq!(status, StatusCode::OK, "{object}");
        object
    }

    /// Start an app and wait: the running instance (with its viewer URL).
    pub fn start_app(&self, who: Who, app: &str) -> Value {
        let (status, task) = self.call(who, "POST", &format!("/api/v1/phases/apps/{app}/start"), None);
        assert_eq!(status, StatusCode::ACCEPTED, "{task}");
        let task = self.wait(who, &task);
        assert_eq!(task["state"], "succeeded", "{task}");
        let (status, instance) =
            self.call(who, "GET", &format!("/api/v1/phases/instances/{}", task["id_instance"].as_str().unwrap()), None);
        assert_eq!(status, StatusCode::OK, "{instance}");
        instance
    }
}

pub fn rows<'a>(db: &'a Value, table: &str) -> Vec<&'a Value> {
    db[table].as_array().map(|a| a.iter().collect()).unwrap_or_default()
}

pub type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// A WebSocket to `path` as `who` (the testing layer's header), its reads bounded by
/// `read_timeout`.
pub fn ws(server: &Server, who: Who, path: &str, read_timeout: Duration) -> Ws {
    let mut req = tungstenite::client::IntoClientRequest::into_client_request(server.ws_url(path)).unwrap();
    if let Who::User(id) = who {
        req.headers_mut().insert("x-test-user-id", id.to_string().parse().unwrap());
    }
    let (ws, _) = tungstenite::connect(req).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(read_timeout)).unwrap();
    }
    ws
}

/// The first bytes the viewer link's WebSocket (the noVNC relay) sends to its owner:
/// the desktop's RFB greeting. (The token alone opens it where the auth layer runs,
/// which checks viewer tokens; this site's testing layer stands in for it.)
pub fn viewer_greeting(server: &Server, who: Who, viewer_url: &str) -> Vec<u8> {
    let mut socket = ws(server, who, viewer_url, Duration::from_secs(20));
    let mut got = Vec::new();
    while got.len() < 12 {
        match socket.read().unwrap() {
            Message::Binary(b) => got.extend_from_slice(&b),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
    got
}
