//! Container apps end to end through the real host: the db, testbackend (its `testing`
//! layer stands in for the auth layer) and container plugins, on a real podman service
//! of the test's own. An app starts to a desktop whose published port greets with RFB,
//! its connection row is written, its viewer URL answered; it stops for its owner only;
//! limits refuse with the limit and the use; reconcile cleans up after a crash.

mod common;
#[path = "../../plugins/container/tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{Cleanup, Podman, BUSYBOX, DESKTOP};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A site of its own per test: its `daas.site` label finds (and cleans up) its containers.
struct Site {
    site: TempSite,
    label: String,
}

impl Site {
    fn new(podman_host: &str, test: &str, extra: &str) -> Site {
        let label = format!("test-{test}-{}", std::process::id());
        let site = TempSite::new(&[
            (
                "extensions.toml",
                "[extensions]\nlayers = [\"testing\", \"limits\"]\n\n[[extensions.plugin]]\nname = \"db\"\n\n[[extensions.plugin]]\nname = \"testbackend\"\n\n[[extensions.plugin]]\nname = \"container\"\n",
            ),
            ("db.toml", &format!("[db]\ndb_type = \"sqlite\"\ndata_path = \"data\"\nsecret_key = \"{KEY}\"\n")),
            (
                "container.toml",
                &format!("[container_request]\nhost = \"{podman_host}\"\ntimeout_ms = 20000\nvnc_ready_ms = 20000\nsite_label = \"{label}\"\n{extra}"),
            ),
        ]);
        Site { site, label }
    }

    fn selector(&self) -> String {
        format!("daas.site={}", self.label)
    }

    /// The whole database (secrets sealed) as JSON, through `daas export`.
    fn export(&self) -> Value {
        let out = daas().args(["export", "--format", "json", "--site"]).arg(self.site.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

#[derive(Clone, Copy)]
enum Who {
    User(i64),
    Admin,
    Nobody,
}

struct Api {
    server: Server,
    http: reqwest::blocking::Client,
}

impl Api {
    fn start(site: &Site) -> Api {
        Api { server: Server::start(site.site.path()), http: client() }
    }

    fn call(&self, who: Who, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut r = self.http.request(method.parse().unwrap(), self.server.url(path)).timeout(Duration::from_secs(60));
        r = match who {
            Who::User(id) => r.header("x-test-user-id", id.to_string()),
            Who::Admin => r.header("x-test-user-id", "1").header("x-test-admin", "true"),
            Who::Nobody => r,
        };
        if let Some(b) = body {
            r = r.json(&b);
        }
        status_and_body(r.send().unwrap())
    }

    fn app(&self, who: Who, body: Value) -> String {
        let (status, obj) = self.call(who, "POST", "/api/v1/db/objects", Some(body));
        assert_eq!(status, StatusCode::CREATED, "{obj}");
        obj["id"].as_str().unwrap().to_string()
    }
}

fn rows<'a>(db: &'a Value, table: &str) -> Vec<&'a Value> {
    db[table].as_array().map(|a| a.iter().collect()).unwrap_or_default()
}

/// The host port a container's 5900/tcp is published on, from the podman CLI.
fn vnc_port(podman: &Podman, container: &str) -> u16 {
    let out = podman.cli(&["port", container, "5900/tcp"]);
    assert!(out.starts_with("127.0.0.1:"), "published beyond loopback: {out}");
    out.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn an_app_starts_to_a_reachable_desktop_and_stops_for_its_owner_only() {
    let Some(podman) = Podman::start() else { return };
    let site = Site::new(&podman.host(), "apps", "");
    let _cleanup = Cleanup(&podman, site.selector());
    let api = Api::start(&site);
    let (ann, bob) = (Who::User(7), Who::User(8));
    // The target command runs beside the desktop, with its display.
    let target = json!({"cmd": "echo \"$DISPLAY\" > /tmp/target-ran; exec sleep 300"});
    let app = api.app(ann, json!({"object_type": "container", "object_mode": "app", "id_docker": DESKTOP, "object_target": target}));
    let start = format!("/api/v1/container/apps/{app}/start");

    assert_eq!(api.call(Who::Nobody, "POST", &start, None).0, StatusCode::UNAUTHORIZED);
    let (status, body) = api.call(bob, "POST", &start, None);
    assert_eq!(status, StatusCode::NOT_FOUND, "another user's app is not found: {body}");
    assert!(podman.containers_labelled(&site.selector()).is_empty(), "a refused start left a container");

    let (status, started) = api.call(ann, "POST", &start, None);
    assert_eq!(status, StatusCode::OK, "{started}");
    let instance = started["instance_id"].as_str().unwrap().to_string();
    let url = started["viewer_url"].as_str().unwrap();
    let token = url.strip_prefix(&format!("/instance/{instance}?token=")).unwrap_or_else(|| panic!("viewer URL {url}"));
    assert!(token.len() >= 22, "a viewer token of at least 128 bits: {token}");

    // The container runs, labelled, and its VNC port greets with RFB on loopback.
    let names = podman.containers_labelled(&format!("daas.instance={instance}"));
    assert_eq!(names.len(), 1, "{names:?}");
    let port = vnc_port(&podman, &names[0]);
    let greeting = support::greeting(port);
    assert!(greeting.starts_with("RFB 003.00") && greeting.ends_with('\n'), "{greeting:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while podman.cli(&["exec", &names[0], "cat", "/tmp/target-ran"]) != ":0" {
        assert!(Instant::now() < deadline, "the app's target command did not run");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The connection row: protocol, host, port, token, a sealed password.
    let db = site.export();
    let inst = rows(&db, "instances").into_iter().find(|i| i["id"] == instance.as_str()).expect("instance row");
    assert_eq!(inst["id_owner"], 7);
    assert_eq!(inst["id_app"], app.as_str());
    assert!(!inst["container"].as_str().unwrap().is_empty());
    let con = rows(&db, "guacamole_connections").into_iter().find(|c| c["id"] == inst["id_con"]).expect("connection row");
    assert_eq!(
        (con["protocol"].as_str(), con["hostname"].as_str(), con["port"].as_u64()),
        (Some("vnc"), Some("127.0.0.1"), Some(port as u64))
    );
    assert_eq!(con["viewer_token"], token);
    assert_eq!(con["viewer_url"], url);
    assert!(con["password"].as_str().is_some_and(|p| !p.is_empty()), "the VNC password is stored: {con}");

    // Listings: the owner's only, never a secret.
    let (_, mine) = api.call(ann, "GET", "/api/v1/container/instances", None);
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert!(!mine.to_string().contains("password"), "{mine}");
    assert_eq!(api.call(bob, "GET", "/api/v1/container/instances", None).1, json!([]));

    // Stop: another user's attempt is a 404 and changes nothing; the owner's removes all.
    let stop = format!("/api/v1/container/instances/{instance}");
    assert_eq!(api.call(bob, "DELETE", &stop, None).0, StatusCode::NOT_FOUND);
    assert_eq!(podman.containers_labelled(&format!("daas.instance={instance}")).len(), 1);
    assert_eq!(api.call(ann, "DELETE", &stop, None).0, StatusCode::NO_CONTENT);
    assert!(podman.containers_labelled(&format!("daas.instance={instance}")).is_empty(), "the container is gone");
    let db = site.export();
    assert!(rows(&db, "instances").is_empty() && rows(&db, "guacamole_connections").is_empty(), "{db}");
    assert_eq!(api.call(ann, "DELETE", &stop, None).0, StatusCode::NOT_FOUND);

    // Mistakes: unknown app 404; a VM app 409 (not this plugin's kind); an image the engine
    // lacks 404 naming it.
    assert_eq!(api.call(ann, "POST", "/api/v1/container/apps/no-such-app/start", None).0, StatusCode::NOT_FOUND);
    let vm = api.app(ann, json!({"object_type": "vm"}));
    assert_eq!(api.call(ann, "POST", &format!("/api/v1/container/apps/{vm}/start"), None).0, StatusCode::CONFLICT);
    let ghost = api.app(ann, json!({"object_type": "container", "id_docker": "localhost/daas-no-such-image:1"}));
    let (status, body) = api.call(ann, "POST", &format!("/api/v1/container/apps/{ghost}/start"), None);
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["message"].as_str().unwrap().contains("localhost/daas-no-such-image:1"), "{body}");
    assert!(rows(&site.export(), "instances").is_empty(), "a failed start leaves no instance");

    // Administrators see the engine and its images; users do not.
    assert_eq!(api.call(ann, "GET", "/api/v1/container/info", None).0, StatusCode::FORBIDDEN);
    let (status, info) = api.call(Who::Admin, "GET", "/api/v1/container/info", None);
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["host"], podman.host());
    let (_, images) = api.call(Who::Admin, "GET", "/api/v1/container/images", None);
    assert!(images.to_string().contains(BUSYBOX), "{images}");
}

#[test]
fn limits_refuse_a_start_or_a_create_naming_the_limit_and_the_use() {
    let Some(podman) = Podman::start() else { return };
    let site = Site::new(&podman.host(), "limits", "");
    let _cleanup = Cleanup(&podman, site.selector());
    let api = Api::start(&site);
    let ann = Who::User(7);
    let limit = json!({"id_owner": 7, "vm_max": -1, "container_max": 1, "obj_max": -1, "cpu_max": -1, "mem_max": -1, "dsk_max": -1});
    assert_eq!(api.call(Who::Admin, "POST", "/api/v1/db/limits", Some(limit)).0, StatusCode::CREATED);
    let app = api.app(ann, json!({"object_type": "container", "id_docker": DESKTOP}));
    let start = format!("/api/v1/container/apps/{app}/start");
    let (status, first) = api.call(ann, "POST", &start, None);
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, body) = api.call(ann, "POST", &start, None);
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("container_max = 1") && message.contains("uses 1 containers"), "{message}");
    assert_eq!(podman.containers_labelled(&site.selector()).len(), 1, "the refused start made no container");
    let (_, limits) = api.call(ann, "GET", "/api/v1/container/limits", None);
    assert_eq!((limits["limit"]["container_max"].as_i64(), limits["usage"]["container_max"].as_i64()), (Some(1), Some(1)), "{limits}");

    let stop = format!("/api/v1/container/instances/{}", first["instance_id"].as_str().unwrap());
    assert_eq!(api.call(ann, "DELETE", &stop, None).0, StatusCode::NO_CONTENT);
    let (status, again) = api.call(ann, "POST", &start, None);
    assert_eq!(status, StatusCode::OK, "the freed slot can be used again: {again}");
    let stop = format!("/api/v1/container/instances/{}", again["instance_id"].as_str().unwrap());
    assert_eq!(api.call(ann, "DELETE", &stop, None).0, StatusCode::NO_CONTENT);

    // The limits layer: creating an object past obj_max is refused before the db runs.
    let bob = Who::User(8);
    let limit = json!({"id_owner": 8, "vm_max": -1, "container_max": -1, "obj_max": 1, "cpu_max": -1, "mem_max": -1, "dsk_max": -1});
    assert_eq!(api.call(Who::Admin, "POST", "/api/v1/db/limits", Some(limit)).0, StatusCode::CREATED);
    api.app(bob, json!({"object_type": "container"}));
    let (status, body) = api.call(bob, "POST", "/api/v1/db/objects", Some(json!({"object_type": "container"})));
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("obj_max = 1") && body["message"].as_str().unwrap().contains("uses 1 objects"),
        "{body}"
    );
    let (_, mine) = api.call(bob, "GET", "/api/v1/db/objects", None);
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");
}

#[test]
fn reconcile_stops_instances_whose_container_is_gone_and_removes_orphans() {
    let Some(podman) = Podman::start() else { return };
    let site = Site::new(&podman.host(), "reconcile", "remove_orphans = true\n");
    let _cleanup = Cleanup(&podman, site.selector());
    let mut api = Api::start(&site);
    let ann = Who::User(7);
    let app = api.app(ann, json!({"object_type": "container", "id_docker": DESKTOP}));
    let (status, started) = api.call(ann, "POST", &format!("/api/v1/container/apps/{app}/start"), None);
    assert_eq!(status, StatusCode::OK, "{started}");
    let instance = started["instance_id"].as_str().unwrap().to_string();
    api.server.kill();

    // While the server is down its container dies, and a stray container of this site
    // appears that belongs to no instance.
    for name in podman.containers_labelled(&format!("daas.instance={instance}")) {
        podman.cli(&["rm", "-f", "-t", "0", &name]);
    }
    let orphan = format!("{}-orphan", site.label);
    podman.cli(&["run", "-d", "--name", &orphan, "--label", &site.selector(), "--label", "daas.instance=ghost", BUSYBOX]);
    assert_eq!(podman.containers_labelled(&site.selector()), vec![orphan]);

    let api = Api::start(&site);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, mine) = api.call(ann, "GET", "/api/v1/container/instances", None);
        let gone = mine == json!([]) && podman.containers_labelled(&site.selector()).is_empty();
        if gone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reconcile did not clean up: {mine}; containers {:?}; log:\n{}",
            podman.containers_labelled(&site.selector()),
            api.server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(rows(&site.export(), "guacamole_connections").is_empty(), "the stopped instance's connection is removed");
}

#[test]
fn an_unreachable_engine_answers_503_naming_its_socket() {
    let site = Site::new("unix:///tmp/daas-test-no-engine.sock", "noengine", "");
    let api = Api::start(&site);
    let (status, body) = api.call(Who::Admin, "GET", "/api/v1/container/info", None);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["message"].as_str().unwrap().contains("/tmp/daas-test-no-engine.sock"), "{body}");
    let app = api.app(Who::User(7), json!({"object_type": "container", "id_docker": DESKTOP}));
    let (status, body) = api.call(Who::User(7), "POST", &format!("/api/v1/container/apps/{app}/start"), None);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(rows(&site.export(), "instances").is_empty(), "a failed start leaves no instance");
}
