//! Who may open an instance's viewer, and what the proxy needs to know to connect it.
//!
//! Allowed: a caller the instance is visible to (its owner, an admin; the db plugin's
//! rule, [`Identity::can_see`]), or a request the auth layer scoped to exactly this
//! instance because it carried the instance's viewer token
//! ([`ATTR_VIEWER_INSTANCE`]). Anything else answers 404, as if there were no such
//! instance, so ids cannot be probed. The token check itself lives in the auth plugin
//! (`plugins/auth/src/viewer.rs`): it is authentication, and keeping it in the layer
//! leaves these routes non-public, so no request reaches the proxy unauthenticated.

use daas_common::{
    model::{DaasObject, GuacamoleConnection, Instance},
    protocols::DbClient,
};
use daas_plugin_api::{
    identity::{Identity, ATTR_USER_NAME, ATTR_VIEWER_INSTANCE},
    sdk::Attributes,
};

use crate::{guac::handshake::Settings, web::Query};

/// Which client and relay a viewer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewerPath {
    /// guacamole-common-js through guacd.
    Guacamole,
    /// noVNC straight to the VNC port.
    NoVnc,
}

/// Why a viewer is refused.
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    /// No caller and no viewer token.
    #[error("this viewer needs a logged-in user or the viewer link's token")]
    Unauthenticated,
    /// No such instance, or not the caller's.
    #[error("no such instance")]
    NotFound,
    /// The instance has no connection (yet).
    #[error("the instance has no remote desktop connection yet; wait until it has started and reload")]
    NoConnection,
    /// The data cannot be read.
    #[error("the instance's data cannot be read: {0}")]
    Unavailable(String),
}

impl Denied {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Denied::Unauthenticated => 401,
            Denied::NotFound => 404,
            Denied::NoConnection => 409,
            Denied::Unavailable(_) => 503,
        }
    }
}

/// An instance the caller may view, with its connection and its object.
#[derive(Debug, Clone)]
pub struct Target {
    /// The instance.
    pub instance: Instance,
    /// Its connection (with the password only when asked for).
    pub connection: GuacamoleConnection,
    /// The object it instantiates (its `viewer_*` settings); the seed's defaults when
    /// the row is gone.
    pub object: DaasObject,
}

/// The instance `id` if the request may view it.
pub async fn target(db: &DbClient, attributes: &Attributes, id: &str, with_secret: bool) -> Result<Target, Denied> {
    let by_token = attributes.get(ATTR_VIEWER_INSTANCE) == Some(id);
    let identity = Identity::from_attributes(attributes);
    if !by_token && identity.is_none() {
        return Err(Denied::Unauthenticated);
    }
    let unavailable = |e: daas_plugin_api::abi::BackendError| Denied::Unavailable(e.to_string());
    let instance: Instance = db.get(id).await.map_err(unavailable)?.ok_or(Denied::NotFound)?;
    if !by_token && !identity.is_some_and(|i| i.can_see(instance.id_owner)) {
        return Err(Denied::NotFound);
    }
    let con_id = instance.id_con.clone().filter(|c| !c.is_empty()).ok_or(Denied::NoConnection)?;
    let connection = if with_secret { db.connection_with_secret(&con_id).await } else { db.get(con_id.as_str()).await };
    let connection = connection.map_err(unavailable)?.ok_or(Denied::NoConnection)?;
    let object = db.get::<DaasObject>(instance.id_app.as_str()).await.map_err(unavailable)?.unwrap_or_default();
    Ok(Target { instance, connection, object })
}

/// Whether `value` asks for `what`: the seed's `viewer_resize`/`viewer_scale` take
/// `none`, `local`, `remote` or `both`.
pub fn wants(value: &str, what: &str) -> bool {
    value == "both" || value == what
}

impl Target {
    /// The viewer's path: RDP needs guacd; VNC goes the object's way, `sysvnc` (the
    /// seed's default) and anything unknown the site's.
    pub fn path(&self, default: ViewerPath) -> ViewerPath {
        if !self.connection.protocol.eq_ignore_ascii_case("vnc") {
            return ViewerPath::Guacamole;
        }
        match self.object.viewer_contype.as_str() {
            "novnc" | "websockify" | "direct" => ViewerPath::NoVnc,
            "guacamole" | "guacd" => ViewerPath::Guacamole,
            _ => default,
        }
    }

    /// The object's default resolution (`1280x800`).
    pub fn resolution(&self) -> (u32, u32) {
        self.object
            .viewer_resolution
            .split_once('x')
            .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
            .filter(|&(w, h)| w > 0 && h > 0)
            .unwrap_or((1280, 800))
    }

    /// guacd's handshake for this connection: the connection's details and the
    /// object's viewer settings as guacd's argument names, the display the browser
    /// asked for (`GUAC_*` of the tunnel's query, guacamole-client's names).
    pub fn guacamole_settings(&self, query: &Query, attributes: &Attributes) -> Settings {
        let c = &self.connection;
        let o = &self.object;
        let (w, h) = self.resolution();
        let dpi = query.number("GUAC_DPI").unwrap_or(if o.viewer_dpi > 0 { o.viewer_dpi as u32 } else { 96 });
        let mut params: Vec<(&str, String)> = vec![
            ("hostname", c.hostname.clone()),
            ("port", c.port.to_string()),
            ("password", c.password.clone().unwrap_or_default()),
            ("username", c.user.clone()),
            ("force-lossless", o.viewer_force_lossless.to_string()),
        ];
        if matches!(o.viewer_colors, 8 | 16 | 24 | 32) {
            params.push(("color-depth", o.viewer_colors.to_string()));
        }
        let remote_resize = wants(&o.viewer_resize, "remote");
        if c.protocol.eq_ignore_ascii_case("rdp") {
            params.push(("dpi", dpi.to_string()));
            params.push(("resize-method", if remote_resize { "display-update".into() } else { String::new() }));
            params.push(("ignore-cert", "true".into()));
        } else if !remote_resize {
            // guacd 1.6.0 resizes VNC desktops unless told not to.
            params.push(("disable-display-resize", "true".into()));
        }
        Settings {
            protocol: if c.protocol.is_empty() { "vnc".into() } else { c.protocol.to_ascii_lowercase() },
            params: params.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            width: query.number("GUAC_WIDTH").filter(|&v| v > 0).unwrap_or(w),
            height: query.number("GUAC_HEIGHT").filter(|&v| v > 0).unwrap_or(h),
            dpi,
            audio: query.all("GUAC_AUDIO"),
            video: query.all("GUAC_VIDEO"),
            image: {
                let image = query.all("GUAC_IMAGE");
                if image.is_empty() {
                    vec!["image/png".into(), "image/jpeg".into()]
                } else {
                    image
                }
            },
            timezone: query.first("GUAC_TIMEZONE").filter(|t| !t.is_empty()),
            name: attributes.get(ATTR_USER_NAME).filter(|n| !n.is_empty()).map(String::from),
        }
    }
}
