//! The proxy plugin's browser routes through the real host, on a site with the db,
//! auth, container, phases and proxy plugins and a real podman service of the test's
//! own (the desktop test image): the apps page, starting an app (a user's, derived
//! through the lifecycle) from its form (CSRF checked) to its viewer, stopping the
//! instance from the page's DELETE, and another user reaching neither. Without the
//! phases plugin, starting says so (503).

mod common;
#[path = "../../plugins/container/tests/support/mod.rs"]
mod support;

use common::*;
use reqwest::{blocking::Response, StatusCode};
use serde_json::{json, Value};
use support::{Cleanup, Podman, DESKTOP};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn site(plugins: &[&str], extra: &[(&str, &str)]) -> TempSite {
    let webroot = workspace().join("webroot");
    let mut extensions = String::from("[extensions]\nlayers = [\"auth\"]\n");
    for p in plugins {
        extensions.push_str(&format!("\n[[extensions.plugin]]\nname = \"{p}\"\n"));
    }
    let db = format!("[db]\ndb_type = \"sqlite\"\ndata_path = \"data\"\nsecret_key = \"{KEY}\"\nadmin_credentials = \"admin:s3cret!\"\n");
    let proxy = format!("[viewer]\nwebroot = \"{}\"\n", webroot.display());
    let mut files = vec![("extensions.toml", extensions.as_str()), ("db.toml", db.as_str()), ("proxy.toml", proxy.as_str())];
    files.extend_from_slice(extra);
    TempSite::new(&files)
}

/// Users ann and bob, created by the administrator.
fn users(server: &Server) {
    let admin = login(server, "admin", "s3cret!");
    for name in ["ann", "bob"] {
        created(&admin, "/api/v1/auth/users", json!({"name": name, "password": format!("{name}-pw-12345")}));
    }
}

/// A browser with a cookie session.
struct Browser<'a> {
    server: &'a Server,
    session: String,
    csrf: String,
}

impl<'a> Browser<'a> {
    fn login(server: &'a Server, user: &str) -> Browser<'a> {
        let (session, csrf) = browser_login(server, user, &format!("{user}-pw-12345"));
        Browser { server, session, csrf }
    }

    fn request(&self, method: &str, path: &str) -> reqwest::blocking::RequestBuilder {
        http()
            .request(method.parse().unwrap(), self.server.url(path))
            .header("cookie", format!("daas_session={}", self.session))
            .header("accept", "text/html")
            .timeout(std::time::Duration::from_secs(60))
    }

    fn page(&self, path: &str) -> (StatusCode, String) {
        let r = self.request("GET", path).send().unwrap();
        (r.status(), r.text().unwrap())
    }

    /// The start form's post, with `csrf` as its field (None: no field).
    fn start(&self, app: &str, csrf: Option<&str>) -> Response {
        let r = self.request("POST", &format!("/app/{app}"));
        match csrf {
            Some(c) => r.form(&[("csrf", c)]),
            None => r.form::<[(&str, &str)]>(&[]),
        }
        .send()
        .unwrap()
    }

    /// The stop button's DELETE, with or without the x-csrf-token header.
    fn stop(&self, instance: &str, with_token: bool) -> (StatusCode, Value) {
        let mut r = self.request("DELETE", &format!("/instance/{instance}"));
        if with_token {
            r = r.header("x-csrf-token", &self.csrf);
        }
        let r = r.send().unwrap();
        let status = r.status();
        (status, serde_json::from_str(&r.text().unwrap()).unwrap_or(Value::Null))
    }
}

#[test]
fn apps_start_from_the_page_to_their_viewer_and_stop_for_their_owner_only() {
    let Some(podman) = Podman::start() else { return };
    let label = format!("test-browser-{}", std::process::id());
    let container =
        format!("[container_request]\nhost = \"{}\"\ntimeout_ms = 20000\nvnc_ready_ms = 20000\nsite_label = \"{label}\"\n", podman.host());
    let site = site(&["db", "auth", "container", "phases", "proxy"], &[("container.toml", &container)]);
    let _cleanup = Cleanup(&podman, format!("daas.site={label}"));
    let server = Server::start(site.path());
    users(&server);
    // Ann's app: the administrator's base image → her environment → deployment → app.
    let admin = login(&server, "admin", "s3cret!");
    let base = json!({"id_owner": 0, "object_type": "container", "object_mode": "baseimage", "id_docker": DESKTOP});
    let mut parent = created(&admin, "/api/v1/db/objects", base)["id"].as_str().unwrap().to_string();
    let ann_api = login(&server, "ann", "ann-pw-12345");
    for (transition, name) in [("clone_template", "env"), ("create_snapshot", "deployment"), ("run_app", "Ann's <desk>")] {
        let path = format!("/api/v1/phases/objects/{parent}/transitions");
        let (status, task) = ann_api.post(&path, json!({"transition": transition, "id_user": name}));
        assert_eq!(status, StatusCode::ACCEPTED, "{task}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (_, t) = ann_api.get(&format!("/api/v1/phases/tasks/{}", task["id"].as_str().unwrap()));
            if t["state"] == "succeeded" {
                break;
            }
            assert!(t["state"] != "failed" && std::time::Instant::now() < deadline, "{t}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        parent = task["id_object"].as_str().unwrap().to_string();
    }
    let app = parent;
    let vm = created(&login(&server, "ann", "ann-pw-12345"), "/api/v1/db/objects", json!({"object_type": "vm", "object_mode": "app"}))
        ["id"]
        .as_str()
        .unwrap()
        .to_string();

    // An anonymous browser goes to the login page first.
    let r = http().get(server.url("/")).header("accept", "text/html").send().unwrap();
    assert_eq!((r.status(), r.headers()["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/login?next=/"));

    let ann = Browser::login(&server, "ann");
    let bob = Browser::login(&server, "bob");
    let (status, html) = ann.page("/");
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&format!("action=\"/app/{app}\"")), "the app's start form: {html}");
    assert!(html.contains(&format!("name=\"csrf\" value=\"{}\"", ann.csrf)), "the form carries the session's CSRF token: {html}");
    assert!(html.contains("Ann&#39;s &lt;desk&gt;") && !html.contains("<desk>"), "the app's name, escaped: {html}");
    assert!(html.contains("Nothing running."), "{html}");
    // An app made by hand, not by the lifecycle, is listed without a start form.
    assert!(html.contains(&format!("data-id=\"{vm}\"")) && !html.contains(&format!("action=\"/app/{vm}\"")), "{html}");
    assert!(html.contains("this app cannot be started yet (vm)"), "{html}");
    // Her environment and deployment are not apps: the page does not list them.
    assert_eq!(html.matches("class=\"app\"").count(), 2, "{html}");
    let (_, bobs) = bob.page("/");
    assert!(!bobs.contains(&app), "another user's page does not list ann's app: {bobs}");

    // Another site's form (no token, or a wrong one) starts nothing.
    assert_eq!(ann.start(&app, None).status(), StatusCode::FORBIDDEN);
    assert_eq!(ann.start(&app, Some("forged")).status(), StatusCode::FORBIDDEN);
    assert_eq!(ann.start(&app, Some(&bob.csrf)).status(), StatusCode::FORBIDDEN, "another session's token");
    // Another user cannot start ann's app: it does not exist for them.
    assert_eq!(bob.start(&app, Some(&bob.csrf)).status(), StatusCode::NOT_FOUND);
    assert_eq!(ann.start("no-such-app", Some(&ann.csrf)).status(), StatusCode::NOT_FOUND);
    assert!(podman.containers_labelled(&format!("daas.site={label}")).is_empty(), "a refused start left a container");

    let r = ann.start(&app, Some(&ann.csrf));
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().unwrap_or_default());
    let viewer = r.headers()["location"].to_str().unwrap().to_string();
    let (instance, token) = viewer.strip_prefix("/instance/").and_then(|v| v.split_once("?token=")).expect("a viewer URL");
    let instance = instance.to_string();
    assert!(token.len() >= 22, "{viewer}");
    assert_eq!(podman.containers_labelled(&format!("daas.instance={instance}")).len(), 1, "the desktop runs");

    // The viewer opens, with the session and with the link alone.
    let (status, page) = ann.page(&viewer);
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("viewer-config"), "{page}");
    assert_eq!(http().get(server.url(&viewer)).send().unwrap().status(), StatusCode::OK, "the viewer link alone");
    let (_, html) = ann.page("/");
    assert!(html.contains(&format!("href=\"/instance/{instance}\"")) && html.contains(&format!("data-id=\"{instance}\"")), "{html}");
    assert!(html.contains("<script src=\"/static/apps.js\"></script>"), "{html}");
    let script = http().get(server.url("/static/apps.js")).send().unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.text().unwrap().contains("x-csrf-token"), "the stop button sends the CSRF header");

    // Another user cannot stop it, nor a cookie DELETE without the header.
    assert_eq!(bob.stop(&instance, true).0, StatusCode::NOT_FOUND);
    let (status, body) = ann.stop(&instance, false);
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("csrf")), "{body}");
    assert_eq!(podman.containers_labelled(&format!("daas.instance={instance}")).len(), 1, "a refused stop stopped it");

    let (status, body) = ann.stop(&instance, true);
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(podman.containers_labelled(&format!("daas.instance={instance}")).is_empty(), "the desktop is gone");
    assert_eq!(http().get(server.url(&viewer)).send().unwrap().status(), StatusCode::NOT_FOUND, "the viewer link ended");
    assert_eq!(ann.page(&format!("/instance/{instance}")).0, StatusCode::NOT_FOUND);
    assert_eq!(ann.stop(&instance, true).0, StatusCode::NOT_FOUND, "stopped once");
    assert!(ann.page("/").1.contains("Nothing running."));
}

#[test]
fn without_the_phases_plugin_starting_an_app_is_unavailable() {
    let site = site(&["db", "auth", "proxy"], &[]);
    let server = Server::start(site.path());
    users(&server);
    let ann = Browser::login(&server, "ann");
    let r = ann.start("any-app", Some(&ann.csrf));
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().unwrap();
    assert!(body["message"].as_str().unwrap().contains("no phases plugin"), "{body}");
    assert_eq!(ann.stop("any-instance", true).0, StatusCode::SERVICE_UNAVAILABLE);
    // The page still lists what the db holds.
    assert_eq!(ann.page("/").0, StatusCode::OK);
}
