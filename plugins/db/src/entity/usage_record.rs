//! `usage_records`: Usage metering (seed 004).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "usage_records")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub id_owner: i64,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub id_object: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub id_instance: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub kind: String,
    pub period_start: ChronoDateTimeUtc,
    pub period_end: ChronoDateTimeUtc,
    pub cpu_seconds: f64,
    pub mem_bytes_max: i64,
    pub net_bytes: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
