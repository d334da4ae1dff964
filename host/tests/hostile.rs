//! Issue 13: what a hostile or careless client, user or pipe can do to the server, each
//! with real sockets against the running binary: test routes out of the demo site, the
//! event bus's declared topics and bounds, one log line per panic, read and idle
//! timeouts, a cap on connections per client address, security headers, duplicate JSON
//! keys, JSON bodies on hyper's own answers, `Expect: 100-continue` past the body limit,
//! and CLI commands whose stdout is closed.

mod common;

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use common::{client, daas, site_dir, workspace, Server, TempSite, TEST_KEY};
use serde_json::{json, Value};

// ---- raw sockets ---------------------------------------------------------------------

/// The generous deadline within which the server must have closed a connection; the
/// tests configure timeouts of a fraction of a second.
const CLOSE_DEADLINE: Duration = Duration::from_secs(20);

fn connect(server: &Server) -> TcpStream {
    let addr = server.base.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(CLOSE_DEADLINE)).unwrap();
    stream
}

/// A response read off a socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// Names lower-case.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// Read one response (head, then a `content-length` body).
fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => panic!("the connection closed before a whole response head: {:?}", String::from_utf8_lossy(&buf)),
            Ok(_) => buf.push(byte[0]),
            Err(e) => panic!("no response head ({e}): {:?}", String::from_utf8_lossy(&buf)),
        }
    }
    let head = String::from_utf8(buf).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").map(|(_, v)| v.parse().unwrap()).unwrap_or(0);
    let mut body = vec![0; len];
    stream.read_exact(&mut body).unwrap();
    Answer { status, headers, body }
}

/// Whether the server closes the connection within `CLOSE_DEADLINE`, reading (and
/// discarding) whatever it sends until then.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let deadline = Instant::now() + CLOSE_DEADLINE;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return false,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // A reset is a close too.
            Err(_) => return true,
        }
    }
}

/// The JSON error body every error has.
fn assert_json_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert!(answer.header("content-type").is_some_and(|c| c.starts_with("application/json")), "{answer:?}");
    let body = answer.json();
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["detail"].as_str().is_some_and(|m| !m.is_empty()), "says what to do: {body}");
}

fn site_with(extensions: &str) -> TempSite {
    TempSite::new(&[
        ("extensions.toml", &format!("[extensions]\nlayers = [\"testing\"]\n{extensions}\n[[extensions.plugin]]\nname = \"info\"\n\n[[extensions.plugin]]\nname = \"testbackend\"\n")),
        ("logging.toml", "[log]\nlevel = \"debug\"\nformat = \"json\"\n"),
    ])
}

// ---- item 6: test routes, the event bus, panics ----------------------------------------

#[test]
fn the_demo_site_loads_no_test_plugin() {
    let demo = workspace().join("config/demo");
    let text = std::fs::read_to_string(demo.join("extensions.toml")).unwrap();
    assert!(!text.contains("name = \"testbackend\""), "config/demo/extensions.toml loads testbackend:\n{text}");
    let (code, out, err) = common::run(&["plugins", "list", "--site", demo.to_str().unwrap()]);
    assert!(!out.lines().any(|l| l.starts_with("testbackend")), "{out}{err} (exit {code})");
}

fn publish(server: &Server, topic: &str) -> (u16, Value) {
    let r = client().post(server.url(&format!("/api/v1/testbackend/events/{topic}"))).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn counts(server: &Server) -> Value {
    client().get(server.url("/api/v1/info/events")).send().unwrap().json().unwrap()
}

/// Wait until the info plugin has counted `n` events on `topic`.
fn wait_counted(server: &Server, topic: &str, n: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = counts(server);
        if body["counts"][topic] == n {
            return body;
        }
        assert!(Instant::now() < deadline, "{n} event(s) on `{topic}` not delivered: {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
}




/// The lines of the log that mention `needle`.
fn lines_with(log: &str, needle: &str) -> Vec<String> {
    log.lines().filter(|l| l.contains(needle)).map(str::to_string).collect()
}

fn error_id(body: &Value) -> String {
    let message = body["message"].as_str().unwrap_or_else(|| panic!("{body}"));
    let at = message.find("error id ").unwrap_or_else(|| panic!("{body}")) + "error id ".len();
    message[at..].chars().take_while(char::is_ascii_hexdigit).collect()
}



// ---- item 7: timeouts and connections per client ---------------------------------------






// ---- item 10: security headers ---------------------------------------------------------

/// A copy of the web root with stand-ins for the bundles `scripts/webroot` builds.
fn webroot_copy(dir: &Path) {
    let src = workspace().join("webroot");
    for sub in ["templates", "static", "static/viewer", "static/build"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for file in ["templates/apps.html", "templates/viewer.html", "static/apps.js", "static/viewer/common.js", "static/viewer/guacamole.js", "static/viewer/novnc.js", "static/viewer/viewer.css"] {
        std::fs::copy(src.join(file), dir.join(file)).unwrap();
    }
    for file in ["static/build/guacamole.js", "static/build/novnc.js"] {
        std::fs::write(dir.join(file), "// a stand-in\n").unwrap();
    }
}


// ---- item 9: duplicate JSON keys -------------------------------------------------------


// ---- item 13: the host's answers -------------------------------------------------------



/// Run `daas` with `args` and its stdout closed before it writes anything.
fn with_stdout_closed(args: &[&str]) -> (Option<i32>, String) {
    let mut child = daas().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (child.wait().unwrap().code(), err)
}

