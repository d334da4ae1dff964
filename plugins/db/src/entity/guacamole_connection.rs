//! `guacamole_connections`: How the proxy reaches an instance (seed `ORMGuacamoleConnection`); the password is encrypted.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "guacamole_connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(128))")]
    pub id: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub user: String,
    #[sea_orm(column_type = "Text")]
    pub password: String,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub protocol: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub hostname: String,
    pub port: i64,
    #[sea_orm(column_type = "String(StringLen::N(256))")]
    pub viewer_url: String,
    #[sea_orm(column_type = "String(StringLen::N(256))")]
    pub viewer_token: String,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
