//! A typed client of any backend protocol: the plumbing every backend's client shares
//! (the transport, the one raw call, the "answered something else" error), so that a
//! protocol's own client (`DbClient`, `ContainerClient`) is only its methods.
//!
//! ```ignore
//! pub struct InfoClient(BackendClient<Info>);
//! impl InfoClient {
//!     pub async fn system(&self) -> Result<SystemInfo, BackendError> {
//!         self.0.expect(InfoRequest::System, |answer| match answer {
//!             InfoResponse::System(info) => Ok(info),
//!             other => Err(other),
//!         }).await
//!     }
//! }
//! ```

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::{
    abi::{BackendError, BackendErrorKind},
    sdk::{host, BackendProtocol},
};

type Call<P> = Arc<
    dyn Fn(<P as BackendProtocol>::Request) -> BoxFuture<'static, Result<<P as BackendProtocol>::Response, BackendError>> + Send + Sync,
>;

/// A handle on the backend of protocol `P`. Cheap to clone.
pub struct BackendClient<P: BackendProtocol> {
    call: Call<P>,
}

impl<P: BackendProtocol> Clone for BackendClient<P> {
    fn clone(&self) -> Self {
        BackendClient { call: self.call.clone() }
    }
}

impl<P: BackendProtocol> BackendClient<P> {
    /// The backend through the host (inside a plugin): whichever plugin provides it.
    pub fn host() -> Self {
        Self::from_fn(|request| Box::pin(async move { host().call::<P>(&request).await }))
    }

    /// Any other transport: a backend's own tests call its handler directly, tools call
    /// it in-process, tests fake it.
    pub fn from_fn(f: impl Fn(P::Request) -> BoxFuture<'static, Result<P::Response, BackendError>> + Send + Sync + 'static) -> Self {
        BackendClient { call: Arc::new(f) }
    }

    /// Send one request and get its raw answer.
    pub async fn request(&self, request: P::Request) -> Result<P::Response, BackendError> {
        (self.call)(request).await
    }

    /// Send one request and pick the answer it must have: `pick` gives back an answer of
    /// another kind, which becomes an internal error naming the backend and the answer.
    pub async fn expect<T>(
        &self,
        request: P::Request,
        pick: impl FnOnce(P::Response) -> Result<T, P::Response>,
    ) -> Result<T, BackendError> {
        pick(self.request(request).await?).map_err(unexpected::<P>)
    }
}

/// The error of an answer of the wrong kind: a bug, or caller and provider built
/// against different protocol versions.
pub fn unexpected<P: BackendProtocol>(answer: P::Response) -> BackendError {
    let answer = serde_json::to_string(&answer).unwrap_or_else(|_| "an answer".into());
    let answer: String = answer.chars().take(200).collect();
    BackendError::new(
        BackendErrorKind::Internal,
        format!("the {} backend answered {answer} to a request that expects another answer", P::NAME),
    )
}
