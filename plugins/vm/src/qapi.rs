//! QEMU's two JSON control channels, QMP (the machine: status, stop, migrate, VNC
//! password) and the guest agent (inside the guest: exec, files, clock), each a line of
//! JSON per message over a Unix socket.
//!
//! Written here rather than taken from the qapi crates: those bind their types to one
//! QEMU schema (qapi 0.15: QEMU 9) while this backend drives Debian's QEMU 7.2 and
//! whatever Proxmox runs, with a dozen commands it sends as JSON values; and the agent's
//! resynchronisation after a resume (`guest-sync-delimited`, below) is the part that
//! must be right, so it is ours to see.

use std::{path::Path, time::Duration};

use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{
        unix::{OwnedReadHalf, OwnedWriteHalf},
        UnixStream,
    },
    time::{timeout, Instant},
};

use crate::error::VmError;

/// One connection: JSON values out, lines in.
struct Channel {
    what: &'static str,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// A line's beginning, read when a wait ran out: what follows ends it.
    partial: Vec<u8>,
}

impl Channel {
    async fn connect(what: &'static str, path: &Path, wait: Duration) -> Result<Channel, VmError> {
        let deadline = Instant::now() + wait;
        let stream = loop {
            match UnixStream::connect(path).await {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(VmError::Unavailable(format!("{what} at {} cannot be reached: {e}", path.display())))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let (r, writer) = stream.into_split();
        Ok(Channel { what, reader: BufReader::new(r), writer, partial: Vec::new() })
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), VmError> {
        self.writer.write_all(bytes).await.map_err(|e| VmError::Failed(format!("{} closed: {e}", self.what)))
    }

    async fn send_json(&mut self, value: &Value) -> Result<(), VmError> {
        let mut line = value.to_string().into_bytes();
        line.push(b'\n');
        self.send(&line).await
    }

    /// The next line without the agent's 0xFF delimiters; `None` when nothing came
    /// within `wait`.
    async fn next_line(&mut self, wait: Duration) -> Result<Option<Vec<u8>>, VmError> {
        match timeout(wait, self.reader.read_until(b'\n', &mut self.partial)).await {
            Err(_) => Ok(None),
            Ok(Ok(0)) => Err(VmError::Failed(format!("{} closed the connection", self.what))),
            Ok(Ok(_)) => Ok(Some(std::mem::take(&mut self.partial).into_iter().filter(|b| *b != 0xFF).collect())),
            Ok(Err(e)) => Err(VmError::Failed(format!("{} cannot be read: {e}", self.what))),
        }
    }

    /// The next line as JSON; `None` when nothing came within `wait`.
    async fn next(&mut self, wait: Duration) -> Result<Option<Value>, VmError> {
        let Some(line) = self.next_line(wait).await? else { return Ok(None) };
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(Some(Value::Null));
        }
        serde_json::from_slice(&line)
            .map(Some)
            .map_err(|e| VmError::Failed(format!("{} sent no JSON ({e}): {}", self.what, String::from_utf8_lossy(&line).trim())))
    }

    /// The answer to the command just sent: its `return`, or its `error` as a failure.
    /// QMP's events in between are passed over.
    async fn answer(&mut self, command: &str, wait: Duration) -> Result<Value, VmError> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(message) = self.next(left).await? else {
                return Err(VmError::Timeout {
                    what: format!("{} did not answer `{command}` within {} ms", self.what, wait.as_millis()),
                    console: String::new(),
                });
            };
            if let Some(r) = message.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = message.get("error") {
                let desc = e.get("desc").and_then(Value::as_str).unwrap_or("no description");
                return Err(VmError::Failed(format!("{} refused `{command}`: {desc}", self.what)));
            }
        }
    }

    async fn execute(&mut self, command: &str, arguments: Value, wait: Duration) -> Result<Value, VmError> {
        let mut request = json!({ "execute": command });
        if !arguments.is_null() {
            request["arguments"] = arguments;
        }
        self.send_json(&request).await?;
        self.answer(command, wait).await
    }
}

/// A QMP connection, capabilities negotiated. QEMU serves one client at a time: hold it
/// briefly.
pub struct Qmp(Channel);

/// How long one QMP command may take (migrations are polled, not waited for).
const QMP_WAIT: Duration = Duration::from_secs(10);

impl Qmp {
    /// Connect (retrying while QEMU starts, up to `wait`) and negotiate.
    pub async fn connect(path: &Path, wait: Duration) -> Result<Qmp, VmError> {
        let mut c = Channel::connect("QEMU's QMP", path, wait).await?;
        match c.next(QMP_WAIT).await? {
            Some(greeting) if greeting.get("QMP").is_some() => {}
            _ => return Err(VmError::Failed(format!("QEMU's QMP at {} did not greet", path.display()))),
        }
        c.execute("qmp_capabilities", Value::Null, QMP_WAIT).await?;
        Ok(Qmp(c))
    }

    /// One command; its `return`.
    pub async fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, VmError> {
        self.0.execute(command, arguments, QMP_WAIT).await
    }

    /// `query-status`'s `status`: `running`, `paused`, `inmigrate`, `postmigrate`...
    pub async fn status(&mut self) -> Result<String, VmError> {
        let s = self.execute("query-status", Value::Null).await?;
        Ok(s.get("status").and_then(Value::as_str).unwrap_or("unknown").to_string())
    }
}

/// A guest agent connection, synchronised.
pub struct Agent(Channel);

/// How long one agent command may take.
const AGENT_WAIT: Duration = Duration::from_secs(10);

impl Agent {
    /// Connect and synchronise, waiting up to `wait` for the agent in the guest to
    /// answer (it starts late in a boot).
    ///
    /// Until the guest's agent reads its port, what is sent waits in the channel; once it
    /// runs, it answers every request sent so far, in order. Each attempt sends
    /// `guest-sync-delimited` with a new id (preceded by 0xFF, which resets the agent's
    /// parser after a partial line), and only the answer to the latest id counts: every
    /// earlier answer comes before it, so none is left to be mistaken for the answer to
    /// a later command.
    pub async fn connect(path: &Path, wait: Duration) -> Result<Agent, VmError> {
        let deadline = Instant::now() + wait;
        let mut c = Channel::connect("the guest agent", path, wait).await?;
        let mut id: u64 = u64::from(std::process::id()) << 20;
        loop {
            id += 1;
            c.send(&[0xFF]).await?;
            c.send_json(&json!({ "execute": "guest-sync-delimited", "arguments": { "id": id } })).await?;
            let attempt = Instant::now() + Duration::from_millis(500);
            // An earlier attempt's answer, the reset's error or a partial line: read on
            // until this attempt's time is up.
            while let Some(line) = c.next_line(attempt.min(deadline).saturating_duration_since(Instant::now())).await? {
                let answer: Option<Value> = serde_json::from_slice(&line).ok();
                if answer.as_ref().and_then(|m| m.get("return")).and_then(Value::as_u64) == Some(id) {
                    return Ok(Agent(c));
                }
            }
            if Instant::now() >= deadline {
                return Err(VmError::Timeout {
                    what: format!("the guest agent did not answer within {} ms", wait.as_millis()),
                    console: String::new(),
                });
            }
        }
    }

    /// One command; its `return`.
    pub async fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, VmError> {
        self.0.execute(command, arguments, AGENT_WAIT).await
    }
}
