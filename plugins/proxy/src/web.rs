//! What the proxy's browser routes share: query strings, HTML text, JSON errors.

use daas_plugin_api::{
    poem::{http::StatusCode, Response},
    ApiError,
};

/// A query string's parameters, percent-decoded.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parse `a=1&b=2`; what does not parse is left out.
    pub fn parse(query: &str) -> Query {
        Query(serde_urlencoded::from_str(query).unwrap_or_default())
    }
    /// The first value of `key`.
    pub fn first(&self, key: &str) -> Option<String> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }
    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }
    /// The first value of `key` as a number.
    pub fn number(&self, key: &str) -> Option<u32> {
        self.first(key)?.parse().ok()
    }
}

/// Text for HTML (element content and quoted attribute values).
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The JSON error every route of this plugin answers.
pub fn error(status: u16, message: &str, detail: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    ApiError::new(ApiError::code_for(status), message, detail).to_response(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded_and_repeatable() {
        let q = Query::parse("token=a%2Bb&GUAC_AUDIO=audio%2FL8&GUAC_AUDIO=audio%2FL16&GUAC_WIDTH=1024&bad");
        assert_eq!(q.first("token").as_deref(), Some("a+b"));
        assert_eq!(q.all("GUAC_AUDIO"), ["audio/L8", "audio/L16"]);
        assert_eq!(q.number("GUAC_WIDTH"), Some(1024));
        assert_eq!(q.number("GUAC_HEIGHT"), None);
    }
}
