//! The auth plugin's API in-process (the SDK's test harness) over the real db plugin,
//! loaded from its library as the host loads it: a login against the stored
//! administrator answers a bearer token; a wrong password does not.

use daas_plugin_api::{names::PluginName, sdk::testing::TestPlugin, test_plugin};
use serde_json::json;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[tokio::test]
async fn a_login_over_the_real_db_answers_a_token_and_a_wrong_password_a_401() {
    let dir = tempfile::tempdir().unwrap();
    let db = json!({ "db": { "db_type": "sqlite", "data_path": "data", "secret_key": KEY, "admin_credentials": "admin:harness-pass-1" } });
    let auth = TestPlugin::new(test_plugin!(daas_plugin_auth)).site_dir(dir.path()).library(PluginName::Db, db).start().await.unwrap();

    let (status, body) = auth.api().json(None, "POST", "/token", Some(json!({ "username": "admin", "password": "harness-pass-1" }))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["token"].as_str().is_some_and(|t| t.len() >= 32), "{body}");

    let (status, body) = auth.api().json(None, "POST", "/token", Some(json!({ "username": "admin", "password": "wrong" }))).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthenticated")), "{body}");
}
