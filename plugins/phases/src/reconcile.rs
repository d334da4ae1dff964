//! Reconcile on start-up, after [`crate::lifecycle::recover`]: an instance whose machine
//! is gone (or no longer runs) is stopped, as `DELETE /api/v1/phases/instances/{id}`
//! would; an instance whose machine was never made (the server stopped between its
//! reservation and its start, and no task is left to start it) is removed.

use std::collections::HashSet;

use daas_common::{
    model::{DaasObject, Instance, Task},
    protocols::Filter,
};
use daas_plugin_api::sdk::Failure;

use crate::{instances, State};

/// Instances stopped by one pass.
pub async fn run(state: &State) -> Result<Vec<String>, Failure> {
    let db = &state.db;
    let all: Vec<Instance> = db.find(vec![]).await?;
    let queued: Vec<Task> = db.find(vec![Filter::any_of("state", ["queued", "running"])]).await?;
    let starting: HashSet<&str> = queued.iter().filter_map(|t| t.id_instance.as_deref()).collect();
    let mut stopped = Vec::new();
    for i in &all {
        let gone = if i.container.is_empty() {
            !starting.contains(i.id.as_str())
        } else {
            let Some(object) = db.get::<DaasObject>(&i.id_app).await? else { continue };
            let machine = instances::machine_of(&object)?;
            match machine.status(&i.container).await {
                Ok(state) => state.as_deref() != Some("running"),
                Err(e) => {
                    tracing::warn!(instance = %i.id, error = %e.message, "reconcile: the instance's machine backend did not answer");
                    continue;
                }
            }
        };
        if gone {
            tracing::warn!(instance = %i.id, machine = %i.container, "reconcile: the instance's machine is gone; stopping the instance");
            instances::remove(db, i).await?;
            stopped.push(i.id.clone());
        }
    }
    Ok(stopped)
}
