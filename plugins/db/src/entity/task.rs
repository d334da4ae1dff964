//! `tasks`: long-running work (phase transitions, app starts) and its progress.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(128))")]
    pub id: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub kind: String,
    pub id_owner: i64,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub id_object: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub id_instance: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub state: String,
    pub progress: i32,
    #[sea_orm(column_type = "Text")]
    pub step: String,
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub output: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub idempotency_key: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub request: Option<String>,
    pub created_at: ChronoDateTimeUtc,
    pub started_at: Option<ChronoDateTimeUtc>,
    pub updated_at: ChronoDateTimeUtc,
    pub finished_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
