//! The engine operations on a real engine: podman's Docker API on a socket of the
//! test's own, images built locally (tests/support). Every container a test starts
//! carries a label of that test and is removed at the end, even when it fails.

mod support;

use std::time::Duration;

use daas_common::{config::ContainerRequestSection, protocols::ContainerSpec};
use daas_plugin_container::{
    containers,
    engine::{Engine, EngineError},
    images,
    machine::wait_for_rfb,
    services,
};
use support::{Cleanup, Podman, BUSYBOX, DESKTOP};

fn engine(podman: &Podman) -> Engine {
    Engine::connect(&ContainerRequestSection { host: podman.host(), timeout_ms: 20_000, ..Default::default() }).unwrap()
}

fn labelled(test: &str, spec: ContainerSpec) -> ContainerSpec {
    ContainerSpec { labels: [("daas.test".to_string(), test.to_string())].into(), ..spec }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_lives_from_create_to_commit_and_removal() {
    let Some(podman) = Podman::start() else { return };
    let _cleanup = Cleanup(&podman, "daas.test=lifecycle".into());
    let e = engine(&podman);

    let info = e.info().await.unwrap();
    assert!(info.product.to_lowercase().contains("podman"), "{info:?}");
    assert!(info.api_version.starts_with("1."), "{info:?}");
    assert!(images::list(&e).await.unwrap().iter().any(|i| i.tags.iter().any(|t| t == BUSYBOX)));

    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("note.txt"), "from the host\n").unwrap();
    let spec = labelled(
        "lifecycle",
        ContainerSpec {
            image: BUSYBOX.into(),
            name: "daas-test-lifecycle".into(),
            cpus: 1,
            memory: 64 << 20,
            env: vec!["GREETING=hello".into()],
            volumes: vec![format!("{}:/data:ro", data.path().display())],
            cmd: vec!["/bin/sh".into(), "-c".into(), "echo started $GREETING; trap 'exit 0' TERM; while :; do sleep 1; done".into()],
            ..Default::default()
        },
    );
    let id = containers::create(&e, &spec).await.unwrap();
    assert_eq!(containers::status(&e, &id).await.unwrap().as_deref(), Some("created"));
    containers::start(&e, &id).await.unwrap();
    assert_eq!(containers::status(&e, "daas-test-lifecycle").await.unwrap().as_deref(), Some("running"));

    // The volume is mounted read-only, the environment is set.
    let (code, out) = containers::exec(&e, &id, &["cat".into(), "/data/note.txt".into()]).await.unwrap();
    assert_eq!((code, out.as_str()), (0, "from the host\n"));
    let (code, out) =
        containers::exec(&e, &id, &["sh".into(), "-c".into(), "echo x > /data/y 2>&1; echo $?; exit 3".into()]).await.unwrap();
    assert_eq!(code, 3);
    assert_ne!(out.trim(), "0", "the read-only volume accepted a write: {out}");

    // Logs, IP, stats with the memory limit.
    let logs = containers::logs(&e, &id).await.unwrap();
    assert!(logs.contains("started hello"), "{logs}");
    let ip = containers::ip(&e, &id).await.unwrap();
    assert!(ip.parse::<std::net::IpAddr>().is_ok(), "{ip}");
    let listed = containers::list(&e, false, true, Some("daas.test=lifecycle")).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].name, "daas-test-lifecycle");
    let stats = listed[0].stats.clone().unwrap();
    assert_eq!(stats.memory_limit, 64 << 20, "{stats:?}");
    assert!(stats.memory_bytes > 0, "{stats:?}");

    // Commit: the snapshot keeps what was written, a container of it sees it.
    containers::exec(&e, &id, &["sh".into(), "-c".into(), "echo phase1 > /root/state".into()]).await.unwrap();
    let image_id = containers::commit(&e, &id, "localhost/daas-test-committed:phase1").await.unwrap();
    assert!(!image_id.is_empty());
    let snap = images::inspect(&e, "localhost/daas-test-committed:phase1").await.unwrap();
    assert!(image_id.contains(snap.id.trim_start_matches("sha256:")) || snap.id.contains(&image_id), "{image_id} vs {snap:?}");
    let child = containers::create(
        &e,
        &labelled("lifecycle", ContainerSpec { image: "localhost/daas-test-committed:phase1".into(), ..Default::default() }),
    )
    .await
    .unwrap();
    containers::start(&e, &child).await.unwrap();
    let (_, out) = containers::exec(&e, &child, &["cat".into(), "/root/state".into()]).await.unwrap();
    assert_eq!(out, "phase1\n");

    // Graceful stop waits until it no longer runs; a forced one kills.
    containers::stop(&e, &id, false).await.unwrap();
    assert_eq!(containers::status(&e, &id).await.unwrap().as_deref(), Some("exited"));
    containers::stop(&e, &child, true).await.unwrap();
    assert_ne!(containers::status(&e, &child).await.unwrap().as_deref(), Some("running"));
    containers::remove(&e, &id).await.unwrap();
    containers::remove(&e, &child).await.unwrap();
    assert_eq!(containers::status(&e, &id).await.unwrap(), None);

    images::delete(&e, "localhost/daas-test-committed:phase1").await.unwrap();
    let err = images::inspect(&e, "localhost/daas-test-committed:phase1").await.unwrap_err();
    assert!(matches!(err, EngineError::NotFound(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_put_into_a_container_runs_there_and_an_exec_keeps_its_time_limit() {
    let Some(podman) = Podman::start() else { return };
    let _cleanup = Cleanup(&podman, "daas.test=put".into());
    let e = engine(&podman);
    let spec = ContainerSpec {
        image: BUSYBOX.into(),
        cmd: vec!["/bin/sh".into(), "-c".into(), "trap 'exit 0' TERM; while :; do sleep 1; done".into()],
        ..Default::default()
    };
    let id = containers::create(&e, &labelled("put", spec)).await.unwrap();
    containers::start(&e, &id).await.unwrap();

    // An installer, as the phases put one: executable, run with its arguments.
    let script = "#!/bin/sh\necho installed \"$1\" > /root/installed\necho done $1\n";
    containers::put_file(&e, &id, "/root/install.sh", script.as_bytes(), 0o755).await.unwrap();
    let (code, out) = containers::exec(&e, &id, &["/root/install.sh".into(), "editor".into()]).await.unwrap();
    assert_eq!((code, out.as_str()), (0, "done editor\n"));
    let (_, out) = containers::exec(&e, &id, &["cat".into(), "/root/installed".into()]).await.unwrap();
    assert_eq!(out, "installed editor\n");
    let (_, listed) = containers::exec(&e, &id, &["ls".into(), "-ln".into(), "/root/install.sh".into()]).await.unwrap();
    let fields: Vec<&str> = listed.split_whitespace().collect();
    assert_eq!(
        (fields.first(), fields.get(2), fields.get(3)),
        (Some(&"-rwxr-xr-x"), Some(&"0"), Some(&"0")),
        "the mode given, root's: {listed}"
    );
    // Replacing a file replaces its content.
    containers::put_file(&e, &id, "/root/installed", b"again\n", 0o644).await.unwrap();
    assert_eq!(containers::exec(&e, &id, &["cat".into(), "/root/installed".into()]).await.unwrap().1, "again\n");

    // Paths that name no file in a known place are the caller's mistake.
    for path in ["relative/file", "/", "/root/../etc/passwd"] {
        let err = containers::put_file(&e, &id, path, b"x", 0o644).await.unwrap_err();
        assert!(matches!(err, EngineError::BadRequest(_)), "{path}: {err}");
    }
    // A missing directory: podman makes it (Docker would answer 404, a NotFound).
    match containers::put_file(&e, &id, "/opt/new/dir/file", b"x", 0o644).await {
        Ok(()) => assert_eq!(containers::exec(&e, &id, &["cat".into(), "/opt/new/dir/file".into()]).await.unwrap().1, "x"),
        Err(err) => assert!(matches!(err, EngineError::NotFound(_)), "{err}"),
    }

    // A command past its limit is a timeout naming the limit (the sleep would take 30 s).
    let err = containers::exec_for(&e, &id, &["sleep".into(), "30".into()], Duration::from_millis(700)).await.unwrap_err();
    assert!(matches!(err, EngineError::Timeout { ms: 700, .. }), "{err}");
    containers::stop(&e, &id, true).await.unwrap();
    containers::remove(&e, &id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_builds_from_a_dockerfile_and_runs() {
    let Some(podman) = Podman::start() else { return };
    let _cleanup = Cleanup(&podman, "daas.test=build".into());
    let e = engine(&podman);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "built here\n").unwrap();
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(&dockerfile, format!("FROM {BUSYBOX}\nCOPY hello.txt /hello.txt\n")).unwrap();
    let (id, _log) = images::build(&e, dockerfile.to_str().unwrap(), "localhost/daas-test-built:1").await.unwrap();
    assert!(!id.is_empty());
    let c = containers::create(&e, &labelled("build", ContainerSpec { image: "localhost/daas-test-built:1".into(), ..Default::default() }))
        .await
        .unwrap();
    containers::start(&e, &c).await.unwrap();
    let (_, out) = containers::exec(&e, &c, &["cat".into(), "/hello.txt".into()]).await.unwrap();
    assert_eq!(out, "built here\n");
    containers::remove(&e, &c).await.unwrap();
    images::delete(&e, "localhost/daas-test-built:1").await.unwrap();

    // A Dockerfile that does not exist is named.
    let err = images::build(&e, "/nonexistent/Dockerfile", "x:1").await.unwrap_err();
    assert!(matches!(err, EngineError::NotFound(ref m) if m.contains("/nonexistent/Dockerfile")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_image_greets_with_rfb_on_a_loopback_port() {
    let Some(podman) = Podman::start() else { return };
    let _cleanup = Cleanup(&podman, "daas.test=desktop".into());
    let e = engine(&podman);
    let spec = labelled(
        "desktop",
        ContainerSpec { image: DESKTOP.into(), ports: vec!["5900".into()], env: vec!["VNC_PASSWORD=pw".into()], ..Default::default() },
    );
    let id = containers::create(&e, &spec).await.unwrap();
    containers::start(&e, &id).await.unwrap();
    let port = containers::published_port(&e, &id, 5900).await.unwrap();
    // Published on loopback only.
    let ports = podman.cli(&["port", &id]);
    assert!(ports.contains(&format!("127.0.0.1:{port}")), "{ports}");
    wait_for_rfb(port, Duration::from_secs(20)).await.unwrap();
    let greeting = support::greeting(port);
    assert!(greeting.starts_with("RFB 003.00"), "{greeting:?}");
    assert!(matches!(containers::published_port(&e, &id, 6000).await, Err(EngineError::Conflict(_))));
    containers::remove(&e, &id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_containers_start_with_the_plugin_and_go_with_it() {
    let Some(podman) = Podman::start() else { return };
    let _cleanup = Cleanup(&podman, "daas.service=daas-test-svc".into());
    let e = engine(&podman);
    let svc = daas_common::config::ServiceContainer {
        image: BUSYBOX.into(),
        name: "daas-test-svc".into(),
        memory: 32 << 20,
        ..Default::default()
    };
    services::start(&e, &svc, "test").await.unwrap();
    // Starting again replaces the old one (a crash left it behind).
    services::start(&e, &svc, "test").await.unwrap();
    assert_eq!(podman.containers_labelled("daas.service=daas-test-svc"), ["daas-test-svc"]);
    assert_eq!(containers::status(&e, "daas-test-svc").await.unwrap().as_deref(), Some("running"));
    services::stop(&e, &svc).await.unwrap();
    assert_eq!(containers::status(&e, "daas-test-svc").await.unwrap(), None);
    services::stop(&e, &svc).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_are_client_errors_and_a_missing_engine_names_its_socket() {
    let Some(podman) = Podman::start() else { return };
    let _cleanup = Cleanup(&podman, "daas.test=mistakes".into());
    let e = engine(&podman);
    let spec = |f: fn(&mut ContainerSpec)| {
        let mut s = labelled("mistakes", ContainerSpec { image: BUSYBOX.into(), ..Default::default() });
        f(&mut s);
        s
    };
    for bad in [
        spec(|s| s.ports = vec!["0.0.0.0:80:80".into()]),
        spec(|s| s.ports = vec!["http".into()]),
        spec(|s| s.volumes = vec!["relative/path:/x".into()]),
        spec(|s| s.memory = 1024),
    ] {
        let err = containers::create(&e, &bad).await.unwrap_err();
        assert!(matches!(err, EngineError::BadRequest(_)), "{bad:?}: {err}");
    }
    let err = containers::create(&e, &spec(|s| s.image = "localhost/no-such-image:1".into())).await.unwrap_err();
    assert!(matches!(err, EngineError::NotFound(ref m) if m.contains("localhost/no-such-image:1")), "{err}");
    let err = containers::start(&e, "no-such-container").await.unwrap_err();
    assert!(matches!(err, EngineError::NotFound(ref m) if m.contains("no-such-container")), "{err}");

    let gone = Engine::connect(&ContainerRequestSection {
        host: "unix:///tmp/daas-no-engine.sock".into(),
        timeout_ms: 2000,
        ..Default::default()
    })
    .unwrap();
    let err = gone.info().await.unwrap_err();
    assert!(matches!(err, EngineError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("/tmp/daas-no-engine.sock"), "{err}");
    assert_eq!(err.kind().status(), 503);
}
