//! Domain types to the native API's wire types.

use ferry_core::deployment::{AutoRollback, Deployment, RollbackEvent};
use ferry_core::resources::{self, DeploymentGroup, TagFilterType};
use ferry_proto::api;

pub fn application(a: &resources::Application) -> api::Application {
    api::Application {
        id: a.id.clone(),
        name: a.name.clone(),
        compute_platform: a.compute_platform.as_str().to_string(),
        create_time: a.create_time,
    }
}

pub fn tag_filter(f: &resources::TagFilter) -> api::TagFilter {
    let kind = match f.kind {
        TagFilterType::KeyOnly => "KEY_ONLY",
        TagFilterType::ValueOnly => "VALUE_ONLY",
        TagFilterType::KeyAndValue => "KEY_AND_VALUE",
    };
    api::TagFilter { key: f.key.clone(), value: f.value.clone(), kind: kind.into() }
}

pub fn parse_tag_filter(f: &api::TagFilter) -> Result<resources::TagFilter, String> {
    let kind = match f.kind.as_str() {
        "KEY_ONLY" => TagFilterType::KeyOnly,
        "VALUE_ONLY" => TagFilterType::ValueOnly,
        "KEY_AND_VALUE" => TagFilterType::KeyAndValue,
        other => return Err(format!("tag filter type {other:?} is not KEY_ONLY, VALUE_ONLY or KEY_AND_VALUE")),
    };
    Ok(resources::TagFilter { key: f.key.clone(), value: f.value.clone(), kind })
}

pub fn rollback_event_name(e: RollbackEvent) -> &'static str {
    match e {
        RollbackEvent::DeploymentFailure => "DEPLOYMENT_FAILURE",
        RollbackEvent::DeploymentStopOnAlarm => "DEPLOYMENT_STOP_ON_ALARM",
        RollbackEvent::DeploymentStopOnRequest => "DEPLOYMENT_STOP_ON_REQUEST",
    }
}

pub fn auto_rollback(a: &AutoRollback) -> api::AutoRollbackConfig {
    api::AutoRollbackConfig {
        enabled: a.enabled,
        events: a.events.iter().map(|e| rollback_event_name(*e).to_string()).collect(),
    }
}

pub fn parse_auto_rollback(a: &api::AutoRollbackConfig) -> Result<AutoRollback, String> {
    let mut events = Vec::new();
    for name in &a.events {
        events.push(match name.as_str() {
            "DEPLOYMENT_FAILURE" => RollbackEvent::DeploymentFailure,
            "DEPLOYMENT_STOP_ON_ALARM" => RollbackEvent::DeploymentStopOnAlarm,
            "DEPLOYMENT_STOP_ON_REQUEST" => RollbackEvent::DeploymentStopOnRequest,
            other => return Err(format!("unknown auto-rollback event {other:?}")),
        });
    }
    if a.enabled && events.is_empty() {
        events.push(RollbackEvent::DeploymentFailure);
    }
    Ok(AutoRollback { enabled: a.enabled, events })
}

pub fn parse_blue_green(s: &api::BlueGreenSettings) -> ferry_core::resources::BlueGreenConfig {
    use ferry_core::deployment::{BlueAction, ReadyAction};
    ferry_core::resources::BlueGreenConfig {
        ready: match s.ready_wait_ms {
            Some(wait_ms) => ReadyAction::Stop { wait_ms },
            None => ReadyAction::Continue,
        },
        blue: match s.terminate_after_ms {
            Some(wait_ms) => BlueAction::Terminate { wait_ms },
            None => BlueAction::KeepAlive,
        },
    }
}

pub fn blue_green(c: &ferry_core::resources::BlueGreenConfig) -> api::BlueGreenSettings {
    use ferry_core::deployment::{BlueAction, ReadyAction};
    api::BlueGreenSettings {
        ready_wait_ms: match c.ready {
            ReadyAction::Stop { wait_ms } => Some(wait_ms),
            ReadyAction::Continue => None,
        },
        terminate_after_ms: match c.blue {
            BlueAction::Terminate { wait_ms } => Some(wait_ms),
            BlueAction::KeepAlive => None,
        },
    }
}

pub fn group(g: &DeploymentGroup, instances: Vec<String>) -> api::DeploymentGroup {
    api::DeploymentGroup {
        id: g.id.clone(),
        application_name: g.application_name.clone(),
        name: g.name.clone(),
        target_groups: g.target_groups.clone(),
        blue_green: g.blue_green.as_ref().map(blue_green),
        triggers: g
            .triggers
            .iter()
            .map(|t| api::TriggerConfig { name: t.name.clone(), url: t.target.clone(), events: t.events.clone() })
            .collect(),
        alarms: g.alarms.enabled.then(|| api::AlarmSettings {
            alarms: g.alarms.alarms.clone(),
            ignore_poll_alarm_failure: g.alarms.ignore_poll_alarm_failure,
            bake_time_ms: g.alarms.bake_time_ms,
            prometheus_url: g.alarms.prometheus_url.clone(),
        }),
        tag_filters: g.selector.tag_filters.iter().map(tag_filter).collect(),
        tag_set: g.selector.tag_set.iter().map(|set| set.iter().map(tag_filter).collect()).collect(),
        deployment_config_name: g.deployment_config_name.clone(),
        auto_rollback: auto_rollback(&g.auto_rollback),
        last_successful_deployment_id: g.last_successful_deployment_id.clone(),
        last_successful_revision_id: g.last_successful_revision_id.clone(),
        instances,
        update_new_instances: g.update_new_instances,
        termination_hooks: g.termination_hook_enabled,
        outdated_instances_strategy: match g.outdated_instances_strategy {
            resources::OutdatedInstancesStrategy::Update => "UPDATE",
            resources::OutdatedInstancesStrategy::Ignore => "IGNORE",
        }
        .into(),
        instance_states: g
            .instances
            .iter()
            .map(|m| api::GroupInstanceState {
                instance: m.instance.clone(),
                standing: ferry_core::joins::standing(g, m).as_str().into(),
                revision_id: m.revision_id.clone(),
                deployment_id: m.deployment_id.clone(),
                joined: m.joined,
            })
            .collect(),
    }
}

/// Native triggers as stored, checked as the AWS API checks them.
pub fn parse_triggers(triggers: &[api::TriggerConfig]) -> Result<Vec<resources::Trigger>, String> {
    if triggers.len() > 10 {
        return Err(format!("a group has at most 10 triggers (got {})", triggers.len()));
    }
    let mut out: Vec<resources::Trigger> = Vec::new();
    for t in triggers {
        ferry_core::ids::validate_name(&t.name).map_err(|e| format!("trigger name: {e}"))?;
        if out.iter().any(|o| o.name == t.name) {
            return Err(format!("trigger {} is listed twice", t.name));
        }
        crate::triggers::check_target(&t.url).map_err(|e| format!("trigger {}: {e}", t.name))?;
        if t.events.is_empty() {
            return Err(format!("trigger {} lists no events", t.name));
        }
        for e in &t.events {
            if !ferry_core::notices::NoticeKind::from_name(e).is_some_and(|k| k.is_trigger_event()) {
                let names: Vec<&str> = ferry_core::notices::TRIGGER_KINDS.iter().map(|k| k.as_str()).collect();
                return Err(format!("trigger {}: {e:?} is not one of {}", t.name, names.join(", ")));
            }
        }
        out.push(resources::Trigger { name: t.name.clone(), target: t.url.clone(), events: t.events.clone() });
    }
    Ok(out)
}

pub fn parse_alarms(a: &api::AlarmSettings) -> Result<resources::AlarmConfig, String> {
    if a.alarms.is_empty() {
        return Err("the alarm settings list no alarms".into());
    }
    if a.alarms.len() > 10 {
        return Err(format!("a group watches at most 10 alarms (got {})", a.alarms.len()));
    }
    for (i, name) in a.alarms.iter().enumerate() {
        if a.alarms[..i].contains(name) {
            return Err(format!("alarm {name} is listed twice"));
        }
    }
    if let Some(url) = &a.prometheus_url {
        crate::alarms::check_url(url)?;
    }
    Ok(resources::AlarmConfig {
        enabled: true,
        ignore_poll_alarm_failure: a.ignore_poll_alarm_failure,
        alarms: a.alarms.clone(),
        bake_time_ms: a.bake_time_ms,
        prometheus_url: a.prometheus_url.clone(),
    })
}

pub fn revision(r: &resources::Revision) -> api::Revision {
    api::Revision {
        id: r.id.clone(),
        application_name: r.application_name.clone(),
        bundle_type: r.bundle_type.clone(),
        sha256: r.sha256.clone(),
        size: r.size,
        description: r.description.clone(),
        register_time: r.register_time,
    }
}

pub fn summary(d: &Deployment) -> api::DeploymentSummary {
    api::DeploymentSummary {
        id: d.id.clone(),
        application_name: d.application_name.clone(),
        group_name: d.group_name.clone(),
        status: d.status.as_str().to_string(),
        creator: d.creator.as_str().to_string(),
        create_time: d.create_time,
        complete_time: d.complete_time,
    }
}

pub fn deployment(d: &Deployment) -> api::DeploymentView {
    let o = d.overview();
    api::DeploymentView {
        id: d.id.clone(),
        application_name: d.application_name.clone(),
        group_name: d.group_name.clone(),
        deployment_config_name: d.config_name.clone(),
        revision_id: d.revision.id.clone(),
        previous_revision_id: d.previous_revision.as_ref().map(|r| r.id.clone()),
        creator: d.creator.as_str().to_string(),
        description: d.description.clone(),
        status: d.status.as_str().to_string(),
        error: d
            .error
            .as_ref()
            .map(|e| api::ErrorInfo { code: e.code.as_str().to_string(), message: e.message.clone() }),
        create_time: d.create_time,
        start_time: d.start_time,
        complete_time: d.complete_time,
        overview: api::Overview {
            pending: o.pending,
            in_progress: o.in_progress,
            succeeded: o.succeeded,
            failed: o.failed,
            skipped: o.skipped,
            ready: o.ready,
        },
        fetching: d.fetching.as_ref().map(|f| api::FetchingView { since: f.since, bytes: None }),
        rollback_deployment_id: d.rollback_info.rollback_deployment_id.clone(),
        rollback_triggering_deployment_id: d.rollback_info.rollback_triggering_deployment_id.clone(),
        rollback_message: d.rollback_info.rollback_message.clone(),
        instances: d
            .targets
            .iter()
            .map(|t| api::InstanceTarget {
                instance: t.instance.clone(),
                status: t.status.as_str().to_string(),
                last_updated: t.last_updated,
                label: t.label.map(|l| l.as_str().to_string()),
                events: t
                    .events
                    .iter()
                    .map(|e| api::LifecycleEvent {
                        name: e.name.to_string(),
                        status: e.status.as_str().to_string(),
                        start_time: e.start_time,
                        end_time: e.end_time,
                        diagnostics: e.diagnostics.as_ref().map(|x| ferry_proto::agent::Diagnostics {
                            error_code: x.error_code.clone(),
                            script_name: x.script_name.clone(),
                            message: x.message.clone(),
                            log_tail: x.log_tail.clone(),
                        }),
                    })
                    .collect(),
            })
            .collect(),
        target_groups: Vec::new(),
        deployment_type: match d.deployment_type() {
            ferry_core::deployment::DeploymentType::BlueGreen => "BLUE_GREEN",
            ferry_core::deployment::DeploymentType::InPlace => "IN_PLACE",
        }
        .into(),
        blue_green: d.blue_green.as_ref().map(|bg| api::BlueGreenView {
            phase: format!("{:?}", bg.phase),
            green_share: bg.green_share,
            deadline: bg.deadline,
            routing: routing_label(bg.routing),
            traffic_only: bg.traffic_only,
            retired: bg
                .retired
                .iter()
                .map(|r| api::RetiredInstance { instance: r.instance.clone(), terminated: r.terminated, time: r.time })
                .collect(),
        }),
    }
}

pub fn routing_label(r: ferry_core::config::TrafficRouting) -> String {
    use ferry_core::config::TrafficRouting::*;
    match r {
        AllAtOnce => "AllAtOnce".into(),
        TimeBasedCanary { percentage, interval_seconds } => {
            format!("Canary {percentage}% then the rest after {interval_seconds} s")
        }
        TimeBasedLinear { percentage, interval_seconds } => format!("Linear {percentage}% every {interval_seconds} s"),
    }
}

/// A deployment as the native API and the console show it: with its
/// revision copy's progress and its group's target groups as the load
/// balancers see them now.
pub(crate) async fn deployment_now(state: &crate::AppState, d: &Deployment) -> api::DeploymentView {
    let mut view = deployment(d);
    if let Some(fetching) = view.fetching.as_mut() {
        fetching.bytes = state.fetch_progress.bytes(&d.id);
    }
    if let Ok(group) = state.store.get_group_by_id(&d.group_id).await {
        for name in &group.target_groups {
            if let Ok(tg) = state.store.get_target_group(name).await {
                view.target_groups.push(crate::target_groups::view(&state.driver.traffic, &tg).await);
            }
        }
    }
    view
}
