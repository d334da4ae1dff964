//! The Guacamole WebSocket tunnel (`GuacamoleWebSocketTunnelEndpoint.java`, PROTOCOLS.md
//! §1.4): handshake with guacd, the tunnel's UUID to the browser first, then both ways.
//!
//! - guacd → browser: whole instructions only, as many as one read brought (a read
//!   takes at most [`ReadRoom::MAX`] bytes), each frame a text frame; guacamole-common-js
//!   before 1.5.2 refused partial instructions. The read's buffer (the host's) becomes
//!   the frame without a copy; only an unfinished last instruction is copied, to start
//!   the next read's buffer.
//! - browser → guacd: every frame is parsed; instructions with the empty (internal)
//!   opcode are the JS tunnel's own: `ping` is answered here and none is forwarded.
//!   `size` goes on to guacd, which resizes VNC sessions itself from 1.6.0 on (RDP
//!   always); for older guacd a resize needs the desktop's own help (seed 000 §3.4.6),
//!   which belongs to the plugin that runs the desktop.
//! - Silence: after `keepalive` without traffic the proxy sends `nop` that way.
//! - End: the close reason is the decimal Guacamole status (0 on a normal end); a
//!   failure also sends an `error` instruction first, which guacamole-common-js shows.
//!   guacd's own `error` or `disconnect` ends the tunnel at once: guacd 1.6.1 keeps its
//!   socket open after either, so waiting for its end of stream would leave the browser
//!   on a dead session until a keep-alive failed. Whoever ends it, guacd hears
//!   `disconnect` before its socket closes (unless it closed first): without it, guacd
//!   keeps the desktop session until its own timeout ("User is not responding").

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use abi_stable::std_types::{RString, RVec};
use daas_plugin_api::{
    abi::WsMessage,
    sdk::{net::TcpStream, WebSocket, WsSink, WsSource},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    time::Instant,
};

use crate::{
    inbox::{Inbox, BATCH_MAX},
    room::ReadRoom,
};

use super::{
    handshake::{Handshake, HandshakeError, Settings, Step},
    parser::{elements, encode, Scanner},
    Status,
};

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

/// How long guacd may take to accept the proxy's `disconnect`: a guacd that has stopped
/// reading must not keep the tunnel's task alive.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);

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
    let end = if sink.send_text(encode(&["", uuid.as_str()])).await.is_err() {
        End::Browser
    } else {
        tracing::info!(tunnel = %uuid, "guacamole tunnel open");
        relay(&sink, &source, &tcp, buf, scanner, config.keepalive).await
    };
    // The browser first, so that its close never waits on guacd.
    match &end {
        End::Browser => tracing::info!(tunnel = %uuid, "guacamole tunnel closed by the browser"),
        End::Closed => {
            tracing::info!(tunnel = %uuid, "guacamole tunnel closed by guacd");
            let _ = sink.close(1000, "0").await;
        }
        End::Ended(status) => {
            // guacd's `error` or `disconnect` has already reached the browser.
            tracing::info!(tunnel = %uuid, status = status.code(), "guacamole tunnel ended by guacd");
            let _ = sink.close(status.close_code(), &status.code().to_string()).await;
        }
        End::Failed(Failure(status, message)) => {
            tracing::warn!(tunnel = %uuid, status = status.code(), "guacamole tunnel failed: {message}");
            fail(&sink, *status, message).await;
        }
    }
    if !matches!(end, End::Closed) {
        let disconnect = tcp.write_owned(RVec::from(&b"10.disconnect;"[..]));
        match tokio::time::timeout(DISCONNECT_TIMEOUT, disconnect).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(tunnel = %uuid, "guacamole tunnel: no disconnect to guacd: {e}"),
            Err(_) => tracing::debug!(tunnel = %uuid, "guacamole tunnel: guacd did not take the disconnect in time"),
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
        // The host's socket: it and the WebSocket wake the relay from one reactor.
        let mut tcp = TcpStream::connect(&config.guacd, config.timeout).await.map_err(|e| {
            // The address is for the log; the browser learns only what failed.
            tracing::warn!(guacd = %config.guacd, "guacamole tunnel: {e}");
            Failure(Status::UpstreamNotFound, "the remote desktop service (guacd) cannot be reached".into())
        })?;
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
    /// guacd ended the session: `error` with this status, or `disconnect` (success).
    Ended(Status),
    /// guacd closed its connection without either (guacamole-client calls it success).
    Closed,
    Failed(Failure),
}

/// The status the session ends with if this instruction from guacd ends it: `error`
/// (its status) or `disconnect`.
fn ending_status(instruction: &[u8]) -> Option<Status> {
    if instruction.starts_with(b"10.disconnect;") || instruction.starts_with(b"10.disconnect,") {
        return Some(Status::Success);
    }
    if !instruction.starts_with(b"5.error,") {
        return None;
    }
    let parsed = elements(std::str::from_utf8(instruction).ok()?).ok();
    let code = parsed.as_ref().and_then(|p| p.get(2)).and_then(|s| s.parse().ok());
    Some(Status::Other(code.unwrap_or(Status::UpstreamError.code())))
}

/// When each side last got something from the proxy, for the keep-alive.
struct Activity {
    since: Instant,
    to_browser: AtomicU64,
    to_guacd: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity { since: Instant::now(), to_browser: AtomicU64::new(0), to_guacd: AtomicU64::new(0) }
    }
    fn now(&self) -> u64 {
        self.since.elapsed().as_millis() as u64
    }
    fn touch(&self, side: &AtomicU64) {
        side.store(self.now(), Ordering::Relaxed);
    }
    fn idle(&self, side: &AtomicU64) -> Duration {
        Duration::from_millis(self.now().saturating_sub(side.load(Ordering::Relaxed)))
    }
}

/// Three loops until the first ends: guacd → browser, browser → guacd, keep-alive. A
/// loop per direction never drops a read in flight, whose buffer it owns.
async fn relay(sink: &WsSink, source: &WsSource, tcp: &TcpStream, buf: Vec<u8>, scanner: Scanner, keepalive: Duration) -> End {
    let activity = &Activity::new();
    let to_browser = async {
        let (mut buf, mut scanner) = (RVec::from(buf), scanner);
        // A frame to the browser holds what one read brought (guacamole-client flushes
        // at 8192 characters; larger frames cost the browser nothing).
        let mut room = ReadRoom::new();
        loop {
            // What guacd sent together with `ready` is forwarded before reading more.
            if !buf.is_empty() {
                let (whole, ending) = match whole_instructions(&buf, &mut scanner) {
                    Ok(whole) => whole,
                    Err(failure) => return End::Failed(failure),
                };
                if whole > 0 {
                    let rest = RVec::from(&buf[whole..]);
                    scanner.consume(whole);
                    let mut frame = std::mem::replace(&mut buf, rest);
                    frame.truncate(whole);
                    // SAFETY: `frame` is exactly the instructions the scanner returned,
                    // whole and in order, and it returns only UTF-8 ones (parser.rs);
                    // UTF-8 pieces joined are UTF-8. Checking again would cost a pass
                    // over every byte of the display stream.
                    let text = unsafe { RString::from_utf8_unchecked(frame) };
                    if sink.send(WsMessage::Text(text)).await.is_err() {
                        return End::Browser;
                    }
                    if let Some(status) = ending {
                        return End::Ended(status);
                    }
                    activity.touch(&activity.to_browser);
                }
            }
            let before = buf.len();
            buf = match tcp.read_into(buf, room.get()).await {
                Ok(buf) => buf,
                Err(e) => return guacd_failed(e),
            };
            match buf.len() - before {
                0 if scanner.in_instruction() => {
                    return End::Failed(Failure(
                        Status::UpstreamError,
                        "guacd closed the connection in the middle of an instruction".into(),
                    ))
                }
                0 => return End::Closed,
                n => room.after_read(n),
            }
        }
    };
    let to_guacd = async {
        let mut inbox = Inbox::new(source);
        loop {
            let mut out = match inbox.next().await {
                // Not half-closed here: guacd's `disconnect` is still to be written.
                None | Some(WsMessage::Close(..)) => return End::Browser,
                Some(WsMessage::Binary(_)) => return not_text(),
                Some(WsMessage::Text(text)) => match from_browser(sink, text).await {
                    Ok(out) => out,
                    Err(end) => return end,
                },
            };
            // The text frames that have already arrived go to guacd in the same write.
            while out.len() < BATCH_MAX {
                match inbox.ready() {
                    Some(WsMessage::Text(text)) => match from_browser(sink, text).await {
                        Ok(more) => out.extend_from_slice(&more),
                        Err(end) => return end,
                    },
                    Some(other) => {
                        inbox.hold(other);
                        break;
                    }
                    None => break,
                }
            }
            if !out.is_empty() {
                if let Err(e) = tcp.write_owned(out).await {
                    return guacd_failed(e);
                }
                activity.touch(&activity.to_guacd);
            }
        }
    };
    let keep_alive = async {
        let mut tick = tokio::time::interval(keepalive);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let nop = encode(&["nop"]);
        loop {
            tick.tick().await;
            if activity.idle(&activity.to_browser) >= keepalive {
                if sink.send_text(nop.clone()).await.is_err() {
                    return End::Browser;
                }
                activity.touch(&activity.to_browser);
            }
            if activity.idle(&activity.to_guacd) >= keepalive {
                if let Err(e) = tcp.write_owned(RVec::from(nop.as_bytes())).await {
                    return guacd_failed(e);
                }
                activity.touch(&activity.to_guacd);
            }
        }
    };
    tokio::select! {
        end = to_browser => end,
        end = to_guacd => end,
        end = keep_alive => end,
    }
}

/// guacd's connection broke after the handshake.
fn guacd_failed(e: std::io::Error) -> End {
    End::Failed(Failure(Status::UpstreamError, format!("guacd's connection failed: {e}")))
}

/// Where the buffer's last whole instruction ends (0: none yet), or the first `error`
/// or `disconnect` with the status it ends the session with: nothing guacd sends after
/// either reaches the browser.
fn whole_instructions(buf: &[u8], scanner: &mut Scanner) -> Result<(usize, Option<Status>), Failure> {
    let mut end = 0;
    loop {
        match scanner.next(buf) {
            Ok(Some(r)) => {
                end = r.end;
                if let Some(status) = ending_status(&buf[r]) {
                    return Ok((end, Some(status)));
                }
            }
            Ok(None) => return Ok((end, None)),
            Err(e) => return Err(Failure(Status::UpstreamError, format!("guacd: {e}"))),
        }
    }
}

/// The browser sent a binary frame.
fn not_text() -> End {
    End::Failed(Failure(Status::ClientBadType, "the Guacamole tunnel takes text frames only".into()))
}

/// One frame from the browser: internal instructions answered or dropped; the others are
/// what goes on to guacd (a frame without internal instructions as it is, uncopied).
async fn from_browser(sink: &WsSink, text: RString) -> Result<RVec<u8>, End> {
    let bytes = text.as_str().as_bytes();
    let mut scanner = Scanner::new();
    let mut forward_from = 0;
    let mut out: Vec<u8> = Vec::new();
    let bad = |e: String| End::Failed(Failure(Status::ClientBadRequest, format!("the browser sent a malformed instruction: {e}")));
    loop {
        match scanner.next(bytes) {
            Ok(Some(r)) => {
                if !bytes[r.start..].starts_with(b"0.,") {
                    continue;
                }
                // An internal instruction: keep what came before it, answer a ping.
                out.extend_from_slice(&bytes[forward_from..r.start]);
                forward_from = r.end;
                let parsed = elements(&text.as_str()[r]).map_err(|e| bad(e.to_string()))?;
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
    if forward_from == 0 {
        // The host's buffer, back to it uncopied.
        return Ok(text.into_bytes());
    }
    out.extend_from_slice(&bytes[forward_from..]);
    Ok(RVec::from(out))
}

#[cfg(test)]
mod tests {
    use super::{whole_instructions, Scanner, Status};

    #[test]
    fn the_browsers_frame_stops_after_guacds_error_or_disconnect() {
        for (buf, sent, status) in [
            (
                &b"4.sync,1.1;5.error,4.gone,3.519;10.disconnect;4.sync,1.2;"[..],
                &b"4.sync,1.1;5.error,4.gone,3.519;"[..],
                Some(Status::Other(519)),
            ),
            (b"4.sync,1.1;10.disconnect;4.sync,1.2;", b"4.sync,1.1;10.disconnect;", Some(Status::Success)),
            // An opcode that only starts like one does not end the session.
            (b"6.errors,1.x;4.sync,1.2;4.sy", b"6.errors,1.x;4.sync,1.2;", None),
        ] {
            let (end, ending) = whole_instructions(buf, &mut Scanner::new()).unwrap();
            assert_eq!(&buf[..end], sent, "{}", String::from_utf8_lossy(buf));
            assert_eq!(ending, status, "{}", String::from_utf8_lossy(buf));
        }
    }
}
