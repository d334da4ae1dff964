//! The QEMU backend: VMs on this server, under KVM where it works and TCG otherwise.
//!
//! Everything lives under the state directory, one directory per thing:
//!
//! - `artifacts/<name>/`: `disk.qcow2`, frozen (never written again: instances and later
//!   artifacts are qcow2 overlays on it), `machine.json` (how it boots, its memory and
//!   CPUs, the artifact it was made from) and, for a live snapshot, `state`: the
//!   machine's memory and devices as QEMU's migration stream wrote them. A template of
//!   `[[vm_api.templates]]` is an artifact whose disk is the configured file.
//! - `instances/<name>/`: `disk.qcow2` (a linked clone: an overlay on its artifact's
//!   disk), `machine.json`, `qemu.pid`, `qmp.sock`, `qga.sock` (the guest agent's
//!   virtio-serial port) and `console.log` (the serial console).
//!
//! An instance of a live snapshot starts with `-incoming "exec:cat state"` on its own
//! overlay of the snapshot's disk, so any number of instances resume one snapshot at the
//! same time (qcow2's internal snapshots live in one file and could serve one). QEMU runs
//! daemonized: VMs outlive a restart of the server, as containers do, and are found
//! again by their pid file.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use daas_common::{
    config::{VmApiSection, VmTemplate},
    protocols::{Endpoint, MachineSpec, VmInstance},
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::{process::Command, sync::OnceCell, time::Instant};

use crate::{
    error::VmError,
    qapi::{Agent, Qmp},
};

/// The longest Unix socket path (`sun_path` holds 108 bytes with its NUL).
const SOCKET_PATH_MAX: usize = 107;
/// The longest instance or artifact name (a machine name is `daas-` and a 36-character id).
const NAME_MAX: usize = 64;

/// How an artifact boots.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Boot {
    /// A kernel booted directly (`-kernel`); none: the disk's boot loader.
    pub kernel: Option<PathBuf>,
    /// Its initrd.
    pub initrd: Option<PathBuf>,
    /// Its command line.
    pub append: String,
}

/// `machine.json`: what an artifact or instance is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineFile {
    /// How it boots.
    pub boot: Boot,
    /// Memory in MiB: an instance of a live snapshot has its snapshot's.
    pub memory_mb: u64,
    /// CPUs: likewise.
    pub cpus: u32,
    /// The artifact it was made from (an artifact's parent; a template has none).
    pub artifact: String,
    /// An artifact: a live snapshot (its `state` holds the memory).
    pub live: bool,
    /// An instance: its VNC port on 127.0.0.1, once started.
    pub vnc_port: Option<u16>,
    /// An instance: the labels its maker gave it (the phases plugin's `daas.instance`
    /// finds its row again).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// An artifact found by name.
struct Artifact {
    disk: PathBuf,
    /// The saved state of a live snapshot.
    state: Option<PathBuf>,
    machine: MachineFile,
}

/// The QEMU backend.
pub struct Qemu {
    root: PathBuf,
    binary: PathBuf,
    accel_setting: String,
    accel: OnceCell<&'static str>,
    memory_mb: u64,
    cpus: u32,
    vnc_displays: (u16, u16),
    boot_timeout: Duration,
    console_lines: usize,
    templates: BTreeMap<String, (PathBuf, Boot)>,
    /// One operation at a time per instance: QMP and the agent serve one client each.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Qemu {
    /// The backend for `[vm_api]`; relative paths are the site's. Refuses a state
    /// directory too long for its sockets and templates without a disk.
    pub fn new(cfg: &VmApiSection, site: &Path) -> Result<Qemu, VmError> {
        let at_site = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { site.join(p) };
        let root = at_site(&cfg.state_dir);
        let longest = root.join("instances").join(format!("daas-{}", "x".repeat(36))).join("qmp.sock");
        if longest.as_os_str().len() > SOCKET_PATH_MAX {
            return Err(VmError::BadRequest(format!(
                "[vm_api] state_dir `{}` is too long for the VMs' control sockets (at most {} bytes with `{}` after it); choose a shorter path",
                root.display(),
                SOCKET_PATH_MAX - (longest.as_os_str().len() - root.as_os_str().len()),
                longest.strip_prefix(&root).unwrap_or(&longest).display()
            )));
        }
        if root.to_string_lossy().contains(['\'', '\n']) {
            return Err(VmError::BadRequest(format!("[vm_api] state_dir `{}` may hold neither quotes nor newlines", root.display())));
        }
        let mut templates = BTreeMap::new();
        for t in &cfg.templates {
            check_name("template", &t.name)?;
            if t.disk.as_os_str().is_empty() {
                return Err(VmError::BadRequest(format!("[[vm_api.templates]] `{}` names no disk", t.name)));
            }
            templates.insert(t.name.clone(), (at_site(&t.disk), boot_of(t, &at_site)));
        }
        if !matches!(cfg.accel.as_str(), "auto" | "kvm" | "tcg") {
            return Err(VmError::BadRequest(format!("[vm_api] accel `{}` is none of auto, kvm, tcg", cfg.accel)));
        }
        Ok(Qemu {
            root,
            binary: cfg.qemu.clone(),
            accel_setting: cfg.accel.clone(),
            accel: OnceCell::new(),
            memory_mb: cfg.memory_mb.max(16),
            cpus: cfg.cpus.max(1),
            vnc_displays: (cfg.vnc_display_base, cfg.vnc_displays.max(1)),
            boot_timeout: Duration::from_millis(cfg.boot_timeout_ms.max(1000)),
            console_lines: cfg.console_lines,
            templates,
            locks: Mutex::default(),
        })
    }

    /// The templates' names.
    pub fn templates(&self) -> Vec<String> {
        self.templates.keys().cloned().collect()
    }

    fn instance_dir(&self, name: &str) -> PathBuf {
        self.root.join("instances").join(name)
    }

    fn artifact_dir(&self, name: &str) -> PathBuf {
        self.root.join("artifacts").join(name)
    }

    fn lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).entry(name.to_string()).or_default().clone()
    }

    /// The accelerator: as configured, or for `auto` KVM when a probe boot under it
    /// works (once per server), TCG otherwise.
    pub async fn accel(&self) -> &'static str {
        *self
            .accel
            .get_or_init(|| async {
                match self.accel_setting.as_str() {
                    "kvm" => "kvm",
                    "tcg" => "tcg",
                    _ => self.probe_kvm().await,
                }
            })
            .await
    }

    /// The accelerator if it is known already (info never waits for a probe).
    pub fn accel_known(&self) -> Option<&'static str> {
        self.accel.get().copied()
    }

    /// Boot a template's kernel under KVM with no root disk: where KVM works it panics
    /// ("VFS: unable to mount root") and QEMU exits (`-no-reboot`) within a second or
    /// two. Where a KVM module answers but guests hang (these machines), the probe runs
    /// into its time limit.
    async fn probe_kvm(&self) -> &'static str {
        if std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
            tracing::info!("no usable /dev/kvm: VMs run under TCG");
            return "tcg";
        }
        let Some(kernel) = self.templates.values().find_map(|(_, b)| b.kernel.clone()) else {
            tracing::info!(
                "no template boots a kernel directly to probe KVM with: VMs run under TCG (set [vm_api] accel = \"kvm\" to force it)"
            );
            return "tcg";
        };
        // Where KVM hangs guests, the probe's QEMU never ends by itself: `timeout` kills
        // it, also when this server dies first. (No kill_on_drop: a SIGKILL to `timeout`
        // would orphan the QEMU it watches; tokio reaps the dropped child.)
        let mut cmd = Command::new("timeout");
        cmd.args(["-s", "KILL", "9"])
            .arg(&self.binary)
            .args(["-machine", "q35", "-accel", "kvm", "-m", "128", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"])
            .arg("-kernel")
            .arg(&kernel)
            .args(["-append", "console=ttyS0 panic=-1", "-serial", "stdio"])
            .stdin(std::process::Stdio::null());
        let works = match tokio::time::timeout(Duration::from_secs(8), cmd.output()).await {
            Ok(Ok(out)) => out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Kernel panic"),
            _ => false,
        };
        tracing::info!(kvm = works, "probed KVM with a boot of {}", kernel.display());
        if works {
            "kvm"
        } else {
            "tcg"
        }
    }

    /// QEMU's version (`QEMU emulator version 7.2.22 ...`'s number).
    pub async fn version(&self) -> Result<String, VmError> {
        let out = Command::new(&self.binary).arg("--version").output().await.map_err(|e| self.missing(e))?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.split_whitespace().nth(3).unwrap_or("unknown").to_string())
    }

    fn missing(&self, e: std::io::Error) -> VmError {
        VmError::Unavailable(format!(
            "QEMU ({}) cannot be run: {e}; install qemu-system-x86 (scripts/setup) or set [vm_api] qemu in vm.toml",
            self.binary.display()
        ))
    }

    /// An artifact by name: one the lifecycle made, or a configured template.
    fn artifact(&self, name: &str) -> Result<Artifact, VmError> {
        check_name("artifact", name)?;
        let dir = self.artifact_dir(name);
        if let Some(machine) = read_machine(&dir)? {
            let state = machine.live.then(|| dir.join("state"));
            return Ok(Artifact { disk: dir.join("disk.qcow2"), state, machine });
        }
        if let Some((disk, boot)) = self.templates.get(name) {
            let machine = MachineFile { boot: boot.clone(), memory_mb: self.memory_mb, cpus: self.cpus, ..Default::default() };
            return Ok(Artifact { disk: disk.clone(), state: None, machine });
        }
        Err(VmError::NotFound(format!(
            "no VM artifact or template named `{name}`; the templates are: {}",
            if self.templates.is_empty() { "none ([[vm_api.templates]] in vm.toml)".to_string() } else { self.templates().join(", ") }
        )))
    }

    /// Make and start an instance; answered once its guest agent answers (a VNC server
    /// greets before the guest runs, so that is no sign of life). With `command`, that
    /// runs in the guest once it is up. A failed start leaves nothing behind.
    pub async fn instantiate(&self, spec: &MachineSpec, command: Option<&[String]>) -> Result<(String, Option<Endpoint>), VmError> {
        check_name("instance", &spec.name)?;
        let artifact = self.artifact(&spec.artifact)?;
        let lock = self.lock(&spec.name);
        let _one = lock.lock().await;
        let dir = self.instance_dir(&spec.name);
        if dir.exists() {
            return Err(VmError::Conflict(format!("a VM named `{}` exists already", spec.name)));
        }
        let accel = self.accel().await;
        let mut machine = artifact.machine.clone();
        machine.artifact = spec.artifact.clone();
        machine.live = false;
        machine.labels = spec.labels.clone();
        // A snapshot's memory size and CPUs are part of its saved state.
        if artifact.state.is_none() {
            if spec.memory > 0 {
                machine.memory_mb = (spec.memory as u64).div_ceil(1 << 20).max(16);
            }
            if spec.cpus > 0 {
                machine.cpus = spec.cpus as u32;
            }
        }
        make_dir(&dir)?;
        let started = async {
            self.clone_disk(&artifact, &dir.join("disk.qcow2"), if artifact.state.is_none() { spec.disk } else { 0 }).await?;
            write_machine(&dir, &machine)?;
            self.spawn(&dir, &spec.name, &machine, accel, artifact.state.as_deref()).await?;
            let mut qmp = Qmp::connect(&dir.join("qmp.sock"), Duration::from_secs(10)).await?;
            if artifact.state.is_some() {
                self.wait_resumed(&mut qmp, &dir).await?;
            }
            // The password is no part of a snapshot: every start sets its own (VNC
            // passwords are 8 characters at most; VNC authentication uses no more).
            let password: String = spec.vnc_password.chars().take(8).collect();
            qmp.execute("change-vnc-password", json!({ "password": password })).await?;
            let vnc = qmp.execute("query-vnc", Value::Null).await?;
            let port: u16 = vnc
                .get("service")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| VmError::Failed(format!("QEMU named no VNC port for `{}`: {vnc}", spec.name)))?;
            drop(qmp);
            machine.vnc_port = Some(port);
            write_machine(&dir, &machine)?;
            let mut agent = Agent::connect(&dir.join("qga.sock"), self.boot_timeout).await.map_err(|e| self.with_console(&dir, e))?;
            if artifact.state.is_some() {
                // The guest's clock is as old as the snapshot.
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
                if let Err(e) = agent.execute("guest-set-time", json!({ "time": now })).await {
                    tracing::warn!(vm = %spec.name, error = %e, "the resumed guest's clock could not be set");
                }
            }
            if let Some(cmd) = command.filter(|c| !c.is_empty()) {
                agent.execute("guest-exec", json!({ "path": cmd[0], "arg": &cmd[1..] })).await?;
            }
            Ok::<_, VmError>(port)
        };
        match started.await {
            Ok(port) => {
                tracing::info!(vm = %spec.name, artifact = %spec.artifact, accel, resumed = artifact.state.is_some(), port, "VM started");
                Ok((spec.name.clone(), spec.vnc_port.map(|_| Endpoint { host: "127.0.0.1".into(), port })))
            }
            Err(e) => {
                self.destroy(&dir).await;
                Err(e)
            }
        }
    }

    /// A linked clone of the artifact's disk (a qcow2 overlay naming it as its backing
    /// file); `size` bytes when more than 0 (no smaller than the artifact's).
    async fn clone_disk(&self, artifact: &Artifact, to: &Path, size: i64) -> Result<(), VmError> {
        let mut cmd = Command::new("qemu-img");
        cmd.args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"]).arg(&artifact.disk).arg(to);
        if size > 0 {
            let have = virtual_size(&artifact.disk).await?;
            if (size as u64) < have {
                return Err(VmError::BadRequest(format!(
                    "the object's disk size ({size} bytes) is smaller than its artifact's ({have} bytes); raise hw_disksize or set it to 0"
                )));
            }
            cmd.arg(size.to_string());
        }
        run(cmd, "qemu-img create").await
    }

    /// Start QEMU for the instance in `dir`, daemonized (answered once it runs).
    async fn spawn(&self, dir: &Path, name: &str, m: &MachineFile, accel: &str, state: Option<&Path>) -> Result<(), VmError> {
        let mut cmd = Command::new(&self.binary);
        let accel_arg = if accel == "kvm" { "kvm".to_string() } else { "tcg,tb-size=32".to_string() };
        let (base, count) = self.vnc_displays;
        cmd.current_dir(dir)
            .arg("-name")
            .arg(format!("{name},process={name}"))
            .args(["-machine", "q35", "-accel", &accel_arg, "-nodefaults", "-no-user-config", "-display", "none", "-vga", "std"])
            .args(["-m", &m.memory_mb.to_string(), "-smp", &m.cpus.to_string()])
            .arg("-drive")
            .arg(format!("file={},if=virtio,format=qcow2,cache=writeback", dir.join("disk.qcow2").display()))
            .args(["-device", "virtio-serial-pci", "-device", "virtserialport,chardev=qga,name=org.qemu.guest_agent.0"])
            .arg("-chardev")
            .arg(format!("socket,id=qga,path={},server=on,wait=off", dir.join("qga.sock").display()))
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", dir.join("qmp.sock").display()))
            .arg("-vnc")
            .arg(format!("127.0.0.1:{base},to={},password=on", base.saturating_add(count - 1)))
            .arg("-serial")
            .arg(format!("file:{}", dir.join("console.log").display()))
            .arg("-pidfile")
            .arg(dir.join("qemu.pid"))
            .arg("-daemonize");
        if let Some(kernel) = &m.boot.kernel {
            cmd.arg("-kernel").arg(kernel);
            if let Some(initrd) = &m.boot.initrd {
                cmd.arg("-initrd").arg(initrd);
            }
            if !m.boot.append.is_empty() {
                cmd.arg("-append").arg(&m.boot.append);
            }
        }
        if let Some(state) = state {
            cmd.arg("-incoming").arg(format!("exec:cat '{}'", state.display()));
        }
        cmd.stdin(std::process::Stdio::null());
        let out = cmd.output().await.map_err(|e| self.missing(e))?;
        if !out.status.success() {
            return Err(VmError::Failed(format!("QEMU did not start `{name}`: {}", String::from_utf8_lossy(&out.stderr).trim())));
        }
        Ok(())
    }

    /// Wait until an incoming instance has loaded its snapshot and runs.
    async fn wait_resumed(&self, qmp: &mut Qmp, dir: &Path) -> Result<(), VmError> {
        let deadline = Instant::now() + self.boot_timeout;
        loop {
            match qmp.status().await?.as_str() {
                "running" => return Ok(()),
                // The snapshot was saved paused, and so it loads: resumed once loaded.
                "paused" if migrated(qmp).await? => {
                    qmp.execute("cont", Value::Null).await?;
                }
                "inmigrate" | "prelaunch" | "paused" if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(10)).await,
                other => {
                    let why = format!("the VM did not resume from its snapshot (QEMU's state: {other})");
                    return Err(self.with_console(dir, VmError::Timeout { what: why, console: String::new() }));
                }
            }
        }
    }

    /// A timeout with the console's last lines.
    fn with_console(&self, dir: &Path, e: VmError) -> VmError {
        match e {
            VmError::Timeout { what, .. } => VmError::Timeout { what, console: console_tail(&dir.join("console.log"), self.console_lines) },
            e => e,
        }
    }

    fn existing(&self, name: &str) -> Result<PathBuf, VmError> {
        check_name("instance", name)?;
        let dir = self.instance_dir(name);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(VmError::NotFound(format!("no VM named `{name}`")))
        }
    }

    fn running(&self, name: &str) -> Result<PathBuf, VmError> {
        let dir = self.existing(name)?;
        if qemu_pid(&dir).is_none() {
            return Err(VmError::Conflict(format!("the VM `{name}` is not running")));
        }
        Ok(dir)
    }

    /// Run a command in the guest through its agent, at most `limit`; (exit code,
    /// stdout then stderr).
    pub async fn exec(&self, name: &str, command: &[String], limit: Duration) -> Result<(i64, String), VmError> {
        let Some((path, args)) = command.split_first() else {
            return Err(VmError::BadRequest("exec needs a command".into()));
        };
        let lock = self.lock(name);
        let _one = lock.lock().await;
        let dir = self.running(name)?;
        let mut agent = Agent::connect(&dir.join("qga.sock"), Duration::from_secs(10)).await?;
        exec_in(&mut agent, path, args, limit).await
    }

    /// Write a file in the guest (its directory made first), with permission bits `mode`.
    pub async fn put_file(&self, name: &str, path: &str, content: &[u8], mode: u32) -> Result<(), VmError> {
        let file = Path::new(path);
        let (Some(parent), true) = (file.parent(), file.is_absolute() && file.file_name().is_some()) else {
            return Err(VmError::BadRequest(format!("`{path}` is not an absolute path to a file")));
        };
        if path.contains('\0') || file.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(VmError::BadRequest(format!("`{}` may hold neither NUL nor `..`", path.escape_debug())));
        }
        let lock = self.lock(name);
        let _one = lock.lock().await;
        let dir = self.running(name)?;
        let mut agent = Agent::connect(&dir.join("qga.sock"), Duration::from_secs(10)).await?;
        let limit = Duration::from_secs(10);
        let parent = parent.to_string_lossy().into_owned();
        VmError::checked(exec_in(&mut agent, "mkdir", &["-p".into(), parent], limit).await?, "mkdir")?;
        let handle = agent.execute("guest-file-open", json!({ "path": path, "mode": "w" })).await?;
        let written = async {
            // The agent reads one JSON line at a time: chunks keep each line small.
            for chunk in content.chunks(48 * 1024) {
                agent.execute("guest-file-write", json!({ "handle": handle, "buf-b64": STANDARD.encode(chunk) })).await?;
            }
            Ok::<_, VmError>(())
        }
        .await;
        agent.execute("guest-file-close", json!({ "handle": handle })).await?;
        written?;
        VmError::checked(exec_in(&mut agent, "chmod", &[format!("{:o}", mode & 0o7777), path.to_string()], limit).await?, "chmod")
    }

    /// Stop an instance: the guest's writes flushed to its disk first (`sync` through
    /// the agent), then QEMU quits. A stopped instance is fine.
    pub async fn stop(&self, name: &str) -> Result<(), VmError> {
        let lock = self.lock(name);
        let _one = lock.lock().await;
        let dir = self.existing(name)?;
        self.halt(&dir).await
    }

    async fn halt(&self, dir: &Path) -> Result<(), VmError> {
        let Some(pid) = qemu_pid(dir) else { return Ok(()) };
        match Agent::connect(&dir.join("qga.sock"), Duration::from_secs(2)).await {
            Ok(mut agent) => {
                if let Err(e) = exec_in(&mut agent, "sync", &[], Duration::from_secs(10)).await {
                    tracing::warn!(vm = %dir.display(), error = %e, "the guest's disk could not be synced before its stop");
                }
            }
            Err(e) => tracing::warn!(vm = %dir.display(), error = %e, "no guest agent to sync the disk before the stop"),
        }
        if let Ok(mut qmp) = Qmp::connect(&dir.join("qmp.sock"), Duration::from_secs(2)).await {
            let _ = qmp.execute("quit", Value::Null).await;
        }
        end_process(pid, dir).await;
        Ok(())
    }

    /// Capture an instance as the artifact `artifact`. Live: paused, its memory and
    /// devices saved to the artifact's `state` by a migration to a file, then QEMU
    /// quits; otherwise stopped first. Either way the instance's overlay becomes the
    /// artifact's frozen disk, and the instance gets a new overlay on it, so that it
    /// stays what it was.
    pub async fn capture(&self, name: &str, artifact: &str, live: bool) -> Result<String, VmError> {
        check_name("artifact", artifact)?;
        if self.templates.contains_key(artifact) {
            return Err(VmError::Conflict(format!("`{artifact}` is a configured template's name; choose another artifact name")));
        }
        let lock = self.lock(name);
        let _one = lock.lock().await;
        let dir = self.existing(name)?;
        let target = self.artifact_dir(artifact);
        if target.exists() {
            return Err(VmError::Conflict(format!("a VM artifact named `{artifact}` exists already")));
        }
        let mut machine = read_machine(&dir)?.ok_or_else(|| VmError::NotFound(format!("the VM `{name}` has no machine.json")))?;
        let partial = self.root.join("artifacts").join(format!(".{artifact}.partial"));
        let _ = std::fs::remove_dir_all(&partial);
        make_dir(&partial)?;
        let made = async {
            if live {
                let pid = qemu_pid(&dir)
                    .ok_or_else(|| VmError::Conflict(format!("the VM `{name}` is not running: a live snapshot needs it running")))?;
                self.save_state(&dir, &partial.join("state")).await?;
                end_process(pid, &dir).await;
            } else {
                self.halt(&dir).await?;
            }
            std::fs::rename(dir.join("disk.qcow2"), partial.join("disk.qcow2")).map_err(|e| VmError::io("moving the VM's disk", e))?;
            let frozen =
                MachineFile { artifact: machine.artifact.clone(), live, vnc_port: None, labels: BTreeMap::new(), ..machine.clone() };
            write_machine(&partial, &frozen)?;
            std::fs::rename(&partial, &target).map_err(|e| VmError::io("naming the artifact", e))?;
            Ok::<_, VmError>(())
        };
        if let Err(e) = made.await {
            // The disk goes back where it was; the instance stays as it is.
            let _ = std::fs::rename(partial.join("disk.qcow2"), dir.join("disk.qcow2"));
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
        let captured = self.artifact(artifact)?;
        self.clone_disk(&captured, &dir.join("disk.qcow2"), 0).await?;
        machine.artifact = artifact.to_string();
        write_machine(&dir, &machine)?;
        tracing::info!(vm = %name, %artifact, live, "VM captured");
        Ok(artifact.to_string())
    }

    /// Pause the VM, write its memory and devices to `to` (QMP `migrate` to a file: QEMU
    /// 7.2 has no `file:` URI, so through `cat`), and quit.
    async fn save_state(&self, dir: &Path, to: &Path) -> Result<(), VmError> {
        let mut qmp = Qmp::connect(&dir.join("qmp.sock"), Duration::from_secs(5)).await?;
        qmp.execute("stop", Value::Null).await?;
        qmp.execute("migrate", json!({ "uri": format!("exec:cat > '{}'", to.display()) })).await?;
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let m = qmp.execute("query-migrate", Value::Null).await?;
            match m.get("status").and_then(Value::as_str).unwrap_or("") {
                "completed" => {
                    // Paused and saved: nothing it does after counts.
                    let _ = qmp.execute("quit", Value::Null).await;
                    return Ok(());
                }
                "failed" | "cancelled" => {
                    let why = m.get("error-desc").and_then(Value::as_str).unwrap_or("no reason given");
                    return Err(VmError::Failed(format!("saving the VM's memory failed: {why}")));
                }
                _ if Instant::now() > deadline => {
                    let _ = qmp.execute("migrate_cancel", Value::Null).await;
                    return Err(VmError::Failed("saving the VM's memory took longer than 300 s".into()));
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Remove an instance: QEMU killed, its directory gone.
    pub async fn remove(&self, name: &str) -> Result<(), VmError> {
        let lock = self.lock(name);
        let _one = lock.lock().await;
        let dir = self.existing(name)?;
        self.destroy(&dir).await;
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
        Ok(())
    }

    async fn destroy(&self, dir: &Path) {
        if let Some(pid) = qemu_pid(dir) {
            if let Ok(mut qmp) = Qmp::connect(&dir.join("qmp.sock"), Duration::from_millis(500)).await {
                let _ = qmp.execute("quit", Value::Null).await;
            }
            end_process(pid, dir).await;
        }
        if let Err(e) = std::fs::remove_dir_all(dir) {
            tracing::warn!(vm = %dir.display(), error = %e, "a VM's directory could not be removed");
        }
    }

    /// Remove an artifact the lifecycle made; refused while instances or other artifacts
    /// are made from it (their disks are overlays on its disk).
    pub async fn remove_artifact(&self, name: &str) -> Result<(), VmError> {
        check_name("artifact", name)?;
        if self.templates.contains_key(name) {
            return Err(VmError::Conflict(format!("`{name}` is a configured template: remove it from vm.toml")));
        }
        let dir = self.artifact_dir(name);
        if read_machine(&dir)?.is_none() {
            return Err(VmError::NotFound(format!("no VM artifact named `{name}`")));
        }
        let users: Vec<String> =
            self.list("artifacts").into_iter().chain(self.list("instances")).filter(|(_, m)| m.artifact == name).map(|(n, _)| n).collect();
        if !users.is_empty() {
            return Err(VmError::Conflict(format!("the VM artifact `{name}` is in use by {}: remove those first", users.join(", "))));
        }
        std::fs::remove_dir_all(&dir).map_err(|e| VmError::io(format!("removing the artifact `{name}`"), e))
    }

    /// Every artifact or instance (`kind`: the directory) with its machine file.
    fn list(&self, kind: &str) -> Vec<(String, MachineFile)> {
        let Ok(entries) = std::fs::read_dir(self.root.join(kind)) else { return Vec::new() };
        let mut all: Vec<(String, MachineFile)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let m = read_machine(&e.path()).ok().flatten()?;
                (!name.starts_with('.')).then_some((name, m))
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The instances' names with the labels they were made with.
    pub fn labelled(&self) -> Vec<(String, BTreeMap<String, String>)> {
        self.list("instances").into_iter().map(|(name, m)| (name, m.labels)).collect()
    }

    /// The artifacts the lifecycle made.
    pub fn artifacts(&self) -> Vec<String> {
        self.list("artifacts").into_iter().map(|(n, _)| n).collect()
    }

    /// The instances, with their state and memory.
    pub fn instances(&self) -> Vec<VmInstance> {
        self.list("instances")
            .into_iter()
            .map(|(name, m)| {
                let pid = qemu_pid(&self.instance_dir(&name));
                VmInstance {
                    state: if pid.is_some() { "running" } else { "exited" }.into(),
                    rss_bytes: pid.and_then(rss_of),
                    name,
                    artifact: m.artifact,
                    memory_mb: m.memory_mb,
                }
            })
            .collect()
    }

    /// An instance's state: `running` (its QEMU runs), `exited`; none: no such VM.
    pub fn status(&self, name: &str) -> Result<Option<String>, VmError> {
        check_name("instance", name)?;
        let dir = self.instance_dir(name);
        if !dir.is_dir() {
            return Ok(None);
        }
        Ok(Some(if qemu_pid(&dir).is_some() { "running" } else { "exited" }.into()))
    }

    /// Where a running instance's VNC server answers.
    pub fn vnc(&self, name: &str) -> Result<Endpoint, VmError> {
        let dir = self.running(name)?;
        let port = read_machine(&dir)?
            .and_then(|m| m.vnc_port)
            .ok_or_else(|| VmError::Conflict(format!("the VM `{name}` has no VNC server yet")))?;
        Ok(Endpoint { host: "127.0.0.1".into(), port })
    }
}

/// Whether an incoming instance has loaded its snapshot.
async fn migrated(qmp: &mut Qmp) -> Result<bool, VmError> {
    let m = qmp.execute("query-migrate", Value::Null).await?;
    Ok(m.get("status").and_then(Value::as_str) == Some("completed"))
}

fn boot_of(t: &VmTemplate, at_site: &dyn Fn(&Path) -> PathBuf) -> Boot {
    let path = |p: &Path| (!p.as_os_str().is_empty()).then(|| at_site(p));
    Boot { kernel: path(&t.kernel), initrd: path(&t.initrd), append: t.append.clone() }
}

/// Names become directory names: letters, digits, `.`, `_`, `-`, not starting with `.`.
fn check_name(what: &str, name: &str) -> Result<(), VmError> {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(VmError::BadRequest(format!(
            "`{}` is no valid {what} name: 1 to {NAME_MAX} letters, digits, `.`, `_` or `-`, not starting with `.`",
            name.escape_debug()
        )))
    }
}

/// A directory only this server's user may enter (it holds the VMs' control sockets).
fn make_dir(dir: &Path) -> Result<(), VmError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| VmError::io(format!("making {}", dir.display()), e))
}

fn read_machine(dir: &Path) -> Result<Option<MachineFile>, VmError> {
    let path = dir.join("machine.json");
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map(Some).map_err(|e| VmError::Failed(format!("{} cannot be read: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(VmError::io(path.display(), e)),
    }
}

fn write_machine(dir: &Path, m: &MachineFile) -> Result<(), VmError> {
    let path = dir.join("machine.json");
    let text = serde_json::to_vec_pretty(m).map_err(|e| VmError::Failed(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| VmError::io(path.display(), e))
}

async fn run(mut cmd: Command, what: &str) -> Result<(), VmError> {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| VmError::Unavailable(format!("{what} cannot be run: {e}; install qemu-utils (scripts/setup)")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(VmError::Failed(format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// A disk's virtual size in bytes.
async fn virtual_size(disk: &Path) -> Result<u64, VmError> {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json", "-U"])
        .arg(disk)
        .output()
        .await
        .map_err(|e| VmError::Unavailable(format!("qemu-img cannot be run: {e}")))?;
    let info: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    info.get("virtual-size")
        .and_then(Value::as_u64)
        .ok_or_else(|| VmError::Failed(format!("qemu-img info {}: {}", disk.display(), String::from_utf8_lossy(&out.stderr).trim())))
}

/// Run a command in the guest and wait for it, at most `limit`: (exit code, stdout then
/// stderr). A command that runs longer is killed (by pid, through the agent).
async fn exec_in(agent: &mut Agent, path: &str, args: &[String], limit: Duration) -> Result<(i64, String), VmError> {
    let started = agent.execute("guest-exec", json!({ "path": path, "arg": args, "capture-output": true })).await?;
    let pid =
        started.get("pid").and_then(Value::as_i64).ok_or_else(|| VmError::Failed(format!("the guest agent named no pid: {started}")))?;
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(5);
    loop {
        let s = agent.execute("guest-exec-status", json!({ "pid": pid })).await?;
        if s.get("exited").and_then(Value::as_bool) == Some(true) {
            let text = |key: &str| s.get(key).and_then(Value::as_str).and_then(|b| STANDARD.decode(b).ok()).unwrap_or_default();
            let mut output = text("out-data");
            output.extend(text("err-data"));
            let code = match (s.get("exitcode").and_then(Value::as_i64), s.get("signal").and_then(Value::as_i64)) {
                (Some(c), _) => c,
                (None, Some(signal)) => 128 + signal,
                (None, None) => -1,
            };
            return Ok((code, String::from_utf8_lossy(&output).into_owned()));
        }
        if Instant::now() >= deadline {
            let _ = agent.execute("guest-exec", json!({ "path": "kill", "arg": ["-9", pid.to_string()] })).await;
            return Err(VmError::Timeout {
                what: format!("`{path}` ran longer than {} ms in the guest; it was killed", limit.as_millis()),
                console: String::new(),
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The running QEMU of an instance directory: its pid file names a live process whose
/// command line names this directory (a pid reused by another process is none).
fn qemu_pid(dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(dir.join("qemu.pid")).ok()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let needle = dir.join("qmp.sock");
    let needle = needle.to_string_lossy();
    String::from_utf8_lossy(&cmdline).contains(needle.as_ref()).then_some(pid)
}

/// Wait up to 5 s for QEMU to end, then kill it.
async fn end_process(pid: i32, dir: &Path) {
    use nix::{sys::signal, unistd::Pid};
    let deadline = Instant::now() + Duration::from_secs(5);
    while qemu_pid(dir) == Some(pid) {
        if Instant::now() >= deadline {
            let _ = signal::kill(Pid::from_raw(pid), signal::Signal::SIGKILL);
            tokio::time::sleep(Duration::from_millis(50)).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The pid file outlives a killed QEMU: gone, the instance reads as stopped.
    let _ = std::fs::remove_file(dir.join("qemu.pid"));
}

/// Resident memory of a process in bytes.
fn rss_of(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// The last `lines` lines of a console log.
fn console_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
