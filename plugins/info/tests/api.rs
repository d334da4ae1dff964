//! The info plugin in-process, through the SDK's test harness: its routes, its backend
//! and its event counts, without the host binary.

use daas_plugin_api::{
    identity::Identity,
    protocols::{Info, InfoRequest, InfoResponse},
    sdk::testing::{AsCaller, TestPlugin},
    test_plugin,
};
use serde_json::json;

fn alice() -> Identity {
    Identity { user_id: 2, user_name: "alice".into(), admin: false }
}

#[tokio::test]
async fn the_site_facts_are_what_the_config_says() {
    let info = TestPlugin::new(test_plugin!(daas_plugin_info))
        .config(json!({ "sys": { "site_name": "harness-site", "description": "a site in a test" } }))
        .start()
        .await
        .unwrap();
    let answer = info.api().get("/system").caller(&alice()).send().await;
    answer.assert_status_is_ok();
    let body = answer.json().await;
    body.value().object().get("site_name").assert_string("harness-site");
    body.value().object().get("description").assert_string("a site in a test");
    body.value().object().get("abi_version").assert_string(daas_plugin_api::ABI_VERSION);

    // The same facts through its backend, as another plugin would ask.
    let InfoResponse::System(system) = info.call::<Info>(&InfoRequest::System).await.unwrap() else { panic!("not the system answer") };
    assert_eq!(system.site_name, "harness-site");
}

#[tokio::test]
async fn events_are_counted_per_topic() {
    let info = TestPlugin::new(test_plugin!(daas_plugin_info)).start().await.unwrap();
    for _ in 0..3 {
        info.deliver("instance.started", json!({})).await;
    }
    info.deliver("task.done", json!({})).await;
    let answer = info.api().get("/events").caller(&alice()).send().await;
    answer.assert_status_is_ok();
    let body = answer.json().await;
    let counts = body.value().object().get("counts").object();
    counts.get("instance.started").assert_i64(3);
    counts.get("task.done").assert_i64(1);
}

#[tokio::test]
async fn its_document_names_its_operations() {
    let info = TestPlugin::new(test_plugin!(daas_plugin_info)).start().await.unwrap();
    let doc = info.openapi();
    assert!(doc["paths"]["/system"]["get"]["operationId"] == "system", "{doc}");
}
