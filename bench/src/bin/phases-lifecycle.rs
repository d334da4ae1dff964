//! The lifecycle bench's measuring side (bench/phases.sh runs it): the time of each
//! transition on containers, and of an app start through the phases plugin against the
//! same start as bare engine calls, in one run.
//!
//! Each round, on a running `daas serve` (db, testbackend for the `testing` layer,
//! container, phases) as user 7:
//! - environment: `POST /api/v1/phases/objects/{base}/transitions` (clone_template, one
//!   ConfigAuto command) until its task has succeeded (Create: a container from the base
//!   image, its desktop's RFB greeting; ConfigAuto; Finalize: stop, commit, remove);
//! - deployment: create_snapshot of that environment, likewise;
//! - app: run_app of that deployment (no machine work: the app takes its deployment's
//!   artifact);
//! - app start: `POST /api/v1/phases/apps/{app}/start` until its task has succeeded
//!   (instance row under the limits, container, RFB greeting, connection row); the
//!   instance is stopped (untimed) afterwards;
//! - bare start: the same engine work from this process with the container plugin's
//!   own functions (create with the published port, start, published port, RFB
//!   greeting), no host, no database, from the same deployment image; removed (untimed).
//!
//! Each task is followed by polling its URL every 10 ms, which is the resolution of
//! the times through the API. Usage: phases-lifecycle --engine unix:///path --api
//! http://127.0.0.1:PORT --base ID [--n 10]. Prints a markdown table.

use std::time::{Duration, Instant};

use daas_common::{config::ContainerRequestSection, protocols::ContainerSpec};
use daas_plugin_container::{containers, engine::Engine, machine::wait_for_rfb};
use serde_json::{json, Value};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn need(name: &str) -> String {
    arg(name).unwrap_or_else(|| {
        eprintln!("phases-lifecycle: {name} is required");
        std::process::exit(2)
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// p50 and p95 (nearest rank) of a sample.
fn p50_p95(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    (rank(0.50), rank(0.95))
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.http.request(method, format!("{}{path}", self.base)).header("x-test-user-id", "7");
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Ask for a task and wait for its end: (the task, the time from asking to its end).
    async fn task(&self, path: &str, body: Option<Value>) -> (Value, f64) {
        let t = Instant::now();
        let (status, task) = self.call(reqwest::Method::POST, path, body).await;
        assert_eq!(status, 202, "{path}: {task}");
        let url = format!("/api/v1/phases/tasks/{}", task["id"].as_str().unwrap());
        loop {
            let (_, task) = self.call(reqwest::Method::GET, &url, None).await;
            match task["state"].as_str() {
                Some("succeeded") => return (task, ms(t.elapsed())),
                Some("failed" | "cancelled") => panic!("{path}: {task}"),
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (engine_host, api, base) = (need("--engine"), need("--api"), need("--base"));
    let n: usize = arg("--n").and_then(|s| s.parse().ok()).unwrap_or(10);
    let engine = Engine::connect(&ContainerRequestSection { host: engine_host, timeout_ms: 30_000, ..Default::default() }).unwrap();
    let api = Api { http: reqwest::Client::new(), base: api };

    let (mut envs, mut deployments, mut apps, mut starts, mut bare) = (vec![], vec![], vec![], vec![], vec![]);
    for round in 0..n {
        let transition = |t: &str| json!({ "transition": t, "object_tasks": ["echo configured > /root/env"] });
        let (task, t) = api.task(&format!("/api/v1/phases/objects/{base}/transitions"), Some(transition("clone_template"))).await;
        envs.push(t);
        let env = task["id_object"].as_str().unwrap().to_string();
        let (task, t) = api.task(&format!("/api/v1/phases/objects/{env}/transitions"), Some(transition("create_snapshot"))).await;
        deployments.push(t);
        let deployment = task["id_object"].as_str().unwrap().to_string();
        let (task, t) = api.task(&format!("/api/v1/phases/objects/{deployment}/transitions"), Some(json!({"transition": "run_app"}))).await;
        apps.push(t);
        let app = task["id_object"].as_str().unwrap().to_string();
        let image = format!("daas-object-{deployment}");
        // Alternate which start goes first, so neither always meets a warmer engine.
        for side in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            if side == 0 {
                let spec = ContainerSpec {
                    image: image.clone(),
                    ports: vec!["5900".into()],
                    env: vec!["VNC_PASSWORD=bench".into()],
                    labels: [("daas.bench".to_string(), "phases-lifecycle".to_string())].into(),
                    ..Default::default()
                };
                let t = Instant::now();
                let id = containers::create(&engine, &spec).await.expect("create");
                containers::start(&engine, &id).await.expect("start");
                let port = containers::published_port(&engine, &id, 5900).await.expect("port");
                wait_for_rfb(port, Duration::from_secs(30)).await.expect("RFB greeting");
                bare.push(ms(t.elapsed()));
                containers::remove(&engine, &id).await.expect("remove");
            } else {
                let (task, t) = api.task(&format!("/api/v1/phases/apps/{app}/start"), None).await;
                starts.push(t);
                let instance = task["id_instance"].as_str().unwrap();
                let (status, _) = api.call(reqwest::Method::DELETE, &format!("/api/v1/phases/instances/{instance}"), None).await;
                assert_eq!(status, 204);
            }
        }
    }
    let row = |what: &str, v: &[f64]| {
        let (p50, p95) = p50_p95(v.to_vec());
        println!("| {what} | {p50:.0} ms | {p95:.0} ms |");
        p50
    };
    println!("| On containers, {n} each | p50 | p95 |");
    println!("|---|---:|---:|");
    row("Environment (clone_template: Create, ConfigAuto with one command, Finalize)", &envs);
    row("Deployment (create_snapshot, likewise)", &deployments);
    row("App (run_app: no machine work)", &apps);
    let s50 = row("App start through the phases plugin (task asked → succeeded)", &starts);
    let b50 = row("The same start as bare engine calls (create, start, published port, RFB greeting)", &bare);
    println!("| **Cost of the lifecycle layer on an app start (p50)** | **{:+.0} ms ({:+.1}%)** | |", s50 - b50, (s50 / b50 - 1.0) * 100.0);
    println!();
    let list = |v: &[f64]| v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ");
    println!("Single app starts, ms: through phases {}; bare {}.", list(&starts), list(&bare));
}
