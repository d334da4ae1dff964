//! `vm.toml`.

use super::*;

file! {
    /// `vm.toml`: the VM backends.
    VmFile {
        /// `[vm_api]`
        vm_api: VmApiSection,
        /// `[vm_rest]`
        vm_rest: VmRestSection,
        /// `[vm_http]`
        vm_http: HttpAdapterSection,
    }
}

/// `[vm_api]` (seed `ProxmoxApi`'s place): which backend runs the VMs, and the local
/// QEMU backend's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct VmApiSection {
    /// `qemu` (QEMU on this server, the default) or `proxmox` (Proxmox VE over its REST
    /// API, `[vm_rest]`).
    pub backend: String,
    /// Where the QEMU backend keeps its artifacts (templates' clones, snapshots, saved
    /// states) and instances; relative to the site. Its sockets live there too, so the
    /// path must stay short (the backend refuses to start when a socket path would pass
    /// the 107 bytes Unix allows).
    pub state_dir: PathBuf,
    /// The QEMU system emulator.
    pub qemu: PathBuf,
    /// `auto` (KVM when a probe boot under it works, TCG otherwise), `kvm` or `tcg`.
    pub accel: String,
    /// Memory of a VM whose object sets none (`hw_memory`), in MiB.
    pub memory_mb: u64,
    /// CPUs of a VM whose object sets none (`hw_cpus`).
    pub cpus: u32,
    /// The first VNC display tried (`-vnc 127.0.0.1:N`, port 5900 + N); QEMU takes the
    /// next free one up to `vnc_display_base + vnc_displays - 1`.
    pub vnc_display_base: u16,
    /// How many VNC displays the backend may use.
    pub vnc_displays: u16,
    /// How long a VM's start waits for its guest agent, in milliseconds, before it fails
    /// with the console's last lines and removes the VM.
    pub boot_timeout_ms: u64,
    /// How many of the console's last lines a failed start reports.
    pub console_lines: usize,
    /// On start-up, remove the VMs of this site's state directory that belong to no
    /// instance (a crash's leftovers; otherwise they are only reported in the log).
    pub remove_orphans: bool,
    /// The base images' templates (`[[vm_api.templates]]`): an object's `id_docker`
    /// names one.
    pub templates: Vec<VmTemplate>,
}

impl Default for VmApiSection {
    fn default() -> Self {
        VmApiSection {
            backend: "qemu".into(),
            state_dir: PathBuf::from("data/vm"),
            qemu: PathBuf::from("qemu-system-x86_64"),
            accel: "auto".into(),
            memory_mb: 256,
            cpus: 1,
            vnc_display_base: 200,
            vnc_displays: 200,
            boot_timeout_ms: 60_000,
            console_lines: 20,
            remove_orphans: false,
            templates: Vec::new(),
        }
    }
}

/// One template of the QEMU backend: a qcow2 disk that instances clone (linked clones:
/// it is never written), and how it boots.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct VmTemplate {
    /// Its name: what an administrator's base image names in `id_docker`.
    pub name: String,
    /// The qcow2 disk (relative to the site).
    pub disk: PathBuf,
    /// A kernel to boot directly (`-kernel`, relative to the site); empty: the disk's
    /// own boot loader.
    pub kernel: PathBuf,
    /// Its initrd (`-initrd`).
    pub initrd: PathBuf,
    /// Its command line (`-append`).
    pub append: String,
}

/// `[vm_rest]` (seed `ProxmoxRestConfig`): Proxmox VE's REST API, for `[vm_api]
/// backend = "proxmox"`. TLS certificate checks are `[vm_http] verify_tls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct VmRestSection {
    /// The API's address, `https://HOST:8006` (the path `/api2/json` is added).
    pub url: String,
    /// The node VMs are made on.
    pub node: String,
    /// An API token's id, `USER@REALM!TOKENID`; with `token_secret`. Preferred over a
    /// password: tokens need no renewal and no CSRF token.
    pub token_id: String,
    /// The API token's secret (a UUID).
    pub token_secret: String,
    /// A user (`USER@REALM`) logging in for a ticket, when no token is set; the ticket
    /// is renewed before its 2 hours end, and once more on a 401.
    pub username: String,
    /// The user's password.
    pub password: String,
    /// Timeout of one API request, in milliseconds.
    pub timeout_ms: u64,
    /// Attempts of a request that failed to connect or answered 5xx (reads only), and
    /// of a clone whose template's lock timed out.
    pub retries: u32,
    /// How long a Proxmox task (clone, start, snapshot...) may run, in milliseconds.
    pub task_timeout_ms: u64,
    /// The VM ids this site uses (seed `suggest_vmid`: 100 to 254).
    pub vmid_min: u32,
    /// The highest VM id this site uses.
    pub vmid_max: u32,
}

impl Default for VmRestSection {
    fn default() -> Self {
        VmRestSection {
            url: String::new(),
            node: "pve".into(),
            token_id: String::new(),
            token_secret: String::new(),
            username: String::new(),
            password: String::new(),
            timeout_ms: 30_000,
            retries: 3,
            task_timeout_ms: 600_000,
            vmid_min: 100,
            vmid_max: 254,
        }
    }
}

file! {
    /// An HTTP client's settings (seed `HttpAdapterConfig`).
    HttpAdapterSection {
        /// Verify TLS certificates.
        verify_tls: bool,
        /// Log.
        logging: bool,
        /// Log requests.
        logrequests: bool,
        /// Log results.
        logresults: bool,
    }
}
