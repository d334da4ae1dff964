//! `nodes`: Paired nodes (seed 004); tags are JSON text.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "nodes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(128))")]
    pub id: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub authid: String,
    #[sea_orm(column_type = "String(StringLen::N(256))")]
    pub pubkey: String,
    #[sea_orm(column_type = "String(StringLen::N(256))")]
    pub label: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    #[sea_orm(column_type = "Text")]
    pub tags: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub state: String,
    pub last_seen_at: Option<ChronoDateTimeUtc>,
    pub created_at: ChronoDateTimeUtc,
    pub deleted_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
