//! The lifecycle end to end through the real host, on a real podman service of the
//! test's own: the db, testbackend (its `testing` layer stands in for the auth layer),
//! container, phases and proxy plugins. An administrator's base image becomes a user's
//! environment (its ConfigAuto installs a template application), a deployment, an app;
//! the app starts to a desktop whose viewer link greets with RFB; tasks fail, cancel,
//! survive a restart and serialize; limits, ownership and the events' visibility hold.

mod common;
#[path = "../../plugins/container/tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use common::{lifecycle::*, *};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{Cleanup, Podman, BUSYBOX, DESKTOP};
use tokio_tungstenite::tungstenite::Message;

/// A site of its own per test: its `daas.site` label finds (and cleans up) its
/// containers and the images committed from them.
struct Site {
    site: TempSite,
    label: String,
}

impl Site {
    fn new(podman_host: &str, test: &str, extra: &str) -> Site {
        let label = format!("test-{test}-{}", std::process::id());
        let container_toml = format!(
            "[container_request]\nhost = \"{podman_host}\"\ntimeout_ms = 20000\nvnc_ready_ms = 20000\nsite_label = \"{label}\"\n{extra}"
        );
        Site { site: lifecycle_site("container", &container_toml), label }
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

/// An administrator's shared base image of the desktop test image.
fn base_image(api: &Api) -> String {
    api.created(
        Who::Admin,
        "/api/v1/db/objects",
        json!({"id_owner": 0, "object_type": "container", "object_mode": "baseimage", "id_docker": DESKTOP, "id_user": "desktop"}),
    )
}

/// An administrator's shared app that runs the desktop image as it is.
fn shared_app(api: &Api, target: Value) -> String {
    api.created(
        Who::Admin,
        "/api/v1/db/objects",
        json!({"id_owner": 0, "object_type": "container", "object_mode": "app", "id_docker": DESKTOP, "object_target": target}),
    )
}

#[test]
fn the_whole_lifecycle_from_base_image_to_a_running_app_with_the_installed_file() {
    let Some(podman) = Podman::start() else { return };
    let site = Site::new(&podman.host(), "lifecycle", "");
    let _cleanup = Cleanup(&podman, site.selector());
    let api = Api::start(site.site.path());
    let base = base_image(&api);
    // A template application whose installer writes a file, shared by the admin.
    let editor = api.created(
        Who::Admin,
        "/api/v1/db/applications",
        json!({"name": "editor", "installer": "/bin/sh", "installer_args": "-c 'mkdir -p /opt/editor && echo installed > /opt/editor/version'"}),
    );

    // Ann's environment: Create, ConfigAuto (her command, then the installer), Finalize.
    let task = api.transition(
        ANN,
        &base,
        json!({"transition": "clone_template", "id_user": "ann's env", "object_tasks": ["echo configured > /root/env"], "object_apps": [editor]}),
    );
    assert_eq!(
        (task["state"].as_str(), task["kind"].as_str(), task["id_owner"].as_i64()),
        (Some("queued"), Some("clone_template"), Some(7))
    );
    let env_task = api.wait(ANN, &task);
    assert_eq!(env_task["state"], "succeeded", "{env_task}");
    assert_eq!(env_task["progress"], 100);
    let (_, env_again) = api.call(ANN, "GET", &format!("/api/v1/db/objects/{}", env_task["id_object"].as_str().unwrap()), None);
    assert_eq!(
        (env_again["object_mode"].as_str(), env_again["object_mode_extended"].as_str(), env_again["object_state"].as_str()),
        (Some("environment"), Some("finalize"), Some("ready"))
    );
    assert_eq!((env_again["id_owner"].as_i64(), env_again["id_parent"].as_str()), (Some(7), Some(base.as_str())));
    let env_id = env_again["id"].as_str().unwrap().to_string();
    assert_eq!(env_again["id_docker"], format!("daas-object-{env_id}"));
    // The in-progress instance is gone: only the artifact stays.
    assert!(podman.containers_labelled(&site.selector()).is_empty(), "{:?}", podman.containers_labelled(&site.selector()));
    assert!(rows(&site.export(), "instances").is_empty());

    // An illegal step: 409 naming the phase and what is allowed.
    let (status, body) =
        api.call(ANN, "POST", &format!("/api/v1/phases/objects/{env_id}/transitions"), Some(json!({"transition": "run_app"})));
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("phase environment, sub-phase finalize, state ready; allowed next: create_snapshot"), "{message}");

    // Deployment, then the app with its target command.
    let deployment = api.derive(ANN, &env_id, json!({"transition": "create_snapshot", "id_user": "ann's deployment"}));
    assert_eq!((deployment["object_mode"].as_str(), deployment["id_parent"].as_str()), (Some("deployment"), Some(env_id.as_str())));
    let (status, body) = api.call(
        ANN,
        "POST",
        &format!("/api/v1/phases/objects/{}/transitions", deployment["id"].as_str().unwrap()),
        Some(json!({"transition": "run_app", "object_tasks": ["true"]})),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "run_app configures nothing: {body}");
    let target = json!({"cmd": "cat /opt/editor/version /root/env > /tmp/target-ran; exec sleep 300"});
    let app = api.derive(ANN, deployment["id"].as_str().unwrap(), json!({"transition": "run_app", "object_target": target}));
    assert_eq!((app["object_mode"].as_str(), app["object_state"].as_str()), (Some("app"), Some("ready")));
    let app_id = app["id"].as_str().unwrap().to_string();

    // Start: the viewer link greets with RFB, the installed file is in the running app.
    let instance = api.start_app(ANN, &app_id);
    let viewer = instance["viewer_url"].as_str().unwrap();
    let greeting = viewer_greeting(&api.server, ANN, viewer);
    assert_eq!(&greeting[..12], b"RFB 003.008\n");
    let inst_id = instance["id"].as_str().unwrap();
    let names = podman.containers_labelled(&format!("daas.instance={inst_id}"));
    assert_eq!(names.len(), 1, "{names:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while podman.cli(&["exec", &names[0], "cat", "/tmp/target-ran"]) != "installed\nconfigured" {
        assert!(
            Instant::now() < deadline,
            "the app did not see the installed file: {:?}",
            podman.cli(&["exec", &names[0], "cat", "/tmp/target-ran"])
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Bob sees none of it and cannot stop it.
    assert_eq!(api.call(BOB, "GET", "/api/v1/phases/instances", None).1, json!([]));
    assert_eq!(api.call(BOB, "DELETE", &format!("/api/v1/phases/instances/{inst_id}"), None).0, StatusCode::NOT_FOUND);
    assert_eq!(api.call(BOB, "GET", &format!("/api/v1/phases/tasks/{}", env_task["id"].as_str().unwrap()), None).0, StatusCode::NOT_FOUND);
    assert_eq!(api.call(BOB, "GET", "/api/v1/phases/tasks", None).1, json!([]));
    let (_, ann_tasks) = api.call(ANN, "GET", "/api/v1/phases/tasks", None);
    assert_eq!(ann_tasks.as_array().unwrap().len(), 4, "{ann_tasks}");

    // Stop: the container, the connection and the row go.
    assert_eq!(api.call(ANN, "DELETE", &format!("/api/v1/phases/instances/{inst_id}"), None).0, StatusCode::NO_CONTENT);
    assert!(podman.containers_labelled(&site.selector()).is_empty());
    let db = site.export();
    assert!(rows(&db, "instances").is_empty() && rows(&db, "guacamole_connections").is_empty(), "{db}");
}

#[test]
fn a_failing_installer_fails_its_task_with_its_output_and_leaves_nothing_behind() {
    let Some(podman) = Podman::start() else { return };
    let site = Site::new(&podman.host(), "fail", "");
    let _cleanup = Cleanup(&podman, site.selector());
    let api = Api::start(site.site.path());
    let base = base_image(&api);
    let task = api.transition(
        ANN,
        &base,
        json!({"transition": "clone_template", "object_tasks": ["echo fine", {"name": "broken", "cmd": "echo about to fail; echo why >&2; exit 1"}]}),
    );
    let task = api.wait(ANN, &task);
    assert_eq!(task["state"], "failed", "{task}");
    assert!(task["error"].as_str().unwrap().contains("ConfigAuto: step 2 of 2 (broken) exited with code 1"), "{task}");
    let output = task["output"].as_str().unwrap();
    assert!(output.contains("about to fail") && output.contains("why"), "{output}");
    // Every step's output is kept, the failing one last.
    let first = output.find("$ ConfigAuto: step 1 of 2 (task 1): exit 0\nfine").expect(output);
    assert!(first < output.find("$ ConfigAuto: step 2 of 2 (broken): exit 1").expect(output), "{output}");
    // No container, no image, no object, no instance.
    assert!(podman.containers_labelled(&site.selector()).is_empty());
    assert!(podman.images_labelled(&site.selector()).is_empty());
    let object = task["id_object"].as_str().unwrap();
    assert_eq!(api.call(ANN, "GET", &format!("/api/v1/db/objects/{object}"), None).0, StatusCode::NOT_FOUND);
    assert!(rows(&site.export(), "instances").is_empty());

    // A ConfigAuto command the server cannot run is refused before any task: 422.
    let (status, body) = api.call(
        ANN,
        "POST",
        &format!("/api/v1/phases/objects/{base}/transitions"),
        Some(json!({"transition": "clone_template", "object_tasks": [{"cmd": 3}]})),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // The phase is checked first: a base image allows no run_app, whatever it asks for.
    let (status, body) = api.call(
        ANN,
        "POST",
        &format!("/api/v1/phases/objects/{base}/transitions"),
        Some(json!({"transition": "run_app", "object_tasks": ["true"]})),
    );
    assert_eq!(status, StatusCode::CONFLICT, "a base image allows no run_app: {body}");
}

#[test]
fn cancel_and_restart_in_the_middle_of_a_task_clean_up() {
    let Some(podman) = Podman::start() else { return };
    let site = Site::new(&podman.host(), "cancel", "");
    let _cleanup = Cleanup(&podman, site.selector());
    let mut api = Api::start(site.site.path());
    let base = base_image(&api);
    let slow = json!({"transition": "clone_template", "object_tasks": [{"name": "slow", "cmd": "sleep 60"}]});

    // Cancel while ConfigAuto runs its slow step.
    let task = api.transition(ANN, &base, slow.clone());
    let id = task["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, t) = api.call(ANN, "GET", &format!("/api/v1/phases/tasks/{id}"), None);
        if t["step"].as_str().unwrap().contains("(slow)") {
            break;
        }
        assert!(Instant::now() < deadline && t["state"] != "failed", "{t}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(podman.containers_labelled(&site.selector()).len(), 1);
    assert_eq!(api.call(BOB, "POST", &format!("/api/v1/phases/tasks/{id}/cancel"), None).0, StatusCode::NOT_FOUND);
    let (status, body) = api.call(ANN, "POST", &format!("/api/v1/phases/tasks/{id}/cancel"), None);
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let task = api.wait(ANN, &task);
    assert_eq!(task["state"], "cancelled", "{task}");
    assert!(podman.containers_labelled(&site.selector()).is_empty(), "the cancelled task's instance is removed");
    assert!(rows(&site.export(), "instances").is_empty());
    assert_eq!(api.call(ANN, "POST", &format!("/api/v1/phases/tasks/{id}/cancel"), None).0, StatusCode::CONFLICT);

    // A restart while a task runs: it fails as such, and what it made is removed.
    let task = api.transition(ANN, &base, slow);
    let id = task["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while podman.containers_labelled(&site.selector()).is_empty() {
        assert!(Instant::now() < deadline, "no instance was made");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A second transition of the same base image waits its turn behind it.
    let queued = api.transition(ANN, &base, json!({"transition": "clone_template"}));
    let (_, q) = api.call(ANN, "GET", &format!("/api/v1/phases/tasks/{}", queued["id"].as_str().unwrap()), None);
    assert_eq!(q["state"], "queued", "{q}");
    api.server.kill();
    let api = Api::start(site.site.path());
    let queued = api.wait(ANN, &queued);
    assert_eq!(queued["state"], "succeeded", "the queued task ran after the restart: {queued}");
    let task = api.wait(ANN, &json!({ "id": id }));
    assert_eq!(task["state"], "failed", "{task}");
    assert!(task["error"].as_str().unwrap().contains("the server restarted"), "{task}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !podman.containers_labelled(&site.selector()).is_empty() {
        assert!(Instant::now() < deadline, "the interrupted task's container stayed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(rows(&site.export(), "instances").is_empty());
    assert_eq!(api.call(ANN, "GET", &format!("/api/v1/db/objects/{}", task["id_object"].as_str().unwrap()), None).0, StatusCode::NOT_FOUND);
    // Only the queued task's environment is left: its artifact, no container.
    assert_eq!(podman.images_labelled(&site.selector()).len(), 1);
}

#[test]
fn transitions_of_one_object_serialize_and_a_key_answers_the_same_task() {
    let Some(podman) = Podman::start() else { return };
    let site = Site::new(&podman.host(), "serial", "");
    let _cleanup = Cleanup(&podman, site.selector());
    let api = Api::start(site.site.path());
    let base = base_image(&api);
    let env = api.derive(ANN, &base, json!({"transition": "clone_template"}));
    let env = env["id"].as_str().unwrap();
    let path = format!("/api/v1/phases/objects/{env}/transitions");
    let body = json!({"transition": "create_snapshot"});
    let (s1, first) = api.call_with(ANN, "POST", &path, Some(body.clone()), Some("snap-1"));
    let (s2, second) = api.call_with(ANN, "POST", &path, Some(body.clone()), Some("snap-2"));
    let (s3, again) = api.call_with(ANN, "POST", &path, Some(body), Some("snap-1"));
    assert_eq!((s1, s2, s3), (StatusCode::ACCEPTED, StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(first["id"], again["id"], "the same key answers the same task");
    assert_ne!(first["id"], second["id"]);
    let (first, second) = (api.wait(ANN, &first), api.wait(ANN, &second));
    assert_eq!((first["state"].as_str(), second["state"].as_str()), (Some("succeeded"), Some("succeeded")), "{first} {second}");
    let at = |t: &Value, k: &str| chrono::DateTime::parse_from_rfc3339(t[k].as_str().unwrap()).unwrap();
    assert!(at(&second, "started_at") >= at(&first, "finished_at"), "the second ran after the first: {first} {second}");
    let (_, tasks) = api.call(ANN, "GET", "/api/v1/phases/tasks?state=succeeded", None);
    assert_eq!(tasks.as_array().unwrap().len(), 3, "{tasks}");
}

#[test]
fn a_user_derives_only_from_shared_or_own_objects_and_sees_only_own_events() {
    let Some(podman) = Podman::start() else { return };
    let site = Site::new(&podman.host(), "owners", "");
    let _cleanup = Cleanup(&podman, site.selector());
    let api = Api::start(site.site.path());
    let base = base_image(&api);

    // Events clients of ann and bob, from now on.
    let connect = |who: Who| ws(&api.server, who, "/api/v1/phases/events", Duration::from_millis(300));
    let (mut ann_ws, mut bob_ws) = (connect(ANN), connect(BOB));

    let env = api.derive(ANN, &base, json!({"transition": "clone_template"}));
    let env = env["id"].as_str().unwrap().to_string();
    let drain = |ws: &mut Ws| {
        let mut events = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            match ws.read() {
                Ok(Message::Text(t)) => events.push(serde_json::from_str::<Value>(&t).unwrap()),
                Ok(_) => {}
                Err(_) => {}
            }
        }
        events
    };
    let ann_events = drain(&mut ann_ws);
    let states: Vec<&str> = ann_events.iter().filter(|e| e["topic"] == "task").filter_map(|e| e["data"]["state"].as_str()).collect();
    assert_eq!(states.first(), Some(&"queued"), "{ann_events:?}");
    assert_eq!(states.last(), Some(&"succeeded"), "{ann_events:?}");
    assert!(states.contains(&"running"), "{states:?}");
    assert!(ann_events.iter().any(|e| e["topic"] == "object" && e["data"]["object_state"] == "ready"), "{ann_events:?}");
    assert_eq!(drain(&mut bob_ws), Vec::<Value>::new(), "bob sees none of ann's events");

    // A reconnecting client resumes after its cursor.
    let cursor = ann_events[ann_events.len() - 3]["seq"].as_u64().unwrap();
    let mut resumed = ws(&api.server, ANN, &format!("/api/v1/phases/events?cursor={cursor}"), Duration::from_millis(300));
    let missed = drain(&mut resumed);
    assert_eq!(missed, ann_events[ann_events.len() - 2..].to_vec(), "the two events after the cursor");

    // Bob: ann's environment does not exist for him; the admin may see it but never
    // make it the parent of another user's object.
    let path = format!("/api/v1/phases/objects/{env}/transitions");
    let (status, body) = api.call(BOB, "POST", &path, Some(json!({"transition": "create_snapshot"})));
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api.call(Who::Admin, "POST", &path, Some(json!({"transition": "create_snapshot"})));
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["message"].as_str().unwrap().contains("user 7's"), "{body}");
    // Bob's own base image (not an administrator's) has no artifact he may start from.
    let (status, mine) = api.call(
        BOB,
        "POST",
        "/api/v1/db/objects",
        Some(json!({"object_type": "container", "object_mode": "baseimage", "id_docker": DESKTOP})),
    );
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    let (status, body) = api.call(
        BOB,
        "POST",
        &format!("/api/v1/phases/objects/{}/transitions", mine["id"].as_str().unwrap()),
        Some(json!({"transition": "clone_template"})),
    );
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Nor does an app whose image a user wrote himself.
    let (_, forged) = api.call(
        BOB,
        "POST",
        "/api/v1/db/objects",
        Some(json!({"object_type": "container", "object_mode": "app", "object_state": "ready", "id_docker": format!("daas-object-{env}")})),
    );
    let (status, body) = api.call(BOB, "POST", &format!("/api/v1/phases/apps/{}/start", forged["id"].as_str().unwrap()), None);
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(podman.containers_labelled(&site.selector()).is_empty());
    assert_eq!(api.call(Who::Nobody, "GET", "/api/v1/phases/tasks", None).0, StatusCode::UNAUTHORIZED);
}

#[test]
fn five_simultaneous_starts_fit_a_limit_of_five_and_the_sixth_is_refused_naming_it() {
    let Some(podman) = Podman::start() else { return };
    let site = Site::new(&podman.host(), "limits", "");
    let _cleanup = Cleanup(&podman, site.selector());
    let api = Api::start(site.site.path());
    let limit = json!({"id_owner": 7, "vm_max": -1, "container_max": 5, "obj_max": -1, "cpu_max": -1, "mem_max": -1, "dsk_max": -1});
    assert_eq!(api.call(Who::Admin, "POST", "/api/v1/db/limits", Some(limit)).0, StatusCode::CREATED);
    let app = shared_app(&api, json!({}));
    let start = format!("/api/v1/phases/apps/{app}/start");
    let answers: Vec<(StatusCode, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6).map(|_| s.spawn(|| api.call(ANN, "POST", &start, None))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let accepted: Vec<&Value> = answers.iter().filter(|(s, _)| *s == StatusCode::ACCEPTED).map(|(_, t)| t).collect();
    let refused: Vec<&Value> = answers.iter().filter(|(s, _)| *s == StatusCode::FORBIDDEN).map(|(_, b)| b).collect();
    assert_eq!((accepted.len(), refused.len()), (5, 1), "{answers:?}");
    let message = refused[0]["message"].as_str().unwrap();
    assert!(message.contains("container_max = 5") && message.contains("uses 5 containers"), "{message}");
    for task in &accepted {
        let task = api.wait(ANN, task);
        assert_eq!(task["state"], "succeeded", "{task}");
    }
    assert_eq!(podman.containers_labelled(&site.selector()).len(), 5);
    let (_, limits) = api.call(ANN, "GET", "/api/v1/phases/limits", None);
    assert_eq!((limits["limit"]["container_max"].as_i64(), limits["usage"]["container_max"].as_i64()), (Some(5), Some(5)), "{limits}");

    // The limits layer: creating an object past obj_max is refused before the db runs.
    let limit = json!({"id_owner": 8, "vm_max": -1, "container_max": -1, "obj_max": 1, "cpu_max": -1, "mem_max": -1, "dsk_max": -1});
    assert_eq!(api.call(Who::Admin, "POST", "/api/v1/db/limits", Some(limit)).0, StatusCode::CREATED);
    api.created(BOB, "/api/v1/db/objects", json!({"object_type": "container"}));
    let (status, body) = api.call(BOB, "POST", "/api/v1/db/objects", Some(json!({"object_type": "container"})));
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["message"].as_str().unwrap().contains("obj_max = 1"), "{body}");
}

#[test]
fn reconcile_stops_instances_whose_container_is_gone_and_removes_orphans() {
    let Some(podman) = Podman::start() else { return };
    let site = Site::new(&podman.host(), "reconcile", "remove_orphans = true\n");
    let _cleanup = Cleanup(&podman, site.selector());
    let mut api = Api::start(site.site.path());
    let app = shared_app(&api, json!({}));
    let instance = api.start_app(ANN, &app);
    let instance = instance["id"].as_str().unwrap().to_string();
    api.server.kill();

    // While the server is down its container dies, and a stray container of this site
    // appears that belongs to no instance.
    for name in podman.containers_labelled(&format!("daas.instance={instance}")) {
        podman.cli(&["rm", "-f", "-t", "0", &name]);
    }
    let orphan = format!("{}-orphan", site.label);
    podman.cli(&["run", "-d", "--name", &orphan, "--label", &site.selector(), "--label", "daas.instance=ghost", BUSYBOX]);
    assert_eq!(podman.containers_labelled(&site.selector()), vec![orphan]);

    let api = Api::start(site.site.path());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, mine) = api.call(ANN, "GET", "/api/v1/phases/instances", None);
        if mine == json!([]) && podman.containers_labelled(&site.selector()).is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "reconcile did not clean up: {mine}; log:\n{}", api.server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(rows(&site.export(), "guacamole_connections").is_empty(), "the stopped instance's connection is removed");
}

#[test]
fn an_unreachable_engine_fails_the_start_naming_its_socket_and_leaves_no_instance() {
    let site = Site::new("unix:///tmp/daas-test-no-engine.sock", "noengine", "");
    let api = Api::start(site.site.path());
    let (status, body) = api.call(Who::Admin, "GET", "/api/v1/container/info", None);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["message"].as_str().unwrap().contains("/tmp/daas-test-no-engine.sock"), "{body}");
    let app = shared_app(&api, json!({}));
    let (status, task) = api.call(ANN, "POST", &format!("/api/v1/phases/apps/{app}/start"), None);
    assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    let task = api.wait(ANN, &task);
    assert_eq!(task["state"], "failed", "{task}");
    assert!(task["error"].as_str().unwrap().contains("/tmp/daas-test-no-engine.sock"), "{task}");
    assert!(rows(&site.export(), "instances").is_empty(), "a failed start leaves no instance");
    // Mistakes: unknown app 404; an object of no machine type 409.
    assert_eq!(api.call(ANN, "POST", "/api/v1/phases/apps/no-such-app/start", None).0, StatusCode::NOT_FOUND);
    let typeless = api.created(Who::Admin, "/api/v1/db/objects", json!({"id_owner": 0, "id_docker": DESKTOP}));
    assert_eq!(api.call(ANN, "POST", &format!("/api/v1/phases/apps/{typeless}/start"), None).0, StatusCode::CONFLICT);
}

#[test]
fn config_interactive_waits_for_the_owner_in_the_instance_and_finish_captures_the_work() {
    let Some(podman) = Podman::start() else { return };
    let site = Site::new(&podman.host(), "interactive", "");
    let _cleanup = Cleanup(&podman, site.selector());
    let api = Api::start(site.site.path());
    let base = base_image(&api);
    let task = api.wait(ANN, &api.transition(ANN, &base, json!({"transition": "clone_template", "interactive": true})));
    assert_eq!(task["state"], "succeeded", "{task}");
    assert!(task["step"].as_str().unwrap().starts_with("ConfigInteractive"), "{task}");
    let env = task["id_object"].as_str().unwrap().to_string();
    let (_, object) = api.call(ANN, "GET", &format!("/api/v1/db/objects/{env}"), None);
    assert_eq!(
        (object["object_mode_extended"].as_str(), object["object_state"].as_str()),
        (Some("configinteractive"), Some("interactive"))
    );

    // The in-progress instance is hers, with a viewer URL, and it is not stopped by
    // mistake; the object allows nothing but finish.
    let (_, instances) = api.call(ANN, "GET", "/api/v1/phases/instances", None);
    let instance = instances.as_array().unwrap().iter().find(|i| i["id_app"] == env.as_str()).expect("the in-progress instance").clone();
    let viewer = instance["viewer_url"].as_str().unwrap();
    assert_eq!(&viewer_greeting(&api.server, ANN, viewer)[..12], b"RFB 003.008\n");
    let (status, body) = api.call(ANN, "DELETE", &format!("/api/v1/phases/instances/{}", instance["id"].as_str().unwrap()), None);
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) =
        api.call(ANN, "POST", &format!("/api/v1/phases/objects/{env}/transitions"), Some(json!({"transition": "create_snapshot"})));
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("allowed next: finish"), "{body}");
    assert_eq!(api.call(BOB, "POST", &format!("/api/v1/phases/objects/{env}/finish"), None).0, StatusCode::NOT_FOUND);

    // Her work in the instance (what she would do through the viewer), then finish.
    let names = podman.containers_labelled(&format!("daas.instance={}", instance["id"].as_str().unwrap()));
    podman.cli(&["exec", &names[0], "sh", "-c", "echo by hand > /root/notes"]);
    let (status, finish) = api.call(ANN, "POST", &format!("/api/v1/phases/objects/{env}/finish"), None);
    assert_eq!(status, StatusCode::ACCEPTED, "{finish}");
    let finish = api.wait(ANN, &finish);
    assert_eq!((finish["state"].as_str(), finish["kind"].as_str()), (Some("succeeded"), Some("finish")), "{finish}");
    let (_, object) = api.call(ANN, "GET", &format!("/api/v1/db/objects/{env}"), None);
    assert_eq!((object["object_mode_extended"].as_str(), object["object_state"].as_str()), (Some("finalize"), Some("ready")));
    assert!(podman.containers_labelled(&site.selector()).is_empty(), "the in-progress instance is removed");
    // The artifact holds her work.
    let artifact = object["id_docker"].as_str().unwrap();
    assert_eq!(podman.cli(&["run", "--rm", "--entrypoint", "cat", artifact, "/root/notes"]), "by hand");
    let (status, body) = api.call(ANN, "POST", &format!("/api/v1/phases/objects/{env}/finish"), None);
    assert_eq!(status, StatusCode::CONFLICT, "finished once: {body}");
}
