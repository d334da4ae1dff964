//! Tasks: every transition, sub-phase walk and app start is a row in `tasks` that says
//! where it is (queued, running, succeeded, failed, cancelled), how far (0–100), what it
//! does now, and why it failed with the failing step's output.
//!
//! - **One at a time per object.** A task names the object it must have to itself (a
//!   transition: its parent; a finish: the object); a second one waits its turn as
//!   `queued`, never a lock error.
//! - **Idempotency.** A task asked with an `Idempotency-Key` is found again by the same
//!   user and key (a unique index), so a retried request never makes a second one.
//! - **Cancel.** Each task not yet over has a cancellation token: cancelling wakes what
//!   it waits on, and the work removes what it made (see `lifecycle`).
//! - **Only the runner writes a task's state**, from its in-memory copy, so progress
//!   and cancel never overwrite each other.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use daas_common::{
    model::{Task, TaskState},
    protocols::{DbClient, Filter},
};
use daas_plugin_api::sdk::Failure;
use tokio_util::sync::CancellationToken;

use crate::events::Events;

/// How much of its commands' output a task keeps (the end).
pub const OUTPUT_TAIL: usize = 4096;

/// Why a task did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A step failed, and why (a command's output is in the task's `output` already).
    #[error("{0}")]
    Failed(String),
    /// Its owner (or an administrator) cancelled it.
    #[error("cancelled")]
    Cancelled,
}

impl TaskError {
    pub fn failed(error: impl Into<String>) -> TaskError {
        TaskError::Failed(error.into())
    }
}

impl From<Failure> for TaskError {
    fn from(f: Failure) -> TaskError {
        TaskError::failed(f.to_string())
    }
}

impl From<daas_plugin_api::abi::BackendError> for TaskError {
    fn from(e: daas_plugin_api::abi::BackendError) -> TaskError {
        TaskError::failed(e.message)
    }
}

/// The end of `output`, at most [`OUTPUT_TAIL`] bytes, cut at a character boundary.
pub fn tail(output: &str) -> String {
    if output.len() <= OUTPUT_TAIL {
        return output.to_string();
    }
    let mut start = output.len() - OUTPUT_TAIL;
    while !output.is_char_boundary(start) {
        start += 1;
    }
    output[start..].to_string()
}

/// The task table, the per-object turns and the cancellation tokens. Cheap to clone.
#[derive(Clone)]
pub struct Tasks {
    inner: Arc<Inner>,
}

struct Inner {
    db: DbClient,
    events: Events,
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    cancels: Mutex<HashMap<String, CancellationToken>>,
    /// Finding a task by its key and making it are one step.
    asking: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Tasks {
    pub fn new(db: DbClient, events: Events) -> Tasks {
        Tasks {
            inner: Arc::new(Inner { db, events, turns: Mutex::default(), cancels: Mutex::default(), asking: tokio::sync::Mutex::new(()) }),
        }
    }

    pub fn db(&self) -> &DbClient {
        &self.inner.db
    }

    pub fn events(&self) -> &Events {
        &self.inner.events
    }

    /// The task asked with this key by this owner, if any.
    pub async fn by_key(&self, owner: i64, key: &str) -> Result<Option<Task>, Failure> {
        Ok(self.inner.db.find_one(vec![Filter::eq("id_owner", owner), Filter::eq("idempotency_key", key)]).await?)
    }

    /// A new queued task, or, with a key this owner used before, that task (`false`:
    /// not new). `make` runs only for a new task, inside the same step as the key's
    /// lookup, and prepares what the task works on (it fills `task`).
    pub async fn ask<F, Fut>(&self, task: Task, make: F) -> Result<(Task, bool), Failure>
    where
        F: FnOnce(Task) -> Fut,
        Fut: std::future::Future<Output = Result<Task, Failure>>,
    {
        let _one = self.inner.asking.lock().await;
        if let Some(key) = &task.idempotency_key {
            if let Some(found) = self.by_key(task.id_owner, key).await? {
                return Ok((found, false));
            }
        }
        let task = make(task).await?;
        let task = self.inner.db.insert(&Task { state: TaskState::Queued, step: "queued".into(), ..task }).await?;
        lock(&self.inner.cancels).insert(task.id.clone(), CancellationToken::new());
        self.inner.events.publish("task", task.id_owner, &task);
        Ok((task, true))
    }

    /// A task's cancellation token (a new one for a task read back after a restart).
    pub fn token(&self, id: &str) -> CancellationToken {
        lock(&self.inner.cancels).entry(id.to_string()).or_default().clone()
    }

    /// Ask a task to stop: `false` when it is not under way in this server.
    pub fn cancel(&self, id: &str) -> bool {
        match lock(&self.inner.cancels).get(id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Wait for the turn on `object` (none: no turn to wait for).
    pub async fn turn(&self, object: Option<&str>) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        let object = object?;
        let turn = lock(&self.inner.turns).entry(object.to_string()).or_default().clone();
        Some(turn.lock_owned().await)
    }

    /// Drop an object's turn once nobody holds or waits for it, so that the map keeps
    /// only the objects with work under way.
    pub fn forget_turn(&self, object: Option<&str>) {
        let Some(object) = object else { return };
        let mut turns = lock(&self.inner.turns);
        if turns.get(object).is_some_and(|t| Arc::strong_count(t) == 1) {
            turns.remove(object);
        }
    }

    /// The runner's handle on a task it runs.
    pub fn progress(&self, task: Task) -> Progress {
        let cancel = self.token(&task.id);
        Progress { tasks: self.clone(), task: Arc::new(tokio::sync::Mutex::new(task)), cancel }
    }

    /// Wait until a task is over, at most `within`: the task as it ended, or as it is
    /// when the time is up.
    pub async fn wait(&self, id: &str, within: std::time::Duration) -> Result<Task, Failure> {
        let mut live = self.inner.events.resume(self.inner.events.latest()).live;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let task: Task = self.inner.db.get(id).await?.ok_or_else(|| Failure::not_found(format!("task `{id}` does not exist")))?;
            if task.state.is_final() {
                return Ok(task);
            }
            // Any task event (or a lagging channel) is a reason to look again.
            match tokio::time::timeout_at(deadline, live.recv()).await {
                Err(_) => return Ok(task),
                Ok(Ok(e)) if e.topic != "task" || e.data["id"] != id => continue,
                Ok(_) => {}
            }
        }
    }

    fn forget(&self, id: &str) {
        lock(&self.inner.cancels).remove(id);
    }
}

/// What the work of one task reports through. Cheap to clone.
#[derive(Clone)]
pub struct Progress {
    tasks: Tasks,
    task: Arc<tokio::sync::Mutex<Task>>,
    cancel: CancellationToken,
}

impl Progress {
    /// Change the task, store it and tell the events' clients.
    async fn write(&self, change: impl FnOnce(&mut Task)) -> Result<Task, Failure> {
        let mut task = self.task.lock().await;
        change(&mut task);
        task.updated_at = chrono::Utc::now();
        self.tasks.inner.db.update(&*task).await?;
        self.tasks.inner.events.publish("task", task.id_owner, &*task);
        Ok(task.clone())
    }

    /// The task as it is now.
    pub async fn task(&self) -> Task {
        self.task.lock().await.clone()
    }

    /// Whether the task has been cancelled.
    pub fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// It runs.
    pub async fn running(&self) -> Result<(), Failure> {
        self.write(|t| {
            t.state = TaskState::Running;
            t.started_at = Some(chrono::Utc::now());
        })
        .await
        .map(drop)
    }

    /// A new step, `percent` done: refused (as `Cancelled`) once the task is cancelled,
    /// so that the work stops between its steps.
    pub async fn step(&self, percent: i32, step: impl Into<String>) -> Result<(), TaskError> {
        if self.cancelled() {
            return Err(TaskError::Cancelled);
        }
        let step = step.into();
        tracing::debug!(%step, percent, "task step");
        self.write(|t| {
            t.progress = percent.clamp(t.progress, 100);
            t.step = step;
        })
        .await?;
        Ok(())
    }

    /// The instance the task made or works in.
    pub async fn instance(&self, id: &str) -> Result<(), TaskError> {
        self.write(|t| t.id_instance = Some(id.to_string())).await?;
        Ok(())
    }

    /// Keep a command's output: the task's `output` holds the end of all of them, the
    /// failing one last (stored with the next step or the end).
    pub async fn output(&self, text: &str) {
        let mut task = self.task.lock().await;
        let all = format!("{}{text}", task.output.as_deref().unwrap_or_default());
        task.output = Some(tail(&all));
    }

    /// Wait for `work`, unless the task is cancelled first.
    pub async fn guard<T, E: Into<TaskError>>(&self, work: impl std::future::Future<Output = Result<T, E>>) -> Result<T, TaskError> {
        tokio::select! {
            r = work => r.map_err(Into::into),
            _ = self.cancel.cancelled() => Err(TaskError::Cancelled),
        }
    }

    /// Wait until the task is cancelled (for a queued task's turn).
    pub async fn until_cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// The end: succeeded, failed with the error and output, or cancelled.
    pub async fn finish(&self, result: &Result<(), TaskError>) -> Task {
        let now = chrono::Utc::now();
        let written = self
            .write(|t| {
                match result {
                    Ok(()) => {
                        t.state = TaskState::Succeeded;
                        t.progress = 100;
                    }
                    Err(TaskError::Cancelled) => {
                        t.state = TaskState::Cancelled;
                        t.error = Some("cancelled; what it had made is removed".into());
                    }
                    Err(TaskError::Failed(error)) => {
                        t.state = TaskState::Failed;
                        t.error = Some(error.clone());
                    }
                }
                t.finished_at = Some(now);
            })
            .await;
        self.tasks.forget(&self.task.lock().await.id);
        match written {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "a task's end could not be stored");
                self.task().await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_tail_keeps_the_end_on_a_character_boundary() {
        assert_eq!(tail("short"), "short");
        let long = format!("{}é{}", "a".repeat(OUTPUT_TAIL), "b".repeat(OUTPUT_TAIL - 1));
        let t = tail(&long);
        assert!(t.len() <= OUTPUT_TAIL && t.ends_with('b'), "{}", t.len());
    }
}
