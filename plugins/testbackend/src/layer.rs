//! The `testing` layer: reject on demand, annotate with a user (and an [`Identity`] in
//! place of the auth layer), observe statuses.

use std::sync::atomic::{AtomicU64, Ordering};

use daas_plugin_api::{
    abi::{LayerRequest, LayerVerdict},
    futures::future::BoxFuture,
    identity::Identity,
    sdk::Layer,
    ApiError,
};

/// Responses the layer observed (for `/api/v1/testbackend/observed`).
pub static OBSERVED: AtomicU64 = AtomicU64::new(0);
/// Responses with a 5xx status the layer observed.
pub static OBSERVED_5XX: AtomicU64 = AtomicU64::new(0);

pub struct TestingLayer;

fn header<'a>(req: &'a LayerRequest, name: &str) -> Option<&'a str> {
    req.header(name)
}

impl Layer for TestingLayer {
    fn before(&self, req: LayerRequest) -> BoxFuture<'static, LayerVerdict> {
        let verdict = if let Some(status) = header(&req, "x-test-reject").and_then(|s| s.parse::<u16>().ok()) {
            LayerVerdict::Reject(
                ApiError::new(
                    "rejected_by_layer",
                    format!(
                        "the testing layer rejected {} {} (operation `{}`, rule `{}`)",
                        req.method(),
                        req.uri(),
                        req.operation_id,
                        req.rule().map(|r| r.to_string()).unwrap_or_default()
                    ),
                    "drop the x-test-reject header",
                )
                .to_ffi(status),
            )
        } else {
            let mut attrs: Vec<(String, String)> = vec![("testing.operation".into(), req.operation_id.to_string())];
            if let Some(user) = header(&req, "x-test-user") {
                attrs.push(("user".into(), user.to_string()));
            }
            // Stands in for the auth layer in tests: `x-test-user-id: 7` (and
            // `x-test-admin: true`) make the caller that user.
            if let Some(user_id) = header(&req, "x-test-user-id").and_then(|s| s.parse::<i64>().ok()) {
                let identity = Identity {
                    user_id,
                    user_name: header(&req, "x-test-user").unwrap_or_default().to_string(),
                    admin: header(&req, "x-test-admin") == Some("true"),
                };
                attrs.extend(identity.to_attributes());
            }
            LayerVerdict::Continue(attrs.into_iter().map(|(k, v)| (k.into(), v.into()).into()).collect())
        };
        Box::pin(async move { verdict })
    }

    fn after(&self, _req: LayerRequest, status: u16) -> BoxFuture<'static, ()> {
        OBSERVED.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            OBSERVED_5XX.fetch_add(1, Ordering::Relaxed);
        }
        Box::pin(async {})
    }
}
