//! The plugin's view of an upgraded WebSocket.

use abi_stable::std_types::{RResult, RString};

use crate::abi::{WsMessage, WsSinkBox, WsSourceBox};

/// A WebSocket the host upgraded for this plugin. Clone-free halves: use
/// [`WebSocket::split`] to receive and send from different tasks.
pub struct WebSocket {
    sink: WsSink,
    source: WsSource,
}

/// The sending half.
pub struct WsSink(WsSinkBox);
/// The receiving half.
pub struct WsSource(WsSourceBox);

/// The connection is gone.
#[derive(Debug, thiserror::Error)]
#[error("websocket closed: {0}")]
pub struct WsClosed(pub String);

impl WebSocket {
    pub(crate) fn new(sink: WsSinkBox, source: WsSourceBox) -> Self {
        WebSocket { sink: WsSink(sink), source: WsSource(source) }
    }
    /// Separate the halves.
    pub fn split(self) -> (WsSink, WsSource) {
        (self.sink, self.source)
    }
    /// Send one message.
    pub async fn send(&self, msg: WsMessage) -> Result<(), WsClosed> {
        self.sink.send(msg).await
    }
    /// Receive the next message; `None` when the peer is gone.
    pub async fn recv(&self) -> Option<WsMessage> {
        self.source.recv().await
    }
}

impl WsSink {
    /// Send one message.
    pub async fn send(&self, msg: WsMessage) -> Result<(), WsClosed> {
        match self.0.send(msg).await {
            RResult::ROk(()) => Ok(()),
            RResult::RErr(e) => Err(WsClosed(e.into_string())),
        }
    }
    /// Send a text frame.
    pub async fn send_text(&self, text: impl Into<String>) -> Result<(), WsClosed> {
        self.send(WsMessage::Text(RString::from(text.into()))).await
    }
    /// Close with a code and reason.
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), WsClosed> {
        self.send(WsMessage::Close(code, reason.into())).await
    }
}

impl WsSource {
    /// Receive the next message; `None` when the peer is gone.
    pub async fn recv(&self) -> Option<WsMessage> {
        self.0.recv().await.into_option()
    }
}
