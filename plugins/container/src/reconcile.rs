//! Reconcile on start-up: the database and the engine disagree after a crash or a
//! restart of the engine.
//!
//! - An instance whose container is gone (or no longer runs) is stopped: an instance is
//!   a running app in the original, with no state column, so "stopped" means its
//!   connection and its row are removed, exactly as `DELETE /instances/{id}` would.
//! - A container labelled with this site but belonging to no instance is reported, and
//!   removed when `[container_request] remove_orphans` is on.

use std::collections::HashSet;

use daas_common::model::Instance;

use crate::{
    apps::{Apps, LABEL_INSTANCE, LABEL_SITE},
    containers,
    engine::EngineError,
};

/// What a reconcile pass did.
#[derive(Debug, Default, PartialEq)]
pub struct Reconciled {
    /// Instances whose container was gone, now removed.
    pub stopped: Vec<String>,
    /// Containers of this site without an instance.
    pub orphans: Vec<String>,
    /// Of those, the ones removed.
    pub removed: Vec<String>,
}

/// One pass.
pub async fn run(apps: &Apps, remove_orphans: bool) -> Result<Reconciled, EngineError> {
    let label = format!("{LABEL_SITE}={}", apps.site_label);
    let ours = containers::list(&apps.engine, true, false, Some(&label)).await?;
    let running: HashSet<&str> = ours.iter().filter(|c| c.state == "running").map(|c| c.id.as_str()).collect();
    let instances: Vec<Instance> = apps.db.find(vec![]).await?;
    let mut done = Reconciled::default();
    for i in instances.iter().filter(|i| !i.container.is_empty() && !running.contains(i.container.as_str())) {
        tracing::warn!(instance = %i.id, container = %i.container, "reconcile: the instance's container is gone; stopping the instance");
        apps.remove(i).await?;
        done.stopped.push(i.id.clone());
    }
    let known: HashSet<&str> = instances.iter().map(|i| i.id.as_str()).collect();
    for c in ours.iter().filter(|c| c.labels.contains_key(LABEL_INSTANCE)) {
        let instance = c.labels[LABEL_INSTANCE].as_str();
        if known.contains(instance) {
            continue;
        }
        done.orphans.push(c.name.clone());
        if remove_orphans {
            containers::remove(&apps.engine, &c.id).await?;
            tracing::warn!(container = %c.name, instance, "reconcile: removed a container of no instance");
            done.removed.push(c.name.clone());
        } else {
            tracing::warn!(container = %c.name, instance, "reconcile: a container of no instance runs (set remove_orphans = true to remove such containers)");
        }
    }
    Ok(done)
}
