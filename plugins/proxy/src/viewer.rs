//! The viewer page and the browser assets.
//!
//! The page (`webroot/templates/viewer.html`) carries only what the browser's client
//! needs to draw: which client, how to resize and scale, the default size, when to
//! reconnect. Its WebSocket is the page's own URL (with the viewer link's `?token=`, if
//! it came with one), so no host, port or password is ever in it.

use std::{path::Path, sync::Arc};

use daas_plugin_api::{
    poem::{
        handler,
        http::header,
        web::{Data, Path as PathParam},
        Response,
    },
    sdk::Attributes,
};
use serde::Serialize;

use crate::{
    access::{self, ViewerPath},
    web::{error, escape},
    State,
};

/// The viewer template's file, under the web root.
pub const TEMPLATE: &str = "templates/viewer.html";
/// Files the viewer pages load, which `scripts/webroot` builds: checked at start, so a
/// site without them fails to start instead of serving blank viewers.
const REQUIRED_ASSETS: [&str; 4] =
    ["static/build/guacamole.js", "static/build/novnc.js", "static/viewer/guacamole.js", "static/viewer/novnc.js"];

/// Read the template and check the assets.
pub fn load(webroot: &Path) -> Result<String, String> {
    for required in REQUIRED_ASSETS {
        if !webroot.join(required).is_file() {
            return Err(format!(
                "proxy: {} is missing: build the viewer's browser assets with `bash scripts/webroot`, or set [viewer] webroot in proxy.toml",
                webroot.join(required).display()
            ));
        }
    }
    let path = webroot.join(TEMPLATE);
    std::fs::read_to_string(&path).map_err(|e| format!("proxy: the viewer template {} cannot be read: {e}", path.display()))
}

/// What the page's script reads (the `viewer-config` JSON element).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ClientConfig {
    /// `guacamole` or `novnc`.
    client: &'static str,
    /// `none`, `local`, `remote`, `both` (seed `viewer_resize`): remote resizes the
    /// desktop to the window.
    resize: String,
    /// `none`, `local`, `remote`, `both` (seed `viewer_scale`): local scales the
    /// picture to the window.
    scale: String,
    width: u32,
    height: u32,
    dpi: i64,
    /// Seconds before reconnecting a dropped session; negative: never.
    reconnect_seconds: i64,
}

#[handler]
pub(crate) async fn page(PathParam(id): PathParam<String>, attributes: Data<&Attributes>, state: Data<&Arc<State>>) -> Response {
    let target = match access::target(&state.db, &attributes, &id, false).await {
        Ok(t) => t,
        Err(denied) => {
            let detail = match denied {
                access::Denied::Unauthenticated => "log in at /login, or open the viewer link you were given",
                access::Denied::NotFound => "check the link; an instance's viewer ends with the instance",
                _ => "",
            };
            return error(denied.status(), &denied.to_string(), detail);
        }
    };
    let (width, height) = target.resolution();
    let path = target.path(state.config.default_path);
    let config = ClientConfig {
        client: match path {
            ViewerPath::Guacamole => "guacamole",
            ViewerPath::NoVnc => "novnc",
        },
        resize: target.object.viewer_resize.clone(),
        scale: target.object.viewer_scale.clone(),
        width,
        height,
        dpi: target.object.viewer_dpi,
        reconnect_seconds: state.config.reconnect_seconds,
    };
    // `<` escaped so that nothing in the JSON can end the script element.
    let json = serde_json::to_string(&config).unwrap_or_default().replace('<', "\\u003c");
    let title = if target.object.id_user.is_empty() { format!("Desktop {}", target.instance.id) } else { target.object.id_user.clone() };
    let html = state.template.replace("{{title}}", &escape(&title)).replace("{{config}}", &json).replace("{{client}}", config.client);
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header("x-frame-options", "SAMEORIGIN")
        .body(html)
}

pub(crate) fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[handler]
pub(crate) async fn asset(PathParam(path): PathParam<String>, state: Data<&Arc<State>>) -> Response {
    // Only plain names below static/: no `..`, no absolute paths, no hidden files.
    let clean = !path.is_empty() && path.split('/').all(|seg| !seg.is_empty() && !seg.starts_with('.') && !seg.contains('\\'));
    if !clean {
        return error(404, "no such asset", "");
    }
    match tokio::fs::read(state.config.webroot.join("static").join(&path)).await {
        Ok(bytes) => Response::builder().content_type(content_type(&path)).header(header::CACHE_CONTROL, "no-cache").body(bytes),
        Err(_) => error(404, "no such asset", ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_types() {
        assert_eq!(content_type("build/novnc.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("x"), "application/octet-stream");
    }
}
