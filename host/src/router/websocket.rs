//! WebSocket upgrades on plugins' routes: the host does the handshake (echoing the
//! route's subprotocol), hands the plugin the request's packed head and the socket's two
//! halves, and closes the socket when the server shuts down.

use std::{
    panic::AssertUnwindSafe,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use abi_stable::std_types::{RResult, RString};
use daas_plugin_api::abi::{HttpRequest, WsMessage, WsSink, WsSinkBox, WsSource, WsSourceBox};
use futures::{
    stream::{SplitSink, SplitStream},
    FutureExt as _, SinkExt as _, StreamExt as _,
};
use poem::{
    http::StatusCode,
    web::websocket::{CloseCode, Message, WebSocket, WebSocketConfig, WebSocketStream},
    FromRequest, IntoResponse, Request, Response,
};

use super::answers::{json_error, log_crossed_panic};
use crate::{registry::Plugin, state::AppState};

/// The read buffer of each upgraded WebSocket (see `upgrade`).
const WS_READ_BUFFER: usize = 8 * 1024;

/// Open WebSocket sessions (shutdown waits for them to close).
pub static OPEN_WEBSOCKETS: AtomicUsize = AtomicUsize::new(0);

type SharedSink = Arc<tokio::sync::Mutex<SplitSink<WebSocketStream, Message>>>;

struct HostSink(SharedSink);
struct HostSource(Arc<tokio::sync::Mutex<SplitStream<WebSocketStream>>>);

impl WsSink for HostSink {
    fn send(&self, msg: WsMessage) -> async_ffi::FfiFuture<RResult<(), RString>> {
        use async_ffi::FutureExt as _;
        let sink = self.0.clone();
        async move {
            let msg = match msg {
                WsMessage::Text(t) => Message::Text(t.into_string()),
                WsMessage::Binary(b) => Message::Binary(b.into_vec()),
                WsMessage::Close(code, reason) => Message::Close(Some((CloseCode::from(code), reason.into_string()))),
            };
            sink.lock().await.send(msg).await.map_err(|e| RString::from(e.to_string())).into()
        }
        .into_ffi()
    }
}

impl WsSource for HostSource {
    fn recv(&self) -> async_ffi::FfiFuture<abi_stable::std_types::ROption<WsMessage>> {
        use abi_stable::std_types::ROption;
        use async_ffi::FutureExt as _;
        let source = self.0.clone();
        async move {
            let mut source = source.lock().await;
            loop {
                let msg = match source.next().await {
                    None | Some(Err(_)) => return ROption::RNone,
                    Some(Ok(m)) => m,
                };
                let out = match msg {
                    Message::Text(t) => WsMessage::Text(t.into()),
                    Message::Binary(b) => WsMessage::Binary(b.into()),
                    Message::Close(frame) => {
                        let (code, reason) = frame.map(|(c, r)| (u16::from(c), r)).unwrap_or((1005, String::new()));
                        WsMessage::Close(code, reason.into())
                    }
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                return ROption::RSome(out);
            }
        }
        .into_ffi()
    }
}

/// Counts an open WebSocket session for as long as it lives.
struct SessionGuard;

impl SessionGuard {
    fn new() -> Self {
        OPEN_WEBSOCKETS.fetch_add(1, Ordering::SeqCst);
        SessionGuard
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        OPEN_WEBSOCKETS.fetch_sub(1, Ordering::SeqCst);
    }
}

pub async fn upgrade(req: &Request, subprotocol: String, plugin: Plugin, request: HttpRequest, state: &Arc<AppState>) -> Response {
    let ws = match WebSocket::from_request_without_body(req).await {
        Ok(ws) => ws,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, "bad_request", format!("not a valid WebSocket upgrade: {e}"), ""),
    };
    // The same bound as a request body: a message is buffered whole on both sides.
    let mut config = WebSocketConfig::default();
    // tungstenite zero-fills its whole read buffer before each read, so its size is
    // what every open WebSocket costs in memory: 128 KiB by default, for traffic that is
    // keys, pointer moves and pings from a browser. Larger messages take more reads.
    config.read_buffer_size = WS_READ_BUFFER;
    config.max_message_size = Some(state.max_body_bytes);
    config.max_frame_size = Some(state.max_body_bytes);
    let ws = ws.config(config);
    let ws = if subprotocol.is_empty() { ws } else { ws.protocols(vec![subprotocol]) };
    let mut shutdown = state.shutdown.subscribe();
    // Counted from the 101 on, not from when the upgraded connection's task first runs:
    // a shutdown in between must still wait for this session to say goodbye.
    let session_guard = SessionGuard::new();
    ws.on_upgrade(move |socket| async move {
        let _session = session_guard;
        let (sink, source) = socket.split();
        let sink: SharedSink = Arc::new(tokio::sync::Mutex::new(sink));
        let sink_box: WsSinkBox = daas_plugin_api::abi::WsSink_TO::from_value(HostSink(sink.clone()), abi_stable::sabi_trait::TD_Opaque);
        let source_box: WsSourceBox = daas_plugin_api::abi::WsSource_TO::from_value(
            HostSource(Arc::new(tokio::sync::Mutex::new(source))),
            abi_stable::sabi_trait::TD_Opaque,
        );
        let session = AssertUnwindSafe((plugin.module().websocket())(request, sink_box, source_box)).catch_unwind();
        tokio::select! {
            ended = session => {
                if ended.is_err() {
                    log_crossed_panic(plugin.name(), "a websocket handler");
                }
            }
            _ = async { shutdown.wait_for(|down| *down).await.map(|_| ()) } => {
                // The plugin's future is dropped here (inside its runtime, see the SDK's
                // `Entered`); the client learns why.
                let close = Message::Close(Some((CloseCode::Away, "server shutting down".into())));
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async { sink.lock().await.send(close).await }).await;
            }
        }
    })
    .into_response()
}
