//! The Guacamole instruction syntax (PROTOCOLS.md §1.1), without I/O.
//!
//! An instruction is `LENGTH.VALUE` elements separated by `,` and ended by `;`, where
//! LENGTH counts Unicode code points, not bytes (seed 000 §3.4.6). [`Scanner`] finds
//! whole instructions in a byte stream that arrives in pieces: it resumes where the
//! previous call stopped, so bytes are scanned once however the stream is split, and a
//! value is skipped by counting the UTF-8 lead bytes of a whole slice at a time (a loop
//! the compiler vectorizes) rather than decoding characters one by one, and a slice that
//! is all ASCII (base64 image data: most of a display stream) by a word-at-a-time check
//! alone. Each complete instruction that is not all ASCII is checked to be UTF-8 once,
//! as a whole, so that every instruction returned can be forwarded as a WebSocket text
//! frame without further checks.

use std::ops::Range;

/// Largest element, in code points. guacd's own limit is 8192 (`parser-constants.h`);
/// the proxy allows more so that it never refuses what a newer guacd might send, and
/// still bounds the memory one instruction can take.
pub const MAX_ELEMENT_CHARS: usize = 1 << 20;
/// Largest instruction, in bytes (a value of [`MAX_ELEMENT_CHARS`] code points of up to
/// 4 bytes each, with room for the rest).
pub const MAX_INSTRUCTION_BYTES: usize = 4 * MAX_ELEMENT_CHARS + 4096;
/// Most elements in one instruction (guacd: 128).
pub const MAX_ELEMENTS: usize = 1024;

/// What is wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A length is not a decimal number ended by `.`.
    #[error("malformed Guacamole instruction: an element length must be decimal digits and `.`, found byte {0:#04x}")]
    BadLength(u8),
    /// A length over [`MAX_ELEMENT_CHARS`].
    #[error("malformed Guacamole instruction: an element is longer than {MAX_ELEMENT_CHARS} characters")]
    ElementTooLong,
    /// Something other than `,` or `;` after a value.
    #[error("malformed Guacamole instruction: an element must be followed by `,` or `;`, found byte {0:#04x}")]
    BadTerminator(u8),
    /// More than [`MAX_INSTRUCTION_BYTES`] bytes or [`MAX_ELEMENTS`] elements.
    #[error("Guacamole instruction too large (over {MAX_INSTRUCTION_BYTES} bytes or {MAX_ELEMENTS} elements)")]
    TooLarge,
    /// The bytes are not UTF-8.
    #[error("malformed Guacamole instruction: it is not valid UTF-8")]
    NotUtf8,
    /// The input ends inside an instruction where a whole one was required.
    #[error("incomplete Guacamole instruction: the message ends in the middle of one")]
    Incomplete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the digits of a length.
    Length { value: usize, digits: u8 },
    /// Inside a value: this many code points still to come.
    Value { remaining: usize },
}

/// Finds complete instructions in a growing buffer (see the module documentation).
///
/// The caller appends to its buffer, calls [`Scanner::next`] until it answers `None`,
/// and after dropping bytes from the front of the buffer (never past the end of the last
/// complete instruction) tells the scanner with [`Scanner::consume`].
#[derive(Debug, Clone)]
pub struct Scanner {
    /// Where scanning resumes.
    pos: usize,
    /// Where the instruction being scanned starts.
    start: usize,
    state: State,
    elements: usize,
    /// Every byte of the instruction so far is ASCII (then it is UTF-8 without a check).
    ascii: bool,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner { pos: 0, start: 0, state: State::Length { value: 0, digits: 0 }, elements: 0, ascii: true }
    }
}

/// The number of UTF-8 lead bytes (bytes that start a code point) in `bytes`. Bytes
/// `0x80..=0xBF` continue a code point; everything else starts one. The filter-count
/// form is the one LLVM turns into SIMD.
#[inline]
fn lead_bytes(bytes: &[u8]) -> usize {
    bytes.len() - bytes.iter().filter(|&&b| (b as i8) < -0x40).count()
}

impl Scanner {
    /// A scanner at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the scanner is inside an instruction (bytes after the last complete one).
    pub fn in_instruction(&self) -> bool {
        self.pos > self.start
    }

    /// The next complete instruction of `buf` (its byte range, `;` included), or `None`
    /// when the buffer ends before the next instruction does. `buf` is the same buffer
    /// as in earlier calls, only appended to (and shortened at the front through
    /// [`Scanner::consume`]). After an error the stream cannot be resynchronized.
    pub fn next(&mut self, buf: &[u8]) -> Result<Option<Range<usize>>, ParseError> {
        loop {
            match self.state {
                State::Length { value, digits } => {
                    let Some(&b) = buf.get(self.pos) else { return Ok(None) };
                    self.pos += 1;
                    match b {
                        b'0'..=b'9' => {
                            let value = value * 10 + usize::from(b - b'0');
                            if value > MAX_ELEMENT_CHARS {
                                return Err(ParseError::ElementTooLong);
                            }
                            self.state = State::Length { value, digits: digits + 1 };
                        }
                        b'.' if digits > 0 => self.state = State::Value { remaining: value },
                        _ => return Err(ParseError::BadLength(b)),
                    }
                }
                State::Value { remaining: 0 } => {
                    // The last code point's continuation bytes, then the terminator.
                    let rest = &buf[self.pos.min(buf.len())..];
                    let cont = rest.iter().take_while(|&&b| (b as i8) < -0x40).count();
                    self.pos += cont;
                    self.ascii &= cont == 0;
                    let Some(&b) = rest.get(cont) else { return self.wait() };
                    self.pos += 1;
                    self.elements += 1;
                    match b {
                        b',' if self.elements < MAX_ELEMENTS => self.state = State::Length { value: 0, digits: 0 },
                        b',' => return Err(ParseError::TooLarge),
                        b';' => {
                            let range = self.start..self.pos;
                            if !self.ascii && std::str::from_utf8(&buf[range.clone()]).is_err() {
                                return Err(ParseError::NotUtf8);
                            }
                            self.start = self.pos;
                            self.elements = 0;
                            self.ascii = true;
                            self.state = State::Length { value: 0, digits: 0 };
                            return Ok(Some(range));
                        }
                        other => return Err(ParseError::BadTerminator(other)),
                    }
                }
                State::Value { remaining } => {
                    // `remaining` code points take at least `remaining` bytes: a window
                    // that long cannot overshoot the value.
                    let avail = buf.len().saturating_sub(self.pos);
                    if avail == 0 {
                        return self.wait();
                    }
                    let window = &buf[self.pos..self.pos + remaining.min(avail)];
                    // Lengths, `.`, `,` and `;` are ASCII by the checks above; only
                    // values can bring anything else.
                    let leads = if window.is_ascii() {
                        window.len()
                    } else {
                        self.ascii = false;
                        lead_bytes(window)
                    };
                    let window = window.len();
                    self.pos += window;
                    self.state = State::Value { remaining: remaining - leads };
                }
            }
            if self.pos - self.start > MAX_INSTRUCTION_BYTES {
                return Err(ParseError::TooLarge);
            }
        }
    }

    fn wait(&self) -> Result<Option<Range<usize>>, ParseError> {
        if self.pos - self.start > MAX_INSTRUCTION_BYTES {
            return Err(ParseError::TooLarge);
        }
        Ok(None)
    }

    /// The caller dropped `n` bytes from the front of its buffer; `n` must not exceed
    /// the end of the last complete instruction.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.start, "consumed past the last complete instruction");
        self.pos -= n;
        self.start -= n;
    }
}

/// The elements of one whole instruction (opcode first), as slices of it. Anything
/// after the first `;` is an error, as is an instruction that does not end.
pub fn elements(instruction: &str) -> Result<Vec<&str>, ParseError> {
    let bytes = instruction.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let digits = bytes[pos..].iter().take_while(|b| b.is_ascii_digit()).count();
        match bytes.get(pos + digits) {
            None => return Err(ParseError::Incomplete),
            Some(b'.') if digits > 0 => {}
            Some(&b) => return Err(ParseError::BadLength(b)),
        }
        // As the scanner counts: leading zeros are allowed, the value is bounded.
        let mut chars = 0usize;
        for &d in &bytes[pos..pos + digits] {
            chars = chars * 10 + usize::from(d - b'0');
            if chars > MAX_ELEMENT_CHARS {
                return Err(ParseError::ElementTooLong);
            }
        }
        let value_start = pos + digits + 1;
        let rest = &instruction[value_start..];
        // No character after the value means no terminator either.
        let Some((len, _)) = rest.char_indices().nth(chars) else { return Err(ParseError::Incomplete) };
        out.push(&rest[..len]);
        if out.len() > MAX_ELEMENTS {
            return Err(ParseError::TooLarge);
        }
        pos = value_start + len;
        match bytes[pos] {
            b',' => pos += 1,
            b';' if pos + 1 == bytes.len() => return Ok(out),
            b';' => return Err(ParseError::BadTerminator(bytes[pos + 1])),
            other => return Err(ParseError::BadTerminator(other)),
        }
    }
}

/// Append one element (`LENGTH.VALUE`) to `out`.
pub fn push_element(out: &mut String, value: &str) {
    use std::fmt::Write as _;
    let _ = write!(out, "{}.{}", value.chars().count(), value);
}

/// One instruction from its elements (opcode first).
pub fn encode<S: AsRef<str>>(elements: &[S]) -> String {
    let mut out = String::new();
    for (i, e) in elements.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_element(&mut out, e.as_ref());
    }
    out.push(';');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `stream` in the given pieces, collecting every instruction.
    fn scan_pieces(pieces: &[&[u8]]) -> Result<Vec<String>, ParseError> {
        let mut buf = Vec::new();
        let mut scanner = Scanner::new();
        let mut out = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            while let Some(r) = scanner.next(&buf)? {
                out.push(String::from_utf8(buf[r].to_vec()).unwrap());
            }
            // Drop what was returned, as the tunnel does.
            let done = scanner.start;
            buf.drain(..done);
            scanner.consume(done);
        }
        Ok(out)
    }

    #[test]
    fn whole_instructions_and_their_elements() {
        let got = scan_pieces(&[b"4.size,4.1024,3.768,2.96;3.nop;"]).unwrap();
        assert_eq!(got, ["4.size,4.1024,3.768,2.96;", "3.nop;"]);
        assert_eq!(elements(&got[0]).unwrap(), ["size", "1024", "768", "96"]);
        assert_eq!(elements("0.,4.ping,13.1700000000000;").unwrap(), ["", "ping", "1700000000000"]);
        assert_eq!(elements("3.nop;").unwrap(), ["nop"]);
    }

    #[test]
    fn lengths_count_code_points_not_bytes() {
        // "é" is 2 bytes, "€" 3, "😀" 4 (one code point, two UTF-16 units).
        let text = "héllo €😀,;";
        let instruction = encode(&["clipboard", text]);
        assert_eq!(instruction, format!("9.clipboard,10.{text};"));
        assert_eq!(elements(&instruction).unwrap(), ["clipboard", text]);
        assert_eq!(scan_pieces(&[instruction.as_bytes()]).unwrap(), std::slice::from_ref(&instruction));
        // A length counted in bytes is wrong: the value then runs past the `;` and the
        // instruction never ends.
        let bytes_counted = format!("9.clipboard,{}.{text};", text.len());
        assert_eq!(scan_pieces(&[bytes_counted.as_bytes()]), Ok(vec![]));
        assert_eq!(elements(&bytes_counted), Err(ParseError::Incomplete));
    }

    #[test]
    fn every_split_of_a_multibyte_stream_gives_the_same_instructions() {
        let stream = format!("{}{}{}", encode(&["name", "Zoë 😀"]), encode(&["", "ping", "123"]), encode(&["blob", "1", "€€€€"]));
        let bytes = stream.as_bytes();
        let whole = scan_pieces(&[bytes]).unwrap();
        assert_eq!(whole.len(), 3);
        for a in 0..bytes.len() {
            for b in a..bytes.len() {
                let got = scan_pieces(&[&bytes[..a], &bytes[a..b], &bytes[b..]]).unwrap();
                assert_eq!(got, whole, "split at {a} and {b}");
            }
        }
        // One byte at a time.
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(scan_pieces(&singles).unwrap(), whole);
    }

    #[test]
    fn malformed_input_is_an_error_never_a_panic() {
        for (input, want) in [
            (&b"x.nop;"[..], ParseError::BadLength(b'x')),
            (b".nop;", ParseError::BadLength(b'.')),
            (b"3.nopX", ParseError::BadTerminator(b'X')),
            (b"3.nop,;", ParseError::BadLength(b';')),
            (b"99999999999.a;", ParseError::ElementTooLong),
            (b"2.\xff\xfe;", ParseError::NotUtf8),
            // Bytes that only continue a character: after an ASCII value, inside an
            // ASCII-looking one, after a whole instruction that was all ASCII.
            (b"1.a\x80;", ParseError::NotUtf8),
            (b"2.a\x80b;", ParseError::NotUtf8),
            (b"3.nop;1.a\xbf;", ParseError::NotUtf8),
        ] {
            assert_eq!(scan_pieces(&[input]), Err(want), "{:?}", String::from_utf8_lossy(input));
        }
        assert_eq!(elements("3.nop"), Err(ParseError::Incomplete));
        assert_eq!(elements("3.nop;3.nop;"), Err(ParseError::BadTerminator(b'3')));
        assert_eq!(elements("5.nop;"), Err(ParseError::Incomplete));
        assert_eq!(elements(""), Err(ParseError::Incomplete));
        assert_eq!(elements("1"), Err(ParseError::Incomplete));
        // Leading zeros count as the scanner counts them.
        assert_eq!(elements("0000000003.nop;"), Ok(vec!["nop"]));
        assert_eq!(scan_pieces(&[b"0000000003.nop;"]), Ok(vec!["0000000003.nop;".to_string()]));
    }

    #[test]
    fn an_unending_instruction_is_refused_once_too_large() {
        let mut scanner = Scanner::new();
        let mut buf = format!("{}.", MAX_ELEMENT_CHARS).into_bytes();
        buf.resize(MAX_ELEMENT_CHARS + 10, b'a');
        assert_eq!(scanner.next(&buf), Err(ParseError::BadTerminator(b'a')));
        let mut scanner = Scanner::new();
        let mut buf = Vec::new();
        for _ in 0..MAX_ELEMENTS + 1 {
            buf.extend_from_slice(b"1.a,");
        }
        assert_eq!(scanner.next(&buf), Err(ParseError::TooLarge));
    }

    #[test]
    fn partial_input_waits() {
        let mut scanner = Scanner::new();
        assert_eq!(scanner.next(b"4.si"), Ok(None));
        assert!(scanner.in_instruction());
        assert_eq!(scanner.next(b"4.size,1.1;"), Ok(Some(0..11)));
        assert!(!scanner.in_instruction());
    }
}
