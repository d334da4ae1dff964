//! The guest image of the VM tests (`scripts/vm-guest-image`, built from Debian's
//! packages, idempotent) and what a site needs to run VMs from it. Shared by the vm
//! plugin's tests and the host's VM tests.

#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use daas_common::config::VmApiSection;
use daas_plugin_vm::qemu::Qemu;

/// The template's name in the tests' vm.toml.
pub const TEMPLATE: &str = "daas-guest";

/// The built guest image.
pub struct GuestImage {
    pub dir: PathBuf,
}

fn workspace() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("scripts/vm-guest-image").exists() {
        assert!(dir.pop(), "the workspace root (with scripts/vm-guest-image) was not found");
    }
    dir
}

impl GuestImage {
    /// The image in `.cache/vm-guest`, built first when missing (scripts/test builds it
    /// before the tests run, so parallel tests find it made). None (after printing
    /// `SKIPPED`) only when QEMU is not installed: `scripts/setup` installs it, so CI
    /// always runs these tests.
    pub fn get() -> Option<GuestImage> {
        if Command::new("qemu-system-x86_64").arg("--version").output().is_err() {
            println!("SKIPPED: qemu-system-x86_64 missing (bash scripts/setup installs it)");
            return None;
        }
        let dir = workspace().join(".cache/vm-guest");
        let status = Command::new("bash").arg(workspace().join("scripts/vm-guest-image")).arg(&dir).status().unwrap();
        assert!(status.success(), "building the guest image failed (bash scripts/vm-guest-image)");
        Some(GuestImage { dir })
    }

    /// `[[vm_api.templates]]` entries: the guest as `daas-guest`, and `never-boots`, the
    /// same kernel without an initrd, whose boot panics ("VFS: Unable to mount root").
    pub fn templates_toml(&self) -> String {
        let d = self.dir.display();
        format!(
            "[[vm_api.templates]]\nname = \"{TEMPLATE}\"\ndisk = \"{d}/base.qcow2\"\nkernel = \"{d}/vmlinux\"\ninitrd = \"{d}/initrd.cpio\"\nappend = \"console=ttyS0 quiet\"\n\n\
             [[vm_api.templates]]\nname = \"never-boots\"\ndisk = \"{d}/base.qcow2\"\nkernel = \"{d}/vmlinux\"\nappend = \"console=ttyS0 panic=0\"\n"
        )
    }
}

/// The QEMU processes whose command line names `dir` (a site's state directory).
pub fn qemu_processes(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("qemu-system") && cmdline.contains(&needle) {
            found.push(pid);
        }
    }
    found
}

/// Kills what a failed test left running under `dir`.
pub struct Cleanup(pub PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pid in qemu_processes(&self.0) {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

/// A QEMU backend on `state` with the guest image's templates (VMs of 192 MiB), as a
/// site's vm.toml would make it.
pub fn backend(image: &GuestImage, state: &Path, accel: &str, boot_timeout_ms: u64) -> Qemu {
    let templates: toml::Value = toml::from_str(&image.templates_toml()).unwrap();
    let cfg: VmApiSection = serde_json::from_value(serde_json::json!({
        "state_dir": state,
        "accel": accel,
        "boot_timeout_ms": boot_timeout_ms,
        "memory_mb": 192,
        "templates": templates["vm_api"]["templates"],
    }))
    .unwrap();
    Qemu::new(&cfg, state).unwrap()
}

/// A shell line run in a VM through its guest agent: its output (the exit code must be 0).
pub async fn sh(q: &Qemu, vm: &str, line: &str) -> String {
    let (code, out) = q.exec(vm, &["/bin/sh".into(), "-c".into(), line.into()], Duration::from_secs(20)).await.unwrap();
    assert_eq!(code, 0, "`{line}` in {vm}: {out}");
    out
}
