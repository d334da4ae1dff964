use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// A paired node that runs machines (seed 004 `Node`), a configuration element with a
/// label, a description and tags.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default)]
pub struct Node {
    /// Unique id (generated when empty).
    pub id: String,
    /// The node's authentication id, unique.
    pub authid: String,
    /// The node's public key (hex), unique.
    pub pubkey: String,
    /// A short label.
    pub label: String,
    /// Free text.
    pub description: String,
    /// Free tags.
    pub tags: Vec<String>,
    /// The node's state as last reported.
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
