//! What changed between two persisted versions of a deployment, as the
//! notices that the event stream carries and triggers deliver.
//!
//! The driver calls [`changes`] with the version it last persisted and the
//! one it is about to persist, and stores the notices in the same
//! transaction, so the stream and the trigger outbox never miss a change
//! and never report one that was not persisted.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::deployment::{Deployment, DeploymentStatus, EventStatus, TargetStatus};

/// The kinds of notice. The first ten are CodeDeploy's trigger events; the
/// others appear only in the event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NoticeKind {
    DeploymentStart,
    DeploymentSuccess,
    DeploymentFailure,
    DeploymentStop,
    DeploymentRollback,
    DeploymentReady,
    InstanceStart,
    InstanceSuccess,
    InstanceFailure,
    InstanceReady,
    /// A deployment was created (and may wait as Queued).
    DeploymentCreated,
    /// Any other change of the deployment's status (Baking, Queued, …).
    DeploymentStatus,
    /// A lifecycle event of an instance changed status.
    LifecycleEvent,
    /// A blue/green deployment's share of production traffic on green changed.
    TrafficShifted,
    /// An original instance of a blue/green deployment left its deployment
    /// group (still registered and running: no terminate command).
    InstanceRemoved,
    /// An original instance was terminated by the server's terminate
    /// command: it left the group, was deregistered and its key revoked.
    InstanceTerminated,
    /// A build's status changed (CodeBuild's "Build State Change"): queued,
    /// in progress, or ended. `build` names it; `status` is its new status.
    BuildStateChange,
    /// A pipeline execution's status changed (CodePipeline's "Pipeline
    /// Execution State Change"); `pipeline` names it.
    PipelineExecutionStateChange,
    /// A stage of an execution changed status ("Stage Execution State Change").
    StageExecutionStateChange,
    /// An action of an execution changed status ("Action Execution State Change").
    ActionExecutionStateChange,
    /// A scaling group launched or terminated a host (issue #16):
    /// `group_name` is the scaling group, `instance` the host, `status`
    /// Launching, InService, LaunchFailed, Terminating or Terminated, and
    /// `message` why (deployment and application names are empty).
    ScalingActivity,
}

/// Every kind: the trigger events first.
const ALL_KINDS: [NoticeKind; 21] = [
    NoticeKind::DeploymentStart,
    NoticeKind::DeploymentSuccess,
    NoticeKind::DeploymentFailure,
    NoticeKind::DeploymentStop,
    NoticeKind::DeploymentRollback,
    NoticeKind::DeploymentReady,
    NoticeKind::InstanceStart,
    NoticeKind::InstanceSuccess,
    NoticeKind::InstanceFailure,
    NoticeKind::InstanceReady,
    NoticeKind::DeploymentCreated,
    NoticeKind::DeploymentStatus,
    NoticeKind::LifecycleEvent,
    NoticeKind::TrafficShifted,
    NoticeKind::InstanceRemoved,
    NoticeKind::InstanceTerminated,
    NoticeKind::BuildStateChange,
    NoticeKind::PipelineExecutionStateChange,
    NoticeKind::StageExecutionStateChange,
    NoticeKind::ActionExecutionStateChange,
    NoticeKind::ScalingActivity,
];

/// CodeDeploy's trigger event names, in its documentation's order.
pub const TRIGGER_EVENT_NAMES: [&str; 10] = [
    "DeploymentStart",
    "DeploymentSuccess",
    "DeploymentFailure",
    "DeploymentStop",
    "DeploymentRollback",
    "DeploymentReady",
    "InstanceStart",
    "InstanceSuccess",
    "InstanceFailure",
    "InstanceReady",
];

/// The trigger events, as [`TRIGGER_EVENT_NAMES`] names them.
pub const TRIGGER_KINDS: [NoticeKind; 10] = [
    NoticeKind::DeploymentStart,
    NoticeKind::DeploymentSuccess,
    NoticeKind::DeploymentFailure,
    NoticeKind::DeploymentStop,
    NoticeKind::DeploymentRollback,
    NoticeKind::DeploymentReady,
    NoticeKind::InstanceStart,
    NoticeKind::InstanceSuccess,
    NoticeKind::InstanceFailure,
    NoticeKind::InstanceReady,
];

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeploymentStart => "DeploymentStart",
            Self::DeploymentSuccess => "DeploymentSuccess",
            Self::DeploymentFailure => "DeploymentFailure",
            Self::DeploymentStop => "DeploymentStop",
            Self::DeploymentRollback => "DeploymentRollback",
            Self::DeploymentReady => "DeploymentReady",
            Self::InstanceStart => "InstanceStart",
            Self::InstanceSuccess => "InstanceSuccess",
            Self::InstanceFailure => "InstanceFailure",
            Self::InstanceReady => "InstanceReady",
            Self::DeploymentCreated => "DeploymentCreated",
            Self::DeploymentStatus => "DeploymentStatus",
            Self::LifecycleEvent => "LifecycleEvent",
            Self::TrafficShifted => "TrafficShifted",
            Self::InstanceRemoved => "InstanceRemoved",
            Self::InstanceTerminated => "InstanceTerminated",
            Self::BuildStateChange => "BuildStateChange",
            Self::PipelineExecutionStateChange => "PipelineExecutionStateChange",
            Self::StageExecutionStateChange => "StageExecutionStateChange",
            Self::ActionExecutionStateChange => "ActionExecutionStateChange",
            Self::ScalingActivity => "ScalingActivity",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        ALL_KINDS.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether a trigger can ask for it.
    pub fn is_trigger_event(self) -> bool {
        TRIGGER_KINDS.contains(&self)
    }

    /// Whether it concerns one instance.
    pub fn is_instance(self) -> bool {
        matches!(
            self,
            Self::InstanceStart
                | Self::InstanceSuccess
                | Self::InstanceFailure
                | Self::InstanceReady
                | Self::LifecycleEvent
                | Self::InstanceRemoved
                | Self::InstanceTerminated
        )
    }
}

/// One change of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub kind: NoticeKind,
    pub time: Millis,
    pub deployment_id: String,
    pub application_name: String,
    pub group_name: String,
    /// For instance notices and lifecycle events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// For [`NoticeKind::LifecycleEvent`]: the event's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_event: Option<String>,
    /// The new status (of the deployment, instance or lifecycle event), or
    /// for a traffic shift the green share in percent.
    pub status: String,
    /// Why, where there is a reason (a deployment's error message, an
    /// event's diagnostics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For build notices: the build (their deployment, application and
    /// group names are empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildSubject>,
    /// For pipeline notices: the execution, stage and action (their
    /// deployment, application and group names are empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineSubject>,
}

/// The pipeline execution (and stage, and action) a notice is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineSubject {
    pub pipeline: String,
    pub execution: String,
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// The build a notice is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSubject {
    pub id: String,
    pub project: String,
    pub number: u64,
}

impl Notice {
    /// A build's new status (`QUEUED`, `IN_PROGRESS`, `SUCCEEDED`, …; queued
    /// builds say `QUEUED` here, unlike CodeBuild's API), with the message of
    /// the phase that ended it when it did not succeed.
    pub fn build_state(build: &crate::build::Build, now: Millis) -> Notice {
        let status = match build.status {
            crate::build::BuildStatus::Queued => "QUEUED",
            other => other.aws_name(),
        };
        let message = if build.status.is_terminal() && build.status != crate::build::BuildStatus::Succeeded {
            build.phases.iter().rev().find_map(|p| p.message.clone())
        } else {
            None
        };
        Notice {
            kind: NoticeKind::BuildStateChange,
            time: now,
            deployment_id: String::new(),
            application_name: String::new(),
            group_name: String::new(),
            instance: None,
            lifecycle_event: None,
            status: status.to_string(),
            message,
            build: Some(BuildSubject { id: build.id.clone(), project: build.project.clone(), number: build.number }),
            pipeline: None,
        }
    }

    /// A pipeline execution's, stage's or action's new status (as
    /// CodePipeline names it: `InProgress`, `Succeeded`, …).
    pub fn pipeline_state(
        kind: NoticeKind,
        subject: PipelineSubject,
        status: &str,
        message: Option<String>,
        now: Millis,
    ) -> Notice {
        Notice {
            kind,
            time: now,
            deployment_id: String::new(),
            application_name: String::new(),
            group_name: String::new(),
            instance: None,
            lifecycle_event: None,
            status: status.to_string(),
            message,
            build: None,
            pipeline: Some(subject),
        }
    }
}

/// The notices between `before` (None: just created) and `after`, at `now`,
/// in a stable order: deployment notices, then per target (in target order)
/// its lifecycle events and then its own status, then the end of the
/// deployment.
pub fn changes(before: Option<&Deployment>, after: &Deployment, now: Millis) -> Vec<Notice> {
    let notice = |kind: NoticeKind, status: &str| Notice {
        kind,
        time: now,
        deployment_id: after.id.clone(),
        application_name: after.application_name.clone(),
        group_name: after.group_name.clone(),
        instance: None,
        lifecycle_event: None,
        status: status.to_string(),
        message: None,
        build: None,
        pipeline: None,
    };
    let mut out = Vec::new();
    let old_status = before.map(|b| b.status);
    if before.is_none() {
        out.push(notice(NoticeKind::DeploymentCreated, after.status.as_str()));
    }
    let status_changed = old_status != Some(after.status);
    // The start comes first; the end comes after the instances' last changes.
    let started = status_changed
        && after.status != DeploymentStatus::Created
        && after.status != DeploymentStatus::Queued
        && old_status.is_none_or(|s| matches!(s, DeploymentStatus::Created | DeploymentStatus::Queued));
    if started {
        out.push(notice(NoticeKind::DeploymentStart, DeploymentStatus::InProgress.as_str()));
    }
    if let (Some(b), Some(a)) = (before.and_then(|b| b.blue_green.as_ref()), after.blue_green.as_ref())
        && a.green_share != b.green_share
    {
        out.push(notice(NoticeKind::TrafficShifted, &a.green_share.to_string()));
    }
    for target in &after.targets {
        let old = before.and_then(|b| b.target(&target.instance));
        let for_instance =
            |kind: NoticeKind, status: &str| Notice { instance: Some(target.instance.clone()), ..notice(kind, status) };
        for event in &target.events {
            let old_event = old.and_then(|t| t.events.iter().find(|e| e.name == event.name));
            let changed = match old_event {
                Some(o) => o.status != event.status,
                // A new target's events all start Pending: only later states count.
                None => event.status != EventStatus::Pending,
            };
            if changed {
                out.push(Notice {
                    lifecycle_event: Some(event.name.to_string()),
                    message: event.diagnostics.as_ref().filter(|d| !d.message.is_empty()).map(|d| d.message.clone()),
                    ..for_instance(NoticeKind::LifecycleEvent, event.status.as_str())
                });
            }
        }
        let old_status = old.map(|t| t.status).unwrap_or(TargetStatus::Pending);
        // A retried target (a new attempt) starts again.
        let restarted = old.is_some_and(|o| o.attempt != target.attempt) && target.status == TargetStatus::InProgress;
        if old_status == target.status && !restarted {
            continue;
        }
        let kind = match target.status {
            TargetStatus::InProgress => Some(NoticeKind::InstanceStart),
            TargetStatus::Succeeded => Some(NoticeKind::InstanceSuccess),
            TargetStatus::Failed => Some(NoticeKind::InstanceFailure),
            TargetStatus::Ready => Some(NoticeKind::InstanceReady),
            TargetStatus::Pending | TargetStatus::Skipped | TargetStatus::Unknown => None,
        };
        if let Some(kind) = kind {
            out.push(for_instance(kind, target.status.as_str()));
        }
    }
    // Original instances a blue/green deployment retired since `before`.
    if let Some(a) = after.blue_green.as_ref() {
        let known = before.and_then(|b| b.blue_green.as_ref()).map_or(0, |b| b.retired.len());
        for r in a.retired.iter().skip(known) {
            let (kind, status, message) = if r.terminated {
                (
                    NoticeKind::InstanceTerminated,
                    "Terminated",
                    format!(
                        "the terminate command terminated {}: it left deployment group {}, was deregistered and its agent key revoked",
                        r.instance, after.group_name
                    ),
                )
            } else {
                (
                    NoticeKind::InstanceRemoved,
                    "Removed",
                    format!(
                        "{} left deployment group {} (no terminate command: it stays registered and running)",
                        r.instance, after.group_name
                    ),
                )
            };
            out.push(Notice { instance: Some(r.instance.clone()), message: Some(message), ..notice(kind, status) });
        }
    }
    // Any other status change (the end above all) comes after the
    // instances' changes; a new deployment's Created status is not one.
    let changed_later = if started { after.status != DeploymentStatus::InProgress } else { status_changed };
    if changed_later && !(before.is_none() && after.status == DeploymentStatus::Created) {
        let kind = match after.status {
            DeploymentStatus::Succeeded => NoticeKind::DeploymentSuccess,
            DeploymentStatus::Failed => NoticeKind::DeploymentFailure,
            DeploymentStatus::Stopped => NoticeKind::DeploymentStop,
            DeploymentStatus::Ready => NoticeKind::DeploymentReady,
            _ => NoticeKind::DeploymentStatus,
        };
        out.push(Notice {
            message: after.error.as_ref().map(|e| e.message.clone()),
            ..notice(kind, after.status.as_str())
        });
    }
    let rolled_back = |d: &Deployment| d.rollback_info.rollback_deployment_id.is_some();
    if rolled_back(after) && !before.is_some_and(rolled_back) {
        out.push(Notice {
            message: after.rollback_info.rollback_message.clone(),
            ..notice(NoticeKind::DeploymentRollback, after.status.as_str())
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{self, Input};

    fn deployment(_instances: &[&str], events: &[&str]) -> Deployment {
        Deployment::fixture(events)
    }

    fn kinds(notices: &[Notice]) -> Vec<(&'static str, Option<&str>, Option<&str>, &str)> {
        notices
            .iter()
            .map(|n| (n.kind.as_str(), n.instance.as_deref(), n.lifecycle_event.as_deref(), n.status.as_str()))
            .collect()
    }

    #[test]
    fn a_deployment_is_told_from_creation_to_success() {
        let created = deployment(&["h1"], &["Install"]);
        assert_eq!(kinds(&changes(None, &created, 1)), [("DeploymentCreated", None, None, "Created")]);

        let mut d = created.clone();
        machine::step(&mut d, Input::Start { instances: vec!["h1".into()] }, 2);
        assert_eq!(
            kinds(&changes(Some(&created), &d, 2)),
            [("DeploymentStart", None, None, "InProgress"), ("InstanceStart", Some("h1"), None, "InProgress")]
        );

        let started = d.clone();
        machine::step(&mut d, Input::EventStarted { instance: "h1".into(), attempt: 1, event: "Install".into() }, 3);
        machine::step(
            &mut d,
            Input::EventFinished {
                instance: "h1".into(),
                attempt: 1,
                event: "Install".into(),
                succeeded: true,
                diagnostics: None,
            },
            4,
        );
        assert_eq!(
            kinds(&changes(Some(&started), &d, 4)),
            [
                ("LifecycleEvent", Some("h1"), Some("Install"), "Succeeded"),
                ("InstanceSuccess", Some("h1"), None, "Succeeded"),
                ("DeploymentSuccess", None, None, "Succeeded"),
            ]
        );
        assert!(changes(Some(&d), &d, 5).is_empty(), "no change, no notice");
    }

    #[test]
    fn failures_stops_and_rollbacks_are_told() {
        let mut d = deployment(&["h1", "h2"], &["Install"]);
        machine::step(&mut d, Input::Start { instances: vec!["h1".into(), "h2".into()] }, 1);
        let before = d.clone();
        machine::step(
            &mut d,
            Input::Stop {
                rollback: Some(true),
                code: crate::deployment::ErrorCode::ManualStop,
                message: "by hand".into(),
            },
            2,
        );
        machine::step(
            &mut d,
            Input::EventFinished {
                instance: "h1".into(),
                attempt: 1,
                event: "Install".into(),
                succeeded: false,
                diagnostics: None,
            },
            3,
        );
        let mut rolled = d.clone();
        rolled.rollback_info.rollback_deployment_id = Some("d-ROLLBACK".into());
        let told = changes(Some(&before), &rolled, 3);
        let names: Vec<&str> = told.iter().map(|n| n.kind.as_str()).collect();
        assert!(names.contains(&"InstanceFailure"), "{names:?}");
        assert_eq!(names[names.len() - 2..], ["DeploymentStop", "DeploymentRollback"]);
        assert_eq!(told[names.len() - 2].message.as_deref(), Some("by hand"));
    }

    #[test]
    fn trigger_names_round_trip() {
        assert_eq!(TRIGGER_KINDS.map(NoticeKind::as_str), TRIGGER_EVENT_NAMES);
        assert_eq!(ALL_KINDS[..10], TRIGGER_KINDS);
        for kind in ALL_KINDS {
            assert_eq!(NoticeKind::from_name(kind.as_str()), Some(kind));
        }
        for kind in TRIGGER_KINDS {
            assert_eq!(NoticeKind::from_name(kind.as_str()), Some(kind));
            assert!(kind.is_trigger_event());
        }
        assert!(!NoticeKind::LifecycleEvent.is_trigger_event());
        assert_eq!(NoticeKind::from_name("Nope"), None);
    }
}
