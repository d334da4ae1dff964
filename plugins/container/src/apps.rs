//! Container apps from image to a reachable desktop (seed §3.1.5: an app starts
//! instances and later stops them).
//!
//! Start: the instance row is created first (the original allocates resources per
//! instance), then the container (labelled for reconcile, its VNC port published on a
//! free 127.0.0.1 port), then the plugin waits until that port greets with RFB, then
//! the connection row (protocol, host, port, a fresh VNC password the db backend
//! encrypts at rest, a viewer token) and the viewer URL. Anything that fails on the way
//! removes what was made before it. Stop undoes all three.
//!
//! The container gets `VNC_PASSWORD` in its environment and must serve VNC on the
//! app's `vnc_port_instance` (5900 by default): that is the contract of an app image.
//! Once the desktop answers, the app's target command (`object_target.cmd`, a shell
//! line or a list) runs beside it with `DISPLAY=:0` (DESIGN: "app = a container running
//! the target command").

use std::time::Duration;

use daas_common::{
    model::{DaasObject, GuacamoleConnection, Instance},
    protocols::{AppStarted, DbClient, MachineSpec},
    token::random_token,
};
use daas_plugin_api::identity::Identity;
use tokio::{io::AsyncReadExt, net::TcpStream};

use crate::{
    containers,
    engine::{Engine, EngineError},
    limits, machine,
};

/// Label keys on the containers this plugin starts.
pub const LABEL_SITE: &str = "daas.site";
/// The instance a container belongs to.
pub const LABEL_INSTANCE: &str = "daas.instance";

/// What app starts and stops need.
#[derive(Clone)]
pub struct Apps {
    pub engine: Engine,
    pub db: DbClient,
    /// How long a start waits for the RFB greeting.
    pub vnc_ready: Duration,
    /// The `daas.site` label.
    pub site_label: String,
}

fn not_found_app(id: &str) -> EngineError {
    EngineError::NotFound(format!("app `{id}` does not exist"))
}

/// The viewer URL of an instance (the proxy plugin serves it).
pub fn viewer_url(instance_id: &str, token: &str) -> String {
    format!("/instance/{instance_id}?token={token}")
}

impl Apps {
    /// Start an app's instance for a caller.
    pub async fn start(&self, object_id: &str, caller: &Identity) -> Result<AppStarted, EngineError> {
        let app: DaasObject = self.db.get(object_id).await?.ok_or_else(|| not_found_app(object_id))?;
        // A foreign app answers exactly like a missing one, so ids cannot be probed.
        if !caller.can_see(app.id_owner) || app.deleted_at.is_some() {
            return Err(not_found_app(object_id));
        }
        if app.object_type != "container" {
            return Err(EngineError::Conflict(format!(
                "app `{object_id}` is of type `{}`; the container plugin starts container apps only",
                app.object_type
            )));
        }
        if app.id_docker.trim().is_empty() {
            return Err(EngineError::Conflict(format!("app `{object_id}` names no image (its id_docker is empty)")));
        }
        // Shared apps (owner 0) run as the caller's; a user's app stays its owner's.
        let owner = if app.id_owner > 0 { app.id_owner } else { caller.user_id };
        limits::check_start(&self.db, owner, &app).await?;
        let vnc_port = u16::try_from(app.vnc_port_instance).ok().filter(|p| *p > 0).unwrap_or(5900);

        let instance =
            self.db.insert(&Instance { id_owner: owner, id_app: app.id.clone(), host: "127.0.0.1".into(), ..Default::default() }).await?;
        match self.launch(&app, &instance, owner, vnc_port).await {
            Ok(started) => Ok(started),
            Err((container, e)) => {
                if let Some(c) = container {
                    let _ = containers::remove(&self.engine, &c).await;
                }
                let _ = self.db.delete::<Instance>(&instance.id).await;
                Err(e)
            }
        }
    }

    /// Container, RFB greeting, connection row; on failure the container made so far.
    async fn launch(
        &self,
        app: &DaasObject,
        instance: &Instance,
        owner: i64,
        vnc_port: u16,
    ) -> Result<AppStarted, (Option<String>, EngineError)> {
        let password = random_token();
        let spec = MachineSpec {
            artifact: app.id_docker.clone(),
            name: format!("daas-{}-{}", self.site_label, instance.id),
            cpus: app.hw_cpus,
            memory: app.hw_memory,
            vnc_port: Some(vnc_port),
            vnc_password: password.clone(),
            labels: [
                (LABEL_SITE.to_string(), self.site_label.clone()),
                (LABEL_INSTANCE.to_string(), instance.id.clone()),
                ("daas.app".to_string(), app.id.clone()),
                ("daas.owner".to_string(), owner.to_string()),
            ]
            .into(),
        };
        let command = target_command(&app.object_target).map_err(|e| (None, e))?;
        // The container, its desktop greeting, the target command: the machine contract's
        // instance (which removes a container that fails on the way).
        let (id, vnc) = machine::instantiate(&self.engine, self.vnc_ready, &spec, command.as_deref()).await.map_err(|e| (None, e))?;
        let fail = |e: EngineError| (Some(id.clone()), e);
        let port = vnc.map(|v| v.port).ok_or_else(|| fail(EngineError::Failed("the app's desktop has no VNC endpoint".into())))?;
        let token = random_token();
        let url = viewer_url(&instance.id, &token);
        let connection = GuacamoleConnection {
            user: app.vnc_username.clone(),
            password: Some(password),
            protocol: "vnc".into(),
            hostname: "127.0.0.1".into(),
            port: port.into(),
            viewer_url: url.clone(),
            viewer_token: token,
            ..Default::default()
        };
        let connection = self.db.insert(&connection).await.map_err(|e| fail(e.into()))?;
        let updated = Instance {
            id_con: Some(connection.id.clone()),
            container: id.clone(),
            booted_at: Some(chrono::Utc::now()),
            ..instance.clone()
        };
        if let Err(e) = self.db.update(&updated).await {
            let _ = self.db.delete::<GuacamoleConnection>(&connection.id).await;
            return Err(fail(e.into()));
        }
        tracing::info!(instance = %instance.id, container = %id, port, "app started");
        Ok(AppStarted { instance_id: instance.id.clone(), viewer_url: url })
    }

    /// Stop an instance: its container, its connection, the instance itself.
    pub async fn stop(&self, instance_id: &str, caller: &Identity) -> Result<(), EngineError> {
        let missing = || EngineError::NotFound(format!("instance `{instance_id}` does not exist"));
        let instance: Instance = self.db.get(instance_id).await?.ok_or_else(missing)?;
        if !caller.can_change(instance.id_owner) {
            return Err(missing());
        }
        self.remove(&instance).await
    }

    /// Remove an instance's container, connection and row (also reconcile's cleanup).
    pub async fn remove(&self, instance: &Instance) -> Result<(), EngineError> {
        if !instance.container.is_empty() {
            match containers::remove(&self.engine, &instance.container).await {
                Ok(()) | Err(EngineError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(con) = &instance.id_con {
            self.db.delete::<GuacamoleConnection>(con).await?;
        }
        self.db.delete::<Instance>(&instance.id).await?;
        tracing::info!(instance = %instance.id, container = %instance.container, "instance stopped");
        Ok(())
    }

    /// The instances a caller sees (an admin: all of them).
    pub async fn instances(&self, caller: &Identity) -> Result<Vec<Instance>, EngineError> {
        Ok(if caller.admin { self.db.find(vec![]).await? } else { self.db.instances_by_owner(caller.user_id).await? })
    }
}

/// The app's target command: `object_target.cmd` as a shell line or a list of
/// arguments; none when absent or empty.
pub fn target_command(target: &serde_json::Value) -> Result<Option<Vec<String>>, EngineError> {
    match target.get("cmd") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(vec!["/bin/sh".into(), "-c".into(), s.clone()])),
        Some(serde_json::Value::Array(a)) if a.is_empty() => Ok(None),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| EngineError::BadRequest("the app's object_target.cmd must be a string or a list of strings".into())),
        Some(_) => Err(EngineError::BadRequest("the app's object_target.cmd must be a string or a list of strings".into())),
    }
}

/// Wait until `127.0.0.1:port` greets with an RFB protocol version (`RFB 003.008\n`),
/// retrying connections until `within` has passed. The published port accepts
/// connections before the server inside listens, so a closed connection means "not
/// yet", not "never".
pub async fn wait_for_rfb(port: u16, within: Duration) -> Result<(), EngineError> {
    let deadline = tokio::time::Instant::now() + within;
    let mut last = String::from("no connection yet");
    while tokio::time::Instant::now() < deadline {
        let attempt = async {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
            let mut greeting = [0u8; 12];
            stream.read_exact(&mut greeting).await?;
            Ok::<_, std::io::Error>(greeting)
        };
        match tokio::time::timeout(Duration::from_secs(2), attempt).await {
            Ok(Ok(g)) if is_rfb_greeting(&g) => return Ok(()),
            Ok(Ok(g)) => last = format!("it answered {:?}, not an RFB greeting", String::from_utf8_lossy(&g)),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "no greeting within 2 s".into(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(EngineError::Timeout {
        host: format!("127.0.0.1:{port}"),
        op: format!("the VNC greeting of the app's desktop (last attempt: {last})"),
        ms: within.as_millis(),
    })
}

/// `RFB xxx.yyy\n` (RFC 6143 §7.1.1).
pub fn is_rfb_greeting(g: &[u8; 12]) -> bool {
    g.starts_with(b"RFB ") && g[11] == b'\n' && g[7] == b'.' && g[4..7].iter().chain(&g[8..11]).all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_commands_are_shell_lines_or_lists() {
        use serde_json::json;
        assert_eq!(target_command(&json!({})).unwrap(), None);
        assert_eq!(target_command(&json!({"cmd": ""})).unwrap(), None);
        assert_eq!(
            target_command(&json!({"cmd": "xterm -e top"})).unwrap(),
            Some(vec!["/bin/sh".into(), "-c".into(), "xterm -e top".into()])
        );
        assert_eq!(target_command(&json!({"cmd": ["xterm", "-e", "top"]})).unwrap(), Some(vec!["xterm".into(), "-e".into(), "top".into()]));
        assert!(matches!(target_command(&json!({"cmd": 3})), Err(EngineError::BadRequest(_))));
        assert!(matches!(target_command(&json!({"cmd": ["a", 1]})), Err(EngineError::BadRequest(_))));
    }

    #[test]
    fn rfb_greetings_are_recognized() {
        assert!(is_rfb_greeting(b"RFB 003.008\n"));
        assert!(is_rfb_greeting(b"RFB 003.003\n"));
        assert!(!is_rfb_greeting(b"HTTP/1.1 200"));
        assert!(!is_rfb_greeting(b"RFB 003.008 "));
    }

    #[tokio::test]
    async fn a_port_that_never_greets_times_out_naming_it() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts and says something else.
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                use tokio::io::AsyncWriteExt;
                let _ = s.write_all(b"SSH-2.0-x\r\n\r\n").await;
            }
        });
        let err = wait_for_rfb(port, Duration::from_millis(400)).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, EngineError::Timeout { .. }), "{text}");
        assert!(text.contains(&format!("127.0.0.1:{port}")) && text.contains("not an RFB greeting"), "{text}");
    }
}
