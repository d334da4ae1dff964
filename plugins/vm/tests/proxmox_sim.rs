//! Tests of the Proxmox VE simulator itself (tests/support/proxmox.rs), speaking raw
//! HTTP with reqwest and raw RFB over a WebSocket: the simulator is known right
//! independently of the vm plugin's Proxmox client, which is tested against it.

#[path = "support/proxmox.rs"]
mod proxmox;

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use proxmox::{ProxmoxSim, SimOptions};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

const TEMPLATE: u32 = 9000;

fn fast() -> SimOptions {
    SimOptions { task_delay: Duration::from_millis(50), ..SimOptions::default() }
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Clone)]
enum Auth {
    None,
    Token(String),
    Ticket { ticket: String, csrf: Option<String> },
}

/// A raw client: a path under /api2/json, an authentication, a form or a JSON body.
struct Api {
    base: String,
    http: reqwest::Client,
    auth: Auth,
}

struct Reply {
    status: u16,
    reason: String,
    text: String,
    json: Value,
}

impl Api {
    fn new(sim: &ProxmoxSim, auth: Auth) -> Api {
        let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
        Api { base: format!("{}/api2/json", sim.url), http, auth }
    }

    fn token(sim: &ProxmoxSim) -> Api {
        Api::new(sim, Auth::Token(format!("PVEAPIToken={}={}", sim.token_id, sim.token_secret)))
    }

    async fn login(sim: &ProxmoxSim) -> Api {
        let anonymous = Api::new(sim, Auth::None);
        let reply = anonymous.send("POST", "/access/ticket", &[("username", &sim.username), ("password", &sim.password)]).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let data = &reply.json["data"];
        let ticket = data["ticket"].as_str().unwrap().to_string();
        let csrf = data["CSRFPreventionToken"].as_str().unwrap().to_string();
        Api::new(sim, Auth::Ticket { ticket, csrf: Some(csrf) })
    }

    fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
        match &self.auth {
            Auth::None => {}
            Auth::Token(header) => req = req.header("Authorization", header),
            Auth::Ticket { ticket, csrf } => {
                req = req.header("Cookie", format!("PVEAuthCookie={}", encode(ticket)));
                if let (Some(csrf), false) = (csrf, method == reqwest::Method::GET) {
                    req = req.header("CSRFPreventionToken", csrf);
                }
            }
        }
        req
    }

    async fn reply(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let reason = resp.status().canonical_reason().unwrap_or("").to_string();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, reason, text, json }
    }

    /// A form body on POST/PUT, the query string otherwise.
    async fn send(&self, method: &str, path: &str, form: &[(&str, &str)]) -> Reply {
        let req = self.request(method, path);
        let req = if method == "POST" || method == "PUT" {
            let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
            req.header("Content-Type", "application/x-www-form-urlencoded").body(body)
        } else {
            req.query(form)
        };
        Api::reply(req.send().await.unwrap()).await
    }

    async fn send_json(&self, method: &str, path: &str, body: Value) -> Reply {
        Api::reply(self.request(method, path).json(&body).send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[]).await
    }

    /// A call that returns a UPID.
    async fn upid(&self, method: &str, path: &str, form: &[(&str, &str)]) -> String {
        let reply = self.send(method, path, form).await;
        assert_eq!(reply.status, 200, "{method} {path}: {}", reply.text);
        reply.json["data"].as_str().expect("a UPID").to_string()
    }

    async fn task(&self, upid: &str) -> Value {
        let reply = self.get(&format!("/nodes/pve/tasks/{}/status", encode(upid))).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json["data"].clone()
    }

    /// Waits for the task to stop; its exitstatus.
    async fn wait(&self, upid: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = self.task(upid).await;
            if status["status"] == "stopped" {
                return status["exitstatus"].as_str().unwrap().to_string();
            }
            assert!(Instant::now() < deadline, "task {upid} never stopped");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn ok(&self, method: &str, path: &str, form: &[(&str, &str)]) {
        let upid = self.upid(method, path, form).await;
        assert_eq!(self.wait(&upid).await, "OK", "{method} {path}");
    }

    async fn log(&self, upid: &str) -> Vec<String> {
        let reply = self.get(&format!("/nodes/pve/tasks/{}/log", encode(upid))).await;
        let lines = reply.json["data"].as_array().unwrap();
        lines.iter().map(|l| l["t"].as_str().unwrap().to_string()).collect()
    }

    /// A linked clone of the template, started, its guest agent answering.
    async fn running_clone(&self, newid: u32) {
        let newid = newid.to_string();
        self.ok("POST", &format!("/nodes/pve/qemu/{TEMPLATE}/clone"), &[("newid", &newid), ("name", "vm")]).await;
        self.ok("POST", &format!("/nodes/pve/qemu/{newid}/status/start"), &[]).await;
        let ping = self.send("POST", &format!("/nodes/pve/qemu/{newid}/agent/ping"), &[]).await;
        assert_eq!(ping.status, 200, "{}", ping.text);
    }

    /// Runs a command with the guest agent; (exitcode, out-data, err-data).
    async fn exec(&self, vmid: u32, command: &[&str]) -> (i64, String, String) {
        let reply = self.send_json("POST", &format!("/nodes/pve/qemu/{vmid}/agent/exec"), json!({"command": command})).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let pid = reply.json["data"]["pid"].as_i64().unwrap().to_string();
        self.exec_status(vmid, &pid).await
    }

    async fn exec_status(&self, vmid: u32, pid: &str) -> (i64, String, String) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let reply = self.send("GET", &format!("/nodes/pve/qemu/{vmid}/agent/exec-status"), &[("pid", pid)]).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            let data = &reply.json["data"];
            if data["exited"] == 1 {
                let text = |k: &str| data[k].as_str().unwrap_or("").to_string();
                return (data["exitcode"].as_i64().unwrap(), text("out-data"), text("err-data"));
            }
            assert!(Instant::now() < deadline, "the command never exited");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn ticket_login_and_csrf() {
    let sim = ProxmoxSim::start(fast());
    sim.add_template(TEMPLATE, "tpl", true);

    // A form login, and a JSON one with the realm apart.
    let api = Api::login(&sim).await;
    let anonymous = Api::new(&sim, Auth::None);
    let user = sim.username.split('@').next().unwrap();
    let reply = anonymous.send_json("POST", "/access/ticket", json!({"username": user, "realm": "pve", "password": sim.password})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["data"]["username"], "daas@pve");
    assert!(reply.json["data"]["ticket"].as_str().unwrap().starts_with("PVE:daas@pve:"));

    let version = api.get("/version").await;
    assert_eq!(version.status, 200);
    assert_eq!(version.json["data"]["version"], "8.2.4");

    // A POST with the ticket but without the CSRF token: 401, the reason in the status
    // line only.
    let Auth::Ticket { ticket, .. } = api.auth.clone() else { unreachable!() };
    let no_csrf = Api::new(&sim, Auth::Ticket { ticket, csrf: None });
    let path = format!("/nodes/pve/qemu/{TEMPLATE}/config");
    let reply = no_csrf.send("POST", &path, &[("description", "x")]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.text, "");
    let reply = no_csrf.get(&path).await;
    assert_eq!(reply.status, 200, "GET needs no CSRF token");

    // With the CSRF token it works (asynchronous: a UPID).
    api.ok("POST", &path, &[("description", "x")]).await;
    let config = api.get(&path).await;
    assert_eq!(config.json["data"]["description"], "x");

    // A failed login: 401 "authentication failure".
    let reply = anonymous.send("POST", "/access/ticket", &[("username", "daas@pve"), ("password", "wrong")]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json["message"], "authentication failure\n");
    // No ticket at all.
    assert_eq!(anonymous.get("/nodes").await.status, 401);

    let requests = sim.requests();
    assert!(requests.contains(&("POST".to_string(), format!("/api2/json{path}"), 401)));
    assert!(requests.contains(&("POST".to_string(), "/api2/json/access/ticket".to_string(), 200)));
}

#[tokio::test]
async fn api_token_and_its_limits() {
    let sim = ProxmoxSim::start(fast());
    sim.add_template(TEMPLATE, "tpl", true);
    let api = Api::token(&sim);
    let nodes = api.get("/nodes").await;
    assert_eq!(nodes.status, 200);
    assert_eq!(nodes.json["data"][0]["node"], "pve");
    assert_eq!(nodes.json["data"][0]["status"], "online");

    // Token requests need no CSRF token; the task's user is the token.
    let upid = api.upid("POST", &format!("/nodes/pve/qemu/{TEMPLATE}/clone"), &[("newid", "100")]).await;
    assert!(upid.starts_with("UPID:pve:") && upid.ends_with(":qmclone:9000:daas@pve!ci:"), "{upid}");
    let status = api.task(&upid).await;
    assert_eq!(status["user"], "daas@pve");
    assert_eq!(status["tokenid"], "ci");

    // A wrong secret: 401 without a body. The token's id has no `=`; the secret is what
    // follows the last one.
    let wrong = Api::new(&sim, Auth::Token(format!("PVEAPIToken={}=nope", sim.token_id)));
    let reply = wrong.get("/nodes").await;
    assert_eq!((reply.status, reply.text.as_str()), (401, ""));

    // /access/ticket is not for tokens.
    let reply = api.send("POST", "/access/ticket", &[("username", "daas@pve"), ("password", &sim.password)]).await;
    assert_eq!(reply.status, 403, "{}", reply.text);
}

#[tokio::test]
async fn expired_tickets_and_renewal() {
    let sim = ProxmoxSim::start(SimOptions { auth_delay: Duration::from_millis(300), ..fast() });
    let api = Api::login(&sim).await;
    let Auth::Ticket { ticket, .. } = api.auth.clone() else { unreachable!() };
    let anonymous = Api::new(&sim, Auth::None);

    // Renewal: the ticket as password.
    let renewed = anonymous.send("POST", "/access/ticket", &[("username", "daas@pve"), ("password", &ticket)]).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    let new_ticket = renewed.json["data"]["ticket"].as_str().unwrap().to_string();
    assert_ne!(new_ticket, ticket);
    let renewed_api = Api::new(&sim, Auth::Ticket { ticket: new_ticket, csrf: None });
    assert_eq!(renewed_api.get("/nodes").await.status, 200);

    // Expired: 401 after the delay, and no renewal with it any more.
    sim.expire_tickets();
    let started = Instant::now();
    let reply = api.get("/nodes").await;
    assert_eq!(reply.status, 401);
    assert!(started.elapsed() >= Duration::from_millis(300), "a 401 waits auth_delay");
    let reply = anonymous.send("POST", "/access/ticket", &[("username", "daas@pve"), ("password", &ticket)]).await;
    assert_eq!(reply.status, 401);

    // A new login works.
    let again = Api::login(&sim).await;
    assert_eq!(again.get("/nodes").await.status, 200);
}

#[tokio::test]
async fn nextid_is_a_string() {
    let sim = ProxmoxSim::start(fast());
    sim.add_template(TEMPLATE, "tpl", true);
    sim.add_template(100, "tpl100", true);
    let api = Api::token(&sim);
    let reply = api.get("/cluster/nextid").await;
    assert_eq!(reply.json["data"], json!("101"));
    let reply = api.send("GET", "/cluster/nextid", &[("vmid", "123")]).await;
    assert_eq!(reply.json["data"], json!("123"));
    let reply = api.send("GET", "/cluster/nextid", &[("vmid", "9000")]).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json["errors"]["vmid"], "VM 9000 already exists");
}

#[tokio::test]
async fn linked_clone_runs_then_stops() {
    let sim = ProxmoxSim::start(SimOptions { task_delay: Duration::from_millis(300), ..SimOptions::default() });
    sim.add_template(TEMPLATE, "tpl", true);
    let api = Api::token(&sim);
    let clone = format!("/nodes/pve/qemu/{TEMPLATE}/clone");
    let upid = api.upid("POST", &clone, &[("newid", "100"), ("name", "web-1"), ("full", "0")]).await;

    // Running: the new VM is there at once, stopped, locked.
    let status = api.task(&upid).await;
    assert_eq!(status["status"], "running");
    assert!(status.get("exitstatus").is_none());
    assert_eq!(status["type"], "qmclone");
    assert_eq!(status["id"], "9000");
    let vm = sim.vms().into_iter().find(|vm| vm.vmid == 100).unwrap();
    assert_eq!(vm.config.get("lock").map(String::as_str), Some("clone"));
    assert_eq!(vm.status, "stopped");
    let list = api.get("/nodes/pve/qemu").await;
    let entry = list.json["data"].as_array().unwrap().iter().find(|v| v["vmid"] == 100).unwrap().clone();
    assert_eq!(entry["lock"], "clone");
    let template = list.json["data"].as_array().unwrap().iter().find(|v| v["vmid"] == 9000).unwrap().clone();
    assert_eq!(template["template"], 1);

    // Stopped: OK, unlocked, the disk copied.
    assert_eq!(api.wait(&upid).await, "OK");
    assert_eq!(api.log(&upid).await.last().unwrap(), "TASK OK");
    let config = api.get("/nodes/pve/qemu/100/config").await.json["data"].clone();
    assert!(config.get("lock").is_none());
    assert_eq!(config["name"], "web-1");
    assert_eq!(config["memory"], "512", "memory is a string");
    assert_eq!(config["cores"], 1);
    assert_eq!(config["agent"], "1");
    assert!(config["scsi0"].as_str().unwrap().starts_with("local-lvm:vm-100-disk-0,"));
    assert_eq!(config["digest"].as_str().unwrap().len(), 40);
    assert!(sim.guest_file(100, "/bin/busybox").is_some());
    assert!(sim.guest_file(100, "/bin/sh").is_some(), "applets are relative symlinks");

    // The early checks: an HTTP 500 at once.
    let reply = api.send("POST", &clone, &[("newid", "100")]).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json["message"], "unable to create VM 100: config file already exists\n");
    assert_eq!(reply.reason, "Internal Server Error", "reqwest shows the canonical reason");
    let reply = api.send("POST", &clone, &[("newid", "101"), ("storage", "local-lvm")]).await;
    assert_eq!(reply.json["message"], "parameter 'storage' not allowed for linked clones\n");
    let reply = api.send("POST", "/nodes/pve/qemu/100/clone", &[("newid", "101"), ("full", "0")]).await;
    assert_eq!(reply.status, 500);
    assert!(reply.json["message"].as_str().unwrap().starts_with("Linked clone feature is not supported"));
    let reply = api.send("POST", "/nodes/elsewhere/qemu/9000/clone", &[("newid", "101")]).await;
    assert_eq!(reply.status, 500);
    assert!(reply.json["message"].as_str().unwrap().contains("hostname lookup 'elsewhere' failed"));

    // A full clone of the template, to another storage.
    api.ok("POST", &clone, &[("newid", "101"), ("full", "1"), ("storage", "local-lvm")]).await;
    let config = api.get("/nodes/pve/qemu/101/config").await.json["data"].clone();
    assert!(config["scsi0"].as_str().unwrap().starts_with("local-lvm:vm-101-disk-0"));
    assert_eq!(config["name"], "Copy-of-VM-tpl");
}

#[tokio::test]
async fn a_second_clone_of_a_locked_template_fails() {
    let sim = ProxmoxSim::start(SimOptions {
        task_delay: Duration::from_millis(800),
        lock_timeout: Duration::from_millis(200),
        ..SimOptions::default()
    });
    sim.add_template(TEMPLATE, "tpl", true);
    let api = Api::token(&sim);
    let clone = format!("/nodes/pve/qemu/{TEMPLATE}/clone");
    let first = api.upid("POST", &clone, &[("newid", "100")]).await;
    let started = Instant::now();
    let second = api.send("POST", &clone, &[("newid", "101")]).await;
    assert!(started.elapsed() >= Duration::from_millis(200), "it waited for the lock");
    assert_eq!(second.status, 500, "{}", second.text);
    assert_eq!(second.json["message"], "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout\n");
    assert!(second.json["data"].is_null());
    assert_eq!(sim.clone_lock_failures(), 1);
    assert!(sim.vms().iter().all(|vm| vm.vmid != 101));
    // Once the first clone is done, the lock is free.
    assert_eq!(api.wait(&first).await, "OK");
    api.ok("POST", &clone, &[("newid", "101")]).await;
}

#[tokio::test]
async fn clone_locks_inside_the_task_as_proxmox_7_2() {
    let sim = ProxmoxSim::start(SimOptions {
        task_delay: Duration::from_millis(600),
        lock_timeout: Duration::from_millis(200),
        clone_lock_in_task: true,
        ..SimOptions::default()
    });
    sim.add_template(TEMPLATE, "tpl", true);
    let api = Api::token(&sim);
    let clone = format!("/nodes/pve/qemu/{TEMPLATE}/clone");
    // Clones of a stopped template share its lock.
    let a = api.upid("POST", &clone, &[("newid", "100")]).await;
    let b = api.upid("POST", &clone, &[("newid", "101")]).await;
    assert_eq!(api.wait(&a).await, "OK");
    assert_eq!(api.wait(&b).await, "OK");
    // A config change holds the template's lock exclusively: the clone's task fails.
    let config = api.upid("POST", &format!("/nodes/pve/qemu/{TEMPLATE}/config"), &[("description", "x")]).await;
    let c = api.upid("POST", &clone, &[("newid", "102")]).await;
    assert_eq!(api.wait(&c).await, "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout");
    assert_eq!(api.wait(&config).await, "OK");
    assert_eq!(sim.clone_lock_failures(), 1);
}

#[tokio::test]
async fn guest_agent_runs_commands_in_the_clone() {
    let sim = ProxmoxSim::start(fast());
    sim.add_template(TEMPLATE, "tpl", true);
    let api = Api::token(&sim);

    // The agent of a stopped VM.
    api.ok("POST", &format!("/nodes/pve/qemu/{TEMPLATE}/clone"), &[("newid", "100")]).await;
    let reply = api.send("POST", "/nodes/pve/qemu/100/agent/ping", &[]).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json["message"], "VM 100 is not running\n");

    api.ok("POST", "/nodes/pve/qemu/100/status/start", &[]).await;
    let ping = api.send("POST", "/nodes/pve/qemu/100/agent/ping", &[]).await;
    assert_eq!(ping.json["data"], json!({"result": {}}));

    let (code, out, err) = api.exec(100, &["sh", "-c", "echo hi > /root/x; cat /root/x"]).await;
    assert_eq!((code, out.as_str(), err.as_str()), (0, "hi\n", ""));
    assert_eq!(sim.guest_file(100, "/root/x").as_deref(), Some(&b"hi\n"[..]));
    assert_eq!(sim.guest_file(TEMPLATE, "/root/x"), None, "the template's disk is untouched");

    // Repeated form fields make the command; input-data is its stdin; the exit code.
    let reply = api
        .send(
            "POST",
            "/nodes/pve/qemu/100/agent/exec",
            &[("command", "sh"), ("command", "-c"), ("command", "cat; echo oops >&2; exit 3"), ("input-data", "in")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let pid = reply.json["data"]["pid"].as_i64().unwrap().to_string();
    let (code, out, err) = api.exec_status(100, &pid).await;
    assert_eq!((code, out.as_str(), err.as_str()), (3, "in", "oops\n"));
    // The agent forgets a process once it reported its exit.
    let again = api.send("GET", "/nodes/pve/qemu/100/agent/exec-status", &[("pid", &pid)]).await;
    assert_eq!(again.status, 500);

    // A program the guest does not have.
    let reply = api.send_json("POST", "/nodes/pve/qemu/100/agent/exec", json!({"command": ["nope"]})).await;
    assert_eq!(reply.status, 500);
    assert!(reply.json["message"].as_str().unwrap().contains("Failed to execute child process"));

    // A template that never boots: the VM runs, its agent does not answer.
    sim.add_template(9001, "dead", false);
    api.ok("POST", "/nodes/pve/qemu/9001/clone", &[("newid", "101")]).await;
    api.ok("POST", "/nodes/pve/qemu/101/status/start", &[]).await;
    let reply = api.send("POST", "/nodes/pve/qemu/101/agent/ping", &[]).await;
    assert_eq!(reply.json["message"], "QEMU guest agent is not running\n");
    let current = api.get("/nodes/pve/qemu/101/status/current").await.json["data"].clone();
    assert_eq!((current["status"].as_str(), current["qmpstatus"].as_str()), (Some("running"), Some("running")));
}

#[tokio::test]
async fn guest_agent_writes_files_inside_the_disk() {
    let sim = ProxmoxSim::start(fast());
    sim.add_template(TEMPLATE, "tpl", true);
    let api = Api::token(&sim);
    api.running_clone(100).await;
    let write = "/nodes/pve/qemu/100/agent/file-write";

    let reply = api.send("POST", write, &[("file", "/opt/hello.txt"), ("content", "hello world\n")]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.json["data"].is_null());
    assert_eq!(sim.guest_file(100, "/opt/hello.txt").as_deref(), Some(&b"hello world\n"[..]));
    let (_, out, _) = api.exec(100, &["cat", "/opt/hello.txt"]).await;
    assert_eq!(out, "hello world\n");

    // encode=0: the content is base64 already.
    let reply = api.send("POST", write, &[("file", "/opt/b64"), ("content", "AAEC/w=="), ("encode", "0")]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(sim.guest_file(100, "/opt/b64").as_deref(), Some(&[0u8, 1, 2, 255][..]));

    // The parent directory must exist, as for the real agent.
    let reply = api.send("POST", write, &[("file", "/no/such/dir/f"), ("content", "x")]).await;
    assert_eq!(reply.status, 500);

    // An absolute symlink in the guest resolves inside the guest's disk, never on the host.
    let host_path = format!("/tmp/proxmox-sim-escape-{}", std::process::id());
    api.exec(100, &["ln", "-s", &host_path, "/root/link"]).await;
    let reply = api.send("POST", write, &[("file", "/root/link"), ("content", "inside")]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(!std::path::Path::new(&host_path).exists(), "wrote through the symlink on the host");
    assert_eq!(sim.guest_file(100, &host_path).as_deref(), Some(&b"inside"[..]));
    assert_eq!(sim.guest_file(100, "/root/link").as_deref(), Some(&b"inside"[..]));
}

#[tokio::test]
async fn snapshot_with_vmstate_and_rollback() {
    let sim = ProxmoxSim::start(fast());
    sim.add_template(TEMPLATE, "tpl", true);
    let api = Api::token(&sim);
    api.running_clone(100).await;
    api.exec(100, &["sh", "-c", "echo before > /root/state"]).await;

    api.ok("POST", "/nodes/pve/qemu/100/snapshot", &[("snapname", "s1"), ("vmstate", "1"), ("description", "d")]).await;
    let list = api.get("/nodes/pve/qemu/100/snapshot").await.json["data"].clone();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!((list[0]["name"].as_str(), list[0]["vmstate"].as_i64()), (Some("s1"), Some(1)));
    assert_eq!(list[1]["name"], "current");
    assert_eq!(list[1]["description"], "You are here!");
    assert_eq!(list[1]["running"], 1);
    assert_eq!(list[1]["parent"], "s1");

    api.exec(100, &["sh", "-c", "echo after > /root/state"]).await;
    api.ok("POST", "/nodes/pve/qemu/100/status/stop", &[]).await;
    api.ok("POST", "/nodes/pve/qemu/100/snapshot/s1/rollback", &[]).await;
    let vm = sim.vms().into_iter().find(|vm| vm.vmid == 100).unwrap();
    assert_eq!(vm.status, "running", "a snapshot with RAM resumes the VM");
    assert_eq!(vm.snapshots, vec!["s1".to_string()]);
    assert_eq!(sim.guest_file(100, "/root/state").as_deref(), Some(&b"before\n"[..]));

    // Reserved names fail at once; a rollback to a missing snapshot fails in its task.
    let reply = api.send("POST", "/nodes/pve/qemu/100/snapshot", &[("snapname", "current")]).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json["message"], "unable to use snapshot name 'current' (reserved name)\n");
    let upid = api.upid("POST", "/nodes/pve/qemu/100/snapshot/nope/rollback", &[]).await;
    assert_eq!(api.wait(&upid).await, "snapshot 'nope' does not exist");

    // Without RAM, a rollback of a running VM stops it.
    api.ok("POST", "/nodes/pve/qemu/100/snapshot", &[("snapname", "s2")]).await;
    api.ok("POST", "/nodes/pve/qemu/100/snapshot/s2/rollback", &[]).await;
    assert_eq!(sim.vms().into_iter().find(|vm| vm.vmid == 100).unwrap().status, "stopped");
    api.ok("DELETE", "/nodes/pve/qemu/100/snapshot/s1", &[]).await;
    assert_eq!(sim.vms().into_iter().find(|vm| vm.vmid == 100).unwrap().snapshots, vec!["s2".to_string()]);
}

#[tokio::test]
async fn failures_at_once_and_inside_tasks() {
    // Long enough tasks for a second request to land while the first one runs.
    let sim = ProxmoxSim::start(SimOptions { task_delay: Duration::from_millis(250), ..SimOptions::default() });
    sim.add_template(TEMPLATE, "tpl", true);
    let api = Api::token(&sim);

    // Starting a template fails inside the task (vm_start runs in the worker).
    let upid = api.upid("POST", &format!("/nodes/pve/qemu/{TEMPLATE}/status/start"), &[]).await;
    assert_eq!(api.wait(&upid).await, "you can't start a vm if it's a template");
    assert_eq!(api.log(&upid).await.last().unwrap(), "TASK ERROR: you can't start a vm if it's a template");

    api.running_clone(100).await;
    // So does starting a running VM.
    let upid = api.upid("POST", "/nodes/pve/qemu/100/status/start", &[]).await;
    assert_eq!(api.wait(&upid).await, "VM 100 already running");

    // Destroying a running VM: an early check (HTTP 500)…
    let reply = api.send("DELETE", "/nodes/pve/qemu/100", &[]).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json["message"], "VM 100 is running - destroy failed\n");
    // …repeated in the worker: a start still running when the destroy is asked for.
    api.ok("POST", "/nodes/pve/qemu/100/status/stop", &[]).await;
    let start = api.upid("POST", "/nodes/pve/qemu/100/status/start", &[]).await;
    let destroy = api.upid("DELETE", "/nodes/pve/qemu/100", &[("purge", "1")]).await;
    assert_eq!(api.wait(&start).await, "OK");
    assert_eq!(api.wait(&destroy).await, "VM 100 is running - destroy failed");
    assert!(sim.vms().iter().any(|vm| vm.vmid == 100));

    // A template of a VM with snapshots: an early check…
    api.ok("POST", "/nodes/pve/qemu/100/snapshot", &[("snapname", "s1")]).await;
    api.ok("POST", "/nodes/pve/qemu/100/status/stop", &[]).await;
    let reply = api.send("POST", "/nodes/pve/qemu/100/template", &[]).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json["message"], "unable to create template, because VM contains snapshots\n");
    // …and inside the task, when the snapshot lands while the template task waits.
    api.ok("POST", &format!("/nodes/pve/qemu/{TEMPLATE}/clone"), &[("newid", "101")]).await;
    let snapshot = api.upid("POST", "/nodes/pve/qemu/101/snapshot", &[("snapname", "s1")]).await;
    let template = api.upid("POST", "/nodes/pve/qemu/101/template", &[]).await;
    assert_eq!(api.wait(&snapshot).await, "OK");
    assert_eq!(api.wait(&template).await, "unable to create template, because VM contains snapshots");

    // Destroying a stopped VM removes it and its disk.
    api.ok("DELETE", "/nodes/pve/qemu/100", &[("purge", "1")]).await;
    assert!(sim.vms().iter().all(|vm| vm.vmid != 100));
    assert!(!sim.dir().join("vms/100").exists());

    // A template without snapshots.
    api.ok("POST", &format!("/nodes/pve/qemu/{TEMPLATE}/clone"), &[("newid", "102")]).await;
    api.ok("POST", "/nodes/pve/qemu/102/template", &[]).await;
    assert!(sim.vms().into_iter().find(|vm| vm.vmid == 102).unwrap().template);
}

#[tokio::test]
async fn config_changes_digest_and_power_states() {
    let sim = ProxmoxSim::start(fast());
    sim.add_template(TEMPLATE, "tpl", true);
    let api = Api::token(&sim);
    api.running_clone(100).await;
    let path = "/nodes/pve/qemu/100/config";
    let digest = api.get(path).await.json["data"]["digest"].as_str().unwrap().to_string();

    // PUT is synchronous.
    let reply = api.send("PUT", path, &[("memory", "1024"), ("tags", "b,a;b"), ("digest", &digest)]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.json["data"].is_null());
    let config = api.get(path).await.json["data"].clone();
    assert_eq!((config["memory"].as_str(), config["tags"].as_str()), (Some("1024"), Some("a;b")));
    // The old digest is stale now.
    let reply = api.send("PUT", path, &[("memory", "2048"), ("digest", &digest)]).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json["message"], "checksum mismatch (file change by other user?)\n");
    // delete, JSON body.
    let reply = api.send_json("PUT", path, json!({"delete": "tags,description", "cores": 2})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let config = api.get(path).await.json["data"].clone();
    assert!(config.get("tags").is_none());
    assert_eq!(config["cores"], 2);
    // Parameter checks.
    let reply = api.send("PUT", path, &[("cores", "many"), ("bogus", "1")]).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json["errors"]["cores"], "type check ('integer') failed - got 'many'");
    assert!(reply.json["errors"]["bogus"].as_str().unwrap().contains("not defined in schema"));

    // suspend, resume, shutdown.
    api.ok("POST", "/nodes/pve/qemu/100/status/suspend", &[]).await;
    let current = api.get("/nodes/pve/qemu/100/status/current").await.json["data"].clone();
    assert_eq!((current["status"].as_str(), current["qmpstatus"].as_str()), (Some("running"), Some("paused")));
    assert_eq!(current["ha"]["managed"], 0);
    assert_eq!(current["agent"], 1);
    let reply = api.send("POST", "/nodes/pve/qemu/100/status/shutdown", &[]).await;
    assert_eq!(reply.json["message"], "VM is paused - cannot shutdown\n");
    api.ok("POST", "/nodes/pve/qemu/100/status/resume", &[]).await;
    api.ok("POST", "/nodes/pve/qemu/100/status/shutdown", &[("forceStop", "1")]).await;
    let vm = sim.vms().into_iter().find(|vm| vm.vmid == 100).unwrap();
    assert_eq!((vm.status.as_str(), vm.qmpstatus.as_str()), ("stopped", "stopped"));
    let reply = api.send("POST", "/nodes/pve/qemu/100/status/reboot", &[]).await;
    assert_eq!(reply.json["message"], "VM 100 not running\n");
}

#[tokio::test]
async fn unknown_paths_and_bad_parameters() {
    let sim = ProxmoxSim::start(fast());
    sim.add_template(TEMPLATE, "tpl", true);
    let api = Api::token(&sim);
    let reply = api.get("/nodes/pve/nothing-here").await;
    assert_eq!(reply.status, 501);
    assert_eq!(reply.json["message"], "Method 'GET /nodes/pve/nothing-here' not implemented");
    let reply = api.send("PUT", &format!("/nodes/pve/qemu/{TEMPLATE}/clone"), &[("newid", "100")]).await;
    assert_eq!(reply.status, 501);

    let reply = api.send("POST", &format!("/nodes/pve/qemu/{TEMPLATE}/clone"), &[("name", "x")]).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json["errors"]["newid"], "property is missing and it is not optional");
    assert!(reply.json["data"].is_null());
    let reply = api.send("POST", &format!("/nodes/pve/qemu/{TEMPLATE}/clone"), &[("newid", "5"), ("nope", "1")]).await;
    assert_eq!(reply.json["errors"]["newid"], "value must have a minimum value of 100");
    assert!(reply.json["errors"]["nope"].is_string());
    let reply = api.get("/nodes/pve/qemu/4242/config").await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json["message"], "Configuration file 'nodes/pve/qemu-server/4242.conf' does not exist\n");
    let reply = api.get("/nodes/pve/tasks/UPID:garbage/status").await;
    assert_eq!(reply.status, 400);
}

/// The error's message is the status line's reason phrase, as pve-http-server sends it;
/// a plain-http simulator used from a sync test.
#[test]
fn status_lines_carry_the_message() {
    use std::io::{Read, Write};
    let sim = ProxmoxSim::start(SimOptions { tls: false, ..fast() });
    assert!(sim.url.starts_with("http://127.0.0.1:"));
    let raw = |request: &str| {
        let mut stream = std::net::TcpStream::connect(sim.url.trim_start_matches("http://")).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    };
    let auth = format!("Authorization: PVEAPIToken={}={}", sim.token_id, sim.token_secret);
    let resp = raw(&format!("GET /api2/json/nodes/pve/qemu/4242/config HTTP/1.1\r\nHost: pve\r\n{auth}\r\n\r\n"));
    assert!(resp.starts_with("HTTP/1.1 500 Configuration file 'nodes/pve/qemu-server/4242.conf' does not exist\r\n"), "{resp}");
    assert!(resp.to_ascii_lowercase().contains("connection: close"), "no keep-alive after an error");
    let resp = raw("GET /api2/json/nodes HTTP/1.1\r\nHost: pve\r\nConnection: close\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 401 No ticket\r\n"), "{resp}");
    let resp = raw(&format!(
        "POST /api2/json/nodes/pve/qemu/9000/clone HTTP/1.1\r\nHost: pve\r\n{auth}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ));
    assert!(resp.starts_with("HTTP/1.1 501 chunked transfer encoding not supported\r\n"), "{resp}");
    let resp =
        raw(&format!("GET /api2/json/nodes/pve/qemu/9000/clone?newid=x HTTP/1.1\r\nHost: pve\r\n{auth}\r\nConnection: close\r\n\r\n"));
    assert!(resp.starts_with("HTTP/1.1 501 Method 'GET /nodes/pve/qemu/9000/clone' not implemented\r\n"), "{resp}");
}

#[tokio::test]
async fn stop_refuses_connections() {
    let sim = ProxmoxSim::start(fast());
    let api = Api::token(&sim);
    assert_eq!(api.get("/version").await.status, 200);
    sim.stop();
    let err = api.request("GET", "/version").send().await.unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err}");
    assert_eq!(sim.requests().len(), 1);
}

// ---------------------------------------------------------------------------------------
// The console

/// VNC Authentication's answer: DES of the challenge, the password's bytes bit-reversed
/// as key.
fn vnc_des(password: &str, challenge: &[u8]) -> Vec<u8> {
    use des::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
    let mut key = [0u8; 8];
    for (k, b) in key.iter_mut().zip(password.bytes()) {
        *k = b.reverse_bits();
    }
    let des = des::Des::new(GenericArray::from_slice(&key));
    let mut out = challenge.to_vec();
    for block in out.chunks_mut(8) {
        des.encrypt_block(GenericArray::from_mut_slice(block));
    }
    out
}

mod no_verify {
    use std::sync::Arc;

    use tokio_rustls::rustls::{
        client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider},
        pki_types::{CertificateDer, ServerName, UnixTime},
        ClientConfig, DigitallySignedStruct, Error, SignatureScheme,
    };

    /// Accepts the simulator's self-signed certificate.
    #[derive(Debug)]
    struct NoVerify(Arc<CryptoProvider>);

    impl ServerCertVerifier for NoVerify {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    pub fn config() -> Arc<ClientConfig> {
        let provider = Arc::new(ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth();
        Arc::new(config)
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_console(sim: &ProxmoxSim, vmid: u32, port: &str, ticket: &str) -> Result<Ws, u16> {
    let url = format!(
        "{}/api2/json/nodes/pve/qemu/{vmid}/vncwebsocket?port={port}&vncticket={}",
        sim.url.replacen("https", "wss", 1),
        encode(ticket)
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "binary".parse().unwrap());
    let auth = format!("PVEAPIToken={}={}", sim.token_id, sim.token_secret);
    req.headers_mut().insert("Authorization", auth.parse().unwrap());
    let connector = tokio_tungstenite::Connector::Rustls(no_verify::config());
    match tokio_tungstenite::connect_async_tls_with_config(req, None, false, Some(connector)).await {
        Ok((ws, resp)) => {
            assert_eq!(resp.headers()["sec-websocket-protocol"], "binary");
            Ok(ws)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("websocket: {e}"),
    }
}

struct Rfb {
    ws: Ws,
    buf: Vec<u8>,
}

impl Rfb {
    async fn read(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            match tokio::time::timeout(Duration::from_secs(5), self.ws.next()).await.expect("RFB data in time") {
                Some(Ok(Message::Binary(data))) => self.buf.extend_from_slice(&data),
                Some(Ok(Message::Ping(_))) | Some(Ok(Message::Pong(_))) => {}
                other => panic!("unexpected WebSocket message: {other:?}"),
            }
        }
        self.buf.drain(..n).collect()
    }

    async fn send(&mut self, data: &[u8]) {
        self.ws.send(Message::Binary(data.to_vec())).await.unwrap();
    }

    /// Version and VNC Authentication; the SecurityResult.
    async fn handshake(&mut self, password: &str) -> u32 {
        assert_eq!(self.read(12).await, b"RFB 003.008\n");
        self.send(b"RFB 003.008\n").await;
        assert_eq!(self.read(2).await, vec![1, 2], "one security type: VNC Authentication");
        self.send(&[2]).await;
        let challenge = self.read(16).await;
        self.send(&vnc_des(password, &challenge)).await;
        let result = self.read(4).await;
        u32::from_be_bytes([result[0], result[1], result[2], result[3]])
    }
}

#[tokio::test]
async fn console_speaks_rfb_with_vnc_authentication() {
    let sim = ProxmoxSim::start(fast());
    sim.add_template(TEMPLATE, "tpl", true);
    let api = Api::token(&sim);
    api.running_clone(100).await;

    let proxy = api.send("POST", "/nodes/pve/qemu/100/vncproxy", &[("websocket", "1")]).await;
    assert_eq!(proxy.status, 200, "{}", proxy.text);
    let data = proxy.json["data"].clone();
    let password = data["password"].as_str().unwrap().to_string();
    assert_eq!(password.len(), 8);
    assert!(password.bytes().all(|b| (b'!'..=b'~').contains(&b)));
    let port = data["port"].as_str().unwrap().to_string();
    assert!((5900..=5999).contains(&port.parse::<u16>().unwrap()));
    let ticket = data["ticket"].as_str().unwrap().to_string();
    assert_eq!(data["user"], "daas@pve!ci");
    assert!(data["cert"].as_str().unwrap().contains("BEGIN CERTIFICATE"));
    assert!(data["upid"].as_str().unwrap().contains(":vncproxy:100:"));

    // A wrong ticket, or another VM: 401.
    assert_eq!(open_console(&sim, 100, &port, "PVEVNC:00000000::bad").await.err(), Some(401));

    let ws = open_console(&sim, 100, &port, &ticket).await.expect("the console");
    let mut rfb = Rfb { ws, buf: Vec::new() };
    assert_eq!(rfb.handshake(&password).await, 0, "SecurityResult OK");
    rfb.send(&[1]).await; // ClientInit, shared
    let init = rfb.read(24).await;
    assert_eq!((u16::from_be_bytes([init[0], init[1]]), u16::from_be_bytes([init[2], init[3]])), (64, 48));
    assert_eq!(init[4], 32, "32 bits per pixel");
    let name_len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
    assert_eq!(rfb.read(name_len).await, b"pve-vm-100");

    // Messages the server must skip by their lengths, then an update request.
    let mut pixel_format = vec![0, 0, 0, 0];
    pixel_format.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
    rfb.send(&pixel_format).await;
    rfb.send(&[2, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x21]).await; // SetEncodings: Raw, DesktopSize
    rfb.send(&[4, 1, 0, 0, 0, 0, 0xff, 0x0d]).await; // KeyEvent
    rfb.send(&[5, 0, 0, 10, 0, 10]).await; // PointerEvent
    rfb.send(&[6, 0, 0, 0, 0, 0, 0, 3, b'a', b'b', b'c']).await; // ClientCutText
    rfb.send(&[3, 0, 0, 0, 0, 0, 0, 64, 0, 48]).await; // FramebufferUpdateRequest
    let head = rfb.read(4).await;
    assert_eq!(head[0], 0, "FramebufferUpdate");
    assert_eq!(u16::from_be_bytes([head[2], head[3]]), 1);
    let rect = rfb.read(12).await;
    assert_eq!(&rect[..8], &[0, 0, 0, 0, 0, 64, 0, 48]);
    assert_eq!(&rect[8..], &[0, 0, 0, 0], "Raw encoding");
    let pixels = rfb.read(64 * 48 * 4).await;
    assert!(pixels.chunks(4).all(|p| p == [0xCC, 0x66, 0x33, 0x00]), "0x3366CC, little-endian");
    assert!(pixels.iter().any(|b| *b != 0), "not black");
    drop(rfb);

    // The proxy's port takes one connection; a wrong password fails the handshake.
    let proxy = api.send("POST", "/nodes/pve/qemu/100/vncproxy", &[("websocket", "1")]).await;
    let data = proxy.json["data"].clone();
    let ws = open_console(&sim, 100, data["port"].as_str().unwrap(), data["ticket"].as_str().unwrap()).await;
    let mut rfb = Rfb { ws: ws.expect("the console"), buf: Vec::new() };
    assert_eq!(rfb.handshake("wrong-pw").await, 1, "SecurityResult failed");
    let len = rfb.read(4).await;
    let reason = rfb.read(u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize).await;
    assert_eq!(reason, b"Authentication failed");
    let upid = data["upid"].as_str().unwrap().to_string();
    drop(rfb);
    assert_eq!(api.wait(&upid).await, "OK", "the proxy task ends with its connection");
}
