//! The `container` backend as the phases plugin uses it: create from image, exec,
//! commit as the snapshot of a phase, start a container of the snapshot, status, stop,
//! remove, through the typed `ContainerClient` with every request and answer serialized
//! to JSON and back as across the host, on real podman (tests/support). App starts and
//! stops through the backend run the same code as the API routes, which
//! host/tests/container_apps.rs drives with the real db plugin (two plugin libraries
//! cannot be linked into one test binary: each exports the root module); here the db
//! backend is absent, as on a site without the db plugin.

mod support;

use daas_common::{
    config::{ContainerFile, ContainerRequestSection},
    protocols::{ContainerClient, ContainerRequest, ContainerResponse, ContainerSpec, DbClient},
};
use daas_plugin_api::abi::{BackendError, BackendErrorKind};
use daas_plugin_container::State;
use support::{Podman, BUSYBOX};

/// The plugin's backend behind a JSON round trip each way.
fn client(state: State) -> ContainerClient {
    ContainerClient::from_fn(move |request| {
        let state = state.clone();
        Box::pin(async move {
            let request: ContainerRequest = serde_json::from_slice(&serde_json::to_vec(&request).unwrap()).unwrap();
            let answer = state.serve(request).await?;
            let answer: ContainerResponse = serde_json::from_slice(&serde_json::to_vec(&answer).unwrap()).unwrap();
            Ok::<_, BackendError>(answer)
        })
    })
}

struct Cleanup<'a>(&'a Podman, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.0.remove_labelled(&self.1);
        let _ = self.0.cli(&["rmi", "-f", "localhost/daas-test-phase:environment"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phases_drive_containers_through_the_backend() {
    let Some(podman) = Podman::start() else { return };
    let label = format!("test-backend-{}", std::process::id());
    let _cleanup = Cleanup(&podman, format!("daas.site={label}"));
    // No db plugin on this site: the db backend is not available.
    let db = DbClient::from_fn(|_| {
        Box::pin(async { Err(BackendError::new(BackendErrorKind::NotAvailable, "no plugin provides backend `db`")) })
    });
    let file = ContainerFile {
        container_request: ContainerRequestSection { host: podman.host(), site_label: label.clone(), ..Default::default() },
        ..Default::default()
    };
    let containers = client(State::new(file, db.clone()).unwrap());
    let labels = [("daas.site".to_string(), label.clone())];

    // Phases: a base image becomes an environment (a committed image) that an app runs.
    let base = containers
        .create(ContainerSpec { image: BUSYBOX.into(), name: format!("{label}-base"), labels: labels.clone().into(), ..Default::default() })
        .await
        .unwrap();
    containers.start(&base).await.unwrap();
    assert_eq!(containers.status(&base).await.unwrap().as_deref(), Some("running"));
    let (code, _) = containers.exec(&base, vec!["sh".into(), "-c".into(), "echo configured > /root/env".into()]).await.unwrap();
    assert_eq!(code, 0);
    let snapshot = containers.commit(&base, "localhost/daas-test-phase:environment").await.unwrap();
    assert!(!snapshot.is_empty());
    assert!(containers
        .image("localhost/daas-test-phase:environment")
        .await
        .unwrap()
        .tags
        .iter()
        .any(|t| t.ends_with("daas-test-phase:environment")));
    containers.stop(&base, false).await.unwrap();
    assert_eq!(containers.status(&base).await.unwrap().as_deref(), Some("exited"));
    containers.remove(&base).await.unwrap();
    assert_eq!(containers.status(&base).await.unwrap(), None);
    let app = containers
        .create(ContainerSpec {
            image: "localhost/daas-test-phase:environment".into(),
            labels: labels.clone().into(),
            ..Default::default()
        })
        .await
        .unwrap();
    containers.start(&app).await.unwrap();
    assert_eq!(containers.exec(&app, vec!["cat".into(), "/root/env".into()]).await.unwrap(), (0, "configured\n".to_string()));
    assert!(containers.list(false, false).await.unwrap().iter().any(|c| c.id == app));
    assert!(!containers.ip(&app).await.unwrap().is_empty());
    containers.remove(&app).await.unwrap();
    containers.delete_image("localhost/daas-test-phase:environment").await.unwrap();

    // Errors keep their kind across the wire.
    let err = containers.start("daas-no-such-container").await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::NotFound, "{err}");
    let err = containers.create(ContainerSpec { image: BUSYBOX.into(), memory: 1, ..Default::default() }).await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::BadRequest, "{err}");

    assert!(podman.containers_labelled(&format!("daas.site={label}")).is_empty());
}
