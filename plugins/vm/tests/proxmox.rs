//! The Proxmox VE backend against the Proxmox simulator (support/proxmox.rs, written
//! from Proxmox's public API documentation: no Proxmox runs here): the machine contract
//! from a template to an environment (a template), a deployment (a live snapshot) and
//! two app instances at once, one resuming the snapshot; the console bridged to a
//! loopback VNC port; parallel clones of one template; ticket renewal; Proxmox down; a
//! guest that never boots.

#[path = "support/proxmox.rs"]
mod proxmox_sim;

use std::time::Duration;

use daas_common::{
    config::{HttpAdapterSection, VmRestSection},
    protocols::MachineSpec,
    rfb,
};
use daas_plugin_vm::{error::VmError, proxmox::Proxmox};
use proxmox_sim::{ProxmoxSim, SimOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TEMPLATE_ID: u32 = 9000;

fn backend(sim: &ProxmoxSim, token: bool, boot_timeout: Duration) -> Proxmox {
    let mut cfg = VmRestSection { url: sim.url.clone(), node: sim.node.clone(), timeout_ms: 5000, retries: 4, ..Default::default() };
    if token {
        (cfg.token_id, cfg.token_secret) = (sim.token_id.clone(), sim.token_secret.clone());
    } else {
        (cfg.username, cfg.password) = (sim.username.clone(), sim.password.clone());
    }
    let http = HttpAdapterSection { verify_tls: false, ..Default::default() };
    Proxmox::new(&cfg, &http, boot_timeout, None).unwrap()
}

fn spec(artifact: &str, name: &str) -> MachineSpec {
    MachineSpec {
        artifact: artifact.into(),
        name: name.into(),
        memory: 512 << 20,
        cpus: 2,
        vnc_port: Some(5900),
        vnc_password: "pw-of-a-test".into(),
        ..Default::default()
    }
}

async fn sh(p: &Proxmox, vm: &str, line: &str) -> String {
    let (code, out) = p.exec(vm, &["/bin/sh".into(), "-c".into(), line.into()], Duration::from_secs(10)).await.unwrap();
    assert_eq!(code, 0, "`{line}` in {vm}: {out}");
    out
}

/// Through the bridge: authenticate with the instance's password, then a whole frame;
/// whether any pixel is lit.
async fn frame_through_bridge(port: u16, password: &str) -> Result<bool, String> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    rfb::authenticate(&mut s, password).await.map_err(|e| e.to_string())?;
    s.write_all(&[1]).await.unwrap();
    let (w, h) = (s.read_u16().await.unwrap(), s.read_u16().await.unwrap());
    let mut rest = [0u8; 16];
    s.read_exact(&mut rest).await.unwrap();
    let mut name = vec![0u8; s.read_u32().await.unwrap() as usize];
    s.read_exact(&mut name).await.unwrap();
    let mut request = vec![3, 0, 0, 0, 0, 0];
    request.extend_from_slice(&w.to_be_bytes());
    request.extend_from_slice(&h.to_be_bytes());
    s.write_all(&request).await.unwrap();
    assert_eq!(s.read_u8().await.unwrap(), 0, "a FramebufferUpdate");
    s.read_u8().await.unwrap();
    let rects = s.read_u16().await.unwrap();
    let mut lit = false;
    for _ in 0..rects {
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await.unwrap();
        let (rw, rh) = (u16::from_be_bytes([head[4], head[5]]) as usize, u16::from_be_bytes([head[6], head[7]]) as usize);
        let mut pixels = vec![0u8; rw * rh * 4];
        s.read_exact(&mut pixels).await.unwrap();
        lit |= pixels.iter().any(|b| *b != 0);
    }
    Ok(lit)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_on_the_simulator_from_template_to_a_resumed_snapshot_and_a_clone() {
    let sim = ProxmoxSim::start(SimOptions::default());
    sim.add_template(TEMPLATE_ID, "debian-tpl", true);
    let p = backend(&sim, true, Duration::from_secs(10));

    // The environment: a linked clone of the template, sized, started, configured.
    let (env, vnc) = p.instantiate(&spec("debian-tpl", "daas-env"), None).await.unwrap();
    let env_id: u32 = env.parse().expect("an instance is known by its VM id");
    assert!(vnc.is_some());
    let vm = sim.vms().into_iter().find(|v| v.vmid == env_id).unwrap();
    assert_eq!((vm.name.as_str(), vm.status.as_str(), vm.template), ("daas-env", "running", false));
    assert_eq!(vm.config.get("memory").map(String::as_str), Some("512"));
    assert_eq!(vm.config.get("cores").map(String::as_str), Some("2"));
    assert_eq!(sh(&p, &env, "echo configured > /root/env; cat /root/env").await, "configured\n");
    p.put_file(&env, "/opt/app/run.sh", b"#!/bin/sh\necho app ran > /root/app\n", 0o755).await.unwrap();
    assert_eq!(sim.guest_file(env_id, "/opt/app/run.sh").as_deref(), Some(&b"#!/bin/sh\necho app ran > /root/app\n"[..]));
    assert_eq!(p.status(&env).await.unwrap().as_deref(), Some("running"));

    // Finalize: stopped, a template named after the artifact; removing the instance
    // leaves the artifact.
    p.stop(&env).await.unwrap();
    assert_eq!(p.status(&env).await.unwrap().as_deref(), Some("exited"));
    assert_eq!(p.capture(&env, "daas-object-env", false).await.unwrap(), env);
    p.remove(&env).await.unwrap();
    let artifact = sim.vms().into_iter().find(|v| v.vmid == env_id).unwrap();
    assert_eq!((artifact.name.as_str(), artifact.template), ("daas-object-env", true));

    // The deployment: a clone of the environment, captured running (RAM included).
    let (dep, _) = p.instantiate(&spec("daas-object-env", "daas-dep"), None).await.unwrap();
    assert_eq!(sh(&p, &dep, "cat /root/env").await, "configured\n");
    p.capture(&dep, "daas-object-dep", true).await.unwrap();
    p.remove(&dep).await.unwrap();
    let dep_vm = sim.vms().into_iter().find(|v| v.name == "daas-object-dep").unwrap();
    assert_eq!((dep_vm.status.as_str(), dep_vm.snapshots.clone()), ("stopped", vec!["daas".to_string()]));

    // Two apps at once: the first resumes the snapshot in the deployment's own VM, the
    // second is a clone of it (Proxmox cannot share one saved state between VMs).
    let cmd = vec!["/opt/app/run.sh".to_string()];
    let (first, vnc_first) = p.instantiate(&spec("daas-object-dep", "daas-app-1"), Some(&cmd)).await.unwrap();
    assert_eq!(first, dep_vm.vmid.to_string(), "the snapshot resumes in place");
    let (second, _) = p.instantiate(&spec("daas-object-dep", "daas-app-2"), Some(&cmd)).await.unwrap();
    assert_ne!(second, first);
    for app in [&first, &second] {
        let mut ran = String::new();
        for _ in 0..50 {
            ran = sh(&p, app, "cat /root/app 2>/dev/null || true").await;
            if !ran.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(ran, "app ran\n", "the target command ran in {app}");
        assert_eq!(sh(&p, app, "cat /root/env").await, "configured\n");
    }

    // The console: the bridge asks the instance's password, then relays Proxmox's.
    let port = vnc_first.unwrap().port;
    assert_eq!(p.vnc(&first).await.unwrap().port, port);
    assert!(frame_through_bridge(port, "pw-of-a-").await.unwrap(), "a lit frame from Proxmox's console");
    assert!(frame_through_bridge(port, "wrong-pw").await.is_err(), "a wrong password gets nothing");

    // Stop both: the clone is deleted, the deployment's VM let go (stopped, kept).
    p.remove(&first).await.unwrap();
    p.remove(&second).await.unwrap();
    let names: Vec<String> = sim.vms().into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["daas-object-env", "daas-object-dep", "debian-tpl"], "only the artifacts and the template are left");
    assert_eq!(sim.vms().iter().find(|v| v.name == "daas-object-dep").unwrap().status, "stopped");
    // A template the lifecycle did not make is never removed through it.
    assert!(matches!(p.remove_artifact("debian-tpl").await, Err(VmError::Conflict(_))));
    p.remove_artifact("daas-object-dep").await.unwrap();
    p.remove_artifact("daas-object-env").await.unwrap();
    assert_eq!(sim.vms().into_iter().map(|v| v.name).collect::<Vec<_>>(), ["debian-tpl"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_parallel_clones_of_one_template_all_succeed_even_from_two_servers() {
    // Up to Proxmox 7.1 a clone meets its source's lock at once (a 500), retried; from
    // 7.2 the lock is taken inside its task (shared for a stopped source).
    for clone_lock_in_task in [false, true] {
        parallel_clones(clone_lock_in_task).await;
    }
}

async fn parallel_clones(clone_lock_in_task: bool) {
    let sim = ProxmoxSim::start(SimOptions { task_delay: Duration::from_millis(800), clone_lock_in_task, ..SimOptions::default() });
    sim.add_template(TEMPLATE_ID, "debian-tpl", true);
    // Two servers (two backends) share the node: only Proxmox's lock is between them.
    let (a, b) = (backend(&sim, true, Duration::from_secs(10)), backend(&sim, true, Duration::from_secs(10)));
    let specs = [spec("debian-tpl", "daas-p1"), spec("debian-tpl", "daas-p2"), spec("debian-tpl", "daas-p3")];
    let first_two = async { tokio::join!(a.instantiate(&specs[0], None), a.instantiate(&specs[1], None)) };
    let third = async {
        // Once the first server's clone runs, the second server's meets its lock.
        while !sim.requests().iter().any(|(m, path, s)| m == "POST" && path.ends_with("/clone") && *s == 200) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        b.instantiate(&specs[2], None).await
    };
    let ((r1, r2), r3) = tokio::join!(first_two, third);
    for r in [r1, r2, r3] {
        r.unwrap();
    }
    // 7.2 and later share a stopped source's lock between clones: no failure to retry.
    if !clone_lock_in_task {
        assert!(sim.clone_lock_failures() >= 1, "the other server's clone met the lock and was retried");
    }
    let running = sim.vms().into_iter().filter(|v| v.name.starts_with("daas-p") && v.status == "running").count();
    assert_eq!(running, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_ticket_is_renewed_once_and_writes_carry_the_csrf_token() {
    let sim = ProxmoxSim::start(SimOptions::default());
    sim.add_template(TEMPLATE_ID, "debian-tpl", true);
    let p = backend(&sim, false, Duration::from_secs(10));
    let (vm, _) = p.instantiate(&spec("debian-tpl", "daas-t"), None).await.unwrap();
    sim.expire_tickets();
    assert_eq!(p.status(&vm).await.unwrap().as_deref(), Some("running"));
    p.remove(&vm).await.unwrap();
    let requests = sim.requests();
    let logins = requests.iter().filter(|(m, path, s)| m == "POST" && path.ends_with("/access/ticket") && *s == 200).count();
    assert!(logins >= 2, "a login and a renewal: {requests:?}");
    assert!(requests.iter().any(|(_, _, s)| *s == 401), "the expired ticket was refused once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxmox_down_is_unavailable_naming_its_url() {
    let sim = ProxmoxSim::start(SimOptions::default());
    let p = backend(&sim, true, Duration::from_secs(10));
    sim.stop();
    let e = p.instantiate(&spec("debian-tpl", "daas-x"), None).await.unwrap_err();
    assert!(matches!(e, VmError::Unavailable(_)), "{e}");
    assert!(e.to_string().contains(&sim.url), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_never_boots_fails_and_its_clone_is_removed() {
    let sim = ProxmoxSim::start(SimOptions::default());
    sim.add_template(TEMPLATE_ID, "broken-tpl", false);
    let p = backend(&sim, true, Duration::from_secs(2));
    let e = p.instantiate(&spec("broken-tpl", "daas-broken"), None).await.unwrap_err();
    assert!(matches!(e, VmError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("did not answer within 2000 ms"), "{e}");
    assert_eq!(sim.vms().into_iter().map(|v| v.name).collect::<Vec<_>>(), ["broken-tpl"], "the clone is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_checked_unless_verify_tls_is_off() {
    let sim = ProxmoxSim::start(SimOptions::default());
    let cfg = VmRestSection {
        url: sim.url.clone(),
        token_id: sim.token_id.clone(),
        token_secret: sim.token_secret.clone(),
        retries: 1,
        ..Default::default()
    };
    let checked = Proxmox::new(&cfg, &HttpAdapterSection { verify_tls: true, ..Default::default() }, Duration::from_secs(5), None).unwrap();
    let e = checked.version().await.unwrap_err();
    assert!(matches!(e, VmError::Unavailable(_)), "{e}");
    assert!(e.to_string().to_lowercase().contains("certificate"), "the error names the certificate: {e}");
    assert_eq!(backend(&sim, true, Duration::from_secs(5)).version().await.unwrap(), "8.2.4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_fails_in_proxmox_says_why_with_its_log() {
    use daas_plugin_vm::proxmox::rest::{Method, Rest, RestConfig};
    let sim = ProxmoxSim::start(SimOptions::default());
    sim.add_template(TEMPLATE_ID, "debian-tpl", true);
    let rest = Rest::new(&RestConfig {
        url: &sim.url,
        token_id: &sim.token_id,
        token_secret: &sim.token_secret,
        username: "",
        password: "",
        verify_tls: false,
        timeout: Duration::from_secs(5),
        retries: 1,
        task_timeout: Duration::from_secs(10),
    })
    .unwrap();
    let path = format!("/nodes/{}/qemu/{TEMPLATE_ID}/status/start", sim.node);
    let e = rest.task(Method::Post, &path, serde_json::json!({}), "starting the template").await.unwrap_err();
    let message = e.to_string();
    assert!(message.starts_with("starting the template failed in Proxmox: you can't start a vm if it's a template"), "{message}");
    assert!(message.contains("TASK ERROR"), "the log's tail: {message}");
    // A bad parameter is Proxmox's 400, with the parameter named.
    let e = rest.call(Method::Post, &format!("/nodes/{}/qemu/{TEMPLATE_ID}/clone", sim.node), serde_json::json!({})).await.unwrap_err();
    assert!(matches!(&e, VmError::BadRequest(m) if m.contains("newid")), "{e}");
}
