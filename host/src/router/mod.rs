//! The request path: [`Routes`] picks the plugin of an API route (by its prefix) or a
//! route of poem's router (browser routes, the host's), answers 405 for a method the
//! path does not have; [`layers`] runs the site's layers around every route,
//! [`forward`] crosses into the plugin, [`websocket`] upgrades. Only this module and
//! [`crate::host_api`] know poem's server types.

mod answers;
mod forward;
mod layers;
mod websocket;

use std::sync::Arc;

use daas_plugin_api::{ApiError, PluginName};
use poem::{
    endpoint::BoxEndpoint,
    http::{header, StatusCode},
    Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Request, Response, Route,
};

pub use self::websocket::OPEN_WEBSOCKETS;
use self::{
    answers::{closing, is_websocket_upgrade, method_not_allowed},
    forward::{BodyError, Forward},
    layers::Layered,
};
use crate::{
    headers::SecurityHeaders,
    host_api::{self, HostApi},
    server::StartError,
    state::AppState,
};

/// Paths the host serves itself; no plugin route may take them.
const HOST_PATHS: &[&str] = &["/healthz", "/readyz", "/api/v1/plugins", "/openapi.json", "/docs"];

fn host_service(state: Arc<AppState>) -> poem_openapi::OpenApiService<HostApi, ()> {
    host_api::service(HostApi::bound(state))
}

/// The swagger UI page for the merged document. poem-openapi's UI builders only embed a
/// service's own document, so the page is generated for the host's document and that
/// document swapped for the merged one.
fn docs_page(state: &Arc<AppState>) -> String {
    let service = host_service(state.clone());
    let own = service.spec();
    service.swagger_ui_html().replacen(&own, &state.openapi, 1)
}

/// A browser route must be a clean root-level path that is neither an API path nor
/// one of the host's.
fn check_browser_pattern(plugin: PluginName, pattern: &str) -> Result<(), StartError> {
    if !pattern.starts_with('/')
        || pattern.starts_with("/api/")
        || pattern == "/api"
        || pattern.contains("//")
        || HOST_PATHS.contains(&pattern)
    {
        return Err(StartError::Route(format!(
            "plugin `{plugin}` declares browser route `{pattern}`: browser routes start with `/`, are not under /api/ and do not take the host's paths ({})",
            HOST_PATHS.join(", ")
        )));
    }
    Ok(())
}

/// The server's endpoint: the plugins' API routes, `/api/v1/<plugin>/…`, found by their
/// prefix, everything else by poem's router; errors become JSON. Every request under a
/// plugin's prefix goes to that plugin, whose own router then picks the operation, so
/// the host's router (a radix tree that captures the rest of the path into a parameter,
/// and a nest that rebuilds the URI) would only repeat that work.
struct Routes {
    /// Not boxed, unlike the router's endpoints: their futures are small (see `Forward`),
    /// smaller than the router's, so holding them inline makes no request's future larger.
    api: Vec<(PluginName, Layered<Forward>)>,
    other: Route,
    headers: SecurityHeaders,
    max_body_bytes: usize,
    state: Arc<AppState>,
}

const API_PREFIX: &str = "/api/v1/";

impl Endpoint for Routes {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let docs = req.uri().path() == "/docs";
        let upgrade = is_websocket_upgrade(&req);
        // Refused before a byte of the body is read: a client that sent `Expect:
        // 100-continue` is not told to go on, and one that did not is not waited for.
        if let Some(length) = req.headers().get(poem::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok()) {
            if length > self.max_body_bytes as u64 {
                let mut resp = BodyError::TooLarge.response(self.max_body_bytes);
                self.headers.apply("", &mut resp);
                return Ok(resp);
            }
        }
        // A method no route has (TRACE, CONNECT, …) is refused whatever the path, before
        // any layer: no caller could be allowed it.
        if !self.state.answers_method(req.method().as_str()) {
            let mut resp = method_not_allowed(req.method().as_str(), req.uri().path(), &self.state.allowed_methods(req.uri().path()));
            self.headers.apply("", &mut resp);
            return Ok(if upgrade { closing(resp) } else { resp });
        }
        // Kept for a 405 from a plugin's or poem's router, which names no methods.
        let (method, uri) = (req.method().clone(), req.uri().clone());
        let name =
            req.uri().path().strip_prefix(API_PREFIX).map(|rest| &rest[..rest.bytes().position(|b| b == b'/').unwrap_or(rest.len())]);
        let answer = match name.and_then(|name| self.api.iter().find(|(p, _)| p.as_str() == name)) {
            Some((_, api)) => api.call(req).await,
            None => self.other.call(req).await,
        };
        let mut resp = answer.unwrap_or_else(|err| {
            let (status, e) = ApiError::from_poem(&err);
            e.to_response(status)
        });
        // A 405 without `Allow` is a router's (a plugin's or the host's), which says no
        // more than the status: answered as the host's own.
        if resp.status() == StatusCode::METHOD_NOT_ALLOWED && !resp.headers().contains_key(header::ALLOW) {
            resp = method_not_allowed(method.as_str(), uri.path(), &self.state.allowed_methods(uri.path()));
        }
        self.headers.apply(if docs { "/docs" } else { "" }, &mut resp);
        // A refused upgrade leaves nothing to keep the connection for: a client
        // retrying upgrades (unauthenticated, 401) would otherwise hold its sockets open.
        if upgrade && resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            resp = closing(resp);
        }
        Ok(resp)
    }
}

/// The complete router.
pub fn router(state: Arc<AppState>) -> Result<impl Endpoint, StartError> {
    let host: Arc<BoxEndpoint<'static>> = Arc::new(host_service(state.clone()).into_endpoint().boxed());
    let layered_host = || Layered { inner: host.clone(), plugin: None, state: state.clone() };
    let openapi = state.openapi.clone();
    let docs = docs_page(&state);
    let headers = SecurityHeaders::new(&docs);
    let mut route = Route::new()
        .at("/healthz", layered_host())
        .at("/readyz", layered_host())
        .at("/api/v1/plugins", layered_host())
        .at(
            "/openapi.json",
            poem::get(poem::endpoint::make_sync(move |_| {
                Response::builder().content_type("application/json; charset=utf-8").body(openapi.clone())
            })),
        )
        .at("/docs", poem::get(poem::endpoint::make_sync(move |_| poem::web::Html(docs.clone()).into_response())));

    let mut api = Vec::new();
    for plugin in &state.plugins {
        let name = plugin.name();
        let forward = |browser| Layered {
            inner: Forward { plugin: plugin.clone(), browser, prefix_len: API_PREFIX.len() + name.as_str().len(), state: state.clone() },
            plugin: Some(name),
            state: state.clone(),
        };
        api.push((name, forward(false)));
        let mut patterns: Vec<String> = plugin.manifest.browser_routes.iter().map(|r| r.path.to_string()).collect();
        patterns.extend(plugin.manifest.websockets.iter().filter(|w| w.browser).map(|w| w.path.to_string()));
        patterns.sort();
        patterns.dedup();
        for pattern in patterns {
            check_browser_pattern(name, &pattern)?;
            route = route.try_at(&pattern, forward(true)).map_err(|e| {
                StartError::Route(format!("plugin `{name}` declares browser route `{pattern}`, which another route already takes: {e}"))
            })?;
        }
    }
    Ok(Routes { api, other: route, headers, max_body_bytes: state.max_body_bytes, state })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_routes_stay_out_of_the_api_and_host_paths() {
        for ok in ["/", "/login", "/app/:id", "/instance/:id"] {
            assert!(check_browser_pattern(PluginName::Proxy, ok).is_ok(), "{ok}");
        }
        for bad in ["login", "/api/v1/db/x", "/api", "//login", "/healthz", "/docs", "/openapi.json"] {
            let e = check_browser_pattern(PluginName::Proxy, bad).unwrap_err().to_string();
            assert!(e.contains(&format!("plugin `proxy` declares browser route `{bad}`")), "{e}");
        }
    }
}
