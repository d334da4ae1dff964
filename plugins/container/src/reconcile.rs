//! Reconcile on start-up: containers of this site that belong to no instance.
//!
//! The phases plugin owns instances (and stops those whose machine is gone); every
//! container it has made carries the instance's id in [`LABEL_INSTANCE`], and the instance
//! row exists before the container does. So a container labelled with this site whose
//! instance row is gone is an orphan (left by a crash): it is reported, and removed when
//! `[container_request] remove_orphans` is on.

use std::collections::HashSet;

use daas_common::{model::Instance, protocols::DbClient};

use crate::{
    containers,
    engine::{Engine, EngineError},
    machine::{LABEL_INSTANCE, LABEL_SITE},
};

/// What a reconcile pass did.
#[derive(Debug, Default, PartialEq)]
pub struct Reconciled {
    /// Containers of this site without an instance.
    pub orphans: Vec<String>,
    /// Of those, the ones removed.
    pub removed: Vec<String>,
}

/// One pass.
pub async fn run(engine: &Engine, db: &DbClient, site: &str, remove_orphans: bool) -> Result<Reconciled, EngineError> {
    let ours = containers::list(engine, true, false, Some(&format!("{LABEL_SITE}={site}"))).await?;
    let instances: Vec<Instance> = db.find(vec![]).await?;
    let known: HashSet<&str> = instances.iter().map(|i| i.id.as_str()).collect();
    let mut done = Reconciled::default();
    for c in ours.iter().filter(|c| c.labels.contains_key(LABEL_INSTANCE)) {
        let instance = c.labels[LABEL_INSTANCE].as_str();
        if known.contains(instance) {
            continue;
        }
        done.orphans.push(c.name.clone());
        if remove_orphans {
            containers::remove(engine, &c.id).await?;
            tracing::warn!(container = %c.name, instance, "reconcile: removed a container of no instance");
            done.removed.push(c.name.clone());
        } else {
            tracing::warn!(container = %c.name, instance, "reconcile: a container of no instance runs (set remove_orphans = true to remove such containers)");
        }
    }
    Ok(done)
}
