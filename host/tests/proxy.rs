//! The proxy plugin through the real host with the real db, auth and proxy plugins:
//!
//! - the Guacamole path against a fake guacd written from the protocol reference
//!   (PROTOCOLS.md §1: `select`, `args` with a version and argument names, the client's
//!   answers, `ready`, an instruction stream with multi-byte text split across TCP
//!   writes, `error` or `disconnect` with the socket left open, as guacd 1.6.1 leaves
//!   it), since guacd itself does not run here; and how each side's leaving reaches
//!   the other (guacd must hear `disconnect`);
//! - who may open a viewer (the owner's session, the viewer link's token; everyone
//!   else 404) and that a connection's host, port and password never reach a page;
//! - the Guacamole viewer in headless Chromium against a fake guacd that draws a colour
//!   (without the echoed subprotocol Chrome would not open the tunnel at all), and
//!   reconnects when guacd drops the connection;
//! - the noVNC path end to end: Xvfb + x11vnc (with a VNC password) on loopback, the
//!   viewer in headless Chromium over WebDriver: the canvas shows the colour the X
//!   server was painted with, and a key typed into the page reaches the X server.
//!
//! Rows (objects, instances, connections) come in through `daas import` (the db
//! backend) between two runs of the server: instances and connections have no REST
//! routes; the users through the auth admin API.

mod common;

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    sync::mpsc,
    thread,
    time::Duration,
};

use common::{browser::*, *};
use reqwest::{blocking::Client, redirect::Policy};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, protocol::frame::coding::CloseCode, Message};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const TOKEN: &str = "vt_3q2rVb8k1Zp0XyWc7nLm4sQ9uEaHdJf";
const OTHER_TOKEN: &str = "vt_Yh7cPq2LmZr8XwVb3nKs5tGd9uEaJf1";
const PASSWORD: &str = "pässwörd€";
/// The desktop's VNC password in the end-to-end test (x11vnc's `-passwd`).
const VNC_PASSWORD: &str = "x11-s3cr";

fn site(guacd: &str, default_path: &str) -> TempSite {
    let webroot = workspace().join("webroot");
    TempSite::new(&[
        (
            "extensions.toml",
            "[extensions]\nlayers = [\"auth\"]\n\n[[extensions.plugin]]\nname = \"db\"\n\n[[extensions.plugin]]\nname = \"auth\"\n\n[[extensions.plugin]]\nname = \"proxy\"\n",
        ),
        (
            "db.toml",
            &format!("[db]\ndb_type = \"sqlite\"\ndata_path = \"data\"\nsecret_key = \"{KEY}\"\nadmin_credentials = \"admin:s3cret!\"\n"),
        ),
        (
            "proxy.toml",
            &format!(
                "[viewer]\nwebroot = \"{}\"\ndefault_path = \"{default_path}\"\nkeepalive_seconds = 1\n\n[guacd]\naddress = \"{guacd}\"\ntimeout_ms = 5000\n",
                webroot.display()
            ),
        ),
    ])
}

fn http() -> Client {
    Client::builder().redirect(Policy::none()).timeout(Duration::from_secs(20)).build().unwrap()
}

/// A bearer token for `user`.
fn bearer(server: &Server, user: &str, password: &str) -> String {
    let resp = http().post(server.url("/api/v1/auth/token")).json(&json!({"username": user, "password": password})).send().unwrap();
    assert_eq!(resp.status(), 200, "login of {user}");
    resp.json::<Value>().unwrap()["token"].as_str().unwrap().to_string()
}

/// Users ann and bob (created by the admin); their ids.
fn users(server: &Server) -> (i64, i64) {
    let admin = bearer(server, "admin", "s3cret!");
    let mut ids = vec![];
    for name in ["ann", "bob"] {
        let resp = http()
            .post(server.url("/api/v1/auth/users"))
            .bearer_auth(&admin)
            .json(&json!({"name": name, "password": format!("{name}-password-1")}))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
        ids.push(resp.json::<Value>().unwrap()["id"].as_i64().unwrap());
    }
    (ids[0], ids[1])
}

/// Import objects, instances and connections: `inst-g` (Guacamole path, token
/// [`TOKEN`]) and `inst-v` (noVNC path to `vnc_port`, token [`OTHER_TOKEN`]), both ann's.
fn import_rows(site: &Path, ann: i64, vnc_port: u16) {
    let yaml = format!(
        r#"
daas_objects:
  - {{id: app-g, id_owner: {ann}, id_user: "Guacamole desktop", object_type: container, object_mode: app, viewer_contype: guacamole, viewer_resolution: 1280x800, viewer_colors: 24, viewer_resize: local, viewer_scale: both}}
  - {{id: app-v, id_owner: {ann}, object_type: container, object_mode: app, viewer_contype: novnc, viewer_resolution: 640x480, viewer_resize: none, viewer_scale: none}}
instances:
  - {{id: inst-g, id_owner: {ann}, id_app: app-g, id_con: con-g, host: desktop.internal}}
  - {{id: inst-v, id_owner: {ann}, id_app: app-v, id_con: con-v, host: 127.0.0.1}}
guacamole_connections:
  - {{id: con-g, user: ann, protocol: vnc, hostname: desktop.internal, port: 5917, password: "{PASSWORD}", viewer_token: {TOKEN}, viewer_url: "/instance/inst-g?token={TOKEN}"}}
  - {{id: con-v, user: ann, protocol: vnc, hostname: 127.0.0.1, port: {vnc_port}, password: "{VNC_PASSWORD}", viewer_token: {OTHER_TOKEN}, viewer_url: "/instance/inst-v?token={OTHER_TOKEN}"}}
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.yaml");
    std::fs::write(&file, yaml).unwrap();
    let (code, out, err) = run(&["import", file.to_str().unwrap(), "--site", site.to_str().unwrap()]);
    assert_eq!(code, 0, "import failed:\n{out}\n{err}");
}

/// A server with users ann and bob and the rows of [`import_rows`].
fn prepared(guacd: &str, default_path: &str, vnc_port: u16) -> (TempSite, Server, i64) {
    let site = site(guacd, default_path);
    let first = Server::start(site.path());
    let (ann, _bob) = users(&first);
    drop(first);
    import_rows(site.path(), ann, vnc_port);
    let server = Server::start(site.path());
    (site, server, ann)
}

// ---- a fake guacd ------------------------------------------------------------------------

/// What the fake guacd's next read brought.
enum Next {
    Instruction(Vec<String>),
    /// The proxy closed the connection (or reset it, closing with guacd's data unread).
    Closed,
    /// Nothing within the socket's read timeout.
    Quiet,
}

/// The next whole instruction (lengths in code points) from a blocking stream.
fn next_instruction(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Next {
    loop {
        if let Some((elements, used)) = parse_one(pending) {
            pending.drain(..used);
            return Next::Instruction(elements);
        }
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => return Next::Closed,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return Next::Quiet,
            Err(_) => return Next::Closed,
        }
    }
}

/// Read one whole instruction; `None` once the stream ends or stays quiet.
fn read_instruction(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Option<Vec<String>> {
    match next_instruction(stream, pending) {
        Next::Instruction(i) => Some(i),
        Next::Closed | Next::Quiet => None,
    }
}

/// The first whole instruction of `bytes` and its length in bytes, if there is one.
/// Written from the protocol reference independently of the plugin's parser.
fn parse_one(bytes: &[u8]) -> Option<(Vec<String>, usize)> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap(),
    };
    let mut elements = vec![];
    let mut rest = text;
    loop {
        let (len, after) = rest.split_once('.')?;
        let len: usize = len.parse().expect("a decimal length");
        let value: String = after.chars().take(len).collect();
        if value.chars().count() < len {
            return None;
        }
        let after = &after[value.len()..];
        elements.push(value);
        match after.chars().next()? {
            ',' => rest = &after[1..],
            ';' => return Some((elements, text.len() - after.len() + 1)),
            other => panic!("bad terminator {other:?}"),
        }
    }
}

fn encode(elements: &[&str]) -> String {
    let parts: Vec<String> = elements.iter().map(|e| format!("{}.{}", e.chars().count(), e)).collect();
    format!("{};", parts.join(","))
}

/// What the fake guacd saw on one connection.
#[derive(Debug, Default)]
struct Seen {
    handshake: Vec<Vec<String>>,
    /// The browser's instructions, up to key 65307 or the end of the connection.
    after: Vec<Vec<String>>,
    /// What arrived after the fake ended the session.
    ending: Vec<Vec<String>>,
    /// The proxy closed the connection (not the fake giving up waiting for it).
    closed: bool,
}

/// How one connection to the fake guacd goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    /// `error` 519 in answer to `select`.
    Refuse,
    /// At key 65307 from the browser, `error` 519 (guacd failing).
    EndWithError,
    /// At key 65307 from the browser, `disconnect` (guacd ending the session).
    EndWithDisconnect,
}

/// The multi-byte instruction guacd streams in pieces split inside characters.
fn multibyte_instruction() -> String {
    encode(&["name", "Zoë’s 桌面 😀"])
}

/// A fake guacd for one connection per plan, in order, each reporting what it saw once
/// it is over: the handshake (with these `args`), then a stream written in pieces with
/// pauses, then the client's instructions until the connection closes or the plan's
/// ending. After its ending it keeps the connection open, as guacd 1.6.1 does until the
/// client leaves, and keeps talking (`sync` every 200 ms) until the proxy closes it.
fn fake_guacd(args: Vec<&'static str>, plans: Vec<Plan>) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for plan in plans {
            let Ok((mut s, _)) = listener.accept() else { return };
            let _ = tx.send(guacd_connection(&mut s, &args, plan));
        }
    });
    (address, rx)
}

fn guacd_connection(s: &mut TcpStream, args: &[&str], plan: Plan) -> Seen {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_nodelay(true).unwrap();
    let mut pending = vec![];
    let mut seen = Seen::default();
    let select = read_instruction(s, &mut pending).unwrap();
    seen.handshake.push(select);
    if plan == Plan::Refuse {
        s.write_all(encode(&["error", "Connection refused by the remote desktop.", "519"]).as_bytes()).unwrap();
        return seen;
    }
    let mut all = vec!["args"];
    all.extend(args);
    s.write_all(encode(&all).as_bytes()).unwrap();
    loop {
        let i = read_instruction(s, &mut pending).unwrap();
        let done = i[0] == "connect";
        seen.handshake.push(i);
        if done {
            break;
        }
    }
    s.write_all(b"5.ready,37.$260d01da-779b-4ee9-afc1-c16bae885cc7;").unwrap();
    // The stream: whole instructions, one of them split inside a multi-byte
    // character and across writes.
    let stream = format!("{}{}{}", encode(&["size", "0", "1280", "800"]), multibyte_instruction(), encode(&["sync", "1234"]));
    let bytes = stream.as_bytes();
    // Inside "ë" (2 bytes) and inside "😀" (4 bytes).
    let cut1 = stream.find('ë').unwrap() + 1;
    let cut2 = stream.find('😀').unwrap() + 2;
    assert!(!stream.is_char_boundary(cut1) && !stream.is_char_boundary(cut2));
    for piece in [&bytes[..cut1], &bytes[cut1..cut2], &bytes[cut2..]] {
        s.write_all(piece).unwrap();
        s.flush().unwrap();
        thread::sleep(Duration::from_millis(150));
    }
    loop {
        match next_instruction(s, &mut pending) {
            Next::Instruction(i) => {
                let stop = i[0] == "key" && i.get(1).map(String::as_str) == Some("65307");
                seen.after.push(i);
                if stop {
                    break;
                }
            }
            Next::Closed => {
                seen.closed = true;
                return seen;
            }
            Next::Quiet => return seen,
        }
    }
    let ending = match plan {
        Plan::EndWithDisconnect => encode(&["disconnect"]),
        _ => encode(&["error", "The remote desktop went away.", "519"]),
    };
    s.write_all(ending.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        match next_instruction(s, &mut pending) {
            Next::Instruction(i) => seen.ending.push(i),
            Next::Closed => {
                seen.closed = true;
                break;
            }
            Next::Quiet => {
                if s.write_all(encode(&["sync", "99999"]).as_bytes()).is_err() {
                    seen.closed = true;
                    break;
                }
            }
        }
    }
    seen
}

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

fn open_tunnel(
    server: &Server,
    query: &str,
    bearer: Option<&str>,
) -> Result<(Ws, tungstenite::handshake::client::Response), Box<tungstenite::Error>> {
    let mut req = server.ws_url(&format!("/instance/inst-g?{query}")).into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "guacamole".parse().unwrap());
    if let Some(b) = bearer {
        req.headers_mut().insert("authorization", format!("Bearer {b}").parse().unwrap());
    }
    let (ws, resp) = tungstenite::connect(req).map_err(Box::new)?;
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    Ok((ws, resp))
}

fn next_text(ws: &mut Ws) -> String {
    loop {
        match ws.read().expect("a frame from the tunnel") {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Split a frame into its whole instructions; panics on a partial one.
fn instructions_of(frame: &str) -> Vec<Vec<String>> {
    let mut out = vec![];
    let mut bytes = frame.as_bytes();
    while !bytes.is_empty() {
        let (i, used) = parse_one(bytes).unwrap_or_else(|| panic!("frame holds a partial instruction: {frame:?}"));
        out.push(i);
        bytes = &bytes[used..];
    }
    out
}

#[test]
fn guacamole_tunnel_handshakes_from_args_relays_whole_instructions_and_answers_pings() {
    let (guacd, seen) = fake_guacd(
        vec!["VERSION_1_5_0", "hostname", "port", "password", "read-only", "color-depth", "a-future-argument"],
        vec![Plan::EndWithError],
    );
    let (_site, server, _) = prepared(&guacd, "guacamole", 1);

    let query = format!("token={TOKEN}&GUAC_WIDTH=1024&GUAC_HEIGHT=768&GUAC_DPI=120&GUAC_AUDIO=audio%2FL16&GUAC_IMAGE=image%2Fpng&GUAC_TIMEZONE=Europe%2FBerlin");
    let (mut ws, resp) = open_tunnel(&server, &query, None).expect("the tunnel opens with the viewer token");
    assert_eq!(resp.headers().get("sec-websocket-protocol").unwrap(), "guacamole", "the subprotocol is echoed (Chrome needs it)");

    // The tunnel's UUID comes first.
    let first = instructions_of(&next_text(&mut ws));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0][0], "", "internal opcode");
    assert_eq!(first[0][1].len(), 36, "a UUID: {:?}", first[0]);

    // guacd's stream arrives as whole instructions, multi-byte text intact.
    let mut got = vec![];
    while got.len() < 3 {
        let frame = next_text(&mut ws);
        let parsed = instructions_of(&frame);
        got.extend(parsed.into_iter().filter(|i| i[0] != "nop"));
    }
    assert_eq!(got[0], ["size", "0", "1280", "800"]);
    assert_eq!(got[1], ["name", "Zoë’s 桌面 😀"]);
    assert_eq!(got[2], ["sync", "1234"]);

    // A ping is answered by the proxy and never reaches guacd.
    ws.send(Message::text("0.,4.ping,13.1700000000123;")).unwrap();
    loop {
        let frame = instructions_of(&next_text(&mut ws));
        if frame.iter().any(|i| i[0].is_empty()) {
            assert_eq!(frame, [vec!["".to_string(), "ping".into(), "1700000000123".into()]]);
            break;
        }
    }
    ws.send(Message::text(encode(&["sync", "1234"]))).unwrap();
    ws.send(Message::text(encode(&["clipboard", "7", "text/plain"]) + &encode(&["key", "65307", "1"]))).unwrap();

    // guacd then fails: its error reaches the browser, and the close carries the status.
    let mut error = None;
    let close = loop {
        match ws.read() {
            Ok(Message::Text(t)) => {
                for i in instructions_of(&t) {
                    if i[0] == "error" {
                        error = Some(i);
                    }
                }
            }
            Ok(Message::Close(frame)) => break frame,
            Ok(_) => {}
            Err(e) => panic!("the tunnel ended without a close frame: {e}"),
        }
    };
    assert_eq!(error.unwrap(), ["error", "The remote desktop went away.", "519"]);
    let close = close.expect("a close frame with a reason");
    assert_eq!(close.code, CloseCode::Error, "UPSTREAM_NOT_FOUND closes with 1011");
    assert_eq!(close.reason, "519");

    let seen = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    let h = &seen.handshake;
    assert_eq!(h[0], ["select", "vnc"]);
    assert_eq!(h[1], ["size", "1024", "768", "120"], "the browser's size and dpi");
    assert_eq!(h[2], ["audio", "audio/L16"]);
    assert_eq!(h[3], ["video"]);
    assert_eq!(h[4], ["image", "image/png"]);
    assert_eq!(h[5], ["timezone", "Europe/Berlin"]);
    // No user behind a viewer link: no `name`. `connect` follows guacd's own names.
    assert_eq!(h[6], ["connect", "VERSION_1_5_0", "desktop.internal", "5917", PASSWORD, "", "24", ""]);
    assert_eq!(h.len(), 7);
    let after: Vec<&str> = seen.after.iter().map(|i| i[0].as_str()).filter(|op| *op != "nop").collect();
    assert_eq!(after, ["sync", "clipboard", "key"], "the ping was not forwarded");
}

#[test]
fn guacd_failures_reach_the_browser_as_error_and_close_status() {
    // guacd refuses in the handshake.
    let (guacd, _seen) = fake_guacd(vec![], vec![Plan::Refuse]);
    let (_site, server, _) = prepared(&guacd, "guacamole", 1);
    let (mut ws, _) = open_tunnel(&server, &format!("token={TOKEN}"), None).unwrap();
    let frame = instructions_of(&next_text(&mut ws));
    assert_eq!(frame, [vec!["error".to_string(), "Connection refused by the remote desktop.".into(), "519".into()]]);
    match ws.read().unwrap() {
        Message::Close(Some(f)) => assert_eq!((f.code, &*f.reason), (CloseCode::Error, "519")),
        other => panic!("{other:?}"),
    }
    drop(server);

    // guacd is not there at all.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let (_site, server, _) = prepared(&closed, "guacamole", 1);
    let (mut ws, _) = open_tunnel(&server, &format!("token={TOKEN}"), None).unwrap();
    let frame = instructions_of(&next_text(&mut ws));
    assert_eq!(frame[0][0], "error");
    assert_eq!(frame[0][2], "519", "UPSTREAM_NOT_FOUND");
    assert!(!frame[0][1].contains("desktop.internal") && !frame[0][1].contains("5917"), "no connection details: {frame:?}");
}

/// Open a tunnel to inst-g and read what the fake guacd sends first (the UUID, then its
/// stream of three instructions).
fn open_past_the_stream(server: &Server) -> Ws {
    let (mut ws, _) = open_tunnel(server, &format!("token={TOKEN}"), None).unwrap();
    next_text(&mut ws); // the UUID
    let mut stream = 0;
    while stream < 3 {
        stream += instructions_of(&next_text(&mut ws)).iter().filter(|i| i[0] != "nop").count();
    }
    ws
}

/// The browser leaving without `disconnect` (a close frame, or its socket dropping):
/// guacd must hear `disconnect` before its socket closes, or guacd 1.6.1 keeps the
/// desktop session for 12 to 15 s ("User is not responding").
#[test]
fn the_browser_leaving_tells_guacd_disconnect_before_its_socket_closes() {
    let (guacd, seen) = fake_guacd(vec!["VERSION_1_5_0", "hostname"], vec![Plan::EndWithError; 2]);
    let (_site, server, _) = prepared(&guacd, "guacamole", 1);
    for how in ["a close frame", "the socket dropping"] {
        let mut ws = open_past_the_stream(&server);
        ws.send(Message::text(encode(&["mouse", "10", "20", "0"]))).unwrap();
        if how == "a close frame" {
            ws.close(None).unwrap();
            while ws.read().is_ok() {}
        } else {
            drop(ws);
        }
        let seen = seen.recv_timeout(Duration::from_secs(25)).unwrap();
        assert!(seen.closed, "{how}: the proxy closes guacd's connection");
        let ops: Vec<&str> = seen.after.iter().map(|i| i[0].as_str()).filter(|op| *op != "nop").collect();
        assert_eq!(ops, ["mouse", "disconnect"], "{how}: `disconnect` is the last thing guacd gets");
    }
}

/// guacd ends the session with `error` or `disconnect` and, as guacd 1.6.1 does, keeps
/// its socket open and goes on talking: the browser gets that instruction and then the
/// close at once (nothing guacd sends after it, where the tunnel used to stay open until
/// a keep-alive failed), and guacd hears `disconnect` before its socket closes.
#[test]
fn guacd_ending_the_session_closes_the_browser_at_once_and_guacd_hears_disconnect() {
    let (guacd, seen) = fake_guacd(vec!["VERSION_1_5_0", "hostname"], vec![Plan::EndWithError, Plan::EndWithDisconnect]);
    let (_site, server, _) = prepared(&guacd, "guacamole", 1);
    for (ending, close) in
        [(vec!["error", "The remote desktop went away.", "519"], (CloseCode::Error, "519")), (vec!["disconnect"], (CloseCode::Normal, "0"))]
    {
        let mut ws = open_past_the_stream(&server);
        ws.send(Message::text(encode(&["key", "65307", "1"]))).unwrap();
        // The fake sends `sync` 200 ms after its ending and every 200 ms from then on,
        // for 20 s: one reaching the browser means the tunnel stayed open.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut got: Vec<Vec<String>> = vec![];
        let frame = loop {
            assert!(std::time::Instant::now() < deadline, "{}: no close within 10 s; got {got:?}", ending[0]);
            match ws.read() {
                Ok(Message::Text(t)) => {
                    got.extend(instructions_of(&t).into_iter().filter(|i| i[0] != "nop"));
                    assert!(got.len() <= 1, "{}: guacd's instructions after its ending reached the browser: {got:?}", ending[0]);
                }
                Ok(Message::Close(frame)) => break frame,
                Ok(_) => {}
                Err(e) => panic!("{}: the tunnel ended without a close frame: {e}", ending[0]),
            }
        };
        assert_eq!(got, [ending.as_slice()], "the ending reaches the browser before the close");
        let frame = frame.expect("a close frame with a reason");
        assert_eq!((frame.code, &*frame.reason), close, "{}", ending[0]);

        let seen = seen.recv_timeout(Duration::from_secs(25)).unwrap();
        assert!(seen.closed, "{}: the proxy closes guacd's connection", ending[0]);
        let ops: Vec<&str> = seen.ending.iter().map(|i| i[0].as_str()).filter(|op| *op != "nop").collect();
        assert_eq!(ops, ["disconnect"], "{}: guacd hears `disconnect` before its socket closes", ending[0]);
    }
}

/// A browser sends input as a burst of small frames (noVNC and guacamole-common-js send
/// one per event); the proxy joins the frames that arrive together into one write.
/// Whatever it joins, guacd must see every instruction once, in order, and none of the
/// tunnel's own pings, which the proxy answers, even one in the middle of a frame.
#[test]
fn a_burst_of_input_reaches_guacd_whole_in_order_and_pings_are_answered_by_the_proxy() {
    let (guacd, seen) = fake_guacd(vec!["VERSION_1_5_0", "hostname"], vec![Plan::EndWithError]);
    let (_site, server, _) = prepared(&guacd, "guacamole", 1);
    let (mut ws, _) = open_tunnel(&server, &format!("token={TOKEN}"), None).unwrap();
    next_text(&mut ws); // the UUID

    const MOVES: usize = 3000;
    let ping = |n: usize| encode(&["", "ping", &n.to_string()]);
    let mut pings = 0;
    for i in 0..MOVES {
        let mouse = encode(&["mouse", &i.to_string(), "400", "0"]);
        // Every 500th frame carries a ping before its pointer move.
        let frame = if i % 500 == 250 {
            pings += 1;
            ping(i) + &mouse
        } else {
            mouse
        };
        ws.write(Message::text(frame)).unwrap();
    }
    ws.write(Message::text(encode(&["key", "65307", "1"]))).unwrap();
    ws.flush().unwrap();

    let mut answered = vec![];
    // The proxy's keep-alive keeps the tunnel open: lost input would leave it waiting.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        assert!(std::time::Instant::now() < deadline, "guacd never got the final key (pings answered: {answered:?})");
        match ws.read() {
            Ok(Message::Text(t)) => {
                answered.extend(instructions_of(&t).into_iter().filter(|i| i[0].is_empty()).map(|i| i[2].clone()));
            }
            Ok(Message::Close(_)) => break,
            Ok(_) => {}
            Err(e) => panic!("the tunnel ended without a close frame: {e}"),
        }
    }
    let want: Vec<String> = (0..MOVES).filter(|i| i % 500 == 250).map(|i| i.to_string()).collect();
    assert_eq!(answered, want, "every ping answered once, in order");
    assert_eq!(answered.len(), pings);

    let seen = seen.recv_timeout(Duration::from_secs(20)).unwrap();
    let after: Vec<&Vec<String>> = seen.after.iter().filter(|i| i[0] != "nop").collect();
    assert_eq!(after.len(), MOVES + 1, "every instruction arrived once");
    for (i, got) in after[..MOVES].iter().enumerate() {
        assert_eq!(**got, ["mouse".to_string(), i.to_string(), "400".into(), "0".into()], "instruction {i}");
    }
    assert_eq!(after[MOVES][0], "key");
}

/// A fake desktop's side of the RFB handshake with the proxy: version 3.8, VNC
/// Authentication (any answer passes). The version and security type the proxy chose.
fn desktop_security(s: &mut TcpStream) -> ([u8; 12], u8) {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"RFB 003.008\n").unwrap();
    let mut version = [0u8; 12];
    s.read_exact(&mut version).unwrap();
    s.write_all(&[1, 2]).unwrap(); // one security type: VNC Authentication
    let mut chosen = [0u8; 1];
    s.read_exact(&mut chosen).unwrap();
    s.write_all(b"0123456789abcdef").unwrap();
    let mut response = [0u8; 16];
    s.read_exact(&mut response).unwrap();
    s.write_all(&0u32.to_be_bytes()).unwrap();
    (version, chosen[0])
}

/// Open inst-v's noVNC relay and go through the proxy's greeting (it plays the server,
/// security None) up to where the desktop waits for ClientInit.
fn open_novnc(server: &Server) -> Ws {
    let (mut ws, _) = tungstenite::connect(server.ws_url(&format!("/instance/inst-v?token={OTHER_TOKEN}"))).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    let mut from_proxy = vec![];
    let mut expect = |ws: &mut Ws, want: &[u8]| {
        while from_proxy.len() < want.len() {
            match ws.read().unwrap() {
                Message::Binary(b) => from_proxy.extend_from_slice(&b),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a binary frame, got {other:?}"),
            }
        }
        assert_eq!(from_proxy.drain(..want.len()).as_slice(), want);
    };
    expect(&mut ws, b"RFB 003.008\n");
    ws.send(Message::binary(b"RFB 003.008\n".to_vec())).unwrap();
    expect(&mut ws, &[1, 1]);
    ws.send(Message::binary(vec![1])).unwrap();
    expect(&mut ws, &0u32.to_be_bytes());
    ws
}

/// The noVNC path under the same burst: a VNC server (with VNC Authentication, which
/// the proxy answers) receives ClientInit and every key event, byte for byte, in order.
#[test]
fn a_burst_of_key_events_reaches_the_vnc_server_byte_for_byte() {
    let vnc = TcpListener::bind("127.0.0.1:0").unwrap();
    let vnc_port = vnc.local_addr().unwrap().port();
    let (tx, received) = mpsc::channel();
    thread::spawn(move || {
        let (mut s, _) = vnc.accept().unwrap();
        let (version, chosen) = desktop_security(&mut s);
        let mut rest = vec![];
        s.read_to_end(&mut rest).unwrap();
        let _ = tx.send((version, chosen, rest));
    });
    let unused_guacd = format!("127.0.0.1:{}", free_port());
    let (_site, server, _) = prepared(&unused_guacd, "guacamole", vnc_port);
    let mut ws = open_novnc(&server);

    // ClientInit (shared), then 3000 KeyEvents (down, keysym i), a frame each, unflushed.
    let mut sent = vec![1u8];
    ws.write(Message::binary(vec![1])).unwrap();
    for i in 0..3000u32 {
        let mut event = vec![4, 1, 0, 0];
        event.extend_from_slice(&i.to_be_bytes());
        sent.extend_from_slice(&event);
        ws.write(Message::binary(event)).unwrap();
    }
    ws.flush().unwrap();
    ws.close(None).unwrap();
    while ws.read().is_ok() {}

    let (version, chosen, rest) = received.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(&version, b"RFB 003.008\n");
    assert_eq!(chosen, 2, "the proxy authenticates itself");
    assert_eq!(rest.len(), sent.len(), "every byte arrived once");
    assert!(rest == sent, "in order");
}

/// The noVNC relay leaves neither side half-open (websockify closes one side when the
/// other closes): the desktop closing closes the browser's WebSocket with 1000, and the
/// browser's socket dropping without a close frame closes the desktop's connection.
/// (The browser's close frame closing the desktop's: the burst test above.)
#[test]
fn the_vnc_relay_closes_each_side_when_the_other_leaves() {
    let vnc = TcpListener::bind("127.0.0.1:0").unwrap();
    let vnc_port = vnc.local_addr().unwrap().port();
    let (tx, desktop) = mpsc::channel();
    thread::spawn(move || {
        for desktop_leaves in [true, false] {
            let Ok((mut s, _)) = vnc.accept() else { return };
            desktop_security(&mut s);
            let mut client_init = [0u8; 1];
            s.read_exact(&mut client_init).unwrap();
            if desktop_leaves {
                drop(s);
                let _ = tx.send(Ok(0));
            } else {
                // Ok once the proxy closes; a timeout (20 s) is an error.
                let _ = tx.send(s.read_to_end(&mut vec![]).map_err(|e| e.kind()));
            }
        }
    });
    let unused_guacd = format!("127.0.0.1:{}", free_port());
    let (_site, server, _) = prepared(&unused_guacd, "guacamole", vnc_port);

    // The desktop leaves: the browser's WebSocket closes, well before its 20 s read
    // timeout would end the wait.
    let mut ws = open_novnc(&server);
    ws.send(Message::binary(vec![1])).unwrap();
    desktop.recv_timeout(Duration::from_secs(20)).unwrap().unwrap();
    let close = loop {
        match ws.read() {
            Ok(Message::Close(frame)) => break frame,
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            other => panic!("the desktop left: expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.expect("a close frame with a code").code, CloseCode::Normal);

    // The browser's socket drops: the desktop's connection closes.
    let mut ws = open_novnc(&server);
    ws.send(Message::binary(vec![1])).unwrap();
    drop(ws);
    let closed = desktop.recv_timeout(Duration::from_secs(25)).unwrap();
    assert_eq!(closed, Ok(0), "the proxy closes the desktop's connection when the browser's socket drops");
}

#[test]
fn only_the_owner_or_the_viewer_link_opens_a_viewer_and_no_secret_reaches_the_page() {
    let (guacd, _seen) = fake_guacd(vec!["VERSION_1_5_0", "hostname"], vec![Plan::EndWithError]);
    let (_site, server, _) = prepared(&guacd, "guacamole", 1);
    let c = http();
    let page = |path: &str, bearer: Option<&str>| {
        let mut r = c.get(server.url(path)).header("accept", "text/html");
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        let resp = r.send().unwrap();
        let status = resp.status().as_u16();
        let location = resp.headers().get("location").map(|l| l.to_str().unwrap().to_string());
        (status, location, resp.text().unwrap())
    };
    let ann = bearer(&server, "ann", "ann-password-1");
    let bob = bearer(&server, "bob", "bob-password-1");
    let admin = bearer(&server, "admin", "s3cret!");

    // The owner, an admin, the viewer link.
    for (who, path, bearer) in [
        ("ann", "/instance/inst-g".to_string(), Some(ann.as_str())),
        ("admin", "/instance/inst-g".to_string(), Some(admin.as_str())),
        ("the link", format!("/instance/inst-g?token={TOKEN}"), None),
    ] {
        let (status, _, html) = page(&path, bearer);
        assert_eq!(status, 200, "{who}: {html}");
        assert!(html.contains("\"client\":\"guacamole\""), "{who}: {html}");
        assert!(html.contains("Guacamole desktop"), "the object's name as title");
        for secret in ["desktop.internal", "5917", PASSWORD, TOKEN] {
            assert!(!html.contains(secret), "{who}: the page shows {secret}: {html}");
        }
    }
    // Anonymous: to the login page; a wrong token, another instance's token, another
    // user, an unknown instance: 404 alike.
    let (status, location, _) = page("/instance/inst-g", None);
    assert_eq!((status, location.as_deref()), (303, Some("/login?next=/instance/inst-g")));
    for (who, path, bearer) in [
        ("a wrong token", format!("/instance/inst-g?token={}", TOKEN.replace('3', "4")), None),
        ("inst-v's token", format!("/instance/inst-g?token={OTHER_TOKEN}"), None),
        ("an empty token", "/instance/inst-g?token=".to_string(), None),
        ("bob", "/instance/inst-g".to_string(), Some(bob.as_str())),
        ("an unknown id", format!("/instance/nope?token={TOKEN}"), None),
    ] {
        let (status, _, body) = page(&path, bearer);
        assert_eq!(status, 404, "{who}: {body}");
        assert!(!body.contains("token"), "{who}: no hint which part was wrong: {body}");
    }
    // The tunnel follows the same rules.
    let (mut ws, _) = open_tunnel(&server, "", Some(&bob)).expect("bob is a caller: the upgrade happens");
    match ws.read() {
        Ok(Message::Close(Some(f))) => assert_eq!(f.code, CloseCode::from(4404), "{f:?}"),
        other => panic!("bob's tunnel must close with 4404: {other:?}"),
    }
    for (query, status) in [("token=wrong-token-wrong-token-x", 404), ("", 401)] {
        match open_tunnel(&server, query, None).map(|_| ()).map_err(|e| *e) {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), status, "{query:?}"),
            other => panic!("{query:?} must not upgrade: {other:?}"),
        }
    }
    // The assets are public (a viewer link has no session) and stay inside static/.
    assert_eq!(c.get(server.url("/static/viewer/guacamole.js")).send().unwrap().status(), 200);
    assert_eq!(c.get(server.url("/static/build/novnc.js")).send().unwrap().status(), 200);
    assert_eq!(c.get(server.url("/static/..%2Ftemplates/viewer.html")).send().unwrap().status(), 404);
    assert_eq!(c.get(server.url("/static/.hidden")).send().unwrap().status(), 404);
}

// ---- the noVNC path end to end --------------------------------------------------------

/// An X command on the test's display.
fn x(display: &str, program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program).args(args).env("DISPLAY", display).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The colour of the viewer canvas at (x, y), once there is a canvas.
async fn canvas_pixel(browser: &fantoccini::Client, x: u32, y: u32) -> Option<[u64; 3]> {
    let script = "const c = document.querySelector('#screen canvas');
        if (!c || c.width === 0) return null;
        const d = c.getContext('2d').getImageData(arguments[0], arguments[1], 1, 1).data;
        return [d[0], d[1], d[2]];";
    let v = browser.execute(script, vec![json!(x), json!(y)]).await.ok()?;
    let a = v.as_array()?;
    Some([a[0].as_u64()?, a[1].as_u64()?, a[2].as_u64()?])
}

async fn wait_for_colour(browser: &fantoccini::Client, want: [u64; 3]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut last = None;
    while std::time::Instant::now() < deadline {
        last = canvas_pixel(browser, 20, 20).await;
        if last == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = browser.execute("return document.getElementById('status').textContent", vec![]).await.ok();
    if let Ok(png) = browser.screenshot().await {
        let _ = std::fs::write(std::env::temp_dir().join("daas-proxy-viewer.png"), png);
    }
    panic!("the canvas never showed {want:?}; last seen {last:?}; the viewer says {status:?}");
}

/// A fake guacd for a browser, for two connections: each gets the handshake, then a
/// 640×480 display filled with one colour (the first dodger blue, the second dark
/// orange). The first connection reports the first key press (its keysym) it receives
/// and then drops, as a desktop that goes away; the second stays until the viewer
/// leaves.
fn drawing_guacd() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for (n, colour) in [["30", "144", "255"], ["255", "140", "0"]].into_iter().enumerate() {
            let Ok((mut s, _)) = listener.accept() else { return };
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut pending = vec![];
            read_instruction(&mut s, &mut pending).unwrap();
            s.write_all(encode(&["args", "VERSION_1_5_0", "hostname", "port", "password"]).as_bytes()).unwrap();
            while read_instruction(&mut s, &mut pending).is_some_and(|i| i[0] != "connect") {}
            s.write_all(b"5.ready,5.$fake;").unwrap();
            let draw = [
                encode(&["size", "0", "640", "480"]),
                encode(&["rect", "0", "0", "0", "640", "480"]),
                encode(&["cfill", "14", "0", colour[0], colour[1], colour[2], "255"]),
                encode(&["sync", "1"]),
            ]
            .concat();
            s.write_all(draw.as_bytes()).unwrap();
            while let Some(i) = read_instruction(&mut s, &mut pending) {
                if n == 0 && i[0] == "key" && i.get(2).map(String::as_str) == Some("1") {
                    let _ = tx.send(i[1].clone());
                    break;
                }
            }
        }
    });
    (address, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guacamole_viewer_in_chromium_draws_what_guacd_sends_sends_keys_and_reconnects() {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};

    let work = tempfile::tempdir().unwrap();
    let mut procs = Procs(vec![]);
    let (guacd, keys) = drawing_guacd();
    let (_site, server, _) = tokio::task::spawn_blocking(move || prepared(&guacd, "guacamole", 1)).await.unwrap();
    let browser = chromium(&mut procs, work.path()).await;
    in_browser(&browser, procs, &server, async {
        // Chrome fails a WebSocket whose subprotocol is not echoed (seed 000 §3.2.2):
        // the picture arriving proves the tunnel opened.
        browser.goto(&server.url(&format!("/instance/inst-g?token={TOKEN}"))).await.unwrap();
        wait_for_colour(&browser, [30, 144, 255]).await;
        let state = browser.execute("return window.daasViewerState", vec![]).await.unwrap();
        assert_eq!(state, json!(3), "Guacamole.Client.State.CONNECTED");
        let keys_down = KeyActions::new("keyboard".into()).then(KeyAction::Down { value: 'q' }).then(KeyAction::Up { value: 'q' });
        browser.perform_actions(keys_down).await.unwrap();
        let keysym = tokio::task::spawn_blocking(move || keys.recv_timeout(Duration::from_secs(10))).await.unwrap();
        assert_eq!(keysym.expect("guacd got a key press"), "113", "the keysym of q");
        // guacd then drops the connection: the viewer says so and reconnects after the
        // site's `reconnect_seconds` (3 s by default), to a desktop drawn anew.
        wait_for_colour(&browser, [255, 140, 0]).await;
        let state = browser.execute("return window.daasViewerState", vec![]).await.unwrap();
        assert_eq!(state, json!(3), "connected again");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn novnc_viewer_in_chromium_shows_the_x_desktop_and_sends_keys_to_it() {
    use fantoccini::{
        actions::{InputSource, KeyAction, KeyActions},
        Locator,
    };

    for tool in ["Xvfb", "x11vnc", "xsetroot", "xinput", "xmodmap", "chromium", "chromedriver"] {
        assert!(
            std::process::Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap().status.success(),
            "{tool} is missing: run scripts/setup"
        );
    }
    let work = tempfile::tempdir().unwrap();
    let mut procs = Procs(vec![]);

    // The desktop: Xvfb, painted a known colour, served by x11vnc with a password.
    let n = 90 + std::process::id() % 500;
    let display = format!(":{n}");
    procs.0.push(
        std::process::Command::new("Xvfb")
            // -noreset: the server would reset (and forget the root colour) when its last client, xsetroot, exits.
            .args([display.as_str(), "-screen", "0", "640x480x24", "-nolisten", "tcp", "-noreset"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("Xvfb", Duration::from_secs(10), || Path::new(&format!("/tmp/.X11-unix/X{n}")).exists());
    wait_until("the X server to answer", Duration::from_secs(10), || {
        std::process::Command::new("xsetroot").args(["-solid", "#1e90ff"]).env("DISPLAY", &display).status().is_ok_and(|s| s.success())
    });
    let vnc_port = free_port();
    procs.0.push(
        std::process::Command::new("x11vnc")
            .args(["-display", &display, "-rfbport", &vnc_port.to_string(), "-localhost", "-passwd", VNC_PASSWORD])
            .args(["-forever", "-shared", "-noxdamage", "-nowf", "-o"])
            .arg(work.path().join("x11vnc.log"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("x11vnc", Duration::from_secs(20), || TcpStream::connect(("127.0.0.1", vnc_port)).is_ok());
    // Key events reaching the X server, from any device (x11vnc injects through XTEST).
    let keys_log = work.path().join("keys.log");
    procs.0.push(
        // Line-buffered: xinput's stdout is a file, which stdio would buffer until exit.
        std::process::Command::new("stdbuf")
            .args(["-oL", "xinput", "test-xi2", "--root"])
            .env("DISPLAY", &display)
            .stdout(std::fs::File::create(&keys_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let keycode_q = x(&display, "xmodmap", &["-pke"])
        .lines()
        .find(|l| l.split_whitespace().nth(3) == Some("q"))
        .and_then(|l| l.split_whitespace().nth(1).map(String::from))
        .expect("a keycode for q");

    // The host, with the rows pointing at the desktop.
    let unused_guacd = format!("127.0.0.1:{}", free_port());
    let (_site, server, _) = tokio::task::spawn_blocking(move || prepared(&unused_guacd, "guacamole", vnc_port)).await.unwrap();

    let browser = chromium(&mut procs, work.path()).await;

    in_browser(&browser, procs, &server, async {
        browser.goto(&server.url(&format!("/instance/inst-v?token={OTHER_TOKEN}"))).await.unwrap();
        // The desktop's colour, drawn by noVNC from what x11vnc sent through the proxy.
        wait_for_colour(&browser, [0x1e, 0x90, 0xff]).await;
        // Painted again, the canvas follows.
        x(&display, "xsetroot", &["-solid", "#ff8c00"]);
        wait_for_colour(&browser, [0xff, 0x8c, 0x00]).await;
        let html = browser.source().await.unwrap();
        for secret in [VNC_PASSWORD, &vnc_port.to_string()] {
            assert!(!html.contains(secret), "the page shows {secret}");
        }

        // A key typed into the viewer reaches the X server.
        let before = std::fs::read_to_string(&keys_log).unwrap_or_default();
        assert!(!before.contains("RawKeyPress"), "no key before typing:\n{before}");
        browser.find(Locator::Css("#screen canvas")).await.unwrap().click().await.unwrap();
        let keys = KeyActions::new("keyboard".into()).then(KeyAction::Down { value: 'q' }).then(KeyAction::Up { value: 'q' });
        browser.perform_actions(keys).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = std::fs::read_to_string(&keys_log).unwrap_or_default();
            let pressed = log.split("EVENT type").any(|e| e.contains("RawKeyPress") && e.contains(&format!("detail: {keycode_q}\n")));
            if pressed {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the key never reached the X server; xinput saw:\n{log}\nx11vnc's log:\n{}",
                std::fs::read_to_string(work.path().join("x11vnc.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
}

#[test]
fn the_browser_routes_are_documented_with_their_answers_and_content_types() {
    let site = site("127.0.0.1:9", "novnc");
    let server = Server::start(site.path());
    let doc: serde_json::Value = http().get(server.url("/openapi.json")).send().unwrap().json().unwrap();
    let paths = &doc["paths"];
    // The viewer page and its tunnel: one operation with both answers and parameters.
    let viewer = &paths["/instance/{id}"]["get"];
    assert_eq!(viewer["operationId"], "proxy_viewer");
    for status in ["101", "200", "401", "404"] {
        assert!(viewer["responses"].get(status).is_some(), "{status}: {viewer}");
    }
    let names: Vec<&str> = viewer["parameters"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(names.contains(&"token") && names.contains(&"GUAC_WIDTH"), "{names:?}");
    assert!(viewer["responses"]["200"]["content"].get("text/html").is_some());
    // Stopping answers 204; starting documents its form and the absent engine's 503.
    assert!(paths["/instance/{id}"]["delete"]["responses"].get("204").is_some());
    let start = &paths["/app/{id}"]["post"];
    assert!(start["requestBody"]["content"].get("application/x-www-form-urlencoded").is_some());
    assert!(start["responses"].get("503").is_some() && start["responses"].get("303").is_some());
    // Assets say what they are.
    let assets = &paths["/static/{path}"]["get"]["responses"]["200"]["content"];
    assert!(assets.get("text/javascript").is_some() && assets.get("text/css").is_some(), "{assets}");
    assert_eq!(paths["/static/{path}"]["get"]["security"], serde_json::json!([]));
}
