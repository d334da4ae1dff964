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
    cell::{Cell, RefCell},
    future::Future,
    mem::ManuallyDrop,
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

/// A future that enters the plugin's runtime each time it is polled, and when it is
/// dropped: the host drops unfinished futures (a client that went away, a shutdown
/// deadline), and dropping a plugin future may need the runtime (a pooled connection
/// returning itself spawns a task) or may panic. A panic while dropping is caught and
/// logged here, since async-ffi aborts the process on a panic across the boundary.
pub struct Entered<F> {
    inner: ManuallyDrop<F>,
    /// `inner` has been dropped already (at completion).
    dropped: bool,
}

impl<F> Entered<F> {
    /// Wrap a future.
    pub fn new(inner: F) -> Self {
        Entered { inner: ManuallyDrop::new(inner), dropped: false }
    }

    /// Drop `inner` in place, catching a panic. The caller has entered the runtime.
    fn drop_inner(&mut self) {
        if std::mem::replace(&mut self.dropped, true) {
            return;
        }
        let inner = &mut self.inner;
        // SAFETY: dropped exactly once (guarded by `dropped`), in place, and never
        // touched again.
        let dropped = std::panic::catch_unwind(AssertUnwindSafe(|| unsafe { ManuallyDrop::drop(inner) }));
        if let Err(payload) = dropped {
            let message = panic_message(&*payload);
            let id = crate::error::error_id();
            tracing::error!(error_id = %id, "a plugin future panicked while being dropped{}", caught(&message).describe(&message));
        }
    }
}

impl<F: Future> Future for Entered<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _guard = runtime().enter();
        // Every future the SDK hands over catches its panics inside (`to_ffi`) and logs
        // them there, and `drop_inner` catches its own.
        let _catching = Catching::enter();
        // SAFETY: `inner` is structurally pinned: it is never moved out of `self`, and it
        // is dropped in place (`drop_inner`).
        let this = unsafe { self.get_unchecked_mut() };
        assert!(!this.dropped, "a plugin future was polled after it completed");
        let poll = unsafe { Pin::new_unchecked(&mut *this.inner) }.poll(cx);
        if poll.is_ready() {
            // Dropped now, while the runtime is entered anyway: entering it again in
            // `Drop` a moment later, as for an unfinished future, would cost as much as
            // this whole wrapper (most requests complete in their first poll).
            this.drop_inner();
        }
        poll
    }
}

impl<F> Drop for Entered<F> {
    fn drop(&mut self) {
        if !self.dropped {
            let _guard = runtime().enter();
            let _catching = Catching::enter();
            self.drop_inner();
        }
    }
}

/// Wrap a plugin future for the boundary: run it in the plugin's runtime context and
/// turn a panic into `on_panic(message)` so that no panic ever unwinds into the host.
pub fn to_ffi<F, T>(fut: F, on_panic: impl FnOnce(String) -> T + Send + 'static) -> FfiFuture<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    Entered::new(AssertUnwindSafe(fut).catch_unwind())
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
    let catching = Catching::enter();
    let result = std::panic::catch_unwind(AssertUnwindSafe(body));
    drop(catching);
    match result {
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

thread_local! {
    /// How many of the SDK's guards (a `catch_unwind` whose caller logs the panic) this
    /// thread is inside: their panics are logged once, by the guard, not by the hook.
    static CATCHING: Cell<u32> = const { Cell::new(0) };
    /// The last panic a guard caught on this thread, for the guard's log line.
    static CAUGHT: RefCell<Option<Caught>> = const { RefCell::new(None) };
}

/// Inside one of the SDK's guards for as long as it lives.
struct Catching;

impl Catching {
    fn enter() -> Self {
        let _ = CATCHING.try_with(|c| c.set(c.get() + 1));
        Catching
    }
}

impl Drop for Catching {
    fn drop(&mut self) {
        let _ = CATCHING.try_with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// What the panic hook saw of a panic a guard then caught.
#[derive(Debug, Default)]
pub struct Caught {
    message: String,
    location: String,
    backtrace: Option<String>,
}

impl Caught {
    /// What a panic hook sees of a panic; the backtrace only when `backtraces` is set
    /// (capturing one costs a walk of the stack, and its text a hundred lines).
    pub fn of(info: &std::panic::PanicHookInfo<'_>, backtraces: bool) -> Caught {
        Caught {
            message: panic_message(info.payload()),
            location: info.location().map(|l| l.to_string()).unwrap_or_default(),
            backtrace: backtraces.then(|| std::backtrace::Backtrace::force_capture().to_string()),
        }
    }

    /// The panic's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The rest of a log line about the panic `message`: where it happened and, when the
    /// operator asked for them, the backtrace.
    pub fn describe(&self, message: &str) -> String {
        let at = if self.location.is_empty() { String::new() } else { format!(" at {}", self.location) };
        let backtrace = self.backtrace.as_ref().map(|b| format!("\nbacktrace:\n{b}")).unwrap_or_default();
        format!("{at}: {message}{backtrace}")
    }
}

/// What the hook recorded of the panic with this message on this thread (nothing when it
/// was another's: a plugin that catches its own panics leaves its record behind).
pub fn caught(message: &str) -> Caught {
    CAUGHT.try_with(|c| c.borrow_mut().take()).ok().flatten().filter(|c| c.message == message).unwrap_or_default()
}

/// Replace the standard panic hook, which writes several lines to stderr (and a
/// backtrace of a hundred more when `RUST_BACKTRACE` is set) past the host's log: a panic
/// becomes one log line with an error id and its location, and the backtrace only when
/// the operator asked for it (`backtraces`). A panic inside one of the SDK's guards is
/// only recorded here, and logged by the guard that catches it, with what it was doing.
/// Installed once, when the plugin starts.
pub fn install_panic_hook(backtraces: bool) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        std::panic::set_hook(Box::new(move |info| {
            let caught = Caught::of(info, backtraces);
            if CATCHING.try_with(Cell::get).unwrap_or(0) > 0 {
                let _ = CAUGHT.try_with(|c| *c.borrow_mut() = Some(caught));
            } else {
                let id = crate::error::error_id();
                tracing::error!(error_id = %id, "panicked{}", caught.describe(&caught.message));
            }
        }));
    });
}
