//! The QEMU backend on real VMs (TCG here) booted from the project's guest image: the
//! machine contract from a template to a live snapshot that two instances resume at
//! once; a guest that never boots; the accelerator probe; bad requests.

mod support;

use std::time::{Duration, Instant};

use daas_common::{
    config::VmApiSection,
    protocols::{MachineSpec, VmInstance},
};
use daas_plugin_vm::{error::VmError, qemu::Qemu};
use support::{backend, qemu_processes, sh, Cleanup, GuestImage, TEMPLATE};
use tokio::io::AsyncReadExt;

fn spec(artifact: &str, name: &str) -> MachineSpec {
    MachineSpec {
        artifact: artifact.into(),
        name: name.into(),
        vnc_port: Some(5900),
        vnc_password: "pw-of-a-test".into(),
        ..Default::default()
    }
}

/// A shell line's exit code and output.
async fn sh_code(q: &Qemu, vm: &str, line: &str) -> (i64, String) {
    q.exec(vm, &["/bin/sh".into(), "-c".into(), line.into()], Duration::from_secs(20)).await.unwrap()
}

/// The first bytes a VNC server sends, and the security types it offers to a 3.8 client.
async fn rfb_greeting(port: u16) -> (String, Vec<u8>) {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut version = [0u8; 12];
    s.read_exact(&mut version).await.unwrap();
    s.write_all(b"RFB 003.008\n").await.unwrap();
    let mut n = [0u8; 1];
    s.read_exact(&mut n).await.unwrap();
    let mut types = vec![0u8; n[0] as usize];
    s.read_exact(&mut types).await.unwrap();
    (String::from_utf8_lossy(&version).into_owned(), types)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_to_environment_to_live_snapshot_resumed_twice() {
    let Some(image) = GuestImage::get() else { return };
    let site = tempfile::tempdir().unwrap();
    let state = site.path().join("vm");
    let _cleanup = Cleanup(state.clone());
    let q = backend(&image, &state, "tcg", 60_000);

    // A linked clone of the template, booted; ConfigAuto's work through the agent.
    let (vm, vnc) = q.instantiate(&spec(TEMPLATE, "daas-env"), None).await.unwrap();
    assert_eq!(vm, "daas-env");
    let vnc = vnc.expect("a VNC endpoint");
    assert_eq!(vnc.host, "127.0.0.1");
    let (code, out) = sh_code(&q, &vm, "echo configured > /root/env.txt && cat /root/env.txt && echo oops >&2; exit 3").await;
    assert_eq!((code, out.as_str()), (3, "configured\noops\n"));
    q.put_file(&vm, "/opt/app/run.sh", b"#!/bin/sh\necho app ran > /root/app.txt\n", 0o755).await.unwrap();
    assert_eq!(sh(&q, &vm, "ls -l /opt/app/run.sh | cut -c1-10").await, "-rwxr-xr-x\n");
    assert_eq!(q.status(&vm).unwrap().as_deref(), Some("running"));

    // The environment's artifact: the stopped clone, its writes flushed first.
    q.stop(&vm).await.unwrap();
    assert_eq!(q.status(&vm).unwrap().as_deref(), Some("exited"));
    assert_eq!(q.capture(&vm, "env-a", false).await.unwrap(), "env-a");
    q.remove(&vm).await.unwrap();
    assert_eq!(q.status(&vm).unwrap(), None);

    // A deployment: boots the environment, then a live snapshot of the running guest.
    let (dep, _) = q.instantiate(&spec("env-a", "daas-dep"), None).await.unwrap();
    assert_eq!(sh(&q, &dep, "cat /root/env.txt").await, "configured\n");
    sh(&q, &dep, "echo in-memory > /run/live.txt").await;
    q.capture(&dep, "dep-a", true).await.unwrap();
    assert_eq!(q.status(&dep).unwrap().as_deref(), Some("exited"), "a live capture stops the instance");
    q.remove(&dep).await.unwrap();

    // Two apps resume the one snapshot at once, each on its own overlay.
    let cmd = vec!["/opt/app/run.sh".to_string()];
    let started = Instant::now();
    let (spec_a, spec_b) = (spec("dep-a", "daas-app-1"), spec("dep-a", "daas-app-2"));
    let (a, b) = tokio::join!(q.instantiate(&spec_a, Some(&cmd)), q.instantiate(&spec_b, Some(&cmd)));
    let ((a, vnc_a), (b, vnc_b)) = (a.unwrap(), b.unwrap());
    println!("two resumes at once: {:?}", started.elapsed());
    assert_ne!(vnc_a.as_ref().unwrap().port, vnc_b.as_ref().unwrap().port);
    for vm in [&a, &b] {
        // /run is a tmpfs: only the snapshot's memory can have kept this file.
        assert_eq!(sh(&q, vm, "cat /run/live.txt /root/env.txt").await, "in-memory\nconfigured\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        while sh_code(&q, vm, "cat /root/app.txt 2>/dev/null").await.1 != "app ran\n" {
            assert!(Instant::now() < deadline, "the app's command did not run in {vm}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The clock was set after the resume: not as old as the snapshot.
        let now = sh(&q, vm, "date +%s").await;
        let host = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!((now.trim().parse::<i64>().unwrap() - host).abs() < 30, "guest clock {now} vs host {host}");
    }
    // One instance's writes stay its own.
    sh(&q, &a, "echo only-a > /root/mine.txt && sync").await;
    assert!(!sh(&q, &b, "cat /root/mine.txt 2>&1 || true").await.contains("only-a"));

    // VNC on loopback, password-protected (security type 2, VNC authentication).
    let (version, types) = rfb_greeting(q.vnc(&a).unwrap().port).await;
    assert_eq!(version, "RFB 003.008\n");
    assert_eq!(types, vec![2]);

    let instances: Vec<VmInstance> = q.instances();
    assert_eq!(instances.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["daas-app-1", "daas-app-2"]);
    for i in &instances {
        assert_eq!((i.state.as_str(), i.artifact.as_str()), ("running", "dep-a"));
        let rss = i.rss_bytes.unwrap();
        println!("{} resident: {} MiB", i.name, rss >> 20);
        assert!(rss > 16 << 20, "{rss}");
    }

    // Artifacts in use stay; then everything goes, leaving no process and no file.
    assert!(matches!(q.remove_artifact("env-a").await, Err(VmError::Conflict(m)) if m.contains("dep-a")));
    assert!(matches!(q.remove_artifact("dep-a").await, Err(VmError::Conflict(m)) if m.contains("daas-app-1")));
    q.remove(&a).await.unwrap();
    q.remove(&b).await.unwrap();
    q.remove_artifact("dep-a").await.unwrap();
    q.remove_artifact("env-a").await.unwrap();
    assert!(q.artifacts().is_empty());
    assert!(qemu_processes(&state).is_empty());
    assert_eq!(std::fs::read_dir(state.join("instances")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(state.join("artifacts")).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_never_boots_fails_with_its_console_and_leaves_nothing() {
    let Some(image) = GuestImage::get() else { return };
    let site = tempfile::tempdir().unwrap();
    let state = site.path().join("vm");
    let _cleanup = Cleanup(state.clone());
    let q = backend(&image, &state, "tcg", 8_000);
    let e = q.instantiate(&spec("never-boots", "daas-broken"), None).await.unwrap_err();
    let message = e.to_string();
    assert!(matches!(e, VmError::Timeout { .. }), "{message}");
    assert!(message.contains("the guest agent did not answer within 8000 ms"), "{message}");
    assert!(message.contains("Kernel panic") || message.contains("VFS"), "the console's last lines: {message}");
    assert_eq!(q.status("daas-broken").unwrap(), None);
    assert!(qemu_processes(&state).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probed_accelerator_boots_a_guest_of_the_objects_size() {
    let Some(image) = GuestImage::get() else { return };
    let site = tempfile::tempdir().unwrap();
    let state = site.path().join("vm");
    let _cleanup = Cleanup(state.clone());
    let q = backend(&image, &state, "auto", 60_000);
    let accel = q.accel().await;
    println!("probed: {accel}");
    // The object's disk size and memory are the VM's (hw_disksize, hw_memory).
    let sized = MachineSpec { disk: 128 << 20, memory: 200 << 20, cpus: 2, ..spec(TEMPLATE, "daas-probe") };
    let (vm, _) = q.instantiate(&sized, None).await.unwrap();
    assert_eq!(sh(&q, &vm, "echo up").await, "up\n");
    assert_eq!(sh(&q, &vm, "cat /sys/block/vda/size").await.trim(), (128u64 * 1024 * 1024 / 512).to_string());
    assert_eq!(sh(&q, &vm, "grep -c ^processor /proc/cpuinfo").await.trim(), "2");
    let total_kb: u64 = sh(&q, &vm, "sed -n 's/MemTotal: *\\([0-9]*\\) kB/\\1/p' /proc/meminfo").await.trim().parse().unwrap();
    assert!((150_000..=204_800).contains(&total_kb), "MemTotal {total_kb} kB of a 200 MiB VM");
    q.remove(&vm).await.unwrap();
    // A disk smaller than the template's is refused before anything starts.
    let small = MachineSpec { disk: 16 << 20, ..spec(TEMPLATE, "daas-small") };
    let e = q.instantiate(&small, None).await.unwrap_err();
    assert!(matches!(&e, VmError::BadRequest(m) if m.contains("smaller than its artifact's")), "{e}");
    assert_eq!(q.status("daas-small").unwrap(), None);

    // The probe's QEMU ends by itself, also where KVM hangs it (within 9 s).
    let kernel = image.dir.join("vmlinux").to_string_lossy().into_owned();
    let probes = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline);
                cmdline.starts_with("qemu-system") && cmdline.contains("-accel\0kvm") && cmdline.contains(&kernel)
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(12);
    while probes() > 0 {
        assert!(Instant::now() < deadline, "the KVM probe's QEMU still runs");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn bad_requests_say_what_is_wrong() {
    let site = tempfile::tempdir().unwrap();
    let image = GuestImage { dir: site.path().join("no-image") };
    let q = backend(&image, &site.path().join("vm"), "tcg", 1000);
    let e = q.instantiate(&spec("../etc", "daas-x"), None).await.unwrap_err();
    assert!(matches!(&e, VmError::BadRequest(m) if m.contains("no valid artifact name")), "{e}");
    let e = q.instantiate(&spec("nothing-here", "daas-x"), None).await.unwrap_err();
    assert!(matches!(&e, VmError::NotFound(m) if m.contains("the templates are: daas-guest, never-boots")), "{e}");
    let e = q.exec("daas-none", &["true".into()], Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(&e, VmError::NotFound(m) if m.contains("no VM named `daas-none`")), "{e}");
    let e = q.put_file("daas-none", "relative/file", b"", 0o644).await.unwrap_err();
    assert!(matches!(&e, VmError::BadRequest(m) if m.contains("not an absolute path")), "{e}");
    let e = q.capture("daas-none", TEMPLATE, false).await.unwrap_err();
    assert!(matches!(&e, VmError::Conflict(m) if m.contains("configured template")), "{e}");
    let e = q.remove_artifact(TEMPLATE).await.unwrap_err();
    assert!(matches!(&e, VmError::Conflict(_)), "{e}");
    assert_eq!(q.status("daas-none").unwrap(), None);

    // A state directory too long for the control sockets is refused at start.
    let long = site.path().join("x".repeat(80));
    let cfg: VmApiSection = serde_json::from_value(serde_json::json!({ "state_dir": long })).unwrap();
    let e = Qemu::new(&cfg, site.path()).err().unwrap();
    assert!(e.to_string().contains("too long for the VMs' control sockets"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: scripts/test-long (twenty VM resumes)"]
async fn long_twenty_resumes_of_one_snapshot_five_at_a_time_leave_nothing_behind() {
    let Some(image) = GuestImage::get() else { return };
    let site = tempfile::tempdir().unwrap();
    let state = site.path().join("vm");
    let _cleanup = Cleanup(state.clone());
    let q = backend(&image, &state, "tcg", 60_000);
    q.instantiate(&spec(TEMPLATE, "daas-base"), None).await.unwrap();
    sh(&q, "daas-base", "echo snapshot > /run/marker").await;
    q.capture("daas-base", "snap", true).await.unwrap();
    q.remove("daas-base").await.unwrap();
    for round in 0..4 {
        let specs: Vec<MachineSpec> = (0..5).map(|i| spec("snap", &format!("daas-r{round}-{i}"))).collect();
        let started = futures::future::join_all(specs.iter().map(|s| q.instantiate(s, None))).await;
        for (s, result) in specs.iter().zip(started) {
            result.unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert_eq!(sh(&q, &s.name, "cat /run/marker").await, "snapshot\n");
        }
        assert_eq!(qemu_processes(&state).len(), 5);
        for s in &specs {
            q.remove(&s.name).await.unwrap();
        }
    }
    q.remove_artifact("snap").await.unwrap();
    assert!(qemu_processes(&state).is_empty());
    assert_eq!(std::fs::read_dir(state.join("instances")).unwrap().count(), 0);
}
