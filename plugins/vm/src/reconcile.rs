//! Reconcile on start-up: QEMU VMs of this site's state directory that belong to no
//! instance.
//!
//! The phases plugin owns instances (and stops those whose machine is gone); it makes
//! every instance row before its VM and labels the VM with the row's id
//! (`daas.instance`, kept in the VM's machine.json). So a VM whose instance row is gone
//! is an orphan (left by a crash): it is reported, and removed when `[vm_api]
//! remove_orphans` is on. (Proxmox VMs are not reconciled yet.)

use std::collections::HashSet;

use daas_common::{model::Instance, protocols::DbClient};

use crate::{error::VmError, qemu::Qemu};

/// The label naming the instance a VM is.
pub const LABEL_INSTANCE: &str = "daas.instance";

/// What a pass did: the orphans found, and of those the ones removed.
#[derive(Debug, Default, PartialEq)]
pub struct Reconciled {
    pub orphans: Vec<String>,
    pub removed: Vec<String>,
}

/// One pass.
pub async fn run(qemu: &Qemu, db: &DbClient, remove_orphans: bool) -> Result<Reconciled, VmError> {
    let instances: Vec<Instance> =
        db.find(vec![]).await.map_err(|e| VmError::Unavailable(format!("the instances cannot be read: {}", e.message)))?;
    let known: HashSet<&str> = instances.iter().map(|i| i.id.as_str()).collect();
    let mut done = Reconciled::default();
    for (vm, labels) in qemu.labelled() {
        let Some(instance) = labels.get(LABEL_INSTANCE) else { continue };
        if known.contains(instance.as_str()) {
            continue;
        }
        done.orphans.push(vm.clone());
        if remove_orphans {
            qemu.remove(&vm).await?;
            tracing::warn!(%vm, %instance, "reconcile: removed a VM of no instance");
            done.removed.push(vm);
        } else {
            tracing::warn!(%vm, %instance, "reconcile: a VM of no instance exists (set [vm_api] remove_orphans = true to remove such VMs)");
        }
    }
    Ok(done)
}
