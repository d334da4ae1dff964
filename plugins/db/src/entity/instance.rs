//! `instances`: A running instance (seed `ORMInstance`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "instances")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(128))")]
    pub id: String,
    pub id_owner: i64,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub id_app: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub id_env: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub id_con: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub host: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub container: String,
    pub created_at: ChronoDateTimeUtc,
    pub connected_at: Option<ChronoDateTimeUtc>,
    pub booted_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
