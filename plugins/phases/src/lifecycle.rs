//! The lifecycle's work: what each task does, step by step, on the machine contract.
//!
//! - **Derive** (CloneTemplate, CreateSnapshot): Create (an instance from the parent's
//!   artifact) → ConfigAuto (the object's `object_tasks`, then its template
//!   applications' installers, each a command in the instance, every output kept,
//!   the failing one last) → ConfigInteractive (the owner works in the instance through its viewer
//!   URL and ends it with `finish`; skipped unless asked for) → Finalize (stop, capture
//!   the artifact, remove the instance). RunApp makes an App: its deployment's artifact
//!   with a target command, nothing to run.
//! - **Finish**: Finalize of an object in ConfigInteractive.
//! - **AppStart**: an app's instance from its artifact with its target command.
//!
//! Whatever a task made is removed when it fails or is cancelled (its instance, its
//! artifact, the derived object), except what the owner worked on interactively: a
//! failed finish leaves the object in ConfigInteractive with its instance, to try again.
//!
//! Artifacts are trusted by who made them: an administrator's shared object (owner 0 or
//! -1) names its own (`id_docker`); a user's object starts only from the artifact the
//! lifecycle made for it (`daas-object-<id>`), or its parent's, never from an `id_docker`
//! a user could have written.

use daas_common::{
    model::{Application, DaasObject, Instance, Task, TaskState, Transition},
    protocols::MachineClient,
};
use daas_plugin_api::{abi::BackendErrorKind, identity::Identity, sdk::Failure};
use serde::{Deserialize, Serialize};

use crate::{
    instances,
    phase::{self, state, Phase, SubPhase},
    tasks::{Progress, TaskError},
    State,
};

/// What a task was asked to do, kept in its row so that a queued task runs after a
/// restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Derive `object` from `parent`.
    Derive { parent: String, object: String, transition: Transition, interactive: bool },
    /// End `object`'s ConfigInteractive.
    Finish { object: String },
    /// Start the reserved `instance` of `app`.
    AppStart { app: String, instance: String },
}

impl Job {
    /// The task's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Derive { transition, .. } => transition.as_str(),
            Job::Finish { .. } => "finish",
            Job::AppStart { .. } => "app_start",
        }
    }

    /// The object the task must have to itself: transitions of one parent and the
    /// finish of one object run one at a time; app starts in parallel.
    fn turn_on(&self) -> Option<&str> {
        match self {
            Job::Derive { parent, .. } => Some(parent),
            Job::Finish { object } => Some(object),
            Job::AppStart { .. } => None,
        }
    }
}

/// The artifact the lifecycle makes for an object.
pub fn artifact_name(object_id: &str) -> String {
    format!("daas-object-{object_id}")
}

/// The artifact instances of `object` start from (see the module's note on trust).
pub async fn artifact_of(state: &State, object: &DaasObject) -> Result<String, Failure> {
    let shared = object.id_owner <= 0;
    match Phase::of(object) {
        Some(Phase::App) if object.id_parent.is_some() => {
            let parent_id = object.id_parent.clone().unwrap_or_default();
            let parent: DaasObject = state
                .db
                .get(&parent_id)
                .await?
                .ok_or_else(|| Failure::conflict(format!("app `{}`: its deployment `{parent_id}` no longer exists", object.id)))?;
            Box::pin(artifact_of(state, &parent)).await
        }
        _ if shared && !object.id_docker.trim().is_empty() => Ok(object.id_docker.clone()),
        _ if shared => Err(Failure::conflict(format!("object `{}` names no artifact (its id_docker is empty)", object.id))),
        Some(Phase::Environment | Phase::Deployment) if object.object_state == state::READY => {
            let name = artifact_name(&object.id);
            if object.id_docker != name {
                return Err(Failure::conflict(format!(
                    "object `{}`: its id_docker was changed outside the lifecycle; it starts only from `{name}`",
                    object.id
                )));
            }
            Ok(name)
        }
        Some(Phase::Environment | Phase::Deployment) => Err(phase::illegal(object, "starting an instance")),
        _ => Err(Failure::conflict(format!(
            "object `{}` is a user's {} with no artifact of the lifecycle: base images and apps without a deployment are \
             prepared by administrators (shared, id_owner 0); derive yours with POST /api/v1/phases/objects/{{id}}/transitions",
            object.id,
            if object.object_mode.is_empty() { "object" } else { object.object_mode.as_str() }
        ))),
    }
}

/// Run a task: wait for its turn, then its work, then store how it ended.
pub async fn run(state: State, task: Task) {
    let job: Job = match task.request.as_deref().map(serde_json::from_str) {
        Some(Ok(job)) => job,
        _ => {
            let progress = state.tasks.progress(task);
            progress.finish(&Err(TaskError::failed("the task's request cannot be read; ask again"))).await;
            return;
        }
    };
    let progress = state.tasks.progress(task);
    let turn = tokio::select! {
        turn = state.tasks.turn(job.turn_on()) => Ok(turn),
        _ = progress.until_cancelled() => Err(TaskError::Cancelled),
    };
    let result = match turn {
        Ok(turn) => {
            let result = match progress.running().await {
                Ok(()) => work(&state, &progress, &job).await,
                Err(e) => Err(e.into()),
            };
            drop(turn);
            state.tasks.forget_turn(job.turn_on());
            result
        }
        Err(e) => {
            undo_job(&state, &job, None).await;
            Err(e)
        }
    };
    let task = progress.finish(&result).await;
    match &result {
        Ok(()) => tracing::info!(task = %task.id, kind = %task.kind, "task succeeded"),
        Err(e) => tracing::warn!(task = %task.id, kind = %task.kind, error = %e, "task did not succeed"),
    }
}

async fn work(state: &State, progress: &Progress, job: &Job) -> Result<(), TaskError> {
    match job {
        Job::Derive { parent, object, transition, interactive } => {
            let mut made = Made::default();
            let result = derive(state, progress, &mut made, parent, object, *transition, *interactive).await;
            if result.is_err() {
                made.undo(state).await;
                undo_job(state, job, None).await;
            }
            result
        }
        Job::Finish { object } => {
            let mut made = Made::default();
            let result = finish(state, progress, &mut made, object).await;
            if result.is_err() {
                made.undo(state).await;
                // The owner's work stays: back to ConfigInteractive, to finish again.
                let _ = set_phase(state, object, SubPhase::ConfigInteractive, state::INTERACTIVE).await;
            }
            result
        }
        Job::AppStart { app, instance } => {
            let result = start(state, progress, app, instance).await;
            if result.is_err() {
                undo_job(state, job, None).await;
            }
            result
        }
    }
}

/// What a task made so far, removed in reverse when it does not succeed.
#[derive(Default)]
struct Made {
    instance: Option<Instance>,
    artifact: Option<(MachineClient, String)>,
}

impl Made {
    async fn undo(self, state: &State) {
        if let Some((machine, artifact)) = self.artifact {
            remove_artifact(&machine, &artifact).await;
        }
        if let Some(instance) = self.instance {
            if let Err(e) = remove_instance(state, &instance).await {
                tracing::warn!(instance = %instance.id, error = %e, "a task's instance could not be removed");
            }
        }
    }
}

/// What a job leaves behind when it does not succeed, besides what `Made` removed: a
/// derivation's object, a start's instance. `instance` is the one a task row names
/// (after a restart, when nothing is in memory).
pub async fn undo_job(state: &State, job: &Job, instance: Option<&str>) {
    let db = &state.db;
    if let Some(id) = instance {
        remove_instance_by_id(state, id).await;
    }
    match job {
        Job::Derive { object, .. } => {
            if let Ok(Some(o)) = db.get::<DaasObject>(object).await {
                if o.object_state != state::READY && o.object_state != state::INTERACTIVE {
                    if let Ok(machine) = instances::machine_of(&o) {
                        remove_artifact(&machine, &artifact_name(object)).await;
                    }
                    if let Err(e) = db.delete::<DaasObject>(object).await {
                        tracing::warn!(%object, error = %e.message, "a failed derivation's object could not be removed");
                    } else {
                        state.events.publish("object", o.id_owner, &serde_json::json!({ "id": object, "deleted": true }));
                    }
                }
            }
        }
        Job::AppStart { instance, .. } => remove_instance_by_id(state, instance).await,
        Job::Finish { .. } => {}
    }
}

/// Remove an artifact that may exist; a failure is logged (cleaning up never fails a
/// task a second time).
async fn remove_artifact(machine: &MachineClient, artifact: &str) {
    match machine.remove_artifact(artifact).await {
        Ok(()) => {}
        Err(e) if e.kind == BackendErrorKind::NotFound => {}
        Err(e) => tracing::warn!(%artifact, error = %e.message, "a task's artifact could not be removed"),
    }
}

/// Remove the instance with this id, if it is still there.
async fn remove_instance_by_id(state: &State, id: &str) {
    if let Ok(Some(i)) = state.db.get::<Instance>(id).await {
        if let Err(e) = remove_instance(state, &i).await {
            tracing::warn!(instance = %id, error = %e, "a task's instance could not be removed");
        }
    }
}

/// Remove an instance (machine, connection, row) and tell the events' clients.
pub async fn remove_instance(state: &State, instance: &Instance) -> Result<(), Failure> {
    instances::remove(&state.db, instance).await?;
    state.events.publish("instance", instance.id_owner, &serde_json::json!({ "id": instance.id, "stopped": true }));
    Ok(())
}

async fn object(state: &State, id: &str) -> Result<DaasObject, TaskError> {
    state.db.get(id).await?.ok_or_else(|| TaskError::failed(format!("object `{id}` no longer exists")))
}

async fn set_phase(state: &State, id: &str, sub: SubPhase, object_state: &str) -> Result<DaasObject, TaskError> {
    state.db.patch::<DaasObject>(id, serde_json::json!({ "object_mode_extended": sub.as_str(), "object_state": object_state })).await?;
    let o = object(state, id).await?;
    state.events.publish("object", o.id_owner, &o);
    Ok(o)
}

#[allow(clippy::too_many_arguments)]
async fn derive(
    state: &State,
    progress: &Progress,
    made: &mut Made,
    parent: &str,
    id: &str,
    transition: Transition,
    interactive: bool,
) -> Result<(), TaskError> {
    // The parent may have changed while this task waited for its turn.
    let parent = object(state, parent).await?;
    phase::check(&parent, transition)?;
    if transition == Transition::RunApp {
        progress.step(50, "RunApp: the app takes its deployment's artifact").await?;
        state.db.patch::<DaasObject>(id, serde_json::json!({ "object_state": state::READY })).await?;
        let o = object(state, id).await?;
        state.events.publish("object", o.id_owner, &o);
        return Ok(());
    }
    let artifact = artifact_of(state, &parent).await?;
    let o = set_phase(state, id, SubPhase::Create, state::WORKING).await?;
    progress.step(5, format!("Create: an instance from `{}`'s artifact", parent.id)).await?;
    let instance = instances::reserve(&state.db, &state.reservations, o.id_owner, &o).await?;
    made.instance = Some(instance.clone());
    progress.instance(&instance.id).await?;
    let launched = progress.guard(instances::launch(&state.db, &instance, &o, &artifact, None)).await?;
    made.instance = Some(launched.instance.clone());
    state.events.publish("instance", o.id_owner, &launched.instance);

    let o = set_phase(state, id, SubPhase::ConfigAuto, state::WORKING).await?;
    let machine = instances::machine_of(&o)?;
    let steps = config_steps(state, &o).await?;
    let n = steps.len();
    for (i, step) in steps.into_iter().enumerate() {
        let what = format!("ConfigAuto: step {} of {n} ({})", i + 1, step.name);
        progress.step(10 + (60 * i / n.max(1)) as i32, &what).await?;
        let limit_ms = step.limit_ms.unwrap_or(state.settings.step_limit_ms);
        let (exit_code, output) = progress.guard(machine.exec(&launched.machine, step.command, limit_ms)).await?;
        progress.output(&format!("$ {what}: exit {exit_code}\n{output}\n")).await;
        if exit_code != 0 {
            return Err(TaskError::failed(format!("{what} exited with code {exit_code}")));
        }
    }
    if interactive {
        set_phase(state, id, SubPhase::ConfigInteractive, state::INTERACTIVE).await?;
        progress
            .step(
                80,
                format!(
                    "ConfigInteractive: the owner works in instance `{}`, then finishes with POST /api/v1/phases/objects/{id}/finish",
                    launched.machine
                ),
            )
            .await?;
        // The instance stays for the owner: it is the object's now.
        made.instance = None;
        return Ok(());
    }
    let instance = made.instance.clone().unwrap_or_default();
    finalize(state, progress, made, &o, &machine, &instance).await
}

/// Finalize: stop the in-progress instance, capture it as the object's artifact, remove
/// the instance; the object is ready.
async fn finalize(
    state: &State,
    progress: &Progress,
    made: &mut Made,
    o: &DaasObject,
    machine: &MachineClient,
    instance: &Instance,
) -> Result<(), TaskError> {
    set_phase(state, &o.id, SubPhase::Finalize, state::WORKING).await?;
    // A deployment is a live snapshot (seed 000, "Instantiation Time"): its apps resume
    // the running machine instead of booting it. Backends without one capture the disk.
    let live = Phase::of(o) == Some(Phase::Deployment);
    if !live {
        progress.step(85, "Finalize: stopping the instance").await?;
        progress.guard(machine.stop(&instance.container)).await?;
    }
    progress
        .step(90, if live { "Finalize: capturing the running instance (a live snapshot)" } else { "Finalize: capturing the artifact" })
        .await?;
    let artifact = artifact_name(&o.id);
    made.artifact = Some((machine.clone(), artifact.clone()));
    let captured = progress.guard(machine.capture(&instance.container, &artifact, live)).await?;
    progress.step(95, "Finalize: removing the in-progress instance").await?;
    remove_instance(state, instance).await?;
    made.instance = None;
    let mut ready = serde_json::json!({ "id_docker": artifact, "object_state": state::READY });
    // A backend that numbers its artifacts (Proxmox's VM ids) says so: the seed's id_proxmox.
    if let Ok(vmid) = captured.parse::<i64>() {
        ready["id_proxmox"] = vmid.into();
    }
    state.db.patch::<DaasObject>(&o.id, ready).await?;
    made.artifact = None;
    let o = object(state, &o.id).await?;
    state.events.publish("object", o.id_owner, &o);
    Ok(())
}

async fn finish(state: &State, progress: &Progress, made: &mut Made, id: &str) -> Result<(), TaskError> {
    let o = object(state, id).await?;
    if o.object_state != state::INTERACTIVE {
        return Err(phase::illegal(&o, "finish").into());
    }
    let instance = state.db.instance_by_object(id).await?.ok_or_else(|| {
        TaskError::failed(format!("object `{id}` has no in-progress instance any more; trash the object and derive it again"))
    })?;
    progress.instance(&instance.id).await?;
    let machine = instances::machine_of(&o)?;
    // The instance is the owner's work: a failed Finalize leaves it (see `work`).
    let result = finalize(state, progress, made, &o, &machine, &instance).await;
    made.instance = None;
    result
}

async fn start(state: &State, progress: &Progress, app: &str, instance: &str) -> Result<(), TaskError> {
    let app = object(state, app).await?;
    let instance: Instance =
        state.db.get(instance).await?.ok_or_else(|| TaskError::failed(format!("instance `{instance}` was stopped before it started")))?;
    progress.instance(&instance.id).await?;
    let artifact = artifact_of(state, &app).await?;
    let command = instances::target_command(&app.object_target)?;
    progress.step(10, format!("starting an instance of `{}` and waiting for its desktop", app.id)).await?;
    let launched = progress.guard(instances::launch(&state.db, &instance, &app, &artifact, command)).await?;
    state.events.publish("instance", instance.id_owner, &launched.instance);
    progress.step(100, "running").await
}

/// One command of ConfigAuto.
#[derive(Debug)]
pub struct Step {
    pub name: String,
    pub command: Vec<String>,
    pub limit_ms: Option<u64>,
}

/// The object's `object_tasks` (a shell line, or `{"name", "cmd" (line or list),
/// "limit_ms"}`), then its template applications' installers (`object_apps`: their
/// ids; see [`installer`]).
async fn config_steps(state: &State, o: &DaasObject) -> Result<Vec<Step>, TaskError> {
    let mut steps = Vec::new();
    for (i, t) in o.object_tasks.iter().enumerate() {
        steps.push(object_task(i, t).map_err(TaskError::failed)?);
    }
    for id in &o.object_apps {
        let Some(id) = id.as_str() else { return Err(TaskError::failed("object_apps holds template application ids (strings)")) };
        let app: Application =
            state.db.get(id).await?.ok_or_else(|| TaskError::failed(format!("template application `{id}` no longer exists")))?;
        if let Some(step) = installer(&app).map_err(TaskError::failed)? {
            steps.push(step);
        }
    }
    Ok(steps)
}

/// A template application's installer as a step (none without an installer):
/// `installer_type` `shell` (or empty) runs `installer installer_args` as a shell line,
/// `wine` runs it with wine (a Windows installer). The file an application names
/// (`id_file`) is not copied in yet: files get their storage with the files plugin.
pub fn installer(app: &Application) -> Result<Option<Step>, String> {
    if app.installer.trim().is_empty() {
        return Ok(None);
    }
    let line = format!("{} {}", app.installer, app.installer_args).trim().to_string();
    let line = match app.installer_type.as_str() {
        "" | "shell" => line,
        "wine" => format!("wine {line}"),
        other => {
            return Err(format!(
                "template application `{}` has installer_type `{other}`: this server runs `shell` (or empty) and `wine` installers",
                app.name
            ))
        }
    };
    Ok(Some(Step { name: format!("installer of {}", app.name), command: vec!["/bin/sh".into(), "-c".into(), line], limit_ms: None }))
}

/// One entry of `object_tasks` as a step.
pub fn object_task(i: usize, t: &serde_json::Value) -> Result<Step, String> {
    use serde_json::Value;
    let shell = |line: &str| vec!["/bin/sh".to_string(), "-c".to_string(), line.to_string()];
    let bad = || format!("object_tasks[{i}] must be a shell line or {{\"cmd\": line or list of strings, \"name\"?, \"limit_ms\"?}}");
    match t {
        Value::String(line) if !line.trim().is_empty() => {
            Ok(Step { name: format!("task {}", i + 1), command: shell(line), limit_ms: None })
        }
        Value::Object(m) => {
            let command = match m.get("cmd") {
                Some(Value::String(line)) if !line.trim().is_empty() => shell(line),
                Some(Value::Array(a)) if !a.is_empty() => {
                    a.iter().map(|v| v.as_str().map(str::to_string)).collect::<Option<Vec<_>>>().ok_or_else(bad)?
                }
                _ => return Err(bad()),
            };
            let name = m.get("name").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| format!("task {}", i + 1));
            let limit_ms = match m.get("limit_ms") {
                None => None,
                Some(v) => Some(v.as_u64().filter(|ms| *ms > 0).ok_or_else(bad)?),
            };
            Ok(Step { name, command, limit_ms })
        }
        _ => Err(bad()),
    }
}

/// Make the task (or find it by its key) and, when it is new, run it.
async fn submit<F, Fut>(state: &State, task: Task, make: F) -> Result<(Task, bool), Failure>
where
    F: FnOnce(Task) -> Fut,
    Fut: std::future::Future<Output = Result<Task, Failure>>,
{
    let (task, new) = state.tasks.ask(task, make).await?;
    if new {
        tokio::spawn(run(state.clone(), task.clone()));
    }
    Ok((task, new))
}

/// What a derivation asks for, beside its transition.
pub struct Derivation {
    pub transition: Transition,
    pub id_user: Option<String>,
    pub interactive: bool,
    pub object_tasks: Vec<serde_json::Value>,
    pub object_apps: Vec<String>,
    pub object_target: Option<serde_json::Value>,
}

/// Ask for a derivation: checked now (404, 403, 409, 422), run as a task.
pub async fn ask_derive(
    state: &State,
    caller: &Identity,
    parent_id: &str,
    d: Derivation,
    key: Option<String>,
) -> Result<(Task, bool), Failure> {
    let db = &state.db;
    let missing = || Failure::not_found(format!("object `{parent_id}` does not exist"));
    let parent: DaasObject = db.get(parent_id).await?.ok_or_else(missing)?;
    if !caller.can_see(parent.id_owner) || parent.deleted_at.is_some() {
        return Err(missing());
    }
    if parent.id_owner > 0 && parent.id_owner != caller.user_id {
        return Err(Failure::forbidden(format!(
            "object `{parent_id}` is user {}'s: one user's object never becomes the parent of another user's",
            parent.id_owner
        )));
    }
    phase::check(&parent, d.transition)?;
    instances::machine_of(&parent)?;
    artifact_of(state, &parent).await?;
    for (i, t) in d.object_tasks.iter().enumerate() {
        object_task(i, t).map_err(Failure::unprocessable)?;
    }
    for id in &d.object_apps {
        let app: Option<Application> = db.get(id.as_str()).await?;
        match app {
            Some(a) if caller.can_see(a.id_owner) && a.deleted_at.is_none() => {
                installer(&a).map_err(Failure::unprocessable)?;
            }
            _ => return Err(Failure::not_found(format!("template application `{id}` does not exist"))),
        }
    }
    let app_phase = phase::target(d.transition) == Phase::App;
    if app_phase && (d.interactive || !d.object_tasks.is_empty() || !d.object_apps.is_empty()) {
        return Err(Failure::unprocessable(
            "run_app configures nothing (an app is its deployment's artifact with a target command): leave out interactive, object_tasks and object_apps",
        ));
    }
    if app_phase {
        instances::target_command(d.object_target.as_ref().unwrap_or(&parent.object_target))
            .map_err(|e| Failure::unprocessable(e.to_string()))?;
    }
    let owner = caller.user_id;
    let task = Task { kind: d.transition.as_str().into(), id_owner: owner, idempotency_key: key, ..Default::default() };
    submit(state, task, |task| async move {
        let derived = DaasObject {
            id: String::new(),
            id_user: d.id_user.unwrap_or_default(),
            id_owner: owner,
            id_parent: Some(parent.id.clone()),
            object_mode: phase::target(d.transition).as_str().into(),
            object_mode_extended: if app_phase { String::new() } else { SubPhase::Create.as_str().into() },
            object_state: state::WORKING.into(),
            object_tasks: d.object_tasks,
            object_apps: d.object_apps.into_iter().map(serde_json::Value::String).collect(),
            object_target: d.object_target.unwrap_or_else(|| parent.object_target.clone()),
            // An app shows its deployment's artifact; it starts from its parent's.
            id_docker: String::new(),
            created_at: Default::default(),
            updated_at: Default::default(),
            deleted_at: None,
            ..parent.clone()
        };
        let derived = db.insert(&derived).await?;
        state.events.publish("object", owner, &derived);
        let job =
            Job::Derive { parent: parent.id.clone(), object: derived.id.clone(), transition: d.transition, interactive: d.interactive };
        Ok(Task { id_object: Some(derived.id), request: Some(serde_json::to_string(&job).unwrap_or_default()), ..task })
    })
    .await
}

/// Ask for the end of an object's ConfigInteractive.
pub async fn ask_finish(state: &State, caller: &Identity, id: &str, key: Option<String>) -> Result<(Task, bool), Failure> {
    let missing = || Failure::not_found(format!("object `{id}` does not exist"));
    let o: DaasObject = state.db.get(id).await?.ok_or_else(missing)?;
    if !caller.can_change(o.id_owner) || o.deleted_at.is_some() {
        return Err(missing());
    }
    if o.object_state != state::INTERACTIVE {
        return Err(phase::illegal(&o, "finish"));
    }
    let task =
        Task { kind: "finish".into(), id_owner: o.id_owner, id_object: Some(o.id.clone()), idempotency_key: key, ..Default::default() };
    let job = Job::Finish { object: o.id.clone() };
    submit(state, task, |task| async move { Ok(Task { request: Some(serde_json::to_string(&job).unwrap_or_default()), ..task }) }).await
}

/// Ask for an app start: the instance is reserved now (403 past a limit), started by
/// the task.
pub async fn ask_start(state: &State, caller: &Identity, id: &str, key: Option<String>) -> Result<(Task, bool), Failure> {
    let missing = || Failure::not_found(format!("app `{id}` does not exist"));
    let app: DaasObject = state.db.get(id).await?.ok_or_else(missing)?;
    // A foreign app answers exactly like a missing one, so ids cannot be probed.
    if !caller.can_see(app.id_owner) || app.deleted_at.is_some() {
        return Err(missing());
    }
    if Phase::of(&app) != Some(Phase::App) || !app.is_ready() {
        return Err(phase::illegal(&app, "start"));
    }
    instances::machine_of(&app)?;
    artifact_of(state, &app).await?;
    instances::target_command(&app.object_target)?;
    // Shared apps (owner 0) run as the caller's; a user's app stays its owner's.
    let owner = if app.id_owner > 0 { app.id_owner } else { caller.user_id };
    let task =
        Task { kind: "app_start".into(), id_owner: owner, id_object: Some(app.id.clone()), idempotency_key: key, ..Default::default() };
    submit(state, task, |task| async move {
        let instance = instances::reserve(&state.db, &state.reservations, owner, &app).await?;
        let job = Job::AppStart { app: app.id.clone(), instance: instance.id.clone() };
        Ok(Task { id_instance: Some(instance.id), request: Some(serde_json::to_string(&job).unwrap_or_default()), ..task })
    })
    .await
}

/// After a restart: tasks that were running failed ("server restarted") and what they
/// made is removed; queued ones run.
pub async fn recover(state: &State) -> Result<(usize, usize), Failure> {
    let db = &state.db;
    let open: Vec<Task> = db.find(vec![daas_common::protocols::Filter::any_of("state", ["running", "queued"])]).await?;
    let (mut failed, mut queued) = (0, 0);
    for task in open {
        let job: Option<Job> = task.request.as_deref().and_then(|r| serde_json::from_str(r).ok());
        if task.state == TaskState::Running {
            if let Some(job) = &job {
                undo_job(state, job, task.id_instance.as_deref().filter(|_| !matches!(job, Job::Finish { .. }))).await;
                // A finish that got as far as a ready object (only its task's last write
                // was lost) keeps its artifact; any other goes back to ConfigInteractive.
                if let Job::Finish { object } = job {
                    if let Ok(Some(o)) = state.db.get::<DaasObject>(object).await {
                        if o.object_state != state::READY {
                            if let Ok(machine) = instances::machine_of(&o) {
                                remove_artifact(&machine, &artifact_name(object)).await;
                            }
                            let _ = set_phase(state, object, SubPhase::ConfigInteractive, state::INTERACTIVE).await;
                        }
                    }
                }
            }
            let progress = state.tasks.progress(task);
            progress
                .finish(&Err(TaskError::failed("the server restarted while this task ran; what it had made is removed: ask again")))
                .await;
            failed += 1;
        } else {
            tokio::spawn(run(state.clone(), task));
            queued += 1;
        }
    }
    Ok((failed, queued))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_tasks_are_shell_lines_or_commands_with_a_name_and_limit() {
        let s = object_task(0, &json!("echo hi")).unwrap();
        assert_eq!((s.name.as_str(), s.command.len(), s.limit_ms), ("task 1", 3, None));
        let s = object_task(1, &json!({"name": "fonts", "cmd": ["apt-get", "install", "-y", "fonts"], "limit_ms": 5000})).unwrap();
        assert_eq!((s.name.as_str(), s.command[0].as_str(), s.limit_ms), ("fonts", "apt-get", Some(5000)));
        for bad in [json!(""), json!(3), json!({"cmd": 3}), json!({"cmd": "x", "limit_ms": 0}), json!({"cmd": ["a", 1]})] {
            assert!(object_task(2, &bad).unwrap_err().starts_with("object_tasks[2]"), "{bad}");
        }
    }

    #[test]
    fn installers_run_as_shell_lines_or_with_wine() {
        let app = |kind: &str| Application {
            name: "editor".into(),
            installer: "/opt/setup".into(),
            installer_args: "-q".into(),
            installer_type: kind.into(),
            ..Default::default()
        };
        assert_eq!(installer(&app("")).unwrap().unwrap().command[2], "/opt/setup -q");
        assert_eq!(installer(&app("wine")).unwrap().unwrap().command[2], "wine /opt/setup -q");
        assert!(installer(&app("msi")).unwrap_err().contains("installer_type `msi`"));
        assert!(installer(&Application::default()).unwrap().is_none());
    }

    #[test]
    fn jobs_round_trip_through_the_task_row() {
        let job = Job::Derive { parent: "p".into(), object: "o".into(), transition: Transition::CreateSnapshot, interactive: true };
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), job);
        assert_eq!(job.kind(), "create_snapshot");
    }
}
