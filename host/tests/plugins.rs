//! The host serving real plugins over the ABI: routes, validation, errors, backends
//! between plugins, events, layers, WebSockets, panics, the merged OpenAPI document.

mod common;

use common::{client, site_dir, Server};
use serde_json::{json, Value};
/// A server of its own for each test (start-up takes a few tens of milliseconds), so
/// that no test sees another's state and every process ends with its test.
fn start() -> Server {
    Server::start(&site_dir("full"))
}

fn get(server: &Server, path: &str) -> (u16, Value) {
    let r = client().get(server.url(path)).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

#[test]
fn plugin_routes_answer_through_the_abi_with_their_settings() {
    let server = start();
    let (status, body) = get(&server, "/api/v1/testbackend/hello?name=ada");
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "greeting": "good morning, ada" }));
}

#[test]
fn a_backend_call_crosses_from_one_plugin_to_another() {
    let server = start();
    // testbackend's /system asks the info plugin's backend.
    let (status, body) = get(&server, "/api/v1/testbackend/system");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["site_name"], "integration");
    assert_eq!(body["abi_version"], daas_plugin_api::ABI_VERSION);
    // testbackend's /sum calls its own backend through the host.
    let r = client().post(server.url("/api/v1/testbackend/sum")).json(&json!({ "a": 40, "b": 2 })).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap(), json!({ "sum": 42 }));
}

#[test]
fn an_absent_backend_is_a_clear_error_not_a_panic() {
    let server = start();
    let (status, body) = get(&server, "/api/v1/testbackend/absent-backend");
    assert_eq!(status, 503);
    assert_eq!(body["code"], "backend_not_available");
    assert!(body["message"].as_str().unwrap().contains("no loaded plugin provides backend `db`"), "{body}");
}

#[test]
fn invalid_input_is_a_400_json_error_and_unknown_routes_a_404_json_error() {
    let server = start();
    let r = client().post(server.url("/api/v1/testbackend/sum")).json(&json!({ "a": "x", "b": 2 })).send().unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().unwrap();
    assert_eq!(body["code"], "bad_request");
    assert!(body["message"].as_str().unwrap().contains("SumRequest"), "{body}");

    let r =
        client().post(server.url("/api/v1/testbackend/sum")).body("not json").header("content-type", "application/json").send().unwrap();
    assert_eq!(r.status(), 400);

    let (status, body) = get(&server, "/api/v1/testbackend/slow?ms=999999");
    assert_eq!(status, 400, "validator (maximum) refuses: {body}");

    for path in ["/nope", "/api/v1/testbackend/nope", "/api/v1/db/objects"] {
        let (status, body) = get(&server, path);
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["code"], "not_found", "{path}");
    }
    let r = client().delete(server.url("/api/v1/testbackend/hello")).send().unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.json::<Value>().unwrap()["code"], "method_not_allowed");
}

#[test]
fn too_large_bodies_are_refused_with_413() {
    let server = start();
    let big = "x".repeat(70_000);
    let r = client().post(server.url("/api/v1/testbackend/sum")).header("content-type", "application/json").body(big).send().unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<Value>().unwrap()["code"], "payload_too_large");
}

#[test]
fn a_panicking_handler_is_a_500_and_the_server_keeps_serving() {
    let server = start();
    for _ in 0..3 {
        let (status, body) = get(&server, "/api/v1/testbackend/panic");
        assert_eq!(status, 500);
        assert_eq!(body["code"], "plugin_panicked");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("plugin `testbackend` failed in a request handler (error id "), "{body}");
        assert!(!message.contains("on purpose"), "the panic message stays in the log: {body}");
        let (status, _) = get(&server, "/api/v1/testbackend/hello");
        assert_eq!(status, 200);
    }
    assert!(server.wait_for_log("testbackend handler panicked on purpose"), "the panic is logged");
    let (_, body) = get(&server, "/api/v1/testbackend/panic");
    let id = body["message"].as_str().unwrap().split("error id ").nth(1).unwrap().split(';').next().unwrap().to_string();
    assert!(server.wait_for_log(&id), "the error id ties the answer to the log line");
    // A panic inside a backend called by another route stays in the plugin too.
    let (status, body) = get(&server, "/api/v1/testbackend/backend-panic");
    assert_eq!(status, 503);
    assert!(body["message"].as_str().unwrap().contains("failed in a backend call (error id"), "{body}");
    assert_eq!(get(&server, "/healthz").0, 200);
}

#[test]
fn plugin_logs_reach_the_host_log_with_the_plugin_named() {
    let server = start();
    assert!(server.wait_for_log("testbackend starting"));
    let line = server.log().lines().find(|l| l.contains("testbackend starting")).unwrap().to_string();
    let v: Value = serde_json::from_str(&line).expect("logging.toml asks for JSON lines");
    assert_eq!(v["fields"]["plugin"], "testbackend");
    assert_eq!(v["fields"]["plugin_target"], "daas_plugin_testbackend");
    assert!(v["fields"]["message"].as_str().unwrap().contains("greeting=good morning"), "{v}");
}

#[test]
fn published_events_reach_subscribed_plugins() {
    let server = start();
    let topic = "test.instance.started";
    for _ in 0..3 {
        let r = client().post(server.url(&format!("/api/v1/testbackend/events/{topic}"))).send().unwrap();
        assert_eq!(r.status(), 200);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, body) = get(&server, "/api/v1/info/events");
        if body["counts"][topic] == 3 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "events not delivered: {body}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn browser_routes_are_served_at_the_root() {
    let server = start();
    let r = client().get(server.url("/testbackend")).header("x-test-user", "<bob>").send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(r.text().unwrap().contains("user &lt;bob&gt;"), "layer attribute reaches the page, escaped");
    let no_redirects = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = no_redirects.post(server.url("/testbackend")).send().unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/testbackend");
}

#[test]
fn layers_reject_and_annotate_and_observe() {
    let server = start();
    // Reject: the handler does not run, the layer's status and JSON body are returned.
    let r = client().get(server.url("/api/v1/testbackend/hello")).header("x-test-reject", "418").send().unwrap();
    assert_eq!(r.status(), 418);
    let body = r.json::<Value>().unwrap();
    assert_eq!(body["code"], "rejected_by_layer");
    // The layer learns the operation and the permission rule it requires from the host,
    // in the request.
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("(operation `testbackend_hello`, rule `testbackend:own:view`)"), "{message}");
    // Host routes are behind the layers too.
    let r = client().get(server.url("/api/v1/plugins")).header("x-test-reject", "401").send().unwrap();
    assert_eq!(r.status(), 401);
    // HEAD is answered by the GET handler, so the layers see the GET operation.
    let r = client().head(server.url("/api/v1/testbackend/whoami")).header("x-test-reject", "409").send().unwrap();
    assert_eq!(r.status(), 409);
    // Annotate: attributes reach the handler, with the matched operation id.
    let r = client().get(server.url("/api/v1/testbackend/whoami")).header("x-test-user", "alice").send().unwrap();
    assert_eq!(r.json::<Value>().unwrap(), json!({ "user": "alice", "operation": "testbackend_whoami" }));
    // Attributes cannot be injected by the client: without the header there is no user.
    let r = client().get(server.url("/api/v1/testbackend/whoami")).header("user", "mallory").send().unwrap();
    assert_eq!(r.json::<Value>().unwrap()["user"], Value::Null);
    // Observe: the layer sees the statuses of answered requests, including 5xx.
    let before = get(&server, "/api/v1/testbackend/observed").1;
    get(&server, "/api/v1/testbackend/panic");
    let after = get(&server, "/api/v1/testbackend/observed").1;
    assert!(after["total"].as_u64().unwrap() >= before["total"].as_u64().unwrap() + 2, "{before} {after}");
    assert!(after["server_errors"].as_u64().unwrap() > before["server_errors"].as_u64().unwrap(), "{before} {after}");
}

#[test]
fn health_readiness_and_plugin_list() {
    let server = start();
    assert_eq!(get(&server, "/healthz"), (200, json!({ "status": "ok" })));
    assert_eq!(get(&server, "/readyz"), (200, json!({ "status": "ready" })));
    let (status, body) = get(&server, "/api/v1/plugins");
    assert_eq!(status, 200);
    assert_eq!(body["abi_version"], daas_plugin_api::ABI_VERSION);
    let plugins = body["plugins"].as_array().unwrap();
    let names: Vec<&str> = plugins.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["info", "testbackend"]);
    let tb = &plugins[1];
    assert_eq!(tb["backends"], json!(["testbackend"]));
    assert_eq!(tb["layers"], json!(["testing"]));
    let routes: Vec<&str> = tb["routes"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    for r in ["GET /api/v1/testbackend/hello", "POST /api/v1/testbackend/sum", "GET /api/v1/testbackend/echo", "GET /testbackend"] {
        assert!(routes.contains(&r), "{r} missing from {routes:?}");
    }
    assert_eq!(tb["library"], "libdaas_plugin_testbackend.so", "the file name only, no server paths");
}

fn document(server: &Server) -> Value {
    let r = client().get(server.url("/openapi.json")).send().unwrap();
    assert_eq!(r.status(), 200);
    r.json().unwrap()
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_merged_openapi_document_is_valid_and_complete() {
    let server = start();
    let doc = document(&server);
    // Structurally OpenAPI 3.
    let parsed: openapiv3::OpenAPI = serde_json::from_value(doc.clone()).expect("valid OpenAPI 3 document");
    assert!(parsed.openapi.starts_with("3."));
    // Every $ref resolves.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected ref {r}"));
        assert!(doc["components"]["schemas"].get(name).is_some(), "dangling ref {r}");
    }
    // Operation ids unique, prefixed with the plugin, one tag per plugin.
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_string()), "duplicate operation id {id}");
            let tag = op["tags"][0].as_str().unwrap();
            assert!(id.starts_with(&format!("{tag}_")), "{id} not prefixed with {tag}");
        }
    }
    for id in ["host_healthz", "host_plugins", "info_system", "testbackend_hello", "testbackend_sum"] {
        assert!(ids.contains(id), "{id} missing");
    }
    let tags: Vec<&str> = doc["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tags, ["host", "info", "testbackend"]);
    // Security declared; public operations opt out.
    assert!(doc["components"]["securitySchemes"]["bearerAuth"].is_object());
    assert!(doc["security"].as_array().is_some_and(|s| !s.is_empty()));
    assert_eq!(doc["paths"]["/api/v1/testbackend/health"]["get"]["security"], json!([]));
    assert_eq!(doc["paths"]["/healthz"]["get"]["security"], json!([]));
    assert!(doc["paths"]["/api/v1/testbackend/hello"]["get"].get("security").is_none());
    // Shared schemas de-duplicated: ApiError is declared by the host and testbackend.
    let schemas: Vec<&String> = doc["components"]["schemas"].as_object().unwrap().keys().collect();
    assert_eq!(schemas.iter().filter(|s| s.ends_with("ApiError")).count(), 1, "{schemas:?}");
    // Path parameters are templates.
    assert!(doc["paths"].get("/api/v1/testbackend/events/{topic}").is_some());
    // Browser routes are documented with their methods; the public one opts out.
    assert_eq!(doc["paths"]["/testbackend"]["get"]["operationId"], "testbackend_page");
    assert_eq!(doc["paths"]["/testbackend"]["get"]["security"], json!([]));
    assert_eq!(doc["paths"]["/testbackend"]["post"]["operationId"], "testbackend_page_post");
    assert!(doc["paths"]["/testbackend"]["post"].get("security").is_none());
    assert!(doc["paths"]["/api/v1/testbackend/echo"]["get"]["responses"]["101"]["description"].as_str().is_some());
    assert!(!doc.to_string().contains("x-daas-pattern"), "internal keys do not leak into the document");
}

#[test]
fn the_docs_page_shows_the_merged_document() {
    let server = start();
    let r = client().get(server.url("/docs")).send().unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().unwrap();
    assert!(html.contains("SwaggerUIBundle"));
    assert!(html.contains("testbackend_hello") && html.contains("info_system"), "the page embeds the merged document");
}

mod websocket {
    use super::*;
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, protocol::frame::coding::CloseCode, Message};

    async fn connect(
        url: String,
        protocol: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<
        (
            tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
            tokio_tungstenite::tungstenite::handshake::client::Response,
        ),
        tokio_tungstenite::tungstenite::Error,
    > {
        let mut req = url.into_client_request().unwrap();
        if let Some(p) = protocol {
            req.headers_mut().insert("sec-websocket-protocol", p.parse().unwrap());
        }
        for (k, v) in headers {
            let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
            req.headers_mut().insert(name, v.parse().unwrap());
        }
        tokio::time::timeout(std::time::Duration::from_secs(10), tokio_tungstenite::connect_async(req)).await.expect("connect timed out")
    }

    async fn next(ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin)) -> Message {
        tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await.expect("no message within 10 s").unwrap().unwrap()
    }

    #[tokio::test]
    async fn echo_through_a_plugin_with_the_subprotocol_echoed() {
        let server = start();
        let (mut ws, resp) = connect(server.ws_url("/api/v1/testbackend/echo"), Some("echo"), &[]).await.unwrap();
        assert_eq!(resp.headers()["sec-websocket-protocol"], "echo", "the host echoes the subprotocol (Chrome needs it)");
        ws.send(Message::Text("héllo ✓".into())).await.unwrap();
        assert_eq!(next(&mut ws).await, Message::Text("héllo ✓".into()));
        let binary: Vec<u8> = (0..=255u8).cycle().take(60_000).collect();
        ws.send(Message::Binary(binary.clone())).await.unwrap();
        assert_eq!(next(&mut ws).await, Message::Binary(binary));
        ws.send(Message::Text("close".into())).await.unwrap();
        match next(&mut ws).await {
            Message::Close(Some(frame)) => {
                assert_eq!(frame.code, CloseCode::from(4000));
                assert_eq!(frame.reason, "closed on request");
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn many_concurrent_sockets_each_get_their_own_echo() {
        let server = start();
        let mut tasks = Vec::new();
        for i in 0..20 {
            let url = server.ws_url("/api/v1/testbackend/echo");
            tasks.push(tokio::spawn(async move {
                let (mut ws, _) = connect(url, Some("echo"), &[]).await.unwrap();
                for j in 0..20 {
                    let text = format!("{i}-{j}");
                    ws.send(Message::Text(text.clone())).await.unwrap();
                    assert_eq!(next(&mut ws).await, Message::Text(text));
                }
                ws.close(None).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }

    #[tokio::test]
    async fn messages_larger_than_the_body_limit_close_the_socket() {
        let server = start();
        let (mut ws, _) = connect(server.ws_url("/api/v1/testbackend/echo"), Some("echo"), &[]).await.unwrap();
        // tests/sites/full sets max_body_bytes = 65536.
        let _ = ws.send(Message::Binary(vec![7u8; 70_000])).await;
        let end = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await.expect("the server reacts");
        match end {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Size),
            None | Some(Err(_)) => {}
            Some(Ok(other)) => panic!("a too-large message was not refused: got {other:?}"),
        }
    }

    #[tokio::test]
    async fn layers_run_before_the_upgrade() {
        let server = start();
        let err = connect(server.ws_url("/api/v1/testbackend/echo"), Some("echo"), &[("x-test-reject", "403")]).await.unwrap_err();
        match err {
            tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 403),
            other => panic!("expected an HTTP refusal, got {other}"),
        }
    }

    #[tokio::test]
    async fn a_plain_get_on_a_websocket_route_is_not_an_upgrade() {
        let server = start();
        let r = reqwest::get(server.url("/api/v1/testbackend/echo")).await.unwrap();
        // 426 Upgrade Required, as the document says, naming the protocol to switch to.
        assert_eq!(r.status(), 426);
        assert_eq!(r.headers()["upgrade"], "websocket");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "upgrade_required", "{body}");
        let doc: serde_json::Value = reqwest::get(server.url("/openapi.json")).await.unwrap().json().await.unwrap();
        let responses = &doc["paths"]["/api/v1/testbackend/echo"]["get"]["responses"];
        assert!(responses["101"].is_object() && responses["426"].is_object(), "{responses}");
    }
}

#[test]
fn the_demo_site_runs_with_the_db_plugin_on_sqlite() {
    let demo = common::workspace().join("config/demo");
    let data = tempfile::tempdir().unwrap();
    // The demo's SQLite file goes to a directory of the test's own.
    let server = Server::start_with(&demo, &[("DAAS__DB__DB__DATA_PATH", data.path().to_str().unwrap())]);
    // The auth layer refuses anonymous callers; the demo's administrator logs in.
    let (status, body) = get(&server, "/api/v1/db/status");
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "unauthenticated");
    let http = common::client();
    let login: Value = http
        .post(server.url("/api/v1/auth/token"))
        .json(&json!({"username": "admin", "password": "admin"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = login["token"].as_str().unwrap_or_else(|| panic!("{login}"));
    let status: Value = http.get(server.url("/api/v1/db/status")).bearer_auth(token).send().unwrap().json().unwrap();
    assert_eq!(status["db_type"], "sqlite");
    assert_eq!(status["pending"], json!([]));
    assert!(data.path().join("daas.sqlite").exists());
    // The samples are there.
    let objects: Value = http.get(server.url("/api/v1/db/objects?sort=id")).bearer_auth(token).send().unwrap().json().unwrap();
    let ids: Vec<&str> = objects["items"].as_array().unwrap().iter().filter_map(|o| o["id"].as_str()).collect();
    assert!(ids.contains(&"demo-desktop") && ids.contains(&"demo-debian-vm"), "{objects}");
    assert!(server.log().contains("publicly known demo key"), "the demo key is announced in the log");
}
