//! The security headers on every response the host serves: `X-Content-Type-Options:
//! nosniff`, `Referrer-Policy: no-referrer` (viewer links carry `?token=`), `X-Frame-Options:
//! DENY` and a Content-Security-Policy for the kind of response. A header the response
//! already has (a plugin's choice) is kept.

use poem::{
    http::{header, HeaderMap, HeaderValue},
    Response,
};

/// Anything that is not a page: JSON, documents, scripts, styles, images. Nothing in it
/// may load or run anything.
const RESOURCE_POLICY: &str = "default-src 'none'; base-uri 'none'; form-action 'none'";

/// The plugins' HTML pages (login, apps, viewer): their own scripts and styles from
/// `/static`, WebSockets and fetches to the same origin, no inline scripts. Inline
/// styles are allowed: the pages and the viewers' libraries (noVNC, Guacamole) set
/// `style` attributes; images from `data:` and `blob:` are the remote desktop's
/// cursors and tiles.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; media-src 'self' blob:; \
     worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'";

/// The headers, with the policy of `/docs` (Swagger UI, whose scripts are inline: they
/// are allowed by their hashes, computed once for the page the host serves).
pub struct SecurityHeaders {
    /// The policy header of each kind of answer (the resources, pages, `/docs`), with
    /// `frame-ancestors 'none'` and `'self'`: made once, because formatting and checking
    /// the value on every response was a measurable part of a small request's cost.
    policies: [[HeaderValue; 2]; 3],
}

/// Index of the kinds in [`SecurityHeaders::policies`].
const RESOURCE: usize = 0;
const PAGE: usize = 1;
const DOCS: usize = 2;

impl SecurityHeaders {
    /// The headers for a server whose `/docs` page is `docs_html`.
    pub fn new(docs_html: &str) -> Self {
        let hashes: Vec<String> = inline_scripts(docs_html).map(|s| format!("'sha256-{}'", sha256_base64(s))).collect();
        let docs_policy = format!(
            "default-src 'none'; script-src {}; style-src 'unsafe-inline'; img-src 'self' data:; font-src data:; \
             connect-src 'self'; base-uri 'none'; form-action 'none'",
            hashes.join(" ")
        );
        let value = |policy: &str, ancestors: &str| {
            HeaderValue::from_str(&format!("{policy}; frame-ancestors {ancestors}")).unwrap_or(HeaderValue::from_static(""))
        };
        let both = |policy: &str| [value(policy, "'none'"), value(policy, "'self'")];
        SecurityHeaders { policies: [both(RESOURCE_POLICY), both(PAGE_POLICY), both(&docs_policy)] }
    }

    /// Add what `resp` lacks; `path` is the request's.
    pub fn apply(&self, path: &str, resp: &mut Response) {
        let headers = resp.headers_mut();
        set_default(headers, header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        set_default(headers, header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        set_default(headers, header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        if headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            return;
        }
        // A page its plugin lets the same origin frame (the viewer) keeps that.
        let ancestors = match headers.get(header::X_FRAME_OPTIONS).and_then(|v| v.to_str().ok()) {
            Some(v) if v.eq_ignore_ascii_case("sameorigin") => 1,
            _ => 0,
        };
        let html = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("text/html"));
        let kind = match (path, html) {
            ("/docs", true) => DOCS,
            (_, true) => PAGE,
            _ => RESOURCE,
        };
        headers.insert(header::CONTENT_SECURITY_POLICY, self.policies[kind][ancestors].clone());
    }
}

/// The header lines of [`SecurityHeaders`] for a JSON answer the host writes itself,
/// outside poem (hyper's own answers, the connection limit's).
pub const RAW_JSON_HEADERS: &str = "x-content-type-options: nosniff\r\nreferrer-policy: no-referrer\r\nx-frame-options: DENY\r\n\
     content-security-policy: default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n";

fn set_default(headers: &mut HeaderMap, name: header::HeaderName, value: HeaderValue) {
    headers.entry(name).or_insert(value);
}

/// The contents of a page's inline `<script>` elements (those without `src`), as the
/// browser hashes them.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.match_indices("<script").filter_map(move |(at, _)| {
        let open_end = at + html[at..].find('>')?;
        let tag = &html[at..open_end];
        if tag.contains(" src=") {
            return None;
        }
        let body = &html[open_end + 1..];
        Some(&body[..body.find("</script>")?])
    })
}

fn sha256_base64(text: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_found_and_hashed_as_browsers_do() {
        let html = "<html><script charset=\"UTF-8\">a()</script><script src=\"/x.js\"></script><script>\nlet b;\n</script>";
        assert_eq!(inline_scripts(html).collect::<Vec<_>>(), ["a()", "\nlet b;\n"]);
        // `echo -n 'alert(1)' | openssl dgst -sha256 -binary | base64`
        assert_eq!(sha256_base64("alert(1)"), "bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI=");
    }

    #[test]
    fn a_plugins_own_header_is_kept_and_framing_follows_it() {
        let headers = SecurityHeaders::new("");
        let mut resp = Response::builder()
            .content_type("text/html; charset=utf-8")
            .header("x-frame-options", "SAMEORIGIN")
            .header("referrer-policy", "same-origin")
            .finish();
        headers.apply("/instance/1", &mut resp);
        let h = |name: &str| resp.headers()[name].to_str().unwrap().to_string();
        assert_eq!(
            (h("x-frame-options"), h("referrer-policy"), h("x-content-type-options")),
            ("SAMEORIGIN".into(), "same-origin".into(), "nosniff".into())
        );
        assert!(h("content-security-policy").starts_with(PAGE_POLICY) && h("content-security-policy").ends_with("frame-ancestors 'self'"));
    }
}
