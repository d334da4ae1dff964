//! The lifecycle: an object records the object it was derived from (`id_parent`); in
//! `tasks`, `message` becomes `step` (the current step), and a task records the instance
//! it made, why it failed with the failing step's output, the `Idempotency-Key` it was
//! asked with, when it started running and what it was asked to do (`request`, JSON, so
//! that a queued task runs after a restart). The new columns are nullable, so existing
//! rows stay valid; one column per statement, as SQLite alters.

use sea_orm_migration::{prelude::*, schema::*};

use super::m20261122_000002_product_tables::ts;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn alter() -> TableAlterStatement {
    Table::alter().table(Alias::new("tasks")).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let b = m.get_database_backend();
        m.alter_table(Table::alter().table(Alias::new("daas_objects")).add_column(string_len_null("id_parent", 128)).to_owned()).await?;
        m.alter_table(alter().rename_column(Alias::new("message"), Alias::new("step")).to_owned()).await?;
        for column in [
            string_len_null("id_instance", 128),
            text_null("error"),
            text_null("output"),
            string_len_null("idempotency_key", 128),
            ts(b, "started_at", true),
            text_null("request"),
        ] {
            m.alter_table(alter().add_column(column).to_owned()).await?;
        }
        m.create_index(
            Index::create()
                .name("uq_tasks_id_owner_idempotency_key")
                .table(Alias::new("tasks"))
                .col("id_owner")
                .col("idempotency_key")
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("uq_tasks_id_owner_idempotency_key").table(Alias::new("tasks")).to_owned()).await?;
        for column in ["request", "started_at", "idempotency_key", "output", "error", "id_instance"] {
            m.alter_table(alter().drop_column(Alias::new(column)).to_owned()).await?;
        }
        m.alter_table(alter().rename_column(Alias::new("step"), Alias::new("message")).to_owned()).await?;
        m.alter_table(Table::alter().table(Alias::new("daas_objects")).drop_column(Alias::new("id_parent")).to_owned()).await
    }
}
