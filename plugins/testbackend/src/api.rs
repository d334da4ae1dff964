//! The testbackend's API, defined with poem-openapi.

use std::sync::atomic::Ordering;

use daas_plugin_api::{
    poem::{self, handler, web::Html, IntoEndpoint, IntoResponse},
    poem_openapi::{
        param::Path,
        param::Query,
        payload::{self, Binary, Json},
        Object, OpenApi,
    },
    protocols::{Info, InfoRequest, InfoResponse, SystemInfo},
    sdk::{host, Attributes, Failure},
    ApiError,
};

use daas_common::{
    bench::{self, DbBenchOp, DbBenchResult},
    protocols::DbClient,
};
use daas_plugin_api::abi::BackendErrorKind;

use crate::Settings;

pub struct TestApi {
    pub settings: Settings,
}

/// A greeting.
#[derive(Object)]
struct Greeting {
    /// `<greeting>, <name>`
    greeting: String,
}

/// Two numbers to add.
#[derive(Object)]
struct SumRequest {
    /// Left operand.
    a: i64,
    /// Right operand.
    b: i64,
}

/// A sum.
#[derive(Object)]
struct SumResponse {
    /// `a + b`, computed by the testbackend backend through the host.
    sum: i64,
}

/// What the layers attached to this request.
#[derive(Object)]
struct WhoAmI {
    /// The `user` attribute (from the testing layer); null without one.
    #[oai(nullable)]
    user: Option<String>,
    /// The operation id the host matched, as the testing layer saw it; null without one.
    #[oai(nullable)]
    operation: Option<String>,
}

/// Statuses the testing layer observed.
#[derive(Object)]
struct Observed {
    /// Responses observed.
    total: u64,
    /// Of which 5xx.
    server_errors: u64,
}

/// System facts as the info plugin reports them.
#[derive(Object)]
struct SystemInfoObject {
    site_name: String,
    hostname: String,
    uptime_seconds: u64,
    abi_version: String,
}

impl From<SystemInfo> for SystemInfoObject {
    fn from(s: SystemInfo) -> Self {
        SystemInfoObject { site_name: s.site_name, hostname: s.hostname, uptime_seconds: s.uptime_seconds, abi_version: s.abi_version }
    }
}

/// A backend call's failure as these routes answer it: 503 with the backend's error,
/// whatever its kind, to show a caller what a failed call between plugins looks like.
fn failed(e: daas_plugin_api::abi::BackendError) -> Failure {
    Failure::Unavailable(Json(e.into()), None)
}

/// Health of the plugin.
#[derive(Object)]
struct Health {
    /// Always `ok` when the plugin answers.
    status: String,
}

#[OpenApi(tag = "ApiTags::Testbackend")]
impl TestApi {
    /// Greet
    ///
    /// Greet someone with the configured greeting.
    #[oai(path = "/hello", method = "get", operation_id = "hello")]
    async fn hello(
        &self,
        /// Who to greet.
        name: Query<Option<String>>,
    ) -> Json<Greeting> {
        let name = name.0.unwrap_or_else(|| "world".into());
        Json(Greeting { greeting: format!("{}, {name}", self.settings.greeting) })
    }

    /// Add two numbers
    ///
    /// Add two numbers through the testbackend backend (a backend call through the host).
    #[oai(path = "/sum", method = "post", operation_id = "sum")]
    async fn sum(&self, body: Json<SumRequest>) -> Result<Json<SumResponse>, Failure> {
        use daas_plugin_api::protocols::{Testing, TestingRequest, TestingResponse};
        match host().call::<Testing>(&TestingRequest::Add { a: body.0.a, b: body.0.b }).await {
            Ok(TestingResponse::Add { sum }) => Ok(Json(SumResponse { sum })),
            Ok(other) => Err(Failure::internal("the testing backend answered something else", format!("{other:?}"))),
            Err(e) => Err(failed(e)),
        }
    }

    /// What the layers attached
    ///
    /// The attributes the layers attached to this request.
    #[oai(path = "/whoami", method = "get", operation_id = "whoami")]
    async fn whoami(&self, attributes: poem::web::Data<&Attributes>) -> Json<WhoAmI> {
        Json(WhoAmI {
            user: attributes.get("user").map(str::to_string),
            operation: attributes.get("testing.operation").map(str::to_string),
        })
    }

    /// Responses observed
    ///
    /// How many responses the testing layer observed.
    #[oai(path = "/observed", method = "get", operation_id = "observed")]
    async fn observed(&self) -> Json<Observed> {
        Json(Observed {
            total: crate::layer::OBSERVED.load(Ordering::Relaxed),
            server_errors: crate::layer::OBSERVED_5XX.load(Ordering::Relaxed),
        })
    }

    /// The info plugin's facts
    ///
    /// The info plugin's system facts, fetched through its backend (a call between two
    /// plugins).
    #[oai(path = "/system", method = "get", operation_id = "system")]
    async fn system(&self) -> Result<Json<SystemInfoObject>, Failure> {
        match host().call::<Info>(&InfoRequest::System).await {
            Ok(InfoResponse::System(s)) => Ok(Json(s.into())),
            Ok(other) => Err(Failure::internal("the info backend answered something else", format!("{other:?}"))),
            Err(e) => Err(failed(e)),
        }
    }

    /// Call an absent backend
    ///
    /// Call a backend no plugin provides here (db), to show the error a caller gets.
    #[oai(path = "/absent-backend", method = "get", operation_id = "absent_backend")]
    async fn absent_backend(&self) -> Result<Json<SumResponse>, Failure> {
        match host().call_raw(daas_plugin_api::BackendName::Db, b"{}".to_vec()).await {
            Ok(_) => Ok(Json(SumResponse { sum: 0 })),
            Err(e) => Err(failed(e)),
        }
    }

    /// Panic in a backend
    ///
    /// Make the backend panic, to show that the panic stays in the plugin.
    #[oai(path = "/backend-panic", method = "get", operation_id = "backend_panic")]
    async fn backend_panic(&self) -> Result<Json<SumResponse>, Failure> {
        use daas_plugin_api::protocols::{Testing, TestingRequest};
        match host().call::<Testing>(&TestingRequest::Panic).await {
            Ok(_) => Ok(Json(SumResponse { sum: 0 })),
            Err(e) => Err(failed(e)),
        }
    }

    /// Time db backend calls
    ///
    /// Bench route (`bash bench/run.sh`, db section): `n` calls of a db backend
    /// operation made from this plugin through the host, after `warmup` untimed ones, one
    /// after another; answers the time the `n` took. Compared with the same calls on the
    /// db plugin's store in-process (`bench/src/bin/db-inproc.rs`, same code:
    /// `daas_common::bench`). Writes to the site's database (one object, plus one per
    /// insert), so it is off (403) unless the settings say `db_bench = true`. Needs the
    /// db plugin on the site, else 503.
    #[oai(path = "/bench/db", method = "post", operation_id = "bench_db")]
    async fn bench_db(
        &self,
        /// The operation: `get`, `insert` or `find`.
        op: Query<DbBenchOp>,
        /// Timed calls.
        // The limits are `bench::MAX_N`: a validator takes a literal.
        #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
        n: Query<u64>,
        /// Untimed calls before them (default 100).
        #[oai(validator(maximum(value = "100000")))]
        warmup: Query<Option<u64>>,
    ) -> Result<Json<DbBenchResult>, Failure> {
        if !self.settings.db_bench {
            return Err(Failure::forbidden(
                "the db bench route is off on this site: it writes to the site's database; \
                 `db_bench = true` in the testbackend's [extensions.plugin.settings] turns it on",
            )
            .with_detail(""));
        }
        match bench::run(&DbClient::host(), op.0, n.0, warmup.0.unwrap_or(100)).await {
            Ok(result) => Ok(Json(result)),
            Err(e) if e.kind == BackendErrorKind::NotAvailable => Err(Failure::Unavailable(
                Json(ApiError::new(
                    e.kind.code(),
                    "the db backend is not loaded on this site: the db bench needs the db plugin in extensions.toml",
                    e.message.to_string(),
                )),
                None,
            )),
            Err(e) => Err(Failure::Internal(Json(e.into()))),
        }
    }

    /// Panic in the handler
    ///
    /// Panic in the handler (answers 500; the server keeps running).
    #[oai(path = "/panic", method = "get", operation_id = "panic")]
    async fn panic(&self) -> Json<Greeting> {
        panic!("testbackend handler panicked on purpose")
    }

    /// Publish an event
    ///
    /// Publish an event on a topic (one of the plugin's: `test.*`, `slow.*`).
    #[oai(path = "/events/:topic", method = "post", operation_id = "publish")]
    async fn publish(
        &self,
        /// The topic.
        topic: Path<String>,
    ) -> Result<Json<Greeting>, Failure> {
        match host().try_publish(&topic.0, &serde_json::json!({ "from": "testbackend" })) {
            Ok(()) => Ok(Json(Greeting { greeting: format!("published on {}", topic.0) })),
            // Not one of the plugin's topics (403), too many events under way (503), a
            // malformed or too large topic or payload (400).
            Err(e) => Err(match e.kind {
                BackendErrorKind::Forbidden => Failure::Forbidden(Json(e.into())),
                BackendErrorKind::Unavailable => Failure::Unavailable(Json(e.into()), None),
                _ => Failure::BadRequest(Json(e.into())),
            }),
        }
    }

    /// Answer after a delay
    ///
    /// Answer after a delay (timers run on the plugin's own runtime). While waiting the
    /// handler holds a guard that, when the request is abandoned, spawns a task on the
    /// plugin's runtime as a pooled connection returning itself would (`drop = spawn`),
    /// or panics (`drop = panic`).
    #[oai(path = "/slow", method = "get", operation_id = "slow")]
    async fn slow(
        &self,
        /// Milliseconds to wait (at most 30000).
        #[oai(validator(maximum(value = "30000")))]
        ms: Query<u64>,
        /// What the guard does when the request is abandoned: `spawn` or `panic`.
        drop: Query<Option<String>>,
    ) -> Json<Greeting> {
        let guard = DropGuard { panic: drop.0.as_deref() == Some("panic"), armed: true };
        tokio::time::sleep(std::time::Duration::from_millis(ms.0)).await;
        let mut guard = guard;
        guard.armed = false;
        Json(Greeting { greeting: format!("waited {} ms", ms.0) })
    }

    /// Echo the request
    ///
    /// The request as this handler receives it, for the tests of the crossing: answers
    /// the body as it came, the method (`x-method`), the path and query (`x-uri`) and the
    /// client's address (`x-remote-addr`) as poem reports them, and every `x-echo`
    /// request header back, in order.
    #[oai(path = "/request", method = "post", operation_id = "request")]
    async fn request(&self, req: &poem::Request, body: Binary<Vec<u8>>) -> payload::Response<Binary<Vec<u8>>> {
        let mut resp = payload::Response::new(body)
            .header("x-method", req.method().as_str())
            .header("x-uri", req.uri().to_string())
            .header("x-remote-addr", req.remote_addr().to_string());
        for value in req.headers().get_all("x-echo") {
            resp = resp.header("x-echo", value.clone());
        }
        resp
    }

    /// Liveness of the plugin
    ///
    /// Liveness of the plugin; public (no identity needed).
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> Json<Health> {
        Json(Health { status: "ok".into() })
    }
}

#[derive(daas_plugin_api::poem_openapi::Tags)]
enum ApiTags {
    /// The worked example plugin.
    Testbackend,
}

/// The page sets a header of the host's security headers itself, to show that the host
/// keeps a plugin's own.
#[handler]
fn page(attributes: poem::web::Data<&Attributes>) -> impl IntoResponse {
    let user = attributes.get("user").unwrap_or("anonymous");
    Html(format!("<!doctype html><title>testbackend</title><p>testbackend browser route, user {}</p>", html_escape(user)))
        .with_header("referrer-policy", "same-origin")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[handler]
fn page_post() -> poem::web::Redirect {
    poem::web::Redirect::see_other("/testbackend")
}

pub fn browser_page() -> impl IntoEndpoint {
    poem::Route::new().at("/testbackend", poem::get(page).post(page_post))
}

/// Runs code in `Drop` that needs the plugin's runtime, like a pooled database connection
/// returning itself; or panics there.
struct DropGuard {
    panic: bool,
    armed: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if self.panic {
            panic!("testbackend guard panicked while its request was abandoned");
        }
        // Panics without the plugin's runtime entered ("there is no reactor running").
        tokio::spawn(async { tracing::info!("testbackend: abandoned request cleaned up") });
    }
}
