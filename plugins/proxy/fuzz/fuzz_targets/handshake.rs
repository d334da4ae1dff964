//! The handshake fed whatever a (broken or hostile) guacd might send: never a panic,
//! and whatever it answers is well-formed Guacamole.
#![no_main]

#[path = "../../src/guac/handshake.rs"]
#[allow(dead_code)]
mod handshake;
#[path = "../../src/guac/parser.rs"]
#[allow(dead_code)]
mod parser;

use handshake::{Handshake, Settings, Step};
use parser::{elements, Scanner};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let settings = Settings {
        protocol: "vnc".into(),
        params: [("hostname", "h"), ("port", "5900"), ("password", "pä😀")].into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        width: 1024,
        height: 768,
        dpi: 96,
        timezone: Some("Europe/Berlin".into()),
        name: Some("ann".into()),
        ..Settings::default()
    };
    let mut handshake = Handshake::new(settings);
    let mut scanner = Scanner::new();
    while let Ok(Some(r)) = scanner.next(data) {
        let text = std::str::from_utf8(&data[r]).unwrap();
        let Ok(parsed) = elements(text) else { return };
        match handshake.receive(&parsed) {
            Ok(Step::Send(answer)) => {
                // Every answer is whole instructions.
                let mut check = Scanner::new();
                let mut end = 0;
                while let Some(r) = check.next(answer.as_bytes()).expect("the answer parses") {
                    end = r.end;
                }
                assert_eq!(end, answer.len(), "the answer ends with a whole instruction");
            }
            Ok(Step::Ready(_)) | Err(_) => return,
        }
    }
});
