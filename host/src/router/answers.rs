//! Answers the request path gives itself: JSON errors, the safety net's answer to a
//! panic that crossed a plugin's guard, 405 with `Allow`.

use daas_plugin_api::{error::error_id, ApiError, PluginName};
use poem::{
    http::{header, HeaderValue, StatusCode},
    Request, Response,
};

pub fn json_error(status: StatusCode, code: &str, message: impl Into<String>, detail: &str) -> Response {
    ApiError::new(code, message, detail).to_response(status)
}

/// Log a panic that crossed a plugin's own guard; returns the error id of the log line.
pub fn log_crossed_panic(plugin: PluginName, what: &str) -> String {
    let id = error_id();
    tracing::error!(plugin = plugin.as_str(), error_id = %id, "{what} panicked across the boundary");
    id
}

/// A plugin future panicked past the plugin's own guard: log the details, tell the
/// client only an id.
pub fn crossed_panic(plugin: PluginName, what: &str) -> Response {
    let id = log_crossed_panic(plugin, what);
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "plugin_panicked",
        format!("plugin `{plugin}` failed (error id {id}; the details are in the server log)"),
        "",
    )
}

/// A response after which the connection closes.
pub fn closing(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

pub fn is_websocket_upgrade(req: &Request) -> bool {
    req.headers().get("upgrade").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The `Allow` field's value for these methods.
fn allow_value(allowed: &[&str]) -> HeaderValue {
    HeaderValue::from_str(&allowed.join(", ")).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// 405: the path's routes answer other methods (`allowed`, empty when no route has the
/// path).
pub fn method_not_allowed(method: &str, path: &str, allowed: &[&str]) -> Response {
    let (message, detail) = if allowed.is_empty() {
        (format!("no route of this server answers {method}"), "see /openapi.json for the routes and their methods".to_string())
    } else {
        (format!("{path} does not answer {method}"), format!("it answers {}", allowed.join(", ")))
    };
    let mut resp = json_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", message, &detail);
    resp.headers_mut().insert(header::ALLOW, allow_value(allowed));
    resp
}
