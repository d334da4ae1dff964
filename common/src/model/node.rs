use poem_openapi::{types::MaybeUndefined, Object};
use serde::{Deserialize, Serialize};

use super::{input::request_body, Timestamp};

/// A paired node that runs machines (seed 004 `Node`), a configuration element with a
/// label, a description and tags.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(example)]
pub struct Node {
    /// Unique id (made by the server, or the administrator's choice).
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
    /// When it was last heard of (null: never).
    #[oai(nullable)]
    pub last_seen_at: Option<Timestamp>,
    /// When it was paired.
    pub created_at: Timestamp,
    /// When it was moved to the trash (null: not deleted).
    #[oai(nullable)]
    pub deleted_at: Option<Timestamp>,
}

request_body! {
    /// A new node (administrators only). The server makes the id unless one is given,
    /// and the times. Unknown fields, `null` and values of the wrong JSON type are refused
    /// with a 400 naming the field.
    #[oai(example)]
    pub struct NewNode {
        /// The id (default: one the server makes).
        #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
        pub id: Option<String>,
        /// The node's authentication id, unique (default empty).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub authid: Option<String>,
        /// The node's public key (hex), unique (default empty).
        #[oai(validator(max_length = 256, pattern = "^[^\\x00]*$"))]
        pub pubkey: Option<String>,
        /// A short label (default empty).
        #[oai(validator(max_length = 256, pattern = "^[^\\x00]*$"))]
        pub label: Option<String>,
        /// Free text (default empty).
        #[oai(validator(pattern = "^[^\\x00]*$"))]
        pub description: Option<String>,
        /// Free tags (default none).
        pub tags: Option<Vec<String>>,
        /// The node's state as last reported (default empty).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub state: Option<String>,
        /// When it was last heard of (default: never).
        pub last_seen_at: Option<Timestamp>,
    }
}

request_body! {
    /// Changes to a node (administrators only): only the fields given change; `null`
    /// clears `last_seen_at`. The path names it. Unknown fields, `null` elsewhere and
    /// values of the wrong JSON type are refused with a 400 naming the field.
    #[oai(example)]
    pub struct NodePatch {
        /// The node's authentication id, unique.
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub authid: Option<String>,
        /// The node's public key (hex), unique.
        #[oai(validator(max_length = 256, pattern = "^[^\\x00]*$"))]
        pub pubkey: Option<String>,
        /// A short label.
        #[oai(validator(max_length = 256, pattern = "^[^\\x00]*$"))]
        pub label: Option<String>,
        /// Free text.
        #[oai(validator(pattern = "^[^\\x00]*$"))]
        pub description: Option<String>,
        /// Free tags (replace the list).
        pub tags: Option<Vec<String>>,
        /// The node's state as last reported.
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub state: Option<String>,
        /// When it was last heard of (null: never).
        #[oai(nullable)]
        pub last_seen_at: MaybeUndefined<Timestamp>,
    }
}

impl poem_openapi::types::Example for Node {
    fn example() -> Self {
        Node {
            id: "node-1".into(),
            authid: "node-1.example.org".into(),
            pubkey: "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29".into(),
            label: "rack 1, GPU".into(),
            tags: vec!["gpu".into()],
            state: "online".into(),
            created_at: chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
            ..Node::default()
        }
    }
}

impl poem_openapi::types::Example for NewNode {
    fn example() -> Self {
        NewNode {
            authid: Some("node-1.example.org".into()),
            pubkey: Some("3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29".into()),
            label: Some("rack 1, GPU".into()),
            tags: Some(vec!["gpu".into()]),
            ..NewNode::default()
        }
    }
}

impl poem_openapi::types::Example for NodePatch {
    fn example() -> Self {
        NodePatch { state: Some("offline".into()), ..NodePatch::default() }
    }
}
