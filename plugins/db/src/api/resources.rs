//! The resources of the REST API and their routes. Each resource says its table, its
//! ownership rule, its filters and sorts; [`resource_api!`] generates its eight routes
//! (list, create, get, update, delete; trash list, restore, purge) around
//! [`crud`](super::crud), so each resource has its own schemas and operation ids.

use daas_common::model::*;
use daas_plugin_api::{
    poem::web::Data,
    poem_openapi::{
        param::{Path, Query},
        payload::Json,
        OpenApi,
    },
    sdk::Attributes,
};
use serde_json::Value;

use super::crud::{self, caller, Created, Done, Failure, ListQuery, Page, Policy, Resource};
use crate::{table::Scope, tables, Store};

/// Objects: base images, environments, deployments and apps (`daas_objects`).
pub struct ObjectResource;
impl Resource for ObjectResource {
    type T = tables::Objects;
    type Model = DaasObject;
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
    const POLICY: Policy = Policy::Owned { admin_write: false };
    const FILTERS: &'static [&'static str] = &["id_owner", "name", "os_type", "version"];
    const SORTS: &'static [&'static str] = &["created_at", "id", "name", "filesize"];
}

/// Resource limits; only admins change them.
pub struct LimitResource;
impl Resource for LimitResource {
    type T = tables::Limits;
    type Model = RessourceInfo;
    const POLICY: Policy = Policy::Owned { admin_write: true };
    const FILTERS: &'static [&'static str] = &["id_owner"];
    const SORTS: &'static [&'static str] = &["id_owner"];
}

/// Access grants; users see theirs, admins manage them.
pub struct GrantResource;
impl Resource for GrantResource {
    type T = tables::Grants;
    type Model = AccessGrant;
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
    const POLICY: Policy = Policy::AdminOnly;
    const FILTERS: &'static [&'static str] = &["authid", "label", "state"];
    const SORTS: &'static [&'static str] = &["created_at", "id", "label"];
}

fn list_query(limit: Option<u64>, cursor: Option<String>, sort: Option<String>, filter: Vec<String>) -> ListQuery {
    ListQuery { limit, cursor, sort, filter }
}

/// Generates one resource's routes. poem-openapi needs literal paths and operation ids,
/// hence the many arguments.
macro_rules! resource_api {
    (
        $api:ident, $res:ty, $model:ty, $key:ty, $tag:literal,
        paths: $list:literal, $item:literal, $trash:literal, $trash_item:literal, $restore:literal,
        ops: $op_list:literal, $op_create:literal, $op_get:literal, $op_update:literal, $op_delete:literal,
             $op_trash:literal, $op_restore:literal, $op_purge:literal $(,)?
    ) => {
        #[doc = concat!("Routes of ", $tag, ".")]
        pub struct $api(pub Store);

        #[OpenApi]
        impl $api {
            #[doc = concat!("List ", $tag, " you may see, a page at a time.")]
            #[oai(path = $list, method = "get", operation_id = $op_list)]
            async fn list(
                &self,
                attributes: Data<&Attributes>,
                /// Rows per page (1 to 500, default 50).
                #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
                limit: Query<Option<u64>>,
                /// The previous page's `next_cursor`.
                cursor: Query<Option<String>>,
                /// `column` (ascending) or `-column` (descending); see the error for the columns.
                sort: Query<Option<String>>,
                /// `column:value`; repeat for more (all must hold).
                filter: Query<Vec<String>>,
            ) -> Result<Json<Page<$model>>, Failure> {
                let who = caller(&attributes)?;
                crud::list::<$res>(&self.0, &who, list_query(limit.0, cursor.0, sort.0, filter.0), Scope::Live).await
            }

            #[doc = concat!("Create one of ", $tag, "; yours unless you are an administrator.")]
            #[oai(path = $list, method = "post", operation_id = $op_create)]
            async fn create(&self, attributes: Data<&Attributes>, body: Json<$model>) -> Result<Created<$model>, Failure> {
                let who = caller(&attributes)?;
                crud::create::<$res>(&self.0, &who, body.0).await
            }

            #[doc = concat!("One of ", $tag, ".")]
            #[oai(path = $item, method = "get", operation_id = $op_get)]
            async fn get(&self, attributes: Data<&Attributes>, id: Path<$key>) -> Result<Json<$model>, Failure> {
                let who = caller(&attributes)?;
                crud::get::<$res>(&self.0, &who, Value::from(id.0)).await
            }

            #[doc = concat!("Replace the fields of one of ", $tag, "; secrets left out are kept.")]
            #[oai(path = $item, method = "put", operation_id = $op_update)]
            async fn update(&self, attributes: Data<&Attributes>, id: Path<$key>, body: Json<$model>) -> Result<Json<$model>, Failure> {
                let who = caller(&attributes)?;
                crud::update::<$res>(&self.0, &who, Value::from(id.0), body.0).await
            }

            #[doc = concat!("Move one of ", $tag, " to the trash.")]
            #[oai(path = $item, method = "delete", operation_id = $op_delete)]
            async fn delete(&self, attributes: Data<&Attributes>, id: Path<$key>) -> Result<Done, Failure> {
                let who = caller(&attributes)?;
                crud::delete::<$res>(&self.0, &who, Value::from(id.0)).await
            }

            #[doc = concat!("List ", $tag, " in the trash.")]
            #[oai(path = $trash, method = "get", operation_id = $op_trash)]
            async fn trash(
                &self,
                attributes: Data<&Attributes>,
                /// Rows per page (1 to 500, default 50).
                #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
                limit: Query<Option<u64>>,
                /// The previous page's `next_cursor`.
                cursor: Query<Option<String>>,
                /// `column` (ascending) or `-column` (descending).
                sort: Query<Option<String>>,
                /// `column:value`; repeat for more.
                filter: Query<Vec<String>>,
            ) -> Result<Json<Page<$model>>, Failure> {
                let who = caller(&attributes)?;
                crud::list::<$res>(&self.0, &who, list_query(limit.0, cursor.0, sort.0, filter.0), Scope::Trash).await
            }

            #[doc = concat!("Take one of ", $tag, " out of the trash.")]
            #[oai(path = $restore, method = "post", operation_id = $op_restore)]
            async fn restore(&self, attributes: Data<&Attributes>, id: Path<$key>) -> Result<Done, Failure> {
                let who = caller(&attributes)?;
                crud::restore::<$res>(&self.0, &who, Value::from(id.0)).await
            }

            #[doc = concat!("Remove one of ", $tag, " from the trash for good.")]
            #[oai(path = $trash_item, method = "delete", operation_id = $op_purge)]
            async fn purge(&self, attributes: Data<&Attributes>, id: Path<$key>) -> Result<Done, Failure> {
                let who = caller(&attributes)?;
                crud::purge::<$res>(&self.0, &who, Value::from(id.0)).await
            }
        }
    };
}

resource_api!(ObjectsApi, ObjectResource, DaasObject, String, "the objects",
    paths: "/objects", "/objects/:id", "/trash/objects", "/trash/objects/:id", "/trash/objects/:id/restore",
    ops: "list_objects", "create_object", "get_object", "update_object", "delete_object", "list_trashed_objects", "restore_object", "purge_object");
resource_api!(EnvironmentsApi, EnvironmentResource, Environment, String, "the environments",
    paths: "/environments", "/environments/:id", "/trash/environments", "/trash/environments/:id", "/trash/environments/:id/restore",
    ops: "list_environments", "create_environment", "get_environment", "update_environment", "delete_environment",
         "list_trashed_environments", "restore_environment", "purge_environment");
resource_api!(ApplicationsApi, ApplicationResource, Application, String, "the applications",
    paths: "/applications", "/applications/:id", "/trash/applications", "/trash/applications/:id", "/trash/applications/:id/restore",
    ops: "list_applications", "create_application", "get_application", "update_application", "delete_application",
         "list_trashed_applications", "restore_application", "purge_application");
resource_api!(FilesApi, FileResource, File, String, "the files",
    paths: "/files", "/files/:id", "/trash/files", "/trash/files/:id", "/trash/files/:id/restore",
    ops: "list_files", "create_file", "get_file", "update_file", "delete_file", "list_trashed_files", "restore_file", "purge_file");
resource_api!(LimitsApi, LimitResource, RessourceInfo, i64, "the limits (by owner id)",
    paths: "/limits", "/limits/:id", "/trash/limits", "/trash/limits/:id", "/trash/limits/:id/restore",
    ops: "list_limits", "create_limit", "get_limit", "update_limit", "delete_limit", "list_trashed_limits", "restore_limit", "purge_limit");
resource_api!(GrantsApi, GrantResource, AccessGrant, String, "the access grants",
    paths: "/grants", "/grants/:id", "/trash/grants", "/trash/grants/:id", "/trash/grants/:id/restore",
    ops: "list_grants", "create_grant", "get_grant", "update_grant", "delete_grant", "list_trashed_grants", "restore_grant", "purge_grant");
resource_api!(NodesApi, NodeResource, Node, String, "the nodes",
    paths: "/nodes", "/nodes/:id", "/trash/nodes", "/trash/nodes/:id", "/trash/nodes/:id/restore",
    ops: "list_nodes", "create_node", "get_node", "update_node", "delete_node", "list_trashed_nodes", "restore_node", "purge_node");
