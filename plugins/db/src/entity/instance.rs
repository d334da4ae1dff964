//! `instances`: A running instance (seed `ORMInstance`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "instances")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub id_owner: i64,
    pub id_app: String,
    pub id_env: Option<String>,
    pub id_con: Option<String>,
    pub host: String,
    pub container: String,
    pub created_at: ChronoDateTimeUtc,
    pub connected_at: Option<ChronoDateTimeUtc>,
    pub booted_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
