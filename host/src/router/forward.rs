//! The crossing into a plugin ([`Forward`]): the request's head packed into one buffer,
//! its body read within the site's bounds, the plugin's packed answer unpacked into a
//! response. WebSocket upgrades on the plugin's routes go to [`super::websocket`].

use std::{borrow::Cow, future::Future, panic::AssertUnwindSafe, sync::Arc, time::Duration};

use abi_stable::std_types::RVec;
use daas_plugin_api::{
    abi::{pack_request_head, FfiSocketAddr, HttpRequest},
    paths::match_path,
};
use futures::{future::Either, FutureExt as _};
use poem::{http::StatusCode, Endpoint, Request, Response};

use super::{
    answers::{closing, crossed_panic, is_websocket_upgrade, json_error},
    layers::{http_to_response, LayerAttributes},
    websocket::upgrade,
};
use crate::{registry::Plugin, state::AppState};

/// Why a request body could not be read.
pub enum BodyError {
    /// Longer than the limit.
    TooLarge,
    /// Nothing arrived for the pause allowed.
    Stalled(Duration),
    /// The connection failed.
    Io(std::io::Error),
}

impl BodyError {
    /// The answer; the connection closes after it, since the rest of the body was not read.
    pub fn response(&self, limit: usize) -> Response {
        let resp = match self {
            BodyError::TooLarge => json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request body is larger than {limit} bytes"),
                "send less, or raise [extensions] max_body_bytes",
            ),
            BodyError::Stalled(pause) => json_error(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("the request body stopped arriving: nothing for {} ms", pause.as_millis()),
                "send the body without long pauses, or raise [extensions] idle_timeout_ms",
            ),
            BodyError::Io(e) => json_error(StatusCode::BAD_REQUEST, "bad_request", format!("request body could not be read: {e}"), ""),
        };
        closing(resp)
    }
}

/// Read a request body of at most `limit` bytes, each piece within `pause` of the one
/// before. A body that arrived in one piece is taken as it is; no body costs nothing.
async fn read_body(body: poem::Body, limit: usize, pause: Option<Duration>) -> Result<bytes::Bytes, BodyError> {
    use http_body_util::BodyExt as _;
    let mut body: http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error> = body.into();
    let mut data = bytes::Bytes::new();
    let mut more: Option<bytes::BytesMut> = None;
    loop {
        let frame = match pause {
            Some(pause) => tokio::time::timeout(pause, body.frame()).await.map_err(|_| BodyError::Stalled(pause))?,
            None => body.frame().await,
        };
        let Some(frame) = frame else { break };
        let Ok(chunk) = frame.map_err(BodyError::Io)?.into_data() else { continue };
        if data.len() + more.as_ref().map_or(0, |m| m.len()) + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        if data.is_empty() && more.is_none() {
            data = chunk;
        } else {
            more.get_or_insert_with(|| bytes::BytesMut::from(std::mem::take(&mut data))).extend_from_slice(&chunk);
        }
    }
    Ok(more.map_or(data, bytes::BytesMut::freeze))
}

/// Forwards requests to one plugin across the boundary.
pub struct Forward {
    pub plugin: Plugin,
    pub browser: bool,
    /// The length of `/api/v1/<plugin>` (API routes).
    pub prefix_len: usize,
    pub state: Arc<AppState>,
}

impl Endpoint for Forward {
    type Output = Response;

    // Not `async fn`: everything needed of the request is taken out of it here, so the
    // future (boxed for every plugin request) holds a few buffers instead of the request
    // (it was 2 KiB, past the allocator's per-thread cache).
    fn call(&self, mut req: Request) -> impl Future<Output = poem::Result<Response>> + Send {
        let attributes = req.extensions_mut().remove::<LayerAttributes>().unwrap_or_default().0;
        let target = self.target(&req);
        let request = HttpRequest {
            head: pack_request_head(req.method().as_str(), &target, req.headers()),
            body: RVec::new(),
            remote_addr: FfiSocketAddr::from(req.remote_addr().as_socket_addr()),
            attributes,
            browser: self.browser,
        };
        let path = target.split('?').next().unwrap_or("/");
        let upgrading = is_websocket_upgrade(&req);
        // The plugin's WebSockets matter to an upgrade, and to a plain request on the API
        // (which nothing else answers there: 426); a browser route's page answers the rest.
        let route = (upgrading || !self.browser)
            .then(|| self.plugin.manifest.websockets.iter().find(|r| r.browser == self.browser && match_path(&r.path, path).is_some()))
            .flatten();
        if let Some(route) = route {
            if upgrading {
                let subprotocol = route.subprotocol.to_string();
                // The handshake needs the request, so this future is the large one: boxed,
                // as upgrades are rare next to requests.
                return Either::Left(Box::pin(
                    async move { Ok(upgrade(&req, subprotocol, self.plugin.clone(), request, &self.state).await) },
                ));
            }
        }
        // A plain request to an API WebSocket (nothing else answers its path): 426, as
        // documented. A browser WebSocket shares its URL with a page, which answers.
        let plain_websocket = (route.is_some() && !self.browser).then(|| path.to_string());
        let body = req.take_body();
        let json = crate::json_keys::is_json(req.headers());
        drop(req);
        let serve_http = self.plugin.module().serve_http();
        Either::Right(async move {
            if let Some(path) = plain_websocket {
                let mut answer = json_error(
                    StatusCode::UPGRADE_REQUIRED,
                    "upgrade_required",
                    format!("{path} is a WebSocket"),
                    "open it as a WebSocket (Connection: Upgrade, Upgrade: websocket)",
                );
                answer.headers_mut().insert(poem::http::header::UPGRADE, poem::http::HeaderValue::from_static("websocket"));
                return Ok(answer);
            }
            let body = match read_body(body, self.state.max_body_bytes, self.state.body_pause).await {
                Ok(b) => b,
                Err(e) => return Ok(e.response(self.state.max_body_bytes)),
            };
            if let Some(dup) = json.then(|| crate::json_keys::find_duplicate(&body)).flatten() {
                let at = if dup.pointer.is_empty() { String::new() } else { format!(" (in the object at {})", dup.pointer) };
                return Ok(json_error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("the JSON body has the duplicate key `{}`{at}", dup.key),
                    "send each key once: parsers disagree on which of two values counts",
                ));
            }
            // A copy (hyper's bytes are views of its read buffer) that the plugin then reads in place.
            let body = RVec::from(Vec::<u8>::from(body));
            let answer = AssertUnwindSafe(serve_http(HttpRequest { body, ..request })).catch_unwind().await.map(http_to_response);
            Ok(answer.unwrap_or_else(|_| crossed_panic(self.plugin.name(), "a request handler")))
        })
    }
}

impl Forward {
    /// The path and query the plugin sees: browser routes see the full path, API routes
    /// the path under `/api/v1/<plugin>`. [`super::Routes`] matched that prefix byte for
    /// byte (as poem's router matches static segments: a percent-encoded plugin name
    /// matches nothing), so cutting it off by its length is exact.
    fn target<'r>(&self, req: &'r Request) -> Cow<'r, str> {
        let full = req.uri().path_and_query().map(|p| p.as_str()).filter(|p| p.starts_with('/')).unwrap_or("/");
        if self.browser {
            return Cow::Borrowed(full);
        }
        match full.get(self.prefix_len..).unwrap_or("") {
            rest if rest.starts_with('/') => Cow::Borrowed(rest),
            rest => Cow::Owned(format!("/{rest}")),
        }
    }
}
