//! Headless Chromium over WebDriver for the browser tests (proxy, demo): chromedriver on
//! loopback, the test's processes ended whatever happens.

use std::{
    net::{TcpListener, TcpStream},
    path::Path,
    thread,
    time::Duration,
};

use serde_json::json;

use super::Server;

/// Run a browser test's steps; then, whatever happened, close the browser and end the
/// test's processes, and on a failure show the server's log before raising it again.
pub async fn in_browser(browser: &fantoccini::Client, procs: Procs, server: &Server, steps: impl std::future::Future<Output = ()>) {
    use futures::FutureExt;
    let result = std::panic::AssertUnwindSafe(steps).catch_unwind().await;
    let _ = browser.clone().close().await;
    drop(procs);
    if let Err(panic) = result {
        eprintln!("the server's log:\n{}", server.log());
        std::panic::resume_unwind(panic);
    }
}

/// Processes a test started, killed when dropped (each by its own pid).
pub struct Procs(pub Vec<std::process::Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port on 127.0.0.1 nothing listens on (for a moment).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Poll `ok` until it holds; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if ok() {
            return;
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// Headless Chromium over WebDriver (chromedriver on loopback), with this machine's flags
/// and a fresh profile under `dir`.
pub async fn chromium(procs: &mut Procs, dir: &Path) -> fantoccini::Client {
    let driver_port = free_port();
    procs.0.push(
        std::process::Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("chromedriver", Duration::from_secs(20), || TcpStream::connect(("127.0.0.1", driver_port)).is_ok());
    let profile = dir.join("chromium-profile");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=800,600", format!("--user-data-dir={}", profile.display())],
        }),
    );
    fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("chromedriver starts a session")
}
