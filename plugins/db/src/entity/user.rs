//! `users`: Local users; the password hash and the TOTP secret are encrypted at rest.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub name: String,
    #[sea_orm(column_type = "String(StringLen::N(256))")]
    pub email: String,
    #[sea_orm(column_type = "Text")]
    pub password_hash: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub totp_secret: Option<String>,
    pub admin: bool,
    pub disabled: bool,
    pub failed_logins: i32,
    pub locked_until: Option<ChronoDateTimeUtc>,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
