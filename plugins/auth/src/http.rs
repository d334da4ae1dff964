//! Small HTTP helpers of the auth plugin: cookies, headers, redirects. Hand-written:
//! three functions do not merit a cookie-jar crate, and the layer sees raw header pairs.

/// The value of a cookie in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite, `max_age` seconds (0 deletes it).
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, same_site: &str, secure: bool) -> String {
    format!("{name}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age={max_age}{}", if secure { "; Secure" } else { "" })
}

/// Where to go after a login: only a path on this site, so that the login page cannot
/// be used to send users elsewhere. Browsers clean a URL before they read it (they drop
/// tabs and newlines anywhere, trim spaces and control characters, read `\\` as `/`),
/// so `/\t/evil.example` is `//evil.example` to them: a target is taken only when it is
/// printable ASCII without spaces or backslashes, starts with one `/` and has no `//`
/// after it; anything else goes to `/`.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
                && !n.contains("://") =>
        {
            n
        }
        _ => "/",
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme's name is
/// case-insensitive (RFC 9110 §11.1).
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Percent-encode a path and query for use as a query value.
pub fn encode_query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// HTML-escape text for a page.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_redirect_targets() {
        assert_eq!(cookie("a=1; daas_session=xyz; b=2", "daas_session"), Some("xyz"));
        assert_eq!(cookie("a=1", "daas_session"), None);
        assert!(set_cookie("s", "v", "/", 60, "Lax", true).ends_with("Max-Age=60; Secure"));
        assert_eq!(safe_next(Some("/instance/1?x=2")), "/instance/1?x=2");
        for evil in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "evil",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/ /evil.example",
            "/\0x",
            "/\x0b/evil.example",
            "/\x7f/evil.example",
            "/\u{a0}/evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(evil)), "/", "{evil:?}");
        }
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc "), Some("abc"));
        assert_eq!(bearer("BEARER abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(encode_query_value("/a?b=c&d"), "/a%3Fb%3Dc%26d");
        assert_eq!(escape("<a href=\"x\">"), "&lt;a href=&quot;x&quot;&gt;");
    }
}
