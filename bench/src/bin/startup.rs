//! Host start-up time, for `bench/run.sh`.
//!
//! `--runs` times: spawn `<daas> serve --site <site> --listen 127.0.0.1:0`, read its
//! stdout until `daas: listening on http://127.0.0.1:PORT`, then poll `GET /readyz`
//! until it answers 200; the wall time from spawn to that 200 is one sample. The server
//! is then stopped with SIGTERM and waited for. Prints one JSON line with the samples,
//! their median and maximum.
//!
//! Usage: `startup --daas target/release/daas --site bench/site [--runs 5]
//! [--pidfile FILE]`. The pid of the running server is written to `--pidfile` so that
//! the calling script can kill it should this program be killed first.
//!
//! Bounded: at most 20 runs; each waits at most 30 s for readiness and 15 s for the
//! server to exit after SIGTERM (then SIGKILL).

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
const PREFIX: &str = "daas: listening on http://";

struct Args {
    daas: PathBuf,
    site: PathBuf,
    runs: usize,
    pidfile: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let (mut daas, mut site, mut runs, mut pidfile) = (None, None, 5, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--daas" => daas = Some(PathBuf::from(value()?)),
            "--site" => site = Some(PathBuf::from(value()?)),
            "--runs" => runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--pidfile" => pidfile = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if !(1..=20).contains(&runs) {
        return Err("--runs must be 1..=20".into());
    }
    Ok(Args { daas: daas.ok_or("--daas is required")?, site: site.ok_or("--site is required")?, runs, pidfile })
}

/// Status code of `GET /readyz`, or None when the server does not answer (yet).
fn readyz(addr: SocketAddr) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).stderr(Stdio::null()).status();
}

/// SIGTERM, wait up to EXIT_TIMEOUT, then SIGKILL.
fn stop(child: &mut Child) {
    signal(child.id(), "TERM");
    let deadline = Instant::now() + EXIT_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!("startup: daas did not exit within {} s of SIGTERM; killing it", EXIT_TIMEOUT.as_secs());
    let _ = child.kill();
    let _ = child.wait();
}

/// One sample: (ms to the listening line, ms to ready).
fn one_run(args: &Args) -> Result<(f64, f64), String> {
    let started = Instant::now();
    let mut child = Command::new(&args.daas)
        .args(["serve", "--site"])
        .arg(&args.site)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", args.daas.display()))?;
    if let Some(p) = &args.pidfile {
        let _ = std::fs::write(p, format!("{}\n", child.id()));
    }
    let result = (|| {
        // Read stdout on a thread so that the wait can time out; the thread keeps
        // draining stdout until the server exits.
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix(PREFIX) {
                    let _ = tx.send(rest.trim().to_string());
                }
            }
        });
        let deadline = started + READY_TIMEOUT;
        let addr = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(|_| format!("no `{PREFIX}...` line within {} s", READY_TIMEOUT.as_secs()))?;
        let listening = started.elapsed();
        let addr: SocketAddr = addr.parse().map_err(|e| format!("bad listen address `{addr}`: {e}"))?;
        if !addr.ip().is_loopback() {
            return Err(format!("daas listens on {addr}, not on loopback"));
        }
        loop {
            if readyz(addr) == Some(200) {
                return Ok((listening.as_secs_f64() * 1e3, started.elapsed().as_secs_f64() * 1e3));
            }
            if Instant::now() >= deadline {
                return Err(format!("GET /readyz did not answer 200 within {} s", READY_TIMEOUT.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    })();
    stop(&mut child);
    if let Some(p) = &args.pidfile {
        let _ = std::fs::remove_file(p);
    }
    result
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("startup: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut listening = Vec::new();
    let mut ready = Vec::new();
    for i in 0..args.runs {
        match one_run(&args) {
            Ok((l, r)) => {
                listening.push(l);
                ready.push(r);
            }
            Err(e) => {
                eprintln!("startup: run {}: {e}", i + 1);
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let median = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        }
    };
    let round = |x: f64| (x * 10.0).round() / 10.0;
    let line = serde_json::json!({
        "runs": args.runs,
        "ready_ms": ready.iter().map(|&x| round(x)).collect::<Vec<_>>(),
        "listening_ms": listening.iter().map(|&x| round(x)).collect::<Vec<_>>(),
        "median_ms": round(median(&ready)),
        "max_ms": round(ready.iter().copied().fold(0.0, f64::max)),
        "listening_median_ms": round(median(&listening)),
    });
    println!("{line}");
    std::process::ExitCode::SUCCESS
}
