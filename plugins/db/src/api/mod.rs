//! The db plugin's REST API (`/api/v1/db/...`): the database's status, and list, get,
//! create, update and delete with a trash for objects, environments, applications,
//! files, limits, grants and nodes.
//!
//! Every route needs a caller ([`Identity`](daas_plugin_api::identity::Identity), put
//! there by the auth layer) and answers only what the caller may see: their own rows,
//! shared ones (owner 0) and global ones (owner -1); admins see everything. A row the
//! caller may not see answers 404, never 403, so that ids cannot be probed.
//!
//! [`crud`] holds the logic once; [`resources`] says, per resource, which table, which
//! ownership rule, which filters and sorts; the routes themselves are generated per
//! resource so that each has its own typed schema in `/openapi.json`.

pub mod crud;
mod path;
pub mod resources;
mod status;

pub use status::StatusApi;

use crate::Store;

/// Every API of the db plugin, as one poem-openapi service.
pub fn service(store: Store) -> impl daas_plugin_api::poem_openapi::OpenApi {
    (
        StatusApi(store.clone()),
        resources::ObjectsApi(store.clone()),
        resources::EnvironmentsApi(store.clone()),
        resources::ApplicationsApi(store.clone()),
        resources::FilesApi(store.clone()),
        resources::LimitsApi(store.clone()),
        resources::GrantsApi(store.clone()),
        resources::NodesApi(store),
    )
}

/// The permission rule of each operation (see `daas_plugin_api::permissions`). Every
/// resource's routes need its rule at `own` scope: the routes themselves show a caller
/// only their own and shared rows, and keep the changes of limits and grants to
/// administrators (global scope) with the same 403/404 answers as before roles. Nodes
/// and the database's status are administrators' alone: `global`.
pub fn permissions() -> Vec<(String, daas_plugin_api::permissions::Rule)> {
    use daas_plugin_api::permissions::{Operation::*, Rule, Scope};
    let resources = [
        ("object", "objects", Scope::Own),
        ("environment", "environments", Scope::Own),
        ("application", "applications", Scope::Own),
        ("file", "files", Scope::Own),
        ("limit", "limits", Scope::Own),
        ("grant", "grants", Scope::Own),
        ("node", "nodes", Scope::Global),
    ];
    let mut out = vec![("status".to_string(), Rule::global("db", View))];
    for (one, many, scope) in resources {
        let rule = |op| Rule::new(one, scope, op);
        out.extend([
            (format!("list_{many}"), rule(View)),
            (format!("list_trashed_{many}"), rule(View)),
            (format!("get_{one}"), rule(View)),
            (format!("create_{one}"), rule(Create)),
            (format!("update_{one}"), rule(Edit)),
            (format!("restore_{one}"), rule(Edit)),
            (format!("delete_{one}"), rule(Delete)),
            (format!("purge_{one}"), rule(Delete)),
        ]);
    }
    out
}
