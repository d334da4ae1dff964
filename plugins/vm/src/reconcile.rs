//! Reconcile on start-up: VMs that belong to no instance.
//!
//! The phases plugin owns instances (and stops those whose machine is gone); it makes
//! every instance row before its VM and labels the VM with the row's id
//! (`daas.instance`: QEMU keeps it in the VM's machine.json, Proxmox in the VM's
//! description). So a VM whose instance row is gone is an orphan (left by a crash): it
//! is reported, and removed when `[vm_api] remove_orphans` is on (a Proxmox artifact an
//! orphan held is stopped and let go, never deleted).

use std::collections::HashSet;

use daas_common::{model::Instance, protocols::DbClient};

use crate::{error::VmError, machine::Backend};

/// The label naming the instance a VM is.
pub const LABEL_INSTANCE: &str = "daas.instance";

/// What a pass did: the orphans found, and of those the ones removed.
#[derive(Debug, Default, PartialEq)]
pub struct Reconciled {
    pub orphans: Vec<String>,
    pub removed: Vec<String>,
}

/// One pass.
pub async fn run(backend: &Backend, db: &DbClient, remove_orphans: bool) -> Result<Reconciled, VmError> {
    let instances: Vec<Instance> =
        db.find(vec![]).await.map_err(|e| VmError::Unavailable(format!("the instances cannot be read: {}", e.message)))?;
    let known: HashSet<&str> = instances.iter().map(|i| i.id.as_str()).collect();
    let owned: Vec<(String, String)> = match backend {
        Backend::Qemu(q) => q.labelled().into_iter().filter_map(|(vm, labels)| Some((vm, labels.get(LABEL_INSTANCE)?.clone()))).collect(),
        Backend::Proxmox(p) => p.owned().await?,
    };
    let mut done = Reconciled::default();
    for (vm, instance) in owned {
        if known.contains(instance.as_str()) {
            continue;
        }
        done.orphans.push(vm.clone());
        if remove_orphans {
            match backend {
                Backend::Qemu(q) => q.remove(&vm).await?,
                Backend::Proxmox(p) => p.remove(&vm).await?,
            }
            tracing::warn!(%vm, %instance, "reconcile: removed a VM of no instance");
            done.removed.push(vm);
        } else {
            tracing::warn!(%vm, %instance, "reconcile: a VM of no instance exists (set [vm_api] remove_orphans = true to remove such VMs)");
        }
    }
    Ok(done)
}
