//! # testbackend: the worked example plugin
//!
//! Every feature of the plugin ABI in one small plugin, used by the integration tests
//! and the benchmarks:
//!
//! - an API defined with poem-openapi (`/api/v1/testbackend/...`): typed parameters and
//!   bodies with validation, a route that reads the layers' attributes, one that calls
//!   another plugin's backend, one that panics, one that publishes an event;
//! - root-level browser routes (`GET /testbackend`, public, and `POST /testbackend`);
//! - a WebSocket route (`/api/v1/testbackend/echo`, subprotocol `echo`);
//! - the `testbackend` backend (typed protocol [`daas_plugin_api::protocols::Testing`]);
//! - the `testing` layer: rejects a request that carries `x-test-reject: <status>`
//!   (naming the operation and the rule the host says it requires), otherwise attaches
//!   the attribute `user` from `x-test-user`, and counts the statuses it observes;
//! - an event handler for the topics `slow.<ms>` that takes that many milliseconds, and
//!   a route that publishes on the topics it declares (`test.*`, `slow.*`);
//! - a ready hook that calls the info plugin's backend once every plugin has started
//!   (and fails on demand, `fail_ready`);
//! - settings from its `[[extensions.plugin]]` entry (`greeting`, `start_delay_ms`,
//!   `fail_ready`);
//! - the db bench's route (`POST /api/v1/testbackend/bench/db`, for bench/run.sh): db
//!   backend calls through the host, timed in the plugin; only with `db_bench = true`
//!   in the settings, and 503 without the db plugin.

mod api;
mod layer;

use daas_plugin_api::{
    abi::{BrowserRoute, WsMessage},
    export_plugin,
    names::{LayerName, PluginName},
    permissions::{Operation, Rule},
    poem_openapi::OpenApiService,
    protocols::{Info, InfoRequest, Testing, TestingRequest, TestingResponse},
    sdk::{host, PluginBuilder, PluginContext, WebSocket, WsRequest},
};
use serde::Deserialize;

/// Settings of the testbackend plugin (`[extensions.plugin.settings]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The word `/hello` greets with.
    pub greeting: String,
    /// Turns the db bench route on. Off by default: it writes rows into the site's
    /// database, should a site ever load this plugin next to its real data.
    pub db_bench: bool,
    /// Take this long to start, in milliseconds (the tests of a signal during start-up).
    pub start_delay_ms: u64,
    /// Fail in the ready hook (the tests of a failing hook).
    pub fail_ready: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { greeting: "hello".into(), db_bench: false, start_delay_ms: 0, fail_ready: false }
    }
}

async fn start(ctx: PluginContext) -> Result<PluginBuilder, String> {
    let settings: Settings = ctx.settings()?;
    tracing::info!(greeting = %settings.greeting, "testbackend starting");
    if settings.start_delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(settings.start_delay_ms)).await;
    }
    let fail_ready = settings.fail_ready;
    let api = OpenApiService::new(api::TestApi { settings }, "testbackend", env!("CARGO_PKG_VERSION"))
        .description("The worked example plugin: every feature of the plugin ABI.");
    Ok(PluginBuilder::new()
        .api(api)
        .public_operations(["health"])
        // The permission each operation needs: reading at own scope; the routes that
        // post something need `create` (the bench writes rows).
        .requires(
            ["hello", "whoami", "observed", "system", "absent_backend", "backend_panic", "panic", "slow", "ws_echo"]
                .map(|op| (op, Rule::own("testbackend", Operation::View))),
        )
        .requires(["sum", "publish", "request", "bench_db", "page_post"].map(|op| (op, Rule::own("testbackend", Operation::Create))))
        .rule(Rule::own("testbackend", Operation::View), "Call the worked example's reading routes.")
        .browser(
            [
                BrowserRoute::new("GET", "/testbackend", "page", "The testbackend's browser page.").public(),
                BrowserRoute::new("POST", "/testbackend", "page_post", "A form target: redirects back to the page."),
            ],
            api::browser_page(),
        )
        .websocket("/echo", "echo", false, echo)
        .backend::<Testing, _, _>(|request| async move {
            match request {
                TestingRequest::Echo { text } => Ok(TestingResponse::Echo { text }),
                TestingRequest::Add { a, b } => Ok(TestingResponse::Add { sum: a.wrapping_add(b) }),
                TestingRequest::Panic => panic!("testbackend was asked to panic in its backend"),
            }
        })
        .layer(LayerName::Testing, layer::TestingLayer)
        // What its publish route may publish on: `test.*` for the tests of the bus,
        // `slow.*` for its own slow handler.
        .publishes(["test.*", "slow.*"])
        // `slow.<ms>`: a handler that takes that long (the tests of draining at shutdown).
        .on_event(&["slow.*"], |topic, _payload| async move {
            let ms: u64 = topic.strip_prefix("slow.").and_then(|ms| ms.parse().ok()).unwrap_or(0);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            tracing::info!(topic, "testbackend: slow event handled");
        })
        // Once every plugin has started, other plugins' backends answer: ask info's.
        .on_ready(move || async move {
            if fail_ready {
                return Err("asked to fail (`fail_ready` in its settings)".into());
            }
            match host().call::<Info>(&InfoRequest::System).await {
                Ok(_) => tracing::info!("testbackend ready: the info backend answers"),
                Err(e) => tracing::info!(error = %e, "testbackend ready: no info backend"),
            }
            Ok(())
        })
        .on_stop(|| async { tracing::info!("testbackend stopped") }))
}

/// Echo every text and binary message back; a text `close` closes with code 4000.
async fn echo(_request: WsRequest, ws: WebSocket) {
    while let Some(msg) = ws.recv().await {
        let reply = match msg {
            WsMessage::Text(t) if t.as_str() == "close" => WsMessage::Close(4000, "closed on request".into()),
            WsMessage::Close(..) => break,
            other => other,
        };
        let closing = matches!(reply, WsMessage::Close(..));
        if ws.send(reply).await.is_err() || closing {
            break;
        }
    }
}

export_plugin!(PluginName::Testing, start);
