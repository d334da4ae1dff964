use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// A paired node that runs machines (seed 004 `Node`), a configuration element with a
/// label, a description and tags.
///
/// As a request body, unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default, deny_unknown_fields)]
pub struct Node {
    /// Unique id (generated when empty).
    #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
    pub id: String,
    /// The node's authentication id, unique.
    #[oai(validator(max_length = 128))]
    pub authid: String,
    /// The node's public key (hex), unique.
    #[oai(validator(max_length = 256))]
    pub pubkey: String,
    /// A short label.
    #[oai(validator(max_length = 256))]
    pub label: String,
    /// Free text.
    pub description: String,
    /// Free tags.
    pub tags: Vec<String>,
    /// The node's state as last reported.
    #[oai(validator(max_length = 128))]
    pub state: String,
    /// When it was last heard of.
    pub last_seen_at: Option<Timestamp>,
    /// When it was paired.
    #[oai(read_only)]
    pub created_at: Timestamp,
    /// When it was moved to the trash (none: not deleted).
    #[oai(read_only)]
    pub deleted_at: Option<Timestamp>,
}
