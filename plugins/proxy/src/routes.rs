//! The proxy's browser routes: what the host mounts and documents, and the endpoint
//! serving them ([`crate::apps`] the apps page, starting and stopping; [`crate::viewer`]
//! the viewer page and the assets; the viewer's WebSocket is the plugin's, in `lib.rs`).

use std::sync::Arc;

use daas_plugin_api::{
    abi::BrowserRoute,
    poem::{self, EndpointExt, IntoEndpoint, Route},
};
use serde_json::{json, Value};

use crate::{apps, viewer, State};

/// The endpoint serving the routes of [`routes`].
pub fn endpoint(state: Arc<State>) -> impl IntoEndpoint {
    Route::new()
        .at("/", poem::get(apps::index))
        .at("/app/:id", poem::post(apps::start))
        .at("/instance/:id", poem::get(viewer::page).delete(apps::stop))
        .at("/static/*path", poem::get(viewer::asset))
        .data(state)
}

fn error(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json; charset=utf-8": { "schema": { "$ref": "#/components/schemas/ApiError" } } } })
}

fn html(description: &str) -> Value {
    json!({ "description": description, "content": { "text/html": { "schema": { "type": "string" } } } })
}

fn path_id(description: &str) -> Value {
    json!({ "name": "id", "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
}

fn query(name: &str, description: &str, repeated: bool) -> Value {
    let schema = if repeated { json!({ "type": "array", "items": { "type": "string" } }) } else { json!({ "type": "string" }) };
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema, "explode": true })
}

/// What a failure of the phases backend answers (`apps::failed`).
fn backend_failures(mut responses: Value) -> Value {
    responses["400"] = error("The app cannot be started here (a bad spec).");
    responses["404"] = error("No such app or instance, or the caller may not reach it.");
    responses["409"] =
        error("The app is not a finished app (its phase or state does not allow a start), or it conflicts with the engine's state.");
    responses["500"] = error("The server failed; the message carries the error id of the log line.");
    responses["503"] = error("The site runs no phases plugin, the desktop did not come up, or the engine does not answer.");
    responses
}

/// The routes, each with its OpenAPI operation.
pub fn routes() -> Vec<BrowserRoute> {
    let asset_types = [
        "text/javascript",
        "text/css",
        "text/html",
        "application/json",
        "image/svg+xml",
        "image/png",
        "image/x-icon",
        "font/woff2",
        "application/octet-stream",
    ];
    let assets: serde_json::Map<String, Value> =
        asset_types.iter().map(|t| (t.to_string(), json!({ "schema": { "type": "string", "format": "binary" } }))).collect();
    vec![
        BrowserRoute::new("GET", "/", "apps", "The apps page").documented(json!({
            "summary": "The apps page",
            "description": "The caller's apps page: the apps they may start (finished apps with a Start form carrying the session's CSRF token) and their running instances with their viewers.",
            "responses": {
                "200": html("The apps page."),
                "500": error("The server failed; the message carries the error id of the log line."),
                "503": error("The data cannot be read."),
            },
        })),
        BrowserRoute::new("POST", "/app/:id", "app_start", "Start an app and open its viewer").documented(json!({
            "summary": "Start an app and open its viewer",
            "description": "Starts an instance of an app through the phases backend (its task, waited for), then redirects to its viewer. A browser session sends the session's CSRF token as the form's `csrf` field (the apps page's forms carry it) or as the `x-csrf-token` header; bearer callers need none.",
            "parameters": [path_id("The app's id (an object in phase `app`).")],
            "requestBody": {
                "required": false,
                "content": { "application/x-www-form-urlencoded": { "schema": {
                    "type": "object",
                    "properties": { "csrf": { "type": "string", "description": "The session's CSRF token (cookie sessions only)." } },
                }, "example": { "csrf": "<the session's CSRF token>" } } },
            },
            "responses": backend_failures(json!({
                "303": { "description": "Started: to the instance's viewer.", "headers": { "Location": { "description": "The viewer's URL, `/instance/{id}`.", "schema": { "type": "string" } } } },
                "403": error("A browser session without its CSRF token, or a limit is reached (named, with the use)."),
            })),
        })),
        BrowserRoute::new("DELETE", "/instance/:id", "instance_stop", "Stop an instance").documented(json!({
            "summary": "Stop an instance",
            "description": "Stops the caller's instance through the phases backend: its machine, connection and row go. The apps page's script calls it with the `x-csrf-token` header.",
            "parameters": [path_id("The instance's id.")],
            "responses": backend_failures(json!({ "204": { "description": "Stopped." } })),
        })),
        BrowserRoute::new("GET", "/instance/:id", "viewer", "An instance's remote desktop").documented(json!({
            "summary": "An instance's remote desktop: the viewer page and its WebSocket",
            "description": "Two answers on one URL. A plain GET answers the viewer page; a WebSocket upgrade (subprotocol `guacamole` offered by guacamole-common-js, none by noVNC) opens the tunnel to the desktop, relayed to guacd or straight to the VNC port. Allowed to the instance's owner (a session or token) or to whoever holds its viewer link (`?token=`). Once the WebSocket is open, a refusal closes it with code 4000 + the HTTP status (4401, 4404, 4409, 4503).",
            "parameters": [
                path_id("The instance's id."),
                query("token", "The viewer link's token: opens this instance without a login.", false),
                query("GUAC_WIDTH", "Tunnel: the display's width in pixels.", false),
                query("GUAC_HEIGHT", "Tunnel: the display's height in pixels.", false),
                query("GUAC_DPI", "Tunnel: the display's resolution in DPI.", false),
                query("GUAC_TIMEZONE", "Tunnel: the browser's time zone.", false),
                query("GUAC_AUDIO", "Tunnel: an audio type the browser plays (repeatable).", true),
                query("GUAC_VIDEO", "Tunnel: a video type the browser plays (repeatable).", true),
                query("GUAC_IMAGE", "Tunnel: an image type the browser draws (repeatable).", true),
            ],
            "responses": {
                "101": { "description": "The tunnel's WebSocket is open (an upgrade request)." },
                "200": html("The viewer page."),
                "401": error("No session and no viewer token."),
                "404": error("No such instance, the caller may not view it, or the viewer link is not valid."),
                "409": error("The instance has no remote desktop connection yet."),
                "503": error("The instance's data cannot be read."),
            },
        })),
        BrowserRoute::new("GET", "/static/*path", "static", "The viewer's browser assets").public().documented(json!({
            "summary": "The viewer's browser assets",
            "description": "The scripts, styles and images the viewer pages load (built by `scripts/webroot`); no user data. Needs no identity.",
            "parameters": [{ "name": "path", "in": "path", "required": true, "description": "The asset's path below `static/` (`build/novnc.js`): plain names, no `..` or hidden files.", "schema": { "type": "string" } }],
            "responses": {
                "200": { "description": "The asset, typed by its extension.", "content": assets },
                "404": error("No such asset."),
            },
        })),
    ]
}
