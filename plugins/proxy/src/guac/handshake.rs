//! The handshake with guacd, done on the browser's behalf as guacamole-client's web tier
//! does (`ConfiguredGuacamoleSocket.java`, PROTOCOLS.md §1.2), without I/O: the tunnel
//! feeds it guacd's instructions and sends what it answers.
//!
//! `connect` carries one value per argument name guacd listed in `args`, in that order:
//! the list changes with guacd's version and build flags, so it is never hard-coded.

use std::collections::HashMap;

use super::parser::encode;

/// The newest protocol version the proxy speaks (1.5.0 added `name`).
const OWN_VERSION: (u32, u32, u32) = (1, 5, 0);

/// Everything the handshake sends: what to connect to and the browser's display.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// `vnc` or `rdp` (the `select` argument).
    pub protocol: String,
    /// Connection parameters by guacd's argument name (`hostname`, `port`, `password`,
    /// `color-depth`, ...); names guacd asks for that are missing here are sent empty.
    pub params: HashMap<String, String>,
    /// The display's width, height and dpi (`size`).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Dots per inch.
    pub dpi: u32,
    /// Audio mimetypes the browser plays.
    pub audio: Vec<String>,
    /// Video mimetypes the browser plays.
    pub video: Vec<String>,
    /// Image mimetypes the browser shows.
    pub image: Vec<String>,
    /// The browser's IANA time zone, if it told.
    pub timezone: Option<String>,
    /// The user's name for guacd's logs and shared sessions (1.5.0).
    pub name: Option<String>,
}

/// What guacd answered wrongly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// guacd sent `error` (its message and status).
    #[error("guacd refused the connection: {0} (status {1})")]
    Refused(String, u32),
    /// guacd sent something the handshake does not allow at this point.
    #[error("guacd broke the handshake: expected `{expected}`, got `{got}`")]
    Unexpected {
        /// The opcode the handshake waited for.
        expected: &'static str,
        /// What came.
        got: String,
    },
}

/// Where the handshake stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these instructions to guacd and pass on its next instruction.
    Send(String),
    /// guacd accepted; the session's id.
    Ready(String),
}

/// The handshake's state machine.
#[derive(Debug, Clone)]
pub struct Handshake {
    settings: Settings,
    sent_connect: bool,
}

/// `VERSION_1_5_0` → (1, 5, 0).
fn parse_version(s: &str) -> Option<(u32, u32, u32)> {
    let mut parts = s.strip_prefix("VERSION_")?.split('_').map(|p| p.parse::<u32>().ok());
    let v = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(v)
}

impl Handshake {
    /// A handshake for these settings.
    pub fn new(settings: Settings) -> Self {
        Handshake { settings, sent_connect: false }
    }

    /// The first instruction: `select`.
    pub fn select(&self) -> String {
        encode(&["select", self.settings.protocol.as_str()])
    }

    /// Take guacd's next instruction (its elements, opcode first).
    pub fn receive(&mut self, instruction: &[&str]) -> Result<Step, HandshakeError> {
        let opcode = instruction.first().copied().unwrap_or_default();
        if opcode == "error" {
            let message = instruction.get(1).copied().unwrap_or_default().to_string();
            let status = instruction.get(2).and_then(|s| s.parse().ok()).unwrap_or(515);
            return Err(HandshakeError::Refused(message, status));
        }
        match (self.sent_connect, opcode) {
            (false, "args") => Ok(Step::Send(self.answer_args(&instruction[1..]))),
            (true, "ready") => Ok(Step::Ready(instruction.get(1).copied().unwrap_or_default().to_string())),
            // guacd's keep-alive may come at any time.
            (_, "nop") => Ok(Step::Send(String::new())),
            (sent, _) => Err(HandshakeError::Unexpected {
                expected: if sent { "ready" } else { "args" },
                got: instruction.iter().take(3).copied().collect::<Vec<_>>().join(","),
            }),
        }
    }

    /// size, audio, video, image, timezone, name and connect, for guacd's `args`.
    fn answer_args(&mut self, args: &[&str]) -> String {
        self.sent_connect = true;
        let s = &self.settings;
        // guacd before 1.1.0 sends only names; later ones lead with their version.
        let (version, names) = match args.first().and_then(|a| parse_version(a)) {
            Some(v) => (Some(v.min(OWN_VERSION)), &args[1..]),
            None => (None, args),
        };
        let at_least = |v: (u32, u32, u32)| version.is_some_and(|have| have >= v);
        let mut out = String::new();
        let dims = [s.width.to_string(), s.height.to_string(), s.dpi.to_string()];
        out.push_str(&encode(&[&["size".to_string()][..], &dims].concat()));
        for (opcode, list) in [("audio", &s.audio), ("video", &s.video), ("image", &s.image)] {
            let mut elements = vec![opcode.to_string()];
            elements.extend(list.iter().cloned());
            out.push_str(&encode(&elements));
        }
        if let Some(tz) = s.timezone.as_deref().filter(|_| at_least((1, 1, 0))) {
            out.push_str(&encode(&["timezone", tz]));
        }
        if let Some(name) = s.name.as_deref().filter(|_| at_least((1, 5, 0))) {
            out.push_str(&encode(&["name", name]));
        }
        let mut connect = vec!["connect".to_string()];
        if let Some((a, b, c)) = version {
            connect.push(format!("VERSION_{a}_{b}_{c}"));
        }
        connect.extend(names.iter().map(|n| s.params.get(*n).cloned().unwrap_or_default()));
        out.push_str(&encode(&connect));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guac::parser::elements;

    fn settings() -> Settings {
        Settings {
            protocol: "vnc".into(),
            params: [("hostname", "10.0.0.5"), ("port", "5901"), ("password", "pä$$"), ("color-depth", "24")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            width: 1280,
            height: 800,
            dpi: 96,
            audio: vec!["audio/L16".into()],
            video: vec![],
            image: vec!["image/png".into(), "image/jpeg".into()],
            timezone: Some("Europe/Berlin".into()),
            name: Some("ann".into()),
        }
    }

    fn split(stream: &str) -> Vec<Vec<String>> {
        stream.split_inclusive(';').map(|i| elements(i).unwrap().into_iter().map(String::from).collect()).collect()
    }

    #[test]
    fn connect_follows_the_names_guacd_sends() {
        let mut h = Handshake::new(settings());
        assert_eq!(h.select(), "6.select,3.vnc;");
        let Step::Send(answer) = h.receive(&["args", "VERSION_1_5_0", "hostname", "port", "read-only", "password", "color-depth"]).unwrap()
        else {
            panic!("no answer")
        };
        let got = split(&answer);
        assert_eq!(got[0], ["size", "1280", "800", "96"]);
        assert_eq!(got[1], ["audio", "audio/L16"]);
        assert_eq!(got[2], ["video"]);
        assert_eq!(got[3], ["image", "image/png", "image/jpeg"]);
        assert_eq!(got[4], ["timezone", "Europe/Berlin"]);
        assert_eq!(got[5], ["name", "ann"]);
        assert_eq!(got[6], ["connect", "VERSION_1_5_0", "10.0.0.5", "5901", "", "pä$$", "24"]);
        assert_eq!(h.receive(&["ready", "$abc"]).unwrap(), Step::Ready("$abc".into()));
    }

    #[test]
    fn older_and_newer_guacd_versions() {
        // 1.0.0: names only, no timezone or name.
        let mut h = Handshake::new(settings());
        let Step::Send(answer) = h.receive(&["args", "hostname", "port"]).unwrap() else { panic!() };
        let got = split(&answer);
        assert!(!got.iter().any(|i| i[0] == "timezone" || i[0] == "name"));
        assert_eq!(got.last().unwrap(), &["connect", "10.0.0.5", "5901"]);
        // A newer guacd gets the proxy's own version.
        let mut h = Handshake::new(settings());
        let Step::Send(answer) = h.receive(&["args", "VERSION_1_7_0", "port"]).unwrap() else { panic!() };
        assert_eq!(split(&answer).last().unwrap(), &["connect", "VERSION_1_5_0", "5901"]);
        // 1.3.0 gets a timezone but no name.
        let mut h = Handshake::new(settings());
        let Step::Send(answer) = h.receive(&["args", "VERSION_1_3_0", "port"]).unwrap() else { panic!() };
        let got = split(&answer);
        assert!(got.iter().any(|i| i[0] == "timezone") && !got.iter().any(|i| i[0] == "name"));
        assert_eq!(got.last().unwrap(), &["connect", "VERSION_1_3_0", "5901"]);
    }

    #[test]
    fn errors_and_out_of_order_instructions() {
        let mut h = Handshake::new(settings());
        assert_eq!(h.receive(&["error", "No such connection.", "516"]), Err(HandshakeError::Refused("No such connection.".into(), 516)));
        assert!(matches!(h.receive(&["ready", "$x"]), Err(HandshakeError::Unexpected { expected: "args", .. })));
        assert_eq!(h.receive(&["nop"]), Ok(Step::Send(String::new())));
        h.receive(&["args", "VERSION_1_5_0"]).unwrap();
        assert!(matches!(h.receive(&["args"]), Err(HandshakeError::Unexpected { expected: "ready", .. })));
        assert!(matches!(h.receive(&[]), Err(HandshakeError::Unexpected { .. })));
    }
}
