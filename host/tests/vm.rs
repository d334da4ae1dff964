//! The lifecycle on real VMs (QEMU, TCG here) through the real host: the db,
//! testbackend (its `testing` layer stands in for the auth layer), vm, phases and proxy
//! plugins. An administrator's template becomes Ann's environment (ConfigAuto through
//! the guest agent), a deployment (a live snapshot), an app that two instances resume
//! at once; their viewer links greet with RFB through the proxy; stopping them leaves
//! nothing behind. The phases plugin is the same that drives containers.

mod common;
#[path = "../../plugins/vm/tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use common::{lifecycle::*, *};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{backend, qemu_processes, sh, Cleanup, GuestImage, TEMPLATE};

/// A site whose VMs live in `<site>/vm`, on QEMU under TCG.
fn site(image: &GuestImage) -> TempSite {
    lifecycle_site("vm", &format!("[vm_api]\nstate_dir = \"vm\"\naccel = \"tcg\"\nmemory_mb = 192\n\n{}", image.templates_toml()))
}

fn base_image(api: &Api) -> String {
    api.created(
        Who::Admin,
        "/api/v1/db/objects",
        json!({"id_owner": 0, "object_type": "vm", "object_mode": "baseimage", "id_docker": TEMPLATE, "id_user": "debian guest"}),
    )
}

/// What a VM's shell line prints (through its guest agent, beside the server).
fn in_vm(site: &TempSite, image: &GuestImage, vm: &str, line: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let q = backend(image, &site.path().join("vm"), "tcg", 10_000);
    runtime.block_on(sh(&q, vm, line))
}

fn dir_entries(path: std::path::PathBuf) -> Vec<String> {
    std::fs::read_dir(path).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

#[test]
fn the_whole_lifecycle_on_qemu_from_template_to_two_resumed_apps() {
    let Some(image) = GuestImage::get() else { return };
    let site = site(&image);
    let state = site.path().join("vm");
    let _cleanup = Cleanup(state.clone());
    let api = Api::start(site.path());
    let base = base_image(&api);
    let editor = api.created(
        Who::Admin,
        "/api/v1/db/applications",
        json!({"name": "editor", "installer": "/bin/sh", "installer_args": "-c 'mkdir -p /opt/editor && echo installed > /opt/editor/version'"}),
    );

    // The environment: a linked clone of the template, configured through the guest
    // agent (Ann's command, then the template application's installer), captured stopped.
    let env = api.derive(
        ANN,
        &base,
        json!({"transition": "clone_template", "id_user": "ann's vm", "object_tasks": ["echo configured > /root/env"], "object_apps": [editor]}),
    );
    let env_id = env["id"].as_str().unwrap();
    assert_eq!((env["object_type"].as_str(), env["object_state"].as_str()), (Some("vm"), Some("ready")));
    assert_eq!(dir_entries(state.join("artifacts")), [format!("daas-object-{env_id}")]);

    // The deployment: booted from the environment, captured running (a live snapshot).
    let dep = api.derive(ANN, env_id, json!({"transition": "create_snapshot", "id_user": "ann's deployment"}));
    let dep_id = dep["id"].as_str().unwrap();
    let snapshot = state.join("artifacts").join(format!("daas-object-{dep_id}"));
    assert!(snapshot.join("state").is_file(), "a deployment of a VM is a live snapshot: {:?}", dir_entries(snapshot.clone()));
    assert!(dir_entries(state.join("instances")).is_empty(), "the phases' instances are gone");

    // The app, started twice: both resume the snapshot, each its own VM.
    let app = api.derive(
        ANN,
        dep_id,
        json!({"transition": "run_app", "id_user": "ann's app", "object_target": {"cmd": "cat /opt/editor/version /root/env > /root/app-ran"}}),
    );
    let app_id = app["id"].as_str().unwrap();
    let started = Instant::now();
    let first = api.start_app(ANN, app_id);
    println!("app start from the live snapshot, through phases: {:?}", started.elapsed());
    let second = api.start_app(ANN, app_id);
    let mut vms = Vec::new();
    for instance in [&first, &second] {
        let viewer = instance["viewer_url"].as_str().unwrap();
        assert_eq!(&viewer_greeting(&api.server, ANN, viewer)[..12], b"RFB 003.008\n", "the proxy got past QEMU's VNC password");
        let vm = format!("daas-{}", instance["id"].as_str().unwrap());
        let deadline = Instant::now() + Duration::from_secs(20);
        while in_vm(&site, &image, &vm, "cat /root/app-ran 2>/dev/null || true") != "installed\nconfigured\n" {
            assert!(Instant::now() < deadline, "the app's command did not run in {vm}");
            std::thread::sleep(Duration::from_millis(200));
        }
        vms.push(vm);
    }
    let mut running = dir_entries(state.join("instances"));
    running.sort();
    vms.sort();
    assert_eq!(running, vms);
    assert_eq!(qemu_processes(&state).len(), 2);

    // Bob sees none of it; the task list is Ann's: three derivations, two starts.
    assert_eq!(api.call(BOB, "GET", "/api/v1/phases/instances", None).1, json!([]));
    let (_, tasks) = api.call(ANN, "GET", "/api/v1/phases/tasks", None);
    assert_eq!(tasks.as_array().unwrap().len(), 5, "{tasks}");

    // The backend's facts, for administrators only.
    let (status, info) = api.call(Who::Admin, "GET", "/api/v1/vm/info", None);
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!((info["backend"].as_str(), info["accel"].as_str()), (Some("qemu"), Some("tcg")));
    assert_eq!(info["instances"].as_array().unwrap().len(), 2, "{info}");
    assert_eq!(api.call(ANN, "GET", "/api/v1/vm/info", None).0, StatusCode::FORBIDDEN);

    // Stop both: no VM, no process, no row left.
    for instance in [&first, &second] {
        let path = format!("/api/v1/phases/instances/{}", instance["id"].as_str().unwrap());
        assert_eq!(api.call(ANN, "DELETE", &path, None).0, StatusCode::NO_CONTENT);
    }
    assert!(dir_entries(state.join("instances")).is_empty());
    assert!(qemu_processes(&state).is_empty());
    assert_eq!(api.call(ANN, "GET", "/api/v1/phases/instances", None).1, json!([]));
}

#[test]
fn a_vm_that_never_boots_fails_its_task_with_the_console_and_a_limit_refuses_the_next() {
    let Some(image) = GuestImage::get() else { return };
    let site = site(&image);
    let state = site.path().join("vm");
    let _cleanup = Cleanup(state.clone());
    std::fs::write(
        site.path().join("vm.toml"),
        format!("[vm_api]\nstate_dir = \"vm\"\naccel = \"tcg\"\nmemory_mb = 192\nboot_timeout_ms = 6000\n\n{}", image.templates_toml()),
    )
    .unwrap();
    let api = Api::start(site.path());
    let broken = api.created(
        Who::Admin,
        "/api/v1/db/objects",
        json!({"id_owner": 0, "object_type": "vm", "object_mode": "baseimage", "id_docker": "never-boots"}),
    );
    let task = api.wait(ANN, &api.transition(ANN, &broken, json!({"transition": "clone_template"})));
    assert_eq!(task["state"], "failed", "{task}");
    let error = task["error"].as_str().unwrap();
    assert!(error.contains("the guest agent did not answer within 6000 ms"), "{error}");
    assert!(error.contains("Kernel panic") || error.contains("VFS"), "the console's last lines: {error}");
    assert!(dir_entries(state.join("instances")).is_empty() && dir_entries(state.join("artifacts")).is_empty());
    assert!(qemu_processes(&state).is_empty());

    // vm_max = 0 refuses a start of a VM app, naming the limit.
    let app = api.created(
        Who::Admin,
        "/api/v1/db/objects",
        json!({"id_owner": 0, "object_type": "vm", "object_mode": "app", "id_docker": TEMPLATE}),
    );
    let limit = json!({"id_owner": 7, "vm_max": 0, "container_max": -1, "obj_max": -1, "cpu_max": -1, "mem_max": -1, "dsk_max": -1});
    assert_eq!(api.call(Who::Admin, "POST", "/api/v1/db/limits", Some(limit)).0, StatusCode::CREATED);
    let (status, body) = api.call(ANN, "POST", &format!("/api/v1/phases/apps/{app}/start"), None);
    let task: Value = if status == StatusCode::ACCEPTED { api.wait(ANN, &body) } else { body };
    assert!(task.to_string().contains("vm_max = 0"), "{status} {task}");
    assert!(qemu_processes(&state).is_empty());

    // dsk_max counts the object's disk: 1 GiB allowed, a 2 GiB VM refused.
    let limit =
        json!({"id_owner": 8, "vm_max": -1, "container_max": -1, "obj_max": -1, "cpu_max": -1, "mem_max": -1, "dsk_max": 1i64 << 30});
    assert_eq!(api.call(Who::Admin, "POST", "/api/v1/db/limits", Some(limit)).0, StatusCode::CREATED);
    let big = api.created(
        Who::Admin,
        "/api/v1/db/objects",
        json!({"id_owner": 0, "object_type": "vm", "object_mode": "app", "id_docker": TEMPLATE, "hw_disksize": 2i64 << 30}),
    );
    let (status, body) = api.call(BOB, "POST", &format!("/api/v1/phases/apps/{big}/start"), None);
    let task: Value = if status == StatusCode::ACCEPTED { api.wait(BOB, &body) } else { body };
    assert!(task.to_string().contains("dsk_max = 1073741824"), "{status} {task}");
    assert!(qemu_processes(&state).is_empty());
}

/// The Proxmox simulator (plugins/vm/examples/proxmox-sim.rs, written from Proxmox's
/// API documentation) as a process: its address and API token; it ends with the handle.
struct Simulator {
    child: std::process::Child,
    ready: Value,
}

impl Simulator {
    fn start() -> Simulator {
        use std::io::BufRead;
        let bin = daas_bin().parent().unwrap().join("examples/proxmox-sim");
        let mut child = std::process::Command::new(&bin)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} (cargo build --workspace --all-targets builds it): {e}", bin.display()));
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        Simulator { child, ready: serde_json::from_str(&line).expect("the simulator's JSON line") }
    }

    fn vm_toml(&self, boot_timeout_ms: u64) -> String {
        let r = &self.ready;
        format!(
            "[vm_api]\nbackend = \"proxmox\"\nboot_timeout_ms = {boot_timeout_ms}\n\n[vm_rest]\nurl = \"{}\"\nnode = \"{}\"\ntoken_id = \"{}\"\ntoken_secret = \"{}\"\nvmid_min = 100\nvmid_max = 120\n\n[vm_http]\nverify_tls = false\n",
            r["url"].as_str().unwrap(),
            r["node"].as_str().unwrap(),
            r["token_id"].as_str().unwrap(),
            r["token_secret"].as_str().unwrap()
        )
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_whole_lifecycle_on_the_proxmox_simulator_with_its_console_in_the_viewer() {
    let sim = Simulator::start();
    let site = lifecycle_site("vm", &sim.vm_toml(20_000));
    let api = Api::start(site.path());
    let base = api.created(
        Who::Admin,
        "/api/v1/db/objects",
        json!({"id_owner": 0, "object_type": "vm", "object_mode": "baseimage", "id_docker": "debian-tpl"}),
    );
    let env = api.derive(ANN, &base, json!({"transition": "clone_template", "object_tasks": ["echo configured > /root/env"]}));
    let env_id = env["id"].as_str().unwrap();
    let env_vmid = env["id_proxmox"].as_i64().unwrap();
    assert!((100..=120).contains(&env_vmid), "the environment's template has a VM id of the site's range: {env}");
    let dep = api.derive(ANN, env_id, json!({"transition": "create_snapshot"}));
    assert_ne!(dep["id_proxmox"].as_i64().unwrap(), env_vmid);
    let app = api.derive(
        ANN,
        dep["id"].as_str().unwrap(),
        json!({"transition": "run_app", "object_target": {"cmd": "cat /root/env > /root/app-ran"}}),
    );

    // The app resumes the deployment's snapshot; its console reaches the viewer through
    // the vm plugin's bridge and the proxy's relay.
    let instance = api.start_app(ANN, app["id"].as_str().unwrap());
    let viewer = instance["viewer_url"].as_str().unwrap();
    assert_eq!(&viewer_greeting(&api.server, ANN, viewer)[..12], b"RFB 003.008\n");
    let (status, info) = api.call(Who::Admin, "GET", "/api/v1/vm/info", None);
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["backend"], "proxmox");
    assert_eq!(info["artifacts"].as_array().unwrap().len(), 2, "{info}");

    let path = format!("/api/v1/phases/instances/{}", instance["id"].as_str().unwrap());
    assert_eq!(api.call(ANN, "DELETE", &path, None).0, StatusCode::NO_CONTENT);
    assert_eq!(api.call(ANN, "GET", "/api/v1/phases/instances", None).1, json!([]));
}

#[test]
fn proxmox_unreachable_is_a_503_naming_its_url_and_a_failed_start() {
    let port = common::browser::free_port();
    let url = format!("https://127.0.0.1:{port}");
    let site = lifecycle_site("vm", &format!(
        "[vm_api]\nbackend = \"proxmox\"\n\n[vm_rest]\nurl = \"{url}\"\ntoken_id = \"daas@pve!ci\"\ntoken_secret = \"x\"\ntimeout_ms = 2000\nretries = 1\n"
    ));
    let api = Api::start(site.path());
    let (status, body) = api.call(Who::Admin, "GET", "/api/v1/vm/info", None);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["message"].as_str().unwrap().contains(&url), "{body}");
    let app = api.created(
        Who::Admin,
        "/api/v1/db/objects",
        json!({"id_owner": 0, "object_type": "vm", "object_mode": "app", "id_docker": "debian-tpl"}),
    );
    let (status, task) = api.call(ANN, "POST", &format!("/api/v1/phases/apps/{app}/start"), None);
    assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    let task = api.wait(ANN, &task);
    assert_eq!(task["state"], "failed", "{task}");
    assert!(task["error"].as_str().unwrap().contains(&url), "{task}");
    assert_eq!(api.call(ANN, "GET", "/api/v1/phases/instances", None).1, json!([]));
}

#[test]
fn a_vm_of_no_instance_is_removed_when_the_server_starts() {
    let Some(image) = GuestImage::get() else { return };
    let site = lifecycle_site(
        "vm",
        &format!("[vm_api]\nstate_dir = \"vm\"\naccel = \"tcg\"\nmemory_mb = 192\nremove_orphans = true\n\n{}", image.templates_toml()),
    );
    let state = site.path().join("vm");
    let _cleanup = Cleanup(state.clone());
    // A crash's leftover: a VM labelled with an instance that has no row.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let q = backend(&image, &state, "tcg", 60_000);
    let orphan = daas_common::protocols::MachineSpec {
        artifact: TEMPLATE.into(),
        name: "daas-gone".into(),
        labels: [("daas.instance".to_string(), "gone".to_string())].into(),
        ..Default::default()
    };
    runtime.block_on(q.instantiate(&orphan, None)).unwrap();
    assert_eq!(qemu_processes(&state).len(), 1);
    let api = Api::start(site.path());
    assert!(api.server.wait_for_log("reconciled the VMs with the instances"), "{}", api.server.log());
    assert!(qemu_processes(&state).is_empty(), "the orphan is gone: {}", api.server.log());
    assert!(dir_entries(state.join("instances")).is_empty());
}

#[test]
fn a_proxmox_vm_of_no_instance_is_removed_when_the_server_starts() {
    use daas_common::config::{HttpAdapterSection, VmRestSection};
    use daas_plugin_vm::proxmox::Proxmox;
    let sim = Simulator::start();
    let r = &sim.ready;
    let rest = VmRestSection {
        url: r["url"].as_str().unwrap().into(),
        node: r["node"].as_str().unwrap().into(),
        token_id: r["token_id"].as_str().unwrap().into(),
        token_secret: r["token_secret"].as_str().unwrap().into(),
        ..Default::default()
    };
    let http = HttpAdapterSection { verify_tls: false, ..Default::default() };
    let p = Proxmox::new(&rest, &http, Duration::from_secs(20), None).unwrap();
    // A crash's leftover: a clone labelled with an instance that has no row.
    let orphan = daas_common::protocols::MachineSpec {
        artifact: "debian-tpl".into(),
        name: "daas-gone".into(),
        labels: [("daas.instance".to_string(), "gone".to_string())].into(),
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(p.instantiate(&orphan, None)).unwrap();
    assert_eq!(runtime.block_on(p.status("daas-gone")).unwrap().as_deref(), Some("running"));
    let site = lifecycle_site("vm", &sim.vm_toml(20_000).replace("[vm_api]\n", "[vm_api]\nremove_orphans = true\n"));
    let api = Api::start(site.path());
    assert!(api.server.wait_for_log("reconciled the VMs with the instances"), "{}", api.server.log());
    assert_eq!(runtime.block_on(p.status("daas-gone")).unwrap(), None, "the orphan is gone: {}", api.server.log());
}
