//! WebSocket echo load client for `bench/run.sh`.
//!
//! Opens `--connections` WebSockets to `--url` (offering `--protocol`), then each
//! connection sends a `--size`-byte text message and waits for its echo, over and over:
//! first for `--warmup` seconds (not counted), then for `--duration` seconds (counted).
//! Prints one JSON line: messages/s and the p50/p99 round-trip latency.
//!
//! Usage: `ws-load --url ws://127.0.0.1:PORT/echo [--protocol echo] [--connections 32]
//! [--size 64] [--warmup 2] [--duration 10]`.
//!
//! Bounded: every wait has a timeout, and each connection stops after the deadline or
//! after `MAX_ROUND_TRIPS` round trips, whichever comes first.

use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest as _, http::HeaderValue, Message};

/// Upper bound on round trips per connection (a guard; the deadline ends runs first).
const MAX_ROUND_TRIPS: u64 = 50_000_000;
/// Longest wait for one connect or one echo.
const WAIT: Duration = Duration::from_secs(5);

struct Args {
    url: String,
    protocol: String,
    connections: usize,
    size: usize,
    warmup: f64,
    duration: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { url: String::new(), protocol: "echo".into(), connections: 32, size: 64, warmup: 2.0, duration: 10.0 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = value()?,
            "--protocol" => a.protocol = value()?,
            "--connections" => a.connections = value()?.parse().map_err(|e| format!("--connections: {e}"))?,
            "--size" => a.size = value()?.parse().map_err(|e| format!("--size: {e}"))?,
            "--warmup" => a.warmup = value()?.parse().map_err(|e| format!("--warmup: {e}"))?,
            "--duration" => a.duration = value()?.parse().map_err(|e| format!("--duration: {e}"))?,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if !a.url.starts_with("ws://127.0.0.1:") {
        return Err(format!("--url must be ws://127.0.0.1:PORT/...; got `{}`", a.url));
    }
    if !(1..=1024).contains(&a.connections) || !(1..=1 << 20).contains(&a.size) {
        return Err("--connections must be 1..=1024 and --size 1..=1048576".into());
    }
    if !(0.0..=600.0).contains(&a.warmup) || !(0.1..=600.0).contains(&a.duration) {
        return Err("--warmup must be 0..=600 and --duration 0.1..=600 seconds".into());
    }
    Ok(a)
}

/// What one connection measured.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

async fn connection(
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    payload: String,
    measure_from: Instant,
    until: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let (mut sink, mut stream) = socket.split();
    for _ in 0..MAX_ROUND_TRIPS {
        let sent = Instant::now();
        if sent >= until {
            break;
        }
        if let Err(e) = sink.send(Message::text(payload.clone())).await {
            tally.errors += 1;
            tally.first_error.get_or_insert(format!("send: {e}"));
            break;
        }
        // Wait for the echo, skipping control frames.
        let echoed = loop {
            match tokio::time::timeout(WAIT, stream.next()).await {
                Err(_) => break Err("no echo within 5 s".to_string()),
                Ok(None) => break Err("connection closed".to_string()),
                Ok(Some(Err(e))) => break Err(format!("receive: {e}")),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(Some(Ok(Message::Text(t)))) if t.as_str() == payload => break Ok(()),
                Ok(Some(Ok(other))) => break Err(format!("unexpected answer {other:?}")),
            }
        };
        let done = Instant::now();
        if let Err(e) = echoed {
            tally.errors += 1;
            tally.first_error.get_or_insert(e);
            break;
        }
        if sent >= measure_from && done <= until {
            tally.latencies_us.push(done.duration_since(sent).as_micros().min(u32::MAX as u128) as u32);
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Close(None))).await;
    tally
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ws-load: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut sockets = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let mut request = match args.url.as_str().into_client_request() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("ws-load: bad url {}: {e}", args.url);
                return std::process::ExitCode::from(2);
            }
        };
        if !args.protocol.is_empty() {
            let Ok(value) = HeaderValue::from_str(&args.protocol) else {
                eprintln!("ws-load: bad protocol `{}`", args.protocol);
                return std::process::ExitCode::from(2);
            };
            request.headers_mut().insert("sec-websocket-protocol", value);
        }
        match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request)).await {
            Ok(Ok((socket, _))) => sockets.push(socket),
            Ok(Err(e)) => {
                eprintln!("ws-load: connection {i} to {} failed: {e}", args.url);
                return std::process::ExitCode::FAILURE;
            }
            Err(_) => {
                eprintln!("ws-load: connection {i} to {} timed out", args.url);
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let payload: String = "0123456789abcdef".chars().cycle().take(args.size).collect();
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let until = measure_from + Duration::from_secs_f64(args.duration);
    let tasks: Vec<_> = sockets.into_iter().map(|s| tokio::spawn(connection(s, payload.clone(), measure_from, until))).collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok(tally) => {
                latencies.extend(tally.latencies_us);
                errors += tally.errors;
                if first_error.is_none() {
                    first_error = tally.first_error;
                }
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(format!("task failed: {e}"));
            }
        }
    }
    latencies.sort_unstable();
    let messages = latencies.len() as u64;
    let line = serde_json::json!({
        "url": args.url,
        "connections": args.connections,
        "payload_bytes": args.size,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "messages": messages,
        "msgs_per_sec": (messages as f64 / args.duration * 10.0).round() / 10.0,
        "p50_us": percentile(&latencies, 50.0),
        "p99_us": percentile(&latencies, 99.0),
        "max_us": latencies.last().copied().unwrap_or(0),
        "errors": errors,
        "first_error": first_error,
    });
    println!("{line}");
    if errors > 0 || messages == 0 {
        eprintln!("ws-load: {errors} error(s), {messages} message(s) counted");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
