//! The plugin's own tokio runtime and the "enter" pattern.
//!
//! Each cdylib links its own copy of tokio, whose thread-locals the host's executor never
//! sets. Every future the plugin hands the host is wrapped in [`Entered`], which enters
//! the plugin's runtime on every poll: timers and sockets created inside then register
//! with the plugin's reactor (driven by the runtime's worker threads), while the host
//! keeps polling the future directly. Measured in the feasibility spike at ~0.8-0.9x
//! native speed, against ~0.6x for spawning onto the runtime and waiting on a oneshot;
//! and a client that goes away cancels the work, since dropping the future drops it.

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::OnceLock,
    task::{Context, Poll},
};

use async_ffi::{FfiFuture, FutureExt as _};
use futures::FutureExt as _;
use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The plugin's runtime, built on first use with two worker threads (these machines
/// have two cores; plugins doing blocking work use `spawn_blocking`).
pub fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("daas-plugin")
            .enable_all()
            .build()
            .expect("the plugin's tokio runtime could not be built (out of threads or file descriptors?)")
    })
}

pin_project_lite::pin_project! {
    /// A future that enters the plugin's runtime each time it is polled.
    pub struct Entered<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for Entered<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _guard = runtime().enter();
        self.project().inner.poll(cx)
    }
}

/// Wrap a plugin future for the boundary: run it in the plugin's runtime context and
/// turn a panic into `on_panic(message)` so that no panic ever unwinds into the host.
pub fn to_ffi<F, T>(fut: F, on_panic: impl FnOnce(String) -> T + Send + 'static) -> FfiFuture<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    Entered { inner: AssertUnwindSafe(fut).catch_unwind() }
        .map(|r| match r {
            Ok(v) => v,
            Err(payload) => on_panic(panic_message(&*payload)),
        })
        .into_ffi()
}

/// Run a synchronous export body, turning a panic into `on_panic(message)`. abi_stable
/// aborts the process when a panic reaches an `extern "C"` function, so every export
/// goes through here.
pub fn guard<T>(body: impl FnOnce() -> T, on_panic: impl FnOnce(String) -> T) -> T {
    match std::panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => on_panic(panic_message(&*payload)),
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}
