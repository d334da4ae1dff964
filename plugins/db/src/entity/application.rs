//! `template_applications`: Applications (seed `ORMApplication`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "template_applications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub id_owner: i64,
    pub name: String,
    pub version: String,
    pub id_file: Option<String>,
    pub id_template: Option<String>,
    pub os_type: String,
    pub installer: String,
    pub installer_args: String,
    pub installer_type: String,
    pub target: String,
    pub target_args: String,
    pub created_at: ChronoDateTimeUtc,
    pub deleted_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
