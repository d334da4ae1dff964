//! The streaming parser on arbitrary bytes split at arbitrary points: never a panic,
//! the same instructions however the input is split, and every instruction it accepts
//! splits into elements that survive encoding and parsing again.
#![no_main]

#[path = "../../src/guac/parser.rs"]
#[allow(dead_code)]
mod parser;

use parser::{elements, encode, ParseError, Scanner};
use libfuzzer_sys::fuzz_target;

/// All instructions of `pieces` fed one after another, and how it ended.
fn scan(pieces: &[&[u8]]) -> (Vec<Vec<u8>>, Option<ParseError>) {
    let mut scanner = Scanner::new();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        let mut end = 0;
        loop {
            match scanner.next(&buf) {
                Ok(Some(r)) => {
                    out.push(buf[r.clone()].to_vec());
                    end = r.end;
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
        buf.drain(..end);
        scanner.consume(end);
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose where to split the rest.
    let (cuts, input) = data.split_at(data.len().min(2));
    let whole = scan(&[input]);
    let (a, b) = match cuts {
        [a, b] => ((*a as usize).min(input.len()), (*b as usize).min(input.len())),
        _ => (0, 0),
    };
    let (a, b) = (a.min(b), a.max(b));
    let split = scan(&[&input[..a], &input[a..b], &input[b..]]);
    assert_eq!(whole.0, split.0, "the split changed the instructions");
    assert_eq!(whole.1.is_some(), split.1.is_some(), "the split changed whether it fails");
    for instruction in &whole.0 {
        let text = std::str::from_utf8(instruction).expect("accepted instructions are UTF-8");
        let parsed = elements(text).expect("an accepted instruction splits into elements");
        let again = encode(&parsed);
        assert_eq!(elements(&again).expect("an encoded instruction parses"), parsed, "elements survive a round trip");
        assert_eq!(scan(&[again.as_bytes()]).0, vec![again.as_bytes().to_vec()], "the scanner accepts what encode writes");
    }
});
