//! `proxy.toml`.

use super::*;

file! {
    /// `proxy.toml`: the remote desktop proxy.
    ProxyFile {
        /// `[viewer]`
        viewer: ViewerSection,
        /// `[guacd]`
        guacd: GuacdSection,
    }
}

file! {
    /// `[viewer]`: the viewer pages and which path a connection takes.
    ViewerSection {
        /// The web root with `templates/` and `static/` (the viewer's browser assets,
        /// built by `scripts/webroot`), relative to the site directory unless absolute
        /// (empty: `../../webroot`, the workspace's, from a site under `config/`).
        webroot: String,
        /// The path of connections whose object says `viewer_contype = "sysvnc"` (the
        /// seed's default) or nothing: `guacamole` (through guacd) or `novnc` (the
        /// direct WebSocket relay to the VNC port). Empty: `guacamole`.
        default_path: String,
        /// Seconds the viewer waits before reconnecting a dropped session (0: 3;
        /// negative: never reconnects).
        reconnect_seconds: i64,
        /// Seconds without traffic after which the tunnel sends a `nop` each way
        /// (0: 5, guacd's own interval).
        keepalive_seconds: u64,
    }
}

file! {
    /// `[guacd]`: the Guacamole daemon the Guacamole path connects to.
    GuacdSection {
        /// `host:port` of guacd (empty: `127.0.0.1:4822`).
        address: String,
        /// How long connecting and the handshake may take, in milliseconds (0: 15000,
        /// guacd's own handshake timeout).
        timeout_ms: u64,
    }
}
