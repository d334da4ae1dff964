//! The seed's other tables (environments, instances, guacamole_connections, files,
//! template_applications, limits) and the product's (users, groups, memberships,
//! privileges, access tokens, sessions, tasks, access grants, usage records, nodes);
//! `deleted_at` on daas_objects for its trash.
//!
//! JSON fields are text, as the seed's `JsonType`, so that every database stores them
//! alike. Rows that belong to an object go with it (the seed's `delete-orphan`).

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(table: &str, col: &str, parent: &str, parent_col: &str, on_delete: ForeignKeyAction) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{col}"))
        .from(Alias::new(table), Alias::new(col))
        .to(Alias::new(parent), Alias::new(parent_col))
        .on_delete(on_delete)
        .to_owned()
}

fn index(table: &str, cols: &[&str], unique: bool) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(format!("{}_{table}_{}", if unique { "uq" } else { "idx" }, cols.join("_"))).table(Alias::new(table));
    for c in cols {
        i.col(Alias::new(*c));
    }
    if unique {
        i.unique();
    }
    i.to_owned()
}

/// A UTC timestamp column. On MariaDB not `TIMESTAMP` (what sea-query picks): it keeps
/// whole seconds and ends in 2038; `DATETIME(6)` keeps microseconds and holds UTC as
/// given (the application always writes UTC).
pub(super) fn ts(backend: DbBackend, name: &'static str, null: bool) -> ColumnDef {
    let mut c = if backend == DbBackend::MySql {
        let mut c = ColumnDef::new(Alias::new(name));
        c.custom(Alias::new("DATETIME(6)"));
        if !null {
            c.not_null();
        }
        c
    } else if null {
        timestamp_with_time_zone_null(name)
    } else {
        timestamp_with_time_zone(name)
    };
    if null {
        c.null();
    }
    c
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, SetNull};
        let b = m.get_database_backend();
        let created = || ts(b, "created_at", false);
        let deleted = || ts(b, "deleted_at", true);
        m.alter_table(Table::alter().table("daas_objects").add_column(deleted()).to_owned()).await?;

        let tables = [
            Table::create()
                .table("files")
                .col(string_len("id", 128).primary_key())
                .col(big_integer("id_owner"))
                .col(string_len("name", 128))
                .col(string_len("version", 128))
                .col(string_len("os_type", 32))
                .col(string_len("localpath", 1024))
                .col(string_len("remotepath", 1024))
                .col(big_integer("filesize"))
                .col(created())
                .col(deleted())
                .to_owned(),
            Table::create()
                .table("template_applications")
                .col(string_len("id", 128).primary_key())
                .col(big_integer("id_owner"))
                .col(string_len("name", 128))
                .col(string_len("version", 128))
                .col(string_len_null("id_file", 128))
                .col(string_len_null("id_template", 128))
                .col(string_len("os_type", 32))
                .col(string_len("installer", 1024))
                .col(string_len("installer_args", 1024))
                .col(string_len("installer_type", 1024))
                .col(string_len("target", 1024))
                .col(string_len("target_args", 1024))
                .col(created())
                .col(deleted())
                .foreign_key(&mut fk("template_applications", "id_file", "files", "id", SetNull))
                .foreign_key(&mut fk("template_applications", "id_template", "daas_objects", "id", SetNull))
                .to_owned(),
            Table::create()
                .table("environments")
                .col(string_len("id", 128).primary_key())
                .col(string_len("id_backend", 128))
                .col(string_len("id_object", 128))
                .col(string_len("name", 128))
                .col(string_len("state", 128))
                .col(text("env_tasks"))
                .col(text("env_apps"))
                .col(text("env_target"))
                .col(created())
                .col(deleted())
                .foreign_key(&mut fk("environments", "id_object", "daas_objects", "id", Cascade))
                .to_owned(),
            Table::create()
                .table("guacamole_connections")
                .col(string_len("id", 128).primary_key())
                .col(string_len("user", 128))
                .col(text("password"))
                .col(string_len("protocol", 32))
                .col(string_len("hostname", 128))
                .col(big_integer("port"))
                .col(string_len("viewer_url", 256))
                .col(string_len("viewer_token", 256))
                .col(created())
                .to_owned(),
            Table::create()
                .table("instances")
                .col(string_len("id", 128).primary_key())
                .col(big_integer("id_owner"))
                .col(string_len("id_app", 128))
                .col(string_len_null("id_env", 128))
                .col(string_len_null("id_con", 128))
                .col(string_len("host", 128))
                .col(string_len("container", 128))
                .col(created())
                .col(ts(b, "connected_at", true))
                .col(ts(b, "booted_at", true))
                .foreign_key(&mut fk("instances", "id_app", "daas_objects", "id", Cascade))
                .foreign_key(&mut fk("instances", "id_env", "environments", "id", SetNull))
                .foreign_key(&mut fk("instances", "id_con", "guacamole_connections", "id", SetNull))
                .to_owned(),
            Table::create()
                .table("limits")
                .col(big_integer("id_owner").primary_key())
                .col(big_integer("vm_max"))
                .col(big_integer("container_max"))
                .col(big_integer("obj_max"))
                .col(big_integer("cpu_max"))
                .col(big_integer("mem_max"))
                .col(big_integer("dsk_max"))
                .col(deleted())
                .to_owned(),
            Table::create()
                .table("users")
                .col(big_pk_auto("id"))
                .col(string_len("name", 128))
                .col(string_len("email", 256))
                .col(text_null("password_hash"))
                .col(text_null("totp_secret"))
                .col(boolean("admin"))
                .col(boolean("disabled"))
                .col(integer("failed_logins"))
                .col(ts(b, "locked_until", true))
                .col(created())
                .to_owned(),
            Table::create()
                .table("groups")
                .col(big_pk_auto("id"))
                .col(string_len("name", 128))
                .col(string_len("description", 1024))
                .col(boolean("is_static"))
                .col(created())
                .to_owned(),
            Table::create()
                .table("group_memberships")
                .col(big_integer("id_group"))
                .col(big_integer("id_user"))
                .primary_key(Index::create().col("id_group").col("id_user"))
                .foreign_key(&mut fk("group_memberships", "id_group", "groups", "id", Cascade))
                .foreign_key(&mut fk("group_memberships", "id_user", "users", "id", Cascade))
                .to_owned(),
            Table::create()
                .table("privileges")
                .col(string_len("subject_kind", 16))
                .col(big_integer("subject_id"))
                .col(string_len("privilege", 128))
                .col(string_len("effect", 16))
                .primary_key(Index::create().col("subject_kind").col("subject_id").col("privilege"))
                .to_owned(),
            Table::create()
                .table("access_tokens")
                .col(string_len("id", 128).primary_key())
                .col(big_integer("id_user"))
                .col(string_len("description", 1024))
                .col(text_null("secret_hash"))
                .col(created())
                .col(ts(b, "expires_at", true))
                .col(ts(b, "revoked_at", true))
                .col(ts(b, "last_used_at", true))
                .foreign_key(&mut fk("access_tokens", "id_user", "users", "id", Cascade))
                .to_owned(),
            Table::create()
                .table("sessions")
                .col(string_len("id", 128).primary_key())
                .col(big_integer("id_user"))
                .col(text_null("csrf_token"))
                .col(created())
                .col(ts(b, "expires_at", false))
                .col(ts(b, "last_seen_at", true))
                .foreign_key(&mut fk("sessions", "id_user", "users", "id", Cascade))
                .to_owned(),
            Table::create()
                .table("tasks")
                .col(string_len("id", 128).primary_key())
                .col(string_len("kind", 128))
                .col(big_integer("id_owner"))
                .col(string_len_null("id_object", 128))
                .col(string_len("state", 16))
                .col(integer("progress"))
                .col(text("message"))
                .col(created())
                .col(ts(b, "updated_at", false))
                .col(ts(b, "finished_at", true))
                .to_owned(),
            Table::create()
                .table("access_grants")
                .col(string_len("id", 32).primary_key())
                .col(string_len("id_app", 128))
                .col(big_integer("id_user"))
                .col(boolean("allow_home"))
                .col(boolean("allow_view"))
                .col(boolean("allow_common"))
                .col(string_len_null("volume_source", 1024))
                .col(string_len_null("volume_target", 1024))
                .col(string_len_null("volume_mode", 2))
                .col(created())
                .col(deleted())
                .foreign_key(&mut fk("access_grants", "id_app", "daas_objects", "id", Cascade))
                .to_owned(),
            Table::create()
                .table("usage_records")
                .col(big_pk_auto("id"))
                .col(big_integer("id_owner"))
                .col(string_len("id_object", 128))
                .col(string_len_null("id_instance", 128))
                .col(string_len("kind", 32))
                .col(ts(b, "period_start", false))
                .col(ts(b, "period_end", false))
                .col(double("cpu_seconds"))
                .col(big_integer("mem_bytes_max"))
                .col(big_integer("net_bytes"))
                .to_owned(),
            Table::create()
                .table("nodes")
                .col(string_len("id", 128).primary_key())
                .col(string_len("authid", 128))
                .col(string_len("pubkey", 256))
                .col(string_len("label", 256))
                .col(text("description"))
                .col(text("tags"))
                .col(string_len("state", 128))
                .col(ts(b, "last_seen_at", true))
                .col(created())
                .col(deleted())
                .to_owned(),
        ];
        for t in tables {
            m.create_table(t).await?;
        }
        let indexes = [
            index("files", &["id_owner"], false),
            index("template_applications", &["id_owner", "name"], true),
            index("environments", &["id_object", "name"], true),
            index("environments", &["id_backend"], false),
            index("guacamole_connections", &["viewer_token"], false),
            index("instances", &["id_owner"], false),
            index("instances", &["id_app"], false),
            index("instances", &["id_con"], false),
            index("instances", &["host"], false),
            index("users", &["name"], true),
            index("groups", &["name"], true),
            index("group_memberships", &["id_user"], false),
            index("access_tokens", &["id_user"], false),
            index("sessions", &["id_user"], false),
            index("tasks", &["id_owner"], false),
            index("access_grants", &["id_app", "id_user"], true),
            index("access_grants", &["id_user"], false),
            index("usage_records", &["id_owner", "period_start"], false),
            index("nodes", &["authid"], true),
            index("nodes", &["pubkey"], true),
        ];
        for i in indexes {
            m.create_index(i).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "usage_records",
            "access_grants",
            "tasks",
            "sessions",
            "access_tokens",
            "privileges",
            "group_memberships",
            "groups",
            "users",
            "limits",
            "instances",
            "guacamole_connections",
            "environments",
            "template_applications",
            "files",
            "nodes",
        ] {
            m.drop_table(Table::drop().table(Alias::new(t)).to_owned()).await?;
        }
        m.alter_table(Table::alter().table("daas_objects").drop_column("deleted_at").to_owned()).await
    }
}
