//! The direct VNC path: a websockify-compatible relay between noVNC's WebSocket (binary
//! frames, no subprotocol needed; PROTOCOLS.md §3) and the desktop's VNC port, with no
//! guacd in between.
//!
//! The VNC password must never reach the browser, so when the connection has one the
//! proxy authenticates to the server itself (RFB VNC Authentication, PROTOCOLS.md §2)
//! and offers the browser security type None; after the security phase bytes pass
//! unchanged both ways, as through websockify. Without a password nothing is
//! intercepted at all.

use std::time::Duration;

use abi_stable::std_types::RVec;
use daas_common::rfb::{authenticate, RfbError};
use daas_plugin_api::{
    abi::WsMessage,
    sdk::{net::TcpStream, WebSocket, WsSink, WsSource},
};

use crate::{inbox::Inbox, room::ReadRoom};

/// How long the desktop's VNC port may take to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the relay could not start or ended badly.
#[derive(Debug, thiserror::Error)]
pub enum VncError {
    /// The desktop's port does not answer.
    #[error("the desktop's VNC server cannot be reached: {0}")]
    Connect(std::io::Error),
    /// The server's side failed.
    #[error("the desktop's VNC connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// The server speaks something else.
    #[error("the desktop's VNC server broke the protocol: {0}")]
    Protocol(String),
    /// The server refused the proxy.
    #[error("the desktop's VNC server refused the connection: {0}")]
    Refused(String),
    /// The browser went away or broke the protocol.
    #[error("the browser {0}")]
    Browser(String),
}

impl From<RfbError> for VncError {
    fn from(e: RfbError) -> Self {
        match e {
            RfbError::Io(e) => VncError::Io(e),
            RfbError::Protocol(why) => VncError::Protocol(why),
            RfbError::Refused(why) => VncError::Refused(why),
        }
    }
}

/// Bytes from the browser's binary frames, read as a stream.
struct FromBrowser<'a> {
    source: &'a WsSource,
    buf: Vec<u8>,
}

impl FromBrowser<'_> {
    async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, VncError> {
        while self.buf.len() < n {
            match self.source.recv().await {
                Some(WsMessage::Binary(b)) => self.buf.extend_from_slice(&b),
                Some(WsMessage::Text(_)) => return Err(VncError::Browser("sent a text frame; the VNC relay takes binary frames".into())),
                _ => return Err(VncError::Browser("closed the connection during the handshake".into())),
            }
        }
        Ok(self.buf.drain(..n).collect())
    }
}

/// Version and security with the browser, as the server: RFB 3.8 with security None.
/// Returns what the browser sent beyond (ClientInit, if it came early).
async fn greet_browser(sink: &WsSink, source: &WsSource) -> Result<Vec<u8>, VncError> {
    let gone = |_| VncError::Browser("went away during the handshake".into());
    sink.send(WsMessage::Binary(b"RFB 003.008\n".to_vec().into())).await.map_err(gone)?;
    let mut reader = FromBrowser { source, buf: Vec::new() };
    let version = reader.read_exact(12).await?;
    match &version[..] {
        b"RFB 003.003\n" => sink.send(WsMessage::Binary(1u32.to_be_bytes().to_vec().into())).await.map_err(gone)?,
        b"RFB 003.007\n" | b"RFB 003.008\n" => {
            sink.send(WsMessage::Binary(vec![1, 1].into())).await.map_err(gone)?;
            if reader.read_exact(1).await?[0] != 1 {
                return Err(VncError::Browser("chose a security type that was not offered".into()));
            }
            if version[..] == b"RFB 003.008\n"[..] {
                sink.send(WsMessage::Binary(0u32.to_be_bytes().to_vec().into())).await.map_err(gone)?;
            }
        }
        v => return Err(VncError::Browser(format!("is not an RFB 3.x client (it said {:?})", String::from_utf8_lossy(v)))),
    }
    Ok(reader.buf)
}

/// Run the relay until either side ends it.
pub async fn run(ws: WebSocket, address: String, password: String) {
    let (sink, source) = ws.split();
    match relay(&sink, &source, &address, &password).await {
        Ok(()) => {
            let _ = sink.close(1000, "the desktop closed the connection").await;
        }
        Err(VncError::Browser(why)) => {
            tracing::info!(%address, "vnc relay: the browser {why}");
            let _ = sink.close(1003, "unexpected data from the browser").await;
        }
        Err(e) => {
            tracing::warn!(%address, "vnc relay: {e}");
            // The reason is for the user: no address in it.
            let reason = match &e {
                VncError::Connect(_) => "the desktop cannot be reached",
                VncError::Refused(_) => "the desktop refused the connection",
                _ => "the desktop's connection failed",
            };
            let _ = sink.close(1011, reason).await;
        }
    }
}

async fn relay(sink: &WsSink, source: &WsSource, address: &str, password: &str) -> Result<(), VncError> {
    // The host's socket: it and the WebSocket wake this relay from one reactor.
    let mut tcp = TcpStream::connect(address, CONNECT_TIMEOUT).await.map_err(VncError::Connect)?;
    if !password.is_empty() {
        authenticate(&mut tcp, password).await?;
        let early = greet_browser(sink, source).await?;
        if !early.is_empty() {
            tcp.write_owned(early.into()).await?;
        }
    }
    // One loop per direction, so that neither ever drops a read in flight; the relay
    // ends when either does. The host's buffers pass from socket to frame and from
    // frame to socket as they are (sdk::net: no copy), except that small frames which
    // arrive together are joined into one write (inbox.rs).
    let tcp = &tcp;
    let to_browser = async {
        // One read is one binary frame.
        let mut room = ReadRoom::new();
        loop {
            let data = tcp.read_into(RVec::new(), room.get()).await?;
            if data.is_empty() {
                return Ok(());
            }
            room.after_read(data.len());
            if sink.send(WsMessage::Binary(data)).await.is_err() {
                return Ok(());
            }
        }
    };
    let to_desktop = async {
        let mut inbox = Inbox::new(source);
        loop {
            match inbox.next().await {
                Some(WsMessage::Binary(b)) => tcp.write_owned(inbox.binary_batch(b)).await?,
                // websockify closes on a text frame too (1003).
                Some(WsMessage::Text(_)) => return Err(VncError::Browser("sent a text frame; the VNC relay takes binary frames".into())),
                None | Some(WsMessage::Close(..)) => {
                    let _ = tcp.shutdown_write().await;
                    return Ok(());
                }
            }
        }
    };
    tokio::select! {
        ended = to_browser => ended,
        ended = to_desktop => ended,
    }
}
