//! The rules of the host's event bus, shared by the host (which enforces them) and the
//! SDK (which lets a plugin declare what it publishes, see
//! [`PluginBuilder::publishes`](crate::sdk::PluginBuilder::publishes)).
//!
//! A topic is a short dotted name (`instance.started`). A plugin publishes only topics
//! it declared at start; topics under [`HOST_PREFIX`] are the host's own. The bus keeps
//! a bounded number of events under way, so a plugin (or a client driving one) cannot
//! make it grow without bound.
//!
//! The host's own events are typed: each is a struct implementing [`HostEvent`] (its
//! topic is the trait's constant), published by the host with that type and received
//! with [`PluginBuilder::on_host_event`](crate::sdk::PluginBuilder::on_host_event).

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::permissions::Rule;

/// Topics under this prefix are published by the host only (`host.operations`).
pub const HOST_PREFIX: &str = "host.";

/// The longest topic, in bytes.
pub const MAX_TOPIC_BYTES: usize = 128;

/// The largest event payload (its JSON) a plugin may publish, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Events of one topic under way (delivered to some subscriber not yet finished) at
/// most; a publish beyond is refused as busy.
pub const MAX_PENDING_PER_TOPIC: usize = 64;

/// Events under way at most, all topics together.
pub const MAX_PENDING: usize = 1024;

/// An event the host publishes: its payload type, and the topic it is published on
/// (under [`HOST_PREFIX`]).
pub trait HostEvent: Serialize + DeserializeOwned + Send + 'static {
    /// The topic.
    const TOPIC: &'static str;
}

/// The merged document's operations, published once after every plugin has started
/// (plugins cannot read the merged document: it exists only after they have all
/// started). The auth plugin lists them as privilege ids and takes the rule catalogue
/// from it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostOperations {
    /// Every documented operation of the server, the host's own among them.
    pub operations: Vec<HostOperation>,
    /// Every plugin's rule catalogue: the rules its operations require and the ones it
    /// declared with a description.
    pub rules: Vec<RegisteredRule>,
}

impl HostEvent for HostOperations {
    const TOPIC: &'static str = "host.operations";
}

/// One operation of the merged document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostOperation {
    /// The merged operation id (`<plugin>_<operation>`).
    pub operation_id: String,
    /// Upper-case method.
    pub method: String,
    /// The full path template (`/api/v1/db/objects/{id}`).
    pub path: String,
    /// The plugin serving it (`host` for the host's routes).
    pub plugin: String,
    /// Needs no identity.
    pub public: bool,
    /// The permission rule its plugin requires for it, if any.
    #[serde(default)]
    pub rule: Option<Rule>,
}

/// A rule of a plugin's catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredRule {
    /// The rule.
    pub rule: Rule,
    /// What it is for (empty for a rule only required by operations).
    #[serde(default)]
    pub description: String,
    /// The plugin registering it.
    pub plugin: String,
}

/// Why a topic or a pattern is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Empty, too long, or with characters other than the allowed ones.
    #[error(
        "`{0}` is not a topic: topics are 1 to {MAX_TOPIC_BYTES} bytes of lower-case letters, digits, `.`, `_` and `-` (a pattern may end in `*`)"
    )]
    Malformed(String),
    /// Under [`HOST_PREFIX`].
    #[error("topics under `{HOST_PREFIX}` are published by the host only, not `{0}`")]
    Host(String),
}

fn well_formed(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOPIC_BYTES
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

/// Check a topic a plugin publishes on (the host's own topics are refused).
pub fn check_topic(topic: &str) -> Result<(), TopicError> {
    if !well_formed(topic) {
        return Err(TopicError::Malformed(topic.chars().take(MAX_TOPIC_BYTES).collect()));
    }
    if topic.starts_with(HOST_PREFIX) {
        return Err(TopicError::Host(topic.to_string()));
    }
    Ok(())
}

/// Check a pattern a plugin declares it publishes on: a topic, or a prefix ending in `*`
/// (`instance.*`; `*` alone is every topic but the host's).
pub fn check_pattern(pattern: &str) -> Result<(), TopicError> {
    let prefix = pattern.strip_suffix('*').unwrap_or(pattern);
    if pattern != "*" && !well_formed(prefix) {
        return Err(TopicError::Malformed(pattern.chars().take(MAX_TOPIC_BYTES).collect()));
    }
    // A broader pattern (`*`, `ho*`) also covers other topics: it is the host topics in
    // it that are refused, when published.
    if prefix.starts_with(HOST_PREFIX) {
        return Err(TopicError::Host(pattern.to_string()));
    }
    Ok(())
}

/// Whether a pattern (a subscription or a declaration) matches a topic: exactly, or by
/// prefix when it ends in `*`.
pub fn matches(pattern: &str, topic: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => topic.starts_with(prefix),
        None => pattern == topic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_match_exactly_or_by_prefix() {
        assert!(matches("*", "a.b"));
        assert!(matches("instance.*", "instance.started"));
        assert!(!matches("instance.*", "object.created"));
        assert!(matches("x", "x"));
        assert!(!matches("x", "xy"));
    }

    #[test]
    fn topics_are_short_dotted_names_and_the_host_keeps_its_own() {
        for ok in ["a", "instance.started", "slow.1500", "a_b-c.9"] {
            assert_eq!(check_topic(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a/b", "Upper", "a b", "ünï", &"x".repeat(MAX_TOPIC_BYTES + 1)] {
            assert!(matches!(check_topic(bad), Err(TopicError::Malformed(_))), "{bad}");
        }
        assert!(matches!(check_topic(HostOperations::TOPIC), Err(TopicError::Host(_))));
        for ok in ["*", "instance.*", "test.x", "ho*"] {
            assert_eq!(check_pattern(ok), Ok(()), "{ok}");
        }
        for host in ["host.*", "host.operations", "host.x*"] {
            assert!(matches!(check_pattern(host), Err(TopicError::Host(_))), "{host}");
        }
        for bad in ["**", "a*b", "A.*", ""] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
    }
}
