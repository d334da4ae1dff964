//! The plugin's handle on the host: backend calls, events, logging.

use std::sync::OnceLock;

use abi_stable::std_types::{RStr, RVec};
use serde::{de::DeserializeOwned, Serialize};

use crate::{
    abi::{BackendError, BackendErrorKind, HostServices, LogLevel},
    names::BackendName,
};

/// A typed backend protocol: the request and response types of one [`BackendName`].
/// Both sides serialize them as JSON; callers use [`Host::call`], providers
/// [`PluginBuilder::backend`](crate::sdk::PluginBuilder::backend).
pub trait BackendProtocol: 'static {
    /// The backend this protocol talks to.
    const NAME: BackendName;
    /// What callers send.
    type Request: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// What the backend answers.
    type Response: Serialize + DeserializeOwned + Send + 'static;
}

/// The host's services, as seen from inside a plugin. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Host {
    services: HostServices,
}

static HOST: OnceLock<Host> = OnceLock::new();

/// The host handle of this plugin. Available from the moment the plugin's start function
/// runs; calling it before (in a test without a host) panics with a clear message.
pub fn host() -> Host {
    *HOST.get().expect("daas host services are not set: the plugin has not been started by a host")
}

pub(crate) fn install(services: HostServices) -> Host {
    let host = Host { services };
    let _ = HOST.set(host);
    host
}

impl Host {
    /// Call another plugin's backend with a typed request.
    pub async fn call<P: BackendProtocol>(&self, request: &P::Request) -> Result<P::Response, BackendError> {
        let bytes = serde_json::to_vec(request).map_err(|e| {
            BackendError::new(BackendErrorKind::BadRequest, format!("request for backend `{}` could not be encoded: {e}", P::NAME))
        })?;
        let answer = self.call_raw(P::NAME, bytes).await?;
        serde_json::from_slice(&answer).map_err(|e| {
            BackendError::new(
                BackendErrorKind::Internal,
                format!(
                    "answer of backend `{}` could not be decoded ({e}); are caller and provider built against the same plugin-api?",
                    P::NAME
                ),
            )
        })
    }

    /// Call a backend with an already serialized request.
    pub async fn call_raw(&self, backend: BackendName, request: Vec<u8>) -> Result<Vec<u8>, BackendError> {
        let fut = (self.services.call_backend)(self.services.plugin, backend, RVec::from(request));
        fut.await.into_result().map(RVec::into_vec)
    }

    /// Publish an event to the plugins subscribed to `topic`, which the plugin must have
    /// declared ([`PluginBuilder::publishes`](crate::sdk::PluginBuilder::publishes)). What
    /// the bus refuses is logged by the host; [`Host::try_publish`] tells the caller.
    pub fn publish(&self, topic: &str, payload: &impl Serialize) {
        let json = serde_json::to_string(payload).unwrap_or_else(|_| "null".into());
        (self.services.publish)(self.services.plugin, RStr::from(topic), json.into());
    }

    /// [`Host::publish`], answering whether the bus took the event: a
    /// [`BackendError`] of kind `Forbidden` for a topic the plugin did not declare or one
    /// of the host's, `BadRequest` for a malformed topic or a payload over
    /// [`crate::events::MAX_PAYLOAD_BYTES`], `Unavailable` while too many events are under
    /// way. On a host without this service the event is published as by `publish`.
    pub fn try_publish(&self, topic: &str, payload: &impl Serialize) -> Result<(), BackendError> {
        let json = serde_json::to_string(payload)
            .map_err(|e| BackendError::new(BackendErrorKind::BadRequest, format!("event payload could not be encoded: {e}")))?;
        match self.services.ext.publish() {
            Some(publish) => publish(self.services.plugin, RStr::from(topic), json.into()).into_result(),
            None => {
                (self.services.publish)(self.services.plugin, RStr::from(topic), json.into());
                Ok(())
            }
        }
    }

    pub(crate) fn log(&self, level: LogLevel, target: &str, message: &str) {
        (self.services.log)(self.services.plugin, level, RStr::from(target), RStr::from(message));
    }

    pub(crate) fn services(&self) -> HostServices {
        self.services
    }

    pub(crate) fn max_level(&self) -> LogLevel {
        self.services.max_level
    }
}
