//! The Guacamole WebSocket tunnel (`GuacamoleWebSocketTunnelEndpoint.java`, PROTOCOLS.md
//! §1.4): handshake with guacd, the tunnel's UUID to the browser first, then both ways.
//!
//! - guacd → browser: whole instructions only, as many as one read brought (at most
//!   [`FRAME_BYTES`] per frame), each frame a text frame; guacamole-common-js before
//!   1.5.2 refused partial instructions.
//! - browser → guacd: every frame is parsed; instructions with the empty (internal)
//!   opcode are the JS tunnel's own: `ping` is answered here and none is forwarded.
//!   `size` goes on to guacd, which resizes VNC sessions itself from 1.6.0 on (RDP
//!   always); for older guacd a resize needs the desktop's own help (seed 000 §3.4.6),
//!   which belongs to the plugin that runs the desktop.
//! - Silence: after `keepalive` without traffic the proxy sends `nop` that way.
//! - End: the close reason is the decimal Guacamole status (0 on a normal end); a
//!   failure also sends an `error` instruction first, which guacamole-common-js shows.

use std::time::Duration;

use daas_plugin_api::{
    abi::WsMessage,
    sdk::{WebSocket, WsSink, WsSource},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};

use super::{
    handshake::{Handshake, HandshakeError, Settings, Step},
    parser::{elements, encode, Scanner},
    Status,
};

/// A frame to the browser is sent once it holds this many bytes of whole instructions
/// (guacamole-client flushes at 8192 characters; larger frames cost the browser nothing
/// and save crossings).
pub const FRAME_BYTES: usize = 64 * 1024;
/// How much one read from guacd may bring: idle tunnels keep small buffers, busy ones
/// grow them (a read that fills its room doubles the next one's, up to the maximum).
const READ_MIN: usize = 4 * 1024;
const READ_MAX: usize = 64 * 1024;

/// Where guacd is and how patient to be.
#[derive(Debug, Clone)]
pub struct TunnelConfig {
    /// guacd's `host:port`.
    pub guacd: String,
    /// Connecting and the handshake together.
    pub timeout: Duration,
    /// Silence after which a `nop` is sent.
    pub keepalive: Duration,
}

/// Why the tunnel ends: the status and what to tell the user.
#[derive(Debug)]
struct Failure(Status, String);

/// Run one tunnel on an upgraded WebSocket until either side ends it.
pub async fn run(ws: WebSocket, settings: Settings, config: TunnelConfig) {
    let (sink, source) = ws.split();
    let (tcp, buf, scanner) = match connect(settings, &config).await {
        Ok(connected) => connected,
        Err(Failure(status, message)) => {
            tracing::warn!(guacd = %config.guacd, status = status.code(), "guacamole tunnel: {message}");
            fail(&sink, status, &message).await;
            return;
        }
    };
    let uuid = uuid::Uuid::new_v4().to_string();
    if sink.send_text(encode(&["", uuid.as_str()])).await.is_err() {
        return;
    }
    tracing::info!(tunnel = %uuid, "guacamole tunnel open");
    let end = relay(&sink, &source, tcp, buf, scanner, config.keepalive).await;
    match end {
        End::Browser => tracing::info!(tunnel = %uuid, "guacamole tunnel closed by the browser"),
        End::Upstream(Status::Success) => {
            tracing::info!(tunnel = %uuid, "guacamole tunnel closed by guacd");
            let _ = sink.close(1000, "0").await;
        }
        End::Upstream(status) => {
            // guacd's own `error` instruction already reached the browser.
            tracing::info!(tunnel = %uuid, status = status.code(), "guacamole tunnel ended by guacd with an error");
            let _ = sink.close(status.close_code(), &status.code().to_string()).await;
        }
        End::Failed(Failure(status, message)) => {
            tracing::warn!(tunnel = %uuid, status = status.code(), "guacamole tunnel failed: {message}");
            fail(&sink, status, &message).await;
        }
    }
}

/// Tell the browser why, then close with the status as the reason.
async fn fail(sink: &WsSink, status: Status, message: &str) {
    let code = status.code().to_string();
    let _ = sink.send_text(encode(&["error", message, code.as_str()])).await;
    let _ = sink.close(status.close_code(), &code).await;
}

/// Connect to guacd and complete the handshake; whatever guacd sent after `ready` stays
/// in the returned buffer.
async fn connect(settings: Settings, config: &TunnelConfig) -> Result<(TcpStream, Vec<u8>, Scanner), Failure> {
    let handshake = async {
        let mut tcp = TcpStream::connect(&config.guacd).await.map_err(|e| {
            Failure(Status::UpstreamNotFound, format!("the remote desktop service (guacd at {}) cannot be reached: {e}", config.guacd))
        })?;
        let _ = tcp.set_nodelay(true);
        let mut handshake = Handshake::new(settings);
        let lost = |e: std::io::Error| Failure(Status::UpstreamError, format!("guacd's connection failed during the handshake: {e}"));
        tcp.write_all(handshake.select().as_bytes()).await.map_err(lost)?;
        let mut buf = Vec::new();
        let mut scanner = Scanner::new();
        loop {
            let range = loop {
                if let Some(r) = scanner.next(&buf).map_err(|e| Failure(Status::UpstreamError, format!("guacd: {e}")))? {
                    break r;
                }
                buf.reserve(4096);
                if tcp.read_buf(&mut buf).await.map_err(lost)? == 0 {
                    return Err(Failure(Status::UpstreamError, "guacd closed the connection during the handshake".into()));
                }
            };
            let text = std::str::from_utf8(&buf[range.clone()]).unwrap_or_default();
            let parsed = elements(text).map_err(|e| Failure(Status::UpstreamError, format!("guacd: {e}")))?;
            let step = handshake.receive(&parsed).map_err(|e| match e {
                HandshakeError::Refused(message, status) => Failure(Status::Other(status), message),
                other => Failure(Status::UpstreamError, other.to_string()),
            })?;
            buf.drain(..range.end);
            scanner.consume(range.end);
            match step {
                Step::Send(answer) => tcp.write_all(answer.as_bytes()).await.map_err(lost)?,
                Step::Ready(id) => {
                    tracing::debug!(connection = %id, "guacd ready");
                    return Ok((tcp, buf, scanner));
                }
            }
        }
    };
    tokio::time::timeout(config.timeout, handshake).await.unwrap_or_else(|_| {
        Err(Failure(Status::UpstreamTimeout, format!("guacd did not complete the handshake within {} ms", config.timeout.as_millis())))
    })
}

enum End {
    /// The browser closed or went away.
    Browser,
    /// guacd closed, after an `error` with this status or normally.
    Upstream(Status),
    Failed(Failure),
}

/// The status of an `error` instruction from guacd, if this is one.
fn error_status(instruction: &[u8]) -> Option<Status> {
    if !instruction.starts_with(b"5.error,") {
        return None;
    }
    let parsed = elements(std::str::from_utf8(instruction).ok()?).ok()?;
    Some(Status::Other(parsed.get(2).and_then(|s| s.parse().ok()).unwrap_or(Status::UpstreamError.code())))
}

async fn relay(sink: &WsSink, source: &WsSource, tcp: TcpStream, mut buf: Vec<u8>, mut scanner: Scanner, keepalive: Duration) -> End {
    let (mut rd, mut wr) = tcp.into_split();
    let mut upstream_error = None;
    let mut to_browser = Instant::now();
    let mut to_guacd = Instant::now();
    let mut tick = tokio::time::interval(keepalive);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // What guacd sent together with `ready` is forwarded before reading more.
    let mut pending = !buf.is_empty();
    let mut room = READ_MIN;
    loop {
        if pending {
            pending = false;
            match forward_instructions(sink, &mut buf, &mut scanner, &mut upstream_error).await {
                Ok(true) => to_browser = Instant::now(),
                Ok(false) => {}
                Err(end) => return end,
            }
        }
        tokio::select! {
            read = async { buf.reserve(room); let spare = buf.capacity() - buf.len(); rd.read_buf(&mut buf).await.map(|n| (n, spare)) } => match read {
                Ok((n, spare)) if n > 0 && n == spare => {
                    room = (room * 2).min(READ_MAX);
                    pending = true;
                }
                Ok((n, _)) => match n {
                    0 => {
                        if scanner.in_instruction() {
                            return End::Failed(Failure(Status::UpstreamError, "guacd closed the connection in the middle of an instruction".into()));
                        }
                        return End::Upstream(upstream_error.unwrap_or(Status::Success));
                    }
                    _ => pending = true,
                },
                Err(e) => return End::Failed(Failure(Status::UpstreamError, format!("guacd's connection failed: {e}"))),
            },
            msg = source.recv() => match msg {
                None | Some(WsMessage::Close(..)) => {
                    let _ = wr.shutdown().await;
                    return End::Browser;
                }
                Some(WsMessage::Binary(_)) => {
                    return End::Failed(Failure(Status::ClientBadType, "the Guacamole tunnel takes text frames only".into()))
                }
                Some(WsMessage::Text(text)) => match from_browser(sink, &mut wr, text.as_str()).await {
                    Ok(forwarded) => {
                        if forwarded {
                            to_guacd = Instant::now();
                        }
                    }
                    Err(end) => return end,
                },
            },
            _ = tick.tick() => {
                let nop = encode(&["nop"]);
                if to_browser.elapsed() >= keepalive {
                    if sink.send_text(nop.clone()).await.is_err() {
                        return End::Browser;
                    }
                    to_browser = Instant::now();
                }
                if to_guacd.elapsed() >= keepalive {
                    if let Err(e) = wr.write_all(nop.as_bytes()).await {
                        return End::Failed(Failure(Status::UpstreamError, format!("guacd's connection failed: {e}")));
                    }
                    to_guacd = Instant::now();
                }
            }
        }
    }
}

/// Send the buffer's whole instructions to the browser; whether anything was sent.
async fn forward_instructions(
    sink: &WsSink,
    buf: &mut Vec<u8>,
    scanner: &mut Scanner,
    upstream_error: &mut Option<Status>,
) -> Result<bool, End> {
    let mut sent = false;
    loop {
        let mut end = 0;
        let full = loop {
            match scanner.next(buf) {
                Ok(Some(r)) => {
                    if let Some(status) = error_status(&buf[r.clone()]) {
                        *upstream_error = Some(status);
                    }
                    end = r.end;
                    if end >= FRAME_BYTES {
                        break true;
                    }
                }
                Ok(None) => break false,
                Err(e) => return Err(End::Failed(Failure(Status::UpstreamError, format!("guacd: {e}")))),
            }
        };
        if end == 0 {
            return Ok(sent);
        }
        // Each instruction was checked to be UTF-8 by the scanner, so this cannot fail.
        let text = String::from_utf8(buf[..end].to_vec()).map_err(|_| End::Failed(Failure(Status::ServerError, "UTF-8".into())))?;
        buf.drain(..end);
        scanner.consume(end);
        if sink.send(WsMessage::Text(text.into())).await.is_err() {
            return Err(End::Browser);
        }
        sent = true;
        if !full {
            return Ok(sent);
        }
    }
}

/// One frame from the browser: internal instructions answered or dropped, the others
/// written to guacd in one write. Whether anything went to guacd.
async fn from_browser(sink: &WsSink, wr: &mut tokio::net::tcp::OwnedWriteHalf, text: &str) -> Result<bool, End> {
    let bytes = text.as_bytes();
    let mut scanner = Scanner::new();
    let mut forward_from = 0;
    let mut forwarded = false;
    let bad = |e: String| End::Failed(Failure(Status::ClientBadRequest, format!("the browser sent a malformed instruction: {e}")));
    let write_err = |e: std::io::Error| End::Failed(Failure(Status::UpstreamError, format!("guacd's connection failed: {e}")));
    loop {
        match scanner.next(bytes) {
            Ok(Some(r)) => {
                if !bytes[r.start..].starts_with(b"0.,") {
                    continue;
                }
                // An internal instruction: flush what came before it, answer a ping.
                if forward_from < r.start {
                    wr.write_all(&bytes[forward_from..r.start]).await.map_err(write_err)?;
                    forwarded = true;
                }
                forward_from = r.end;
                let parsed = elements(&text[r]).map_err(|e| bad(e.to_string()))?;
                if parsed.get(1) == Some(&"ping") {
                    let reply = encode(&parsed);
                    if sink.send_text(reply).await.is_err() {
                        return Err(End::Browser);
                    }
                }
            }
            Ok(None) if scanner.in_instruction() => return Err(bad("the frame ends in the middle of an instruction".into())),
            Ok(None) => break,
            Err(e) => return Err(bad(e.to_string())),
        }
    }
    if forward_from < bytes.len() {
        wr.write_all(&bytes[forward_from..]).await.map_err(write_err)?;
        forwarded = true;
    }
    Ok(forwarded)
}
