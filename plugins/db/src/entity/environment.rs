//! `environments`: An environment derived from an object (seed `ORMEnvironment`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "environments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(128))")]
    pub id: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub id_backend: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub id_object: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub name: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
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
