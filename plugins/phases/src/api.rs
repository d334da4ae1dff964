//! `/api/v1/phases`: transitions, finish and app starts (each a task, answered 202 with
//! the task and its URL), the tasks themselves (list, get, cancel), instances (list,
//! get, stop) and the caller's limits.

use daas_common::model::{Instance, NewTransition, RessourceInfo, Task, TaskState};
use daas_plugin_api::{
    identity::Identity,
    poem_openapi::{
        param::{Header, Path, Query},
        payload::Json,
        ApiResponse, Object, OpenApi,
    },
    sdk::{Caller, Done, Failure},
};

use crate::{
    instances,
    lifecycle::{self, Derivation},
    limits, State,
};

/// The phases plugin's routes.
pub struct PhasesApi(pub State);

/// A task was asked for.
#[derive(ApiResponse)]
pub enum Accepted {
    /// The task: queued or already under way (with an `Idempotency-Key` used before,
    /// the task that key made). Follow it at `Location` or on `WS /api/v1/phases/events`.
    #[oai(status = 202)]
    Accepted(Json<Task>, #[oai(header = "Location")] String),
}

fn accepted((task, _): (Task, bool)) -> Accepted {
    let url = format!("/api/v1/phases/tasks/{}", task.id);
    Accepted::Accepted(Json(task), url)
}

/// A running instance as its owner sees it.
#[derive(Object)]
pub struct RunningInstance {
    #[oai(flatten)]
    pub instance: Instance,
    /// Where its desktop is viewed (null: not up yet). Keep it to yourself: the URL's
    /// token lets whoever holds it see the desktop.
    #[oai(nullable)]
    pub viewer_url: Option<String>,
}

/// A caller's limits and what they use now: `limit` the limits that apply (the
/// caller's own, else the global ones; null: unlimited), `usage` the current use in the
/// same units.
#[derive(Object)]
struct Limits {
    #[oai(nullable)]
    limit: Option<RessourceInfo>,
    usage: RessourceInfo,
}

impl PhasesApi {
    async fn running(&self, instance: Instance) -> Result<RunningInstance, Failure> {
        let viewer_url = instances::viewer_of(&self.0.db, &instance).await?;
        Ok(RunningInstance { instance, viewer_url })
    }

    async fn task(&self, caller: &Identity, id: &str) -> Result<Task, Failure> {
        let missing = || Failure::not_found(format!("task `{id}` does not exist"));
        let task: Task = self.0.db.get(id).await?.ok_or_else(missing)?;
        if !caller.can_change(task.id_owner) {
            return Err(missing());
        }
        Ok(task)
    }
}

#[OpenApi]
impl PhasesApi {
    /// Run a transition
    ///
    /// Derives a new object of the next phase from a finished object you may use (your
    /// own, or one shared with you): `clone_template` from a base image, `create_snapshot`
    /// from an environment, `run_app` from a deployment. The new object is yours; a task
    /// makes it (Create, ConfigAuto, ConfigInteractive when asked for, Finalize) and its
    /// `id_object` names it. Transitions of one object run one after another. 404: no
    /// such object (or not yours); 403: another user's object; 409: the object's phase
    /// or state does not allow it (the answer names them and what is allowed); 422: a
    /// ConfigAuto command or target command the server cannot run.
    #[oai(path = "/objects/:id/transitions", method = "post", operation_id = "transition")]
    async fn transition(
        &self,
        /// The parent object's id.
        id: Path<String>,
        body: Json<NewTransition>,
        /// A key of yours: asking again with it answers the same task.
        #[oai(name = "Idempotency-Key", validator(max_length = 128, pattern = "^[\\x21-\\x7e]+$"))]
        key: Header<Option<String>>,
        who: Caller,
    ) -> Result<Accepted, Failure> {
        let b = body.0;
        let d = Derivation {
            transition: b.transition,
            id_user: b.id_user,
            interactive: b.interactive.unwrap_or(false),
            object_tasks: b.object_tasks.unwrap_or_default(),
            object_apps: b.object_apps.unwrap_or_default(),
            object_target: b.object_target.map(|t| serde_json::Value::Object(t.into_iter().collect())),
        };
        Ok(accepted(lifecycle::ask_derive(&self.0, &who.0, &id.0, d, key.0).await?))
    }

    /// Finish ConfigInteractive
    ///
    /// Ends the work in your object's in-progress instance: a task stops it, captures it
    /// as the object's artifact (Finalize) and removes it. 409 unless the object is in
    /// ConfigInteractive.
    #[oai(path = "/objects/:id/finish", method = "post", operation_id = "finish")]
    async fn finish(
        &self,
        /// The object's id.
        id: Path<String>,
        /// A key of yours: asking again with it answers the same task.
        #[oai(name = "Idempotency-Key", validator(max_length = 128, pattern = "^[\\x21-\\x7e]+$"))]
        key: Header<Option<String>>,
        who: Caller,
    ) -> Result<Accepted, Failure> {
        Ok(accepted(lifecycle::ask_finish(&self.0, &who.0, &id.0, key.0).await?))
    }

    /// Start an app
    ///
    /// Starts an instance of an app you may use (several may run, within your limits):
    /// the instance is reserved at once (`id_instance`), and a task starts it; once the
    /// task has succeeded, `GET /api/v1/phases/instances/{id}` has its viewer URL. 403:
    /// a limit is reached (named, with your use); 409: the object is not a finished app.
    #[oai(path = "/apps/:id/start", method = "post", operation_id = "app_start")]
    async fn app_start(
        &self,
        /// The app's id.
        id: Path<String>,
        /// A key of yours: asking again with it answers the same task.
        #[oai(name = "Idempotency-Key", validator(max_length = 128, pattern = "^[\\x21-\\x7e]+$"))]
        key: Header<Option<String>>,
        who: Caller,
    ) -> Result<Accepted, Failure> {
        Ok(accepted(lifecycle::ask_start(&self.0, &who.0, &id.0, key.0).await?))
    }

    /// List tasks
    ///
    /// Your tasks (an administrator's: everyone's), newest first.
    #[oai(path = "/tasks", method = "get", operation_id = "tasks")]
    async fn tasks(
        &self,
        /// Only the tasks on this object.
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        id_object: Query<Option<String>>,
        /// Only the tasks in this state.
        state: Query<Option<TaskState>>,
        /// At most this many (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u32>>,
        who: Caller,
    ) -> Result<Json<Vec<Task>>, Failure> {
        use daas_common::protocols::Filter;
        let mut filters = Vec::new();
        if !who.admin {
            filters.push(Filter::eq("id_owner", who.user_id));
        }
        if let Some(o) = &id_object.0 {
            filters.push(Filter::eq("id_object", o));
        }
        if let Some(s) = state.0 {
            filters.push(Filter::eq("state", s));
        }
        let mut tasks: Vec<Task> = self.0.db.find(filters).await?;
        tasks.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        tasks.truncate(limit.0.unwrap_or(100) as usize);
        Ok(Json(tasks))
    }

    /// Get a task
    #[oai(path = "/tasks/:id", method = "get", operation_id = "task")]
    async fn task_get(
        &self,
        /// The task's id.
        id: Path<String>,
        who: Caller,
    ) -> Result<Json<Task>, Failure> {
        Ok(Json(self.task(&who.0, &id.0).await?))
    }

    /// Cancel a task
    ///
    /// Asks your task to stop: a queued one never runs, a running one stops at its
    /// next step and removes what it made. Answers the task as it is now; it is
    /// `cancelled` once it has stopped. 409: the task is over.
    #[oai(path = "/tasks/:id/cancel", method = "post", operation_id = "task_cancel")]
    async fn task_cancel(
        &self,
        /// The task's id.
        id: Path<String>,
        who: Caller,
    ) -> Result<Accepted, Failure> {
        let task = self.task(&who.0, &id.0).await?;
        if task.state.is_final() || !self.0.tasks.cancel(&task.id) {
            return Err(Failure::conflict(format!("task `{}` is over (state {:?}); there is nothing to cancel", task.id, task.state))
                .with_code("task_over"));
        }
        Ok(accepted((task, false)))
    }

    /// List instances
    ///
    /// Your running instances (an administrator's: all), apps' and phases' in-progress
    /// ones, with their viewer URLs.
    #[oai(path = "/instances", method = "get", operation_id = "instances")]
    async fn instances(&self, who: Caller) -> Result<Json<Vec<RunningInstance>>, Failure> {
        let mut out = Vec::new();
        for i in instances::visible(&self.0.db, &who.0).await? {
            out.push(self.running(i).await?);
        }
        Ok(Json(out))
    }

    /// Get an instance
    #[oai(path = "/instances/:id", method = "get", operation_id = "instance")]
    async fn instance_get(
        &self,
        /// The instance's id.
        id: Path<String>,
        who: Caller,
    ) -> Result<Json<RunningInstance>, Failure> {
        let i = instances::owned(&self.0.db, &who.0, &id.0).await?;
        Ok(Json(self.running(i).await?))
    }

    /// Stop an instance
    ///
    /// Your instance (an administrator's: any): its machine, its connection and the
    /// instance are removed. 409 for the in-progress instance of an object that a task
    /// works on, or that waits for `finish`.
    #[oai(path = "/instances/:id", method = "delete", operation_id = "instance_stop")]
    async fn instance_stop(
        &self,
        /// The instance's id.
        id: Path<String>,
        who: Caller,
    ) -> Result<Done, Failure> {
        crate::stop_instance(&self.0, &who.0, &id.0).await?;
        Ok(Done::Done)
    }

    /// The caller's limits
    ///
    /// The resource limits that apply to you and what your instances use now.
    #[oai(path = "/limits", method = "get", operation_id = "limits")]
    async fn limits(&self, who: Caller) -> Result<Json<Limits>, Failure> {
        let db = &self.0.db;
        let limit = db.limit_for(who.user_id).await?;
        Ok(Json(Limits { limit, usage: limits::usage(db, who.user_id).await? }))
    }
}
