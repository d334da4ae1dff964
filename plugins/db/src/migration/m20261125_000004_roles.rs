//! The auth plugin's roles (seed 002, vantage6 `Role`): `roles` bundle permission rules
//! (a JSON list of rule ids, text like every JSON field), `user_roles` gives users roles.
//! The built-in roles' rows (admin, user, viewer) are made by the auth plugin; their rule
//! lists are computed from the rules the loaded plugins register, not stored.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let backend = m.get_database_backend();
        let created = if backend == sea_orm_migration::sea_orm::DbBackend::MySql {
            let mut c = ColumnDef::new(Alias::new("created_at"));
            c.custom(Alias::new("DATETIME(6)")).not_null();
            c
        } else {
            timestamp_with_time_zone("created_at")
        };
        m.create_table(
            Table::create()
                .table("roles")
                .col(big_pk_auto("id"))
                .col(string_len("name", 128))
                .col(string_len("description", 1024))
                .col(text("rules"))
                .col(created)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("user_roles")
                .col(big_integer("id_user"))
                .col(big_integer("id_role"))
                .primary_key(Index::create().col("id_user").col("id_role"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_user_roles_id_user")
                        .from(Alias::new("user_roles"), Alias::new("id_user"))
                        .to(Alias::new("users"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_user_roles_id_role")
                        .from(Alias::new("user_roles"), Alias::new("id_role"))
                        .to(Alias::new("roles"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("uq_roles_name").table(Alias::new("roles")).col(Alias::new("name")).unique().to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Alias::new("user_roles")).to_owned()).await?;
        m.drop_table(Table::drop().table(Alias::new("roles")).to_owned()).await
    }
}
