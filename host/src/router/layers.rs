//! The site's layers around every route ([`Layered`]): each layer's plugin sees the
//! request's packed head and what the host knows of its route (operation, rule), and
//! rejects it or attaches attributes; after the answer each observes its status.

use std::{future::Future, panic::AssertUnwindSafe, sync::Arc};

use abi_stable::std_types::RVec;
use daas_plugin_api::{
    abi::{pack_request_head, unpack_fields, FfiSocketAddr, HttpResponse, LayerRequest, LayerVerdict, Pairs},
    ApiError, PluginName,
};
use futures::{future::Either, FutureExt as _};
use poem::{
    http::{HeaderName, HeaderValue, StatusCode},
    Endpoint, IntoResponse, Request, Response,
};

use super::answers::{crossed_panic, is_websocket_upgrade, log_crossed_panic, method_not_allowed};
use crate::state::AppState;

/// The layers' attributes, carried from [`Layered`] to the endpoint in the request's
/// extensions (never from anything the client sent).
#[derive(Clone, Default)]
pub struct LayerAttributes(pub Pairs);

/// Runs the site's layers around an endpoint.
pub struct Layered<E> {
    pub inner: E,
    pub plugin: Option<PluginName>,
    pub state: Arc<AppState>,
}

impl<E: Endpoint> Endpoint for Layered<E> {
    type Output = Response;

    // Not `async fn`: its future would hold the request (hundreds of bytes) in every
    // request's future, layers or not. Without layers it is the inner endpoint's own;
    // with layers, the layers' future is boxed.
    fn call(&self, req: Request) -> impl Future<Output = poem::Result<Response>> + Send {
        if self.state.layers.is_empty() {
            Either::Left(self.inner.call(req).map(|r| r.map(IntoResponse::into_response)))
        } else {
            Either::Right(Box::pin(self.call_with_layers(req)))
        }
    }
}

/// A layer's rejection as the client gets it: header values and body stay slices of
/// the plugin's buffers.
pub fn http_to_response(http: HttpResponse) -> Response {
    let status = StatusCode::from_u16(http.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = if http.body.is_empty() { poem::Body::empty() } else { poem::Body::from_bytes(bytes::Bytes::from_owner(http.body)) };
    let mut resp = Response::builder().status(status).body(body);
    if !http.headers.is_empty() {
        let packed = bytes::Bytes::from_owner(http.headers);
        let headers = resp.headers_mut();
        for (name, value) in unpack_fields(&packed, 0) {
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&packed[name]), HeaderValue::from_maybe_shared(packed.slice(value))) {
                headers.append(name, value);
            }
        }
    }
    resp
}

impl<E: Endpoint> Layered<E> {
    async fn call_with_layers(&self, mut req: Request) -> poem::Result<Response> {
        let uri = req.original_uri().clone();
        let path = uri.path();
        let method = req.method().as_str();
        let op = self.state.operation(method, path);
        if op.is_none() {
            // A documented path asked with another method: the answer is 405 whoever
            // asks, so no layer needs to decide on it (nor refuse it as unauthenticated).
            let allowed = self.state.allowed_methods(path);
            if !allowed.is_empty() {
                return Ok(method_not_allowed(method, path, &allowed));
            }
        }
        let mut layer_req = LayerRequest {
            head: pack_request_head(method, uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"), req.headers()),
            remote_addr: FfiSocketAddr::from(req.remote_addr().as_socket_addr()),
            plugin: self.plugin.into(),
            operation_id: op.map(|(o, _)| o.operation_id.as_str()).unwrap_or_default().into(),
            rule: op.map(|(_, rule)| rule.clone()).unwrap_or_default(),
            public: op.is_some_and(|(o, _)| o.public),
            websocket: is_websocket_upgrade(&req),
            attributes: RVec::new(),
        };
        let mut ran = 0;
        let mut rejected = None;
        for (layer, provider) in &self.state.layers {
            ran += 1;
            let fut = (provider.module().layer_before())(*layer, layer_req.clone());
            match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(LayerVerdict::Continue(attrs)) => layer_req.attributes.extend(attrs),
                Ok(LayerVerdict::Reject(resp)) => {
                    rejected = Some(http_to_response(resp));
                    break;
                }
                Err(_) => {
                    rejected = Some(crossed_panic(provider.name(), &format!("layer `{layer}`")));
                    break;
                }
            }
        }
        let resp = match rejected {
            Some(r) => r,
            None => {
                req.extensions_mut().insert(LayerAttributes(layer_req.attributes.clone()));
                match self.inner.call(req).await {
                    Ok(r) => r.into_response(),
                    Err(e) => {
                        let (status, err) = ApiError::from_poem(&e);
                        err.to_response(status)
                    }
                }
            }
        };
        let status = resp.status().as_u16();
        for (layer, provider) in self.state.layers[..ran].iter().rev() {
            let fut = (provider.module().layer_after())(*layer, layer_req.clone(), status);
            if AssertUnwindSafe(fut).catch_unwind().await.is_err() {
                log_crossed_panic(provider.name(), &format!("layer `{layer}`"));
            }
        }
        Ok(resp)
    }
}
