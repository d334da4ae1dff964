//! `limits`: Resource limits per owner (seed `ORMLimit`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "limits")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_owner: i64,
    pub vm_max: i64,
    pub container_max: i64,
    pub obj_max: i64,
    pub cpu_max: i64,
    pub mem_max: i64,
    pub dsk_max: i64,
    pub deleted_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
