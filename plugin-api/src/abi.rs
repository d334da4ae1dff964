//! Everything that crosses the dylib boundary. Only types from this module (and
//! [`crate::names`]) appear in the root module's signatures; they are all `StableAbi`,
//! so abi_stable checks their layout when the host loads a library.
//!
//! Compatibility rule: new plugin functions go after the last field of [`PluginMod`],
//! new host services after the last field of [`HostExt`]; both are prefix types, so a
//! library built against an older or newer plugin-api still loads and sees the missing
//! functions as absent. [`HostServices`] itself is frozen (0.2 added its `ext` field).
//! Any change to an existing type is a new minor version of plugin-api, and the host
//! refuses plugins built against another minor version (abi_stable's semver check) or
//! with another layout (its layout check).
//! The byte layout inside [`HttpRequest::head`] and [`HttpResponse::headers`]
//! ([`pack_request_head`], [`pack_fields`]) is part of the ABI too, but the layout check
//! cannot see into a byte buffer: changing it is a new minor version as well.

// `#[sabi_trait]` expands to impls inside a const block; rustc 1.95 warns about that
// (`non_local_definitions`) although abi_stable does it on purpose.
#![allow(non_local_definitions)]

use std::{net::SocketAddr, ops::Range};

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RStr, RString, RVec, Tuple2},
    StableAbi,
};
use async_ffi::FfiFuture;

use crate::names::{BackendName, LayerName, PluginName};

/// An ordered list of (name, value) string pairs: request attributes.
pub type Pairs = RVec<Tuple2<RString, RString>>;

/// An HTTP request as [`PluginMod::serve_http`] receives it: the request line and the
/// header fields packed into one buffer (see [`pack_request_head`]), so that neither side
/// allocates per header and the plugin can keep header values as slices of the buffer;
/// the client's address as a number, since formatting it costs more than the rest of the
/// crossing.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Default)]
pub struct HttpRequest {
    /// The method, the target and the header fields in arrival order (names lower-case,
    /// values as received), packed by [`pack_request_head`]. The target is the path and
    /// query as the plugin sees them: for API routes the `/api/v1/<plugin>` prefix is
    /// stripped; browser routes keep their full path.
    pub head: RVec<u8>,
    /// The whole request body.
    pub body: RVec<u8>,
    /// The client's socket address.
    pub remote_addr: FfiSocketAddr,
    /// Attributes the layers attached (for example the authenticated identity). Set only
    /// by the host from layer verdicts, never from anything the client sent.
    pub attributes: Pairs,
    /// The request came in on one of the plugin's root-level browser routes rather than
    /// under its API prefix.
    pub browser: bool,
}

/// The answer to an [`HttpRequest`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Default)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// The header fields, packed by [`pack_fields`].
    pub headers: RVec<u8>,
    /// The whole response body.
    pub body: RVec<u8>,
}

impl HttpResponse {
    /// A response with this status, these header fields and this body.
    pub fn new<K: AsRef<[u8]>, V: AsRef<[u8]>>(status: u16, headers: &[(K, V)], body: impl Into<Vec<u8>>) -> Self {
        HttpResponse { status, headers: pack_fields(headers.iter().map(|(k, v)| (k, v))), body: RVec::from(body.into()) }
    }

    /// The same response with one more header field.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        let mut fields: Vec<(&[u8], &[u8])> = unpack_fields(&self.headers, 0).map(|(n, v)| (&self.headers[n], &self.headers[v])).collect();
        fields.push((name.as_bytes(), value.as_bytes()));
        let packed = pack_fields(fields);
        self.headers = packed;
        self
    }

    /// The first header field of this name (ASCII case-insensitive) whose value is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_field(&self.headers, 0, name)
    }
}

/// The first field named `name` (ASCII case-insensitive) of a packed buffer whose value
/// is UTF-8.
fn find_field<'a>(buf: &'a [u8], start: usize, name: &str) -> Option<&'a str> {
    unpack_fields(buf, start)
        .find(|(n, _)| buf[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
        .and_then(|(_, v)| std::str::from_utf8(&buf[v]).ok())
}

/// A socket address (IPv4 or IPv6) without formatting it.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FfiSocketAddr {
    /// 4 or 6; 0 when the peer has no IP address (not a TCP connection).
    pub family: u8,
    /// The port.
    pub port: u16,
    /// The address; an IPv4 address in the first four bytes.
    pub ip: [u8; 16],
}

impl From<Option<&SocketAddr>> for FfiSocketAddr {
    fn from(addr: Option<&SocketAddr>) -> Self {
        let mut ip = [0; 16];
        match addr {
            None => FfiSocketAddr::default(),
            Some(SocketAddr::V4(a)) => {
                ip[..4].copy_from_slice(&a.ip().octets());
                FfiSocketAddr { family: 4, port: a.port(), ip }
            }
            Some(SocketAddr::V6(a)) => FfiSocketAddr { family: 6, port: a.port(), ip: a.ip().octets() },
        }
    }
}

impl FfiSocketAddr {
    /// The address, if there is one.
    pub fn get(&self) -> Option<SocketAddr> {
        match self.family {
            4 => Some(SocketAddr::from(([self.ip[0], self.ip[1], self.ip[2], self.ip[3]], self.port))),
            6 => Some(SocketAddr::from((self.ip, self.port))),
            _ => None,
        }
    }
}

/// Pack an [`HttpRequest::head`]: the lengths of the method and the target (`u32`
/// little-endian each), the method, the target, then the fields as [`pack_fields`] packs
/// them. One allocation, sized up front (so `fields` is walked twice).
pub fn pack_request_head<I, K, V>(method: &str, target: &str, fields: I) -> RVec<u8>
where
    I: IntoIterator<Item = (K, V)> + Clone,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut buf = Vec::with_capacity(8 + method.len() + target.len() + packed_len(fields.clone()));
    push_len(&mut buf, method.len());
    push_len(&mut buf, target.len());
    buf.extend_from_slice(method.as_bytes());
    buf.extend_from_slice(target.as_bytes());
    push_fields(&mut buf, fields);
    buf.into()
}

/// Pack header fields (a `&HeaderMap`, or any pairs of byte strings), in order: their
/// number, then for each the lengths of its name and value and the name and value
/// themselves (lengths and number `u32` little-endian). Lengths rather than separators:
/// the receiver finds each part without scanning the bytes, and any byte may occur.
pub fn pack_fields<I, K, V>(fields: I) -> RVec<u8>
where
    I: IntoIterator<Item = (K, V)> + Clone,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut buf = Vec::with_capacity(packed_len(fields.clone()));
    push_fields(&mut buf, fields);
    buf.into()
}

fn packed_len<K: AsRef<[u8]>, V: AsRef<[u8]>>(fields: impl IntoIterator<Item = (K, V)>) -> usize {
    4 + fields.into_iter().map(|(k, v)| 8 + k.as_ref().len() + v.as_ref().len()).sum::<usize>()
}

#[inline]
fn push_len(buf: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).expect("an HTTP head part longer than 4 GiB");
    buf.extend_from_slice(&len.to_le_bytes());
}

fn push_fields<K: AsRef<[u8]>, V: AsRef<[u8]>>(buf: &mut Vec<u8>, fields: impl IntoIterator<Item = (K, V)>) {
    let count_at = buf.len();
    push_len(buf, 0);
    let mut count = 0;
    for (k, v) in fields {
        let (k, v) = (k.as_ref(), v.as_ref());
        push_len(buf, k.len());
        push_len(buf, v.len());
        buf.extend_from_slice(k);
        buf.extend_from_slice(v);
        count += 1;
    }
    buf[count_at..count_at + 4].copy_from_slice(&u32::to_le_bytes(count));
}

#[inline]
fn read_len(buf: &[u8], at: usize) -> Option<usize> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?) as usize)
}

/// Positions `at..at + len` of the next part, checked against the buffer.
fn part(buf: &[u8], at: usize, len: usize) -> Option<Range<usize>> {
    let end = at.checked_add(len)?;
    (end <= buf.len()).then_some(at..end)
}

/// Split an [`HttpRequest::head`] into the positions of its method and target and where
/// its fields start (for [`unpack_fields`]); `None` when it is cut short.
pub fn unpack_request_line(head: &[u8]) -> Option<(Range<usize>, Range<usize>, usize)> {
    let method = part(head, 8, read_len(head, 0)?)?;
    let target = part(head, method.end, read_len(head, 4)?)?;
    let fields = target.end;
    Some((method, target, fields))
}

/// The positions of each field's name and value in a buffer packed by [`pack_fields`]
/// from `start` on. Positions rather than slices, so that a receiver can cut zero-copy
/// views of a shared buffer. The iterator knows how many fields there are, and ends
/// early at a buffer that is cut short.
pub fn unpack_fields(buf: &[u8], start: usize) -> Fields<'_> {
    Fields { buf, at: start + 4, left: read_len(buf, start).unwrap_or(0) }
}

/// The fields of a packed buffer: see [`unpack_fields`].
pub struct Fields<'a> {
    buf: &'a [u8],
    at: usize,
    left: usize,
}

impl Iterator for Fields<'_> {
    type Item = (Range<usize>, Range<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let field = (|| {
            let name = part(self.buf, self.at + 8, read_len(self.buf, self.at)?)?;
            let value = part(self.buf, name.end, read_len(self.buf, self.at + 4)?)?;
            Some((name, value))
        })();
        match field {
            Some((name, value)) => {
                self.at = value.end;
                self.left -= 1;
                Some((name, value))
            }
            None => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // The count comes from the buffer: an upper bound only, as the buffer may be cut
        // short; used to size a header map, which must not trust it without bound.
        (0, Some(self.left))
    }
}

/// One WebSocket message.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// A text frame.
    Text(RString),
    /// A binary frame.
    Binary(RVec<u8>),
    /// A close frame with its code and reason.
    Close(u16, RString),
}

/// The sending half of a WebSocket the host upgraded for a plugin.
#[sabi_trait]
pub trait WsSink: Send + Sync {
    /// Send one message. Fails when the connection is gone; a `Close` message ends it.
    fn send(&self, msg: WsMessage) -> FfiFuture<RResult<(), RString>>;
}

/// The receiving half of a WebSocket the host upgraded for a plugin.
#[sabi_trait]
pub trait WsSource: Send + Sync {
    /// The next text, binary or close message; `None` once the connection is gone.
    /// Pings are answered by the host and never delivered.
    fn recv(&self) -> FfiFuture<ROption<WsMessage>>;
}

/// Owned trait object of [`WsSink`].
pub type WsSinkBox = WsSink_TO<'static, RBox<()>>;
/// Owned trait object of [`WsSource`].
pub type WsSourceBox = WsSource_TO<'static, RBox<()>>;

/// What a layer sees of a request: the same packed head as an [`HttpRequest`] (but the
/// target is the full path and query the client asked for), and what the host knows of
/// the route: the plugin, the documented operation and the permission rule it needs.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct LayerRequest {
    /// The method, the full target and the header fields, packed by
    /// [`pack_request_head`]; read them with [`method`](Self::method),
    /// [`uri`](Self::uri) and [`header`](Self::header).
    pub head: RVec<u8>,
    /// The client's socket address.
    pub remote_addr: FfiSocketAddr,
    /// The plugin whose route this is (`None` for the host's own routes).
    pub plugin: ROption<PluginName>,
    /// The merged document's operation id of the route (`<plugin>_<operation>`), empty
    /// when the path matches no documented operation.
    pub operation_id: RString,
    /// The permission rule the operation requires (its id, `resource:scope:operation`,
    /// see [`crate::permissions::Rule`]), empty when it requires none; read it with
    /// [`rule`](Self::rule).
    pub rule: RString,
    /// The plugin declared this operation public (login, health, documents).
    pub public: bool,
    /// The request is a WebSocket upgrade.
    pub websocket: bool,
    /// Attributes attached by the layers that ran before this one.
    pub attributes: Pairs,
}

impl LayerRequest {
    /// A request with this method, target and header fields, and nothing known of its
    /// route (what the host fills in is set field by field; tests build requests so).
    pub fn new<I, K, V>(method: &str, target: &str, headers: I) -> Self
    where
        I: IntoIterator<Item = (K, V)> + Clone,
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        LayerRequest {
            head: pack_request_head(method, target, headers),
            remote_addr: FfiSocketAddr::default(),
            plugin: ROption::RNone,
            operation_id: RString::new(),
            rule: RString::new(),
            public: false,
            websocket: false,
            attributes: RVec::new(),
        }
    }

    fn line(&self) -> Option<(&str, &str)> {
        let (method, target, _) = unpack_request_line(&self.head)?;
        Some((std::str::from_utf8(&self.head[method]).ok()?, std::str::from_utf8(&self.head[target]).ok()?))
    }

    /// `GET`, `POST`, ... (empty when the head is malformed).
    pub fn method(&self) -> &str {
        self.line().map_or("", |(m, _)| m)
    }

    /// The full path and query the client asked for (`/` when the head is malformed).
    pub fn uri(&self) -> &str {
        self.line().map_or("/", |(_, t)| t)
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        let uri = self.uri();
        uri.split_once('?').map_or(uri, |(p, _)| p)
    }

    /// The first header field of this name (ASCII case-insensitive) whose value is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        let (_, _, fields) = unpack_request_line(&self.head)?;
        find_field(&self.head, fields, name)
    }

    /// Every header field, in arrival order (names lower-case, values as received).
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let start = unpack_request_line(&self.head).map_or(self.head.len(), |(_, _, f)| f);
        unpack_fields(&self.head, start).map(|(n, v)| (&self.head[n], &self.head[v]))
    }

    /// The client's address, if it has one.
    pub fn client(&self) -> Option<SocketAddr> {
        self.remote_addr.get()
    }

    /// The permission rule the operation requires, if any.
    pub fn rule(&self) -> Option<crate::permissions::Rule> {
        if self.rule.is_empty() {
            None
        } else {
            self.rule.parse().ok()
        }
    }

    /// An attribute a layer before this one attached.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|t| t.0.as_str() == name).map(|t| t.1.as_str())
    }
}

/// A layer's decision on a request.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone)]
pub enum LayerVerdict {
    /// Go on to the next layer and then the handler, adding these attributes.
    Continue(Pairs),
    /// Answer now with this response (a JSON error: [`ApiError::to_ffi`](crate::ApiError::to_ffi));
    /// later layers and the handler don't run.
    Reject(HttpResponse),
}

impl LayerVerdict {
    /// Go on, adding these attributes.
    pub fn attach<K: Into<RString>, V: Into<RString>>(attributes: impl IntoIterator<Item = (K, V)>) -> Self {
        LayerVerdict::Continue(attributes.into_iter().map(|(k, v)| Tuple2(k.into(), v.into())).collect())
    }

    /// Refuse with the JSON error body `{code, message, detail}` and this status.
    pub fn reject(status: u16, code: &str, message: impl Into<String>, detail: impl Into<String>) -> Self {
        LayerVerdict::Reject(crate::ApiError::new(code, message, detail).to_ffi(status))
    }
}

/// Why a backend call failed.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct BackendError {
    /// What kind of failure.
    pub kind: BackendErrorKind,
    /// A human-readable message that says what went wrong.
    pub message: RString,
}

/// The kind of a [`BackendError`]; mapped to an HTTP status by callers that answer
/// clients.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendErrorKind {
    /// No loaded plugin provides the backend.
    NotAvailable,
    /// The request could not be decoded or is invalid.
    BadRequest,
    /// The thing asked for does not exist.
    NotFound,
    /// It exists already, or the state forbids the operation.
    Conflict,
    /// The caller may not do this.
    Forbidden,
    /// A system the backend depends on did not answer.
    Unavailable,
    /// The backend failed (a bug, or a panic caught at the boundary).
    Internal,
}

/// Log levels, as tracing's.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// tracing's ERROR.
    Error,
    /// tracing's WARN.
    Warn,
    /// tracing's INFO.
    Info,
    /// tracing's DEBUG.
    Debug,
    /// tracing's TRACE.
    Trace,
}

/// The services the host offers a plugin, handed over at start. Each function receives
/// the calling plugin's name so the host can attribute logs and calls.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct HostServices {
    /// The plugin these services were made for.
    pub plugin: PluginName,
    /// The most verbose level the host records; plugins drop finer events early.
    pub max_level: LogLevel,
    /// Emit a log record into the host's tracing subscriber.
    pub log: extern "C" fn(plugin: PluginName, level: LogLevel, target: RStr<'_>, message: RStr<'_>),
    /// Call another plugin's backend with a serialized (JSON) request.
    pub call_backend:
        extern "C" fn(caller: PluginName, backend: BackendName, request: RVec<u8>) -> FfiFuture<RResult<RVec<u8>, BackendError>>,
    /// Publish an event (JSON payload) to every plugin subscribed to the topic. The host
    /// refuses (and logs) what the bus does not take; [`HostExt::publish`] says why.
    pub publish: extern "C" fn(plugin: PluginName, topic: RStr<'_>, payload: RString),
    /// The services added since this struct was frozen (extensible: see [`HostExt`]).
    pub ext: HostExtRef,
}

/// Host services added after [`HostServices`] was frozen. A prefix type: new functions
/// go after the last field, and a plugin built against a newer plugin-api than its host
/// finds them missing (`None`) instead of being refused.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = HostExtRef)))]
#[sabi(missing_field(option))]
pub struct HostExt {
    /// Open a TCP connection to `address` (`host:port`) on the host's reactor, within
    /// `timeout_ms`. A plugin that relays bytes between it and a WebSocket the host
    /// upgraded keeps both sides on one reactor: each readiness wakes the relay directly
    /// instead of passing through the plugin's runtime threads, and buffers cross the
    /// boundary without a copy (`sdk::net::TcpStream`).
    #[sabi(last_prefix_field)]
    pub connect_tcp: extern "C" fn(plugin: PluginName, address: RString, timeout_ms: u64) -> FfiFuture<RResult<HostTcpBox, RString>>,
    /// Publish an event (JSON payload) like [`HostServices::publish`], and learn whether
    /// the bus took it: refused with [`BackendErrorKind::Forbidden`] when the plugin did
    /// not declare the topic or it is the host's, [`BackendErrorKind::BadRequest`] when
    /// the topic or the payload is malformed or too large, and
    /// [`BackendErrorKind::Unavailable`] when too many events are under way (see
    /// [`crate::events`]). `None` on hosts built before it existed.
    pub publish: extern "C" fn(plugin: PluginName, topic: RStr<'_>, payload: RString) -> RResult<(), BackendError>,
}

/// A TCP connection the host opened for a plugin ([`HostExt::connect_tcp`]). Reading and
/// writing may go on at the same time (from two futures); reads are serialized with
/// reads, writes with writes.
#[sabi_trait]
pub trait HostTcp: Send + Sync {
    /// Append what one read brings, at most `max` bytes, to `buf` and hand it back. The
    /// same length back means the peer closed its side. Taking and returning the buffer
    /// lets bytes cross the boundary without a copy; a dropped (cancelled) read loses
    /// the buffer but no bytes from the connection.
    fn read(&self, buf: RVec<u8>, max: usize) -> FfiFuture<RResult<RVec<u8>, RString>>;
    /// Write all of `data`; concurrent writes never interleave.
    fn write(&self, data: RVec<u8>) -> FfiFuture<RResult<(), RString>>;
    /// Close the writing side: the peer reads the end of the stream.
    #[sabi(last_prefix_field)]
    fn shutdown(&self) -> FfiFuture<RResult<(), RString>>;
}

/// Owned trait object of [`HostTcp`].
pub type HostTcpBox = HostTcp_TO<'static, RBox<()>>;

/// A WebSocket route a plugin serves.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct WsRoute {
    /// Path pattern (`/echo`, `/instance/:id`), relative to the plugin's API prefix, or
    /// to the server root when `browser` is true.
    pub path: RString,
    /// The subprotocol the host echoes when the client offers it (empty: none).
    pub subprotocol: RString,
    /// Mounted at the server root rather than under `/api/v1/<plugin>`.
    pub browser: bool,
}

/// A root-level browser route (an HTML page or form target) a plugin serves.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct BrowserRoute {
    /// `GET`, `POST`, `DELETE`, ...
    pub method: RString,
    /// Path pattern at the server root (`/login`, `/app/:id`); never under `/api/`.
    pub path: RString,
    /// Operation id in the plugin's own namespace (the merged document prefixes it with
    /// the plugin name).
    pub operation_id: RString,
    /// One line for the merged document.
    pub summary: RString,
    /// Needs no identity (the login form).
    pub public: bool,
    /// The route's OpenAPI operation object (JSON: description, parameters, request
    /// body, responses with their content types), or empty: the host derives a plain
    /// one from the summary. The host sets the operation id, tag and security, and adds
    /// what its layers answer.
    pub openapi: RString,
}

impl BrowserRoute {
    /// A route that needs an identity.
    pub fn new(method: &str, path: &str, operation_id: &str, summary: &str) -> Self {
        BrowserRoute {
            method: method.into(),
            path: path.into(),
            operation_id: operation_id.into(),
            summary: summary.into(),
            public: false,
            openapi: RString::new(),
        }
    }

    /// Document the route with an OpenAPI operation object (see [`BrowserRoute::openapi`]).
    pub fn documented(mut self, operation: serde_json::Value) -> Self {
        self.openapi = operation.to_string().into();
        self
    }

    /// Mark the route public.
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }
}

/// What a started plugin contributes, returned by [`PluginMod::start`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct PluginManifest {
    /// The plugin's OpenAPI 3 document (JSON) for its `/api/v1/<plugin>` routes; empty
    /// when it has none.
    pub openapi: RString,
    /// Root-level browser routes (`/`, `/login`, `/app/:id`) the plugin answers.
    pub browser_routes: RVec<BrowserRoute>,
    /// WebSocket routes.
    pub websockets: RVec<WsRoute>,
    /// Backends the plugin provides.
    pub backends: RVec<BackendName>,
    /// Layers the plugin provides.
    pub layers: RVec<LayerName>,
    /// Operation ids (as in its own document) that need no authentication.
    pub public_operations: RVec<RString>,
    /// Event topics the plugin wants delivered to `on_event` (a trailing `*` matches a
    /// prefix).
    pub subscriptions: RVec<RString>,
}

/// The root module every plugin library exports. Produced by
/// [`export_plugin!`](crate::export_plugin); plugin authors never fill it by hand.
///
/// Every function is safe to call from any thread and returns at once: the work happens
/// in the returned future, on the plugin's own runtime.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// The plugin's declared name.
    pub name: extern "C" fn() -> PluginName,
    /// The plugin crate's version.
    pub version: extern "C" fn() -> RString,
    /// Start the plugin with its configuration (the JSON of its config file) and the
    /// host's services. Called once, before any other function but `name`/`version`.
    pub start: extern "C" fn(host: HostServices, config: RString) -> FfiFuture<RResult<PluginManifest, RString>>,
    /// Answer an HTTP request on one of its routes, the request and the response packed
    /// (see [`HttpRequest`]).
    pub serve_http: extern "C" fn(request: HttpRequest) -> FfiFuture<HttpResponse>,
    /// Serve an upgraded WebSocket on one of its WebSocket routes (the request's body is
    /// empty); the future ends when the plugin is done with the connection.
    pub websocket: extern "C" fn(request: HttpRequest, sink: WsSinkBox, source: WsSourceBox) -> FfiFuture<()>,
    /// Serve a call to one of its backends.
    pub call_backend: extern "C" fn(backend: BackendName, request: RVec<u8>) -> FfiFuture<RResult<RVec<u8>, BackendError>>,
    /// Run one of its layers before the handler.
    pub layer_before: extern "C" fn(layer: LayerName, request: LayerRequest) -> FfiFuture<LayerVerdict>,
    /// Let one of its layers observe the response status.
    pub layer_after: extern "C" fn(layer: LayerName, request: LayerRequest, status: u16) -> FfiFuture<()>,
    /// Deliver an event published by some plugin, or by the host (`host.*`, see
    /// [`crate::events::HostEvent`]).
    pub on_event: extern "C" fn(topic: RString, payload: RString) -> FfiFuture<()>,
    /// The plugin's permission rules and the rule each of its operations needs, as the
    /// JSON of a [`Permissions`](crate::permissions::Permissions); called once, after
    /// `start`.
    pub permissions: extern "C" fn() -> RString,
    /// The event topics the plugin publishes on, as a JSON array of patterns (a trailing
    /// `*` matches a prefix; see [`crate::events`]); called once, after `start`. The host
    /// refuses every other topic.
    pub publishes: extern "C" fn() -> RString,
    /// Called once after every plugin of the site has started (other plugins' backends
    /// are callable), before the server is ready; an error names what failed.
    pub ready: extern "C" fn() -> FfiFuture<RResult<(), RString>>,
    /// Stop: finish or cancel its work and release resources. Called once at shutdown.
    #[sabi(last_prefix_field)]
    pub stop: extern "C" fn() -> FfiFuture<()>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "daas_plugin";
    const NAME: &'static str = "daas_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The plugin-api version this host or plugin was built with (the ABI version).
pub const ABI_VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_heads_unpack_to_what_was_packed() {
        let fields: [(&[u8], &[u8]); 4] = [(b"host", b"a:1"), (b"x-empty", b""), (b"x-bytes", b"caf\xe9\n: x"), (b"x-empty", b"again")];
        let head = pack_request_head("GET", "/a?b=c d", fields);
        let (method, target, start) = unpack_request_line(&head).unwrap();
        assert_eq!((&head[method], &head[target]), (&b"GET"[..], &b"/a?b=c d"[..]));
        let back: Vec<(&[u8], &[u8])> = unpack_fields(&head, start).map(|(n, v)| (&head[n], &head[v])).collect();
        assert_eq!(back, fields);

        let none = pack_fields::<[(&str, &str); 0], _, _>([]);
        assert_eq!(unpack_fields(&none, 0).count(), 0);
        assert!(unpack_request_line(&head[..6]).is_none());
        assert!(unpack_request_line(&head[..10]).is_none());
        // A buffer cut short ends the fields where it ends, without panicking.
        for cut in 0..head.len() {
            let short = &head[..cut];
            if let Some((_, _, start)) = unpack_request_line(short) {
                assert!(unpack_fields(short, start).count() < fields.len());
            }
        }
        assert_eq!(unpack_fields(b"\xff\xff\xff\xff", 0).count(), 0);
    }

    #[test]
    fn layers_read_the_packed_head_and_the_rule() {
        let mut req = LayerRequest::new("POST", "/api/v1/db/objects?x=1", [("Host", "h"), ("x-csrf-token", "t"), ("x-csrf-token", "u")]);
        assert_eq!((req.method(), req.uri(), req.path()), ("POST", "/api/v1/db/objects?x=1", "/api/v1/db/objects"));
        assert_eq!((req.header("host"), req.header("X-CSRF-TOKEN"), req.header("cookie")), (Some("h"), Some("t"), None));
        assert_eq!(req.headers().count(), 3);
        assert_eq!(req.rule(), None);
        req.rule = "object:own:create".into();
        assert_eq!(req.rule().map(|r| r.to_string()).as_deref(), Some("object:own:create"));
        let resp = crate::ApiError::new("x", "y", "").to_ffi(429).with_header("retry-after", "3");
        assert_eq!((resp.header("content-type"), resp.header("Retry-After")), (Some("application/json; charset=utf-8"), Some("3")));
    }

    #[test]
    fn socket_addresses_cross_as_numbers() {
        for addr in ["127.0.0.1:8080", "[::1]:443", "[2001:db8::7]:1"] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(FfiSocketAddr::from(Some(&addr)).get(), Some(addr));
        }
        assert_eq!(FfiSocketAddr::from(None).get(), None);
    }
}
