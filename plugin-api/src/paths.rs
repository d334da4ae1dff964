//! Path pattern matching shared by the host (to find the operation a request hits) and
//! the SDK (to pick a WebSocket handler). Both `{name}` (OpenAPI) and `:name` (poem)
//! segments capture one path segment; `*name` as the last segment captures the rest.

/// Match `path` (without query) against `pattern`, returning the captured parameters.
/// A trailing slash is significant (`/a/` does not match `/a`), as in poem's router.
pub fn match_path<'p>(pattern: &'p str, path: &str) -> Option<Vec<(&'p str, String)>> {
    let mut params = Vec::new();
    let mut pat = pattern.strip_prefix('/').unwrap_or(pattern).split('/');
    let mut segs = path.strip_prefix('/').unwrap_or(path).split('/');
    loop {
        match (pat.next(), segs.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) => {
                if let Some(rest) = p.strip_prefix('*') {
                    let mut tail = s.to_string();
                    for more in segs.by_ref() {
                        tail.push('/');
                        tail.push_str(more);
                    }
                    params.push((rest, tail));
                    return Some(params);
                } else if let Some(name) = p.strip_prefix(':') {
                    if s.is_empty() {
                        return None;
                    }
                    params.push((name.split('<').next().unwrap_or(name), s.to_string()));
                } else if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if s.is_empty() {
                        return None;
                    }
                    params.push((name, s.to_string()));
                } else if p != s {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::match_path;

    #[test]
    fn matches_literal_and_parameter_segments() {
        assert_eq!(match_path("/", "/"), Some(vec![]));
        assert_eq!(match_path("/hello", "/hello"), Some(vec![]));
        assert_eq!(match_path("/hello", "/hello/x"), None);
        assert_eq!(match_path("/app/:id", "/app/42"), Some(vec![("id", "42".into())]));
        assert_eq!(match_path("/items/{id}/x", "/items/7/x"), Some(vec![("id", "7".into())]));
        assert_eq!(match_path("/items/{id}", "/items/"), None);
        assert_eq!(match_path("/static/*rest", "/static/a/b.js"), Some(vec![("rest", "a/b.js".into())]));
        assert_eq!(match_path("/health", "/health/"), None, "a trailing slash is another path");
        assert_eq!(match_path("/", "/x"), None);
        assert_eq!(match_path("/app/:id<\\d+>", "/app/7"), Some(vec![("id", "7".into())]));
    }
}
