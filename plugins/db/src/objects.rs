//! ObjectRepository (seed 000): `daas_objects`.

use daas_common::model::DaasObject;
use daas_plugin_api::abi::{BackendError, BackendErrorKind};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::{
    entity::daas_object::{self, Column, Entity},
    secrets::Secrets,
};

/// The repository of DaaS objects.
#[derive(Clone)]
pub struct Objects {
    pub db: DatabaseConnection,
    pub secrets: Secrets,
}

fn internal(e: impl std::fmt::Display) -> BackendError {
    BackendError::new(BackendErrorKind::Internal, format!("database error: {e}"))
}

fn json_text(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

impl Objects {
    fn encode(&self, o: &DaasObject, created_at: chrono::DateTime<chrono::Utc>) -> daas_object::Model {
        daas_object::Model {
            id: o.id.clone(),
            id_user: o.id_user.clone(),
            id_owner: o.id_owner,
            id_proxmox: o.id_proxmox,
            id_docker: o.id_docker.clone(),
            object_type: o.object_type.clone(),
            object_mode: o.object_mode.clone(),
            object_mode_extended: o.object_mode_extended.clone(),
            object_state: o.object_state.clone(),
            object_tasks: json_text(&o.object_tasks),
            object_apps: json_text(&o.object_apps),
            object_target: json_text(&o.object_target),
            object_storage: o.object_storage.clone(),
            os_wine: o.os_wine,
            os_type: o.os_type.clone(),
            hw_cpus: o.hw_cpus,
            hw_memory: o.hw_memory,
            hw_disksize: o.hw_disksize,
            os_username: o.os_username.clone(),
            os_password: self.secrets.seal(&o.os_password),
            os_installer: o.os_installer.clone(),
            ceph_public: o.ceph_public,
            ceph_shared: o.ceph_shared,
            ceph_user: o.ceph_user,
            vnc_port_system: o.vnc_port_system,
            vnc_port_instance: o.vnc_port_instance,
            vnc_username: o.vnc_username.clone(),
            vnc_password: self.secrets.seal(&o.vnc_password),
            viewer_contype: o.viewer_contype.clone(),
            viewer_resolution: o.viewer_resolution.clone(),
            viewer_resize: o.viewer_resize.clone(),
            viewer_scale: o.viewer_scale.clone(),
            viewer_dpi: o.viewer_dpi,
            viewer_colors: o.viewer_colors,
            viewer_force_lossless: o.viewer_force_lossless,
            extra_args: o.extra_args.clone(),
            created_at,
            updated_at: chrono::Utc::now(),
        }
    }

    fn decode(&self, m: daas_object::Model) -> Result<DaasObject, BackendError> {
        Ok(DaasObject {
            id: m.id,
            id_user: m.id_user,
            id_owner: m.id_owner,
            id_proxmox: m.id_proxmox,
            id_docker: m.id_docker,
            object_type: m.object_type,
            object_mode: m.object_mode,
            object_mode_extended: m.object_mode_extended,
            object_state: m.object_state,
            object_tasks: serde_json::from_str(&m.object_tasks).unwrap_or_default(),
            object_apps: serde_json::from_str(&m.object_apps).unwrap_or_default(),
            object_target: serde_json::from_str(&m.object_target).unwrap_or_else(|_| serde_json::json!({})),
            object_storage: m.object_storage,
            os_wine: m.os_wine,
            os_type: m.os_type,
            hw_cpus: m.hw_cpus,
            hw_memory: m.hw_memory,
            hw_disksize: m.hw_disksize,
            os_username: m.os_username,
            os_password: self.secrets.open(&m.os_password).map_err(internal)?,
            os_installer: m.os_installer,
            ceph_public: m.ceph_public,
            ceph_shared: m.ceph_shared,
            ceph_user: m.ceph_user,
            vnc_port_system: m.vnc_port_system,
            vnc_port_instance: m.vnc_port_instance,
            vnc_username: m.vnc_username,
            vnc_password: self.secrets.open(&m.vnc_password).map_err(internal)?,
            viewer_contype: m.viewer_contype,
            viewer_resolution: m.viewer_resolution,
            viewer_resize: m.viewer_resize,
            viewer_scale: m.viewer_scale,
            viewer_dpi: m.viewer_dpi,
            viewer_colors: m.viewer_colors,
            viewer_force_lossless: m.viewer_force_lossless,
            extra_args: m.extra_args,
        })
    }

    fn many(&self, models: Vec<daas_object::Model>) -> Result<Vec<DaasObject>, BackendError> {
        models.into_iter().map(|m| self.decode(m)).collect()
    }

    /// Store a new object; `Conflict` when its id exists.
    pub async fn create(&self, o: &DaasObject) -> Result<(), BackendError> {
        if o.id.trim().is_empty() {
            return Err(BackendError::new(BackendErrorKind::BadRequest, "an object needs an id"));
        }
        if Entity::find_by_id(o.id.clone()).one(&self.db).await.map_err(internal)?.is_some() {
            return Err(BackendError::new(BackendErrorKind::Conflict, format!("object `{}` exists already", o.id)));
        }
        Entity::insert(self.encode(o, chrono::Utc::now()).into_active_model()).exec(&self.db).await.map_err(internal)?;
        Ok(())
    }

    /// Replace an object's fields; `NotFound` when it does not exist.
    pub async fn update(&self, o: &DaasObject) -> Result<(), BackendError> {
        let Some(existing) = Entity::find_by_id(o.id.clone()).one(&self.db).await.map_err(internal)? else {
            return Err(BackendError::new(BackendErrorKind::NotFound, format!("object `{}` does not exist", o.id)));
        };
        let mut active = self.encode(o, existing.created_at).into_active_model();
        // Every column is set; `reset_all` marks them changed so that the update writes them.
        active = active.reset_all();
        active.created_at = Set(existing.created_at);
        active.update(&self.db).await.map_err(internal)?;
        Ok(())
    }

    /// One object.
    pub async fn get(&self, id: &str) -> Result<Option<DaasObject>, BackendError> {
        Entity::find_by_id(id.to_string()).one(&self.db).await.map_err(internal)?.map(|m| self.decode(m)).transpose()
    }

    /// The object with this Docker id.
    pub async fn by_docker_id(&self, id_docker: &str) -> Result<Option<DaasObject>, BackendError> {
        Entity::find().filter(Column::IdDocker.eq(id_docker)).one(&self.db).await.map_err(internal)?.map(|m| self.decode(m)).transpose()
    }

    /// The object with this Proxmox VM id.
    pub async fn by_proxmox_id(&self, id_proxmox: i64) -> Result<Option<DaasObject>, BackendError> {
        Entity::find().filter(Column::IdProxmox.eq(id_proxmox)).one(&self.db).await.map_err(internal)?.map(|m| self.decode(m)).transpose()
    }

    /// The owner's objects and the shared ones (owner 0), oldest first.
    pub async fn available(&self, id_owner: i64) -> Result<Vec<DaasObject>, BackendError> {
        let models = Entity::find()
            .filter(Condition::any().add(Column::IdOwner.eq(id_owner)).add(Column::IdOwner.eq(0)))
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .all(&self.db)
            .await
            .map_err(internal)?;
        self.many(models)
    }

    /// Delete an object; `NotFound` when it does not exist.
    pub async fn delete(&self, id: &str) -> Result<(), BackendError> {
        let res = Entity::delete_by_id(id.to_string()).exec(&self.db).await.map_err(internal)?;
        if res.rows_affected == 0 {
            return Err(BackendError::new(BackendErrorKind::NotFound, format!("object `{id}` does not exist")));
        }
        Ok(())
    }

    /// The lowest Proxmox VM id in 100..=254 that no object uses (seed `suggest_vmid`).
    pub async fn suggest_vmid(&self) -> Result<i64, BackendError> {
        let used: Vec<i64> = Entity::find()
            .select_only()
            .column(Column::IdProxmox)
            .filter(Column::IdProxmox.between(100, 254))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(internal)?;
        (100..=254)
            .find(|id| !used.contains(id))
            .ok_or_else(|| BackendError::new(BackendErrorKind::Conflict, "every Proxmox VM id in 100..=254 is taken"))
    }
}
