//! The user's browser routes (seed 000 §5.1/§5.2): the apps page (`GET /`), starting an
//! app from its form (`POST /app/{id}`, then 303 to its viewer) and stopping an instance
//! (`DELETE /instance/{id}`, the page's script). Starting and stopping are the phases
//! backend's, as the caller: it answers 404 for what the caller may not reach, and this
//! module passes that on.

use std::sync::Arc;

use daas_common::protocols::Caller;
use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind},
    identity::{Identity, ATTR_CSRF, ATTR_VIA},
    poem::{
        handler,
        http::{header, StatusCode},
        web::{Data, Path as PathParam},
        Request, Response,
    },
    sdk::Attributes,
};

use crate::{
    web::{error, escape, Query},
    State,
};

/// The apps page's template, under the web root.
pub const TEMPLATE: &str = "templates/apps.html";

/// Read the template.
pub fn load(webroot: &std::path::Path) -> Result<String, String> {
    let path = webroot.join(TEMPLATE);
    std::fs::read_to_string(&path).map_err(|e| format!("proxy: the apps template {} cannot be read: {e}", path.display()))
}

fn unauthenticated() -> Response {
    error(401, "this page needs a logged-in user", "log in at /login")
}

/// A backend failure as the route's answer; an absent phases plugin says so.
fn failed(what: &str, e: BackendError) -> Response {
    match e.kind {
        BackendErrorKind::NotAvailable => error(
            503,
            &format!("{what}: this site runs no phases plugin (it starts instances)"),
            "load the phases plugin in extensions.toml, or ask the site's administrator",
        ),
        BackendErrorKind::NotFound => error(404, &format!("{what}: {}", e.message), "check the id; you see your own and shared apps only"),
        BackendErrorKind::Internal => {
            tracing::error!(error = %e.message, "{what}");
            error(500, &format!("{what}: an internal error occurred"), "try again; the server's log has the details")
        }
        kind => error(kind.status(), &format!("{what}: {}", e.message), ""),
    }
}

#[handler]
pub async fn start(
    PathParam(id): PathParam<String>,
    req: &Request,
    body: String,
    attributes: Data<&Attributes>,
    state: Data<&Arc<State>>,
) -> Response {
    let Some(identity) = Identity::from_attributes(&attributes) else { return unauthenticated() };
    // A form post cannot carry a header, so a cookie session's token comes in the form's
    // `csrf` field (or, from a script, the x-csrf-token header). Bearer callers have none
    // to send and need none: a browser never attaches their token by itself.
    if attributes.get(ATTR_VIA) == Some("cookie") {
        let expected = attributes.get(ATTR_CSRF).unwrap_or_default();
        let sent = req.header("x-csrf-token").map(str::to_string).or_else(|| Query::parse(&body).first("csrf")).unwrap_or_default();
        if expected.is_empty() || !daas_common::token::same(expected, &sent) {
            return error(
                403,
                "starting an app from the browser needs the session's CSRF token",
                "start it from the apps page (GET /), whose forms carry it",
            );
        }
    }
    match state.phases.app_start(&id, Caller::from(&identity)).await {
        Ok(started) => Response::builder().status(StatusCode::SEE_OTHER).header(header::LOCATION, started.viewer_url).finish(),
        Err(e) => failed("the app could not be started", e),
    }
}

#[handler]
pub async fn stop(PathParam(id): PathParam<String>, attributes: Data<&Attributes>, state: Data<&Arc<State>>) -> Response {
    // The auth layer checked the x-csrf-token of a cookie session (every DELETE).
    let Some(identity) = Identity::from_attributes(&attributes) else { return unauthenticated() };
    match state.phases.instance_stop(&id, Caller::from(&identity)).await {
        Ok(()) => Response::builder().status(StatusCode::NO_CONTENT).finish(),
        Err(e) => failed("the instance could not be stopped", e),
    }
}

#[handler]
pub async fn index(attributes: Data<&Attributes>, state: Data<&Arc<State>>) -> Response {
    let Some(identity) = Identity::from_attributes(&attributes) else { return unauthenticated() };
    let apps = match state.db.objects_available(identity.user_id).await {
        Ok(a) => a,
        Err(e) => return failed("the apps could not be listed", e),
    };
    let instances = match state.db.instances_by_owner(identity.user_id).await {
        Ok(i) => i,
        Err(e) => return failed("the instances could not be listed", e),
    };
    let csrf = escape(attributes.get(ATTR_CSRF).unwrap_or_default());
    let mut app_rows = String::new();
    // Apps only: base images, environments and deployments are derived through the API
    // (an administrator's object without a phase is an app made by hand).
    let listed: Vec<_> = apps.iter().filter(|a| a.object_mode.is_empty() || a.object_mode == "app").collect();
    for app in &listed {
        let name = if app.id_user.is_empty() { app.id.as_str() } else { app.id_user.as_str() };
        // Finished apps of a kind a machine backend runs start: the phases backend
        // decides by the same rule; this only spares a button that could only fail.
        let startable = app.is_ready() && app.has_machine_type();
        let action = if startable {
            format!(
                "<form method=\"post\" action=\"/app/{id}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <button type=\"submit\">Start</button></form>",
                id = escape(&app.id)
            )
        } else {
            format!(
                "<span class=\"note\">this app cannot be started yet ({kind})</span>",
                kind = escape(if app.object_type.is_empty() { "no type" } else { &app.object_type })
            )
        };
        app_rows.push_str(&format!(
            "<li class=\"app\" data-id=\"{id}\"><span class=\"name\">{name}</span> {action}</li>\n",
            id = escape(&app.id),
            name = escape(name),
        ));
    }
    if listed.is_empty() {
        app_rows.push_str("<li class=\"none\">No apps yet.</li>\n");
    }
    let mut instance_rows = String::new();
    for instance in &instances {
        let app = apps.iter().find(|a| a.id == instance.id_app).map(|a| a.id_user.as_str()).filter(|n| !n.is_empty());
        instance_rows.push_str(&format!(
            "<li class=\"instance\" data-id=\"{id}\"><span class=\"name\">{name}</span> \
             <a href=\"/instance/{id}\">Open viewer</a> <button type=\"button\" class=\"stop\" data-id=\"{id}\">Stop</button></li>\n",
            id = escape(&instance.id),
            name = escape(app.unwrap_or(&instance.id_app)),
        ));
    }
    if instances.is_empty() {
        instance_rows.push_str("<li class=\"none\">Nothing running.</li>\n");
    }
    let html = state
        .apps_template
        .replace("{{user}}", &escape(&identity.user_name))
        .replace("{{csrf}}", &csrf)
        .replace("{{apps}}", &app_rows)
        .replace("{{instances}}", &instance_rows);
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header("x-frame-options", "DENY")
        .body(html)
}
