//! The testbackend's API, defined with poem-openapi.

use std::sync::atomic::Ordering;

use daas_plugin_api::{
    poem::{self, handler, web::Html, IntoEndpoint, IntoResponse},
    poem_openapi::{
        param::Path,
        param::Query,
        payload::{self, Binary, Json},
        ApiResponse, Object, OpenApi,
    },
    protocols::{Info, InfoRequest, InfoResponse, SystemInfo},
    sdk::{host, Attributes},
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
    /// The `user` attribute (from the testing layer), if any.
    user: Option<String>,
    /// The operation id the host matched, as the testing layer saw it.
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

#[derive(ApiResponse)]
enum SystemResponse {
    /// The info plugin's system facts.
    #[oai(status = 200)]
    Ok(Json<SystemInfoObject>),
    /// The info backend failed or is not loaded.
    #[oai(status = 503)]
    Unavailable(Json<ApiError>),
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

#[derive(ApiResponse)]
enum BenchDbResponse {
    /// The timed calls and how fast they went.
    #[oai(status = 200)]
    Ok(Json<DbBenchResult>),
    /// The route is off on this site (settings: `db_bench`).
    #[oai(status = 403)]
    Off(Json<ApiError>),
    /// A call failed; the body says why.
    #[oai(status = 500)]
    Failed(Json<ApiError>),
    /// The db backend is not loaded on this site.
    #[oai(status = 503)]
    Unavailable(Json<ApiError>),
}

#[derive(ApiResponse)]
enum PublishResponse {
    /// The bus took the event.
    #[oai(status = 200)]
    Ok(Json<Greeting>),
    /// The topic or the payload is malformed or too large.
    #[oai(status = 400)]
    BadRequest(Json<ApiError>),
    /// Not one of the plugin's topics, or one of the host's.
    #[oai(status = 403)]
    Forbidden(Json<ApiError>),
    /// Too many events under way; try again later.
    #[oai(status = 503)]
    Busy(Json<ApiError>),
}

#[derive(ApiResponse)]
enum BackendCallResponse {
    /// The call succeeded.
    #[oai(status = 200)]
    Ok(Json<SumResponse>),
    /// The backend failed; the body says why.
    #[oai(status = 503)]
    Failed(Json<ApiError>),
}

/// Health of the plugin.
#[derive(Object)]
struct Health {
    /// Always `ok` when the plugin answers.
    status: String,
}

#[OpenApi(tag = "ApiTags::Testbackend")]
impl TestApi {
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

    /// Add two numbers through the testbackend backend (a backend call through the host).
    #[oai(path = "/sum", method = "post", operation_id = "sum")]
    async fn sum(&self, body: Json<SumRequest>) -> BackendCallResponse {
        use daas_plugin_api::protocols::{Testing, TestingRequest, TestingResponse};
        match host().call::<Testing>(&TestingRequest::Add { a: body.0.a, b: body.0.b }).await {
            Ok(TestingResponse::Add { sum }) => BackendCallResponse::Ok(Json(SumResponse { sum })),
            Ok(other) => BackendCallResponse::Failed(Json(ApiError::new("internal", format!("unexpected answer {other:?}"), ""))),
            Err(e) => BackendCallResponse::Failed(Json(e.into())),
        }
    }

    /// The attributes the layers attached to this request.
    #[oai(path = "/whoami", method = "get", operation_id = "whoami")]
    async fn whoami(&self, attributes: poem::web::Data<&Attributes>) -> Json<WhoAmI> {
        Json(WhoAmI {
            user: attributes.get("user").map(str::to_string),
            operation: attributes.get("testing.operation").map(str::to_string),
        })
    }

    /// How many responses the testing layer observed.
    #[oai(path = "/observed", method = "get", operation_id = "observed")]
    async fn observed(&self) -> Json<Observed> {
        Json(Observed {
            total: crate::layer::OBSERVED.load(Ordering::Relaxed),
            server_errors: crate::layer::OBSERVED_5XX.load(Ordering::Relaxed),
        })
    }

    /// The info plugin's system facts, fetched through its backend (a call between two
    /// plugins).
    #[oai(path = "/system", method = "get", operation_id = "system")]
    async fn system(&self) -> SystemResponse {
        match host().call::<Info>(&InfoRequest::System).await {
            Ok(InfoResponse::System(s)) => SystemResponse::Ok(Json(s.into())),
            Ok(other) => SystemResponse::Unavailable(Json(ApiError::new("internal", format!("unexpected answer {other:?}"), ""))),
            Err(e) => SystemResponse::Unavailable(Json(e.into())),
        }
    }

    /// Call a backend no plugin provides here (db), to show the error a caller gets.
    #[oai(path = "/absent-backend", method = "get", operation_id = "absent_backend")]
    async fn absent_backend(&self) -> BackendCallResponse {
        match host().call_raw(daas_plugin_api::BackendName::Db, b"{}".to_vec()).await {
            Ok(_) => BackendCallResponse::Ok(Json(SumResponse { sum: 0 })),
            Err(e) => BackendCallResponse::Failed(Json(e.into())),
        }
    }

    /// Make the backend panic, to show that the panic stays in the plugin.
    #[oai(path = "/backend-panic", method = "get", operation_id = "backend_panic")]
    async fn backend_panic(&self) -> BackendCallResponse {
        use daas_plugin_api::protocols::{Testing, TestingRequest};
        match host().call::<Testing>(&TestingRequest::Panic).await {
            Ok(_) => BackendCallResponse::Ok(Json(SumResponse { sum: 0 })),
            Err(e) => BackendCallResponse::Failed(Json(e.into())),
        }
    }

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
    ) -> BenchDbResponse {
        if !self.settings.db_bench {
            return BenchDbResponse::Off(Json(ApiError::new(
                "forbidden",
                "the db bench route is off on this site: it writes to the site's database; \
                 `db_bench = true` in the testbackend's [extensions.plugin.settings] turns it on",
                "",
            )));
        }
        match bench::run(&DbClient::host(), op.0, n.0, warmup.0.unwrap_or(100)).await {
            Ok(result) => BenchDbResponse::Ok(Json(result)),
            Err(e) if e.kind == BackendErrorKind::NotAvailable => BenchDbResponse::Unavailable(Json(ApiError::new(
                e.kind.code(),
                "the db backend is not loaded on this site: the db bench needs the db plugin in extensions.toml",
                e.message.to_string(),
            ))),
            Err(e) => BenchDbResponse::Failed(Json(e.into())),
        }
    }

    /// Panic in the handler (answers 500; the server keeps running).
    #[oai(path = "/panic", method = "get", operation_id = "panic")]
    async fn panic(&self) -> Json<Greeting> {
        panic!("testbackend handler panicked on purpose")
    }

    /// Publish an event on a topic (one of the plugin's: `test.*`, `slow.*`).
    #[oai(path = "/events/:topic", method = "post", operation_id = "publish")]
    async fn publish(
        &self,
        /// The topic.
        topic: Path<String>,
    ) -> PublishResponse {
        match host().try_publish(&topic.0, &serde_json::json!({ "from": "testbackend" })) {
            Ok(()) => PublishResponse::Ok(Json(Greeting { greeting: format!("published on {}", topic.0) })),
            Err(e) => match e.kind {
                BackendErrorKind::Forbidden => PublishResponse::Forbidden(Json(e.into())),
                BackendErrorKind::Unavailable => PublishResponse::Busy(Json(e.into())),
                _ => PublishResponse::BadRequest(Json(e.into())),
            },
        }
    }

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
