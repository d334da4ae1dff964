//! Proxmox VE's REST API (`https://HOST:8006/api2/json`), as its API documentation
//! describes it: the `{data}` envelope, an API token or a ticket (renewed before it
//! ends and once on a 401, with the CSRF token on every write), UPID tasks polled to
//! their exit status, and errors mapped to what a caller can act on.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::{sync::Mutex, time::Instant};

use crate::error::VmError;

/// How a request authenticates.
enum Credentials {
    Token { header: String },
    Password { username: String, password: String },
}

/// A ticket and its CSRF token, and when it was issued.
#[derive(Clone)]
struct Ticket {
    ticket: String,
    csrf: String,
    issued: Instant,
}

/// Tickets last 2 hours; renewed when older than this.
const TICKET_RENEW_AFTER: Duration = Duration::from_secs(90 * 60);

/// The API client.
pub struct Rest {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
    ticket: Mutex<Option<Ticket>>,
    retries: u32,
    task_timeout: Duration,
}

/// A request's method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// Settings of the client.
pub struct RestConfig<'a> {
    pub url: &'a str,
    pub token_id: &'a str,
    pub token_secret: &'a str,
    pub username: &'a str,
    pub password: &'a str,
    pub verify_tls: bool,
    pub timeout: Duration,
    pub retries: u32,
    pub task_timeout: Duration,
}

impl Rest {
    /// A client; nothing is asked of Proxmox yet.
    pub fn new(c: &RestConfig) -> Result<Rest, VmError> {
        let url = c.url.trim_end_matches('/');
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(VmError::BadRequest(format!("[vm_rest] url `{url}` is no http(s) URL; set it to https://HOST:8006")));
        }
        let credentials = if !c.token_id.is_empty() {
            if !c.token_id.contains('!') || c.token_secret.is_empty() {
                return Err(VmError::BadRequest("[vm_rest] token_id must read USER@REALM!TOKENID and token_secret must be set".into()));
            }
            Credentials::Token { header: format!("PVEAPIToken={}={}", c.token_id, c.token_secret) }
        } else if !c.username.is_empty() {
            Credentials::Password { username: c.username.into(), password: c.password.into() }
        } else {
            return Err(VmError::BadRequest("[vm_rest] sets neither token_id and token_secret nor username and password".into()));
        };
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(!c.verify_tls)
            .timeout(c.timeout)
            .connect_timeout(c.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| VmError::Failed(format!("the HTTP client cannot be built: {e}")))?;
        Ok(Rest {
            http,
            base: format!("{url}/api2/json"),
            credentials,
            ticket: Mutex::new(None),
            retries: c.retries.max(1),
            task_timeout: c.task_timeout,
        })
    }

    /// The API's address (for errors and the console's WebSocket).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The headers that authenticate a request (`write`: a non-GET, which needs the CSRF
    /// token with a ticket). Logs in or renews the ticket when due.
    pub async fn auth_headers(&self, write: bool) -> Result<Vec<(String, String)>, VmError> {
        match &self.credentials {
            Credentials::Token { header } => Ok(vec![("Authorization".into(), header.clone())]),
            Credentials::Password { .. } => {
                let t = self.ticket(false).await?;
                let mut h = vec![("Cookie".into(), format!("PVEAuthCookie={}", urlencode(&t.ticket)))];
                if write {
                    h.push(("CSRFPreventionToken".into(), t.csrf));
                }
                Ok(h)
            }
        }
    }

    /// The current ticket: a new one when there is none, when `renew`, or when it is
    /// old (renewed by posting the old ticket as the password, as Proxmox allows; a
    /// renewal refused logs in again with the password).
    async fn ticket(&self, renew: bool) -> Result<Ticket, VmError> {
        let Credentials::Password { username, password } = &self.credentials else {
            return Err(VmError::Failed("no ticket with an API token".into()));
        };
        let mut held = self.ticket.lock().await;
        if let Some(t) = held.as_ref().filter(|t| !renew && t.issued.elapsed() < TICKET_RENEW_AFTER) {
            return Ok(t.clone());
        }
        let mut fresh = None;
        if let Some(old) = held.as_ref() {
            fresh = self.login(username, &old.ticket).await.ok();
        }
        let t = match fresh {
            Some(t) => t,
            None => self.login(username, password).await?,
        };
        *held = Some(t.clone());
        Ok(t)
    }

    async fn login(&self, username: &str, password: &str) -> Result<Ticket, VmError> {
        let url = format!("{}/access/ticket", self.base);
        let r = self
            .http
            .post(&url)
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = r.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(VmError::Unavailable(format!(
                "Proxmox VE at {} refused the login of `{username}`: fix [vm_rest] username and password",
                self.base
            )));
        }
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(VmError::Unavailable(format!("Proxmox VE at {} answered the login with {status}: {body}", self.base)));
        }
        let d = &body["data"];
        match (d["ticket"].as_str(), d["CSRFPreventionToken"].as_str()) {
            (Some(ticket), Some(csrf)) => Ok(Ticket { ticket: ticket.into(), csrf: csrf.into(), issued: Instant::now() }),
            _ => Err(VmError::Failed(format!("Proxmox VE at {} sent no ticket: {body}", self.base))),
        }
    }

    fn unreachable(&self, e: reqwest::Error) -> VmError {
        let why = if e.is_timeout() { "it did not answer in time".to_string() } else { error_chain(&e) };
        VmError::Unavailable(format!("Proxmox VE at {} cannot be reached: {why}; check [vm_rest] url and that the host is up", self.base))
    }

    /// One call: its `data`. Reads are retried on connection failures and 5xx; a 401
    /// renews the ticket once.
    pub async fn call(&self, method: Method, path: &str, params: Value) -> Result<Value, VmError> {
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.once(method, path, &params).await {
                Err(Failure::Unauthorized) if !renewed && matches!(self.credentials, Credentials::Password { .. }) => {
                    renewed = true;
                    self.ticket(true).await?;
                }
                Err(Failure::Unauthorized) => {
                    return Err(VmError::Unavailable(format!(
                        "Proxmox VE at {} refused the credentials (401) for {} {path}: check [vm_rest] token_id and token_secret, or username and password",
                        self.base,
                        method.name()
                    )))
                }
                Err(Failure::Retry(e)) if method == Method::Get && attempt < self.retries => {
                    tracing::debug!(error = %e, attempt, "retrying a Proxmox read");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
                Err(Failure::Retry(e) | Failure::Final(e)) => return Err(e),
                Ok(data) => return Ok(data),
            }
        }
    }

    async fn once(&self, method: Method, path: &str, params: &Value) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.base);
        let mut r = match method {
            Method::Get => self.http.get(&url).query(&query_of(params)),
            Method::Delete => self.http.delete(&url).query(&query_of(params)),
            Method::Post => self.http.post(&url).json(params),
            Method::Put => self.http.put(&url).json(params),
        };
        for (k, v) in self.auth_headers(method != Method::Get).await.map_err(Failure::Final)? {
            r = r.header(k, v);
        }
        let r = r.send().await.map_err(|e| Failure::Retry(self.unreachable(e)))?;
        let status = r.status();
        let reason = status.canonical_reason().unwrap_or("");
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let what = format!("{} {path}", method.name());
        let message = body["message"].as_str().map(str::trim).filter(|m| !m.is_empty()).unwrap_or(reason).to_string();
        match status.as_u16() {
            200..=299 => Ok(body.get("data").cloned().unwrap_or(Value::Null)),
            401 => Err(Failure::Unauthorized),
            400 => {
                let errors = body.get("errors").map(|e| format!(" {e}")).unwrap_or_default();
                Err(Failure::Final(VmError::BadRequest(format!("Proxmox VE refused {what}: {message}{errors}"))))
            }
            // The server's credentials lack a privilege: no fault of the caller's.
            403 => Err(Failure::Final(VmError::Unavailable(format!(
                "Proxmox VE denied {what} ({message}): give the API token or user the privileges docs/vm.md lists"
            )))),
            500 if is_missing(&message) => Err(Failure::Final(VmError::NotFound(format!("Proxmox VE: {message}")))),
            501 => Err(Failure::Final(VmError::Failed(format!("Proxmox VE does not know {what} (501): is it version 7 or later?")))),
            _ => Err(Failure::Retry(VmError::Failed(format!("Proxmox VE failed {what} ({status}): {message}")))),
        }
    }

    /// Wait for a task (its UPID) to end: Ok when its exit status is `OK` or
    /// `WARNINGS: N`; else its exit status with the last lines of its log.
    pub async fn wait_task(&self, upid: &Value, what: &str) -> Result<(), VmError> {
        let Some(upid) = upid.as_str().filter(|u| u.starts_with("UPID:")) else {
            return Ok(()); // a synchronous answer: nothing to wait for
        };
        let node = upid.split(':').nth(1).unwrap_or_default();
        let path = format!("/nodes/{node}/tasks/{}", urlencode(upid));
        let deadline = Instant::now() + self.task_timeout;
        let mut pause = Duration::from_millis(50);
        loop {
            let s = self.call(Method::Get, &format!("{path}/status"), Value::Null).await?;
            if s["status"].as_str() == Some("stopped") {
                let exit = s["exitstatus"].as_str().unwrap_or("unknown");
                if exit == "OK" || exit.starts_with("WARNINGS") {
                    return Ok(());
                }
                let log = self.call(Method::Get, &format!("{path}/log"), json!({ "start": 0, "limit": 1000 })).await.unwrap_or(Value::Null);
                let lines: Vec<&str> = log.as_array().map(|l| l.iter().filter_map(|e| e["t"].as_str()).collect()).unwrap_or_default();
                let tail = lines[lines.len().saturating_sub(10)..].join("\n");
                return Err(task_failure(what, exit, &tail));
            }
            if Instant::now() >= deadline {
                return Err(VmError::Unavailable(format!(
                    "{what}: Proxmox's task {upid} still runs after {} ms",
                    self.task_timeout.as_millis()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(1000));
        }
    }

    /// A call that starts a task, waited for.
    pub async fn task(&self, method: Method, path: &str, params: Value, what: &str) -> Result<(), VmError> {
        let upid = self.call(method, path, params).await?;
        self.wait_task(&upid, what).await
    }
}

enum Failure {
    Unauthorized,
    /// Worth another attempt (a read): a connection failure or a 5xx.
    Retry(VmError),
    Final(VmError),
}

/// Proxmox says "does not exist" as a 500.
fn is_missing(message: &str) -> bool {
    message.contains("does not exist") || message.contains("no such VM")
}

fn task_failure(what: &str, exit: &str, log: &str) -> VmError {
    let message = if log.trim().is_empty() || log.contains(exit) {
        format!("{what} failed in Proxmox: {exit}{}", if log.trim().is_empty() { String::new() } else { format!("; its log ends:\n{log}") })
    } else {
        format!("{what} failed in Proxmox: {exit}; its log ends:\n{log}")
    };
    if exit.contains("is running") || exit.contains("already running") || exit.contains("got timeout") || exit.contains("has snapshots") {
        VmError::Conflict(message)
    } else {
        VmError::Failed(message)
    }
}

/// A JSON object's members as query parameters (booleans as 0/1, as Proxmox writes them).
fn query_of(params: &Value) -> Vec<(String, String)> {
    let Some(map) = params.as_object() else { return Vec::new() };
    map.iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Bool(b) => u8::from(*b).to_string(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// Percent-encoding (a ticket in a cookie, a UPID in a path, a console ticket in a query).
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A number Proxmox may send as a number or as a string (`/cluster/nextid`, config).
pub fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A boolean Proxmox may send as 0/1, `"1"` or true.
pub fn flag(v: &Value) -> bool {
    v.as_bool().unwrap_or_else(|| number(v) == Some(1))
}
