//! The resources of the REST API and their routes. Each resource says its table, its
//! schemas (`X`, `NewX`, `XPatch`), its ownership rule, its filters and sorts;
//! [`resource_api!`] generates its eight routes (list, create, get, update, delete;
//! trash list, restore, purge) around [`crud`](super::crud), so each resource has its
//! own schemas and operation ids.

use daas_common::model::*;
use daas_plugin_api::{
    poem_openapi::{param::Query, payload::Json, OpenApi},
    sdk::{Caller, Created, Done, Failure},
};
use serde_json::Value;

use super::{
    crud::{self, ListQuery, Page, Policy, Resource},
    path::Path,
};
use crate::{table::Scope, tables, Store};

/// Objects: base images, environments, deployments and apps (`daas_objects`).
pub struct ObjectResource;
impl Resource for ObjectResource {
    type T = tables::Objects;
    type Model = DaasObject;
    type New = NewDaasObject;
    type Patch = DaasObjectPatch;
    const POLICY: Policy = Policy::Owned { admin_write: false };
    const FILTERS: &'static [&'static str] =
        &["id_owner", "object_type", "object_mode", "object_mode_extended", "object_state", "os_type", "id_docker", "id_proxmox"];
    const SORTS: &'static [&'static str] = &["created_at", "updated_at", "id", "id_user", "object_type"];
    fn validate(m: &DaasObject) -> Result<(), String> {
        if !m.object_type.is_empty() && m.object_type != "vm" && m.object_type != "container" {
            return Err(format!("object_type `{}` is neither `vm` nor `container`", m.object_type));
        }
        Ok(())
    }
}

/// Environments derived from objects.
pub struct EnvironmentResource;
impl Resource for EnvironmentResource {
    type T = tables::Environments;
    type Model = Environment;
    type New = NewEnvironment;
    type Patch = EnvironmentPatch;
    const POLICY: Policy = Policy::ViaObject;
    const FILTERS: &'static [&'static str] = &["id_object", "name", "state", "id_backend"];
    const SORTS: &'static [&'static str] = &["created_at", "id", "name"];
    fn validate(m: &Environment) -> Result<(), String> {
        if m.name.trim().is_empty() {
            return Err("an environment needs a name".into());
        }
        Ok(())
    }
}

/// Applications installed into templates.
pub struct ApplicationResource;
impl Resource for ApplicationResource {
    type T = tables::Applications;
    type Model = Application;
    type New = NewApplication;
    type Patch = ApplicationPatch;
    const POLICY: Policy = Policy::Owned { admin_write: false };
    const FILTERS: &'static [&'static str] = &["id_owner", "name", "os_type", "id_file", "id_template"];
    const SORTS: &'static [&'static str] = &["created_at", "id", "name"];
    fn validate(m: &Application) -> Result<(), String> {
        if m.name.trim().is_empty() {
            return Err("an application needs a name".into());
        }
        Ok(())
    }
    fn references(m: &Application) -> Vec<(&'static str, String)> {
        let file = m.id_file.iter().map(|id| ("id_file", id.clone()));
        file.chain(m.id_template.iter().map(|id| ("id_template", id.clone()))).collect()
    }
}

/// File metadata.
pub struct FileResource;
impl Resource for FileResource {
    type T = tables::Files;
    type Model = File;
    type New = NewFile;
    type Patch = FilePatch;
    const POLICY: Policy = Policy::Owned { admin_write: false };
    const FILTERS: &'static [&'static str] = &["id_owner", "name", "os_type", "version"];
    const SORTS: &'static [&'static str] = &["created_at", "id", "name", "filesize"];
}

/// Resource limits; only admins change them.
pub struct LimitResource;
impl Resource for LimitResource {
    type T = tables::Limits;
    type Model = RessourceInfo;
    type New = NewRessourceInfo;
    type Patch = RessourceInfoPatch;
    const POLICY: Policy = Policy::Owned { admin_write: true };
    const FILTERS: &'static [&'static str] = &["id_owner"];
    const SORTS: &'static [&'static str] = &["id_owner"];
}

/// Access grants; users see theirs, admins manage them.
pub struct GrantResource;
impl Resource for GrantResource {
    type T = tables::Grants;
    type Model = AccessGrant;
    type New = NewAccessGrant;
    type Patch = AccessGrantPatch;
    const POLICY: Policy = Policy::UserOwned;
    const FILTERS: &'static [&'static str] = &["id_app", "id_user"];
    const SORTS: &'static [&'static str] = &["created_at", "id"];
    fn validate(m: &AccessGrant) -> Result<(), String> {
        // The schema's minimum holds for a given `id_user`; a left-out one reads as 0.
        if m.id_user <= 0 {
            return Err("`id_user`: a grant is for a user; give their id".into());
        }
        Ok(())
    }
    fn references(m: &AccessGrant) -> Vec<(&'static str, String)> {
        vec![("id_app", m.id_app.clone())]
    }
}

/// Nodes; admins only.
pub struct NodeResource;
impl Resource for NodeResource {
    type T = tables::Nodes;
    type Model = Node;
    type New = NewNode;
    type Patch = NodePatch;
    const POLICY: Policy = Policy::AdminOnly;
    const FILTERS: &'static [&'static str] = &["authid", "label", "state"];
    const SORTS: &'static [&'static str] = &["created_at", "id", "label"];
}

fn list_query(limit: Option<u64>, cursor: Option<String>, sort: Option<String>, filter: Option<Vec<String>>) -> ListQuery {
    ListQuery { limit, cursor, sort, filter: filter.unwrap_or_default() }
}

/// Generates one resource's routes. poem-openapi needs literal paths, operation ids and
/// doc comments (the summary of each operation is its first doc line), hence the many
/// arguments.
macro_rules! resource_api {
    (
        $api:ident, $res:ty, $key:ty, $tag:literal, id: $id_doc:literal,
        filter: $filter:literal, sort: $sort:literal,
        paths: $list:literal, $item:literal, $trash:literal, $trash_item:literal, $restore:literal,
        ops: $op_list:literal, $op_create:literal, $op_get:literal, $op_update:literal, $op_delete:literal,
             $op_trash:literal, $op_restore:literal, $op_purge:literal,
        summaries: $s_list:literal, $s_create:literal, $s_get:literal, $s_update:literal, $s_delete:literal,
             $s_trash:literal, $s_restore:literal, $s_purge:literal $(,)?
    ) => {
        #[doc = $tag]
        pub struct $api(pub Store);

        #[OpenApi]
        impl $api {
            #[doc = $s_list]
            ///
            /// A page of the rows you may see: your own, the shared ones (owner 0) and the
            /// global ones (owner -1); administrators see every row. Newest first unless
            /// `sort` says otherwise. `filter=column:value` (repeat it: all must hold)
            /// narrows the list; a term that is not `column:value` of the columns named, or a
            /// value its column cannot hold, is a 422 that says so. Pass
            /// `next_cursor` as `cursor` for the next page (null on the last one).
            #[oai(path = $list, method = "get", operation_id = $op_list)]
            async fn list(
                &self,
                caller: Caller,
                /// Rows per page (1 to 500, default 50).
                #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
                limit: Query<Option<u64>>,
                /// The previous page's `next_cursor` (with the same `sort`).
                cursor: Query<Option<String>>,
                /// `column` (ascending) or `-column` (descending), of the columns the pattern
                /// names.
                #[oai(validator(pattern = $sort))]
                sort: Query<Option<String>>,
                #[doc = $filter] filter: Query<Option<Vec<String>>>,
            ) -> Result<Json<Page<<$res as Resource>::Model>>, Failure> {
                crud::list::<$res>(&self.0, &caller, list_query(limit.0, cursor.0, sort.0, filter.0), Scope::Live).await
            }

            #[doc = $s_create]
            ///
            /// Creates the row from the fields given over the defaults the schema names and
            /// answers it as stored (201), with the id the server made. Only administrators
            /// choose ids, create rows for another owner or shared ones, and create what
            /// only they manage (limits, grants, nodes: 403 for others). A duplicate id or
            /// name is a 409; a reference to a row you may not see is a 400 saying that it
            /// does not exist.
            #[oai(path = $list, method = "post", operation_id = $op_create)]
            async fn create(
                &self,
                caller: Caller,
                body: Json<<$res as Resource>::New>,
            ) -> Result<Created<<$res as Resource>::Model>, Failure> {
                crud::create::<$res>(&self.0, &caller, body.0).await
            }

            #[doc = $s_get]
            ///
            /// One row you may see. A row you may not see is a 404, as if it did not exist.
            #[oai(path = $item, method = "get", operation_id = $op_get)]
            async fn get(&self, caller: Caller, #[doc = $id_doc] id: Path<$key>) -> Result<Json<<$res as Resource>::Model>, Failure> {
                crud::get::<$res>(&self.0, &caller, Value::from(id.0)).await
            }

            #[doc = $s_update]
            ///
            /// Changes only the fields given; the others, secrets included, keep their
            /// values. Answers the row as stored. A row you may not see is a 404; one you
            /// may see but not change (a shared one, or what only administrators change) a
            /// 403; a duplicate name a 409.
            #[oai(path = $item, method = "patch", operation_id = $op_update)]
            async fn update(
                &self,
                caller: Caller,
                #[doc = $id_doc] id: Path<$key>,
                body: Json<<$res as Resource>::Patch>,
            ) -> Result<Json<<$res as Resource>::Model>, Failure> {
                crud::update::<$res>(&self.0, &caller, Value::from(id.0), body.0).await
            }

            #[doc = $s_delete]
            ///
            /// Moves the row to the trash (204): it leaves the listings and gets, and can be
            /// restored or purged under `/trash`. A row you may not see is a 404; one you
            /// may not change a 403.
            #[oai(path = $item, method = "delete", operation_id = $op_delete)]
            async fn delete(&self, caller: Caller, #[doc = $id_doc] id: Path<$key>) -> Result<Done, Failure> {
                crud::delete::<$res>(&self.0, &caller, Value::from(id.0)).await
            }

            #[doc = $s_trash]
            ///
            /// A page of the rows in the trash you may see, listed, filtered and sorted as
            /// the live rows are.
            #[oai(path = $trash, method = "get", operation_id = $op_trash)]
            async fn trash(
                &self,
                caller: Caller,
                /// Rows per page (1 to 500, default 50).
                #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
                limit: Query<Option<u64>>,
                /// The previous page's `next_cursor` (with the same `sort`).
                cursor: Query<Option<String>>,
                /// `column` (ascending) or `-column` (descending), of the columns the pattern
                /// names.
                #[oai(validator(pattern = $sort))]
                sort: Query<Option<String>>,
                #[doc = $filter] filter: Query<Option<Vec<String>>>,
            ) -> Result<Json<Page<<$res as Resource>::Model>>, Failure> {
                crud::list::<$res>(&self.0, &caller, list_query(limit.0, cursor.0, sort.0, filter.0), Scope::Trash).await
            }

            #[doc = $s_restore]
            ///
            /// Takes a row out of the trash (204). A row not in the trash, or one you may not
            /// see, is a 404; a live row with the same id or name a 409.
            #[oai(path = $restore, method = "post", operation_id = $op_restore)]
            async fn restore(&self, caller: Caller, #[doc = $id_doc] id: Path<$key>) -> Result<Done, Failure> {
                crud::restore::<$res>(&self.0, &caller, Value::from(id.0)).await
            }

            #[doc = $s_purge]
            ///
            /// Removes a row from the trash for good (204). Only the trash is purged: a live
            /// row, or one you may not see, is a 404.
            #[oai(path = $trash_item, method = "delete", operation_id = $op_purge)]
            async fn purge(&self, caller: Caller, #[doc = $id_doc] id: Path<$key>) -> Result<Done, Failure> {
                crud::purge::<$res>(&self.0, &caller, Value::from(id.0)).await
            }
        }
    };
}

resource_api!(ObjectsApi, ObjectResource, String, "Routes of the objects.", id: "The object's id.",
    filter: "`column:value`, the column one of `id_owner`, `object_type`, `object_mode`, `object_mode_extended`, `object_state`, `os_type`, `id_docker`, `id_proxmox`; repeat for more (all must hold); empty ones are ignored.", sort: "^(-?(created_at|updated_at|id|id_user|object_type))?$",
    paths: "/objects", "/objects/:id", "/trash/objects", "/trash/objects/:id", "/trash/objects/:id/restore",
    ops: "list_objects", "create_object", "get_object", "update_object", "delete_object", "list_trashed_objects", "restore_object", "purge_object",
    summaries: "List objects", "Create an object", "Get an object", "Change an object", "Move an object to the trash",
        "List objects in the trash", "Restore an object from the trash", "Purge an object from the trash");
resource_api!(EnvironmentsApi, EnvironmentResource, String, "Routes of the environments.", id: "The environment's id.",
    filter: "`column:value`, the column one of `id_object`, `name`, `state`, `id_backend`; repeat for more (all must hold); empty ones are ignored.", sort: "^(-?(created_at|id|name))?$",
    paths: "/environments", "/environments/:id", "/trash/environments", "/trash/environments/:id", "/trash/environments/:id/restore",
    ops: "list_environments", "create_environment", "get_environment", "update_environment", "delete_environment",
         "list_trashed_environments", "restore_environment", "purge_environment",
    summaries: "List environments", "Create an environment", "Get an environment", "Change an environment",
        "Move an environment to the trash", "List environments in the trash", "Restore an environment from the trash",
        "Purge an environment from the trash");
resource_api!(ApplicationsApi, ApplicationResource, String, "Routes of the applications.", id: "The application's id.",
    filter: "`column:value`, the column one of `id_owner`, `name`, `os_type`, `id_file`, `id_template`; repeat for more (all must hold); empty ones are ignored.", sort: "^(-?(created_at|id|name))?$",
    paths: "/applications", "/applications/:id", "/trash/applications", "/trash/applications/:id", "/trash/applications/:id/restore",
    ops: "list_applications", "create_application", "get_application", "update_application", "delete_application",
         "list_trashed_applications", "restore_application", "purge_application",
    summaries: "List applications", "Create an application", "Get an application", "Change an application",
        "Move an application to the trash", "List applications in the trash", "Restore an application from the trash",
        "Purge an application from the trash");
resource_api!(FilesApi, FileResource, String, "Routes of the files.", id: "The file's id.",
    filter: "`column:value`, the column one of `id_owner`, `name`, `os_type`, `version`; repeat for more (all must hold); empty ones are ignored.", sort: "^(-?(created_at|id|name|filesize))?$",
    paths: "/files", "/files/:id", "/trash/files", "/trash/files/:id", "/trash/files/:id/restore",
    ops: "list_files", "create_file", "get_file", "update_file", "delete_file", "list_trashed_files", "restore_file", "purge_file",
    summaries: "List files", "Create a file", "Get a file", "Change a file", "Move a file to the trash", "List files in the trash",
        "Restore a file from the trash", "Purge a file from the trash");
resource_api!(LimitsApi, LimitResource, i64, "Routes of the limits (by owner id).", id: "The owner's user id (-1: the global limits).",
    filter: "`column:value`, the column one of `id_owner`; repeat for more (all must hold); empty ones are ignored.", sort: "^(-?(id_owner))?$",
    paths: "/limits", "/limits/:id", "/trash/limits", "/trash/limits/:id", "/trash/limits/:id/restore",
    ops: "list_limits", "create_limit", "get_limit", "update_limit", "delete_limit", "list_trashed_limits", "restore_limit", "purge_limit",
    summaries: "List limits", "Set an owner's limits", "Get an owner's limits", "Change an owner's limits",
        "Move an owner's limits to the trash", "List limits in the trash", "Restore limits from the trash", "Purge limits from the trash");
resource_api!(GrantsApi, GrantResource, String, "Routes of the access grants.", id: "The grant's id.",
    filter: "`column:value`, the column one of `id_app`, `id_user`; repeat for more (all must hold); empty ones are ignored.", sort: "^(-?(created_at|id))?$",
    paths: "/grants", "/grants/:id", "/trash/grants", "/trash/grants/:id", "/trash/grants/:id/restore",
    ops: "list_grants", "create_grant", "get_grant", "update_grant", "delete_grant", "list_trashed_grants", "restore_grant", "purge_grant",
    summaries: "List access grants", "Grant an app to a user", "Get an access grant", "Change an access grant",
        "Move an access grant to the trash", "List access grants in the trash", "Restore an access grant from the trash",
        "Purge an access grant from the trash");
resource_api!(NodesApi, NodeResource, String, "Routes of the nodes.", id: "The node's id.",
    filter: "`column:value`, the column one of `authid`, `label`, `state`; repeat for more (all must hold); empty ones are ignored.", sort: "^(-?(created_at|id|label))?$",
    paths: "/nodes", "/nodes/:id", "/trash/nodes", "/trash/nodes/:id", "/trash/nodes/:id/restore",
    ops: "list_nodes", "create_node", "get_node", "update_node", "delete_node", "list_trashed_nodes", "restore_node", "purge_node",
    summaries: "List nodes", "Pair a node", "Get a node", "Change a node", "Move a node to the trash", "List nodes in the trash",
        "Restore a node from the trash", "Purge a node from the trash");
