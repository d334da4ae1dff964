//! Start-up and graceful shutdown.

mod common;

use std::time::{Duration, Instant};

use common::{client, site_dir, Server};

#[test]
fn sigterm_drains_in_flight_requests_and_stops_every_plugin() {
    let mut server = Server::start(&site_dir("full"));
    let url = server.url("/api/v1/testbackend/slow?ms=1500");
    let slow = std::thread::spawn(move || {
        let r = client().get(url).send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    });
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    server.terminate();
    let (status, body) = slow.join().unwrap();
    assert_eq!(status, 200, "the in-flight request completes: {body}");
    assert!(body.contains("waited 1500 ms"));
    let exit = server.wait(Duration::from_secs(10)).expect("the server exits after draining");
    assert!(exit.success(), "{exit:?}");
    assert!(signalled.elapsed() < Duration::from_secs(5));
    let log = server.log();
    assert!(stopped(&log, "info") && stopped(&log, "testbackend"), "{log}");
    assert!(log.contains("testbackend stopped"), "the plugin's own stop handler ran: {log}");
    let refused = client().get(server.url("/healthz")).send();
    assert!(refused.is_err(), "no longer accepting connections");
}

/// The log lines that say the host stopped `plugin`.
fn stopped(log: &str, plugin: &str) -> bool {
    log.lines().any(|l| l.contains("plugin stopped") && l.contains(&format!("\"plugin\":\"{plugin}\"")))
}

#[test]
fn sigterm_during_start_up_stops_the_plugins_already_started() {
    // info starts at once; testbackend then takes 20 s to start.
    let site = common::TempSite::new(&[
        (
            "extensions.toml",
            "[extensions]\nshutdown_grace_ms = 2000\n[[extensions.plugin]]\nname = \"info\"\n\
             [[extensions.plugin]]\nname = \"testbackend\"\n[extensions.plugin.settings]\nstart_delay_ms = 20000\n",
        ),
        ("logging.toml", "[log]\nformat = \"json\"\n"),
    ]);
    let (mut server, listening) = Server::spawn(site.path(), &[]);
    assert!(server.wait_for_log("testbackend starting"), "{}", server.log());
    let signalled = Instant::now();
    server.terminate();
    let exit = server.wait(Duration::from_secs(10)).expect("the server exits during start-up");
    assert!(signalled.elapsed() < Duration::from_secs(8), "{:?}", signalled.elapsed());
    assert!(exit.success(), "an asked-for stop is no failure: {exit:?}");
    assert!(listening.try_recv().is_err(), "it never listened");
    let log = server.log();
    assert!(stopped(&log, "info"), "the plugin that had started was stopped: {log}");
    assert!(log.contains("interrupted by a signal while plugin `testbackend` was starting"), "{log}");
}

#[test]
fn shutdown_waits_for_event_handlers_under_way() {
    let mut server = Server::start(&site_dir("full"));
    let r = client().post(server.url("/api/v1/testbackend/events/slow.1500")).send().unwrap();
    assert_eq!(r.status(), 200);
    server.terminate();
    let exit = server.wait(Duration::from_secs(10)).expect("the server exits");
    assert!(exit.success(), "{exit:?}");
    let log = server.log();
    let handled = log.find("testbackend: slow event handled").unwrap_or_else(|| panic!("the handler ran to its end: {log}"));
    let stop = log.find("testbackend stopped").expect("the plugin stopped");
    assert!(handled < stop, "the handler finished before its plugin stopped: {log}");
}

#[test]
fn a_request_longer_than_the_grace_period_does_not_hold_the_shutdown() {
    let site = common::TempSite::new(&[(
        "extensions.toml",
        "[extensions]\nshutdown_grace_ms = 500\n[[extensions.plugin]]\nname = \"testbackend\"\n",
    )]);
    let mut server = Server::start(site.path());
    let url = server.url("/api/v1/testbackend/slow?ms=20000");
    let _slow = std::thread::spawn(move || client().get(url).send().map(|r| r.status().as_u16()));
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    server.terminate();
    let exit = server.wait(Duration::from_secs(10)).expect("exits after the grace period");
    assert!(exit.success());
    assert!(signalled.elapsed() < Duration::from_secs(5), "{:?}", signalled.elapsed());
}

#[test]
fn abandoned_requests_are_dropped_inside_the_plugin_without_taking_the_host_down() {
    let server = Server::start(&site_dir("full"));
    // Over HTTP/2 a client that gives up resets its stream, and the server drops the
    // handler's future at once (HTTP/1 only notices when it writes the answer).
    let impatient = reqwest::blocking::Client::builder().http2_prior_knowledge().timeout(Duration::from_millis(300)).build().unwrap();
    // The handler's future is dropped when the client goes away; its drop needs the
    // plugin's runtime (spawns a task) ...
    assert!(impatient.get(server.url("/api/v1/testbackend/slow?ms=5000&drop=spawn")).send().is_err());
    assert!(server.wait_for_log("abandoned request cleaned up"), "{}", server.log());
    // ... or panics.
    assert!(impatient.get(server.url("/api/v1/testbackend/slow?ms=5000&drop=panic")).send().is_err());
    assert!(server.wait_for_log("panicked while being dropped"), "{}", server.log());
    assert_eq!(client().get(server.url("/healthz")).send().unwrap().status(), 200, "the host is still up");
}

#[tokio::test]
async fn shutdown_closes_open_websockets_with_going_away() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, protocol::frame::coding::CloseCode, Message};
    let mut server = Server::start(&site_dir("full"));
    let mut req = server.ws_url("/api/v1/testbackend/echo").into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "echo".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    server.terminate();
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("closed within the grace").unwrap().unwrap();
    match msg {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Away);
            assert_eq!(frame.reason, "server shutting down");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    let exit = tokio::task::spawn_blocking(move || server.wait(Duration::from_secs(10))).await.unwrap();
    assert!(exit.expect("the server exits").success());
}

/// Every plugin's ready hook runs once all have started (other plugins' backends answer
/// by then), before the server listens; a failing hook stops the start, naming the
/// plugin, unless the plugin is optional.
#[test]
fn ready_hooks_run_once_every_plugin_has_started() {
    let server = Server::start(&site_dir("full"));
    assert!(server.wait_for_log("testbackend ready: the info backend answers"), "{}", server.log());

    let failing = |optional: bool| {
        common::TempSite::new(&[(
            "extensions.toml",
            &format!(
                "[extensions]\n[[extensions.plugin]]\nname = \"info\"\n[[extensions.plugin]]\nname = \"testbackend\"\noptional = {optional}\n\
                 [extensions.plugin.settings]\nfail_ready = true\n"
            ),
        )])
    };
    let site = failing(false);
    let (code, _, err) = common::run(&["serve", "--site", site.path().to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("plugin `testbackend` failed when every plugin had started (its ready hook): asked to fail"), "{err}");

    let site = failing(true);
    let server = Server::start(site.path());
    assert!(server.wait_for_log("optional plugin's ready hook failed"), "{}", server.log());
    assert_eq!(client().get(server.url("/healthz")).send().unwrap().status(), 200);
}
