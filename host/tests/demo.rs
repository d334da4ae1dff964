//! The demo site as `bash scripts/demo` runs it (config/demo, its samples, its demo
//! desktop image), on a real podman service of the test's own: the administrator logs
//! in, the apps page lists the shared `demo-desktop`, its start form opens the viewer,
//! the viewer's WebSocket is the noVNC relay to a real X desktop that shows the app's
//! xterm (read over RFB by the test, and drawn by noVNC in headless Chromium), a
//! command typed into the viewer runs in that xterm inside the container, and
//! stopping the instance removes its container. The demo's VM app boots the guest image
//! on QEMU and headless Chromium shows its console.

mod common;
#[path = "../../plugins/container/tests/support/mod.rs"]
mod support;
#[path = "../../plugins/vm/tests/support/mod.rs"]
mod vm_support;

use std::time::{Duration, Instant};

use common::{browser::*, *};
use reqwest::StatusCode;
use support::{Cleanup, Podman};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, Message};

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// The RFB client side of the noVNC tunnel, as noVNC speaks it: bytes arrive in binary
/// frames of any size and are read as one stream.
struct Rfb {
    ws: Ws,
    pending: Vec<u8>,
}

impl Rfb {
    fn read(&mut self, n: usize) -> Vec<u8> {
        while self.pending.len() < n {
            match self.ws.read().expect("a frame from the viewer's tunnel") {
                Message::Binary(b) => self.pending.extend_from_slice(&b),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("the noVNC tunnel sends binary frames, not {other:?}"),
            }
        }
        self.pending.drain(..n).collect()
    }

    fn u16(&mut self) -> u16 {
        let b = self.read(2);
        u16::from_be_bytes([b[0], b[1]])
    }

    fn u32(&mut self) -> u32 {
        let b = self.read(4);
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    fn send(&mut self, bytes: &[u8]) {
        self.ws.send(Message::Binary(bytes.to_vec())).expect("the tunnel takes the client's bytes");
    }

    /// After the greeting: the client's version, security None (the proxy answered the
    /// VNC password itself), ClientInit and ServerInit; then 32-bit pixels with red in
    /// bits 16..24 and raw encoding only. The screen's (width, height).
    fn init(&mut self) -> (u16, u16) {
        self.send(b"RFB 003.008\n");
        assert_eq!(self.read(2), [1, 1], "the proxy offers the browser security None only");
        self.send(&[1]);
        assert_eq!(self.u32(), 0, "SecurityResult OK");
        self.send(&[1]); // ClientInit, shared
        let (width, height) = (self.u16(), self.u16());
        self.read(16); // the server's pixel format
        let name = self.u32() as usize;
        self.read(name);
        // SetPixelFormat: 32 bits per pixel, depth 24, little-endian, true colour,
        // 255 per channel, red/green/blue shifted by 16/8/0.
        self.send(&[0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
        self.send(&[2, 0, 0, 1, 0, 0, 0, 0]); // SetEncodings: raw
        (width, height)
    }

    /// The whole screen now: little-endian pixels, 4 bytes each.
    fn screen(&mut self, width: u16, height: u16) -> Vec<u8> {
        let [w0, w1] = width.to_be_bytes();
        let [h0, h1] = height.to_be_bytes();
        self.send(&[3, 0, 0, 0, 0, 0, w0, w1, h0, h1]);
        let mut screen = vec![0u8; width as usize * height as usize * 4];
        loop {
            match self.read(1)[0] {
                0 => {
                    self.read(1);
                    for _ in 0..self.u16() {
                        let (x, y, w, h) = (self.u16() as usize, self.u16() as usize, self.u16() as usize, self.u16() as usize);
                        assert_eq!(self.u32(), 0, "only raw rectangles were asked for");
                        let pixels = self.read(w * h * 4);
                        for row in 0..h {
                            let at = ((y + row) * width as usize + x) * 4;
                            screen[at..at + w * 4].copy_from_slice(&pixels[row * w * 4..(row + 1) * w * 4]);
                        }
                    }
                    return screen;
                }
                1 => {
                    self.read(3);
                    let n = self.u16() as usize;
                    self.read(n * 6);
                }
                2 => {}
                3 => {
                    self.read(3);
                    let n = self.u32() as usize;
                    self.read(n);
                }
                t => panic!("an RFB server message of unknown type {t}"),
            }
        }
    }
}

/// The longest run of white pixels in any row. The bare X root is black or the
/// server's black-and-white weave, so a long white run is a window: xterm's background.
fn longest_white_run(screen: &[u8], width: u16) -> usize {
    screen
        .chunks_exact(width as usize * 4)
        .map(|row| {
            let (mut best, mut run) = (0, 0);
            for px in row.chunks_exact(4) {
                run = if px[..3] == [255, 255, 255] { run + 1 } else { 0 };
                best = best.max(run);
            }
            best
        })
        .max()
        .unwrap_or(0)
}

/// The longest white run in every tenth row of the viewer's canvas; null before noVNC
/// has drawn.
const CANVAS_WHITE_RUN: &str = "const c = document.querySelector('#screen canvas');
    if (!c || c.width === 0) return null;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let best = 0;
    for (let y = 0; y < c.height; y += 10) {
        let run = 0;
        for (let x = 0; x < c.width; x++) {
            const i = (y * c.width + x) * 4;
            run = d[i] === 255 && d[i + 1] === 255 && d[i + 2] === 255 ? run + 1 : 0;
            best = Math.max(best, run);
        }
    }
    return best;";

/// Wait up to 30 s until `script` (a measure of the viewer's canvas, null before noVNC
/// has drawn) reaches `at_least`; else fail with what the viewer says.
async fn canvas_until(browser: &fantoccini::Client, script: &str, at_least: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = None;
    while seen.is_none_or(|n| n < at_least) {
        if Instant::now() >= deadline {
            let status = browser.execute("return document.getElementById('status').textContent", vec![]).await.ok();
            panic!("the viewer's canvas does not show {what}: {seen:?} (want {at_least}); the viewer says {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        seen = browser.execute(script, vec![]).await.ok().and_then(|v| v.as_u64());
    }
}

/// The file the test's typed command creates in the desktop's container.
const TYPED: &str = "/tmp/typed-through-novnc";

#[test]
fn the_demo_desktop_starts_from_the_apps_page_shows_its_xterm_through_novnc_and_takes_typed_commands() {
    use fantoccini::{
        actions::{InputSource, KeyAction, KeyActions},
        key::Key,
        Locator,
    };
    let Some(podman) = Podman::start() else { return };
    let status = std::process::Command::new("bash").arg(workspace().join("scripts/container-test-images")).arg("demo").status().unwrap();
    assert!(status.success(), "building the demo desktop image failed");
    let label = format!("test-demo-{}", std::process::id());
    let _cleanup = Cleanup(&podman, format!("daas.site={label}"));
    let data = tempfile::tempdir().unwrap();
    // The demo site's own files; only what is machine-specific comes from the
    // environment: the data directory, the engine, the label that marks our containers.
    let host = podman.host();
    let server = Server::start_with(
        &workspace().join("config/demo"),
        &[
            ("DAAS__DB__DB__DATA_PATH", data.path().to_str().unwrap()),
            ("DAAS__CONTAINER__CONTAINER_REQUEST__HOST", &host),
            ("DAAS__CONTAINER__CONTAINER_REQUEST__SITE_LABEL", &label),
        ],
    );
    let (session, csrf) = browser_login(&server, "admin", "admin");
    let browser = |method: &str, path: &str| {
        http()
            .request(method.parse().unwrap(), server.url(path))
            .header("cookie", format!("daas_session={session}"))
            .header("accept", "text/html")
            .timeout(Duration::from_secs(60))
    };

    // The apps page lists the shared sample app with its start form.
    let page = browser("GET", "/").send().unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().unwrap();
    assert!(html.contains("action=\"/app/demo-desktop\"") && html.contains(">demo-desktop<"), "{html}");

    // Its form starts it (the image is the sample's `daas/desktop:latest`) and goes to
    // the viewer.
    let r = browser("POST", "/app/demo-desktop").form(&[("csrf", csrf.as_str())]).send().unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}\n{}", r.text().unwrap_or_default(), server.log());
    let viewer = r.headers()["location"].to_str().unwrap().to_string();
    let instance = viewer.strip_prefix("/instance/").and_then(|v| v.split_once("?token=")).expect("a viewer link").0.to_string();
    let running = podman.containers_labelled(&format!("daas.instance={instance}"));
    assert_eq!(running.len(), 1, "the desktop runs");
    let container = running[0].clone();
    assert_ne!(podman.cli(&["exec", &container, "ls", TYPED]), TYPED, "nothing typed yet");
    let page = browser("GET", &viewer).send().unwrap().text().unwrap();
    assert!(page.contains("/static/viewer/novnc.js"), "the demo's viewer is noVNC (no guacd here): {page}");

    // The page's WebSocket: the noVNC relay greets as an RFB server once the proxy got
    // past the desktop's VNC password, and the screen shows the app's xterm.
    let request = server.ws_url(&viewer).into_client_request().unwrap();
    let (ws, _) = tungstenite::connect(request).expect("the viewer's tunnel opens");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    let mut rfb = Rfb { ws, pending: vec![] };
    assert_eq!(rfb.read(12), b"RFB 003.008\n", "the noVNC path's greeting");
    let (width, height) = rfb.init();
    // xterm maps its window a moment after the start answered.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut longest = 0;
    while longest < 400 {
        assert!(Instant::now() < deadline, "no xterm window on the {width}x{height} screen (longest white run {longest} px)");
        longest = longest_white_run(&rfb.screen(width, height), width);
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(rfb);

    // What the user sees: the viewer link in a browser, noVNC drawing the same xterm.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let work = tempfile::tempdir().unwrap();
        let mut procs = Procs(vec![]);
        let browser = chromium(&mut procs, work.path()).await;
        in_browser(&browser, procs, &server, async {
            browser.goto(&server.url(&viewer)).await.unwrap();
            canvas_until(&browser, CANVAS_WHITE_RUN, 400, "an xterm (the longest white run)").await;

            // A command typed into the viewer runs in the app's xterm, in the container:
            // keys go browser → proxy → x11vnc → X server → xterm → its shell. The click
            // puts the pointer on the middle of the screen, inside the xterm (80x24 cells
            // of 6x13 px at the top left; without a window manager the keyboard goes to
            // the window under the pointer).
            browser.find(Locator::Css("#screen canvas")).await.unwrap().click().await.unwrap();
            let mut keys = KeyActions::new("keyboard".into());
            for c in format!("touch {TYPED}").chars().chain([char::from(Key::Enter)]) {
                keys = keys.then(KeyAction::Down { value: c }).then(KeyAction::Up { value: c });
            }
            browser.perform_actions(keys).await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            while podman.cli(&["exec", &container, "ls", TYPED]) != TYPED {
                assert!(Instant::now() < deadline, "the typed command never ran in the app's xterm: no {TYPED} in the container");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
    });

    // The page's stop button: the container is gone, and so is the instance.
    let r = browser("DELETE", &format!("/instance/{instance}")).header("x-csrf-token", &csrf).send().unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", r.text().unwrap_or_default());
    assert!(podman.containers_labelled(&format!("daas.site={label}")).is_empty(), "the desktop's container is gone");
    assert!(browser("GET", "/").send().unwrap().text().unwrap().contains("Nothing running."));
}

/// How many of every 16th pixel of the viewer's canvas are not black; null before
/// noVNC has drawn.
const CANVAS_LIT: &str = "const c = document.querySelector('#screen canvas');
    if (!c || c.width === 0) return null;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let lit = 0;
    for (let i = 0; i < d.length; i += 64) {
        if (d[i] > 16 || d[i + 1] > 16 || d[i + 2] > 16) lit++;
    }
    return lit;";

#[test]
fn the_demo_vm_app_boots_on_qemu_and_chromium_shows_its_console() {
    let Some(_image) = vm_support::GuestImage::get() else { return };
    let data = tempfile::tempdir().unwrap();
    let state = data.path().join("vm");
    let _cleanup = vm_support::Cleanup(state.clone());
    let server = Server::start_with(
        &workspace().join("config/demo"),
        &[
            ("DAAS__DB__DB__DATA_PATH", data.path().to_str().unwrap()),
            ("DAAS__VM__VM_API__STATE_DIR", state.to_str().unwrap()),
            ("DAAS__VM__VM_API__ACCEL", "tcg"),
        ],
    );
    let (session, csrf) = browser_login(&server, "admin", "admin");
    let browser = |method: &str, path: &str| {
        http()
            .request(method.parse().unwrap(), server.url(path))
            .header("cookie", format!("daas_session={session}"))
            .header("accept", "text/html")
            .timeout(Duration::from_secs(90))
    };
    let html = browser("GET", "/").send().unwrap().text().unwrap();
    assert!(html.contains("action=\"/app/demo-vm-desktop\""), "{html}");

    // Start: a linked clone of the template boots, the app's line goes to its console.
    let r = browser("POST", "/app/demo-vm-desktop").form(&[("csrf", csrf.as_str())]).send().unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}\n{}", r.text().unwrap_or_default(), server.log());
    let viewer = r.headers()["location"].to_str().unwrap().to_string();
    let instance = viewer.strip_prefix("/instance/").and_then(|v| v.split_once("?token=")).expect("a viewer link").0.to_string();
    assert_eq!(vm_support::qemu_processes(&state).len(), 1, "the VM runs");

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let work = tempfile::tempdir().unwrap();
        let mut procs = Procs(vec![]);
        let browser = chromium(&mut procs, work.path()).await;
        in_browser(&browser, procs, &server, async {
            browser.goto(&server.url(&viewer)).await.unwrap();
            // The guest's banner and shell in white on black light ~370 samples; QEMU's
            // own one-line "Guest has not initialized the display" far fewer.
            canvas_until(&browser, CANVAS_LIT, 250, "the VM's console (lit samples)").await;
        })
        .await;
    });

    // The page's stop button: the VM is gone.
    let r = browser("DELETE", &format!("/instance/{instance}")).header("x-csrf-token", &csrf).send().unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", r.text().unwrap_or_default());
    assert!(vm_support::qemu_processes(&state).is_empty(), "the VM is gone");
}
