//! Every table's [`Spec`]: what is particular about it. The marker types name the
//! tables in generic calls (`tables.get::<Objects>(..)`); [`with_table!`] picks one by
//! its [`TableName`] at run time.

use daas_common::{
    model::{AccessGrant, DaasObject},
    protocols::TableName,
};
use serde_json::{Map, Value};

use crate::{
    entity,
    table::{IdKind, Spec, Table},
};

macro_rules! tables {
    ($($(#[$doc:meta])* $marker:ident => $module:ident, $spec:expr;)*) => {
        $(
            $(#[$doc])*
            pub struct $marker;
            impl Table for $marker {
                type Entity = entity::$module::Entity;
                type Row = entity::$module::Model;
                type Active = entity::$module::ActiveModel;
                const SPEC: Spec = $spec;
            }
        )*
    };
}

tables! {
    /// `daas_objects`.
    Objects => daas_object, Spec {
        secrets: &["os_password", "vnc_password"],
        secret_defaults: &[("os_password", DaasObject::DEFAULT_OS_PASSWORD), ("vnc_password", DaasObject::DEFAULT_VNC_PASSWORD)],
        json_text: &["object_tasks", "object_apps", "object_target"],
        trash: true,
        references: &[("id_parent", TableName::DaasObjects)],
        ..Spec::plain(TableName::DaasObjects, "object", IdKind::Uuid)
    };
    /// `environments`.
    Environments => environment, Spec {
        json_text: &["env_tasks", "env_apps", "env_target"],
        trash: true,
        unique: &[&["id_object", "name"]],
        references: &[("id_object", TableName::DaasObjects)],
        ..Spec::plain(TableName::Environments, "environment", IdKind::Uuid)
    };
    /// `instances`.
    Instances => instance, Spec {
        references: &[
            ("id_app", TableName::DaasObjects),
            ("id_env", TableName::Environments),
            ("id_con", TableName::GuacamoleConnections),
        ],
        ..Spec::plain(TableName::Instances, "instance", IdKind::Uuid)
    };
    /// `guacamole_connections`: the password only for the proxy's request.
    Connections => guacamole_connection, Spec {
        secrets: &["password"],
        secret_defaults: &[("password", "")],
        hidden_secrets: true,
        ..Spec::plain(TableName::GuacamoleConnections, "connection", IdKind::Uuid)
    };
    /// `files`.
    Files => file, Spec { trash: true, ..Spec::plain(TableName::Files, "file", IdKind::Uuid) };
    /// `template_applications`.
    Applications => application, Spec {
        trash: true,
        unique: &[&["id_owner", "name"]],
        references: &[("id_file", TableName::Files), ("id_template", TableName::DaasObjects)],
        ..Spec::plain(TableName::TemplateApplications, "application", IdKind::Uuid)
    };
    /// `limits`, keyed by owner.
    Limits => limit, Spec { trash: true, ..Spec::plain(TableName::Limits, "limit", IdKind::Given) };
    /// `users`.
    Users => user, Spec { secrets: &["totp_secret"], unique: &[&["name"]], ..Spec::plain(TableName::Users, "user", IdKind::Auto) };
    /// `groups`.
    Groups => group, Spec { unique: &[&["name"]], ..Spec::plain(TableName::Groups, "group", IdKind::Auto) };
    /// `group_memberships`.
    Memberships => group_membership, Spec {
        references: &[("id_group", TableName::Groups), ("id_user", TableName::Users)],
        ..Spec::plain(TableName::GroupMemberships, "membership", IdKind::Given)
    };
    /// `privileges`.
    Privileges => privilege, Spec::plain(TableName::Privileges, "privilege", IdKind::Given);
    /// `roles`: their rule lists are JSON text.
    Roles => role, Spec { json_text: &["rules"], unique: &[&["name"]], ..Spec::plain(TableName::Roles, "role", IdKind::Auto) };
    /// `user_roles`.
    UserRoles => user_role, Spec {
        references: &[("id_user", TableName::Users), ("id_role", TableName::Roles)],
        ..Spec::plain(TableName::UserRoles, "role assignment", IdKind::Given)
    };
    /// `access_tokens`.
    AccessTokens => access_token, Spec {
        references: &[("id_user", TableName::Users)],
        ..Spec::plain(TableName::AccessTokens, "access token", IdKind::Uuid)
    };
    /// `sessions`.
    Sessions => session, Spec {
        secrets: &["csrf_token"],
        references: &[("id_user", TableName::Users)],
        ..Spec::plain(TableName::Sessions, "session", IdKind::Given)
    };
    /// `tasks`.
    Tasks => task, Spec { unique: &[&["id_owner", "idempotency_key"]], ..Spec::plain(TableName::Tasks, "task", IdKind::Uuid) };
    /// `access_grants`: the model's `volume` is three columns.
    Grants => access_grant, Spec {
        trash: true,
        unique: &[&["id_app", "id_user"]],
        references: &[("id_app", TableName::DaasObjects)],
        to_row: split_volume,
        from_row: join_volume,
        ..Spec::plain(TableName::AccessGrants, "grant", IdKind::Hex32)
    };
    /// `usage_records`.
    UsageRecords => usage_record, Spec::plain(TableName::UsageRecords, "usage record", IdKind::Auto);
    /// `nodes`.
    Nodes => node, Spec {
        json_text: &["tags"],
        trash: true,
        unique: &[&["authid"], &["pubkey"]],
        ..Spec::plain(TableName::Nodes, "node", IdKind::Uuid)
    };
}

fn split_volume(v: &mut Map<String, Value>) -> Result<(), String> {
    let (source, target, mode) = match v.remove("volume") {
        Some(Value::String(spec)) if !spec.is_empty() => {
            let (s, t, m) = AccessGrant::parse_volume(&spec)?;
            (Value::String(s), Value::String(t), serde_json::to_value(m).unwrap_or_default())
        }
        _ => (Value::Null, Value::Null, Value::Null),
    };
    v.insert("volume_source".into(), source);
    v.insert("volume_target".into(), target);
    v.insert("volume_mode".into(), mode);
    Ok(())
}

fn join_volume(v: &mut Map<String, Value>) {
    let part = |v: &mut Map<String, Value>, k: &str| v.remove(k).and_then(|x| x.as_str().map(str::to_string));
    let (s, t, m) = (part(v, "volume_source"), part(v, "volume_target"), part(v, "volume_mode"));
    let volume = match (s, t, m) {
        (Some(s), Some(t), Some(m)) => Value::String(format!("{s}:{t}:{m}")),
        _ => Value::Null,
    };
    v.insert("volume".into(), volume);
}

/// Runs `$body` with `$t` bound to the marker type of the table named `$name`.
#[macro_export]
macro_rules! with_table {
    ($name:expr, $t:ident => $body:expr) => {{
        use daas_common::protocols::TableName as N;
        use $crate::tables::*;
        match $name {
            N::DaasObjects => {
                type $t = Objects;
                $body
            }
            N::Environments => {
                type $t = Environments;
                $body
            }
            N::Instances => {
                type $t = Instances;
                $body
            }
            N::GuacamoleConnections => {
                type $t = Connections;
                $body
            }
            N::Files => {
                type $t = Files;
                $body
            }
            N::TemplateApplications => {
                type $t = Applications;
                $body
            }
            N::Limits => {
                type $t = Limits;
                $body
            }
            N::Users => {
                type $t = Users;
                $body
            }
            N::Groups => {
                type $t = Groups;
                $body
            }
            N::GroupMemberships => {
                type $t = Memberships;
                $body
            }
            N::Privileges => {
                type $t = Privileges;
                $body
            }
            N::Roles => {
                type $t = Roles;
                $body
            }
            N::UserRoles => {
                type $t = UserRoles;
                $body
            }
            N::AccessTokens => {
                type $t = AccessTokens;
                $body
            }
            N::Sessions => {
                type $t = Sessions;
                $body
            }
            N::Tasks => {
                type $t = Tasks;
                $body
            }
            N::AccessGrants => {
                type $t = Grants;
                $body
            }
            N::UsageRecords => {
                type $t = UsageRecords;
                $body
            }
            N::Nodes => {
                type $t = Nodes;
                $body
            }
        }
    }};
}
