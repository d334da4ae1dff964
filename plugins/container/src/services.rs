//! Service containers (`[service_containers]`): started when the plugin starts, stopped
//! and removed when it stops (seed `docker_service_start` / `docker_service_stop`).

use daas_common::{config::ServiceContainer, protocols::ContainerSpec};

use crate::{
    containers,
    engine::{Engine, EngineError},
};

fn spec(svc: &ServiceContainer, site_label: &str) -> ContainerSpec {
    ContainerSpec {
        image: svc.image.clone(),
        name: svc.name.clone(),
        cpus: svc.cpus,
        memory: svc.memory,
        privileged: svc.privileged,
        ports: svc.bind_ports.clone(),
        volumes: svc.volumes.clone(),
        labels: [("daas.site".to_string(), site_label.to_string()), ("daas.service".to_string(), svc.name.clone())].into(),
        ..Default::default()
    }
}

/// Start one service container; an old container of the same name (left by a crash) is
/// removed first, as the seed does.
pub async fn start(engine: &Engine, svc: &ServiceContainer, site_label: &str) -> Result<String, EngineError> {
    if svc.name.is_empty() {
        return Err(EngineError::BadRequest(format!("a service container of image `{}` needs a name", svc.image)));
    }
    match containers::remove(engine, &svc.name).await {
        Ok(()) | Err(EngineError::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    let id = containers::create(engine, &spec(svc, site_label)).await?;
    containers::start(engine, &id).await?;
    tracing::info!(name = %svc.name, image = %svc.image, "service container started");
    Ok(id)
}

/// Stop and remove one service container (gone already is fine).
pub async fn stop(engine: &Engine, svc: &ServiceContainer) -> Result<(), EngineError> {
    match containers::remove(engine, &svc.name).await {
        Ok(()) | Err(EngineError::NotFound(_)) => {
            tracing::info!(name = %svc.name, "service container stopped");
            Ok(())
        }
        Err(e) => Err(e),
    }
}
