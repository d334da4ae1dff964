//! The limits backend's wire protocol (`BackendName::Limits`): an owner's current use
//! and whether more fits under their limits. The phases plugin provides it (it starts
//! every instance; see its `limits` module for why).

use daas_plugin_api::{sdk::BackendProtocol, BackendName};
use serde::{Deserialize, Serialize};

use crate::model::RessourceInfo;

/// The limits backend.
pub enum Limits {}

impl BackendProtocol for Limits {
    const NAME: BackendName = BackendName::Limits;
    type Request = LimitsRequest;
    type Response = LimitsResponse;
}

/// Requests to [`Limits`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LimitsRequest {
    /// The owner's limits (none: unlimited) and current use.
    Usage {
        /// The owner.
        owner: i64,
    },
    /// Whether `wanted` more (in the units of [`RessourceInfo`]) fits: answers `Fits`,
    /// or a `Forbidden` error naming the limit, its value and the use.
    Check {
        /// The owner.
        owner: i64,
        /// What would be added.
        wanted: RessourceInfo,
    },
}

/// Answers of [`Limits`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LimitsResponse {
    /// An owner's limits and use.
    Usage {
        /// The limits that apply (the owner's own, else the global ones).
        limit: Option<RessourceInfo>,
        /// Current use.
        usage: RessourceInfo,
    },
    /// It fits.
    Fits,
}
