//! A podman Docker API service of the test's own: `podman system service --time=0` on a
//! socket in a temporary directory, killed when dropped, and the test images
//! (`scripts/container-test-images`, built with `podman import`, no registry).
//! Shared by the container plugin's tests and the host's container tests.

#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// busybox as the whole rootfs; its command waits and exits on SIGTERM.
pub const BUSYBOX: &str = "localhost/daas-test-busybox:latest";
/// Xvfb + x11vnc serving VNC on 5900 with `$VNC_PASSWORD`.
pub const DESKTOP: &str = "localhost/daas-test-desktop:latest";

/// The running service.
pub struct Podman {
    child: Child,
    dir: tempfile::TempDir,
}

fn workspace() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("scripts/container-test-images").exists() {
        assert!(dir.pop(), "the workspace root (with scripts/container-test-images) was not found");
    }
    dir
}

impl Podman {
    /// Start the service and make sure the test images exist. None (after printing
    /// `SKIPPED: podman missing`) only when podman is not installed: `scripts/setup`
    /// installs it, so CI always runs these tests.
    pub fn start() -> Option<Podman> {
        if Command::new("podman").arg("--version").output().is_err() {
            println!("SKIPPED: podman missing (bash scripts/setup installs it)");
            return None;
        }
        let status = Command::new("bash").arg(workspace().join("scripts/container-test-images")).status().unwrap();
        assert!(status.success(), "building the test images failed");
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("podman.sock");
        let child = Command::new("podman")
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "podman system service did not create {} within 20 s", socket.display());
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Podman { child, dir })
    }

    /// The socket's path.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("podman.sock")
    }

    /// `unix:///...` for `[container_request] host`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// Run the podman CLI (against the same storage as the service); its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("podman").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Names of the containers (any state) with this label `key=value`.
    pub fn containers_labelled(&self, label: &str) -> Vec<String> {
        self.cli(&["ps", "-a", "--filter", &format!("label={label}"), "--format", "{{.Names}}"])
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Remove every container with this label (cleanup of a test's containers).
    /// The ids of the images with this label (`key=value`): a committed container's
    /// image keeps the container's labels.
    #[allow(dead_code)]
    pub fn images_labelled(&self, label: &str) -> Vec<String> {
        self.cli(&["images", "-q", "--filter", &format!("label={label}")]).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
    }

    pub fn remove_labelled(&self, label: &str) {
        for name in self.containers_labelled(label) {
            self.cli(&["rm", "-f", "-t", "0", &name]);
        }
    }
}

/// Removes the containers with a label (`key=value`) when dropped, whatever the test did.
pub struct Cleanup<'a>(pub &'a Podman, pub String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.0.remove_labelled(&self.1);
        for image in self.0.images_labelled(&self.1) {
            self.0.cli(&["rmi", "-f", &image]);
        }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Read the first 12 bytes a TCP port on 127.0.0.1 sends (an RFB greeting).
pub fn greeting(port: u16) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

/// A path's text.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}
