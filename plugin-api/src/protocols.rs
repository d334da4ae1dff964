//! Typed backend protocols: the request and response types each backend speaks, so that
//! callers never write a raw message. A provider registers a handler with
//! [`PluginBuilder::backend`](crate::sdk::PluginBuilder::backend); a caller uses
//! [`Host::call`](crate::sdk::Host::call).

use serde::{Deserialize, Serialize};

use crate::{names::BackendName, sdk::BackendProtocol};

/// The testbackend plugin's backend: a small arithmetic and echo service used to test
/// backend calls across plugins.
pub enum Testing {}

/// Requests to [`Testing`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TestingRequest {
    /// Answer the text back.
    Echo {
        /// The text.
        text: String,
    },
    /// Add two numbers.
    Add {
        /// Left operand.
        a: i64,
        /// Right operand.
        b: i64,
    },
    /// Panic inside the backend (to test that panics stay in the plugin).
    Panic,
}

/// Answers of [`Testing`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TestingResponse {
    /// The echoed text.
    Echo {
        /// The text.
        text: String,
    },
    /// The sum.
    Add {
        /// `a + b`.
        sum: i64,
    },
}

impl BackendProtocol for Testing {
    const NAME: BackendName = BackendName::Testing;
    type Request = TestingRequest;
    type Response = TestingResponse;
}

/// The info plugin's backend: facts about this server.
pub enum Info {}

/// Requests to [`Info`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum InfoRequest {
    /// The system facts of `[sys]` and the running process.
    System,
    /// How many events the info plugin has seen per topic.
    EventCounts,
}

/// Answers of [`Info`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum InfoResponse {
    /// System facts.
    System(SystemInfo),
    /// Events seen per topic.
    EventCounts {
        /// topic → count
        counts: std::collections::BTreeMap<String, u64>,
    },
}

/// Facts about this server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SystemInfo {
    /// The site's name (`[sys] site_name`).
    pub site_name: String,
    /// The host name of the machine.
    pub hostname: String,
    /// Seconds since the info plugin started.
    pub uptime_seconds: u64,
    /// The plugin-api (ABI) version the info plugin was built with.
    pub abi_version: String,
}

impl BackendProtocol for Info {
    const NAME: BackendName = BackendName::Info;
    type Request = InfoRequest;
    type Response = InfoResponse;
}
