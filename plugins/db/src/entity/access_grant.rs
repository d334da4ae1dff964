//! `access_grants`: Access of a user to an app with its policy (seed 001); the model's `volume` is split into three columns.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "access_grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(32))")]
    pub id: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub id_app: String,
    pub id_user: i64,
    pub allow_home: bool,
    pub allow_view: bool,
    pub allow_common: bool,
    #[sea_orm(column_type = "String(StringLen::N(1024))")]
    pub volume_source: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(1024))")]
    pub volume_target: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(2))")]
    pub volume_mode: Option<String>,
    pub created_at: ChronoDateTimeUtc,
    pub deleted_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
