//! The phases plugin in-process (the SDK's test harness) over the real db plugin's
//! library and a machine backend that records what it is asked: a transition walks the
//! contract in order (Instantiate, each ConfigAuto command as an Exec, Stop, Capture,
//! Remove) without naming an engine, and every change reaches the host's bus as a
//! `phases.*` event.

use std::sync::{Arc, Mutex};

use daas_common::{
    model::DaasObject,
    protocols::{ContainerMachine, DbClient, Endpoint, Machine, MachineAnswer, MachineEnvelope, MachineRequest, MachineResponse},
};
use daas_plugin_api::{identity::Identity, names::PluginName, sdk::testing::TestPlugin, test_plugin};
use serde_json::{json, Value};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_walks_the_machine_contract_in_order_and_publishes_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = json!({ "db": { "db_type": "sqlite", "data_path": "data", "secret_key": KEY } });
    let asked: Arc<Mutex<Vec<MachineRequest>>> = Arc::default();
    let record = asked.clone();
    let phases = TestPlugin::new(test_plugin!(daas_plugin_phases))
        .site_dir(dir.path())
        .library(PluginName::Db, db)
        .backend::<Machine<ContainerMachine>, _, _>(move |MachineEnvelope::Machine { request }| {
            let record = record.clone();
            async move {
                let answer = match &request {
                    MachineRequest::Instantiate { spec, .. } => {
                        MachineResponse::Instance { id: spec.name.clone(), vnc: Some(Endpoint { host: "127.0.0.1".into(), port: 5999 }) }
                    }
                    MachineRequest::Exec { .. } => MachineResponse::Exec { exit_code: 0, output: "ok".into() },
                    MachineRequest::Capture { artifact, .. } => MachineResponse::Artifact { id: artifact.clone() },
                    _ => MachineResponse::Done,
                };
                record.lock().unwrap().push(request);
                Ok(MachineAnswer::Machine { answer })
            }
        })
        .start()
        .await
        .unwrap();

    // An administrator's base image, through the db plugin's backend.
    let base = DaasObject {
        id: "base".into(),
        id_owner: 0,
        object_type: "container".into(),
        object_mode: "baseimage".into(),
        id_docker: "localhost/some-desktop:1".into(),
        ..Default::default()
    };
    let store = DbClient::from_fn(|r| Box::pin(async move { daas_plugin_api::sdk::host().call::<daas_common::protocols::Db>(&r).await }));
    store.insert(&base).await.unwrap();

    let ann = Identity { user_id: 7, user_name: "ann".into(), admin: false };
    let body = json!({ "transition": "clone_template", "object_tasks": ["echo one", {"name": "two", "cmd": ["true"]}] });
    let (status, task) = phases.api().json(Some(&ann), "POST", "/objects/base/transitions", Some(body)).await;
    assert_eq!(status, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    let task = loop {
        let (_, t) = phases.api().json(Some(&ann), "GET", &format!("/tasks/{id}"), None).await;
        if t["state"] == "succeeded" || t["state"] == "failed" {
            break t;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(task["state"], "succeeded", "{task}");
    let object = task["id_object"].as_str().unwrap();

    let asked = asked.lock().unwrap().clone();
    let kinds: Vec<String> = asked.iter().map(|r| serde_json::to_value(r).unwrap()["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, ["instantiate", "exec", "exec", "stop", "capture", "remove"]);
    match &asked[0] {
        MachineRequest::Instantiate { spec, command } => {
            assert_eq!((spec.artifact.as_str(), command), ("localhost/some-desktop:1", &None));
            assert!(!spec.vnc_password.is_empty() && spec.labels.contains_key("daas.instance"), "{spec:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&asked[4], MachineRequest::Capture { artifact, .. } if *artifact == format!("daas-object-{object}")));

    // The bus carried the task from queued to succeeded and the object to ready.
    let published: Vec<(String, Value)> = phases.published();
    let states: Vec<&str> =
        published.iter().filter(|(t, p)| t == "phases.task" && p["id"] == id.as_str()).filter_map(|(_, p)| p["state"].as_str()).collect();
    assert_eq!((states.first(), states.last()), (Some(&"queued"), Some(&"succeeded")), "{states:?}");
    assert!(published.iter().any(|(t, p)| t == "phases.object" && p["id"] == object && p["object_state"] == "ready"), "{published:?}");
    assert!(published.iter().any(|(t, _)| t == "phases.instance"), "{published:?}");
}
