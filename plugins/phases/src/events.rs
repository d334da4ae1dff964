//! Live events: task progress and object and instance state changes, numbered in one
//! sequence. Each goes on the host bus (`phases.task`, `phases.object`,
//! `phases.instance`, for plugins) and into a ring of the most recent ones that
//! `WS /api/v1/phases/events` serves: a client that reconnects with the last number it saw
//! (`?cursor=N`) gets what it missed, if the ring still holds it, then the live ones.
//!
//! A client sees only its own events (an administrator every one): an event carries
//! the owner of what it is about.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use daas_plugin_api::{
    abi::WsMessage,
    identity::Identity,
    poem_openapi::types::ToJSON,
    sdk::{host, WebSocket, WsRequest},
};
use serde::Serialize;
use tokio::sync::broadcast;

/// How many recent events a reconnecting client can catch up on.
pub const KEPT: usize = 1024;

/// One event as the WebSocket sends it (JSON text).
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Its number: one more than the one before it.
    pub seq: u64,
    /// `task`, `object` or `instance`.
    pub topic: &'static str,
    /// The owner of what it is about.
    #[serde(skip)]
    pub owner: i64,
    /// The task, object or instance as it is now.
    pub data: serde_json::Value,
}

impl Event {
    /// Whether this caller may see it.
    pub fn visible_to(&self, caller: &Identity) -> bool {
        caller.admin || caller.user_id == self.owner
    }
}

/// The sequence, the ring and the live channel. Cheap to clone.
#[derive(Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

struct Inner {
    ring: Mutex<(u64, VecDeque<Event>)>,
    live: broadcast::Sender<Event>,
    /// Whether events also go on the host's bus (not in unit tests, which have no host).
    bus: bool,
}

impl Events {
    /// Events for the WebSocket clients and the host's bus.
    pub fn on_host_bus() -> Events {
        Events::new(true)
    }

    /// Events for the WebSocket clients only.
    pub fn local() -> Events {
        Events::new(false)
    }

    fn new(bus: bool) -> Events {
        Events { inner: Arc::new(Inner { ring: Mutex::new((0, VecDeque::new())), live: broadcast::channel(KEPT).0, bus }) }
    }
}

/// What a client resuming from a cursor gets first.
pub struct Resume {
    /// The events after the cursor that the ring still holds.
    pub missed: Vec<Event>,
    /// Whether events after the cursor are no longer held (the client must reload).
    pub gap: bool,
    /// The live events from here on.
    pub live: broadcast::Receiver<Event>,
}

impl Events {
    /// Publish one event on the bus and to the WebSocket clients.
    /// `data` goes out as the API answers it (its `ToJSON`), never its serde form: a
    /// DaasObject's serde form carries the secrets the db hands to plugins, a task's
    /// its stored request.
    pub fn publish(&self, topic: &'static str, owner: i64, data: &impl ToJSON) {
        let data = data.to_json().unwrap_or_default();
        if self.inner.bus {
            host().publish(&format!("phases.{topic}"), &data);
        }
        let mut ring = self.inner.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.0 += 1;
        let event = Event { seq: ring.0, topic, owner, data };
        if ring.1.len() == KEPT {
            ring.1.pop_front();
        }
        ring.1.push_back(event.clone());
        // Sent while the ring is locked, so a resuming client never sees one twice or
        // misses one between its catch-up and its live events.
        let _ = self.inner.live.send(event);
    }

    /// The events after `cursor` (0: from the start of the ring) and the live ones.
    pub fn resume(&self, cursor: u64) -> Resume {
        let ring = self.inner.ring.lock().unwrap_or_else(|p| p.into_inner());
        let live = self.inner.live.subscribe();
        let oldest = ring.1.front().map(|e| e.seq).unwrap_or(ring.0 + 1);
        let missed = ring.1.iter().filter(|e| e.seq > cursor).cloned().collect();
        Resume { missed, gap: cursor > 0 && cursor + 1 < oldest, live }
    }

    /// The number of the latest event (0: none yet).
    pub fn latest(&self) -> u64 {
        self.inner.ring.lock().unwrap_or_else(|p| p.into_inner()).0
    }
}

/// `WS /api/v1/phases/events`: the caller's events from `?cursor=N` on (see the module).
pub async fn socket(events: Events, request: WsRequest, ws: WebSocket) {
    let Some(caller) = Identity::from_attributes(&request.attributes) else {
        let _ = ws.send(WsMessage::Close(4401, "log in first: the events need a session or a token".into())).await;
        return;
    };
    let cursor = request.query.split('&').find_map(|kv| kv.strip_prefix("cursor=")).map(str::parse::<u64>);
    let cursor = match cursor {
        None => events.latest(),
        Some(Ok(c)) => c,
        Some(Err(_)) => {
            let _ = ws.send(WsMessage::Close(4400, "cursor must be the number of the last event seen".into())).await;
            return;
        }
    };
    let (sink, source) = ws.split();
    let resume = events.resume(cursor);
    let mut live = resume.live;
    let send = |e: &Event| serde_json::to_string(e).unwrap_or_default();
    if resume.gap {
        let gap = serde_json::json!({ "seq": cursor, "topic": "gap", "data": { "message": "events after the cursor are no longer kept: reload the state, then follow the events" } });
        if sink.send_text(gap.to_string()).await.is_err() {
            return;
        }
    }
    let mut last = cursor;
    for e in resume.missed.iter().filter(|e| e.visible_to(&caller)) {
        last = e.seq;
        if sink.send_text(send(e)).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            e = live.recv() => match e {
                Ok(e) if e.seq > last && e.visible_to(&caller) => {
                    last = e.seq;
                    if sink.send_text(send(&e)).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    let _ = sink.close(4000, "too slow: reconnect with the cursor of the last event seen").await;
                    return;
                }
                Err(_) => return,
            },
            m = source.recv() => if m.is_none() || matches!(m, Some(WsMessage::Close(..))) {
                return;
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_the_stored_request_never_reach_an_event() {
        let events = Events::local();
        let object = daas_common::model::DaasObject { id: "o".into(), vnc_password: Some("s3cret-vnc".into()), ..Default::default() };
        let task = daas_common::model::Task { id: "t".into(), request: Some("{\"job\":\"finish\"}".into()), ..Default::default() };
        events.publish("object", 2, &object);
        events.publish("task", 2, &task);
        let sent = events.resume(0).missed.iter().map(|e| serde_json::to_string(e).unwrap()).collect::<String>();
        assert!(sent.contains("\"id\":\"o\"") && sent.contains("\"id\":\"t\""), "{sent}");
        for secret in ["s3cret-vnc", "os_password", "vnc_password", "request", "job"] {
            assert!(!sent.contains(secret), "{secret} in {sent}");
        }
    }

    #[test]
    fn a_client_resumes_after_its_cursor_and_sees_its_own_only() {
        let events = Events::local();
        for owner in [2, 3, 2] {
            events.publish("task", owner, &serde_json::json!({ "owner": owner }));
        }
        let r = events.resume(1);
        assert_eq!(r.missed.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
        assert!(!r.gap);
        let alice = Identity { user_id: 2, user_name: "alice".into(), admin: false };
        assert_eq!(r.missed.iter().filter(|e| e.visible_to(&alice)).map(|e| e.seq).collect::<Vec<_>>(), vec![3]);
        // Past the ring: a gap the client is told of.
        for _ in 0..KEPT {
            events.publish("task", 2, &serde_json::json!({}));
        }
        assert!(events.resume(1).gap);
        assert!(!events.resume(events.latest()).gap);
    }
}
