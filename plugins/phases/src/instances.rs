//! Instances: one running machine of an object, an app's (with its target command) or a
//! phase's in-progress one, and how it is reached.
//!
//! A start reserves the instance row first, under the owner's lock and limits (so that
//! simultaneous starts never pass a limit together, and a machine never exists without
//! its row: the machine backends' reconcile removes machines of no instance). Then the
//! machine is made from the artifact through the machine contract (answered once its
//! desktop greets), then the connection row (protocol, host, port, a fresh VNC password
//! the db backend encrypts at rest, a viewer token) and the viewer URL. Whatever fails
//! on the way removes what was made before it. Stop undoes all three.

use std::{collections::HashMap, sync::Arc};

use daas_common::{
    model::{DaasObject, GuacamoleConnection, Instance},
    protocols::{DbClient, MachineClient, MachineSpec},
    token::random_token,
};
use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind},
    identity::Identity,
    sdk::Failure,
};

use crate::limits;

/// The label naming the instance a machine is (reconcile finds orphans by it).
pub const LABEL_INSTANCE: &str = "daas.instance";

/// The name of an instance's machine in its backend: known before the machine exists,
/// so that a machine whose start was interrupted can still be found and removed.
pub fn machine_name(instance_id: &str) -> String {
    format!("daas-{instance_id}")
}

/// The viewer URL of an instance (the proxy plugin serves it).
pub fn viewer_url(instance_id: &str, token: &str) -> String {
    format!("/instance/{instance_id}?token={token}")
}

/// The machine backend of an object's type: 409 for a type no backend runs.
pub fn machine_of(object: &DaasObject) -> Result<MachineClient, Failure> {
    MachineClient::for_object_type(&object.object_type).ok_or_else(|| {
        Failure::conflict(format!(
            "object `{}` is of type `{}`: only `container` and `vm` objects run; set its object_type",
            object.id, object.object_type
        ))
    })
}

/// One lock per owner: a limit check and the row it allows are one step.
#[derive(Clone, Default)]
pub struct Reservations(Arc<std::sync::Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>>);

/// Reserve an instance of `object` for `owner`: 403 naming the limit it would pass.
pub async fn reserve(db: &DbClient, reservations: &Reservations, owner: i64, object: &DaasObject) -> Result<Instance, Failure> {
    let lock = reservations.0.lock().unwrap_or_else(|p| p.into_inner()).entry(owner).or_default().clone();
    let _one = lock.lock().await;
    limits::check_start(db, owner, object).await?;
    Ok(db.insert(&Instance { id_owner: owner, id_app: object.id.clone(), host: "127.0.0.1".into(), ..Default::default() }).await?)
}

/// What a launch made.
pub struct Launched {
    /// The instance as stored now (its machine, its connection).
    pub instance: Instance,
    /// The machine's id in its backend.
    pub machine: String,
    /// Where the owner views it.
    pub viewer_url: String,
}

/// Make the reserved instance's machine from `artifact` (with an app's `command`), wait
/// for its desktop, write its connection. On failure nothing of it stays but the row
/// (the caller removes that).
pub async fn launch(
    db: &DbClient,
    instance: &Instance,
    object: &DaasObject,
    artifact: &str,
    command: Option<Vec<String>>,
) -> Result<Launched, Failure> {
    let machine = machine_of(object)?;
    let password = random_token();
    let vnc_port = u16::try_from(object.vnc_port_instance).ok().filter(|p| *p > 0).unwrap_or(5900);
    let spec = MachineSpec {
        artifact: artifact.to_string(),
        name: machine_name(&instance.id),
        cpus: object.hw_cpus,
        memory: object.hw_memory,
        disk: object.hw_disksize,
        vnc_port: Some(vnc_port),
        vnc_password: password.clone(),
        labels: [
            (LABEL_INSTANCE.to_string(), instance.id.clone()),
            ("daas.object".to_string(), object.id.clone()),
            ("daas.owner".to_string(), instance.id_owner.to_string()),
        ]
        .into(),
    };
    let (id, vnc) = machine.instantiate(spec, command).await?;
    let made = async {
        let vnc = vnc.ok_or_else(|| Failure::unavailable("the instance's desktop has no VNC endpoint"))?;
        let token = random_token();
        let url = viewer_url(&instance.id, &token);
        let connection = GuacamoleConnection {
            user: object.vnc_username.clone(),
            password: Some(password),
            protocol: "vnc".into(),
            hostname: vnc.host.clone(),
            port: vnc.port.into(),
            viewer_url: url.clone(),
            viewer_token: token,
            ..Default::default()
        };
        let connection = db.insert(&connection).await?;
        let updated = Instance {
            id_con: Some(connection.id.clone()),
            container: id.clone(),
            booted_at: Some(chrono::Utc::now()),
            ..instance.clone()
        };
        if let Err(e) = db.update(&updated).await {
            let _ = db.delete::<GuacamoleConnection>(&connection.id).await;
            return Err(Failure::from(e));
        }
        Ok::<_, Failure>((updated, url))
    };
    match made.await {
        Ok((instance, viewer_url)) => {
            tracing::info!(instance = %instance.id, machine = %id, "instance started");
            Ok(Launched { instance, machine: id, viewer_url })
        }
        Err(e) => {
            let _ = machine.remove(&id).await;
            Err(e)
        }
    }
}

/// Remove an instance: its machine (already gone, or never made, is fine), its
/// connection, its row.
pub async fn remove(db: &DbClient, instance: &Instance) -> Result<(), Failure> {
    let object: Option<DaasObject> = db.get(&instance.id_app).await?;
    if let Some(machine) = object.as_ref().and_then(|o| machine_of(o).ok()) {
        // Before its start answered, the machine is known by its name only.
        let id = if instance.container.is_empty() { machine_name(&instance.id) } else { instance.container.clone() };
        match machine.remove(&id).await {
            Ok(()) => {}
            Err(BackendError { kind: BackendErrorKind::NotFound, .. }) => {}
            // A machine whose start never answered may not exist at all: its row goes;
            // should it exist, the backend's reconcile finds it without an instance.
            Err(e) if instance.container.is_empty() => {
                tracing::warn!(instance = %instance.id, error = %e.message, "the machine of an instance that never started could not be removed")
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(con) = &instance.id_con {
        db.delete::<GuacamoleConnection>(con).await?;
    }
    db.delete::<Instance>(&instance.id).await?;
    tracing::info!(instance = %instance.id, machine = %instance.container, "instance stopped");
    Ok(())
}

/// A caller's instance: 404 for one they may not reach, as for one that does not exist,
/// so that ids cannot be probed.
pub async fn owned(db: &DbClient, caller: &Identity, id: &str) -> Result<Instance, Failure> {
    let missing = || Failure::not_found(format!("instance `{id}` does not exist"));
    let instance: Instance = db.get(id).await?.ok_or_else(missing)?;
    if !caller.can_change(instance.id_owner) {
        return Err(missing());
    }
    Ok(instance)
}

/// Where an instance is viewed (none: its desktop is not up yet).
pub async fn viewer_of(db: &DbClient, instance: &Instance) -> Result<Option<String>, Failure> {
    let Some(con) = &instance.id_con else { return Ok(None) };
    Ok(db.get::<GuacamoleConnection>(con).await?.map(|c| c.viewer_url))
}

/// The instances a caller sees (an administrator: all of them).
pub async fn visible(db: &DbClient, caller: &Identity) -> Result<Vec<Instance>, Failure> {
    Ok(if caller.admin { db.find(vec![]).await? } else { db.instances_by_owner(caller.user_id).await? })
}

/// The app's target command: `object_target.cmd` as a shell line or a list of
/// arguments, with `object_target.args` (a shell line) after a shell line; none when
/// absent or empty.
pub fn target_command(target: &serde_json::Value) -> Result<Option<Vec<String>>, Failure> {
    use serde_json::Value;
    let bad = || Failure::conflict("the app's object_target.cmd must be a string or a list of strings; change the app's object_target");
    let args = target.get("args").and_then(Value::as_str).filter(|a| !a.trim().is_empty());
    match target.get("cmd") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            let line = match args {
                Some(a) => format!("{s} {a}"),
                None => s.clone(),
            };
            Ok(Some(vec!["/bin/sh".into(), "-c".into(), line]))
        }
        Some(Value::Array(a)) if a.is_empty() => Ok(None),
        Some(Value::Array(a)) => a.iter().map(|v| v.as_str().map(str::to_string)).collect::<Option<Vec<_>>>().map(Some).ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn target_commands_are_shell_lines_or_lists() {
        assert_eq!(target_command(&json!({})).unwrap(), None);
        assert_eq!(target_command(&json!({"cmd": ""})).unwrap(), None);
        assert_eq!(
            target_command(&json!({"cmd": "xterm", "args": "-e top"})).unwrap(),
            Some(vec!["/bin/sh".into(), "-c".into(), "xterm -e top".into()])
        );
        assert_eq!(target_command(&json!({"cmd": ["xterm", "-e", "top"]})).unwrap(), Some(vec!["xterm".into(), "-e".into(), "top".into()]));
        assert_eq!(target_command(&json!({"cmd": 3})).unwrap_err().status(), 409);
        assert_eq!(target_command(&json!({"cmd": ["a", 1]})).unwrap_err().status(), 409);
    }
}
