//! The machine contract on real podman, as the phases plugin will drive it: the typed
//! `MachineClient` sends the contract's envelope, which the container backend reads as
//! one of its own operations (JSON each way, as across the host). A phase's instance
//! from the desktop image, an installer put in and run, the instance captured as an
//! artifact, an app instance of the artifact with its command, and what is refused.

mod support;

use std::collections::BTreeMap;

use daas_common::{
    config::{ContainerFile, ContainerRequestSection},
    protocols::{ContainerMachine, ContainerRequest, ContainerResponse, DbClient, Machine, MachineClient, MachineRequest, MachineSpec},
};
use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind},
    sdk::BackendClient,
};
use daas_plugin_container::State;
use support::{Podman, DESKTOP};

/// The container backend behind the contract's client, one JSON round trip each way.
fn machine(state: State) -> MachineClient {
    MachineClient::Container(BackendClient::<Machine<ContainerMachine>>::from_fn(move |envelope| {
        let state = state.clone();
        Box::pin(async move {
            let request: ContainerRequest = serde_json::from_slice(&serde_json::to_vec(&envelope).unwrap()).unwrap();
            let answer: ContainerResponse = state.serve(request).await?;
            Ok::<_, BackendError>(serde_json::from_slice(&serde_json::to_vec(&answer).unwrap()).unwrap())
        })
    }))
}

struct Cleanup<'a>(&'a Podman, String, &'static str);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.0.remove_labelled(&self.1);
        let _ = self.0.cli(&["rmi", "-f", self.2]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phase_installs_captures_and_an_app_runs_from_the_artifact() {
    let Some(podman) = Podman::start() else { return };
    let label = format!("test-machine-{}", std::process::id());
    let artifact = "localhost/daas-test-machine:environment";
    let _cleanup = Cleanup(&podman, format!("daas.site={label}"), artifact);
    let db = DbClient::from_fn(|_| Box::pin(async { Err(BackendError::new(BackendErrorKind::NotAvailable, "no db here")) }));
    let file = ContainerFile {
        container_request: ContainerRequestSection { host: podman.host(), site_label: label.clone(), ..Default::default() },
        ..Default::default()
    };
    let m = machine(State::new(file, db).unwrap());
    let spec = |name: &str, artifact: &str| MachineSpec {
        artifact: artifact.into(),
        name: format!("{label}-{name}"),
        vnc_port: Some(5900),
        vnc_password: "pw".into(),
        labels: BTreeMap::from([("daas.site".to_string(), label.clone())]),
        ..Default::default()
    };

    // Create: a phase's instance of the base image, answered once its desktop greets.
    let (work, vnc) = m.instantiate(spec("work", DESKTOP), None).await.unwrap();
    let vnc = vnc.expect("a VNC port was named");
    assert_eq!(vnc.host, "127.0.0.1");
    assert!(support::greeting(vnc.port).starts_with("RFB 003.00"));
    assert_eq!(m.vnc(&work, 5900).await.unwrap(), vnc);
    assert_eq!(m.status(&work).await.unwrap().as_deref(), Some("running"));

    // ConfigAuto: an installer put in and run; a failing one answers its code and output.
    let installer = "#!/bin/sh\necho \"installed $1\" > /root/installed\necho \"setup of $1 done\"\n";
    m.put_file(&work, "/root/install.sh", installer.as_bytes(), 0o755).await.unwrap();
    assert_eq!(
        m.exec(&work, vec!["/root/install.sh".into(), "editor".into()], 20_000).await.unwrap(),
        (0, "setup of editor done\n".into())
    );
    let (code, output) = m.exec(&work, vec!["sh".into(), "-c".into(), "echo no space left >&2; exit 1".into()], 20_000).await.unwrap();
    assert_eq!((code, output.as_str()), (1, "no space left\n"));
    let err = m.exec(&work, vec!["sleep".into(), "30".into()], 500).await.unwrap_err();
    assert!(err.message.contains("500 ms"), "a step past its limit names the limit: {err:?}");

    // Finalize: the instance stopped (its desktop leaves no lock files behind), captured
    // as an artifact, removed.
    m.stop(&work).await.unwrap();
    let id = m.capture(&work, artifact, false).await.unwrap();
    assert!(!id.is_empty());
    m.remove(&work).await.unwrap();
    assert_eq!(m.status(&work).await.unwrap(), None);

    // RunApp: an app instance of the artifact runs its command on the desktop and has
    // what the phase installed.
    let command = vec!["sh".into(), "-c".into(), "echo \"$DISPLAY\" > /tmp/app-display".into()];
    let (app, app_vnc) = m.instantiate(spec("app", artifact), Some(command)).await.unwrap();
    assert!(support::greeting(app_vnc.unwrap().port).starts_with("RFB 003.00"));
    assert_eq!(m.exec(&app, vec!["cat".into(), "/root/installed".into()], 20_000).await.unwrap().1, "installed editor\n");
    let mut display = String::new();
    for _ in 0..50 {
        display = m.exec(&app, vec!["cat".into(), "/tmp/app-display".into()], 20_000).await.unwrap().1;
        if !display.is_empty() && !display.contains("No such file") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(display, ":0\n", "the command ran on the desktop's display");
    m.stop(&app).await.unwrap();
    assert_eq!(m.status(&app).await.unwrap().as_deref(), Some("exited"));
    m.remove(&app).await.unwrap();
    m.remove_artifact(artifact).await.unwrap();

    // Refused: an artifact that is gone (nothing stays behind), content that is no
    // base64, a relative path, an instance that does not exist.
    let err = m.instantiate(spec("gone", artifact), None).await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::NotFound, "{err:?}");
    assert!(podman.containers_labelled(&format!("daas.site={label}")).is_empty(), "no half-made instance");
    let (keep, _) = m.instantiate(spec("keep", DESKTOP), None).await.unwrap();
    let bad = MachineRequest::PutFile { instance: keep.clone(), path: "/root/x".into(), content: "!!".into(), mode: 0o644 };
    assert_eq!(m.request(bad).await.unwrap_err().kind, BackendErrorKind::BadRequest);
    assert_eq!(m.put_file(&keep, "root/x", b"x", 0o644).await.unwrap_err().kind, BackendErrorKind::BadRequest);
    assert_eq!(m.exec("no-such-instance", vec!["true".into()], 1000).await.unwrap_err().kind, BackendErrorKind::NotFound);
    m.remove(&keep).await.unwrap();
}
