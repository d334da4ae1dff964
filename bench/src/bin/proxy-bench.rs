//! The proxy bench's load generator and reference servers (bench/proxy.sh runs it).
//!
//! - `proxy-bench serve --desktop P --guacd G`: the far ends, until killed: on P a fake
//!   desktop (the first byte from a client picks: `T` + u64 n: stream n bytes; `E`: echo
//!   everything); on G a fake guacd (the handshake, then the client's first instruction
//!   `mode` picks: `stream,<n>`: blob instructions of 6048 base64 bytes until n bytes;
//!   `echo`: every instruction back; `idle`: nothing).
//! - `proxy-bench serve --relay R --relay-to ADDR`: on R a raw TCP relay to ADDR written
//!   here (tokio's `copy_bidirectional` with 64 KiB buffers: bytes only, no framing), in
//!   a process of its own so that its CPU time can be read.
//! - `proxy-bench measure --kind tcp|ws|guac --url U --bytes N --rounds K`: one line of
//!   JSON: MB/s of a desktop → browser stream of N bytes, and p50/p99 of K round trips of
//!   a 64-byte message, through a TCP address (`tcp`), a binary WebSocket (`ws`: the
//!   proxy's noVNC path or websockify) or the Guacamole tunnel (`guac`).
//! - `proxy-bench hold [--kind guac|ws] --url U --n 500 --secs 60`: N Guacamole tunnels
//!   (or binary WebSockets to the echoing desktop) held open at once; one JSON line with
//!   how many opened, how many failed or closed early.
//! - `proxy-bench parser --mib 256`: the Guacamole parser's MB/s on a realistic stream
//!   (display updates: `img`/`blob`/`end` of 6048-byte base64 chunks, `sync`, `cursor`,
//!   `name` with multi-byte text) scanned in 64 KiB reads as the tunnel does.

use std::time::{Duration, Instant};

use bytes::Bytes;

use daas_plugin_proxy::guac::parser::{elements, encode, Scanner};
use futures::{SinkExt as _, StreamExt as _};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest as _, Message};

const WAIT: Duration = Duration::from_secs(30);

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn num(name: &str, default: u64) -> u64 {
    arg(name).map(|v| v.parse().expect("a number")).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("serve") => serve().await,
        Some("measure") => measure().await,
        Some("hold") => hold().await,
        Some("events") => events().await,
        Some("parser") => parser(),
        _ => {
            eprintln!("usage: proxy-bench serve|measure|hold|parser ... (see the source's header)");
            std::process::exit(2);
        }
    }
}

// ---- the far ends ------------------------------------------------------------------

async fn serve() {
    // `--relay-to ADDR`: only the raw relay, in a process of its own, so that its CPU
    // time can be read apart from the fake desktop's.
    if let Some(target) = arg("--relay-to") {
        let relay = TcpListener::bind(("127.0.0.1", num("--relay", 0) as u16)).await.unwrap();
        return raw_relay(relay, target).await;
    }
    let desktop = TcpListener::bind(("127.0.0.1", num("--desktop", 0) as u16)).await.unwrap();
    let guacd = TcpListener::bind(("127.0.0.1", num("--guacd", 0) as u16)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = desktop.accept().await {
            tokio::spawn(fake_desktop(s));
        }
    });
    while let Ok((s, _)) = guacd.accept().await {
        tokio::spawn(fake_guacd(s));
    }
}

async fn raw_relay(relay: TcpListener, target: String) {
    while let Ok((mut s, _)) = relay.accept().await {
        let target = target.clone();
        tokio::spawn(async move {
            let _ = s.set_nodelay(true);
            let Ok(mut up) = TcpStream::connect(target).await else { return };
            let _ = up.set_nodelay(true);
            // 64 KiB buffers as the proxy's largest reads (tokio's default is 8 KiB).
            let _ = tokio::io::copy_bidirectional_with_sizes(&mut s, &mut up, 64 * 1024, 64 * 1024).await;
        });
    }
}

async fn fake_desktop(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let Ok(mode) = s.read_u8().await else { return };
    if mode == b'C' {
        // Count n bytes of input events, then answer one byte.
        let Ok(n) = s.read_u64().await else { return };
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0u64;
        while got < n {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(k) => got += k as u64,
            }
        }
        let _ = s.write_u8(b'D').await;
        let _ = s.read_u8().await;
    } else if mode == b'T' {
        let Ok(n) = s.read_u64().await else { return };
        let chunk = vec![0x5au8; 64 * 1024];
        let mut left = n as usize;
        while left > 0 {
            let k = left.min(chunk.len());
            if s.write_all(&chunk[..k]).await.is_err() {
                return;
            }
            left -= k;
        }
        let _ = s.read_u8().await;
    } else {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }
}

async fn read_instruction(s: &mut TcpStream, buf: &mut Vec<u8>, scanner: &mut Scanner) -> Option<Vec<String>> {
    loop {
        if let Some(r) = scanner.next(buf).ok()? {
            let text = std::str::from_utf8(&buf[r.clone()]).ok()?.to_string();
            buf.drain(..r.end);
            scanner.consume(r.end);
            return Some(elements(&text).ok()?.into_iter().map(String::from).collect());
        }
        buf.reserve(64 * 1024);
        if s.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

async fn fake_guacd(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let (mut buf, mut scanner) = (Vec::new(), Scanner::new());
    let Some(_select) = read_instruction(&mut s, &mut buf, &mut scanner).await else { return };
    if s.write_all(encode(&["args", "VERSION_1_5_0", "hostname", "port", "password"]).as_bytes()).await.is_err() {
        return;
    }
    while let Some(i) = read_instruction(&mut s, &mut buf, &mut scanner).await {
        if i[0] == "connect" {
            break;
        }
    }
    if s.write_all(encode(&["ready", "$bench"]).as_bytes()).await.is_err() {
        return;
    }
    let Some(mode) = read_instruction(&mut s, &mut buf, &mut scanner).await else { return };
    match mode.get(1).map(String::as_str) {
        Some("stream") => {
            let n: usize = mode.get(2).and_then(|v| v.parse().ok()).unwrap_or(0);
            let blob = encode(&["blob", "1", &"QUJD".repeat(6048 / 4)]);
            let batch = blob.repeat(10);
            let mut sent = 0;
            while sent < n {
                if s.write_all(batch.as_bytes()).await.is_err() {
                    return;
                }
                sent += batch.len();
            }
            let _ = s.write_all(encode(&["end", "1"]).as_bytes()).await;
            while read_instruction(&mut s, &mut buf, &mut scanner).await.is_some() {}
        }
        Some("count") => {
            // Count n `mouse` instructions, then answer `end`. Scanned in place, one
            // drain per read: the far end must not be what the bench measures.
            let n: usize = mode.get(2).and_then(|v| v.parse().ok()).unwrap_or(0);
            let mut got = 0;
            while got < n {
                let mut end = 0;
                while let Ok(Some(r)) = scanner.next(&buf) {
                    got += buf[r.start..].starts_with(b"5.mouse,") as usize;
                    end = r.end;
                }
                buf.drain(..end);
                scanner.consume(end);
                if got >= n {
                    break;
                }
                buf.reserve(64 * 1024);
                if !matches!(s.read_buf(&mut buf).await, Ok(k) if k > 0) {
                    return;
                }
            }
            let _ = s.write_all(encode(&["end", "1"]).as_bytes()).await;
            while read_instruction(&mut s, &mut buf, &mut scanner).await.is_some() {}
        }
        Some("echo") => {
            while let Some(i) = read_instruction(&mut s, &mut buf, &mut scanner).await {
                if i[0] != "nop" && s.write_all(encode(&i).as_bytes()).await.is_err() {
                    return;
                }
            }
        }
        _ => while read_instruction(&mut s, &mut buf, &mut scanner).await.is_some() {},
    }
}

// ---- the client ----------------------------------------------------------------------

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn ws_connect(url: &str, protocol: Option<&str>) -> Ws {
    let mut req = url.into_client_request().unwrap();
    if let Some(p) = protocol {
        req.headers_mut().insert("sec-websocket-protocol", p.parse().unwrap());
    }
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req)).await.expect("connect in time").expect("connect");
    ws
}

/// Next binary or text payload, skipping control frames.
async fn ws_next(ws: &mut Ws) -> Bytes {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("a frame in time").expect("open").expect("a frame") {
            // Taken as they are: a copy here would charge the client's work to the path.
            Message::Binary(b) => return b,
            Message::Text(t) => return t.into(),
            Message::Close(f) => panic!("closed: {f:?}"),
            _ => {}
        }
    }
}

async fn measure() {
    let kind = arg("--kind").expect("--kind");
    let url = arg("--url").expect("--url");
    let bytes = num("--bytes", 256 << 20);
    let rounds = num("--rounds", 2000) as usize;
    let payload = vec![b'x'; 64];
    let (secs, mut rtts) = match kind.as_str() {
        "tcp" => {
            let mut s = TcpStream::connect(&url).await.unwrap();
            s.set_nodelay(true).unwrap();
            s.write_u8(b'T').await.unwrap();
            s.write_u64(bytes).await.unwrap();
            let start = Instant::now();
            let mut buf = vec![0u8; 256 * 1024];
            let mut got = 0u64;
            while got < bytes {
                got += s.read(&mut buf).await.unwrap() as u64;
            }
            let secs = start.elapsed().as_secs_f64();
            let mut s = TcpStream::connect(&url).await.unwrap();
            s.set_nodelay(true).unwrap();
            s.write_u8(b'E').await.unwrap();
            let mut rtts = Vec::with_capacity(rounds);
            let mut back = vec![0u8; payload.len()];
            for _ in 0..rounds {
                let t = Instant::now();
                s.write_all(&payload).await.unwrap();
                s.read_exact(&mut back).await.unwrap();
                rtts.push(t.elapsed());
            }
            (secs, rtts)
        }
        "ws" => {
            let mut ws = ws_connect(&url, None).await;
            let mut head = vec![b'T'];
            head.extend_from_slice(&bytes.to_be_bytes());
            ws.send(Message::binary(head)).await.unwrap();
            let start = Instant::now();
            let mut got = 0u64;
            while got < bytes {
                got += ws_next(&mut ws).await.len() as u64;
            }
            let secs = start.elapsed().as_secs_f64();
            let mut ws = ws_connect(&url, None).await;
            ws.send(Message::binary(vec![b'E'])).await.unwrap();
            let mut rtts = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let t = Instant::now();
                ws.send(Message::binary(payload.clone())).await.unwrap();
                let mut got = 0;
                while got < payload.len() {
                    got += ws_next(&mut ws).await.len();
                }
                rtts.push(t.elapsed());
            }
            (secs, rtts)
        }
        "guac" => {
            let mut ws = ws_connect(&url, Some("guacamole")).await;
            ws_next(&mut ws).await; // the UUID
            ws.send(Message::text(encode(&["mode", "stream", &bytes.to_string()]))).await.unwrap();
            let start = Instant::now();
            let mut got = 0u64;
            loop {
                let frame = ws_next(&mut ws).await;
                got += frame.len() as u64;
                if frame.ends_with(b"3.end,1.1;") {
                    break;
                }
            }
            let secs = start.elapsed().as_secs_f64();
            assert!(got >= bytes, "the whole stream arrived");
            let mut ws = ws_connect(&url, Some("guacamole")).await;
            ws_next(&mut ws).await;
            ws.send(Message::text(encode(&["mode", "echo"]))).await.unwrap();
            let sync = encode(&["sync", &"1".repeat(50)]);
            let mut rtts = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let t = Instant::now();
                ws.send(Message::text(sync.clone())).await.unwrap();
                loop {
                    if ws_next(&mut ws).await.starts_with(b"4.sync") {
                        break;
                    }
                }
                rtts.push(t.elapsed());
            }
            (secs, rtts)
        }
        other => panic!("unknown --kind {other}"),
    };
    rtts.sort();
    println!(
        "{{\"kind\":\"{kind}\",\"mb_s\":{:.1},\"p50_us\":{:.0},\"p99_us\":{:.0}}}",
        bytes as f64 / secs / 1e6,
        percentile(&rtts, 0.5),
        percentile(&rtts, 0.99)
    );
}

/// How many input events the bench client writes before a flush.
const EVENT_BATCH: usize = 64;

/// Input events (browser → desktop), as noVNC and guacamole-common-js send them: each
/// its own small frame (RFB: an 8-byte KeyEvent; Guacamole: a `mouse` instruction), as
/// fast as the path takes them; the client flushes every `EVENT_BATCH` frames. The far end
/// answers once it has them all; events per second from the first send to that answer.
async fn events() {
    let kind = arg("--kind").expect("--kind");
    let url = arg("--url").expect("--url");
    let n = num("--n", 1_000_000) as usize;
    let key_event: [u8; 8] = [4, 1, 0, 0, 0, 0, 0xff, 0x0d];
    let start;
    match kind.as_str() {
        "tcp" => {
            let mut s = TcpStream::connect(&url).await.unwrap();
            s.set_nodelay(true).unwrap();
            s.write_u8(b'C').await.unwrap();
            s.write_u64((n * key_event.len()) as u64).await.unwrap();
            let batch = key_event.repeat(EVENT_BATCH);
            start = Instant::now();
            for i in (0..n).step_by(EVENT_BATCH) {
                s.write_all(&batch[..(n - i).min(EVENT_BATCH) * key_event.len()]).await.unwrap();
            }
            assert_eq!(s.read_u8().await.unwrap(), b'D');
        }
        "ws" => {
            let mut ws = ws_connect(&url, None).await;
            let mut head = vec![b'C'];
            head.extend_from_slice(&((n * key_event.len()) as u64).to_be_bytes());
            ws.send(Message::binary(head)).await.unwrap();
            start = Instant::now();
            send_events(&mut ws, n, || Message::binary(key_event.to_vec())).await;
            assert_eq!(&ws_next(&mut ws).await[..], b"D");
        }
        "guac" => {
            let mut ws = ws_connect(&url, Some("guacamole")).await;
            ws_next(&mut ws).await; // the UUID
            ws.send(Message::text(encode(&["mode", "count", &n.to_string()]))).await.unwrap();
            let mouse = encode(&["mouse", "640", "400", "1"]);
            start = Instant::now();
            send_events(&mut ws, n, || Message::text(mouse.clone())).await;
            while !ws_next(&mut ws).await.starts_with(b"3.end") {}
        }
        other => panic!("unknown --kind {other}"),
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{{\"kind\":\"{kind}\",\"events\":{n},\"events_s\":{:.0}}}", n as f64 / secs);
}

/// `n` frames made by `event`, flushed every `EVENT_BATCH`.
async fn send_events(ws: &mut Ws, n: usize, event: impl Fn() -> Message) {
    for i in 0..n {
        ws.feed(event()).await.unwrap();
        if i % EVENT_BATCH == EVENT_BATCH - 1 {
            ws.flush().await.unwrap();
        }
    }
    ws.flush().await.unwrap();
}

async fn hold() {
    let url = arg("--url").expect("--url");
    // guac: Guacamole tunnels (idle guacd); ws: binary WebSockets to the echoing desktop.
    let guac = arg("--kind").as_deref() != Some("ws");
    let n = num("--n", 500) as usize;
    let secs = num("--secs", 60);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel::<()>(n);
    for _ in 0..n {
        let url = url.clone();
        let opened_tx = opened_tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut ws = ws_connect(&url, guac.then_some("guacamole")).await;
            let ping = if guac {
                ws_next(&mut ws).await;
                ws.send(Message::text(encode(&["mode", "idle"]))).await.map_err(|e| e.to_string())?;
                Message::text(encode(&["nop"]))
            } else {
                ws.send(Message::binary(vec![b'E'])).await.map_err(|e| e.to_string())?;
                Message::binary(vec![0u8; 16])
            };
            let _ = opened_tx.send(()).await;
            let deadline = start + Duration::from_secs(secs);
            // Keep the tunnel busy as a viewer does: a message every 5 s (Guacamole: a
            // nop, with the proxy's nops in; the echoing desktop: 16 bytes back).
            loop {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                match tokio::time::timeout((deadline - now).min(Duration::from_secs(5)), ws.next()).await {
                    Err(_) => ws.send(ping.clone()).await.map_err(|e| e.to_string())?,
                    Ok(Some(Ok(Message::Close(f)))) => return Err(format!("closed early: {f:?}")),
                    Ok(Some(Ok(_))) => {}
                    Ok(Some(Err(e))) => return Err(e.to_string()),
                    Ok(None) => return Err("ended early".into()),
                }
            }
            let _ = ws.close(None).await;
            Ok::<(), String>(())
        }));
    }
    drop(opened_tx);
    let mut opened = 0;
    while opened_rx.recv().await.is_some() {
        opened += 1;
        if opened == n {
            // Tells bench/proxy.sh to sample the server's memory now.
            eprintln!("all {n} tunnels open after {:.1} s", start.elapsed().as_secs_f64());
        }
    }
    let mut failed = 0;
    let mut first_error = String::new();
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failed += 1;
                if first_error.is_empty() {
                    first_error = e;
                }
            }
            Err(e) => {
                failed += 1;
                if first_error.is_empty() {
                    first_error = e.to_string();
                }
            }
        }
    }
    println!("{{\"tunnels\":{n},\"opened\":{opened},\"failed\":{failed},\"first_error\":{:?}}}", first_error);
}

fn parser() {
    let mib = num("--mib", 256) as usize;
    // One display update as guacd writes it, repeated.
    let mut update = String::new();
    update.push_str(&encode(&["img", "1", "14", "0", "image/png", "0", "0"]));
    for _ in 0..4 {
        update.push_str(&encode(&["blob", "1", &"iVBORw0KGgoAAAANSUhEUgAA".repeat(6048 / 24)]));
    }
    update.push_str(&encode(&["end", "1"]));
    update.push_str(&encode(&["cursor", "0", "0", "-1", "0", "0", "16", "16"]));
    update.push_str(&encode(&["name", "Zoë’s 桌面 😀"]));
    update.push_str(&encode(&["sync", "1700000000000"]));
    let stream = update.repeat((mib << 20) / update.len() + 1);
    let bytes = stream.as_bytes();
    let mut best = f64::MAX;
    let mut count = 0;
    for _ in 0..5 {
        let mut scanner = Scanner::new();
        let mut buf: Vec<u8> = Vec::with_capacity(256 * 1024);
        count = 0;
        let start = Instant::now();
        for chunk in bytes.chunks(64 * 1024) {
            buf.extend_from_slice(chunk);
            let mut end = 0;
            while let Some(r) = scanner.next(&buf).expect("a valid stream") {
                end = r.end;
                count += 1;
            }
            buf.drain(..end);
            scanner.consume(end);
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!("{{\"parser_mb_s\":{:.0},\"instructions\":{count},\"bytes\":{}}}", bytes.len() as f64 / best / 1e6, bytes.len());
}
