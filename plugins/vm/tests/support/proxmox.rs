//! A simulator of the Proxmox VE REST API, for tests only: what the vm plugin's Proxmox
//! backend is tested against when no Proxmox VE host is at hand. It is not Proxmox.
//!
//! It was written from the public Proxmox VE API documentation (the API viewer's
//! `apidata.js`: paths, parameters, return values) and from Proxmox's own sources, which
//! decide the behaviour that documentation leaves open:
//!
//! * qemu-server `PVE/API2/Qemu.pm` and `PVE/API2/Qemu/Agent.pm`: which checks run before
//!   the task worker is forked (an immediate HTTP 500) and which inside it (a task whose
//!   `exitstatus` is the error), the error messages, the clone's `lock: clone`, the
//!   reserved snapshot names, `vncproxy`'s password and `vncwebsocket`'s checks;
//! * pve-http-server `AnyEvent.pm` and `Formatter/Standard.pm`: the `{"data": …}`
//!   envelope, the error status lines, the 3 s delay of every 401, the 64 KiB body limit,
//!   form-urlencoded and JSON bodies, query parameters overriding body parameters, the
//!   WebSocket upgrade (`Sec-WebSocket-Protocol: binary`);
//! * pve-manager `HTTPServer.pm` and pve-access-control `AccessControl.pm`: tickets in
//!   the `PVEAuthCookie` cookie with a CSRF token for every non-GET, API tokens split at
//!   the last `=`, tickets living 2 h, VNC tickets bound to user, VM and port and accepted
//!   from 20 s before to 40 s after they were issued;
//! * pve-common `PVE/Tools.pm` (`UPID.pm`): the UPID format.
//!
//! One node (`pve`), one user (`daas@pve`) with a password and an API token
//! (`daas@pve!ci`), VMs whose disk is a directory holding a busybox root, a guest agent
//! that runs commands for real with `chroot` into that directory, and an RFB 3.8 server
//! behind `vncwebsocket`. Tasks stay `running` for [`SimOptions::task_delay`]; an
//! operation takes effect when its task stops, and is checked then, as in the worker.
//! Everything lives in one temporary directory, removed on drop; the server listens on
//! 127.0.0.1 only, on a thread of its own with its own tokio runtime.
//!
//! Where it knowingly differs from Proxmox: one node, one storage (`local-lvm`), no
//! permission model beyond the user and its token (no pools, HA, cluster); a config
//! change applies when its task stops (no `pending` section); a snapshot "with RAM" only
//! remembers that the VM ran (its processes do not come back); the guest agent's
//! `exec-status` gives `exited` as 0/1 and its output as (lossy) UTF-8 text; no suspend
//! to disk; the screen is 64x48 of one colour; by default a clone holds its source's lock
//! as Proxmox did before 7.2 (see [`SimOptions::clone_lock_in_task`]).
//!
//! Include it with `#[path = "support/proxmox.rs"] mod proxmox;`.

#![allow(dead_code)]

use std::{
    collections::{BTreeMap, HashMap},
    convert::Infallible,
    fs, io,
    os::unix::{fs::PermissionsExt, process::ExitStatusExt},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, header, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::{
    tungstenite::{handshake::derive_accept_key, protocol::Role, Message},
    WebSocketStream,
};

/// How the simulator behaves where a test wants to choose.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// UPID tasks stay `running` this long, then `stopped` (default 150 ms).
    pub task_delay: Duration,
    /// Tickets (and CSRF tokens) expire after this (default 2 h, as `$ticket_lifetime`).
    pub ticket_lifetime: Duration,
    /// A 401 is answered after this, counted from the request's start (Proxmox: 3 s;
    /// default 0).
    pub auth_delay: Duration,
    /// A clone that finds its source's config locked waits this long, then fails with
    /// `can't lock file '/var/lock/qemu-server/lock-{vmid}.conf' - got timeout`
    /// (Proxmox: 1 s; default 300 ms).
    pub lock_timeout: Duration,
    /// https with a self-signed certificate (default true); false: plain http.
    pub tls: bool,
    /// How a clone locks its source. false (default): every clone holds its source's
    /// lock until its task stops, and a second clone of a locked source waits
    /// `lock_timeout` in the API call, then fails at once with HTTP 500 and no UPID (the
    /// lock taken before forking, as up to Proxmox VE 7.1). true: as `Qemu.pm` does since
    /// 7.2 — the lock is taken inside the worker, shared for a stopped source (clones of
    /// one template then run side by side), exclusive for a running one; a conflict with
    /// another task's lock makes the clone's task fail with that message after
    /// `lock_timeout`.
    pub clone_lock_in_task: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            task_delay: Duration::from_millis(150),
            ticket_lifetime: Duration::from_secs(2 * 3600),
            auth_delay: Duration::ZERO,
            lock_timeout: Duration::from_millis(300),
            tls: true,
            clone_lock_in_task: false,
        }
    }
}

/// A VM as the simulator holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimVm {
    pub vmid: u32,
    pub name: String,
    /// `running` or `stopped`.
    pub status: String,
    /// `running`, `paused` or `stopped`.
    pub qmpstatus: String,
    pub template: bool,
    /// Snapshot names, oldest first.
    pub snapshots: Vec<String>,
    /// The config file's keys (with `lock` while the VM is locked), without `digest`.
    pub config: BTreeMap<String, String>,
}

/// A running simulator. Dropping it stops the server and removes its directory.
pub struct ProxmoxSim {
    /// `https://127.0.0.1:PORT` (`http://` without TLS), without `/api2/json`.
    pub url: String,
    /// `pve`.
    pub node: String,
    /// `daas@pve!ci`.
    pub token_id: String,
    pub token_secret: String,
    /// `daas@pve`.
    pub username: String,
    pub password: String,
    shared: Arc<Shared>,
    server: Mutex<Option<(tokio::sync::oneshot::Sender<()>, JoinHandle<()>)>>,
    dir: tempfile::TempDir,
}

const API_BASE: &str = "/api2";
const MAX_POST: usize = 64 * 1024;
const GUEST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const FB_WIDTH: u16 = 64;
const FB_HEIGHT: u16 = 48;
/// `next_vnc_port`'s range.
const VNC_FIRST_PORT: u16 = 5900;
const VNC_LAST_PORT: u16 = 5999;
/// The VNC proxy task waits this long for its one connection (`$timeout` in vncproxy).
const VNC_ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);
/// QEMU's VNC password expires this long after `qm vncproxy` sets it.
const VNC_PASSWORD_LIFETIME: Duration = Duration::from_secs(30);

impl ProxmoxSim {
    /// Starts a simulator on 127.0.0.1 (a port of its own), on its own thread with its
    /// own tokio runtime, so that it serves sync tests and `#[tokio::test]`s alike.
    /// Returns once it listens.
    pub fn start(opts: SimOptions) -> ProxmoxSim {
        let dir = tempfile::Builder::new().prefix("proxmox-sim-").tempdir().expect("temporary directory");
        fs::create_dir_all(dir.path().join("vms")).expect("vms directory");
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string(), "pve".to_string()])
            .expect("self-signed certificate");
        let tls = opts.tls.then(|| tls_acceptor(&cert));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking listener");
        let port = listener.local_addr().expect("local address").port();
        let scheme = if opts.tls { "https" } else { "http" };

        let shared = Arc::new(Shared {
            root: dir.path().to_path_buf(),
            node: "pve".to_string(),
            username: "daas@pve".to_string(),
            password: format!("pw-{}", hex(&random_bytes(8))),
            token_id: "daas@pve!ci".to_string(),
            token_secret: uuid(),
            cert_pem: cert.cert.pem(),
            opts,
            state: Mutex::new(State { counter: 0x2a3b, next_guest_pid: 1000, ..State::default() }),
        });

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("proxmox-sim".to_string())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("proxmox-sim-rt")
                    .enable_all()
                    .build()
                    .expect("simulator runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    tokio::select! {
                        _ = serve(listener, tls, serving) => {}
                        _ = stop_rx => {}
                    }
                });
                // Drops every connection task, hence every socket and every guest process
                // spawned with kill_on_drop.
                runtime.shutdown_timeout(Duration::from_secs(2));
            })
            .expect("simulator thread");

        ProxmoxSim {
            url: format!("{scheme}://127.0.0.1:{port}"),
            node: shared.node.clone(),
            token_id: shared.token_id.clone(),
            token_secret: shared.token_secret.clone(),
            username: shared.username.clone(),
            password: shared.password.clone(),
            shared,
            server: Mutex::new(Some((stop_tx, thread))),
            dir,
        }
    }

    /// Adds a template VM (stopped, `template: 1`, linked clones allowed) whose disk is a
    /// busybox root. `boots = false`: VMs of this template run, but their guest agent never
    /// answers.
    pub fn add_template(&self, vmid: u32, name: &str, boots: bool) {
        let shared = &self.shared;
        let mut st = shared.lock();
        shared.settle(&mut st);
        assert!(!st.vms.contains_key(&vmid), "VM {vmid} exists already");
        let vm_dir = shared.vm_dir(vmid);
        fs::create_dir_all(&vm_dir).expect("VM directory");
        make_busybox_root(&shared.disk(vmid)).expect("busybox root for a template");
        let mut config = BTreeMap::new();
        for (k, v) in [
            ("name", name.to_string()),
            ("memory", "512".to_string()),
            ("cores", "1".to_string()),
            ("sockets", "1".to_string()),
            ("ostype", "l26".to_string()),
            ("agent", "1".to_string()),
            ("vga", "std".to_string()),
            ("scsihw", "virtio-scsi-pci".to_string()),
            ("scsi0", format!("local-lvm:base-{vmid}-disk-0,size=2G")),
            ("boot", "order=scsi0".to_string()),
            ("net0", format!("virtio={},bridge=vmbr0", mac())),
            ("smbios1", format!("uuid={}", uuid())),
            ("vmgenid", uuid()),
            ("meta", format!("creation-qemu=8.1.5,ctime={}", unix_now())),
            ("template", "1".to_string()),
        ] {
            config.insert(k.to_string(), v);
        }
        st.vms.insert(vmid, Vm::new(vmid, config, boots));
    }

    /// Every VM, sorted by vmid.
    pub fn vms(&self) -> Vec<SimVm> {
        let mut st = self.shared.lock();
        self.shared.settle(&mut st);
        st.vms
            .values()
            .map(|vm| SimVm {
                vmid: vm.vmid,
                name: vm.config.get("name").cloned().unwrap_or_default(),
                status: if vm.running { "running" } else { "stopped" }.to_string(),
                qmpstatus: vm.qmpstatus().to_string(),
                template: vm.is_template(),
                snapshots: vm.snapshots.iter().map(|s| s.name.clone()).collect(),
                config: vm.config.clone(),
            })
            .collect()
    }

    /// `(method, path without the query, status)` of every request so far; the path
    /// percent-decoded.
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        self.shared.lock().requests.clone()
    }

    /// Every ticket and CSRF token issued so far is invalid from now on.
    pub fn expire_tickets(&self) {
        let mut st = self.shared.lock();
        st.epoch += 1;
    }

    /// A file of a VM's disk, as the guest sees it at `path` (symlinks resolved inside the
    /// disk, never out of it). None when missing or not a regular file.
    pub fn guest_file(&self, vmid: u32, path: &str) -> Option<Vec<u8>> {
        let mut st = self.shared.lock();
        self.shared.settle(&mut st);
        if !st.vms.contains_key(&vmid) {
            return None;
        }
        let resolved = resolve_in_root(&self.shared.disk(vmid), path)?;
        let meta = fs::symlink_metadata(&resolved).ok()?;
        if !meta.is_file() {
            return None;
        }
        fs::read(resolved).ok()
    }

    /// How many clones failed with the lock timeout.
    pub fn clone_lock_failures(&self) -> usize {
        let mut st = self.shared.lock();
        self.shared.settle(&mut st);
        st.clone_lock_failures
    }

    /// Stops listening and drops every connection: later requests get connection refused.
    /// The state (vms, requests) stays readable.
    pub fn stop(&self) {
        let server = self.server.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((stop, thread)) = server {
            let _ = stop.send(());
            let _ = thread.join();
        }
        let mut st = self.shared.lock();
        for exec in st.execs.values_mut() {
            if exec.result.is_none() {
                kill_group(exec.pgid);
            }
        }
    }

    /// The simulator's directory (VM disks under `vms/{vmid}/disk`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for ProxmoxSim {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------
// State

struct Shared {
    opts: SimOptions,
    root: PathBuf,
    node: String,
    username: String,
    password: String,
    token_id: String,
    token_secret: String,
    cert_pem: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    vms: BTreeMap<u32, Vm>,
    tasks: Vec<Task>,
    tickets: HashMap<String, Issued>,
    csrf: HashMap<String, Issued>,
    epoch: u64,
    vnc: Vec<VncSession>,
    execs: HashMap<(u32, u32), Exec>,
    requests: Vec<(String, String, u16)>,
    clone_lock_failures: usize,
    counter: u32,
    next_guest_pid: u32,
}

struct Issued {
    user: String,
    at: Instant,
    epoch: u64,
}

struct Vm {
    vmid: u32,
    /// The config file: `template`, `lock`, … all as strings.
    config: BTreeMap<String, String>,
    running: bool,
    paused: bool,
    started: Option<Instant>,
    qemu_pid: u32,
    boots: bool,
    snapshots: Vec<Snap>,
    /// The snapshot the current state descends from.
    parent: Option<String>,
    /// Config-file locks (flock) held by running tasks: (UPID, exclusive).
    holders: Vec<(String, bool)>,
}

struct Snap {
    name: String,
    description: String,
    snaptime: u64,
    vmstate: bool,
    parent: Option<String>,
    config: BTreeMap<String, String>,
}

struct Task {
    upid: String,
    node: String,
    pid: u32,
    pstart: u32,
    starttime: u64,
    kind: &'static str,
    id: String,
    user: String,
    deadline: Instant,
    seq: u64,
    /// The operation, until the task stops.
    op: Option<Op>,
    exitstatus: Option<String>,
    log: Vec<String>,
}

enum Op {
    Clone { src: u32, newid: u32, snapname: Option<String>, full: bool, volid: String },
    Template { vmid: u32 },
    Config { vmid: u32, set: BTreeMap<String, String>, delete: Vec<String> },
    Start { vmid: u32 },
    Stop { vmid: u32 },
    Shutdown { vmid: u32 },
    Reboot { vmid: u32 },
    Suspend { vmid: u32 },
    Resume { vmid: u32 },
    Snapshot { vmid: u32, name: String, vmstate: bool, description: String },
    Rollback { vmid: u32, name: String, start: bool },
    DelSnapshot { vmid: u32, name: String },
    Destroy { vmid: u32 },
    Vnc,
    Fail { msg: String, lock_failure: bool },
}

enum Applied {
    Done(Result<Vec<String>, String>),
    Later(Op, Instant),
}

struct VncSession {
    ticket: String,
    user: String,
    vmid: u32,
    port: u16,
    password: String,
    issued: Instant,
    upid: String,
    connected: Option<Instant>,
    closed: bool,
}

struct Exec {
    pgid: u32,
    result: Option<ExecResult>,
}

struct ExecResult {
    exitcode: Option<i32>,
    signal: Option<i32>,
    out: Vec<u8>,
    err: Vec<u8>,
}

impl Vm {
    fn new(vmid: u32, config: BTreeMap<String, String>, boots: bool) -> Vm {
        Vm {
            vmid,
            config,
            running: false,
            paused: false,
            started: None,
            qemu_pid: 0,
            boots,
            snapshots: Vec::new(),
            parent: None,
            holders: Vec::new(),
        }
    }

    fn is_template(&self) -> bool {
        self.config.get("template").is_some_and(|t| t == "1")
    }

    fn lock(&self) -> Option<&str> {
        self.config.get("lock").map(String::as_str)
    }

    fn qmpstatus(&self) -> &'static str {
        match (self.running, self.paused) {
            (false, _) => "stopped",
            (true, true) => "paused",
            (true, false) => "running",
        }
    }

    fn name(&self) -> String {
        self.config.get("name").cloned().unwrap_or_else(|| format!("VM {}", self.vmid))
    }

    fn memory_mb(&self) -> u64 {
        let mem = self.config.get("memory").map(String::as_str).unwrap_or("512");
        let mem = mem.strip_prefix("current=").unwrap_or(mem);
        mem.split(',').next().and_then(|m| m.parse().ok()).unwrap_or(512)
    }

    fn cpus(&self) -> u64 {
        let get = |k: &str| self.config.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(1);
        get("cores") * get("sockets")
    }

    fn agent_enabled(&self) -> bool {
        self.config.get("agent").is_some_and(|a| {
            let first = a.split(',').next().unwrap_or("");
            let first = first.strip_prefix("enabled=").unwrap_or(first);
            matches!(first, "1" | "yes" | "on" | "true")
        })
    }

    fn digest(&self) -> String {
        use sha1::Digest as _;
        let mut text = String::new();
        for (k, v) in &self.config {
            text.push_str(&format!("{k}: {v}\n"));
        }
        hex(&sha1::Sha1::digest(text.as_bytes()))
    }

    fn uptime(&self) -> u64 {
        match (self.running, self.started) {
            (true, Some(at)) => at.elapsed().as_secs(),
            _ => 0,
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn vm_dir(&self, vmid: u32) -> PathBuf {
        self.root.join("vms").join(vmid.to_string())
    }

    fn disk(&self, vmid: u32) -> PathBuf {
        self.vm_dir(vmid).join("disk")
    }

    fn snap_dir(&self, vmid: u32, name: &str) -> PathBuf {
        self.vm_dir(vmid).join("snapshots").join(name)
    }

    fn ticket_user(&self, st: &State, ticket: &str) -> Option<String> {
        let issued = st.tickets.get(ticket)?;
        (issued.epoch == st.epoch && issued.at.elapsed() < self.opts.ticket_lifetime).then(|| issued.user.clone())
    }

    fn csrf_valid(&self, st: &State, user: &str, token: &str) -> bool {
        st.csrf
            .get(token)
            .is_some_and(|issued| issued.user == user && issued.epoch == st.epoch && issued.at.elapsed() < self.opts.ticket_lifetime)
    }

    /// Creates a task (a UPID), running until `deadline`.
    #[allow(clippy::too_many_arguments)]
    fn new_task(&self, st: &mut State, kind: &'static str, id: &str, user: &str, op: Op, deadline: Instant, log: Vec<String>) -> String {
        st.counter += 1;
        let pid = 0x0010_0000 + st.counter * 7;
        let pstart = 0x0123_4567 + st.counter;
        let starttime = unix_now();
        let upid = format!("UPID:{}:{pid:08X}:{pstart:08X}:{starttime:08X}:{kind}:{id}:{user}:", self.node);
        let seq = st.tasks.len() as u64;
        st.tasks.push(Task {
            upid: upid.clone(),
            node: self.node.clone(),
            pid,
            pstart,
            starttime,
            kind,
            id: id.to_string(),
            user: user.to_string(),
            deadline,
            seq,
            op: Some(op),
            exitstatus: None,
            log,
        });
        upid
    }

    /// Stops every task whose time has come, in order, applying its operation.
    fn settle(&self, st: &mut State) {
        loop {
            let now = Instant::now();
            let next = st
                .tasks
                .iter()
                .enumerate()
                .filter(|(_, t)| t.op.is_some() && t.deadline <= now)
                .min_by_key(|(_, t)| (t.deadline, t.seq))
                .map(|(i, _)| i);
            let Some(i) = next else { break };
            let op = st.tasks[i].op.take().expect("a pending operation");
            let upid = st.tasks[i].upid.clone();
            match self.apply(st, &upid, op) {
                Applied::Later(op, deadline) => {
                    st.tasks[i].op = Some(op);
                    st.tasks[i].deadline = deadline;
                }
                Applied::Done(result) => {
                    let task = &mut st.tasks[i];
                    match result {
                        Ok(lines) => {
                            task.log.extend(lines);
                            task.log.push("TASK OK".to_string());
                            task.exitstatus = Some("OK".to_string());
                        }
                        Err(msg) => {
                            task.log.push(format!("TASK ERROR: {msg}"));
                            task.exitstatus = Some(msg);
                        }
                    }
                    for vm in st.vms.values_mut() {
                        vm.holders.retain(|(holder, _)| holder != &upid);
                    }
                }
            }
        }
    }

    fn kill_guest(&self, st: &mut State, vmid: u32) {
        for ((vm, _), exec) in st.execs.iter() {
            if *vm == vmid && exec.result.is_none() {
                kill_group(exec.pgid);
            }
        }
    }

    fn stop_vm(&self, st: &mut State, vmid: u32) {
        self.kill_guest(st, vmid);
        st.execs.retain(|(vm, _), _| *vm != vmid);
        if let Some(vm) = st.vms.get_mut(&vmid) {
            vm.running = false;
            vm.paused = false;
            vm.started = None;
        }
    }

    fn start_vm(&self, st: &mut State, vmid: u32) {
        st.counter += 1;
        let pid = 20000 + st.counter;
        if let Some(vm) = st.vms.get_mut(&vmid) {
            vm.running = true;
            vm.paused = false;
            vm.started = Some(Instant::now());
            vm.qemu_pid = pid;
        }
    }

    /// An operation at the end of its task, checked again as the worker does.
    fn apply(&self, st: &mut State, upid: &str, op: Op) -> Applied {
        match op {
            Op::Vnc => {
                let Some(session) = st.vnc.iter().find(|s| s.upid == upid) else {
                    return Applied::Done(Ok(vec![]));
                };
                if session.closed {
                    Applied::Done(Ok(vec![]))
                } else if session.connected.is_none() && session.issued.elapsed() >= VNC_ACCEPT_TIMEOUT {
                    Applied::Done(Err("connection timed out".to_string()))
                } else {
                    Applied::Later(Op::Vnc, Instant::now() + Duration::from_millis(100))
                }
            }
            Op::Fail { msg, lock_failure } => {
                if lock_failure {
                    st.clone_lock_failures += 1;
                }
                Applied::Done(Err(msg))
            }
            op => Applied::Done(self.apply_op(st, op)),
        }
    }

    fn set_paused(&self, st: &mut State, vmid: u32, paused: bool) -> Result<Vec<String>, String> {
        let vm = self.existing(st, vmid)?;
        if !vm.running {
            return Err(format!("VM {vmid} not running"));
        }
        vm.paused = paused;
        Ok(vec![])
    }

    fn existing<'a>(&self, st: &'a mut State, vmid: u32) -> Result<&'a mut Vm, String> {
        st.vms.get_mut(&vmid).ok_or_else(|| conf_missing(&self.node, vmid).trim_end().to_string())
    }

    fn apply_op(&self, st: &mut State, op: Op) -> Result<Vec<String>, String> {
        match op {
            Op::Vnc | Op::Fail { .. } => Ok(vec![]),
            Op::Clone { src, newid, snapname, full, volid } => {
                if !st.vms.contains_key(&newid) {
                    return Err(format!("clone failed: {}", conf_missing(&self.node, newid).trim_end()));
                }
                let from = match &snapname {
                    Some(snap) => self.snap_dir(src, snap),
                    None => self.disk(src),
                };
                let to = self.disk(newid);
                let copied = if to.exists() { fs::remove_dir_all(&to) } else { Ok(()) }.and_then(|_| copy_tree(&from, &to));
                if let Err(e) = copied {
                    st.vms.remove(&newid);
                    let _ = fs::remove_dir_all(self.vm_dir(newid));
                    return Err(format!("clone failed: copy of the disk failed: {e}"));
                }
                self.existing(st, newid)?.config.remove("lock");
                let what = if full { "full" } else { "linked" };
                Ok(vec![
                    format!("create {what} clone of drive scsi0 ({volid})"),
                    format!("  Logical volume \"vm-{newid}-disk-0\" created."),
                ])
            }
            Op::Template { vmid } => {
                let vm = self.existing(st, vmid)?;
                template_checks(vm).map_err(|e| e.trim_end().to_string())?;
                vm.config.insert("template".to_string(), "1".to_string());
                if let Some(disk) = vm.config.get_mut("scsi0") {
                    *disk = disk.replace(&format!("vm-{vmid}-disk-"), &format!("base-{vmid}-disk-"));
                }
                Ok(vec![format!("  Renamed \"vm-{vmid}-disk-0\" to \"base-{vmid}-disk-0\" in volume group \"pve\"")])
            }
            Op::Config { vmid, set, delete } => {
                let vm = self.existing(st, vmid)?;
                let mut log = Vec::new();
                for key in delete {
                    if vm.config.remove(&key).is_none() {
                        log.push(format!("cannot delete '{key}' - not set in current configuration!"));
                    }
                }
                vm.config.extend(set);
                Ok(log)
            }
            Op::Start { vmid } => {
                let vm = self.existing(st, vmid)?;
                if vm.is_template() {
                    return Err("you can't start a vm if it's a template".to_string());
                }
                if let Some(lock) = vm.lock().filter(|l| *l != "suspended") {
                    return Err(format!("VM is locked ({lock})"));
                }
                if vm.running {
                    return Err(format!("VM {vmid} already running"));
                }
                self.start_vm(st, vmid);
                Ok(vec![])
            }
            Op::Stop { vmid } | Op::Shutdown { vmid } => {
                let vm = self.existing(st, vmid)?;
                if let Some(lock) = vm.lock() {
                    return Err(format!("VM is locked ({lock})"));
                }
                self.stop_vm(st, vmid);
                Ok(vec![])
            }
            Op::Reboot { vmid } => {
                if !self.existing(st, vmid)?.running {
                    return Err(format!("VM {vmid} not running"));
                }
                self.stop_vm(st, vmid);
                self.start_vm(st, vmid);
                Ok(vec![])
            }
            Op::Suspend { vmid } => self.set_paused(st, vmid, true),
            Op::Resume { vmid } => self.set_paused(st, vmid, false),
            Op::Snapshot { vmid, name, vmstate, description } => {
                let vm = self.existing(st, vmid)?;
                if vm.is_template() {
                    return Err("you can't take a snapshot if it's a template".to_string());
                }
                if let Some(lock) = vm.lock() {
                    return Err(format!("VM is locked ({lock})"));
                }
                if vm.snapshots.iter().any(|s| s.name == name) {
                    return Err(format!("snapshot name '{name}' already used"));
                }
                let vmstate = vmstate && vm.running;
                let dir = self.snap_dir(vmid, &name);
                fs::create_dir_all(dir.parent().expect("snapshots directory"))
                    .and_then(|_| copy_tree(&self.disk(vmid), &dir))
                    .map_err(|e| format!("snapshot create failed: {e}"))?;
                let vm = self.existing(st, vmid)?;
                let mut config = vm.config.clone();
                config.remove("lock");
                let parent = vm.parent.replace(name.clone());
                vm.snapshots.push(Snap { name, description, snaptime: unix_now(), vmstate, parent, config });
                let mut log = vec![format!("snapshotting 'drive-scsi0' (local-lvm:vm-{vmid}-disk-0)")];
                if vmstate {
                    log.insert(0, "saving VM state and RAM using storage 'local-lvm'".to_string());
                    log.push("completed saving the VM state, saved 1.00 GiB".to_string());
                }
                Ok(log)
            }
            Op::Rollback { vmid, name, start } => {
                let vm = self.existing(st, vmid)?;
                if vm.is_template() {
                    return Err("you can't rollback if vm is a template".to_string());
                }
                let Some(snap) = vm.snapshots.iter().find(|s| s.name == name) else {
                    return Err(format!("snapshot '{name}' does not exist"));
                };
                let (vmstate, config) = (snap.vmstate, snap.config.clone());
                if let Some(lock) = vm.lock().filter(|l| *l != "rollback") {
                    return Err(format!("VM is locked ({lock})"));
                }
                let mut log = Vec::new();
                if vm.running {
                    log.push(format!("stopping VM {vmid} before the rollback"));
                    self.stop_vm(st, vmid);
                }
                let disk = self.disk(vmid);
                if disk.exists() { fs::remove_dir_all(&disk) } else { Ok(()) }
                    .and_then(|_| copy_tree(&self.snap_dir(vmid, &name), &disk))
                    .map_err(|e| format!("rollback failed: {e}"))?;
                let vm = self.existing(st, vmid)?;
                vm.config = config;
                vm.parent = Some(name.clone());
                log.push(format!("rollback to snapshot '{name}'"));
                if vmstate || start {
                    self.start_vm(st, vmid);
                    log.push(if vmstate { "resuming the VM from its saved state" } else { "starting the VM" }.to_string());
                }
                Ok(log)
            }
            Op::DelSnapshot { vmid, name } => {
                let vm = self.existing(st, vmid)?;
                let Some(pos) = vm.snapshots.iter().position(|s| s.name == name) else {
                    return Err(format!("snapshot '{name}' does not exist"));
                };
                if let Some(lock) = vm.lock() {
                    return Err(format!("VM is locked ({lock})"));
                }
                let snap = vm.snapshots.remove(pos);
                for other in vm.snapshots.iter_mut() {
                    if other.parent.as_deref() == Some(name.as_str()) {
                        other.parent = snap.parent.clone();
                    }
                }
                if vm.parent.as_deref() == Some(name.as_str()) {
                    vm.parent = snap.parent.clone();
                }
                let _ = fs::remove_dir_all(self.snap_dir(vmid, &name));
                Ok(vec![])
            }
            Op::Destroy { vmid } => {
                let vm = self.existing(st, vmid)?;
                if vm.running {
                    return Err(format!("VM {vmid} is running - destroy failed"));
                }
                if let Some(lock) = vm.lock() {
                    return Err(format!("VM is locked ({lock})"));
                }
                self.stop_vm(st, vmid);
                st.vms.remove(&vmid);
                let _ = fs::remove_dir_all(self.vm_dir(vmid));
                Ok(vec![format!("  Logical volume \"vm-{vmid}-disk-0\" successfully removed.")])
            }
        }
    }
}

fn conf_missing(node: &str, vmid: u32) -> String {
    format!("Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist\n")
}

fn template_checks(vm: &Vm) -> Result<(), String> {
    if let Some(lock) = vm.lock() {
        return Err(format!("VM is locked ({lock})\n"));
    }
    if !vm.snapshots.is_empty() {
        return Err("unable to create template, because VM contains snapshots\n".to_string());
    }
    if vm.is_template() {
        return Err("you can't convert a template to a template\n".to_string());
    }
    if vm.running {
        return Err("you can't convert a VM to template if VM is running\n".to_string());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// HTTP

fn tls_acceptor(cert: &rcgen::CertifiedKey) -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls::{
        self,
        pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("TLS certificate");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

async fn serve(listener: tokio::net::TcpListener, tls: Option<tokio_rustls::TlsAcceptor>, shared: Arc<Shared>) {
    loop {
        let Ok((tcp, _peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        serve_connection(stream, shared).await;
                    }
                }
                None => serve_connection(tcp, shared).await,
            }
        });
    }
}

async fn serve_connection<I>(io: I, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(shared.handle(req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service).with_upgrades().await;
}

type HttpResponse = Response<Full<Bytes>>;

/// A failed API call.
enum ApiError {
    /// 400 "Parameter verification failed." with `errors`.
    Param(BTreeMap<String, String>),
    /// Any other status with its message (a Perl `die` message ends with a newline).
    Http(u16, String),
}

fn die(msg: impl Into<String>) -> ApiError {
    let mut msg = msg.into();
    if !msg.ends_with('\n') {
        msg.push('\n');
    }
    ApiError::Http(500, msg)
}

fn param_error(name: &str, msg: impl Into<String>) -> ApiError {
    ApiError::Param(BTreeMap::from([(name.to_string(), msg.into())]))
}

/// A successful API call: `data`, and the log's `total`.
struct Data(Value, Option<usize>);

impl From<Value> for Data {
    fn from(value: Value) -> Data {
        Data(value, None)
    }
}

type ApiResult = Result<Data, ApiError>;

/// Who is calling.
struct Ctx {
    /// The acting user: `daas@pve` or the token `daas@pve!ci`; None on /access/ticket.
    user: Option<String>,
    api_token: bool,
}

impl Ctx {
    fn user(&self) -> String {
        self.user.clone().unwrap_or_default()
    }
}

fn reason_phrase(msg: &str) -> String {
    let line = msg.lines().next().unwrap_or("").trim_end();
    line.chars().map(|c| if c == '\t' || (' '..='~').contains(&c) { c } else { '?' }).collect()
}

fn http_response(status: u16, reason: Option<&str>, body: Option<&Value>) -> HttpResponse {
    let bytes = body.map(|b| serde_json::to_vec(b).expect("JSON")).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(reason) = reason {
        if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(reason_phrase(reason)) {
            resp.extensions_mut().insert(phrase);
        }
    }
    let headers = resp.headers_mut();
    if body.is_some() {
        headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json;charset=UTF-8"));
    }
    headers.insert(header::SERVER, header::HeaderValue::from_static("pve-api-daemon/3.0"));
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("max-age=0"));
    headers.insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    if status >= 400 {
        // pve-http-server ends keep-alive after an error.
        headers.insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    }
    resp
}

/// An error of the HTTP layer (501, 506): the message as status line, no JSON.
fn plain_error(status: u16, msg: &str) -> HttpResponse {
    http_response(status, Some(msg), None)
}

/// `PVE::APIServer::Formatter::extract_auth_value`: `NAME=value` at the start or after
/// white space, up to `;`, URI-unescaped (`+` stays `+`).
fn extract_auth_value(header: Option<&str>, name: &str) -> Option<String> {
    let header = header?;
    let needle = format!("{name}=");
    let mut from = 0;
    while let Some(pos) = header[from..].find(&needle) {
        let at = from + pos;
        if at == 0 || header[..at].ends_with(char::is_whitespace) {
            let rest = &header[at + needle.len()..];
            let value = rest.split(';').next().unwrap_or("");
            let value = percent_decode(value);
            return (!value.is_empty()).then_some(value);
        }
        from = at + needle.len();
    }
    None
}

impl Shared {
    async fn handle(self: Arc<Self>, mut req: Request<Incoming>) -> HttpResponse {
        let started = Instant::now();
        let method = req.method().clone();
        let path = percent_decode(req.uri().path());
        let resp = self.clone().handle_inner(&mut req, &method, &path, started).await;
        self.lock().requests.push((method.to_string(), path, resp.status().as_u16()));
        resp
    }

    async fn unauthorized(&self, started: Instant, msg: &str) -> HttpResponse {
        if let Some(wait) = self.opts.auth_delay.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        http_response(401, Some(msg), None)
    }

    async fn handle_inner(self: Arc<Self>, req: &mut Request<Incoming>, method: &Method, path: &str, started: Instant) -> HttpResponse {
        if ![Method::GET, Method::POST, Method::PUT, Method::DELETE].contains(method) {
            return plain_error(501, &format!("method '{method}' not available"));
        }
        let header_str = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        if let Some(te) = header_str("transfer-encoding") {
            return if te.eq_ignore_ascii_case("chunked") {
                plain_error(501, "chunked transfer encoding not supported")
            } else {
                plain_error(501, &format!("Unknown transfer encoding '{te}'"))
            };
        }
        let Some(after_base) = path.strip_prefix(API_BASE) else {
            return plain_error(501, &format!("no such file '{path}'"));
        };
        // `m/^\Q$base_uri\E\/+([a-z][a-z0-9]+)(\/.*)?$/`
        let after_base = after_base.trim_start_matches('/');
        if after_base.len() == path.len() - API_BASE.len() {
            return plain_error(501, "no such uri");
        }
        let (format, rel) = match after_base.find('/') {
            Some(i) => (&after_base[..i], &after_base[i..]),
            None => (after_base, "/"),
        };
        let format_ok = format.len() >= 2
            && format.starts_with(|c: char| c.is_ascii_lowercase())
            && format.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !format_ok {
            return plain_error(501, "no such uri");
        }
        let rel = rel.to_string();

        // Authentication (HTTPServer.pm auth_handler).
        let cookie = header_str("cookie");
        let authorization = header_str("authorization");
        let csrf = header_str("csrfpreventiontoken");
        let ticket = extract_auth_value(cookie.as_deref(), "PVEAuthCookie")
            .or_else(|| extract_auth_value(authorization.as_deref(), "PVEAuthCookie"));
        let api_token = match ticket {
            Some(_) => None,
            None => extract_auth_value(authorization.as_deref(), "PVEAPIToken"),
        };
        let require_auth = !((rel == "/access/ticket" && (method == Method::GET || method == Method::POST))
            || (rel == "/access/domains" && method == Method::GET));
        let mut ctx = Ctx { user: None, api_token: api_token.is_some() };
        if require_auth {
            let verdict = {
                let st = self.lock();
                if let Some(token) = &api_token {
                    self.verify_token(token)
                } else if let Some(ticket) = &ticket {
                    match self.ticket_user(&st, ticket) {
                        None => Err("permission denied - invalid PVE ticket".to_string()),
                        Some(user) => {
                            if *method != Method::GET && !csrf.as_deref().is_some_and(|t| self.csrf_valid(&st, &user, t)) {
                                Err("Permission denied - invalid csrf token".to_string())
                            } else {
                                Ok(user)
                            }
                        }
                    }
                } else {
                    Err("No ticket".to_string())
                }
            };
            match verdict {
                Ok(user) => ctx.user = Some(user),
                Err(msg) => return self.unauthorized(started, &msg).await,
            }
        }

        // The body (form-urlencoded or JSON, at most 64 KiB, POST and PUT only).
        let length: usize = header_str("content-length").and_then(|l| l.trim().parse().ok()).unwrap_or(0);
        let content_type = header_str("content-type");
        let upgrade = header_str("upgrade").map(|u| u.to_ascii_lowercase());
        let mut params: BTreeMap<String, Value> = BTreeMap::new();
        if length > 0 {
            if *method != Method::POST && *method != Method::PUT {
                return plain_error(501, &format!("Unexpected content for method '{method}'"));
            }
            if length > MAX_POST {
                return plain_error(501, "for data too large");
            }
            let ct = content_type.as_deref().map(|c| c.split([';', ',']).next().unwrap_or("").trim().to_ascii_lowercase());
            if let Some(ct) = &ct {
                if ct != "application/x-www-form-urlencoded" && ct != "application/json" {
                    return plain_error(506, &format!("upload 'Content-Type '{}' not implemented", content_type.as_deref().unwrap_or("")));
                }
            }
            let body = match req.body_mut().collect().await {
                Ok(body) => body.to_bytes(),
                Err(e) => return plain_error(501, &format!("reading the body failed: {e}")),
            };
            if ct.as_deref() == Some("application/json") {
                match serde_json::from_slice::<Value>(&body) {
                    Ok(Value::Object(map)) => params.extend(map),
                    Ok(_) => return plain_error(501, "JSON body is not an object"),
                    Err(e) => return plain_error(501, &format!("malformed JSON string: {e}")),
                }
            } else {
                add_urlencoded(&mut params, &body);
            }
        }
        if let Some(query) = req.uri().query() {
            let mut query_params = BTreeMap::new();
            add_urlencoded(&mut query_params, query.as_bytes());
            params.extend(query_params);
        }
        params.remove("_dc");

        if format != "json" {
            return plain_error(501, &format!("no formatter for uri {rel}, {format}"));
        }

        let segments: Vec<String> = rel.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let result = self.dispatch(&ctx, method, &rel, &segs, Params::new(params)).await;

        // The console's WebSocket: an upgrade once `vncwebsocket` answered 200.
        if let (Ok(Data(data, _)), Some(upgrade)) = (&result, upgrade) {
            if *method == Method::GET && path.ends_with("websocket") {
                return self.websocket_upgrade(req, &ctx, &segs, data, &upgrade);
            }
        }

        match result {
            Ok(Data(data, total)) => {
                let mut body = Map::new();
                body.insert("data".to_string(), data);
                if let Some(total) = total {
                    body.insert("total".to_string(), json!(total));
                }
                http_response(200, None, Some(&Value::Object(body)))
            }
            Err(ApiError::Param(errors)) => http_response(
                400,
                Some("Parameter verification failed."),
                Some(&json!({"data": null, "errors": errors, "message": "Parameter verification failed.\n"})),
            ),
            Err(ApiError::Http(status, msg)) => {
                if status == 401 {
                    if let Some(wait) = self.opts.auth_delay.checked_sub(started.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                }
                http_response(status, Some(msg.as_str()), Some(&json!({"data": null, "message": msg})))
            }
        }
    }

    fn verify_token(&self, token: &str) -> Result<String, String> {
        // AccessControl::verify_token: `m/^(.*)=(.*)$/`, greedy: split at the last `=`.
        let Some(eq) = token.rfind('=') else {
            return Err("no tokenid specified".to_string());
        };
        let (tokenid, value) = (&token[..eq], &token[eq + 1..]);
        let Some((user, name)) = tokenid.split_once('!') else {
            return Err(format!("'{tokenid}' is not a valid token ID - not able to split into user and token parts"));
        };
        if user != self.username {
            return Err(format!("user '{user}' does not exist"));
        }
        if tokenid != self.token_id {
            return Err(format!("no such token '{name}' for user '{user}'"));
        }
        if value != self.token_secret {
            return Err("invalid token value!".to_string());
        }
        Ok(tokenid.to_string())
    }

    fn websocket_upgrade(
        self: Arc<Self>,
        req: &mut Request<Incoming>,
        ctx: &Ctx,
        segs: &[&str],
        data: &Value,
        upgrade: &str,
    ) -> HttpResponse {
        let header_str = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        if upgrade != "websocket" {
            return plain_error(501, &format!("unable to upgrade to protocol '{upgrade}'"));
        }
        let version = header_str("sec-websocket-version").unwrap_or_default();
        if version != "13" {
            return plain_error(501, &format!("unsupported websocket-version '{version}'"));
        }
        let Some(protocols) = header_str("sec-websocket-protocol") else {
            return plain_error(501, "missing websocket-protocol header");
        };
        let mut chosen = None;
        for p in protocols.split([',', ';', ' ', '\t']).filter(|p| !p.is_empty()) {
            if p == "binary" || (p == "base64" && chosen.is_none()) {
                chosen = Some(p.to_string());
            }
        }
        let Some(protocol) = chosen else {
            return plain_error(501, &format!("unsupported websocket-protocol protocol '{protocols}'"));
        };
        let Some(key) = header_str("sec-websocket-key") else {
            return plain_error(501, "missing websocket-key");
        };
        let vmid: u32 = segs.get(3).and_then(|v| v.parse().ok()).unwrap_or(0);
        let port: u16 = data.get("port").and_then(Value::as_str).and_then(|p| p.parse().ok()).unwrap_or(0);
        let ticket = {
            let mut st = self.lock();
            self.settle(&mut st);
            let user = ctx.user();
            let session = st.vnc.iter_mut().find(|s| {
                s.vmid == vmid
                    && s.port == port
                    && s.user == user
                    && s.connected.is_none()
                    && !s.closed
                    && s.issued.elapsed() < VNC_ACCEPT_TIMEOUT
            });
            match session {
                Some(session) => {
                    session.connected = Some(Instant::now());
                    session.ticket.clone()
                }
                // The proxy task's port is gone (used once, or timed out).
                None => return plain_error(501, &format!("connect to 'localhost:{port}' failed: Connection refused")),
            }
        };
        let on_upgrade = hyper::upgrade::on(req);
        let shared = self.clone();
        tokio::spawn(async move {
            let upgraded = on_upgrade.await;
            if let Ok(upgraded) = upgraded {
                shared.clone().vnc_session(upgraded, &ticket).await;
            }
            let mut st = shared.lock();
            if let Some(session) = st.vnc.iter_mut().find(|s| s.ticket == ticket) {
                session.closed = true;
            }
        });
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = resp.headers_mut();
        headers.insert(header::UPGRADE, header::HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, header::HeaderValue::from_static("upgrade"));
        if let Ok(accept) = header::HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Ok(protocol) = header::HeaderValue::from_str(&protocol) {
            headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        resp
    }
}

fn add_urlencoded(params: &mut BTreeMap<String, Value>, body: &[u8]) {
    // decode_urlencoded: `&` or `;` separated; a repeated key makes a list.
    let text = String::from_utf8_lossy(body).replace(';', "&");
    for (k, v) in form_urlencoded::parse(text.as_bytes()) {
        let (k, v) = (k.into_owned(), v.into_owned());
        match params.get_mut(&k) {
            Some(Value::Array(list)) => list.push(Value::String(v)),
            Some(old) => {
                let first = old.take();
                *old = Value::Array(vec![first, Value::String(v)]);
            }
            None => {
                params.insert(k, Value::String(v));
            }
        }
    }
}

/// Percent-decoding of a path or a cookie value (`uri_unescape`: `+` stays `+`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex_digit = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------
// Parameters (PVE::JSONSchema's checks and messages)

struct Params {
    map: BTreeMap<String, Value>,
    errors: BTreeMap<String, String>,
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(list) => Some(list.iter().filter_map(scalar_string).collect::<Vec<_>>().join("\0")),
        Value::Object(_) => Some("HASH".to_string()),
    }
}

impl Params {
    fn new(map: BTreeMap<String, Value>) -> Params {
        Params { map, errors: BTreeMap::new() }
    }

    fn error(&mut self, name: &str, msg: impl Into<String>) {
        self.errors.entry(name.to_string()).or_insert_with(|| msg.into());
    }

    /// `additionalProperties => 0`.
    fn allow(&mut self, allowed: &[&str]) {
        let unknown: Vec<String> = self.map.keys().filter(|k| !allowed.contains(&k.as_str())).cloned().collect();
        for k in unknown {
            self.error(&k, "property is not defined in schema and the schema does not allow additional properties");
        }
    }

    fn has(&self, name: &str) -> bool {
        self.map.get(name).is_some_and(|v| !v.is_null())
    }

    fn opt_str(&mut self, name: &str) -> Option<String> {
        self.map.get(name).and_then(scalar_string)
    }

    fn req_str(&mut self, name: &str) -> Option<String> {
        let value = self.opt_str(name);
        if value.is_none() {
            self.error(name, "property is missing and it is not optional");
        }
        value
    }

    fn max_len(&mut self, name: &str, value: &Option<String>, max: usize) {
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            self.error(name, format!("value may only be {max} characters long"));
        }
    }

    fn check_int(&mut self, name: &str, value: &str, min: i64, max: i64) -> Option<i64> {
        match value.trim().parse::<i64>() {
            Err(_) => {
                self.error(name, format!("type check ('integer') failed - got '{value}'"));
                None
            }
            Ok(n) if n < min => {
                self.error(name, format!("value must have a minimum value of {min}"));
                None
            }
            Ok(n) if n > max => {
                self.error(name, format!("value must have a maximum value of {max}"));
                None
            }
            Ok(n) => Some(n),
        }
    }

    fn opt_int(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        let value = self.opt_str(name)?;
        self.check_int(name, &value, min, max)
    }

    fn req_int(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        let value = self.req_str(name)?;
        self.check_int(name, &value, min, max)
    }

    fn opt_bool(&mut self, name: &str) -> Option<bool> {
        let value = self.opt_str(name)?;
        match parse_bool(&value) {
            Some(b) => Some(b),
            None => {
                self.error(name, format!("type check ('boolean') failed - got '{value}'"));
                None
            }
        }
    }

    fn opt_enum(&mut self, name: &str, values: &[&str]) -> Option<String> {
        let value = self.opt_str(name)?;
        if values.contains(&value.as_str()) {
            Some(value)
        } else {
            self.error(name, format!("value '{value}' does not have a value in the enumeration '{}'", values.join(", ")));
            None
        }
    }

    /// An array parameter: a JSON array, repeated form fields, or one value.
    fn opt_list(&mut self, name: &str) -> Option<Vec<String>> {
        match self.map.get(name)? {
            Value::Null => None,
            Value::Array(list) => Some(list.iter().filter_map(scalar_string).collect()),
            Value::String(s) => Some(s.split('\0').map(str::to_string).collect()),
            other => scalar_string(other).map(|s| vec![s]),
        }
    }

    /// The `pve-configid` format (snapshot names).
    fn configid(&mut self, name: &str, value: &Option<String>) {
        if let Some(v) = value {
            let ok = v.len() >= 2
                && v.len() <= 40
                && v.starts_with(|c: char| c.is_ascii_alphabetic())
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                self.error(name, format!("invalid format - invalid configuration ID '{v}'"));
            }
        }
    }

    fn dns_name(&mut self, name: &str, value: &Option<String>) {
        if value.as_deref().is_some_and(|v| !valid_dns_name(v)) {
            self.error(name, "invalid format - value does not look like a valid DNS name");
        }
    }

    fn finish(&mut self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Param(std::mem::take(&mut self.errors)))
        }
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `pve-tag-list`: tags separated by `;`, `,` or white space, each
/// `[a-z0-9_][a-z0-9_\-+.]*` (any case); stored unique and sorted, joined with `;`
/// (`get_unique_tags`, the default alphabetical tag ordering). Err: the bad tag.
fn tag_list(value: &str) -> Result<String, String> {
    let mut tags: Vec<&str> = value.split([';', ',', ' ', '\t', '\n']).filter(|t| !t.is_empty()).collect();
    for tag in &tags {
        let ok = tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && tag.chars().all(|c| c.is_ascii_alphanumeric() || "_-+.".contains(c));
        if !ok {
            return Err(tag.to_string());
        }
    }
    tags.sort_unstable();
    tags.dedup();
    Ok(tags.join(";"))
}

fn valid_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The type of a VM config key (`json_config_properties`), None when there is no such
/// option.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Dns,
    Memory,
    Int(i64),
    Bool,
    Enum(&'static [&'static str]),
}

const OSTYPES: &[&str] = &["other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11", "l24", "l26", "solaris"];

fn config_kind(key: &str) -> Option<Kind> {
    use Kind::*;
    let fixed = match key {
        "name" => Some(Dns),
        "memory" => Some(Memory),
        "cores" | "sockets" | "vcpus" => Some(Int(1)),
        "balloon" | "shares" | "cpuunits" | "migrate_downtime" | "migrate_speed" => Some(Int(0)),
        "onboot" | "numa" | "protection" | "tablet" | "kvm" | "acpi" | "localtime" | "template" | "reboot" | "freeze" | "autostart" => {
            Some(Bool)
        }
        "ostype" => Some(Enum(OSTYPES)),
        "bios" => Some(Enum(&["seabios", "ovmf"])),
        "agent" | "vga" | "cpu" | "cpulimit" | "description" | "tags" | "boot" | "bootdisk" | "scsihw" | "machine" | "args" | "ciuser"
        | "cipassword" | "citype" | "ciupgrade" | "sshkeys" | "nameserver" | "searchdomain" | "hookscript" | "startup" | "smbios1"
        | "vmgenid" | "hotplug" | "keyboard" | "affinity" | "meta" | "cicustom" | "efidisk0" | "tpmstate0" | "rng0" | "watchdog"
        | "audio0" | "spice_enhancements" | "vmstatestorage" | "cdrom" | "lock" | "startdate" | "arch" | "amd-sev" | "intel-tdx" => {
            Some(Str)
        }
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    let numbered = [
        ("net", 31),
        ("scsi", 30),
        ("virtio", 15),
        ("sata", 5),
        ("ide", 3),
        ("unused", 255),
        ("ipconfig", 31),
        ("serial", 3),
        ("usb", 13),
        ("hostpci", 15),
        ("parallel", 2),
        ("numa", 7),
        ("virtiofs", 9),
    ];
    for (prefix, max) in numbered {
        if let Some(n) = key.strip_prefix(prefix) {
            if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && n.parse::<u32>().is_ok_and(|n| n <= max) {
                return Some(Str);
            }
        }
    }
    None
}

/// Config keys that Proxmox's JSON carries as numbers (integer and boolean options).
fn numeric_config_key(key: &str) -> bool {
    matches!(config_kind(key), Some(Kind::Int(_)) | Some(Kind::Bool))
}

fn config_json(config: &BTreeMap<String, String>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in config {
        let value = match (numeric_config_key(k), v.parse::<i64>()) {
            (true, Ok(n)) => json!(n),
            _ => json!(v),
        };
        out.insert(k.clone(), value);
    }
    out
}

// ---------------------------------------------------------------------------------------
// API methods

const ROOT_ONLY: &str = "Only root may use this option.";

impl Shared {
    fn check_node(&self, node: &str) -> Result<(), ApiError> {
        if node == self.node || node == "localhost" {
            Ok(())
        } else {
            Err(die(format!("hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known")))
        }
    }

    fn vmid_param(&self, p: &mut Params, value: &str) -> Option<u32> {
        p.check_int("vmid", value, 100, 999_999_999).map(|v| v as u32)
    }

    async fn dispatch(self: &Arc<Self>, ctx: &Ctx, method: &Method, rel: &str, segs: &[&str], p: Params) -> ApiResult {
        let m = method.as_str();
        let not_implemented = || Err(ApiError::Http(501, format!("Method '{m} {rel}' not implemented")));
        match (m, segs) {
            ("GET", ["version"]) => self.version(p),
            ("POST", ["access", "ticket"]) => self.create_ticket(ctx, p),
            ("GET", ["access", "ticket"]) => Ok(Value::Null.into()),
            ("GET", ["nodes"]) => self.nodes(p),
            ("GET", ["cluster", "nextid"]) => self.nextid(p),
            (_, ["nodes", node, rest @ ..]) => {
                let route = match (m, rest) {
                    ("GET", ["qemu"]) => Route::List,
                    ("GET", ["qemu", _]) => Route::Index,
                    ("DELETE", ["qemu", _]) => Route::Destroy,
                    ("POST", ["qemu", _, "clone"]) => Route::Clone,
                    ("POST", ["qemu", _, "template"]) => Route::Template,
                    ("GET", ["qemu", _, "config"]) => Route::GetConfig,
                    ("POST", ["qemu", _, "config"]) => Route::SetConfig(false),
                    ("PUT", ["qemu", _, "config"]) => Route::SetConfig(true),
                    ("GET", ["qemu", _, "status", "current"]) => Route::Current,
                    ("POST", ["qemu", _, "status", action])
                        if ["start", "stop", "shutdown", "reboot", "suspend", "resume"].contains(action) =>
                    {
                        Route::Power(action.to_string())
                    }
                    ("GET", ["qemu", _, "snapshot"]) => Route::Snapshots,
                    ("POST", ["qemu", _, "snapshot"]) => Route::Snapshot,
                    ("GET", ["qemu", _, "snapshot", snap, "config"]) => Route::SnapshotConfig(snap.to_string()),
                    ("POST", ["qemu", _, "snapshot", snap, "rollback"]) => Route::Rollback(snap.to_string()),
                    ("DELETE", ["qemu", _, "snapshot", snap]) => Route::DelSnapshot(snap.to_string()),
                    ("POST", ["qemu", _, "agent", "ping"]) => Route::AgentPing,
                    ("POST", ["qemu", _, "agent", "exec"]) => Route::AgentExec,
                    ("GET", ["qemu", _, "agent", "exec-status"]) => Route::AgentExecStatus,
                    ("POST", ["qemu", _, "agent", "file-write"]) => Route::AgentFileWrite,
                    ("GET", ["qemu", _, "agent", "file-read"]) => Route::AgentFileRead,
                    ("POST", ["qemu", _, "vncproxy"]) => Route::VncProxy,
                    ("GET", ["qemu", _, "vncwebsocket"]) => Route::VncWebsocket,
                    ("GET", ["tasks", upid, "status"]) => Route::TaskStatus(upid.to_string()),
                    ("GET", ["tasks", upid, "log"]) => Route::TaskLog(upid.to_string()),
                    _ => return not_implemented(),
                };
                let mut p = p;
                let vmid = match rest.get(1) {
                    Some(v) if rest[0] == "qemu" => self.vmid_param(&mut p, v),
                    _ => None,
                };
                self.check_node(node)?;
                self.node_method(ctx, route, vmid, p).await
            }
            _ => not_implemented(),
        }
    }

    async fn node_method(self: &Arc<Self>, ctx: &Ctx, route: Route, vmid: Option<u32>, mut p: Params) -> ApiResult {
        if matches!(route, Route::List | Route::TaskStatus(_) | Route::TaskLog(_)) {
            return match route {
                Route::List => self.list(p),
                Route::TaskStatus(upid) => self.task_status(&upid, p),
                Route::TaskLog(upid) => self.task_log(&upid, p),
                _ => unreachable!(),
            };
        }
        // A vmid that failed its checks: report it with the other parameters.
        let Some(vmid) = vmid else {
            p.finish()?;
            return Err(die("missing vmid"));
        };
        match route {
            Route::Index => self.vm_index(vmid, p),
            Route::Destroy => self.destroy(ctx, vmid, p),
            Route::Clone => self.clone_vm(ctx, vmid, p).await,
            Route::Template => self.template(ctx, vmid, p),
            Route::GetConfig => self.get_config(vmid, p),
            Route::SetConfig(sync) => self.set_config(ctx, vmid, p, sync).await,
            Route::Current => self.current(vmid, p),
            Route::Power(action) => self.power(ctx, vmid, &action, p),
            Route::Snapshots => self.snapshots(vmid, p),
            Route::Snapshot => self.snapshot(ctx, vmid, p),
            Route::SnapshotConfig(snap) => self.snapshot_config(vmid, &snap, p),
            Route::Rollback(snap) => self.rollback(ctx, vmid, &snap, p),
            Route::DelSnapshot(snap) => self.del_snapshot(ctx, vmid, &snap, p),
            Route::AgentPing => self.agent_ping(vmid, p),
            Route::AgentExec => self.agent_exec(vmid, p),
            Route::AgentExecStatus => self.agent_exec_status(vmid, p),
            Route::AgentFileWrite => self.agent_file_write(vmid, p),
            Route::AgentFileRead => self.agent_file_read(vmid, p),
            Route::VncProxy => self.vncproxy(ctx, vmid, p),
            Route::VncWebsocket => self.vncwebsocket(ctx, vmid, p),
            Route::List | Route::TaskStatus(_) | Route::TaskLog(_) => unreachable!(),
        }
    }

    fn version(&self, mut p: Params) -> ApiResult {
        p.allow(&[]);
        p.finish()?;
        Ok(json!({"version": "8.2.4", "release": "8.2", "repoid": "faa83925c9641325"}).into())
    }

    fn create_ticket(&self, ctx: &Ctx, mut p: Params) -> ApiResult {
        if ctx.api_token {
            return Err(ApiError::Http(403, "Permission check failed (API tokens cannot create tickets)\n".to_string()));
        }
        p.allow(&["username", "password", "realm", "otp", "path", "privs", "tfa-challenge", "new-format"]);
        let username = p.req_str("username");
        let password = p.req_str("password");
        let realm = p.opt_str("realm");
        p.finish()?;
        let (username, password) = (username.unwrap_or_default(), password.unwrap_or_default());
        let user = match (username.contains('@'), realm) {
            (false, Some(realm)) => format!("{username}@{realm}"),
            _ => username,
        };
        let mut st = self.lock();
        let renewal = password.starts_with("PVE:") && self.ticket_user(&st, &password).as_deref() == Some(user.as_str());
        if user != self.username || (password != self.password && !renewal) {
            return Err(ApiError::Http(401, "authentication failure\n".to_string()));
        }
        let now = unix_now();
        let ticket = format!("PVE:{user}:{now:08X}::{}", base64::engine::general_purpose::STANDARD.encode(random_bytes(256)));
        let csrf = format!("{now:08X}:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(random_bytes(32)));
        let epoch = st.epoch;
        st.tickets.insert(ticket.clone(), Issued { user: user.clone(), at: Instant::now(), epoch });
        st.csrf.insert(csrf.clone(), Issued { user: user.clone(), at: Instant::now(), epoch });
        let vm_caps = json!({"VM.Allocate": 1, "VM.Clone": 1, "VM.Config.Options": 1, "VM.Console": 1,
            "VM.PowerMgmt": 1, "VM.Snapshot": 1, "VM.Snapshot.Rollback": 1, "VM.Monitor": 1, "VM.Audit": 1});
        Ok(json!({
            "username": user,
            "ticket": ticket,
            "CSRFPreventionToken": csrf,
            "cap": {"vms": vm_caps, "storage": {"Datastore.AllocateSpace": 1}, "nodes": {"Sys.Audit": 1},
                    "access": {}, "dc": {}, "sdn": {}, "mapping": {}},
        })
        .into())
    }

    fn nodes(&self, mut p: Params) -> ApiResult {
        p.allow(&[]);
        p.finish()?;
        Ok(json!([{
            "node": self.node, "status": "online", "type": "node", "id": format!("node/{}", self.node),
            "cpu": 0.02, "maxcpu": 8, "mem": 4_294_967_296u64, "maxmem": 34_359_738_368u64,
            "disk": 10_737_418_240u64, "maxdisk": 107_374_182_400u64, "uptime": 86_400, "level": "",
        }])
        .into())
    }

    fn nextid(&self, mut p: Params) -> ApiResult {
        p.allow(&["vmid"]);
        let vmid = p.opt_int("vmid", 100, 999_999_999);
        p.finish()?;
        let mut st = self.lock();
        self.settle(&mut st);
        if let Some(vmid) = vmid {
            if st.vms.contains_key(&(vmid as u32)) {
                return Err(param_error("vmid", format!("VM {vmid} already exists")));
            }
            // The parameter as it came: a string.
            return Ok(json!(vmid.to_string()).into());
        }
        let free = (100u32..1_000_000).find(|id| !st.vms.contains_key(id)).expect("a free VMID");
        // Proxmox's JSON carries it as a string ("100"), though the schema says integer.
        Ok(json!(free.to_string()).into())
    }

    fn list(&self, mut p: Params) -> ApiResult {
        p.allow(&["full"]);
        let _ = p.opt_bool("full");
        p.finish()?;
        let mut st = self.lock();
        self.settle(&mut st);
        let list: Vec<Value> = st.vms.values().map(|vm| self.vm_status(vm, false)).collect();
        Ok(Value::Array(list).into())
    }

    fn vm_status(&self, vm: &Vm, current: bool) -> Value {
        let mut s = Map::new();
        s.insert("vmid".into(), json!(vm.vmid));
        s.insert("name".into(), json!(vm.name()));
        s.insert("status".into(), json!(if vm.running { "running" } else { "stopped" }));
        s.insert("cpus".into(), json!(vm.cpus()));
        s.insert("maxmem".into(), json!(vm.memory_mb() * 1024 * 1024));
        s.insert("mem".into(), json!(if vm.running { vm.memory_mb() * 1024 * 1024 / 4 } else { 0 }));
        s.insert("maxdisk".into(), json!(2u64 * 1024 * 1024 * 1024));
        s.insert("disk".into(), json!(0));
        s.insert("uptime".into(), json!(vm.uptime()));
        s.insert("cpu".into(), json!(if vm.running { 0.01 } else { 0.0 }));
        for k in ["netin", "netout", "diskread", "diskwrite"] {
            s.insert(k.into(), json!(0));
        }
        if vm.running {
            s.insert("pid".into(), json!(vm.qemu_pid));
        }
        if vm.is_template() {
            s.insert("template".into(), json!(1));
        }
        if let Some(lock) = vm.lock() {
            s.insert("lock".into(), json!(lock));
        }
        if let Some(tags) = vm.config.get("tags") {
            s.insert("tags".into(), json!(tags));
        }
        if current {
            s.insert("qmpstatus".into(), json!(vm.qmpstatus()));
            s.insert("ha".into(), json!({"managed": 0}));
            if vm.agent_enabled() {
                s.insert("agent".into(), json!(1));
            }
            if vm.running {
                s.insert("running-machine".into(), json!("pc-i440fx-8.1+pve0"));
                s.insert("running-qemu".into(), json!("8.1.5"));
            }
        }
        Value::Object(s)
    }

    /// `load_config`: the VM, or the error Proxmox gives for a missing config file.
    fn vm<'a>(&self, st: &'a State, vmid: u32) -> Result<&'a Vm, ApiError> {
        st.vms.get(&vmid).ok_or_else(|| die(conf_missing(&self.node, vmid)))
    }

    fn vm_index(&self, vmid: u32, mut p: Params) -> ApiResult {
        p.allow(&[]);
        p.finish()?;
        let mut st = self.lock();
        self.settle(&mut st);
        self.vm(&st, vmid)?;
        let subdirs = [
            "config",
            "pending",
            "status",
            "unlink",
            "vncproxy",
            "termproxy",
            "migrate",
            "resize",
            "move",
            "rrd",
            "rrddata",
            "monitor",
            "agent",
            "snapshot",
            "spiceproxy",
            "sendkey",
            "firewall",
            "mtunnel",
            "remote_migrate",
        ];
        Ok(Value::Array(subdirs.iter().map(|s| json!({"subdir": s})).collect()).into())
    }

    fn current(&self, vmid: u32, mut p: Params) -> ApiResult {
        p.allow(&[]);
        p.finish()?;
        let mut st = self.lock();
        self.settle(&mut st);
        let vm = self.vm(&st, vmid)?;
        Ok(self.vm_status(vm, true).into())
    }

    async fn clone_vm(self: &Arc<Self>, ctx: &Ctx, vmid: u32, mut p: Params) -> ApiResult {
        p.allow(&["newid", "name", "description", "pool", "snapname", "storage", "format", "full", "target", "bwlimit"]);
        let newid = p.req_int("newid", 100, 999_999_999).map(|n| n as u32);
        let name = p.opt_str("name");
        p.dns_name("name", &name);
        let description = p.opt_str("description");
        let pool = p.opt_str("pool");
        let snapname = p.opt_str("snapname");
        p.configid("snapname", &snapname);
        let storage = p.opt_str("storage");
        let format = p.opt_enum("format", &["raw", "qcow2", "vmdk"]);
        let full = p.opt_bool("full");
        let target = p.opt_str("target");
        let _ = p.opt_int("bwlimit", 0, i64::MAX);
        p.finish()?;
        let newid = newid.expect("checked");
        let req = CloneRequest { src: vmid, newid, name, description, pool, snapname, storage, format, full, target };

        let user = ctx.user();
        let started = Instant::now();
        loop {
            {
                let mut st = self.lock();
                self.settle(&mut st);
                let full = self.clone_checks(&st, &req)?;
                let running = st.vms[&vmid].running;
                if self.opts.clone_lock_in_task {
                    return Ok(json!(self.create_clone(&mut st, &req, full, &user, running)).into());
                }
                if st.vms[&vmid].holders.is_empty() {
                    return Ok(json!(self.create_clone(&mut st, &req, full, &user, true)).into());
                }
                if started.elapsed() >= self.opts.lock_timeout {
                    st.clone_lock_failures += 1;
                    return Err(die(format!("can't lock file '/var/lock/qemu-server/lock-{vmid}.conf' - got timeout")));
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The clone's early checks (`$load_and_check`), in their order; the `full` it makes.
    fn clone_checks(&self, st: &State, req: &CloneRequest) -> Result<bool, ApiError> {
        if let Some(pool) = &req.pool {
            return Err(die(format!("pool '{pool}' does not exist")));
        }
        if let Some(target) = &req.target {
            if target != &self.node && target != "localhost" {
                return Err(die(format!("no such cluster node '{target}'")));
            }
        }
        if let Some(storage) = &req.storage {
            if storage != "local-lvm" && storage != "local" {
                return Err(die(format!("storage '{storage}' does not exist")));
            }
        }
        let src = self.vm(st, req.src)?;
        if let Some(lock) = src.lock() {
            return Err(die(format!("VM is locked ({lock})")));
        }
        if let Some(snap) = &req.snapname {
            if !src.snapshots.iter().any(|s| &s.name == snap) {
                return Err(die(format!("snapshot '{snap}' does not exist")));
            }
        }
        let full = req.full.unwrap_or(!src.is_template());
        if req.storage.is_some() && !full {
            return Err(die("parameter 'storage' not allowed for linked clones"));
        }
        if req.format.is_some() && !full {
            return Err(die("parameter 'format' not allowed for linked clones"));
        }
        if st.vms.contains_key(&req.newid) {
            return Err(die(format!("unable to create VM {}: config file already exists", req.newid)));
        }
        if !full && req.snapname.is_none() && !src.is_template() {
            let volid = disk_volid(src);
            return Err(die(format!("Linked clone feature is not supported for '{volid}' (scsi0)")));
        }
        Ok(full)
    }

    /// The new VM (`lock: clone`, stopped) and the clone's task.
    fn create_clone(&self, st: &mut State, req: &CloneRequest, full: bool, user: &str, exclusive: bool) -> String {
        let now = Instant::now();
        let src = &st.vms[&req.src];
        let source_config = match &req.snapname {
            Some(snap) => src.snapshots.iter().find(|s| &s.name == snap).map(|s| s.config.clone()).unwrap_or_default(),
            None => src.config.clone(),
        };
        let volid = disk_volid(src);
        let boots = src.boots;
        let old_name = source_config.get("name").cloned().unwrap_or_else(|| req.src.to_string());

        // Proxmox ≥ 7.2: the lock inside the worker; a conflict makes the task fail.
        if self.opts.clone_lock_in_task {
            let conflicts = src.holders.iter().filter(|(_, excl)| exclusive || *excl);
            let busy_until = conflicts.filter_map(|(upid, _)| task_deadline(st, upid)).max();
            if let Some(until) = busy_until {
                if until > now + self.opts.lock_timeout {
                    let msg = format!("can't lock file '/var/lock/qemu-server/lock-{}.conf' - got timeout", req.src);
                    let op = Op::Fail { msg, lock_failure: true };
                    let id = req.src.to_string();
                    return self.new_task(st, "qmclone", &id, user, op, now + self.opts.lock_timeout, vec![]);
                }
            }
        }
        let begin = src
            .holders
            .iter()
            .filter(|(_, excl)| self.opts.clone_lock_in_task && (exclusive || *excl))
            .filter_map(|(upid, _)| task_deadline(st, upid))
            .max()
            .map_or(now, |until| until.max(now));

        let mut config = BTreeMap::new();
        for (k, v) in &source_config {
            if matches!(k.as_str(), "template" | "lock" | "parent" | "snaptime" | "vmstate" | "snapstate") || k.starts_with("unused") {
                continue;
            }
            config.insert(k.clone(), v.clone());
        }
        config.insert("lock".into(), "clone".into());
        config.insert("name".into(), req.name.clone().unwrap_or_else(|| format!("Copy-of-VM-{old_name}")));
        if let Some(description) = &req.description {
            config.insert("description".into(), description.clone());
        }
        config.insert("smbios1".into(), format!("uuid={}", uuid()));
        if config.contains_key("vmgenid") {
            config.insert("vmgenid".into(), uuid());
        }
        for (k, v) in config.iter_mut() {
            if k.starts_with("net") {
                let rest = v.split_once(',').map(|(_, rest)| format!(",{rest}")).unwrap_or_default();
                let model = v.split('=').next().unwrap_or("virtio").to_string();
                *v = format!("{model}={}{rest}", mac());
            }
        }
        // LVM-thin: a linked clone is a thin snapshot of the base volume, named like a
        // full copy.
        let storage = req.storage.clone().unwrap_or_else(|| "local-lvm".to_string());
        let new_volid = format!("{storage}:vm-{}-disk-0", req.newid);
        config.insert("scsi0".into(), format!("{new_volid},size=2G"));

        let _ = fs::create_dir_all(self.vm_dir(req.newid));
        st.vms.insert(req.newid, Vm::new(req.newid, config, boots));
        let op = Op::Clone { src: req.src, newid: req.newid, snapname: req.snapname.clone(), full, volid };
        let log = vec![format!("create {} clone of VM {} with ID {}", if full { "full" } else { "linked" }, req.src, req.newid)];
        let id = req.src.to_string();
        let upid = self.new_task(st, "qmclone", &id, user, op, begin + self.opts.task_delay, log);
        let src_exclusive = !self.opts.clone_lock_in_task || exclusive;
        if let Some(src) = st.vms.get_mut(&req.src) {
            src.holders.push((upid.clone(), src_exclusive));
        }
        if let Some(new) = st.vms.get_mut(&req.newid) {
            new.holders.push((upid.clone(), true));
        }
        upid
    }

    fn template(&self, ctx: &Ctx, vmid: u32, mut p: Params) -> ApiResult {
        p.allow(&["disk"]);
        let _ = p.opt_str("disk");
        p.finish()?;
        let mut st = self.lock();
        self.settle(&mut st);
        let vm = self.vm(&st, vmid)?;
        template_checks(vm).map_err(die)?;
        Ok(json!(self.task_on(&mut st, "qmtemplate", vmid, &ctx.user(), Op::Template { vmid })).into())
    }

    /// A task on one VM, holding its config lock until it stops.
    fn task_on(&self, st: &mut State, kind: &'static str, vmid: u32, user: &str, op: Op) -> String {
        let upid = self.new_task(st, kind, &vmid.to_string(), user, op, Instant::now() + self.opts.task_delay, vec![]);
        if let Some(vm) = st.vms.get_mut(&vmid) {
            vm.holders.push((upid.clone(), true));
        }
        upid
    }

    fn get_config(&self, vmid: u32, mut p: Params) -> ApiResult {
        p.allow(&["current", "snapshot"]);
        let _ = p.opt_bool("current");
        let snapshot = p.opt_str("snapshot");
        p.finish()?;
        let mut st = self.lock();
        self.settle(&mut st);
        let vm = self.vm(&st, vmid)?;
        let config = match &snapshot {
            Some(name) => match vm.snapshots.iter().find(|s| &s.name == name) {
                Some(snap) => snap.config.clone(),
                None => return Err(die(format!("snapshot '{name}' does not exist"))),
            },
            None => vm.config.clone(),
        };
        let mut out = config_json(&config);
        out.insert("digest".into(), json!(vm.digest()));
        Ok(Value::Object(out).into())
    }

    async fn set_config(self: &Arc<Self>, ctx: &Ctx, vmid: u32, mut p: Params, sync: bool) -> ApiResult {
        let mut meta = vec!["delete", "revert", "force", "digest", "skiplock"];
        if !sync {
            meta.push("background_delay");
        }
        let keys: Vec<String> = p.map.keys().cloned().collect();
        let mut set = BTreeMap::new();
        for key in keys {
            if meta.contains(&key.as_str()) {
                continue;
            }
            let Some(kind) = config_kind(&key) else {
                p.error(&key, "property is not defined in schema and the schema does not allow additional properties");
                continue;
            };
            let Some(value) = p.opt_str(&key) else { continue };
            let value = match kind {
                Kind::Str if key == "tags" => match tag_list(&value) {
                    Ok(tags) => Some(tags),
                    Err(bad) => {
                        p.error(&key, format!("invalid format - invalid tag '{bad}'"));
                        None
                    }
                },
                Kind::Str => Some(value),
                Kind::Dns => {
                    p.dns_name(&key, &Some(value.clone()));
                    Some(value)
                }
                Kind::Memory => {
                    let n = value.strip_prefix("current=").unwrap_or(&value);
                    p.check_int(&key, n, 16, 8 * 1024 * 1024).map(|_| value.clone())
                }
                Kind::Int(min) => p.check_int(&key, &value, min, i64::MAX).map(|n| n.to_string()),
                Kind::Bool => match parse_bool(&value) {
                    Some(b) => Some(if b { "1" } else { "0" }.to_string()),
                    None => {
                        p.error(&key, format!("type check ('boolean') failed - got '{value}'"));
                        None
                    }
                },
                Kind::Enum(values) => p.opt_enum(&key, values),
            };
            if let Some(value) = value {
                set.insert(key, value);
            }
        }
        let delete_str = p.opt_str("delete");
        let digest = p.opt_str("digest");
        p.max_len("digest", &digest, 40);
        let background_delay = if sync { None } else { p.opt_int("background_delay", 1, 30) };
        if p.opt_bool("skiplock") == Some(true) {
            p.error("skiplock", ROOT_ONLY);
        }
        let _ = p.opt_bool("force");
        let revert = p.opt_str("revert");
        let mut delete = Vec::new();
        for key in delete_str.as_deref().unwrap_or("").split(['\0', ' ', '\t', ',', ';']).filter(|k| !k.is_empty()) {
            let key = if key == "cdrom" { "ide2" } else { key };
            if p.has(key) && config_kind(key).is_some() {
                p.error("delete", format!("you can't use '-{key}' and -delete {key}' at the same time"));
            } else if config_kind(key).is_none() {
                p.error("delete", format!("unknown option '{key}'"));
            } else {
                delete.push(key.to_string());
            }
        }
        p.finish()?;
        if set.is_empty() && delete.is_empty() && revert.is_none() {
            return Err(die("no options specified"));
        }

        let upid = {
            let mut st = self.lock();
            self.settle(&mut st);
            let vm = self.vm(&st, vmid)?;
            if digest.as_ref().is_some_and(|d| d != &vm.digest()) {
                return Err(die("checksum mismatch (file change by other user?)"));
            }
            if let Some(lock) = vm.lock() {
                return Err(die(format!("VM is locked ({lock})")));
            }
            if sync {
                let vm = st.vms.get_mut(&vmid).expect("the VM");
                for key in &delete {
                    vm.config.remove(key);
                }
                vm.config.extend(set);
                return Ok(Value::Null.into());
            }
            self.task_on(&mut st, "qmconfig", vmid, &ctx.user(), Op::Config { vmid, set, delete })
        };
        if let Some(delay) = background_delay {
            // Wait up to background_delay seconds; null when the task finished by then.
            let until = Instant::now() + Duration::from_secs(delay as u64);
            loop {
                {
                    let mut st = self.lock();
                    self.settle(&mut st);
                    let task = st.tasks.iter().find(|t| t.upid == upid).expect("the task");
                    if let Some(status) = &task.exitstatus {
                        if status == "OK" {
                            return Ok(Value::Null.into());
                        }
                        return Err(die(format!("failed to update VM {vmid}: {status}")));
                    }
                }
                if Instant::now() >= until {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok(json!(upid).into())
    }

    fn power(&self, ctx: &Ctx, vmid: u32, action: &str, mut p: Params) -> ApiResult {
        let allowed: &[&str] = match action {
            "start" => &[
                "skiplock",
                "stateuri",
                "migratedfrom",
                "migration_type",
                "migration_network",
                "machine",
                "force-cpu",
                "targetstorage",
                "timeout",
                "with-conntrack-state",
                "nets-host-mtu",
            ],
            "stop" => &["skiplock", "migratedfrom", "timeout", "keepActive", "overrule-shutdown"],
            "shutdown" => &["skiplock", "timeout", "forceStop", "keepActive"],
            "reboot" => &["timeout"],
            "suspend" => &["skiplock", "todisk", "statestorage"],
            _ => &["skiplock", "nocheck"],
        };
        p.allow(allowed);
        for root_only in ["skiplock", "stateuri", "migratedfrom", "keepActive", "nocheck", "force-cpu", "targetstorage"] {
            if allowed.contains(&root_only) && p.opt_str(root_only).is_some_and(|v| !v.is_empty() && v != "0") {
                p.error(root_only, ROOT_ONLY);
            }
        }
        let _ = p.opt_int("timeout", 0, i64::MAX);
        let force_stop = p.opt_bool("forceStop").unwrap_or(false);
        let todisk = p.opt_bool("todisk").unwrap_or(false);
        let _ = p.opt_bool("overrule-shutdown");
        p.finish()?;

        let mut st = self.lock();
        self.settle(&mut st);
        let user = ctx.user();
        let vm = st.vms.get(&vmid);
        let running = vm.is_some_and(|vm| vm.running);
        let paused = vm.is_some_and(|vm| vm.running && vm.paused);
        let (kind, op) = match action {
            "start" => ("qmstart", Op::Start { vmid }),
            "stop" => ("qmstop", Op::Stop { vmid }),
            "shutdown" => {
                if paused && !force_stop {
                    return Err(die("VM is paused - cannot shutdown"));
                }
                ("qmshutdown", Op::Shutdown { vmid })
            }
            "reboot" => {
                if paused {
                    return Err(die("VM is paused - cannot shutdown"));
                }
                if !running {
                    return Err(die(format!("VM {vmid} not running")));
                }
                ("qmreboot", Op::Reboot { vmid })
            }
            "suspend" => {
                if !running {
                    return Err(die(format!("VM {vmid} not running")));
                }
                if todisk {
                    return Err(die("the simulator does not suspend to disk"));
                }
                ("qmpause", Op::Suspend { vmid })
            }
            _ => {
                if !running {
                    return Err(die(format!("VM {vmid} not running")));
                }
                ("qmresume", Op::Resume { vmid })
            }
        };
        Ok(json!(self.task_on(&mut st, kind, vmid, &user, op)).into())
    }

    fn destroy(&self, ctx: &Ctx, vmid: u32, mut p: Params) -> ApiResult {
        p.allow(&["purge", "skiplock", "destroy-unreferenced-disks"]);
        let _ = p.opt_bool("purge");
        let _ = p.opt_bool("destroy-unreferenced-disks");
        if p.opt_bool("skiplock") == Some(true) {
            p.error("skiplock", ROOT_ONLY);
        }
        p.finish()?;
        let mut st = self.lock();
        self.settle(&mut st);
        // $early_checks, repeated in the worker.
        let vm = self.vm(&st, vmid)?;
        if vm.running {
            return Err(die(format!("VM {vmid} is running - destroy failed")));
        }
        Ok(json!(self.task_on(&mut st, "qmdestroy", vmid, &ctx.user(), Op::Destroy { vmid })).into())
    }

    fn snapshots(&self, vmid: u32, mut p: Params) -> ApiResult {
        p.allow(&[]);
        p.finish()?;
        let mut st = self.lock();
        self.settle(&mut st);
        let vm = self.vm(&st, vmid)?;
        let mut list: Vec<Value> = vm
            .snapshots
            .iter()
            .map(|s| {
                let mut item = json!({"name": s.name, "snaptime": s.snaptime, "vmstate": s.vmstate as u8,
                    "description": s.description});
                if let Some(parent) = &s.parent {
                    item["parent"] = json!(parent);
                }
                item
            })
            .collect();
        let mut current = json!({"name": "current", "digest": vm.digest(), "running": vm.running as u8,
            "description": "You are here!"});
        if let Some(parent) = &vm.parent {
            current["parent"] = json!(parent);
        }
        list.push(current);
        Ok(Value::Array(list).into())
    }

    fn snapshot(&self, ctx: &Ctx, vmid: u32, mut p: Params) -> ApiResult {
        p.allow(&["snapname", "vmstate", "description"]);
        let snapname = p.req_str("snapname");
        p.configid("snapname", &snapname);
        let vmstate = p.opt_bool("vmstate").unwrap_or(false);
        let description = p.opt_str("description").unwrap_or_default();
        p.finish()?;
        let name = snapname.expect("checked");
        if name == "current" {
            return Err(die("unable to use snapshot name 'current' (reserved name)"));
        }
        if name.eq_ignore_ascii_case("pending") {
            return Err(die("unable to use snapshot name 'pending' (reserved name)"));
        }
        let mut st = self.lock();
        self.settle(&mut st);
        self.vm(&st, vmid)?;
        let op = Op::Snapshot { vmid, name, vmstate, description };
        Ok(json!(self.task_on(&mut st, "qmsnapshot", vmid, &ctx.user(), op)).into())
    }

    fn snapshot_config(&self, vmid: u32, snap: &str, mut p: Params) -> ApiResult {
        p.allow(&[]);
        p.configid("snapname", &Some(snap.to_string()));
        p.finish()?;
        let mut st = self.lock();
        self.settle(&mut st);
        let vm = self.vm(&st, vmid)?;
        let snapshot = vm.snapshots.iter().find(|s| s.name == snap);
        let snapshot = snapshot.ok_or_else(|| die(format!("snapshot '{snap}' does not exist")))?;
        let mut out = config_json(&snapshot.config);
        out.insert("snaptime".into(), json!(snapshot.snaptime));
        out.insert("description".into(), json!(snapshot.description));
        if snapshot.vmstate {
            out.insert("vmstate".into(), json!(format!("local-lvm:vm-{vmid}-state-{snap}")));
        }
        if let Some(parent) = &snapshot.parent {
            out.insert("parent".into(), json!(parent));
        }
        Ok(Value::Object(out).into())
    }

    fn rollback(&self, ctx: &Ctx, vmid: u32, snap: &str, mut p: Params) -> ApiResult {
        p.allow(&["start"]);
        p.configid("snapname", &Some(snap.to_string()));
        let start = p.opt_bool("start").unwrap_or(false);
        p.finish()?;
        let mut st = self.lock();
        self.settle(&mut st);
        let op = Op::Rollback { vmid, name: snap.to_string(), start };
        Ok(json!(self.task_on(&mut st, "qmrollback", vmid, &ctx.user(), op)).into())
    }

    fn del_snapshot(&self, ctx: &Ctx, vmid: u32, snap: &str, mut p: Params) -> ApiResult {
        p.allow(&["force"]);
        p.configid("snapname", &Some(snap.to_string()));
        let _ = p.opt_bool("force");
        p.finish()?;
        let mut st = self.lock();
        self.settle(&mut st);
        let op = Op::DelSnapshot { vmid, name: snap.to_string() };
        Ok(json!(self.task_on(&mut st, "qmdelsnapshot", vmid, &ctx.user(), op)).into())
    }

    /// `assert_agent_available`.
    fn agent_available(&self, st: &State, vmid: u32) -> Result<(), ApiError> {
        let vm = self.vm(st, vmid)?;
        if !vm.agent_enabled() {
            return Err(die("No QEMU guest agent configured"));
        }
        if !vm.running {
            return Err(die(format!("VM {vmid} is not running")));
        }
        if !vm.boots || vm.paused {
            return Err(die("QEMU guest agent is not running"));
        }
        Ok(())
    }

    fn agent_ping(&self, vmid: u32, mut p: Params) -> ApiResult {
        p.allow(&[]);
        p.finish()?;
        let mut st = self.lock();
        self.settle(&mut st);
        self.agent_available(&st, vmid)?;
        Ok(json!({"result": {}}).into())
    }

    fn agent_exec(self: &Arc<Self>, vmid: u32, mut p: Params) -> ApiResult {
        p.allow(&["command", "input-data"]);
        let command = p.opt_list("command");
        if command.is_none() {
            p.error("command", "property is missing and it is not optional");
        }
        let input = p.opt_str("input-data");
        p.max_len("input-data", &input, 64 * 1024);
        p.finish()?;
        let command: Vec<String> = command.unwrap_or_default();
        let mut st = self.lock();
        self.settle(&mut st);
        self.agent_available(&st, vmid)?;
        let Some(program) = command.first().filter(|c| !c.is_empty()) else {
            return Err(die("command or input-data (or both) required"));
        };
        let disk = self.disk(vmid);
        if !guest_program_exists(&disk, program) {
            return Err(die(format!(
                "VM {vmid} qmp command 'guest-exec' failed - Failed to execute child process \u{201c}{program}\u{201d} (No such file or directory)"
            )));
        }
        let pid = st.next_guest_pid;
        st.next_guest_pid += 1;
        let mut cmd = tokio::process::Command::new(chroot_binary());
        cmd.arg(&disk)
            .args(&command)
            .current_dir("/")
            .env_clear()
            .env("PATH", GUEST_PATH)
            .env("HOME", "/root")
            .env("LANG", "C")
            .stdin(if input.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                return Err(die(format!("VM {vmid} qmp command 'guest-exec' failed - Failed to execute child process: {e}")));
            }
        };
        let pgid = child.id().unwrap_or(0);
        st.execs.insert((vmid, pid), Exec { pgid, result: None });
        if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
            tokio::spawn(async move {
                let _ = stdin.write_all(data.as_bytes()).await;
                let _ = stdin.shutdown().await;
            });
        }
        let shared = self.clone();
        tokio::spawn(async move {
            let output = child.wait_with_output().await;
            let result = match output {
                Ok(out) => ExecResult { exitcode: out.status.code(), signal: out.status.signal(), out: out.stdout, err: out.stderr },
                Err(e) => ExecResult { exitcode: Some(-1), signal: None, out: vec![], err: e.to_string().into_bytes() },
            };
            if let Some(exec) = shared.lock().execs.get_mut(&(vmid, pid)) {
                exec.result = Some(result);
            }
        });
        Ok(json!({"pid": pid}).into())
    }

    fn agent_exec_status(&self, vmid: u32, mut p: Params) -> ApiResult {
        p.allow(&["pid"]);
        let pid = p.req_int("pid", i64::MIN, i64::MAX);
        p.finish()?;
        let pid = pid.expect("checked");
        let mut st = self.lock();
        self.settle(&mut st);
        self.agent_available(&st, vmid)?;
        let key = (vmid, pid as u32);
        let invalid = || die(format!("VM {vmid} qmp command 'guest-exec-status' failed - Invalid parameter 'pid'"));
        if pid < 0 || pid > u32::MAX as i64 {
            return Err(invalid());
        }
        let Some(exec) = st.execs.get(&key) else { return Err(invalid()) };
        let Some(result) = &exec.result else {
            return Ok(json!({"exited": 0}).into());
        };
        let mut out = Map::new();
        out.insert("exited".into(), json!(1));
        if let Some(code) = result.exitcode {
            out.insert("exitcode".into(), json!(code));
        }
        if let Some(signal) = result.signal {
            out.insert("signal".into(), json!(signal));
        }
        if !result.out.is_empty() {
            out.insert("out-data".into(), json!(String::from_utf8_lossy(&result.out)));
        }
        if !result.err.is_empty() {
            out.insert("err-data".into(), json!(String::from_utf8_lossy(&result.err)));
        }
        // The guest agent forgets a process once it reported its exit.
        st.execs.remove(&key);
        Ok(Value::Object(out).into())
    }

    fn agent_file_write(&self, vmid: u32, mut p: Params) -> ApiResult {
        p.allow(&["file", "content", "encode"]);
        let file = p.req_str("file");
        let content = p.req_str("content");
        p.max_len("content", &content, 60 * 1024);
        let encode = p.opt_bool("encode").unwrap_or(true);
        p.finish()?;
        let (file, content) = (file.expect("checked"), content.expect("checked"));
        let mut st = self.lock();
        self.settle(&mut st);
        self.agent_available(&st, vmid)?;
        let bytes = if encode {
            content.into_bytes()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(content.trim())
                .map_err(|_| die(format!("VM {vmid} qmp command 'guest-file-write' failed - Invalid base64 data")))?
        };
        let open_failed =
            |why: &str| die(format!("VM {vmid} qmp command 'guest-file-open' failed - failed to open file '{file}' (mode: 'wb'): {why}"));
        let disk = self.disk(vmid);
        let Some(target) = resolve_in_root(&disk, &file) else {
            return Err(open_failed("Too many levels of symbolic links"));
        };
        let parent_ok = target.parent().is_some_and(|dir| fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()));
        if !parent_ok || target == disk {
            return Err(open_failed("No such file or directory"));
        }
        match fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_dir() => return Err(open_failed("Is a directory")),
            Ok(meta) if meta.file_type().is_symlink() => return Err(open_failed("Too many levels of symbolic links")),
            _ => {}
        }
        fs::write(&target, bytes).map_err(|e| open_failed(&e.to_string()))?;
        Ok(Value::Null.into())
    }

    fn agent_file_read(&self, vmid: u32, mut p: Params) -> ApiResult {
        p.allow(&["file"]);
        let file = p.req_str("file");
        p.finish()?;
        let file = file.expect("checked");
        let mut st = self.lock();
        self.settle(&mut st);
        self.agent_available(&st, vmid)?;
        let failed = || {
            die(format!(
                "VM {vmid} qmp command 'guest-file-open' failed - failed to open file '{file}' (mode: 'r'): No such file or directory"
            ))
        };
        let target = resolve_in_root(&self.disk(vmid), &file).ok_or_else(failed)?;
        if !fs::symlink_metadata(&target).is_ok_and(|m| m.is_file()) {
            return Err(failed());
        }
        let data = fs::read(&target).map_err(|_| failed())?;
        const MAX_READ: usize = 16 * 1024 * 1024;
        let truncated = data.len() > MAX_READ;
        let data = &data[..data.len().min(MAX_READ)];
        let mut out = json!({"content": String::from_utf8_lossy(data), "bytes-read": data.len()});
        if truncated {
            out["truncated"] = json!(1);
        }
        Ok(out.into())
    }

    fn vncproxy(&self, ctx: &Ctx, vmid: u32, mut p: Params) -> ApiResult {
        p.allow(&["websocket", "generate-password"]);
        let _ = p.opt_bool("websocket");
        let _ = p.opt_bool("generate-password");
        p.finish()?;
        let mut st = self.lock();
        self.settle(&mut st);
        self.vm(&st, vmid)?;
        let busy: Vec<u16> = st
            .vnc
            .iter()
            .filter(|s| !s.closed && (s.connected.is_some() || s.issued.elapsed() < VNC_ACCEPT_TIMEOUT))
            .map(|s| s.port)
            .collect();
        let Some(port) = (VNC_FIRST_PORT..=VNC_LAST_PORT).find(|p| !busy.contains(p)) else {
            return Err(die("unable to find free port (5900-5999)"));
        };
        // generate_vnc_password: printable ASCII '!'..'~'.
        let password: String = random_bytes(8).iter().map(|b| (b'!' + b % 94) as char).collect();
        let now = unix_now();
        let signature = base64::engine::general_purpose::STANDARD.encode(random_bytes(256));
        // The password in front of the ticket, as Qemu.pm does for clients that use the
        // ticket's first 8 characters as VNC password.
        let ticket = format!("{password}:PVEVNC:{now:08X}::{signature}");
        let user = ctx.user();
        let upid = self.new_task(&mut st, "vncproxy", &vmid.to_string(), &user, Op::Vnc, Instant::now(), vec![]);
        st.vnc.push(VncSession {
            ticket: ticket.clone(),
            user: user.clone(),
            vmid,
            port,
            password: password.clone(),
            issued: Instant::now(),
            upid: upid.clone(),
            connected: None,
            closed: false,
        });
        Ok(json!({"user": user, "ticket": ticket, "port": port.to_string(), "upid": upid, "cert": self.cert_pem,
            "password": password})
        .into())
    }

    fn vncwebsocket(&self, ctx: &Ctx, vmid: u32, mut p: Params) -> ApiResult {
        p.allow(&["port", "vncticket"]);
        let port = p.req_int("port", 5900, 5999);
        let ticket = p.req_str("vncticket");
        p.max_len("vncticket", &ticket, 512);
        p.finish()?;
        let (port, ticket) = (port.expect("checked") as u16, ticket.expect("checked"));
        let mut st = self.lock();
        self.settle(&mut st);
        let user = ctx.user();
        let valid = st.vnc.iter().any(|s| {
            s.ticket == ticket && s.user == user && s.vmid == vmid && s.port == port && s.issued.elapsed() < Duration::from_secs(40)
        });
        if !valid {
            return Err(ApiError::Http(401, "permission denied - invalid PVEVNC ticket\n".to_string()));
        }
        self.vm(&st, vmid)?;
        Ok(json!({"port": port.to_string()}).into())
    }

    fn find_task<'a>(&self, st: &'a State, upid: &str) -> Result<&'a Task, ApiError> {
        if !valid_upid(upid) {
            return Err(param_error("upid", "unable to parse worker upid"));
        }
        st.tasks.iter().find(|t| t.upid == upid).ok_or_else(|| param_error("upid", "no such task"))
    }

    fn task_status(&self, upid: &str, mut p: Params) -> ApiResult {
        p.allow(&[]);
        p.finish()?;
        let mut st = self.lock();
        self.settle(&mut st);
        let task = self.find_task(&st, upid)?;
        let (user, tokenid) = match task.user.split_once('!') {
            Some((user, token)) => (user.to_string(), Some(token.to_string())),
            None => (task.user.clone(), None),
        };
        let mut out = json!({
            "upid": task.upid, "node": task.node, "pid": task.pid, "pstart": task.pstart,
            "starttime": task.starttime, "type": task.kind, "id": task.id, "user": user,
            "status": if task.exitstatus.is_some() { "stopped" } else { "running" },
        });
        if let Some(tokenid) = tokenid {
            out["tokenid"] = json!(tokenid);
        }
        if let Some(exitstatus) = &task.exitstatus {
            out["exitstatus"] = json!(exitstatus);
        }
        Ok(out.into())
    }

    fn task_log(&self, upid: &str, mut p: Params) -> ApiResult {
        p.allow(&["start", "limit", "download"]);
        let start = p.opt_int("start", 0, i64::MAX).unwrap_or(0) as usize;
        let limit = p.opt_int("limit", 0, i64::MAX).unwrap_or(50) as usize;
        let _ = p.opt_bool("download");
        p.finish()?;
        let mut st = self.lock();
        self.settle(&mut st);
        let task = self.find_task(&st, upid)?;
        let lines: Vec<Value> = task.log.iter().enumerate().skip(start).take(limit).map(|(i, t)| json!({"n": i + 1, "t": t})).collect();
        Ok(Data(Value::Array(lines), Some(task.log.len())))
    }
}

enum Route {
    List,
    Index,
    Destroy,
    Clone,
    Template,
    GetConfig,
    SetConfig(bool),
    Current,
    Power(String),
    Snapshots,
    Snapshot,
    SnapshotConfig(String),
    Rollback(String),
    DelSnapshot(String),
    AgentPing,
    AgentExec,
    AgentExecStatus,
    AgentFileWrite,
    AgentFileRead,
    VncProxy,
    VncWebsocket,
    TaskStatus(String),
    TaskLog(String),
}

struct CloneRequest {
    src: u32,
    newid: u32,
    name: Option<String>,
    description: Option<String>,
    pool: Option<String>,
    snapname: Option<String>,
    storage: Option<String>,
    format: Option<String>,
    full: Option<bool>,
    target: Option<String>,
}

fn task_deadline(st: &State, upid: &str) -> Option<Instant> {
    st.tasks.iter().find(|t| t.upid == upid && t.op.is_some()).map(|t| t.deadline)
}

fn disk_volid(vm: &Vm) -> String {
    let disk = vm.config.get("scsi0").cloned().unwrap_or_else(|| format!("local-lvm:vm-{}-disk-0", vm.vmid));
    disk.split(',').next().unwrap_or("").to_string()
}

/// `PVE::Tools::upid_decode`'s pattern.
fn valid_upid(upid: &str) -> bool {
    let parts: Vec<&str> = upid.split(':').collect();
    let hex_len = |s: &str, lens: &[usize]| lens.contains(&s.len()) && s.chars().all(|c| c.is_ascii_hexdigit());
    parts.len() == 9
        && parts[0] == "UPID"
        && !parts[1].is_empty()
        && hex_len(parts[2], &[8])
        && hex_len(parts[3], &[8, 9])
        && hex_len(parts[4], &[8])
        && !parts[5].is_empty()
        && !parts[7].is_empty()
        && parts[8].is_empty()
}

// ---------------------------------------------------------------------------------------
// The console: RFB 3.8 with VNC Authentication over binary WebSocket frames

struct WsIo<S> {
    ws: WebSocketStream<S>,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsIo<S> {
    async fn read(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            match self.ws.next().await? {
                Ok(Message::Binary(data)) => self.buf.extend_from_slice(&data),
                Ok(Message::Text(text)) => self.buf.extend_from_slice(text.as_bytes()),
                Ok(Message::Ping(_)) | Ok(Message::Pong(_)) | Ok(Message::Frame(_)) => {}
                Ok(Message::Close(_)) | Err(_) => return None,
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    async fn send(&mut self, data: Vec<u8>) -> Option<()> {
        self.ws.send(Message::Binary(data)).await.ok()
    }
}

#[derive(Clone, Copy)]
struct PixelFormat {
    bpp: u8,
    big_endian: bool,
    true_colour: bool,
    max: [u16; 3],
    shift: [u8; 3],
}

impl PixelFormat {
    const DEFAULT: PixelFormat = PixelFormat { bpp: 32, big_endian: false, true_colour: true, max: [255, 255, 255], shift: [16, 8, 0] };

    fn bytes(&self) -> Vec<u8> {
        let mut b = vec![self.bpp, 24, self.big_endian as u8, self.true_colour as u8];
        for max in self.max {
            b.extend_from_slice(&max.to_be_bytes());
        }
        b.extend_from_slice(&self.shift);
        b.extend_from_slice(&[0, 0, 0]);
        b
    }

    fn parse(b: &[u8]) -> PixelFormat {
        PixelFormat {
            bpp: b[0],
            big_endian: b[2] != 0,
            true_colour: b[3] != 0,
            max: [u16::from_be_bytes([b[4], b[5]]), u16::from_be_bytes([b[6], b[7]]), u16::from_be_bytes([b[8], b[9]])],
            shift: [b[10], b[11], b[12]],
        }
    }

    /// One pixel of the colour `rgb`, in this format.
    fn pixel(&self, rgb: [u8; 3]) -> Vec<u8> {
        let value: u32 = if self.true_colour {
            (0..3).map(|i| (rgb[i] as u32 * self.max[i] as u32 / 255) << self.shift[i]).fold(0, |a, c| a | c)
        } else {
            1
        };
        let size = (self.bpp as usize / 8).clamp(1, 4);
        if self.big_endian {
            value.to_be_bytes()[4 - size..].to_vec()
        } else {
            value.to_le_bytes()[..size].to_vec()
        }
    }
}

/// The colour of the simulated screen.
const SCREEN_RGB: [u8; 3] = [0x33, 0x66, 0xCC];

/// VNC Authentication: DES of the challenge with the password as key, each key byte's bits
/// reversed.
fn vnc_auth_response(password: &str, challenge: &[u8]) -> Vec<u8> {
    use des::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
    let mut key = [0u8; 8];
    for (k, b) in key.iter_mut().zip(password.bytes()) {
        *k = b.reverse_bits();
    }
    let cipher = des::Des::new(GenericArray::from_slice(&key));
    let mut out = challenge.to_vec();
    for block in out.chunks_mut(8) {
        cipher.encrypt_block(GenericArray::from_mut_slice(block));
    }
    out
}

impl Shared {
    async fn vnc_session(self: Arc<Self>, upgraded: hyper::upgrade::Upgraded, ticket: &str) {
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let mut io = WsIo { ws, buf: Vec::new() };
        let session = {
            let mut st = self.lock();
            self.settle(&mut st);
            st.vnc.iter().find(|s| s.ticket == ticket).map(|s| (s.vmid, s.password.clone(), s.connected))
        };
        let Some((vmid, password, Some(connected))) = session else { return };
        let running = self.lock().vms.get(&vmid).is_some_and(|vm| vm.running);
        if running {
            // `qm vncproxy` fails on a stopped VM: the connection just closes.
            let _ = rfb_server(&mut io, vmid, &password, connected).await;
        }
        let _ = io.ws.close(None).await;
    }
}

async fn rfb_server<S: AsyncRead + AsyncWrite + Unpin>(io: &mut WsIo<S>, vmid: u32, password: &str, connected: Instant) -> Option<()> {
    io.send(b"RFB 003.008\n".to_vec()).await?;
    let version = io.read(12).await?;
    let minor = match &version[..] {
        b"RFB 003.008\n" => 8,
        b"RFB 003.007\n" => 7,
        b"RFB 003.003\n" => 3,
        _ => return None,
    };
    let fail = |minor: u8| {
        let mut msg = 1u32.to_be_bytes().to_vec();
        if minor >= 8 {
            let reason = b"Authentication failed";
            msg.extend_from_slice(&(reason.len() as u32).to_be_bytes());
            msg.extend_from_slice(reason);
        }
        msg
    };
    if minor == 3 {
        io.send(2u32.to_be_bytes().to_vec()).await?;
    } else {
        io.send(vec![1, 2]).await?;
        let chosen = io.read(1).await?;
        if chosen[0] != 2 {
            io.send(fail(minor)).await?;
            return None;
        }
    }
    let challenge = random_bytes(16);
    io.send(challenge.clone()).await?;
    let response = io.read(16).await?;
    if response != vnc_auth_response(password, &challenge) || connected.elapsed() > VNC_PASSWORD_LIFETIME {
        io.send(fail(minor)).await?;
        return None;
    }
    io.send(0u32.to_be_bytes().to_vec()).await?;
    let _shared = io.read(1).await?;

    let mut pf = PixelFormat::DEFAULT;
    let name = format!("pve-vm-{vmid}");
    let mut init = Vec::new();
    init.extend_from_slice(&FB_WIDTH.to_be_bytes());
    init.extend_from_slice(&FB_HEIGHT.to_be_bytes());
    init.extend_from_slice(&pf.bytes());
    init.extend_from_slice(&(name.len() as u32).to_be_bytes());
    init.extend_from_slice(name.as_bytes());
    io.send(init).await?;

    loop {
        let kind = io.read(1).await?[0];
        match kind {
            // SetPixelFormat
            0 => pf = PixelFormat::parse(&io.read(19).await?[3..]),
            // SetEncodings
            2 => {
                let head = io.read(3).await?;
                let count = u16::from_be_bytes([head[1], head[2]]) as usize;
                io.read(4 * count).await?;
            }
            // FramebufferUpdateRequest: one Raw rectangle, the whole screen.
            3 => {
                io.read(9).await?;
                let mut update = vec![0, 0];
                update.extend_from_slice(&1u16.to_be_bytes());
                for v in [0, 0, FB_WIDTH, FB_HEIGHT] {
                    update.extend_from_slice(&v.to_be_bytes());
                }
                update.extend_from_slice(&0i32.to_be_bytes());
                let pixel = pf.pixel(SCREEN_RGB);
                for _ in 0..(FB_WIDTH as usize * FB_HEIGHT as usize) {
                    update.extend_from_slice(&pixel);
                }
                io.send(update).await?;
            }
            // KeyEvent
            4 => {
                io.read(7).await?;
            }
            // PointerEvent
            5 => {
                io.read(5).await?;
            }
            // ClientCutText (a negative length: the extended clipboard)
            6 => {
                let head = io.read(7).await?;
                let len = i32::from_be_bytes([head[3], head[4], head[5], head[6]]);
                io.read(len.unsigned_abs() as usize).await?;
            }
            // EnableContinuousUpdates
            150 => {
                io.read(9).await?;
            }
            // QEMU client messages: extended key event, audio.
            248 => match io.read(1).await?[0] {
                0 => {
                    io.read(10).await?;
                }
                1 => {
                    let op = io.read(2).await?;
                    if u16::from_be_bytes([op[0], op[1]]) == 2 {
                        io.read(6).await?;
                    }
                }
                _ => return None,
            },
            _ => return None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Disks, guest files and processes

/// A busybox root: `bin/busybox` copied from the host, its applets as relative symlinks.
fn make_busybox_root(disk: &Path) -> io::Result<()> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox", "/usr/sbin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("busybox (busybox-static) is needed for the simulated guests");
    for dir in ["bin", "sbin", "usr/bin", "usr/sbin", "root", "tmp", "etc", "opt", "dev", "proc", "var/tmp", "home"] {
        fs::create_dir_all(disk.join(dir))?;
    }
    let guest_busybox = disk.join("bin/busybox");
    fs::copy(busybox, &guest_busybox)?;
    fs::set_permissions(&guest_busybox, fs::Permissions::from_mode(0o755))?;
    let list = std::process::Command::new(busybox).arg("--list").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        let link = disk.join("bin").join(applet);
        if fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink("busybox", &link)?;
        }
    }
    fs::write(disk.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    fs::write(disk.join("etc/group"), "root:x:0:\n")?;
    fs::write(disk.join("etc/hostname"), "pve-guest\n")?;
    fs::write(disk.join("etc/os-release"), "ID=busybox\nNAME=\"BusyBox\"\n")?;
    fs::set_permissions(disk.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::set_permissions(disk.join("root"), fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// A recursive copy that copies symlinks as symlinks (never follows one).
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(from)?;
    if !meta.is_dir() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("{} is not a directory", from.display())));
    }
    fs::create_dir(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &dest)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &dest)?;
        }
    }
    fs::set_permissions(to, meta.permissions())?;
    Ok(())
}

/// The host path of `path` inside `root` as the guest sees it: symlinks (absolute or
/// relative) resolved inside `root`, `..` stopping at `root`. The result's components are
/// no symlinks (the last one may be missing). None after 40 symlinks.
fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    let mut pending: Vec<String> = path.split('/').rev().map(str::to_string).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = resolved.iter().fold(root.to_path_buf(), |p, c| p.join(c)).join(&part);
        match fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                let target = fs::read_link(&candidate).ok()?;
                let target = target.to_str()?.to_string();
                if target.starts_with('/') {
                    resolved.clear();
                }
                pending.extend(target.split('/').rev().map(str::to_string));
            }
            _ => resolved.push(part),
        }
    }
    Some(resolved.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

/// Whether the guest agent would find `program` (a path, or a name on the guest's PATH).
fn guest_program_exists(disk: &Path, program: &str) -> bool {
    let is_file = |guest_path: &str| resolve_in_root(disk, guest_path).is_some_and(|p| fs::metadata(&p).is_ok_and(|m| m.is_file()));
    if program.contains('/') {
        return is_file(program);
    }
    GUEST_PATH.split(':').any(|dir| is_file(&format!("{dir}/{program}")))
}

fn chroot_binary() -> &'static str {
    ["/usr/sbin/chroot", "/usr/bin/chroot", "/sbin/chroot"].into_iter().find(|p| Path::new(p).exists()).unwrap_or("chroot")
}

fn kill_group(pgid: u32) {
    if pgid > 1 {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid as i32), nix::sys::signal::Signal::SIGKILL);
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers

fn random_bytes(n: usize) -> Vec<u8> {
    use std::io::Read as _;
    let mut buf = vec![0u8; n];
    fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).expect("/dev/urandom");
    buf
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn uuid() -> String {
    let b = hex(&random_bytes(16));
    format!("{}-{}-4{}-a{}-{}", &b[..8], &b[8..12], &b[13..16], &b[17..20], &b[20..32])
}

fn mac() -> String {
    let b = random_bytes(3);
    format!("BC:24:11:{:02X}:{:02X}:{:02X}", b[0], b[1], b[2])
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
