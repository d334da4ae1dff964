//! The HTTP server: accepting connections and serving each with hyper, around the
//! router's endpoint. Instead of `poem::Server`, which offers no way to bound how long a
//! client may take: here
//!
//! - a request's head must arrive within `header_read_timeout` (a new connection's first
//!   one counted from the accept, later ones from their first byte), and a kept-alive
//!   connection may sit idle for `idle_timeout`: then the connection is closed;
//! - a client address has at most `max_per_client` connections open (upgraded WebSockets
//!   included); one more is answered 429 and closed;
//! - the answers hyper writes itself, without asking the router (400 for a malformed
//!   request, 414 for a URI longer than 65,534 bytes, 431 for more than 100 header fields
//!   or a head over 400 KiB), get the JSON error body and security headers of every other
//!   answer when they answer a connection's first request. On a reused connection hyper
//!   writes them with an empty body: by then its answer may share a write with the
//!   previous response, which cannot be told apart safely.
//!
//! A request in progress (its handler running, or its body being read, which
//! [`crate::router`] bounds) is never cut off by these timeouts.

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{ready, Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use daas_plugin_api::ApiError;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use poem::{
    http::uri::Scheme,
    web::{LocalAddr, RemoteAddr},
    Addr, Endpoint,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::Notify,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// What a client may take and hold ([`daas_common::config::ExtensionsSection`]).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a request's head may take to arrive; `None`: as long as it likes.
    pub header_read_timeout: Option<Duration>,
    /// How long a kept-alive connection may wait for its next request; `None`: forever.
    pub idle_timeout: Option<Duration>,
    /// Connections one client address may have open; 0: any number.
    pub max_per_client: usize,
}

impl Limits {
    /// The site's limits (0 in the configuration: none).
    pub fn of(section: &daas_common::config::ExtensionsSection) -> Self {
        let ms = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
        Limits {
            header_read_timeout: ms(section.header_read_timeout_ms),
            idle_timeout: ms(section.idle_timeout_ms),
            max_per_client: section.max_connections_per_client,
        }
    }
}

/// Serve `endpoint` on `listener` until `signal`; then stop accepting, let the requests
/// under way finish within `grace` (kept-alive connections close at once), and drop
/// what is left. Upgraded connections (WebSockets) are not waited for: the caller does.
pub async fn serve<E>(listener: TcpListener, endpoint: E, limits: Limits, signal: impl Future<Output = ()>, grace: Duration)
where
    E: Endpoint + 'static,
{
    let endpoint = Arc::new(endpoint);
    let local = listener.local_addr().ok();
    let clients = Arc::new(Clients::default());
    let mut http = auto::Builder::new(TokioExecutor::new());
    // poem's settings for HTTP/2: resets a client may leave pending, the size of a head.
    http.http2().max_pending_accept_reset_streams(20).max_header_list_size(16 * 1024);
    let http = Arc::new(http);
    let graceful = CancellationToken::new();
    let abort = CancellationToken::new();
    let connections = TaskTracker::new();
    tokio::pin!(signal);
    loop {
        let (socket, peer) = tokio::select! {
            () = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: accepting again at once would
                    // spin; connections closing meanwhile make room.
                    tracing::warn!("cannot accept a connection: {e}; trying again in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        match clients.admit(peer.ip(), limits.max_per_client) {
            Some(permit) => {
                let _ = socket.set_nodelay(true);
                let conn = Connection { peer, local, limits, permit, http: http.clone(), graceful: graceful.clone(), abort: abort.clone() };
                connections.spawn(conn.serve(socket, endpoint.clone()));
            }
            None => {
                tracing::debug!(client = %peer, "connection refused: {} open from this address already", limits.max_per_client);
                connections.spawn(refuse(socket, peer, limits.max_per_client));
            }
        }
    }
    drop(listener);
    graceful.cancel();
    connections.close();
    if tokio::time::timeout(grace, connections.wait()).await.is_err() {
        tracing::warn!(open = connections.len(), "shutdown: connections still busy at the deadline are closed");
        abort.cancel();
        connections.wait().await;
    }
}

/// One accepted connection and what serving it needs.
struct Connection {
    peer: SocketAddr,
    local: Option<SocketAddr>,
    limits: Limits,
    permit: ClientPermit,
    http: Arc<auto::Builder<TokioExecutor>>,
    graceful: CancellationToken,
    abort: CancellationToken,
}

impl Connection {
    async fn serve<E: Endpoint + 'static>(self, socket: TcpStream, endpoint: Arc<E>) {
        let Connection { peer, local, limits, permit, http, graceful, abort } = self;
        let state = Arc::new(ConnState::new());
        let io = Watched { inner: socket, state: state.clone(), _permit: permit, replaced: None };
        let service = {
            let state = state.clone();
            let local = LocalAddr(local.map(Addr::SocketAddr).unwrap_or_default());
            let remote = RemoteAddr(Addr::SocketAddr(peer));
            hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let request = InFlight::begin(&state);
                let endpoint = endpoint.clone();
                let req = poem::Request::from((req, local.clone(), remote.clone(), Scheme::HTTP));
                async move {
                    let resp: hyper::Response<BoxBody> = endpoint.get_response(req).await.into();
                    Ok::<_, Infallible>(resp.map(|body| Tracked { body, _request: request }))
                }
            })
        };
        let conn = http.serve_connection_with_upgrades(TokioIo::new(io), service);
        tokio::pin!(conn);
        let mut shutting_down = false;
        loop {
            let deadline = state.deadline(&limits);
            tokio::select! {
                done = conn.as_mut() => {
                    if let Err(e) = done {
                        tracing::debug!(client = %peer, "connection ended: {e}");
                    }
                    return;
                }
                () = state.changed.notified() => {}
                () = sleep_until(deadline) => {
                    if let Some(why) = state.expired(&limits) {
                        // Dropping the connection closes it: nothing is under way.
                        tracing::debug!(client = %peer, "connection closed: {why}");
                        return;
                    }
                }
                () = graceful.cancelled(), if !shutting_down => {
                    shutting_down = true;
                    conn.as_mut().graceful_shutdown();
                }
                () = abort.cancelled() => return,
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// Tell a client over its limit why, and close. Bounded in time: a client that does not
/// read is not waited for.
async fn refuse(mut socket: TcpStream, peer: SocketAddr, max: usize) {
    let answer = raw_json_answer(
        429,
        &ApiError::new(
            "too_many_connections",
            format!("{} has {max} connections to this server open already, the most one address may", peer.ip()),
            "close connections you do not use (idle tabs, other clients behind the same address) and try again; \
             the operator sets the limit with [extensions] max_connections_per_client",
        ),
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        socket.write_all(&answer).await?;
        socket.shutdown().await?;
        // Read what the client sent meanwhile, so that closing does not reset the
        // connection before it has read the answer.
        let mut sink = [0u8; 4096];
        while socket.read(&mut sink).await? > 0 {}
        Ok::<(), io::Error>(())
    })
    .await;
}

/// A whole HTTP/1.1 answer with a JSON error body, the security headers, and the end of
/// the connection.
fn raw_json_answer(status: u16, error: &ApiError) -> Vec<u8> {
    let reason = poem::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    let body = serde_json::to_vec(error).unwrap_or_default();
    let mut answer = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n{}\r\n",
        body.len(),
        crate::headers::RAW_JSON_HEADERS
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

/// The JSON answer for one of hyper's own (`HTTP/1.1 400 Bad Request...`), by its status.
fn replacement(hyper_answer: &[u8]) -> Option<Vec<u8>> {
    let status = std::str::from_utf8(hyper_answer.get(9..12)?).ok()?.parse::<u16>().ok()?;
    let (message, detail) = match status {
        400 => (
            "the request is not well-formed HTTP/1.1",
            "check the request line (METHOD /path HTTP/1.1) and the header fields (`name: value`, one per line)",
        ),
        414 => ("the request's URI is longer than this server takes (65,534 bytes)", "send long parameters in a request body"),
        431 => (
            "the request's header fields are too many (more than 100) or too large (over 400 KiB together)",
            "send fewer or smaller header fields (large cookies?)",
        ),
        _ => return None,
    };
    Some(raw_json_answer(status, &ApiError::new(ApiError::code_for(poem::http::StatusCode::from_u16(status).ok()?), message, detail)))
}

// ---- connections per client ------------------------------------------------------------

/// Open connections per client address.
#[derive(Default)]
struct Clients(Mutex<HashMap<IpAddr, usize>>);

impl Clients {
    /// A permit for one more connection from `ip`, unless it has `max` (0: no limit).
    fn admit(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<ClientPermit> {
        // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let ip = ip.to_canonical();
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_default();
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientPermit { clients: self.clone(), ip })
    }
}

/// One open connection of a client, for as long as its socket lives (in hyper's
/// connection, or in the upgraded WebSocket after it).
struct ClientPermit {
    clients: Arc<Clients>,
    ip: IpAddr,
}

impl Drop for ClientPermit {
    fn drop(&mut self) {
        let mut open = self.clients.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

// ---- what a connection is doing -------------------------------------------------------

/// "None" in the millisecond fields of [`ConnState`].
const NONE: u64 = u64::MAX;

/// Where a connection is between requests, shared by its socket (reads), its service
/// (requests begin) and its responses' bodies (requests end).
struct ConnState {
    opened: Instant,
    /// Requests whose response has not been sent whole.
    in_flight: AtomicUsize,
    /// Some request was handed to the router (hyper's own answers come before that).
    served: AtomicBool,
    /// When, in ms since `opened`, the first byte of the next request's head arrived.
    head_started: AtomicU64,
    /// When the last response was sent whole.
    last_end: AtomicU64,
    /// Wakes the connection's task to look at its deadline again, when it may have come
    /// closer (a request ended, a head began).
    changed: Notify,
}

impl ConnState {
    fn new() -> Self {
        ConnState {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            head_started: AtomicU64::new(NONE),
            last_end: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    fn at(&self, ms: u64) -> Instant {
        self.opened + Duration::from_millis(ms)
    }

    /// Bytes arrived: between requests, they start the next one's head.
    fn read(&self) {
        if self.in_flight.load(Ordering::SeqCst) == 0
            && self.head_started.compare_exchange(NONE, self.now(), Ordering::SeqCst, Ordering::SeqCst).is_ok()
        {
            self.changed.notify_one();
        }
    }

    /// When the connection is to be closed unless something happens first, and why.
    fn deadline_why(&self, limits: &Limits) -> Option<(Instant, String)> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let ms = |d: Duration| d.as_millis();
        let head_started = self.head_started.load(Ordering::SeqCst);
        if head_started != NONE {
            let t = limits.header_read_timeout?;
            return Some((self.at(head_started) + t, format!("the request head did not arrive whole within {} ms", ms(t))));
        }
        if !self.served.load(Ordering::SeqCst) {
            let t = limits.header_read_timeout?;
            return Some((self.opened + t, format!("no request within {} ms of connecting", ms(t))));
        }
        let t = limits.idle_timeout?;
        Some((self.at(self.last_end.load(Ordering::SeqCst)) + t, format!("idle for {} ms after its last response", ms(t))))
    }

    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        self.deadline_why(limits).map(|(d, _)| d)
    }

    /// Why the connection is to be closed now, if it is.
    fn expired(&self, limits: &Limits) -> Option<String> {
        self.deadline_why(limits).filter(|(d, _)| Instant::now() >= *d).map(|(_, why)| why)
    }
}

/// A request from the moment hyper hands it over until its response is sent whole (or
/// abandoned): no timeout of [`ConnState`] applies meanwhile.
struct InFlight(Arc<ConnState>);

impl InFlight {
    fn begin(state: &Arc<ConnState>) -> Self {
        state.in_flight.fetch_add(1, Ordering::SeqCst);
        state.served.store(true, Ordering::SeqCst);
        state.head_started.store(NONE, Ordering::SeqCst);
        // No wake-up: the deadline only moves away (to none), which the connection's
        // task finds when its timer fires.
        InFlight(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let state = &self.0;
        state.last_end.store(state.now(), Ordering::SeqCst);
        state.head_started.store(NONE, Ordering::SeqCst);
        state.in_flight.fetch_sub(1, Ordering::SeqCst);
        state.changed.notify_one();
    }
}

/// A response body that ends its request's [`InFlight`] when hyper is done with it.
type BoxBody = http_body_util::combinators::BoxBody<Bytes, io::Error>;

struct Tracked {
    body: BoxBody,
    _request: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The connection's socket: notes reads for [`ConnState`], holds the client's
/// [`ClientPermit`], and swaps hyper's own bodiless answer to a first request for the
/// JSON one (see the module).
struct Watched {
    inner: TcpStream,
    state: Arc<ConnState>,
    _permit: ClientPermit,
    /// The JSON answer written in place of hyper's, and how much of it is out.
    replaced: Option<(Vec<u8>, usize)>,
}

impl Watched {
    /// Write out what is left of the replacement answer.
    fn poll_replaced(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((answer, written)) = &mut self.replaced {
            if *written == answer.len() {
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &answer[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Whether `first` starts hyper's own answer: before any request reached the router,
    /// anything hyper writes is one (a parse error's answer; `100 Continue` comes only
    /// once a handler reads a body).
    fn hypers_own(&self, first: &[u8]) -> bool {
        self.replaced.is_none() && !self.state.served.load(Ordering::SeqCst) && first.starts_with(b"HTTP/1.1 ")
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = ready!(Pin::new(&mut self.inner).poll_read(cx, buf));
        if buf.filled().len() > before {
            self.state.read();
        }
        Poll::Ready(result)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.hypers_own(buf) {
            if let Some(answer) = replacement(buf) {
                self.replaced = Some((answer, 0));
                // Hyper's bytes count as written: what goes out is the replacement.
                return Poll::Ready(Ok(buf.len()));
            }
        }
        ready!(self.poll_replaced(cx))?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let first = bufs.iter().find(|b| !b.is_empty()).map(|b| &b[..]).unwrap_or_default();
        if self.hypers_own(first) {
            if let Some(answer) = replacement(first) {
                self.replaced = Some((answer, 0));
                return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
            }
        }
        ready!(self.poll_replaced(cx))?;
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replaced(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replaced(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_answers_are_replaced_by_json_ones() {
        let answer = replacement(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n").unwrap();
        let text = String::from_utf8(answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{head}");
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())) && head.contains("x-content-type-options: nosniff"));
        let error: ApiError = serde_json::from_str(body).unwrap();
        assert_eq!(error.code, "header_fields_too_large");
        assert!(replacement(b"HTTP/1.1 200 OK\r\n\r\n").is_none());
    }

    #[test]
    fn a_client_address_gets_its_permits_back() {
        let clients = Arc::new(Clients::default());
        let ip: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let first = clients.admit(ip, 2).unwrap();
        let _second = clients.admit("127.0.0.1".parse().unwrap(), 2).unwrap();
        assert!(clients.admit(ip, 2).is_none(), "the same address, however written");
        assert!(clients.admit("127.0.0.2".parse().unwrap(), 2).is_some());
        drop(first);
        assert!(clients.admit(ip, 2).is_some());
        assert!(clients.admit(ip, 0).is_some(), "0: no limit");
    }
}
