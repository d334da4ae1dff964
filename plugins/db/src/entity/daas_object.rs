//! `daas_objects` (seed `ORMObject`). JSON fields are stored as text, as in the
//! original (`JsonType`), so that every database stores them alike.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "daas_objects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(128))")]
    pub id: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub id_user: String,
    pub id_owner: i64,
    pub id_proxmox: i64,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub id_docker: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub object_type: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub id_parent: Option<String>,
    pub object_mode: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub object_mode_extended: String,
    #[sea_orm(column_type = "String(StringLen::N(1024))")]
    pub object_state: String,
    #[sea_orm(column_type = "Text")]
    pub object_tasks: String,
    #[sea_orm(column_type = "Text")]
    pub object_apps: String,
    #[sea_orm(column_type = "Text")]
    pub object_target: String,
    #[sea_orm(column_type = "String(StringLen::N(1024))")]
    pub object_storage: String,
    pub os_wine: bool,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub os_type: String,
    pub hw_cpus: i64,
    pub hw_memory: i64,
    pub hw_disksize: i64,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub os_username: String,
    /// Encrypted (see `secrets`).
    #[sea_orm(column_type = "Text")]
    pub os_password: String,
    #[sea_orm(column_type = "Text")]
    pub os_installer: String,
    pub ceph_public: bool,
    pub ceph_shared: bool,
    pub ceph_user: bool,
    pub vnc_port_system: i64,
    pub vnc_port_instance: i64,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub vnc_username: String,
    /// Encrypted (see `secrets`).
    #[sea_orm(column_type = "Text")]
    pub vnc_password: String,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub viewer_contype: String,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub viewer_resolution: String,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub viewer_resize: String,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub viewer_scale: String,
    pub viewer_dpi: i64,
    pub viewer_colors: i64,
    pub viewer_force_lossless: bool,
    #[sea_orm(column_type = "String(StringLen::N(1024))")]
    pub extra_args: String,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
    pub deleted_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
