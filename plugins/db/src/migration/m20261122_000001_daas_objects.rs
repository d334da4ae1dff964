//! The `daas_objects` table with every field of seed 000's `DaasObject`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Table::create()
            .table("daas_objects")
            .if_not_exists()
            .col(string_len("id", 128).primary_key())
            .col(string_len("id_user", 128))
            .col(big_integer("id_owner"))
            .col(big_integer("id_proxmox"))
            .col(string_len("id_docker", 128))
            .col(string_len("object_type", 128))
            .col(string_len("object_mode", 128))
            .col(string_len("object_mode_extended", 128))
            .col(string_len("object_state", 1024))
            .col(text("object_tasks"))
            .col(text("object_apps"))
            .col(text("object_target"))
            .col(string_len("object_storage", 1024))
            .col(boolean("os_wine"))
            .col(string_len("os_type", 32))
            .col(big_integer("hw_cpus"))
            .col(big_integer("hw_memory"))
            .col(big_integer("hw_disksize"))
            .col(string_len("os_username", 128))
            .col(text("os_password"))
            .col(text("os_installer"))
            .col(boolean("ceph_public"))
            .col(boolean("ceph_shared"))
            .col(boolean("ceph_user"))
            .col(big_integer("vnc_port_system"))
            .col(big_integer("vnc_port_instance"))
            .col(string_len("vnc_username", 128))
            .col(text("vnc_password"))
            .col(string_len("viewer_contype", 32))
            .col(string_len("viewer_resolution", 32))
            .col(string_len("viewer_resize", 32))
            .col(string_len("viewer_scale", 32))
            .col(big_integer("viewer_dpi"))
            .col(big_integer("viewer_colors"))
            .col(boolean("viewer_force_lossless"))
            .col(string_len("extra_args", 1024))
            .col(timestamp_with_time_zone("created_at"))
            .col(timestamp_with_time_zone("updated_at"))
            .to_owned();
        manager.create_table(t).await?;
        for (name, col) in
            [("idx_daas_objects_owner", "id_owner"), ("idx_daas_objects_docker", "id_docker"), ("idx_daas_objects_proxmox", "id_proxmox")]
        {
            manager.create_index(Index::create().name(name).table("daas_objects").col(col).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("daas_objects").to_owned()).await
    }
}
