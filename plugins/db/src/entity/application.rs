//! `template_applications`: Applications (seed `ORMApplication`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "template_applications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(128))")]
    pub id: String,
    pub id_owner: i64,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub name: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub version: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub id_file: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub id_template: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub os_type: String,
    #[sea_orm(column_type = "String(StringLen::N(1024))")]
    pub installer: String,
    #[sea_orm(column_type = "String(StringLen::N(1024))")]
    pub installer_args: String,
    #[sea_orm(column_type = "String(StringLen::N(1024))")]
    pub installer_type: String,
    #[sea_orm(column_type = "String(StringLen::N(1024))")]
    pub target: String,
    #[sea_orm(column_type = "String(StringLen::N(1024))")]
    pub target_args: String,
    pub created_at: ChronoDateTimeUtc,
    pub deleted_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
