//! Between the boundary's packed requests and responses ([`HttpRequest`],
//! [`HttpResponse`]) and the poem requests and responses a plugin's endpoints take and
//! give, copying as little as possible.

use std::{collections::HashMap, sync::OnceLock};

use abi_stable::std_types::{RVec, Tuple2};
use poem::http::StatusCode;

use crate::{abi::*, error::ApiError};

/// Attributes attached to a request by the layers (for example the authenticated user).
/// Handlers read them with poem's `Data<&Attributes>` extractor.
#[derive(Debug, Clone, Default)]
pub struct Attributes(pub HashMap<String, String>);

impl Attributes {
    /// One attribute.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// A JSON error response that crosses the boundary.
pub(crate) fn error_response(status: StatusCode, code: &str, message: String, detail: &str) -> HttpResponse {
    ApiError::new(code, message, detail).to_ffi(status.as_u16())
}

/// A poem request as the host received it. The client's address goes where poem keeps
/// it (`RemoteAddr`), the layers' attributes into an extension for `Data<&Attributes>`.
fn poem_request(
    method: poem::http::Method,
    uri: poem::http::Uri,
    headers: poem::http::HeaderMap,
    body: poem::Body,
    remote_addr: Option<std::net::SocketAddr>,
    attributes: Pairs,
) -> poem::Request {
    use poem::{
        http::uri::Scheme,
        web::{LocalAddr, RemoteAddr},
        Addr, RequestParts,
    };
    let (mut parts, ()) = poem::http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.headers = headers;
    parts.extensions.insert(attributes_of(attributes));
    let remote = RemoteAddr(remote_addr.map(Addr::SocketAddr).unwrap_or_default());
    // The only public way to give a built request its remote address.
    let parts = RequestParts::from((parts, LocalAddr::default(), remote, Scheme::HTTP));
    poem::Request::from_parts(parts, body)
}

/// The request of [`HttpRequest`]: the URI and header values stay slices of the head
/// buffer, the body the buffer the host filled; only the header map is new.
pub(crate) fn to_poem_request(req: HttpRequest) -> Result<poem::Request, String> {
    use poem::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
    let (method, target, fields) = unpack_request_line(&req.head).ok_or("malformed request head")?;
    let method = Method::from_bytes(&req.head[method]).map_err(|_| "bad method".to_string())?;
    let head = bytes::Bytes::from_owner(req.head);
    let uri =
        Uri::from_maybe_shared(head.slice(target.clone())).map_err(|_| format!("bad uri {}", String::from_utf8_lossy(&head[target])))?;
    let fields = unpack_fields(&head, fields);
    // The count is the host's, bounded by what the buffer can hold and by what a map takes.
    let mut headers = HeaderMap::try_with_capacity(fields.size_hint().1.unwrap_or(0).min(head.len() / 8)).unwrap_or_default();
    for (name, value) in fields {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&head[name]), HeaderValue::from_maybe_shared(head.slice(value))) {
            headers.append(name, value);
        }
    }
    Ok(poem_request(method, uri, headers, shared_body(req.body), req.remote_addr.get(), req.attributes))
}

/// A body over the host's buffer, without copying it.
fn shared_body(body: RVec<u8>) -> poem::Body {
    if body.is_empty() {
        poem::Body::empty()
    } else {
        poem::Body::from_bytes(bytes::Bytes::from_owner(body))
    }
}

pub(crate) fn attributes_of(pairs: Pairs) -> Attributes {
    // One hasher state for all requests: a new one per map reads a thread-local, which
    // costs a call into the dynamic loader in a dlopen'ed library. The keys come from
    // the layers, not from clients, so per-map keys protect nothing here.
    static HASHER: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    let mut map = HashMap::with_capacity_and_hasher(pairs.len(), HASHER.get_or_init(Default::default).clone());
    map.extend(pairs.into_iter().map(|Tuple2(k, v)| (k.into_string(), v.into_string())));
    Attributes(map)
}

/// A response body's bytes. A body of one chunk (what handlers build from a `Vec` or a
/// string) is taken as it is, without collecting it into a new buffer.
async fn body_bytes(body: poem::Body) -> Result<bytes::Bytes, std::io::Error> {
    use http_body_util::BodyExt as _;
    let mut body: http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error> = body.into();
    let mut data = bytes::Bytes::new();
    let mut more: Option<bytes::BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(chunk) = frame?.into_data() else { continue };
        if data.is_empty() && more.is_none() {
            data = chunk;
        } else {
            more.get_or_insert_with(|| bytes::BytesMut::from(std::mem::take(&mut data))).extend_from_slice(&chunk);
        }
    }
    Ok(more.map_or(data, bytes::BytesMut::freeze))
}

/// A `Vec` without copying when the bytes are not shared (a body built from a `Vec`).
fn into_rvec(bytes: bytes::Bytes) -> RVec<u8> {
    RVec::from(Vec::<u8>::from(bytes))
}

/// A poem response, packed for the host.
pub(crate) async fn to_http_response(response: poem::Response) -> HttpResponse {
    // Taken apart before awaiting the body, so that the future holds the packed
    // headers rather than the whole response.
    let status = response.status().as_u16();
    let headers = pack_fields(response.headers());
    match body_bytes(response.into_body()).await {
        Ok(body) => HttpResponse { status, headers, body: into_rvec(body) },
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("response body could not be read: {e}"), ""),
    }
}

/// An endpoint's error as the response the client gets.
pub(crate) fn error_to_response(err: poem::Error) -> poem::Response {
    // A handler's typed error response (poem-openapi's `Result<_, E>`) is already what
    // the route documents: keep it, rather than replace its body.
    if err.is_from_response() {
        return err.into_response();
    }
    let (status, e) = ApiError::from_poem(&err);
    e.to_response(status)
}

/// The [`WsRequest`](super::WsRequest) of an upgrade on `route` (whose parameters
/// `params` are), from the host's packed request.
pub(crate) fn ws_request(req: HttpRequest, params: HashMap<String, String>) -> super::WsRequest {
    let (path, query, headers) = match unpack_request_line(&req.head) {
        Some((_, target, fields)) => {
            let target = String::from_utf8_lossy(&req.head[target]).into_owned();
            let (path, query) = match target.split_once('?') {
                Some((p, q)) => (p.to_string(), q.to_string()),
                None => (target, String::new()),
            };
            let headers = unpack_fields(&req.head, fields)
                .filter_map(|(n, v)| {
                    Some((std::str::from_utf8(&req.head[n]).ok()?.to_string(), std::str::from_utf8(&req.head[v]).ok()?.to_string()))
                })
                .collect();
            (path, query, headers)
        }
        None => ("/".to_string(), String::new(), Vec::new()),
    };
    super::WsRequest { path, query, params, headers, attributes: attributes_of(req.attributes) }
}

/// The path (without the query) of a packed request's target.
pub(crate) fn target_path(req: &HttpRequest) -> Option<String> {
    let (_, target, _) = unpack_request_line(&req.head)?;
    let target = std::str::from_utf8(&req.head[target]).ok()?;
    Some(target.split_once('?').map_or(target, |(p, _)| p).to_string())
}
