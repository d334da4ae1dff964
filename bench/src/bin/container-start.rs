//! The container bench's measuring side (bench/container.sh runs it): start-to-VNC-ready
//! latency of a container app, through the API and as bare engine calls.
//!
//! - API: `POST /api/v1/container/apps/{app}/start` on a running `daas serve` (db,
//!   testbackend for the `testing` layer, container): instance row, container, the wait
//!   for the RFB greeting, connection row, answer. Timed from sending the request to the
//!   answer; the instance is stopped (untimed) before the next start.
//! - Bare: the same engine work from this process with the container plugin's own
//!   functions (create with the published port, start, read the published port, wait
//!   for the RFB greeting), no host, no database. The container is removed (untimed).
//!
//! Usage: container-start --engine unix:///path --api http://127.0.0.1:PORT --app ID
//! [--n 10] [--image IMAGE]. Prints a markdown table.

use std::time::{Duration, Instant};

use daas_common::{config::ContainerRequestSection, protocols::ContainerSpec};
use daas_plugin_container::{containers, engine::Engine, machine::wait_for_rfb};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn need(name: &str) -> String {
    arg(name).unwrap_or_else(|| {
        eprintln!("container-start: {name} is required");
        std::process::exit(2)
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let p50 = if v.len() % 2 == 1 { v[v.len() / 2] } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0 };
    (p50, v.iter().sum::<f64>() / v.len() as f64, *v.last().unwrap())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (engine_host, api, app) = (need("--engine"), need("--api"), need("--app"));
    let n: usize = arg("--n").and_then(|s| s.parse().ok()).unwrap_or(10);
    let image = arg("--image").unwrap_or_else(|| "localhost/daas-test-desktop:latest".into());
    let engine = Engine::connect(&ContainerRequestSection { host: engine_host, timeout_ms: 30_000, ..Default::default() }).unwrap();
    let http = reqwest::Client::new();

    let (mut bare, mut through_api) = (Vec::new(), Vec::new());
    for round in 0..n {
        // Alternate which side goes first, so neither always meets a warmer engine.
        for side in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            if side == 0 {
                let spec = ContainerSpec {
                    image: image.clone(),
                    ports: vec!["5900".into()],
                    env: vec!["VNC_PASSWORD=bench".into()],
                    labels: [("daas.bench".to_string(), "container-start".to_string())].into(),
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
                let t = Instant::now();
                let resp = http
                    .post(format!("{api}/api/v1/container/apps/{app}/start"))
                    .header("x-test-user-id", "7")
                    .send()
                    .await
                    .expect("POST start");
                let status = resp.status();
                let body: serde_json::Value = resp.json().await.expect("JSON answer");
                through_api.push(ms(t.elapsed()));
                assert!(status.is_success(), "start answered {status}: {body}");
                let instance = body["instance_id"].as_str().unwrap();
                let stop =
                    http.delete(format!("{api}/api/v1/container/instances/{instance}")).header("x-test-user-id", "7").send().await.unwrap();
                assert_eq!(stop.status().as_u16(), 204);
            }
        }
    }
    let (b50, bmean, bmax) = stats(bare.clone());
    let (a50, amean, amax) = stats(through_api.clone());
    println!("| Start of a container app until its VNC port greets with RFB | p50 | mean | max |");
    println!("|---|---:|---:|---:|");
    println!("| Bare engine calls (create, start, published port, RFB greeting) | {b50:.0} ms | {bmean:.0} ms | {bmax:.0} ms |");
    println!("| Through the API (`POST /api/v1/container/apps/{{id}}/start`) | {a50:.0} ms | {amean:.0} ms | {amax:.0} ms |");
    println!("| **Cost of the API path (p50 difference)** | **{:+.0} ms** ({:.2}×) | {:+.0} ms | |", a50 - b50, a50 / b50, amean - bmean);
    println!();
    let list = |v: &[f64]| v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ");
    let spread = |v: &[f64]| (v.iter().copied().fold(f64::MAX, f64::min), v.iter().copied().fold(0.0, f64::max));
    let ((bmin, bmax2), (amin, amax2)) = (spread(&bare), spread(&through_api));
    println!(
        "Single starts, ms: bare {}; API {}. They spread over {bmin:.0}–{bmax2:.0} ms (bare) and {amin:.0}–{amax2:.0} ms (API): \
         a difference of medians smaller than that spread is the engine's noise, not the API's cost.",
        list(&bare),
        list(&through_api)
    );
}
