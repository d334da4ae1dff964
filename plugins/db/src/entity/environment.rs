//! `environments`: An environment derived from an object (seed `ORMEnvironment`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "environments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub id_backend: String,
    pub id_object: String,
    pub name: String,
    pub state: String,
    #[sea_orm(column_type = "Text")]
    pub env_tasks: String,
    #[sea_orm(column_type = "Text")]
    pub env_apps: String,
    #[sea_orm(column_type = "Text")]
    pub env_target: String,
    pub created_at: ChronoDateTimeUtc,
    pub deleted_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
