//! Phases and sub-phases (seed 000 §2.1.4): an object moves forward only, BaseImage →
//! Environment → Deployment → App, along the transitions CloneTemplate, CreateSnapshot
//! and RunApp. `object_mode` holds the phase, `object_mode_extended` the sub-phase, and
//! `object_state` where the object's work is ([`State`]).
//!
//! Every phase but App walks Create → ConfigAuto → ConfigInteractive → Finalize; an App
//! is its deployment's artifact with a target command, so it has no sub-phases.

use daas_common::model::{DaasObject, Transition};
use daas_plugin_api::sdk::Failure;
use serde::{Deserialize, Serialize};

/// A phase (`object_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    BaseImage,
    Environment,
    Deployment,
    App,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::BaseImage => "baseimage",
            Phase::Environment => "environment",
            Phase::Deployment => "deployment",
            Phase::App => "app",
        }
    }

    /// The phase `object_mode` names; an empty mode is an administrator's base image
    /// or app row made before the lifecycle (an object with an image and nothing else).
    pub fn of(object: &DaasObject) -> Option<Phase> {
        match object.object_mode.as_str() {
            "baseimage" => Some(Phase::BaseImage),
            "environment" => Some(Phase::Environment),
            "deployment" => Some(Phase::Deployment),
            "app" | "" => Some(Phase::App),
            _ => None,
        }
    }
}

/// A sub-phase (`object_mode_extended`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubPhase {
    Create,
    ConfigAuto,
    ConfigInteractive,
    Finalize,
}

impl SubPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            SubPhase::Create => "create",
            SubPhase::ConfigAuto => "configauto",
            SubPhase::ConfigInteractive => "configinteractive",
            SubPhase::Finalize => "finalize",
        }
    }
}

/// Where an object's work is (`object_state`).
pub mod state {
    /// A transition's task has been asked for and waits or runs.
    pub const WORKING: &str = "working";
    /// ConfigInteractive: the owner works in the in-progress instance.
    pub const INTERACTIVE: &str = "interactive";
    /// Finished: it can be derived from (or, an app, started).
    pub const READY: &str = "ready";
}

/// The phase a transition derives from.
pub fn source(t: Transition) -> Phase {
    match t {
        Transition::CloneTemplate => Phase::BaseImage,
        Transition::CreateSnapshot => Phase::Environment,
        Transition::RunApp => Phase::Deployment,
    }
}

/// The phase of what a transition derives.
pub fn target(t: Transition) -> Phase {
    match t {
        Transition::CloneTemplate => Phase::Environment,
        Transition::CreateSnapshot => Phase::Deployment,
        Transition::RunApp => Phase::App,
    }
}

fn out_of(phase: Phase) -> Option<Transition> {
    [Transition::CloneTemplate, Transition::CreateSnapshot, Transition::RunApp].into_iter().find(|t| source(*t) == phase)
}

/// What may happen next to an object, in the words of the API.
pub fn allowed_next(object: &DaasObject) -> Vec<&'static str> {
    let Some(phase) = Phase::of(object) else { return Vec::new() };
    if object.object_state == state::INTERACTIVE {
        return vec!["finish"];
    }
    if !object.is_ready() {
        return Vec::new();
    }
    match (phase, out_of(phase)) {
        (Phase::App, _) => vec!["start"],
        (_, Some(t)) => vec![t.as_str()],
        _ => Vec::new(),
    }
}

/// 409 naming the object's phase, sub-phase and state and what it allows instead.
pub fn illegal(object: &DaasObject, asked: &str) -> Failure {
    let next = allowed_next(object);
    let allowed = if next.is_empty() {
        "nothing until its current task is over (GET /api/v1/phases/tasks?id_object=...)".to_string()
    } else {
        next.join(", ")
    };
    let mode = if object.object_mode.is_empty() { "app" } else { object.object_mode.as_str() };
    let sub = if object.object_mode_extended.is_empty() { "none" } else { object.object_mode_extended.as_str() };
    let state = if object.object_state.is_empty() { "none" } else { object.object_state.as_str() };
    Failure::conflict(format!(
        "{asked} is not allowed on object `{}`: it is in phase {mode}, sub-phase {sub}, state {state}; allowed next: {allowed}",
        object.id
    ))
    .with_code("illegal_transition")
}

/// Refuse a transition the object's phase and state do not allow.
pub fn check(parent: &DaasObject, transition: Transition) -> Result<(), Failure> {
    if Phase::of(parent) != Some(source(transition)) || !parent.is_ready() {
        return Err(illegal(parent, transition.as_str()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(mode: &str, sub: &str, state: &str) -> DaasObject {
        DaasObject {
            id: "o".into(),
            object_mode: mode.into(),
            object_mode_extended: sub.into(),
            object_state: state.into(),
            ..Default::default()
        }
    }

    #[test]
    fn each_phase_allows_its_one_transition_once_ready() {
        assert!(check(&object("baseimage", "", ""), Transition::CloneTemplate).is_ok());
        assert!(check(&object("environment", "finalize", "ready"), Transition::CreateSnapshot).is_ok());
        assert!(check(&object("deployment", "finalize", "ready"), Transition::RunApp).is_ok());
        let e = check(&object("environment", "finalize", "ready"), Transition::RunApp).unwrap_err();
        let text = e.to_string();
        assert_eq!(e.status(), 409);
        assert!(text.contains("phase environment, sub-phase finalize, state ready; allowed next: create_snapshot"), "{text}");
    }

    #[test]
    fn unfinished_objects_allow_finish_or_nothing() {
        let e = check(&object("environment", "configinteractive", "interactive"), Transition::CreateSnapshot).unwrap_err();
        assert!(e.to_string().contains("allowed next: finish"), "{e}");
        let e = check(&object("environment", "configauto", "working"), Transition::CreateSnapshot).unwrap_err();
        assert!(e.to_string().contains("allowed next: nothing until its current task is over"), "{e}");
        assert_eq!(allowed_next(&object("app", "", "ready")), vec!["start"]);
        assert_eq!(allowed_next(&object("", "", "")), vec!["start"]);
    }
}
