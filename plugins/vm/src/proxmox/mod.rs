//! The Proxmox VE backend: VMs on a Proxmox node over its REST API ([`rest`]), their
//! consoles bridged to loopback for the proxy ([`console`]).
//!
//! | contract | Proxmox |
//! |---|---|
//! | instance from a template | a linked clone (`POST …/clone`, a free id from `/cluster/nextid`), sized, started |
//! | instance from a live snapshot | its VM rolled back to the snapshot (`…/snapshot/daas/rollback`: it runs where it was saved); while an instance holds it, further instances are full clones that boot |
//! | exec, put a file | the guest agent (`…/agent/exec`, `exec-status`, `file-write`) |
//! | capture | a live snapshot (`…/snapshot` with `vmstate`, then stopped), or a template (`…/template`); renamed after the artifact, tagged `daas-artifact` |
//! | stop, remove, status | `…/status/shutdown` (forced after its timeout), `DELETE …` (purged), `…/status/current` |
//!
//! Instances are known by their VM id (as text), or before their start answered by
//! their name. Clones of one source are serialized here, and a clone that still meets
//! the source's lock ("can't lock file … got timeout", the failure tools driving
//! Proxmox are known for) is retried with backoff.

pub mod console;
pub mod rest;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use daas_common::{
    config::{HttpAdapterSection, VmRestSection},
    model::DaasObject,
    protocols::{DbClient, Endpoint, MachineSpec, VmInstance},
};
use serde_json::{json, Value};
use tokio::time::Instant;

use self::rest::{flag, number, Method, Rest, RestConfig};
use crate::error::VmError;

/// The snapshot a live capture takes.
const SNAPSHOT: &str = "daas";
/// The tag of a VM that is an artifact of the lifecycle (never deleted with an instance).
const ARTIFACT_TAG: &str = "daas-artifact";
/// The tag of an artifact VM an instance holds (resumed from its snapshot).
const BUSY_TAG: &str = "daas-busy";
/// The label that names an instance's row.
const INSTANCE_LABEL: &str = "daas.instance";

/// A VM as the node lists it.
#[derive(Debug, Clone)]
struct Vm {
    vmid: u64,
    name: String,
    running: bool,
    template: bool,
}

/// The backend.
pub struct Proxmox {
    rest: Arc<Rest>,
    node: String,
    vmids: (u32, u32),
    retries: u32,
    boot_timeout: Duration,
    /// One clone per source at a time.
    clone_locks: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<()>>>>,
    consoles: console::Consoles,
    db: Option<DbClient>,
}

impl Proxmox {
    /// The backend for `[vm_rest]`; `db` gives `suggest_vmid` its hint (none in tests).
    pub fn new(cfg: &VmRestSection, http: &HttpAdapterSection, boot_timeout: Duration, db: Option<DbClient>) -> Result<Proxmox, VmError> {
        if cfg.url.is_empty() {
            return Err(VmError::BadRequest("[vm_api] backend = \"proxmox\" needs [vm_rest] url (https://HOST:8006)".into()));
        }
        if cfg.vmid_min < 100 || cfg.vmid_min > cfg.vmid_max {
            return Err(VmError::BadRequest(format!(
                "[vm_rest] vmid_min {} and vmid_max {} must be a range from 100 up",
                cfg.vmid_min, cfg.vmid_max
            )));
        }
        let rest = Rest::new(&RestConfig {
            url: &cfg.url,
            token_id: &cfg.token_id,
            token_secret: &cfg.token_secret,
            username: &cfg.username,
            password: &cfg.password,
            verify_tls: http.verify_tls,
            timeout: Duration::from_millis(cfg.timeout_ms.max(100)),
            retries: cfg.retries,
            task_timeout: Duration::from_millis(cfg.task_timeout_ms.max(1000)),
        })?;
        let rest = Arc::new(rest);
        Ok(Proxmox {
            consoles: console::Consoles::new(rest.clone(), cfg.node.clone(), http.verify_tls),
            rest,
            node: cfg.node.clone(),
            vmids: (cfg.vmid_min, cfg.vmid_max),
            retries: cfg.retries.max(1),
            boot_timeout,
            clone_locks: Mutex::default(),
            db,
        })
    }

    fn vm_path(&self, vmid: u64) -> String {
        format!("/nodes/{}/qemu/{vmid}", self.node)
    }

    /// Proxmox's version.
    pub async fn version(&self) -> Result<String, VmError> {
        let v = self.rest.call(Method::Get, "/version", Value::Null).await?;
        Ok(v["version"].as_str().unwrap_or("unknown").to_string())
    }

    async fn vms(&self) -> Result<Vec<Vm>, VmError> {
        let list = self.rest.call(Method::Get, &format!("/nodes/{}/qemu", self.node), Value::Null).await?;
        Ok(list
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|v| {
                        Some(Vm {
                            vmid: number(&v["vmid"])?,
                            name: v["name"].as_str().unwrap_or_default().to_string(),
                            running: v["status"].as_str() == Some("running"),
                            template: flag(&v["template"]),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// A VM by id (digits) or name.
    async fn find(&self, name: &str) -> Result<Option<Vm>, VmError> {
        let id: Option<u64> = name.parse().ok();
        Ok(self.vms().await?.into_iter().find(|v| Some(v.vmid) == id || v.name == name))
    }

    async fn find_or_404(&self, name: &str) -> Result<Vm, VmError> {
        self.find(name).await?.ok_or_else(|| VmError::NotFound(format!("no VM `{name}` on Proxmox node `{}`", self.node)))
    }

    async fn config(&self, vmid: u64) -> Result<Value, VmError> {
        self.rest.call(Method::Get, &format!("{}/config", self.vm_path(vmid)), Value::Null).await
    }

    async fn tags(&self, vmid: u64) -> Result<Vec<String>, VmError> {
        let c = self.config(vmid).await?;
        Ok(c["tags"].as_str().unwrap_or_default().split([';', ',', ' ']).filter(|t| !t.is_empty()).map(String::from).collect())
    }

    async fn set_tags(&self, vmid: u64, tags: &[String]) -> Result<(), VmError> {
        let params = if tags.is_empty() { json!({ "delete": "tags" }) } else { json!({ "tags": tags.join(";") }) };
        self.rest.call(Method::Put, &format!("{}/config", self.vm_path(vmid)), params).await.map(|_| ())
    }

    async fn has_live_snapshot(&self, vmid: u64) -> Result<bool, VmError> {
        let list = self.rest.call(Method::Get, &format!("{}/snapshot", self.vm_path(vmid)), Value::Null).await?;
        Ok(list.as_array().is_some_and(|l| l.iter().any(|s| s["name"] == SNAPSHOT && flag(&s["vmstate"]))))
    }

    /// A free VM id (seed `suggest_vmid`): one past the highest `id_proxmox` of the
    /// site's objects when Proxmox says it is free, else Proxmox's next free id; within
    /// `[vm_rest] vmid_min..=vmid_max`. Two callers may get one id: the clone that comes
    /// second fails and asks again.
    async fn suggest_vmid(&self) -> Result<u64, VmError> {
        let (min, max) = (u64::from(self.vmids.0), u64::from(self.vmids.1));
        if let Some(db) = &self.db {
            if let Ok(objects) = db.find::<DaasObject>(vec![]).await {
                let hint = objects.iter().map(|o| o.id_proxmox.max(0) as u64).max().map_or(min, |m| (m + 1).max(min));
                if hint <= max {
                    if let Ok(id) = self.rest.call(Method::Get, "/cluster/nextid", json!({ "vmid": hint })).await {
                        if let Some(id) = number(&id) {
                            return Ok(id);
                        }
                    }
                }
            }
        }
        let id = self.rest.call(Method::Get, "/cluster/nextid", Value::Null).await?;
        let id = number(&id).ok_or_else(|| VmError::Failed(format!("Proxmox's /cluster/nextid answered {id}")))?;
        let id = id.max(min);
        if id > max {
            return Err(VmError::Unavailable(format!(
                "no free VM id within [vm_rest] vmid_min..vmid_max ({min}..{max}); remove unused VMs or widen the range"
            )));
        }
        Ok(id)
    }

    /// Clone `source` as a new VM named `name`: serialized per source, retried (with a
    /// new id, after a pause) when its lock times out or another caller took the id.
    async fn clone_vm(&self, source: u64, name: &str, full: bool, snapname: Option<&str>) -> Result<u64, VmError> {
        let lock = self.clone_locks.lock().unwrap_or_else(|p| p.into_inner()).entry(source).or_default().clone();
        let _one = lock.lock().await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let newid = self.suggest_vmid().await?;
            let mut params = json!({ "newid": newid, "name": name, "full": full });
            if let Some(s) = snapname {
                params["snapname"] = json!(s);
            }
            let cloned = async {
                let upid = self.rest.call(Method::Post, &format!("{}/clone", self.vm_path(source)), params).await?;
                self.rest.wait_task(&upid, &format!("cloning VM {source} as {newid}")).await
            };
            match cloned.await {
                Ok(()) => return Ok(newid),
                Err(e) if attempt < self.retries + 2 && retryable_clone(&e) => {
                    tracing::info!(source, newid, attempt, error = %e, "a Proxmox clone meets a lock or a taken id; trying again");
                    tokio::time::sleep(Duration::from_millis(250 * (1 << attempt.min(5)))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Make and start an instance; answered once its guest agent answers. A failed start
    /// leaves nothing behind (a held artifact is let go).
    pub async fn instantiate(&self, spec: &MachineSpec, command: Option<&[String]>) -> Result<(String, Option<Endpoint>), VmError> {
        let source = self.find(&spec.artifact).await?.ok_or_else(|| {
            VmError::NotFound(format!("no VM or template `{}` on Proxmox node `{}` to start from", spec.artifact, self.node))
        })?;
        if self.find(&spec.name).await?.is_some() {
            return Err(VmError::Conflict(format!("a VM named `{}` exists already on Proxmox", spec.name)));
        }
        // A live snapshot nobody holds resumes in its own VM; otherwise a clone boots. The
        // claim is decided under the artifact's lock (its clone lock): one at a time.
        let live = !source.template && self.has_live_snapshot(source.vmid).await?;
        let held = live && self.claim(&source).await?;
        let vmid = if source.template {
            self.clone_vm(source.vmid, &spec.name, false, None).await?
        } else if held {
            source.vmid
        } else {
            self.clone_vm(source.vmid, &spec.name, true, live.then_some(SNAPSHOT)).await?
        };
        let started = async {
            let path = self.vm_path(vmid);
            if held {
                self.rest
                    .task(
                        Method::Post,
                        &format!("{path}/snapshot/{SNAPSHOT}/rollback"),
                        json!({ "start": 1 }),
                        "resuming the live snapshot",
                    )
                    .await?;
                // The rollback restored the snapshot's tags: held again, by this instance.
                let mut tags = self.tags(vmid).await?;
                tags.push(BUSY_TAG.into());
                self.set_tags(vmid, &tags).await?;
                self.rest.call(Method::Put, &format!("{path}/config"), json!({ "description": owner_note(spec) })).await?;
                let status = self.rest.call(Method::Get, &format!("{path}/status/current"), Value::Null).await?;
                if status["status"].as_str() != Some("running") {
                    self.rest.task(Method::Post, &format!("{path}/status/start"), json!({}), "starting the VM").await?;
                }
            } else {
                let mut sizes = json!({ "tags": "daas", "description": owner_note(spec) });
                if spec.memory > 0 {
                    sizes["memory"] = json!((spec.memory as u64).div_ceil(1 << 20));
                }
                if spec.cpus > 0 {
                    sizes["cores"] = json!(spec.cpus);
                }
                self.rest.call(Method::Put, &format!("{path}/config"), sizes).await?;
                self.rest.task(Method::Post, &format!("{path}/status/start"), json!({}), "starting the VM").await?;
            }
            self.wait_agent(vmid).await?;
            if let Some(cmd) = command.filter(|c| !c.is_empty()) {
                self.rest.call(Method::Post, &format!("{path}/agent/exec"), json!({ "command": cmd })).await?;
            }
            let port = self.consoles.open(vmid, &spec.vnc_password).await?;
            Ok::<_, VmError>(port)
        };
        match started.await {
            Ok(port) => {
                tracing::info!(vm = %spec.name, vmid, artifact = %spec.artifact, resumed = held, "Proxmox VM started");
                Ok((vmid.to_string(), spec.vnc_port.map(|_| Endpoint { host: "127.0.0.1".into(), port })))
            }
            Err(e) => {
                if let Err(undo) = self.remove(&vmid.to_string()).await {
                    tracing::warn!(vmid, error = %undo, "a failed Proxmox start could not be undone");
                }
                Err(e)
            }
        }
    }

    /// Hold a stopped live-snapshot artifact nobody holds (tagged busy): true when this
    /// caller got it.
    async fn claim(&self, artifact: &Vm) -> Result<bool, VmError> {
        let lock = self.clone_locks.lock().unwrap_or_else(|p| p.into_inner()).entry(artifact.vmid).or_default().clone();
        let _one = lock.lock().await;
        let status = self.rest.call(Method::Get, &format!("{}/status/current", self.vm_path(artifact.vmid)), Value::Null).await?;
        let mut tags = self.tags(artifact.vmid).await?;
        if status["status"].as_str() == Some("running") || tags.iter().any(|t| t == BUSY_TAG) {
            return Ok(false);
        }
        tags.push(BUSY_TAG.into());
        self.set_tags(artifact.vmid, &tags).await?;
        Ok(true)
    }

    /// Wait for the guest agent's ping.
    async fn wait_agent(&self, vmid: u64) -> Result<(), VmError> {
        let deadline = Instant::now() + self.boot_timeout;
        loop {
            match self.rest.call(Method::Post, &format!("{}/agent/ping", self.vm_path(vmid)), json!({})).await {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(VmError::Timeout {
                        what: format!(
                            "the guest agent of Proxmox VM {vmid} did not answer within {} ms ({e})",
                            self.boot_timeout.as_millis()
                        ),
                        console: String::new(),
                    })
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    async fn vmid_of(&self, name: &str) -> Result<u64, VmError> {
        Ok(self.find_or_404(name).await?.vmid)
    }

    /// Run a command through the guest agent, at most `limit`.
    pub async fn exec(&self, name: &str, command: &[String], limit: Duration) -> Result<(i64, String), VmError> {
        if command.is_empty() {
            return Err(VmError::BadRequest("exec needs a command".into()));
        }
        let vmid = self.vmid_of(name).await?;
        self.exec_in(vmid, command, limit).await
    }

    async fn exec_in(&self, vmid: u64, command: &[String], limit: Duration) -> Result<(i64, String), VmError> {
        let path = self.vm_path(vmid);
        let started = self.rest.call(Method::Post, &format!("{path}/agent/exec"), json!({ "command": command })).await?;
        let pid = number(&started["pid"]).ok_or_else(|| VmError::Failed(format!("Proxmox's agent named no pid: {started}")))?;
        let deadline = Instant::now() + limit;
        let mut pause = Duration::from_millis(20);
        loop {
            let s = self.rest.call(Method::Get, &format!("{path}/agent/exec-status"), json!({ "pid": pid })).await?;
            if flag(&s["exited"]) {
                // Proxmox hands the agent's output decoded.
                let output = format!("{}{}", s["out-data"].as_str().unwrap_or_default(), s["err-data"].as_str().unwrap_or_default());
                let code = s["exitcode"].as_i64().or_else(|| s["signal"].as_i64().map(|sig| 128 + sig)).unwrap_or(-1);
                return Ok((code, output));
            }
            if Instant::now() >= deadline {
                let _ = self
                    .rest
                    .call(Method::Post, &format!("{path}/agent/exec"), json!({ "command": ["kill", "-9", pid.to_string()] }))
                    .await;
                return Err(VmError::Timeout {
                    what: format!("`{}` ran longer than {} ms in VM {vmid}; it was killed", command[0], limit.as_millis()),
                    console: String::new(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// Write a file in the guest (its directory made first), with permission bits `mode`.
    pub async fn put_file(&self, name: &str, path: &str, content: &[u8], mode: u32) -> Result<(), VmError> {
        use base64::{engine::general_purpose::STANDARD, Engine as _};
        let file = std::path::Path::new(path);
        let (Some(parent), true) = (file.parent(), file.is_absolute() && file.file_name().is_some()) else {
            return Err(VmError::BadRequest(format!("`{path}` is not an absolute path to a file")));
        };
        let vmid = self.vmid_of(name).await?;
        let limit = Duration::from_secs(30);
        VmError::checked(self.exec_in(vmid, &["mkdir".into(), "-p".into(), parent.to_string_lossy().into_owned()], limit).await?, "mkdir")?;
        // encode=0: the content is base64 already (binary-safe).
        let params = json!({ "file": path, "content": STANDARD.encode(content), "encode": 0 });
        self.rest.call(Method::Post, &format!("{}/agent/file-write", self.vm_path(vmid)), params).await?;
        VmError::checked(self.exec_in(vmid, &["chmod".into(), format!("{:o}", mode & 0o7777), path.into()], limit).await?, "chmod")
    }

    /// Shut a VM down (forced when it does not within 30 s).
    pub async fn stop(&self, name: &str) -> Result<(), VmError> {
        let vm = self.find_or_404(name).await?;
        self.halt(&vm).await
    }

    async fn halt(&self, vm: &Vm) -> Result<(), VmError> {
        if !vm.running {
            return Ok(());
        }
        let path = self.vm_path(vm.vmid);
        let _ = self.exec_in(vm.vmid, &["sync".into()], Duration::from_secs(10)).await;
        self.rest
            .task(Method::Post, &format!("{path}/status/shutdown"), json!({ "timeout": 30, "forceStop": 1 }), "shutting the VM down")
            .await
    }

    /// Capture: a live snapshot (memory included) then stopped, or a template; either way
    /// renamed after the artifact and tagged as one.
    pub async fn capture(&self, name: &str, artifact: &str, live: bool) -> Result<String, VmError> {
        let vm = self.find_or_404(name).await?;
        if self.find(artifact).await?.is_some() {
            return Err(VmError::Conflict(format!("a VM named `{artifact}` exists already on Proxmox")));
        }
        let path = self.vm_path(vm.vmid);
        let named = json!({ "name": artifact, "tags": ARTIFACT_TAG });
        if live {
            if !vm.running {
                return Err(VmError::Conflict(format!("VM {} is not running: a live snapshot needs it running", vm.vmid)));
            }
            // Named first: a rollback restores the configuration the snapshot saw.
            self.rest.call(Method::Put, &format!("{path}/config"), named).await?;
            let params = json!({ "snapname": SNAPSHOT, "vmstate": 1, "description": format!("daas: {artifact}") });
            self.rest.task(Method::Post, &format!("{path}/snapshot"), params, "the live snapshot").await?;
            self.rest.task(Method::Post, &format!("{path}/status/stop"), json!({}), "stopping the snapshotted VM").await?;
        } else {
            self.halt(&vm).await?;
            self.rest.task(Method::Post, &format!("{path}/template"), json!({}), "making the VM a template").await?;
            self.rest.call(Method::Put, &format!("{path}/config"), named).await?;
        }
        self.consoles.close(vm.vmid);
        tracing::info!(vmid = vm.vmid, %artifact, live, "Proxmox VM captured");
        Ok(vm.vmid.to_string())
    }

    /// Remove an instance: deleted (stopped first, purged), or, for an artifact VM an
    /// instance held, stopped and let go.
    pub async fn remove(&self, name: &str) -> Result<(), VmError> {
        let vm = self.find_or_404(name).await?;
        self.consoles.close(vm.vmid);
        let path = self.vm_path(vm.vmid);
        let tags = self.tags(vm.vmid).await?;
        if vm.running {
            self.rest.task(Method::Post, &format!("{path}/status/stop"), json!({}), "stopping the VM").await?;
        }
        if tags.iter().any(|t| t == ARTIFACT_TAG) {
            let kept: Vec<String> = tags.into_iter().filter(|t| t != BUSY_TAG).collect();
            return self.set_tags(vm.vmid, &kept).await;
        }
        self.rest.task(Method::Delete, &path, json!({ "purge": 1 }), "removing the VM").await
    }

    /// Remove an artifact the lifecycle made (tagged as one): refused by Proxmox while
    /// linked clones use its disks.
    pub async fn remove_artifact(&self, name: &str) -> Result<(), VmError> {
        let vm = self.find_or_404(name).await?;
        if !self.tags(vm.vmid).await?.iter().any(|t| t == ARTIFACT_TAG) {
            return Err(VmError::Conflict(format!("VM {} (`{name}`) is no artifact of the lifecycle: remove it in Proxmox", vm.vmid)));
        }
        let path = self.vm_path(vm.vmid);
        if vm.running {
            self.rest.task(Method::Post, &format!("{path}/status/stop"), json!({}), "stopping the VM").await?;
        }
        self.rest.task(Method::Delete, &path, json!({ "purge": 1 }), "removing the artifact").await
    }

    /// A VM's state: `running`, `paused`, `exited`; none: no such VM.
    pub async fn status(&self, name: &str) -> Result<Option<String>, VmError> {
        let Some(vm) = self.find(name).await? else { return Ok(None) };
        let s = self.rest.call(Method::Get, &format!("{}/status/current", self.vm_path(vm.vmid)), Value::Null).await?;
        Ok(Some(match (s["status"].as_str(), s["qmpstatus"].as_str()) {
            (Some("running"), Some("paused")) => "paused".into(),
            (Some("running"), _) => "running".into(),
            _ => "exited".into(),
        }))
    }

    /// Where the proxy reaches a VM's console: its bridge on loopback.
    pub async fn vnc(&self, name: &str) -> Result<Endpoint, VmError> {
        let vmid = self.vmid_of(name).await?;
        let port = self.consoles.port(vmid).ok_or_else(|| {
            VmError::Conflict(format!(
                "VM {vmid}'s console is not bridged (the server restarted since its start): stop the app and start it again"
            ))
        })?;
        Ok(Endpoint { host: "127.0.0.1".into(), port })
    }

    /// The templates (VMs marked as such) and the site's artifacts.
    pub async fn templates_and_artifacts(&self) -> Result<(Vec<String>, Vec<String>), VmError> {
        let mut templates = Vec::new();
        let mut artifacts = Vec::new();
        for vm in self.vms().await? {
            if vm.name.starts_with("daas-object-") {
                artifacts.push(vm.name);
            } else if vm.template {
                templates.push(if vm.name.is_empty() { vm.vmid.to_string() } else { vm.name });
            }
        }
        Ok((templates, artifacts))
    }

    /// The VMs (by id) that are or hold an instance, with the instance their description
    /// names: clones named `daas-…`, and artifacts tagged busy.
    pub async fn owned(&self) -> Result<Vec<(String, String)>, VmError> {
        let mut owned = Vec::new();
        for vm in self.vms().await? {
            if !vm.name.starts_with("daas-") || vm.template {
                continue;
            }
            let config = self.config(vm.vmid).await?;
            let tags = config["tags"].as_str().unwrap_or_default();
            if vm.name.starts_with("daas-object-") && !tags.contains(BUSY_TAG) {
                continue;
            }
            if let Some(instance) = owner_of(&config) {
                owned.push((vm.vmid.to_string(), instance));
            }
        }
        Ok(owned)
    }

    /// The site's instances (VMs named `daas-…` that are no artifacts).
    pub async fn instances(&self) -> Result<Vec<VmInstance>, VmError> {
        Ok(self
            .vms()
            .await?
            .into_iter()
            .filter(|v| v.name.starts_with("daas-") && !v.name.starts_with("daas-object-") && !v.template)
            .map(|v| VmInstance {
                name: v.name,
                state: if v.running { "running" } else { "exited" }.into(),
                artifact: String::new(),
                memory_mb: 0,
                rss_bytes: None,
            })
            .collect())
    }
}

/// The note in a VM's description that names the instance it is (the phases plugin's
/// `daas.instance` label): reconcile finds orphans by it.
fn owner_note(spec: &MachineSpec) -> String {
    format!("{INSTANCE_LABEL}={}", spec.labels.get(INSTANCE_LABEL).map(String::as_str).unwrap_or_default())
}

/// The instance a VM's description names.
fn owner_of(config: &Value) -> Option<String> {
    config["description"]
        .as_str()?
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{INSTANCE_LABEL}=")))
        .filter(|id| !id.is_empty())
        .map(String::from)
}

/// A clone worth another try: its source's lock timed out, or its id was taken.
fn retryable_clone(e: &VmError) -> bool {
    let m = e.to_string();
    (m.contains("can't lock file") && m.contains("got timeout")) || m.contains("already exists")
}
