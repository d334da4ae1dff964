//! Containers: create from a spec, start, stop and wait, remove, commit as an image,
//! exec (within a time limit), put a file, status, the published VNC endpoint, list
//! with stats, logs, IP (seed `docker_container_*`, and what the phases plugin needs).

use std::{collections::HashMap, net::IpAddr, time::Duration};

use bollard::{
    exec::{CreateExecOptions, StartExecOptions, StartExecResults},
    models::{ContainerConfig, ContainerCreateBody, ContainerInspectResponse, HostConfig, PortBinding},
    query_parameters::{
        CommitContainerOptions, CreateContainerOptions, KillContainerOptions, ListContainersOptions, LogsOptions, RemoveContainerOptions,
        StatsOptions, StopContainerOptions, UploadToContainerOptions,
    },
};
use daas_common::protocols::{ContainerInfo, ContainerSpec, ContainerStats};
use futures::StreamExt;

use crate::{
    engine::{Engine, EngineError},
    images,
};

/// The smallest memory limit engines accept (Docker refuses less than 6 MiB).
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// A published port: (container port with protocol, host address, host port or empty).
#[derive(Debug, PartialEq)]
pub struct PortSpec {
    pub container: String,
    pub host_ip: String,
    pub host_port: String,
}

/// `[ip:][host:]container[/tcp|udp|sctp]`; the address defaults to 127.0.0.1 and must
/// be a loopback address (containers are reached through this server, never directly).
pub fn parse_port(spec: &str) -> Result<PortSpec, EngineError> {
    let bad = |why: &str| EngineError::BadRequest(format!("port `{spec}`: {why}; write [127.0.0.1:][host_port:]container_port[/tcp|udp]"));
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto @ ("tcp" | "udp" | "sctp"))) => (p, proto),
        Some(_) => return Err(bad("the protocol must be tcp, udp or sctp")),
        None => (spec, "tcp"),
    };
    let parts: Vec<&str> = ports.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("127.0.0.1", "", *c),
        [h, c] => ("127.0.0.1", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => return Err(bad("too many `:`")),
    };
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
    let container = port(container).ok_or_else(|| bad("the container port must be a number in 1..65535"))?;
    if !host.is_empty() && port(host).is_none() {
        return Err(bad("the host port must be a number in 1..65535 or left out"));
    }
    let addr: IpAddr = ip.parse().map_err(|_| bad("the address is not an IP address"))?;
    if !addr.is_loopback() {
        return Err(bad("ports are published on loopback addresses only"));
    }
    Ok(PortSpec { container: format!("{container}/{proto}"), host_ip: addr.to_string(), host_port: host.to_string() })
}

/// `source:destination[:ro|rw]`: an absolute host path or a named volume, mounted at an
/// absolute path.
pub fn parse_volume(spec: &str) -> Result<String, EngineError> {
    let bad = |why: &str| EngineError::BadRequest(format!("volume `{spec}`: {why}; write source:/destination[:ro|rw]"));
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, dest) = match parts.as_slice() {
        [s, d] | [s, d, "ro" | "rw"] => (*s, *d),
        [_, _, _] => return Err(bad("the mode must be ro or rw")),
        _ => return Err(bad("it needs a source and a destination")),
    };
    let named = !source.is_empty() && source.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !(source.starts_with('/') || named) {
        return Err(bad("the source must be an absolute path or a volume name"));
    }
    if !dest.starts_with('/') {
        return Err(bad("the destination must be an absolute path"));
    }
    Ok(spec.to_string())
}

/// The engine's create request for a spec, with every field checked (400 on a bad
/// port, volume, CPU or memory value).
pub fn create_body(spec: &ContainerSpec) -> Result<ContainerCreateBody, EngineError> {
    if spec.memory < 0 || (spec.memory > 0 && spec.memory < MIN_MEMORY) {
        return Err(EngineError::BadRequest(format!(
            "memory {} bytes: give 0 (no limit) or at least {MIN_MEMORY} bytes (6 MiB)",
            spec.memory
        )));
    }
    if spec.cpus < 0 {
        return Err(EngineError::BadRequest(format!("cpus {}: give 0 (no limit) or a number of cores", spec.cpus)));
    }
    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &spec.ports {
        let p = parse_port(p)?;
        exposed.push(p.container.clone());
        bindings
            .entry(p.container)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding { host_ip: Some(p.host_ip), host_port: Some(p.host_port) });
    }
    let binds = spec.volumes.iter().map(|v| parse_volume(v)).collect::<Result<Vec<_>, _>>()?;
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
        env: (!spec.env.is_empty()).then(|| spec.env.clone()),
        labels: Some(spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(HostConfig {
            privileged: Some(spec.privileged),
            nano_cpus: (spec.cpus > 0).then_some(spec.cpus * 1_000_000_000),
            memory: (spec.memory > 0).then_some(spec.memory),
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            binds: (!binds.is_empty()).then_some(binds),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Create a container (not started); answers its id. The image must exist: a missing
/// one is a 404 naming it, before the engine is asked to create anything.
pub async fn create(engine: &Engine, spec: &ContainerSpec) -> Result<String, EngineError> {
    let body = create_body(spec)?;
    images::inspect(engine, &spec.image).await?;
    let options = CreateContainerOptions { name: (!spec.name.is_empty()).then(|| spec.name.clone()), ..Default::default() };
    let what = if spec.name.is_empty() { format!("a container of `{}`", spec.image) } else { format!("container `{}`", spec.name) };
    Ok(engine.call("container create", &what, engine.docker()?.create_container(Some(options), body)).await?.id)
}

fn what(id: &str) -> String {
    format!("container `{id}`")
}

/// Start a created or stopped container.
pub async fn start(engine: &Engine, id: &str) -> Result<(), EngineError> {
    engine.call("container start", &what(id), engine.docker()?.start_container(id, None)).await
}

/// A container's inspection; none when it does not exist.
pub async fn inspect(engine: &Engine, id: &str) -> Result<Option<ContainerInspectResponse>, EngineError> {
    match engine.call("container inspect", &what(id), engine.docker()?.inspect_container(id, None)).await {
        Ok(c) => Ok(Some(c)),
        Err(EngineError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A container's state (`running`, `exited`, ...); none when it does not exist.
pub async fn status(engine: &Engine, id: &str) -> Result<Option<String>, EngineError> {
    Ok(inspect(engine, id).await?.map(|c| c.state.and_then(|s| s.status).map(|s| s.to_string()).unwrap_or_default()))
}

/// Stop a container (gracefully, or SIGKILL with `force`) and wait, bounded by the
/// call timeout, until it no longer runs (seed `docker_container_stop`).
pub async fn stop(engine: &Engine, id: &str, force: bool) -> Result<(), EngineError> {
    let result = if force {
        let options = KillContainerOptions { signal: "SIGKILL".into() };
        engine.call("container kill", &what(id), engine.docker()?.kill_container(id, Some(options))).await
    } else {
        // The engine sends SIGKILL itself after `t` seconds.
        let t = (engine.timeout().as_secs() / 2).clamp(1, 10) as i32;
        let options = StopContainerOptions { t: Some(t), ..Default::default() };
        engine.call("container stop", &what(id), engine.docker()?.stop_container(id, Some(options))).await
    };
    match result {
        // Already stopped: nothing to do, which is what the caller wants.
        Ok(()) | Err(EngineError::Conflict(_)) => {}
        Err(EngineError::Failed(m)) if m.contains("304") => {}
        Err(e) => return Err(e),
    }
    let deadline = tokio::time::Instant::now() + engine.timeout();
    loop {
        match inspect(engine, id).await? {
            None => return Err(EngineError::NotFound(format!("{} does not exist in the container engine", what(id)))),
            Some(c) if !c.state.as_ref().and_then(|s| s.running).unwrap_or(false) => return Ok(()),
            Some(_) if tokio::time::Instant::now() >= deadline => {
                return Err(EngineError::Timeout {
                    host: engine.host().to_string(),
                    op: format!("stop {}", what(id)),
                    ms: engine.timeout().as_millis(),
                })
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Remove a container, killing it first when it runs.
pub async fn remove(engine: &Engine, id: &str) -> Result<(), EngineError> {
    let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
    engine.call("container remove", &what(id), engine.docker()?.remove_container(id, Some(options))).await
}

/// Commit a container as a new image `repository[:tag]`; answers the image's id.
pub async fn commit(engine: &Engine, id: &str, image: &str) -> Result<String, EngineError> {
    // The tag is what follows the last `:` after the last `/` (a registry's port is not
    // a tag).
    let (repo, tag) = match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => (&image[..i], &image[i + 1..]),
        _ => (image, "latest"),
    };
    if repo.is_empty() || tag.is_empty() {
        return Err(EngineError::BadRequest(format!("image name `{image}`: write repository[:tag]")));
    }
    let options =
        CommitContainerOptions { container: Some(id.into()), repo: Some(repo.into()), tag: Some(tag.into()), ..Default::default() };
    let answer = engine.call("container commit", &what(id), engine.docker()?.commit_container(options, ContainerConfig::default())).await?;
    Ok(answer.id)
}

/// Run a command in a running container and wait for it (at most ten times
/// `timeout_ms`); answers (exit code, output).
pub async fn exec(engine: &Engine, id: &str, cmd: &[String]) -> Result<(i64, String), EngineError> {
    // A command may install software (the phases run installers): ten times the timeout
    // of one call, like a build.
    exec_for(engine, id, cmd, engine.timeout() * 10).await
}

/// [`exec`] within `limit`: past it the answer is a timeout error naming the command's
/// operation and the limit (the command may go on in the container until it is
/// removed).
pub async fn exec_for(engine: &Engine, id: &str, cmd: &[String], limit: Duration) -> Result<(i64, String), EngineError> {
    if cmd.is_empty() {
        return Err(EngineError::BadRequest("exec needs a command".into()));
    }
    let options =
        CreateExecOptions::<String> { attach_stdout: Some(true), attach_stderr: Some(true), cmd: Some(cmd.to_vec()), ..Default::default() };
    let created = engine.call("exec create", &what(id), engine.docker()?.create_exec(id, options)).await?;
    let docker = engine.docker()?;
    let run = async {
        let mut output = String::new();
        if let StartExecResults::Attached { output: mut stream, .. } = docker.start_exec(&created.id, None).await? {
            while let Some(chunk) = stream.next().await {
                output.push_str(&chunk?.to_string());
            }
        }
        Ok(output)
    };
    let output = engine.call_for(limit, "exec", &what(id), run).await?;
    let inspected = engine.call("exec inspect", &what(id), engine.docker()?.inspect_exec(&created.id)).await?;
    Ok((inspected.exit_code.unwrap_or(-1), output))
}

/// Put a file into a container (running or not) at the absolute `path`, with the
/// permission bits `mode` (`0o755` for an installer to run), owned by root: one tar entry
/// uploaded to the path's directory (podman makes a missing one; Docker answers 404).
pub async fn put_file(engine: &Engine, id: &str, path: &str, content: &[u8], mode: u32) -> Result<(), EngineError> {
    let file = std::path::Path::new(path);
    let (Some(dir), Some(name)) = (file.parent().filter(|_| file.is_absolute()), file.file_name()) else {
        return Err(EngineError::BadRequest(format!("`{path}` is not an absolute path to a file")));
    };
    if path.contains('\0') || file.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(EngineError::BadRequest(format!("`{}` may hold neither NUL nor `..`", path.escape_debug())));
    }
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(mode & 0o7777);
    header.set_mtime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
    let mut archive = tar::Builder::new(Vec::new());
    let packed = archive.append_data(&mut header, name, content).and_then(|()| archive.into_inner());
    let archive = packed.map_err(|e| EngineError::BadRequest(format!("`{path}` cannot be packed: {e}")))?;
    let options = UploadToContainerOptions { path: dir.to_string_lossy().into_owned(), ..Default::default() };
    let docker = engine.docker()?;
    engine.call("archive upload", &what(id), docker.upload_to_container(id, Some(options), bollard::body_full(archive.into()))).await
}

/// Start a command in a running container without waiting for it (an app's target
/// command beside its desktop).
pub async fn exec_detached(engine: &Engine, id: &str, cmd: &[String], env: &[String]) -> Result<(), EngineError> {
    if cmd.is_empty() {
        return Err(EngineError::BadRequest("exec needs a command".into()));
    }
    let options = CreateExecOptions::<String> { cmd: Some(cmd.to_vec()), env: Some(env.to_vec()), ..Default::default() };
    let created = engine.call("exec create", &what(id), engine.docker()?.create_exec(id, options)).await?;
    let start = StartExecOptions { detach: true, ..Default::default() };
    engine.call("exec start", &what(id), engine.docker()?.start_exec(&created.id, Some(start))).await.map(|_| ())
}

/// The 127.0.0.1 port a running container's `port`/tcp is published on.
pub async fn published_port(engine: &Engine, id: &str, port: u16) -> Result<u16, EngineError> {
    let c =
        inspect(engine, id).await?.ok_or_else(|| EngineError::NotFound(format!("{} does not exist in the container engine", what(id))))?;
    if !c.state.as_ref().and_then(|s| s.running).unwrap_or(false) {
        return Err(EngineError::Conflict(format!("{} is not running", what(id))));
    }
    let key = format!("{port}/tcp");
    c.network_settings
        .and_then(|n| n.ports)
        .and_then(|mut p| p.remove(&key))
        .flatten()
        .into_iter()
        .flatten()
        .find_map(|b| b.host_port.and_then(|p| p.parse::<u16>().ok()))
        .ok_or_else(|| EngineError::Conflict(format!("{} does not publish port {key}", what(id))))
}

/// Containers (running ones, or all), optionally only those with a label `key=value`,
/// with one sample of resource use each when `stats`.
pub async fn list(engine: &Engine, all: bool, stats: bool, label: Option<&str>) -> Result<Vec<ContainerInfo>, EngineError> {
    let filters = label.map(|l| HashMap::from([("label".to_string(), vec![l.to_string()])]));
    let options = ListContainersOptions { all, filters, ..Default::default() };
    let summaries = engine.call("container list", "the containers", engine.docker()?.list_containers(Some(options))).await?;
    let mut out = Vec::with_capacity(summaries.len());
    for c in summaries {
        let id = c.id.unwrap_or_default();
        let stats = if stats { sample(engine, &id).await? } else { None };
        out.push(ContainerInfo {
            name: c.names.unwrap_or_default().first().map(|n| n.trim_start_matches('/').to_string()).unwrap_or_default(),
            image: c.image.unwrap_or_default(),
            state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            labels: c.labels.unwrap_or_default().into_iter().collect(),
            stats,
            id,
        });
    }
    Ok(out)
}

/// One sample of a container's resource use; none when it is gone meanwhile.
async fn sample(engine: &Engine, id: &str) -> Result<Option<ContainerStats>, EngineError> {
    let options = StatsOptions { stream: false, one_shot: false };
    let docker = engine.docker()?;
    let first = async { docker.stats(id, Some(options)).next().await.transpose() };
    let s = match engine.call("container stats", &what(id), first).await {
        Ok(Some(s)) => s,
        Ok(None) | Err(EngineError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let total = |c: &Option<bollard::models::ContainerCpuStats>| {
        c.as_ref().and_then(|c| c.cpu_usage.as_ref()).and_then(|u| u.total_usage).unwrap_or(0)
    };
    let system = |c: &Option<bollard::models::ContainerCpuStats>| c.as_ref().and_then(|c| c.system_cpu_usage).unwrap_or(0);
    let cpu_delta = total(&s.cpu_stats).saturating_sub(total(&s.precpu_stats)) as f64;
    let sys_delta = system(&s.cpu_stats).saturating_sub(system(&s.precpu_stats)) as f64;
    let cpus = s.cpu_stats.as_ref().and_then(|c| c.online_cpus).unwrap_or(1).max(1) as f64;
    let cpu_percent = if sys_delta > 0.0 { cpu_delta / sys_delta * cpus * 100.0 } else { 0.0 };
    let (mut block_read, mut block_write) = (0, 0);
    for e in s.blkio_stats.and_then(|b| b.io_service_bytes_recursive).unwrap_or_default() {
        match e.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => block_read += e.value.unwrap_or(0),
            Some("write") => block_write += e.value.unwrap_or(0),
            _ => {}
        }
    }
    let nets = s.networks.unwrap_or_default();
    Ok(Some(ContainerStats {
        cpu_percent,
        memory_bytes: s.memory_stats.as_ref().and_then(|m| m.usage).unwrap_or(0),
        memory_limit: s.memory_stats.as_ref().and_then(|m| m.limit).unwrap_or(0),
        block_read,
        block_write,
        net_rx: nets.values().filter_map(|n| n.rx_bytes).sum(),
        net_tx: nets.values().filter_map(|n| n.tx_bytes).sum(),
    }))
}

/// A container's output, stdout and stderr.
pub async fn logs(engine: &Engine, id: &str) -> Result<String, EngineError> {
    let options = LogsOptions { stdout: true, stderr: true, tail: "all".into(), ..Default::default() };
    let docker = engine.docker()?;
    let collect = async {
        let mut text = String::new();
        let mut stream = docker.logs(id, Some(options));
        while let Some(chunk) = stream.next().await {
            text.push_str(&chunk?.to_string());
        }
        Ok(text)
    };
    engine.call("container logs", &what(id), collect).await
}

/// A container's IP address (the first of its networks'; seed `docker_get_container_ip`).
pub async fn ip(engine: &Engine, id: &str) -> Result<String, EngineError> {
    let c =
        inspect(engine, id).await?.ok_or_else(|| EngineError::NotFound(format!("{} does not exist in the container engine", what(id))))?;
    c.network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_values()
        .filter_map(|n| n.ip_address)
        .find(|ip| !ip.is_empty())
        .ok_or_else(|| EngineError::Conflict(format!("{} has no IP address (is it running?)", what(id))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_default_to_loopback_and_refuse_other_addresses() {
        assert_eq!(
            parse_port("5900").unwrap(),
            PortSpec { container: "5900/tcp".into(), host_ip: "127.0.0.1".into(), host_port: String::new() }
        );
        assert_eq!(parse_port("8080:80/udp").unwrap().host_port, "8080");
        assert_eq!(parse_port("127.0.0.2:8080:80").unwrap().host_ip, "127.0.0.2");
        for bad in ["0.0.0.0:80:80", "abc", "70000", "80/icmp", "1:2:3:4", "x:80", ""] {
            assert!(matches!(parse_port(bad), Err(EngineError::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn volumes_need_absolute_destinations_and_a_known_mode() {
        assert!(parse_volume("/srv/data:/data:ro").is_ok());
        assert!(parse_volume("cache:/cache").is_ok());
        for bad in ["/a", "relative/path:/x", "/a:b", "/a:/b:rx", ":/b"] {
            assert!(matches!(parse_volume(bad), Err(EngineError::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn memory_and_cpus_are_checked() {
        let spec = |memory, cpus| ContainerSpec { image: "x".into(), memory, cpus, ..Default::default() };
        assert!(create_body(&spec(0, 0)).is_ok());
        assert_eq!(create_body(&spec(64 << 20, 2)).unwrap().host_config.unwrap().nano_cpus, Some(2_000_000_000));
        assert!(matches!(create_body(&spec(1000, 0)), Err(EngineError::BadRequest(_))));
        assert!(matches!(create_body(&spec(-1, 0)), Err(EngineError::BadRequest(_))));
        assert!(matches!(create_body(&spec(0, -2)), Err(EngineError::BadRequest(_))));
    }
}
