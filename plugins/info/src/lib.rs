//! # info: facts about this server
//!
//! Serves the site's `[sys]` facts (info.toml) and process facts at
//! `/api/v1/info/system`, offers them to other plugins as the `info` backend, and counts
//! the events published on the host's bus (`/api/v1/info/events`), per topic for the
//! first [`MAX_TOPICS`] topics and together for the rest, so that the answer stays small
//! whatever is published.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use daas_common::config::InfoFile;
use daas_plugin_api::{
    export_plugin,
    names::PluginName,
    permissions::{Operation, Rule},
    poem_openapi::{payload::Json, Object, OpenApi, OpenApiService},
    protocols::{Info, InfoRequest, InfoResponse, SystemInfo},
    sdk::{PluginBuilder, PluginContext},
};

/// Topics counted one by one; events on further topics are counted together.
pub const MAX_TOPICS: usize = 256;

#[derive(Clone)]
struct State {
    file: Arc<InfoFile>,
    started: Instant,
    events: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    per_topic: BTreeMap<String, u64>,
    /// Events on topics beyond the first [`MAX_TOPICS`].
    other: u64,
}

impl Counts {
    fn count(&mut self, topic: String) {
        if let Some(n) = self.per_topic.get_mut(&topic) {
            *n += 1;
        } else if self.per_topic.len() < MAX_TOPICS {
            self.per_topic.insert(topic, 1);
        } else {
            self.other += 1;
        }
    }
}

impl State {
    fn system(&self) -> SystemInfo {
        SystemInfo {
            site_name: self.file.sys.site_name.clone(),
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default(),
            uptime_seconds: self.started.elapsed().as_secs(),
            abi_version: daas_plugin_api::ABI_VERSION.to_string(),
        }
    }
    fn counts(&self) -> (BTreeMap<String, u64>, u64) {
        let counts = self.events.lock().unwrap_or_else(|p| p.into_inner());
        (counts.per_topic.clone(), counts.other)
    }
}

struct InfoApi(State);

/// System facts.
#[derive(Object)]
struct SystemObject {
    /// The site's name (`[sys] site_name`).
    site_name: String,
    /// The description of the site (`[sys] description`).
    description: String,
    /// The machine's host name.
    hostname: String,
    /// Seconds since the server started.
    uptime_seconds: u64,
    /// The plugin ABI version.
    abi_version: String,
}

/// Events seen, per topic.
#[derive(Object)]
struct EventCounts {
    /// topic → count, for the first 256 topics seen
    counts: BTreeMap<String, u64>,
    /// Events on the topics seen after the first 256, counted together.
    other_topics: u64,
}

#[OpenApi]
impl InfoApi {
    /// Facts about this server and site
    ///
    /// The site's name and description, the machine's host name, the seconds since the
    /// server started and the plugin ABI version.
    #[oai(path = "/system", method = "get", operation_id = "system")]
    async fn system(&self) -> Json<SystemObject> {
        let s = self.0.system();
        Json(SystemObject {
            site_name: s.site_name,
            description: self.0.file.sys.description.clone(),
            hostname: s.hostname,
            uptime_seconds: s.uptime_seconds,
            abi_version: s.abi_version,
        })
    }

    /// Events seen per topic
    ///
    /// How many events were published per topic since the server started, for the first
    /// 256 topics, and the events on later topics together.
    #[oai(path = "/events", method = "get", operation_id = "events")]
    async fn events(&self) -> Json<EventCounts> {
        let (counts, other_topics) = self.0.counts();
        Json(EventCounts { counts, other_topics })
    }
}

async fn start(ctx: PluginContext) -> Result<PluginBuilder, String> {
    let state = State { file: Arc::new(ctx.config::<InfoFile>()?), started: Instant::now(), events: Default::default() };
    let (backend_state, event_state) = (state.clone(), state.clone());
    Ok(PluginBuilder::new()
        .api(OpenApiService::new(InfoApi(state), "info", env!("CARGO_PKG_VERSION")).description("Facts about this server."))
        .requires([("system", Rule::own("info", Operation::View)), ("events", Rule::own("info", Operation::View))])
        .rule(Rule::own("info", Operation::View), "Read the server's facts and the events it has seen.")
        .backend::<Info, _, _>(move |request| {
            let state = backend_state.clone();
            async move {
                Ok(match request {
                    InfoRequest::System => InfoResponse::System(state.system()),
                    InfoRequest::EventCounts => InfoResponse::EventCounts { counts: state.counts().0 },
                })
            }
        })
        .on_event(&["*"], move |topic, _payload| {
            let state = event_state.clone();
            async move {
                state.events.lock().unwrap_or_else(|p| p.into_inner()).count(topic);
            }
        }))
}

export_plugin!(PluginName::Info, start);
