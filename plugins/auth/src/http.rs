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

/// Where to go after a login: only a path on this site (`/...`, not `//host`), so
/// that the login page cannot be used to send users elsewhere.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.contains("://") => n,
        _ => "/",
    }
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
        for evil in ["//evil.example/", "https://evil.example/", "/\\evil", "evil"] {
            assert_eq!(safe_next(Some(evil)), "/", "{evil}");
        }
        assert_eq!(encode_query_value("/a?b=c&d"), "/a%3Fb%3Dc%26d");
        assert_eq!(escape("<a href=\"x\">"), "&lt;a href=&quot;x&quot;&gt;");
    }
}
