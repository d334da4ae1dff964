use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// A running instance of an object (seed `Instance`): where it runs and how to reach it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default)]
pub struct Instance {
    /// Unique id (generated when empty).
    pub id: String,
    /// The owner (an instance inherits its app's owner).
    pub id_owner: i64,
    /// The object (app) it instantiates.
    pub id_app: String,
    /// The environment it instantiates (null: none).
    #[oai(nullable)]
    pub id_env: Option<String>,
    /// Its connection (null: none yet).
    #[oai(nullable)]
    pub id_con: Option<String>,
    /// Address (IP or resolvable name) the backend assigned.
    pub host: String,
    /// The container's id (container backend).
    pub container: String,
    /// When it was created.
    #[oai(read_only)]
    pub created_at: Timestamp,
    /// When it was first connected (null: not yet).
    #[oai(nullable)]
    pub connected_at: Option<Timestamp>,
    /// When it finished booting (null: not yet).
    #[oai(nullable)]
    pub booted_at: Option<Timestamp>,
}

/// How the proxy reaches an instance's desktop (seed `GuacamoleConnection`, table
/// `guacamole_connections`). The password never reaches a browser: it is write-only in
/// the API (not in its schema) and only the proxy's backend call returns it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default)]
pub struct GuacamoleConnection {
    /// Unique id (generated when empty).
    pub id: String,
    /// The remote desktop's user.
    pub user: String,
    /// The remote desktop's password (secret: never answered).
    #[oai(skip)]
    pub password: Option<String>,
    /// `vnc` or `rdp`.
    pub protocol: String,
    /// Host of the remote desktop.
    pub hostname: String,
    /// Port of the remote desktop.
    pub port: i64,
    /// The viewer's URL.
    pub viewer_url: String,
    /// The random token in the viewer URL that authorizes this connection's viewer.
    pub viewer_token: String,
    /// When it was created.
    #[oai(read_only)]
    pub created_at: Timestamp,
}
