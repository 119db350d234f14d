//! Instances joining a deployment group (issue #16): CodeDeploy's Auto
//! Scaling integration, for any host that starts matching a group's tags
//! (it enrols with them, is tagged so later, or registers again).
//!
//! The group keeps a record of each instance it selects
//! ([`GroupInstance`]): when it joined and what the group's deployments
//! installed on it. The server looks at the instances now and then
//! ([`observe`]), records each finished deployment ([`record_finished`]),
//! and while no deployment of the group is active or waiting, makes a
//! *launch deployment* ([`launches`], [`plan_launch`]) of the group's last
//! successful revision to the instances that joined and got nothing yet.
//! Only its AllowTraffic puts a new instance in the group's target groups,
//! so it takes traffic once healthy on the revision, never before.
//!
//! In-place groups only: in a blue/green group, the instances its tags
//! select that take no traffic are the next replacement fleet
//! (DISCOVER_EXISTING), which a deployment installs anyway.
//!
//! Where ferry differs from CodeDeploy (ARCHITECTURE.md, decisions): a
//! launch deployment never runs beside another deployment of its group.
//! An instance that joins during one waits (out of the load balancer)
//! until it ends, then gets the group's newest good revision
//! (`outdatedInstancesStrategy: UPDATE`, creator `CodeDeployAutoUpdate`)
//! or, with IGNORE, the revision that was the group's last good one when
//! it joined (CodeDeploy's mixed fleet). No instance ever runs two
//! deployments at once, and a failed launch is not retried by itself (no
//! launch loop): the instance stays out of the load balancer, marked
//! failed, until the next deployment of the group includes it.

use std::collections::BTreeMap;

use crate::Millis;
use crate::config::DeploymentConfig;
use crate::deployment::{AutoRollback, Creator, Deployment, RevisionRef, TargetStatus};
use crate::plan::{DeploymentRequest, Refusal, plan_deployment};
use crate::resources::{DeploymentGroup, GroupInstance, Instance, OutdatedInstancesStrategy};

/// Brings the group's record up to date with `instances` (all registered
/// ones): instances it now targets and did not know join, those it no
/// longer targets (deregistered, retagged, retired by blue/green) leave.
/// `running`: the group's active deployment, if any. Returns whether the
/// record changed.
pub fn observe(group: &mut DeploymentGroup, instances: &[Instance], running: Option<&Deployment>, now: Millis) -> bool {
    if group.ecs_service.is_some() || group.blue_green.is_some() {
        // A blue/green group's instances that take no traffic are the next
        // replacement fleet (DISCOVER_EXISTING), not instances to bring up
        // to date. No record is kept: should the group deploy in place
        // later, its instances are taken as up to date then.
        let changed = group.tracks_instances || !group.instances.is_empty();
        group.tracks_instances = false;
        group.instances.clear();
        return changed;
    }
    let targeted: Vec<&Instance> = instances.iter().filter(|i| group.targets(i)).collect();
    let before = group.instances.clone();
    group.instances.retain(|m| targeted.iter().any(|i| i.name == m.instance && i.register_time == m.register_time));
    let upgrade = !group.tracks_instances;
    group.tracks_instances = true;
    for i in targeted {
        if group.instances.iter().any(|m| m.instance == i.name) {
            continue;
        }
        // The running deployment will record what it did to its own targets.
        let covered = running.is_some_and(|d| d.targets.iter().any(|t| t.instance == i.name));
        let mut record = GroupInstance {
            instance: i.name.clone(),
            register_time: i.register_time,
            joined: now,
            revision_id: None,
            deployment_id: covered.then(|| running.map(|d| d.id.clone())).flatten(),
            failed: false,
            joined_during: if covered { None } else { running.map(|d| d.id.clone()) },
            revision_at_join: group.last_successful_revision_id.clone(),
        };
        if upgrade {
            // Known before ferry kept the record: taken as up to date.
            record.revision_id = group.last_successful_revision_id.clone();
            record.deployment_id = group.last_successful_deployment_id.clone();
            record.joined_during = None;
        }
        group.instances.push(record);
    }
    group.instances.sort_by(|a, b| a.instance.cmp(&b.instance));
    upgrade || group.instances != before
}

/// Records what a finished deployment of the group did to its targets.
pub fn record_finished(group: &mut DeploymentGroup, d: &Deployment) {
    for t in &d.targets {
        let Some(record) = group.instances.iter_mut().find(|m| m.instance == t.instance) else { continue };
        record.deployment_id = Some(d.id.clone());
        record.joined_during = None;
        match t.status {
            TargetStatus::Succeeded => {
                record.revision_id = Some(d.revision.id.clone());
                record.failed = false;
            }
            TargetStatus::Failed => record.failed = true,
            // Skipped, or never reached: what it had is still there.
            _ => record.failed = false,
        }
    }
    // A launch that ended before it started (its instances left meanwhile,
    // or it was stopped) leaves its instances marked as made for; the next
    // deployment of the group includes them.
}

/// A launch deployment to make: `revision_id` to `instances`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub revision_id: String,
    pub creator: Creator,
    pub instances: Vec<String>,
}

/// The launch deployments the group needs now, if it has a last successful
/// revision and updates new instances. The caller makes them only while
/// no deployment of the group is active or waiting.
pub fn launches(group: &DeploymentGroup) -> Vec<Launch> {
    if !group.update_new_instances || group.ecs_service.is_some() {
        return Vec::new();
    }
    let Some(last) = &group.last_successful_revision_id else { return Vec::new() };
    let mut wanted: BTreeMap<(String, Creator), Vec<String>> = BTreeMap::new();
    for m in group.instances.iter().filter(|m| m.deployment_id.is_none() && m.revision_id.is_none()) {
        let (revision, creator) = match (group.outdated_instances_strategy, &m.joined_during) {
            (OutdatedInstancesStrategy::Update, Some(_)) => (last.clone(), Creator::AutoUpdate),
            (OutdatedInstancesStrategy::Update, None) => (last.clone(), Creator::Autoscaling),
            (OutdatedInstancesStrategy::Ignore, _) => {
                (m.revision_at_join.clone().unwrap_or_else(|| last.clone()), Creator::Autoscaling)
            }
        };
        wanted.entry((revision, creator)).or_default().push(m.instance.clone());
    }
    wanted.into_iter().map(|((revision_id, creator), instances)| Launch { revision_id, creator, instances }).collect()
}

/// Notes in the group's record that `deployment_id` was made for the launch.
pub fn mark_launched(group: &mut DeploymentGroup, launch: &Launch, deployment_id: &str) {
    for m in group.instances.iter_mut().filter(|m| launch.instances.contains(&m.instance)) {
        m.deployment_id = Some(deployment_id.to_string());
    }
}

/// The launch deployment itself: in place (a blue/green group's new
/// instances too: they join its current fleet), all at once (each new
/// instance on its own: none serves traffic yet), no automatic rollback
/// (it installs what the group already runs), to `launch.instances` only.
/// `all_at_once`: CodeDeployDefault.AllAtOnce.
pub fn plan_launch(
    group: &DeploymentGroup,
    launch: &Launch,
    revision: RevisionRef,
    all_at_once: &DeploymentConfig,
    id: String,
    now: Millis,
) -> Result<Deployment, Refusal> {
    let in_place = DeploymentGroup { blue_green: None, ..group.clone() };
    let why = match launch.creator {
        Creator::AutoUpdate => "joined the group while a deployment of it ran",
        _ => "joined the group",
    };
    let request = DeploymentRequest {
        group: &in_place,
        config: all_at_once,
        revision,
        previous: None,
        description: Some(format!("{} {why}: its last successful revision", launch.instances.join(", "))),
        file_exists_behavior: None,
        ignore_application_stop_failures: false,
        auto_rollback: Some(AutoRollback::default()),
        ecs: None,
        green_selector: None,
        alarms: None,
    };
    let mut d = plan_deployment(request, id, now)?;
    d.creator = launch.creator;
    d.only_instances = Some(launch.instances.clone());
    Ok(d)
}

/// A termination deployment (CodeDeploy's termination hook): on
/// `instance`, which a scaling group is about to terminate, the group's
/// BeforeBlockTraffic, BlockTraffic and AfterBlockTraffic (with traffic
/// control) and ApplicationStop, from the revision last installed there
/// (the agent takes their scripts from it), nothing from DownloadBundle on.
pub fn plan_termination(
    group: &DeploymentGroup,
    instance: &str,
    revision: RevisionRef,
    all_at_once: &DeploymentConfig,
    id: String,
    now: Millis,
) -> Result<Deployment, Refusal> {
    let launch = Launch {
        revision_id: revision.id.clone(),
        creator: Creator::AutoscalingTermination,
        instances: vec![instance.to_string()],
    };
    let mut d = plan_launch(group, &launch, revision, all_at_once, id, now)?;
    d.lifecycle_events = if group.controls_traffic() {
        crate::events::IN_PLACE_WITH_TRAFFIC[..4].to_vec()
    } else {
        vec![crate::events::Event::ApplicationStop]
    };
    d.description = Some(format!("{instance} leaves its scaling group: its application is stopped first"));
    Ok(d)
}

/// How an instance of the group stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// It has the group's last successful revision.
    Current,
    /// It joined and waits for its launch deployment (or one is running).
    Joining,
    /// Its last deployment failed on it.
    Failed,
    /// It has another revision than the group's last successful one.
    Outdated,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Joining => "joining",
            Self::Failed => "failed",
            Self::Outdated => "outdated",
        }
    }
}

pub fn standing(group: &DeploymentGroup, m: &GroupInstance) -> Standing {
    if m.failed {
        return Standing::Failed;
    }
    match (&m.revision_id, &group.last_successful_revision_id) {
        (Some(have), Some(last)) if have == last => Standing::Current,
        (_, None) => Standing::Current,
        (None, Some(_)) => Standing::Joining,
        (Some(_), Some(_)) => Standing::Outdated,
    }
}

/// The group's outdated instances: those without its last successful
/// revision that no deployment is bringing it to (failed ones included).
pub fn outdated(group: &DeploymentGroup) -> Vec<&GroupInstance> {
    group.instances.iter().filter(|m| standing(group, m) != Standing::Current).collect()
}

#[cfg(test)]
mod tests;
