//! What a plugin's routes share: the one error response every operation answers with
//! ([`Failure`]), the caller the auth layer attached ([`Caller`]), and the plain
//! success answers ([`Created`], [`Done`]).
//!
//! ```ignore
//! #[oai(path = "/things/:id", method = "get")]
//! async fn get(&self, caller: Caller, id: Path<String>) -> Result<Json<Thing>, Failure> {
//!     let thing = self.db.get::<Thing>(&id).await?;      // a BackendError becomes its status
//!     if !caller.can_see(thing.id_owner) {
//!         return Err(Failure::not_found(format!("thing `{}` does not exist", id.0)));
//!     }
//!     Ok(Json(thing))
//! }
//! ```

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::{
    payload::Json,
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON},
    ApiResponse,
};

use crate::{
    abi::{BackendError, BackendErrorKind},
    error::{error_id, ApiError},
    identity::Identity,
    sdk::Attributes,
};

/// Why an operation failed: a status and the JSON [`ApiError`] body. Every plugin's
/// operations answer `Result<_, Failure>`, so every error status is documented with the
/// same schema, and a [`BackendError`] (`?` on a backend call) maps to its status in one
/// place.
#[derive(ApiResponse, Debug)]
pub enum Failure {
    /// The request is invalid; the message names the value and says why.
    #[oai(status = 400)]
    BadRequest(Json<ApiError>),
    /// No authenticated caller: log in, or send a bearer or access token.
    #[oai(status = 401)]
    Unauthenticated(Json<ApiError>),
    /// The caller may not do this (a missing permission, administrators only, or a
    /// limit reached).
    #[oai(status = 403)]
    Forbidden(Json<ApiError>),
    /// It does not exist, or the caller may not see it.
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
    /// It conflicts with what exists (the same id or name, or the object's state).
    #[oai(status = 409)]
    Conflict(Json<ApiError>),
    /// Well-formed and allowed, but it cannot be done as asked: what the schema cannot
    /// say (a one-time code that does not match, an app of another kind).
    #[oai(status = 422)]
    Unprocessable(Json<ApiError>),
    /// Too many requests; retry after the seconds in `Retry-After`.
    #[oai(status = 429)]
    TooManyRequests(Json<ApiError>, #[oai(header = "Retry-After")] Option<String>),
    /// The server failed; the message carries an error id that names the log line.
    #[oai(status = 500)]
    Internal(Json<ApiError>),
    /// A service this operation needs does not answer, or the server is busy (then
    /// with `Retry-After`).
    #[oai(status = 503)]
    Unavailable(Json<ApiError>, #[oai(header = "Retry-After")] Option<String>),
}

impl Failure {
    /// 400 with code `bad_request`.
    pub fn bad(message: impl Into<String>) -> Failure {
        Failure::BadRequest(Json(ApiError::new("bad_request", message, "")))
    }

    /// 401: the operation needs an authenticated caller.
    pub fn unauthenticated() -> Failure {
        Failure::Unauthenticated(Json(ApiError::new(
            "unauthenticated",
            "this route needs an authenticated user",
            "log in, or send a bearer or access token",
        )))
    }

    /// 403 with code `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Failure {
        Failure::Forbidden(Json(ApiError::new("forbidden", message, "ask an administrator")))
    }

    /// 404 with code `not_found`.
    pub fn not_found(message: impl Into<String>) -> Failure {
        Failure::NotFound(Json(ApiError::new("not_found", message, "")))
    }

    /// 409 with code `conflict`.
    pub fn conflict(message: impl Into<String>) -> Failure {
        Failure::Conflict(Json(ApiError::new("conflict", message, "")))
    }

    /// 422 with code `unprocessable`: the request is valid by the schema, yet cannot be
    /// done as asked.
    pub fn unprocessable(message: impl Into<String>) -> Failure {
        Failure::Unprocessable(Json(ApiError::new("unprocessable", message, "")))
    }

    /// 429 with `Retry-After`.
    pub fn too_many(code: &str, message: impl Into<String>, retry_after_secs: u64) -> Failure {
        Failure::TooManyRequests(Json(ApiError::new(code, message, "")), Some(retry_after_secs.to_string()))
    }

    /// 503 with code `unavailable`.
    pub fn unavailable(message: impl Into<String>) -> Failure {
        Failure::Unavailable(Json(ApiError::new("unavailable", message, "try again shortly")), None)
    }

    /// 500: logs `error` under a fresh error id and answers only the id and `context`,
    /// so that no internal detail reaches the client.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Failure {
        let id = error_id();
        tracing::error!(error_id = %id, error = %error, "{context}");
        Failure::Internal(Json(ApiError::new("internal", format!("{context} (error id {id})"), "the server's log has the details")))
    }

    /// The same failure with another code (`otp_required`, `busy`, ...).
    pub fn with_code(mut self, code: &str) -> Failure {
        self.body_mut().code = code.to_string();
        self
    }

    /// The same failure with a `detail` saying what to do.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Failure {
        self.body_mut().detail = detail.into();
        self
    }

    /// The same failure with `Retry-After` (429 and 503 only; others have no such header).
    pub fn retry_after(mut self, secs: u64) -> Failure {
        if let Failure::TooManyRequests(_, h) | Failure::Unavailable(_, h) = &mut self {
            *h = Some(secs.to_string());
        }
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Failure::BadRequest(_) => 400,
            Failure::Unauthenticated(_) => 401,
            Failure::Forbidden(_) => 403,
            Failure::NotFound(_) => 404,
            Failure::Conflict(_) => 409,
            Failure::Unprocessable(_) => 422,
            Failure::TooManyRequests(..) => 429,
            Failure::Internal(_) => 500,
            Failure::Unavailable(..) => 503,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> &ApiError {
        match self {
            Failure::BadRequest(b)
            | Failure::Unauthenticated(b)
            | Failure::Forbidden(b)
            | Failure::NotFound(b)
            | Failure::Conflict(b)
            | Failure::Unprocessable(b)
            | Failure::TooManyRequests(b, _)
            | Failure::Internal(b)
            | Failure::Unavailable(b, _) => &b.0,
        }
    }

    fn body_mut(&mut self) -> &mut ApiError {
        match self {
            Failure::BadRequest(b)
            | Failure::Unauthenticated(b)
            | Failure::Forbidden(b)
            | Failure::NotFound(b)
            | Failure::Conflict(b)
            | Failure::Unprocessable(b)
            | Failure::TooManyRequests(b, _)
            | Failure::Internal(b)
            | Failure::Unavailable(b, _) => &mut b.0,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status(), self.body().code, self.body().message)
    }
}

/// The one mapping of a backend's error kinds to statuses. An internal error's message
/// may carry details of the backend (a query, a path): it is logged under an error id
/// and only the id is answered.
impl From<BackendError> for Failure {
    fn from(e: BackendError) -> Failure {
        let body = Json(ApiError::from(e.clone()));
        match e.kind {
            BackendErrorKind::BadRequest => Failure::BadRequest(body),
            BackendErrorKind::NotFound => Failure::NotFound(body),
            BackendErrorKind::Conflict => Failure::Conflict(body),
            BackendErrorKind::Forbidden => Failure::Forbidden(body),
            BackendErrorKind::Unavailable | BackendErrorKind::NotAvailable => Failure::Unavailable(body, None),
            BackendErrorKind::Internal => Failure::internal("a backend request failed", &e),
        }
    }
}

/// A route's failure as a backend's answer (a backend that shares its routes' checks):
/// the status picks the kind, the message stays. A 500's message is the error id only.
impl From<Failure> for BackendError {
    fn from(f: Failure) -> BackendError {
        let kind = match f.status() {
            400 | 422 => BackendErrorKind::BadRequest,
            401 | 403 => BackendErrorKind::Forbidden,
            404 => BackendErrorKind::NotFound,
            409 => BackendErrorKind::Conflict,
            429 | 503 => BackendErrorKind::Unavailable,
            _ => BackendErrorKind::Internal,
        };
        BackendError::new(kind, f.body().message.clone())
    }
}

impl From<ApiError> for Failure {
    /// By the body's code; an unknown code is a 500.
    fn from(body: ApiError) -> Failure {
        let body = Json(body);
        match body.0.code.as_str() {
            "bad_request" => Failure::BadRequest(body),
            "unauthenticated" => Failure::Unauthenticated(body),
            "forbidden" => Failure::Forbidden(body),
            "not_found" => Failure::NotFound(body),
            "conflict" => Failure::Conflict(body),
            "unprocessable" => Failure::Unprocessable(body),
            "unavailable" | "backend_not_available" => Failure::Unavailable(body, None),
            _ => Failure::Internal(body),
        }
    }
}

/// The authenticated caller, as the auth layer attached it to the request. An
/// operation that takes a `Caller` argument answers 401 (with the JSON error) when no
/// layer attached an identity; it never guesses one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub Identity);

impl Caller {
    /// The caller if they are an administrator; 403 naming `what` only administrators
    /// do otherwise ("manage users").
    pub fn admin(self, what: &str) -> Result<Identity, Failure> {
        if self.0.admin {
            Ok(self.0)
        } else {
            Err(Failure::forbidden(format!("only administrators {what}")))
        }
    }

    /// The identity.
    pub fn into_inner(self) -> Identity {
        self.0
    }
}

impl std::ops::Deref for Caller {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.0
    }
}

impl<'a> FromRequest<'a> for Caller {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        req.extensions()
            .get::<Attributes>()
            .and_then(Identity::from_attributes)
            .map(Caller)
            .ok_or_else(|| poem::Error::from_response(poem::IntoResponse::into_response(Failure::unauthenticated())))
    }
}

/// 201 with the created resource.
#[derive(ApiResponse)]
pub enum Created<T: ToJSON + ParseFromJSON + Send + Sync> {
    /// Created; the body is the resource as stored.
    #[oai(status = 201)]
    Created(Json<T>),
}

/// 204: done, nothing to answer.
#[derive(ApiResponse)]
pub enum Done {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// A string field that takes only a JSON string: poem-openapi's `String` also takes a
/// number or a boolean and stores its text (a name `123` would become `"123"`). Use as
/// `#[oai(deserialize_with = "daas_plugin_api::sdk::text")]` on a `String` field
/// without a default (a field with `#[oai(default)]` skips `deserialize_with`: make it
/// an `Option<String>` with [`maybe_text`] instead).
pub fn text(value: Option<serde_json::Value>) -> ParseResult<String> {
    match value {
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(other) => Err(ParseError::custom(format!("expected a string, found {}", json_kind(&other)))),
        None => Err(ParseError::custom("the field is required")),
    }
}

/// [`text`] for an optional field: absent is none; `null` is refused, as the schema
/// (which does not declare it nullable) says.
pub fn maybe_text(value: Option<serde_json::Value>) -> ParseResult<Option<String>> {
    match value {
        None => Ok(None),
        Some(serde_json::Value::Null) => Err(null_refused()),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ParseError::custom(format!("expected a string, found {}", json_kind(&other)))),
    }
}

/// An optional field of any other type read as its schema says: absent is none, `null`
/// refused (poem-openapi alone reads `null` as absent, which a schema without `nullable`
/// forbids). Use as `#[oai(deserialize_with = "daas_plugin_api::sdk::present")]`.
pub fn present<T: poem_openapi::types::ParseFromJSON>(value: Option<serde_json::Value>) -> ParseResult<Option<T>> {
    match value {
        None => Ok(None),
        Some(serde_json::Value::Null) => Err(null_refused()),
        Some(value) => T::parse_from_json(Some(value)).map(Some).map_err(|e| ParseError::custom(e.into_message())),
    }
}

fn null_refused<T: poem_openapi::types::Type>() -> ParseError<T> {
    ParseError::custom("null is not a value of this field; leave the field out instead")
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// poem-openapi reads path parameters under names of its own (`param0`, `param1`, in
/// the order of the path), and its parse error names those. This wraps a plugin's API
/// so that the 400 names the parameter of the operation's path instead (`id`), with the
/// reason. `spec` is the API's document, whose path templates give the names.
pub(crate) fn named_path_errors(endpoint: poem::endpoint::BoxEndpoint<'static>, spec: &str) -> poem::endpoint::BoxEndpoint<'static> {
    use poem::EndpointExt;
    let templates: Vec<String> = serde_json::from_str::<serde_json::Value>(spec)
        .ok()
        .and_then(|doc| Some(doc.get("paths")?.as_object()?.keys().cloned().collect()))
        .unwrap_or_default();
    // Once per plugin, which is never unloaded: a request pays no reference count.
    let templates: &'static [String] = Vec::leak(templates);
    endpoint
        .around(move |ep, req| async move {
            let uri = req.uri().clone();
            ep.call(req).await.map_err(|err| name_path_error(err, uri.path(), templates))
        })
        .boxed()
}

fn name_path_error(err: poem::Error, path: &str, templates: &[String]) -> poem::Error {
    let Some(parse) = err.downcast_ref::<poem_openapi::error::ParsePathError>() else { return err };
    let Some(n) = parse.name.strip_prefix("param").and_then(|n| n.parse::<usize>().ok()) else { return err };
    let name = templates
        .iter()
        .filter(|t| crate::paths::match_path(t, path).is_some())
        .find_map(|t| t.split('/').filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).nth(n).map(str::to_string));
    let Some(name) = name else { return err };
    let failure = Failure::bad(format!("the path parameter `{name}` is not valid: {}", parse.reason))
        .with_detail("check the request against /openapi.json");
    poem::Error::from_response(poem::IntoResponse::into_response(failure))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_parse_error_names_the_parameter() {
        let templates = vec!["/users/{id}/roles/{role_id}".to_string()];
        let err = poem::Error::from(poem_openapi::error::ParsePathError { name: "param1", reason: "not an integer".into() });
        let named = name_path_error(err, "/users/1/roles/x", &templates);
        let body = poem::IntoResponse::into_response(named.into_response());
        assert_eq!(body.status(), 400);
        let err = poem::Error::from(poem_openapi::error::ParsePathError { name: "param1", reason: "not an integer".into() });
        let named = name_path_error(err, "/users/1/roles/x", &templates);
        assert!(named.is_from_response());
    }

    #[test]
    fn text_takes_only_strings() {
        assert_eq!(text(Some(serde_json::json!("a"))).ok(), Some("a".to_string()));
        assert!(text(Some(serde_json::json!(123))).is_err());
        assert!(maybe_text(Some(serde_json::json!(true))).is_err());
        assert!(maybe_text(Some(serde_json::Value::Null)).is_err(), "the schema does not declare null");
        assert_eq!(maybe_text(None).ok(), Some(None));
        assert!(present::<bool>(Some(serde_json::Value::Null)).is_err());
        assert_eq!(present::<bool>(Some(serde_json::json!(true))).ok(), Some(Some(true)));
        assert!(present::<bool>(Some(serde_json::json!("true"))).is_err());
    }
}
