//! The VM bench's timed side (bench/vm.sh): the vm plugin's QEMU backend linked in,
//! real VMs under TCG from the guest image (scripts/vm-guest-image).
//!
//!   vm-start GUEST_DIR STATE_DIR ROUNDS
//!
//! Timed, each over ROUNDS:
//! - a linked clone (`qemu-img create -b`, what every instance starts with);
//! - a cold boot: instantiate from the template until a VNC client, authenticated with
//!   the instance's password, sees a non-blank frame (QEMU's VNC server greets before
//!   the guest runs, so a greeting says nothing);
//! - a live snapshot of a booted VM (its memory saved, the VM stopped);
//! - a start from that snapshot until the same non-blank frame;
//! - five starts from the snapshot at once, until all five show a frame;
//! - the resident memory of each running guest's QEMU.
//!
//! Prints one JSON object of the measurements.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use daas_common::{config::VmApiSection, protocols::MachineSpec, rfb};
use daas_plugin_vm::qemu::Qemu;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const PASSWORD: &str = "bench-pw";

fn spec(artifact: &str, name: String) -> MachineSpec {
    MachineSpec { artifact: artifact.into(), name, vnc_port: Some(5900), vnc_password: PASSWORD.into(), ..Default::default() }
}

/// Connect to a VNC server as a client with the password and ask for whole frames until
/// one has a pixel that is not black.
async fn nonblank_frame(port: u16, deadline: Instant) -> Result<(), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    rfb::authenticate(&mut s, PASSWORD).await.map_err(|e| e.to_string())?;
    s.write_all(&[1]).await.map_err(|e| e.to_string())?; // ClientInit: shared
    let (w, h) = (s.read_u16().await.map_err(|e| e.to_string())?, s.read_u16().await.map_err(|e| e.to_string())?);
    let mut format = [0u8; 16];
    s.read_exact(&mut format).await.map_err(|e| e.to_string())?;
    let bytes_per_pixel = usize::from(format[0] / 8);
    let name_len = s.read_u32().await.map_err(|e| e.to_string())?;
    let mut name = vec![0u8; name_len as usize];
    s.read_exact(&mut name).await.map_err(|e| e.to_string())?;
    // SetEncodings: Raw only.
    s.write_all(&[2, 0, 0, 1, 0, 0, 0, 0]).await.map_err(|e| e.to_string())?;
    loop {
        if Instant::now() > deadline {
            return Err("no non-blank frame in time".into());
        }
        let mut request = vec![3, 0, 0, 0, 0, 0];
        request.extend_from_slice(&w.to_be_bytes());
        request.extend_from_slice(&h.to_be_bytes());
        s.write_all(&request).await.map_err(|e| e.to_string())?;
        let mut lit = false;
        loop {
            match s.read_u8().await.map_err(|e| e.to_string())? {
                0 => {
                    let _pad = s.read_u8().await.map_err(|e| e.to_string())?;
                    let rects = s.read_u16().await.map_err(|e| e.to_string())?;
                    for _ in 0..rects {
                        let mut head = [0u8; 12];
                        s.read_exact(&mut head).await.map_err(|e| e.to_string())?;
                        let (rw, rh) = (u16::from_be_bytes([head[4], head[5]]) as usize, u16::from_be_bytes([head[6], head[7]]) as usize);
                        let encoding = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
                        if encoding != 0 {
                            return Err(format!("the server sent encoding {encoding}, not Raw"));
                        }
                        let mut pixels = vec![0u8; rw * rh * bytes_per_pixel];
                        s.read_exact(&mut pixels).await.map_err(|e| e.to_string())?;
                        lit |= pixels.chunks_exact(bytes_per_pixel).any(|p| p[..3.min(bytes_per_pixel)].iter().any(|b| *b != 0));
                    }
                    break;
                }
                2 => {} // Bell
                3 => {
                    let mut pad = [0u8; 3];
                    s.read_exact(&mut pad).await.map_err(|e| e.to_string())?;
                    let len = s.read_u32().await.map_err(|e| e.to_string())?;
                    let mut text = vec![0u8; len as usize];
                    s.read_exact(&mut text).await.map_err(|e| e.to_string())?;
                }
                t => return Err(format!("unexpected server message {t}")),
            }
        }
        if lit {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Instantiate and wait for a non-blank frame: the whole start.
async fn start(q: &Qemu, artifact: &str, name: String) -> Duration {
    let t = Instant::now();
    let (_, vnc) = q.instantiate(&spec(artifact, name), None).await.expect("the VM starts");
    nonblank_frame(vnc.expect("a VNC endpoint").port, Instant::now() + Duration::from_secs(60)).await.expect("a non-blank frame");
    t.elapsed()
}

fn ms(d: &[Duration]) -> Vec<f64> {
    d.iter().map(|d| d.as_secs_f64() * 1000.0).collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, guest, state, rounds] = &args[..] else {
        eprintln!("usage: vm-start GUEST_DIR STATE_DIR ROUNDS");
        std::process::exit(2);
    };
    let guest = PathBuf::from(guest);
    let state = PathBuf::from(state);
    let rounds: usize = rounds.parse().expect("ROUNDS is a number");
    let cfg: VmApiSection = serde_json::from_value(serde_json::json!({
        "state_dir": state, "accel": "tcg", "memory_mb": 256, "boot_timeout_ms": 60000,
        "templates": [{ "name": "guest", "disk": guest.join("base.qcow2"), "kernel": guest.join("vmlinux"),
                        "initrd": guest.join("initrd.cpio"), "append": "console=ttyS0 quiet" }],
    }))
    .unwrap();
    let q = Qemu::new(&cfg, &state).expect("the backend");

    // Linked clones, alone.
    let mut clone = Vec::new();
    for i in 0..rounds {
        let t = Instant::now();
        let out = std::process::Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(guest.join("base.qcow2"))
            .arg(state.join(format!("clone-{i}.qcow2")))
            .output()
            .unwrap();
        assert!(out.status.success());
        clone.push(t.elapsed());
        std::fs::remove_file(state.join(format!("clone-{i}.qcow2"))).unwrap();
    }

    // Cold boots.
    let mut cold = Vec::new();
    for i in 0..rounds {
        cold.push(start(&q, "guest", format!("cold-{i}")).await);
        q.remove(&format!("cold-{i}")).await.unwrap();
    }

    // Live snapshots of a booted VM (each its own artifact; the last one kept).
    let mut snapshot = Vec::new();
    for i in 0..rounds {
        q.instantiate(&spec("guest", format!("dep-{i}")), None).await.unwrap();
        let t = Instant::now();
        q.capture(&format!("dep-{i}"), &format!("snap-{i}"), true).await.unwrap();
        snapshot.push(t.elapsed());
        q.remove(&format!("dep-{i}")).await.unwrap();
        if i + 1 < rounds {
            q.remove_artifact(&format!("snap-{i}")).await.unwrap();
        }
    }
    let snap = format!("snap-{}", rounds - 1);

    // Starts from the snapshot.
    let mut resume = Vec::new();
    for i in 0..rounds {
        resume.push(start(&q, &snap, format!("app-{i}")).await);
        q.remove(&format!("app-{i}")).await.unwrap();
    }

    // Five at once.
    let t = Instant::now();
    let five: Vec<Duration> = futures::future::join_all((0..5).map(|i| start(&q, &snap, format!("five-{i}")))).await;
    let five_wall = t.elapsed();
    let rss: Vec<u64> = q.instances().iter().filter_map(|i| i.rss_bytes).collect();
    for i in 0..5 {
        q.remove(&format!("five-{i}")).await.unwrap();
    }
    q.remove_artifact(&snap).await.unwrap();

    let out = serde_json::json!({
        "rounds": rounds,
        "clone_ms": ms(&clone),
        "cold_ms": ms(&cold),
        "snapshot_ms": ms(&snapshot),
        "resume_ms": ms(&resume),
        "five_ms": ms(&five),
        "five_wall_ms": five_wall.as_secs_f64() * 1000.0,
        "rss_bytes": rss,
    });
    println!("{out}");
}
