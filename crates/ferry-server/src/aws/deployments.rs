//! Deployments, their targets and (the deprecated API for) their instances.

use ferry_aws::convert::{self, RevisionRequest};
use ferry_aws::validate::{self, Name, one_of};
use ferry_aws::{AwsError, AwsResult, token, wire};
use ferry_core::deployment::{Deployment, DeploymentStatus, Target};
use ferry_core::machine::Wait;
use ferry_store::{DeploymentFilter, StoreError};
use serde_json::{Value, json};

use super::resources::with_token;
use super::{Ctx, json, store_error};

pub async fn create(ctx: &Ctx<'_>, input: wire::CreateDeploymentInput) -> AwsResult<Value> {
    // The request's own members first, as AWS checks them; then what they name.
    let app_name = Name::Application.check(input.application_name.as_deref())?;
    let group_name = Name::DeploymentGroup.check(input.deployment_group_name.as_deref())?;
    let description = validate::description(input.description.as_deref())?;
    let file_exists_behavior =
        input.file_exists_behavior.as_deref().map(convert::parse_file_exists_behavior).transpose()?;
    let auto_rollback = input.auto_rollback_configuration.as_ref().map(convert::parse_auto_rollback).transpose()?;
    let alarms = match &input.override_alarm_configuration {
        Some(alarms) => Some(convert::parse_alarm_configuration(alarms)?),
        None => None,
    };
    let target_instances = input.target_instances.as_ref().map(convert::parse_target_instances).transpose()?;
    let request = convert::parse_revision(input.revision.as_ref())?;

    let app = ctx.application(Some(app_name)).await?;
    let group = ctx.group(&app.name, Some(group_name)).await?;
    let outdated_only = input.update_outdated_instances_only == Some(true);
    if outdated_only && group.ecs_service.is_some() {
        return Err(AwsError::new(
            "InvalidUpdateOutdatedInstancesOnlyValueException",
            "updateOutdatedInstancesOnly must be false for an ECS deployment group.",
        ));
    }
    if outdated_only && group.blue_green.is_some() {
        return Err(AwsError::new(
            "InvalidUpdateOutdatedInstancesOnlyValueException",
            format!(
                "updateOutdatedInstancesOnly updates instances in place; deployment group {} deploys blue/green.",
                group.name
            ),
        ));
    }
    let config_name = match input.deployment_config_name.as_deref() {
        // An ECS group takes ECS configs (`ferry_core::plan` says so for either).
        Some(name) if group.ecs_service.is_some() => Some(ctx.config(name).await?.name),
        Some(name) => Some(ctx.server_config(name).await?.name),
        None => None,
    };
    let revision = match &request {
        RevisionRequest::Stored { revision_id } => {
            ctx.state.driver.resolve_revision(&app.name, Some(revision_id)).await?
        }
        RevisionRequest::Build { build_id } => {
            crate::ops::builds::artifact_revision(ctx.state, build_id, &app.name).await?
        }
        RevisionRequest::Located { .. } => {
            let note = Some("Application revision registered by CreateDeployment".to_string());
            match super::revisions::find(ctx, &app, &request).await? {
                Some(r) => r,
                None => super::revisions::register_located(ctx, &app, &request, note).await?,
            }
        }
    };
    let id = crate::ops::deployments::create(
        ctx.state,
        crate::ops::deployments::NewDeployment {
            application: app.name,
            group: group.name,
            revision,
            config_name,
            description,
            file_exists_behavior,
            ignore_application_stop_failures: input.ignore_application_stop_failures.unwrap_or(false),
            auto_rollback,
            green_selector: target_instances,
            alarms,
            ecs: None,
            outdated_only,
        },
    )
    .await?;
    Ok(json!({ "deploymentId": id }))
}

/// The deployment as CodeDeploy shows it, with its revisions' locations.
async fn info(ctx: &Ctx<'_>, d: &Deployment) -> AwsResult<wire::DeploymentInfo> {
    let location = |id: String| async move {
        match ctx.state.store.get_revision(&id).await {
            Ok(r) => Ok(Some(convert::revision_location(&r))),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    };
    let revision = location(d.revision.id.clone()).await?.unwrap_or_default();
    let previous = match &d.previous_revision {
        Some(p) => location(p.id.clone()).await?,
        None => None,
    };
    let mut info = convert::deployment_info(d, revision, previous);
    if let Some(f) = &d.fetching {
        let view = ferry_proto::api::FetchingView { since: f.since, bytes: ctx.state.fetch_progress.bytes(&d.id) };
        info.deployment_status_messages.push(view.describe());
    }
    if (d.blue_green.is_some() || d.lifecycle_events.contains(&ferry_core::events::Event::BlockTraffic))
        && let Ok(group) = ctx.state.store.get_group_by_id(&d.group_id).await
    {
        info.load_balancer_info = convert::load_balancer_info(&group.target_groups);
    }
    Ok(info)
}

pub async fn get(ctx: &Ctx<'_>, input: wire::DeploymentIdInput) -> AwsResult<Value> {
    let d = ctx.deployment(input.deployment_id.as_deref()).await?;
    Ok(json!({ "deploymentInfo": json(&info(ctx, &d).await?)? }))
}

/// Unknown ids are left out, as CodeDeploy does.
pub async fn batch_get(ctx: &Ctx<'_>, input: wire::BatchGetDeploymentsInput) -> AwsResult<Value> {
    let ids = input.deployment_ids.as_deref().filter(|i| !i.is_empty()).ok_or_else(|| {
        AwsError::new("DeploymentIdRequiredException", "At least one deployment ID must be specified.")
    })?;
    validate::batch_limit(ids.len(), 25)?;
    let mut out = Vec::new();
    for id in ids {
        validate::deployment_id(Some(id))?;
        match ctx.state.store.get_deployment(id).await {
            Ok(d) => out.push(info(ctx, &d).await?),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(store_error(e)),
        }
    }
    Ok(json!({ "deploymentsInfo": json(&out)? }))
}

pub async fn list(ctx: &Ctx<'_>, input: wire::ListDeploymentsInput) -> AwsResult<Value> {
    // The request's own members first, as AWS checks them; then what they name.
    let names = match (input.application_name.as_deref(), input.deployment_group_name.as_deref()) {
        (None, None) => None,
        (Some(_), None) => return Err(Name::DeploymentGroup.required_error()),
        (None, Some(_)) => return Err(Name::Application.required_error()),
        (app, group) => Some((Name::Application.check(app)?, Name::DeploymentGroup.check(group)?)),
    };
    let mut filter = DeploymentFilter {
        statuses: convert::parse_deployment_statuses(input.include_only_statuses.as_deref().unwrap_or_default())?,
        ..DeploymentFilter::default()
    };
    if let Some(range) = &input.create_time_range {
        if let (Some(start), Some(end)) = (range.start, range.end)
            && start > end
        {
            return Err(AwsError::new("InvalidTimeRangeException", "The createTimeRange starts after it ends."));
        }
        filter.created_after = range.start.map(convert::millis);
        filter.created_before = range.end.map(convert::millis);
    }
    if let Some((app, group)) = names {
        let app = ctx.application(Some(app)).await?;
        let group = ctx.group(&app.name, Some(group)).await?;
        filter.application = Some(app.name);
        filter.group = Some(group.name);
    }
    // ferry creates no deployments for CloudFormation: none has an external id.
    let ids = if input.external_id.is_some() {
        Vec::new()
    } else {
        ctx.state.store.list_deployment_ids(filter).await.map_err(store_error)?
    };
    let (page, next) = token::page(ctx.op, ids, input.next_token.as_deref())?;
    Ok(with_token(json!({ "deployments": page }), "nextToken", next))
}

pub async fn stop(ctx: &Ctx<'_>, input: wire::StopDeploymentInput) -> AwsResult<Value> {
    let d = ctx.deployment(input.deployment_id.as_deref()).await?;
    let d = crate::ops::deployments::stop(ctx.state, &d.id, input.auto_rollback_enabled).await?;
    let (status, message) = if d.status.is_terminal() {
        ("Succeeded", "The deployment has been stopped.")
    } else {
        ("Pending", "No more commands will be scheduled for execution in the deployment instances.")
    };
    Ok(json!({ "status": status, "statusMessage": message }))
}

/// ContinueDeployment: READY_WAIT (the default) moves traffic to a Ready
/// deployment's replacement instances; TERMINATION_WAIT ends the wait
/// before the original instances are terminated.
pub async fn continue_deployment(ctx: &Ctx<'_>, input: wire::ContinueDeploymentInput) -> AwsResult<Value> {
    let d = ctx.deployment(input.deployment_id.as_deref()).await?;
    let wait = match input.deployment_wait_type.as_deref() {
        None => Wait::Ready,
        Some(kind) => match one_of(
            kind,
            &["READY_WAIT", "TERMINATION_WAIT"],
            "InvalidDeploymentWaitTypeException",
            "The deploymentWaitType",
        )? {
            "TERMINATION_WAIT" => Wait::Termination,
            _ => Wait::Ready,
        },
    };
    crate::ops::deployments::continue_(ctx.state, &d.id, wait).await?;
    Ok(json!({}))
}

/// The deprecated twin of ContinueDeployment{TERMINATION_WAIT}.
pub async fn skip_wait(ctx: &Ctx<'_>, input: wire::DeploymentIdInput) -> AwsResult<Value> {
    let d = ctx.deployment(input.deployment_id.as_deref()).await?;
    if matches!(d.status, DeploymentStatus::Created | DeploymentStatus::Queued) {
        return Err(not_started(&d));
    }
    crate::ops::deployments::continue_(ctx.state, &d.id, Wait::Termination).await?;
    Ok(json!({}))
}

pub async fn put_hook_status(
    ctx: &Ctx<'_>,
    input: wire::PutLifecycleEventHookExecutionStatusInput,
) -> AwsResult<Value> {
    let d = ctx.deployment(input.deployment_id.as_deref()).await?;
    if let Some(status) = input.status.as_deref() {
        one_of(status, &["Succeeded", "Failed"], "InvalidLifecycleEventHookExecutionStatusException", "The status")?;
    }
    if d.ecs.is_none() {
        return Err(AwsError::new(
            "UnsupportedActionForDeploymentTypeException",
            format!(
                "Lifecycle hook execution statuses are reported by the hooks of ECS deployments; {} is a Server deployment.",
                d.id
            ),
        ));
    }
    let execution = input.lifecycle_event_hook_execution_id.as_deref().filter(|e| !e.is_empty()).ok_or_else(|| {
        AwsError::new(
            "InvalidLifecycleEventHookExecutionIdException",
            "A lifecycle event hook execution ID is required.",
        )
    })?;
    let succeeded = match input.status.as_deref() {
        Some("Succeeded") => true,
        Some("Failed") => false,
        _ => {
            return Err(AwsError::new(
                "InvalidLifecycleEventHookExecutionStatusException",
                "The status must be Succeeded or Failed.",
            ));
        }
    };
    if d.status.is_terminal() {
        return Err(AwsError::new(
            "DeploymentAlreadyCompletedException",
            format!("The deployment {} has already completed.", d.id),
        ));
    }
    crate::ops::ecs_deployments::report_hook(ctx.state, &d.id, execution, succeeded).await.map_err(|e| match e {
        crate::ops::OpError::Invalid(m) => AwsError::new("LifecycleEventAlreadyCompletedException", m),
        e => e.into(),
    })?;
    Ok(json!({ "lifecycleEventHookExecutionId": execution }))
}

// ---------------------------------------------------------------- targets

fn not_started(d: &Deployment) -> AwsError {
    AwsError::new("DeploymentNotStartedException", format!("The deployment {} has not started yet.", d.id))
}

/// A target id or instance id: the instance's name, or its ARN.
fn instance_name(id: &str) -> &str {
    ferry_aws::arn::instance_name(id).unwrap_or(id)
}

/// Targets exist once a deployment starts (one stopped while it waited has none).
fn started(d: &Deployment) -> AwsResult<()> {
    if matches!(d.status, DeploymentStatus::Created | DeploymentStatus::Queued) {
        return Err(not_started(d));
    }
    Ok(())
}

fn target<'a>(d: &'a Deployment, id: &str) -> AwsResult<&'a Target> {
    d.target(instance_name(id)).ok_or_else(|| {
        AwsError::new(
            "DeploymentTargetDoesNotExistException",
            format!("The deployment target {id} does not exist in deployment {}.", d.id),
        )
    })
}

fn target_id_required() -> AwsError {
    AwsError::new("DeploymentTargetIdRequiredException", "A deployment target ID was not provided.")
}

pub async fn get_target(ctx: &Ctx<'_>, input: wire::DeploymentTargetInput) -> AwsResult<Value> {
    let d = ctx.deployment(input.deployment_id.as_deref()).await?;
    let id = input.target_id.as_deref().filter(|t| !t.is_empty()).ok_or_else(target_id_required)?;
    started(&d)?;
    let t = target(&d, id)?;
    Ok(json!({ "deploymentTarget": json(&deployment_target(ctx, &d, t).await)? }))
}

/// A target as CodeDeploy shows it: an instance, or an ECS service with
/// its task sets (as they are now: GREEN is the deployment's replacement).
async fn deployment_target(ctx: &Ctx<'_>, d: &Deployment, t: &Target) -> wire::DeploymentTarget {
    let Some(ecs) = &d.ecs else { return convert::instance_target(d, t, &ctx.arns) };
    let mut sets = Vec::new();
    if let Ok(described) = crate::ops::services::get(ctx.state, &ecs.service).await {
        let service = &described.service;
        for set in &service.task_sets {
            let ours: Vec<_> =
                described.tasks.iter().filter(|task| task.task_set == set.id && task.is_live()).collect();
            let green = set.deployment.as_deref() == Some(d.id.as_str());
            if !green && set.deployment.is_some() && set.status == ferry_ecs::service::TaskSetStatus::Active {
                continue; // another deployment's replacement
            }
            sets.push(wire::EcsTaskSet {
                identifer: set.id.clone(),
                desired_count: service.wanted(set).into(),
                pending_count: ours
                    .iter()
                    .filter(|task| task.last_status == ferry_ecs::service::LastStatus::Pending)
                    .count() as i64,
                running_count: ours
                    .iter()
                    .filter(|task| task.last_status == ferry_ecs::service::LastStatus::Running)
                    .count() as i64,
                status: match set.status {
                    ferry_ecs::service::TaskSetStatus::Primary => "PRIMARY",
                    ferry_ecs::service::TaskSetStatus::Active => "ACTIVE",
                    ferry_ecs::service::TaskSetStatus::Draining => "DRAINING",
                }
                .into(),
                traffic_weight: f64::from(set.weight),
                target_group: service
                    .load_balancer
                    .as_ref()
                    .map(|lb| wire::NamedInfo { name: Some(lb.target_group.clone()) }),
                task_set_label: if green { "GREEN" } else { "BLUE" }.into(),
            });
        }
    }
    convert::ecs_target(d, t, &ctx.arns, sets)
}

pub async fn batch_get_targets(ctx: &Ctx<'_>, input: wire::BatchGetDeploymentTargetsInput) -> AwsResult<Value> {
    let d = ctx.deployment(input.deployment_id.as_deref()).await?;
    let ids = input.target_ids.as_deref().filter(|t| !t.is_empty()).ok_or_else(target_id_required)?;
    if ids.len() > 25 {
        return Err(AwsError::new(
            "DeploymentTargetListSizeExceededException",
            format!("At most 25 deployment targets can be asked for at once (got {}).", ids.len()),
        ));
    }
    started(&d)?;
    let mut out = Vec::new();
    for id in ids {
        out.push(deployment_target(ctx, &d, target(&d, id)?).await);
    }
    Ok(json!({ "deploymentTargets": json(&out)? }))
}

pub async fn list_targets(ctx: &Ctx<'_>, input: wire::ListDeploymentTargetsInput) -> AwsResult<Value> {
    let d = ctx.deployment(input.deployment_id.as_deref()).await?;
    started(&d)?;
    let mut statuses: Option<Vec<String>> = None;
    let mut labels: Option<Vec<String>> = None;
    for (name, values) in input.target_filters.iter().flatten() {
        match name.as_str() {
            "TargetStatus" => {
                for v in values {
                    one_of(v, &STATUSES, "InvalidInstanceStatusException", "The target status")?;
                }
                statuses = Some(values.clone());
            }
            "ServerInstanceLabel" => {
                for v in values {
                    one_of(v, &["Blue", "Green"], "InvalidInstanceTypeException", "The instance label")?;
                }
                labels = Some(values.clone());
            }
            other => {
                return Err(AwsError::new(
                    "InvalidTargetFilterNameException",
                    format!("The target filter {other:?} is not TargetStatus or ServerInstanceLabel."),
                ));
            }
        }
    }
    let ids: Vec<String> = d
        .targets
        .iter()
        .filter(|t| statuses.as_ref().is_none_or(|s| s.iter().any(|s| s == t.status.as_str())))
        // In-place targets carry no Blue/Green label: a label filter leaves them out.
        .filter(|t| labels.as_ref().is_none_or(|l| l.is_empty() || has_label(t, l)))
        .map(|t| t.instance.clone())
        .collect();
    let (page, next) = token::page(ctx.op, ids, input.next_token.as_deref())?;
    Ok(with_token(json!({ "targetIds": page }), "nextToken", next))
}

fn has_label(t: &Target, labels: &[String]) -> bool {
    t.label.is_some_and(|label| labels.iter().any(|l| l == label.as_str()))
}

const STATUSES: [&str; 7] = ["Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Unknown", "Ready"];

pub async fn get_instance(ctx: &Ctx<'_>, input: wire::DeploymentInstanceInput) -> AwsResult<Value> {
    let d = ctx.deployment(input.deployment_id.as_deref()).await?;
    let id = input.instance_id.as_deref().filter(|i| !i.is_empty()).ok_or_else(instance_id_required)?;
    let t = d.target(instance_name(id)).ok_or_else(|| {
        AwsError::new(
            "InstanceDoesNotExistException",
            format!("The instance {id} is not a target of deployment {}.", d.id),
        )
    })?;
    Ok(json!({ "instanceSummary": json(&convert::instance_summary(&d, t))? }))
}

fn instance_id_required() -> AwsError {
    AwsError::new("InstanceIdRequiredException", "The instance ID was not specified.")
}

pub async fn batch_get_instances(ctx: &Ctx<'_>, input: wire::BatchGetDeploymentInstancesInput) -> AwsResult<Value> {
    let d = ctx.deployment(input.deployment_id.as_deref()).await?;
    let ids = input.instance_ids.as_deref().filter(|i| !i.is_empty()).ok_or_else(instance_id_required)?;
    validate::batch_limit(ids.len(), 25)?;
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for id in ids {
        match d.target(instance_name(id)) {
            Some(t) => out.push(convert::instance_summary(&d, t)),
            None => missing.push(id.clone()),
        }
    }
    let mut result = json!({ "instancesSummary": json(&out)? });
    if !missing.is_empty() {
        result["errorMessage"] = json!(format!("Instances not in deployment {}: {}", d.id, missing.join(", ")));
    }
    Ok(result)
}

pub async fn list_instances(ctx: &Ctx<'_>, input: wire::ListDeploymentInstancesInput) -> AwsResult<Value> {
    let d = ctx.deployment(input.deployment_id.as_deref()).await?;
    started(&d)?;
    let statuses = input.instance_status_filter.unwrap_or_default();
    for s in &statuses {
        one_of(s, &STATUSES, "InvalidInstanceStatusException", "The instance status")?;
    }
    let kinds = input.instance_type_filter.unwrap_or_default();
    for k in &kinds {
        one_of(k, &["Blue", "Green"], "InvalidInstanceTypeException", "The instance type")?;
    }
    let ids: Vec<String> = d
        .targets
        .iter()
        .filter(|t| statuses.is_empty() || statuses.iter().any(|s| s == t.status.as_str()))
        .filter(|t| kinds.is_empty() || has_label(t, &kinds))
        .map(|t| t.instance.clone())
        .collect();
    let (page, next) = token::page(ctx.op, ids, input.next_token.as_deref())?;
    Ok(with_token(json!({ "instancesList": page }), "nextToken", next))
}

#[cfg(test)]
mod tests {
    #[test]
    fn target_ids_may_be_names_or_arns() {
        let arns = ferry_aws::arn::Arns { region: "r".into(), account: "1".into() };
        assert_eq!(super::instance_name(&arns.instance("web-1")), "web-1");
        assert_eq!(super::instance_name("web-1"), "web-1");
    }
}
