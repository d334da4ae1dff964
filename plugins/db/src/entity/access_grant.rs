//! `access_grants`: Access of a user to an app with its policy (seed 001); the model's `volume` is split into three columns.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "access_grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub id_app: String,
    pub id_user: i64,
    pub allow_home: bool,
    pub allow_view: bool,
    pub allow_common: bool,
    pub volume_source: Option<String>,
    pub volume_target: Option<String>,
    pub volume_mode: Option<String>,
    pub created_at: ChronoDateTimeUtc,
    pub deleted_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
