//! The JSON error body every daas route answers with: `{code, message, detail}`.

use poem::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::abi::{BackendError, BackendErrorKind, HttpResponse};

/// The JSON error body of every failed request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, poem_openapi::Object)]
pub struct ApiError {
    /// A stable machine-readable code (`not_found`, `bad_request`, `plugin_panicked`, ...).
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// What to do about it, or more context; may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[oai(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl ApiError {
    /// A new error.
    pub fn new(code: impl Into<String>, message: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError { code: code.into(), message: message.into(), detail: detail.into() }
    }

    /// The default code for an HTTP status.
    pub fn code_for(status: StatusCode) -> &'static str {
        match status.as_u16() {
            400 => "bad_request",
            401 => "unauthenticated",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            408 => "request_timeout",
            409 => "conflict",
            413 => "payload_too_large",
            414 => "uri_too_long",
            415 => "unsupported_media_type",
            422 => "unprocessable",
            429 => "rate_limited",
            431 => "header_fields_too_large",
            503 => "unavailable",
            s if s >= 500 => "internal",
            _ => "error",
        }
    }

    /// This error as a response that crosses the boundary, with the given status.
    pub fn to_ffi(&self, status: u16) -> HttpResponse {
        HttpResponse::new(status, &[("content-type", "application/json; charset=utf-8")], serde_json::to_vec(self).unwrap_or_default())
    }

    /// This error as a poem response with the given status.
    pub fn to_response(&self, status: StatusCode) -> poem::Response {
        poem::Response::builder()
            .status(status)
            .content_type("application/json; charset=utf-8")
            .body(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Turn any poem error (routing, validation, handler) into the JSON form, keeping its
    /// status.
    pub fn from_poem(err: &poem::Error) -> (StatusCode, ApiError) {
        let status = err.status();
        let message = err.to_string();
        let detail = match status.as_u16() {
            400 => "check the request against /openapi.json",
            404 => "see /openapi.json for the routes this server offers",
            405 => "see /openapi.json for the methods of this route",
            _ => "",
        };
        (status, ApiError::new(ApiError::code_for(status), message, detail))
    }
}

impl BackendErrorKind {
    /// The HTTP status a route answers when a backend call fails this way.
    pub fn status(self) -> u16 {
        match self {
            BackendErrorKind::NotAvailable | BackendErrorKind::Unavailable => 503,
            BackendErrorKind::BadRequest => 400,
            BackendErrorKind::NotFound => 404,
            BackendErrorKind::Conflict => 409,
            BackendErrorKind::Forbidden => 403,
            BackendErrorKind::Internal => 500,
        }
    }

    /// The stable code of this kind.
    pub fn code(self) -> &'static str {
        match self {
            BackendErrorKind::NotAvailable => "backend_not_available",
            BackendErrorKind::BadRequest => "bad_request",
            BackendErrorKind::NotFound => "not_found",
            BackendErrorKind::Conflict => "conflict",
            BackendErrorKind::Forbidden => "forbidden",
            BackendErrorKind::Unavailable => "unavailable",
            BackendErrorKind::Internal => "internal",
        }
    }
}

impl BackendError {
    /// A new backend error.
    pub fn new(kind: BackendErrorKind, message: impl Into<String>) -> Self {
        BackendError { kind, message: message.into().into() }
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.code())
    }
}

impl std::error::Error for BackendError {}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        ApiError::new(e.kind.code(), e.message.to_string(), "")
    }
}

/// A short id that ties an error answered to a client to the log line with its details
/// (panic messages and internals are logged, never sent).
pub fn error_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:012x}", (nanos ^ n.rotate_left(40)) & 0xffff_ffff_ffff)
}
