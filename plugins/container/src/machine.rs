//! The machine contract on the Docker API: an instance is a container, an artifact an
//! image; capture is a commit, put a file an archive upload.

use std::time::Duration;

use daas_common::protocols::{file_content, ContainerSpec, Endpoint, MachineRequest, MachineResponse, MachineSpec};

use tokio::{io::AsyncReadExt, net::TcpStream};

use crate::{
    containers,
    engine::{Engine, EngineError},
    images,
};

/// The label on every container of this site (its value: `[container_request]
/// site_label`): reconcile looks at these containers only.
pub const LABEL_SITE: &str = "daas.site";
/// The label naming the instance a container is (the phases plugin gives it).
pub const LABEL_INSTANCE: &str = "daas.instance";

/// Serve one request of the contract. `vnc_ready` bounds the wait for a desktop's
/// greeting; `site` is the value of [`LABEL_SITE`] on the containers it makes.
pub async fn serve(engine: &Engine, vnc_ready: Duration, site: &str, request: MachineRequest) -> Result<MachineResponse, EngineError> {
    use MachineRequest as R;
    use MachineResponse as A;
    Ok(match request {
        R::Instantiate { mut spec, command } => {
            spec.labels.insert(LABEL_SITE.into(), site.into());
            let (id, vnc) = instantiate(engine, vnc_ready, &spec, command.as_deref()).await?;
            A::Instance { id, vnc }
        }
        R::Exec { instance, command, limit_ms } => {
            let (exit_code, output) = containers::exec_for(engine, &instance, &command, Duration::from_millis(limit_ms)).await?;
            A::Exec { exit_code, output }
        }
        R::PutFile { instance, path, content, mode } => {
            let content = file_content(&content)
                .ok_or_else(|| EngineError::BadRequest(format!("the content of `{path}` is not base64 (standard alphabet, padded)")))?;
            containers::put_file(engine, &instance, &path, &content, mode).await?;
            A::Done
        }
        R::Capture { instance, artifact, live } => {
            // No live snapshots of containers (the engine would need CRIU): a live capture
            // is the stopped container's file system, as the contract allows.
            if live {
                containers::stop(engine, &instance, false).await?;
            }
            A::Artifact { id: containers::commit(engine, &instance, &artifact).await? }
        }
        R::Stop { instance } => {
            containers::stop(engine, &instance, false).await?;
            A::Done
        }
        R::Remove { instance } => {
            containers::remove(engine, &instance).await?;
            A::Done
        }
        R::RemoveArtifact { artifact } => {
            images::delete(engine, &artifact).await?;
            A::Done
        }
        R::Status { instance } => A::Status { state: containers::status(engine, &instance).await? },
        R::Vnc { instance, port } => A::Vnc(loopback(containers::published_port(engine, &instance, port).await?)),
    })
}

fn loopback(port: u16) -> Endpoint {
    Endpoint { host: "127.0.0.1".into(), port }
}

/// A container from the artifact, started; with a command, that command runs on its
/// desktop; with a VNC port, answered once the desktop greets. A container that fails
/// on the way is removed: nothing half-made stays behind.
pub async fn instantiate(
    engine: &Engine,
    vnc_ready: Duration,
    spec: &MachineSpec,
    command: Option<&[String]>,
) -> Result<(String, Option<Endpoint>), EngineError> {
    if spec.artifact.trim().is_empty() {
        return Err(EngineError::BadRequest("an instance needs an artifact (an image) to start from".into()));
    }
    let container = ContainerSpec {
        image: spec.artifact.clone(),
        name: spec.name.clone(),
        cpus: spec.cpus.max(0),
        memory: spec.memory.max(0),
        ports: spec.vnc_port.map(|p| p.to_string()).into_iter().collect(),
        env: if spec.vnc_password.is_empty() { Vec::new() } else { vec![format!("VNC_PASSWORD={}", spec.vnc_password)] },
        labels: spec.labels.clone(),
        ..Default::default()
    };
    let id = containers::create(engine, &container).await?;
    match started(engine, vnc_ready, &id, spec.vnc_port, command).await {
        Ok(vnc) => Ok((id, vnc)),
        Err(e) => {
            if let Err(cleanup) = containers::remove(engine, &id).await {
                tracing::warn!(container = %id, error = %cleanup, "a container that failed to start could not be removed");
            }
            Err(e)
        }
    }
}

async fn started(
    engine: &Engine,
    vnc_ready: Duration,
    id: &str,
    vnc_port: Option<u16>,
    command: Option<&[String]>,
) -> Result<Option<Endpoint>, EngineError> {
    containers::start(engine, id).await?;
    let vnc = match vnc_port {
        Some(port) => {
            let published = containers::published_port(engine, id, port).await?;
            if let Err(e) = wait_for_rfb(published, vnc_ready).await {
                let logs = containers::logs(engine, id).await.unwrap_or_default();
                let tail: Vec<&str> = logs.lines().rev().take(10).collect();
                let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
                tracing::warn!(container = %id, logs = %tail, "the desktop did not come up");
                return Err(e);
            }
            Some(loopback(published))
        }
        None => None,
    };
    if let Some(command) = command.filter(|c| !c.is_empty()) {
        containers::exec_detached(engine, id, command, &["DISPLAY=:0".to_string()]).await?;
    }
    Ok(vnc)
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
