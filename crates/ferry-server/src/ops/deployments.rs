//! Deployments: created, stopped, continued and redeployed here only.

use ferry_blob::FetchError;
use ferry_core::deployment::{AutoRollback, Deployment, FileExistsBehavior};
use ferry_core::machine::Wait;
use ferry_core::resources::{AlarmConfig, InstanceSelector, Revision};

use super::OpError;
use crate::AppState;
use crate::bundles::Pin;

/// A deployment to create: the revision as the caller found it (by id, by
/// location, or the newest), and the options that override the group's.
#[derive(Debug, Clone)]
pub struct NewDeployment {
    pub application: String,
    pub group: String,
    pub revision: Revision,
    /// `None`: the group's config.
    pub config_name: Option<String>,
    pub description: Option<String>,
    pub file_exists_behavior: Option<FileExistsBehavior>,
    pub ignore_application_stop_failures: bool,
    /// `None`: the group's.
    pub auto_rollback: Option<AutoRollback>,
    /// Blue/green: the replacement fleet by tags.
    pub green_selector: Option<InstanceSelector>,
    /// `None`: the group's alarms.
    pub alarms: Option<AlarmConfig>,
    /// An ECS deployment's appspec facts (filled in by [`create`] from
    /// the revision for an ECS group; callers leave it `None`).
    pub ecs: Option<ferry_core::deployment::EcsDeployment>,
    /// Only the group's instances without this revision (CodeDeploy's
    /// `updateOutdatedInstancesOnly`).
    pub outdated_only: bool,
}

/// Creates a deployment and returns its id. What is cheap to check about
/// the revision is checked now (a missing S3 object, another ETag, too
/// large: refused here, not on each host); its bytes are pinned now if they
/// are here, else copied in the background while the deployment waits (a
/// large bundle must not outlast the caller's timeout).
pub async fn create(state: &AppState, request: NewDeployment) -> Result<String, OpError> {
    // The group first: an unknown group is that, whatever the revision.
    let group = super::groups::get(state, &request.application, &request.group).await?;
    // What the rules refuse is refused before any revision is fetched (the
    // driver plans again under its lock, with the group as it is then).
    let config_name = request.config_name.as_deref().unwrap_or(&group.deployment_config_name);
    let config = super::configs::get(state, config_name).await?;
    let ecs = match &group.ecs_service {
        Some((_, service)) => Some(ecs_facts(state, service, &request.revision).await?),
        None => None,
    };
    let check = ferry_core::plan::DeploymentRequest {
        group: &group,
        config: &config,
        revision: crate::driver::revision_ref(&request.revision),
        previous: None,
        description: None,
        file_exists_behavior: None,
        ignore_application_stop_failures: false,
        auto_rollback: None,
        green_selector: request.green_selector.clone(),
        alarms: None,
        ecs: ecs.clone(),
    };
    ferry_core::plan::plan_deployment(check, String::new(), 0)?;
    let mut request = request;
    if ecs.is_some() {
        // The appspec is all an ECS deployment needs: nothing to copy in.
        request.ecs = ecs;
        return state.driver.create_deployment(request, None).await;
    }
    let pin = state.fetcher.prepare(&mut request.revision).await.map_err(|e| fetch_error(&request.revision.id, e))?;
    let revision_id = request.revision.id.clone();
    let bundle = match pin {
        Pin::Now(bundle) => Some(bundle),
        Pin::Later => None,
    };
    let copy_later = bundle.is_none();
    let id = state.driver.create_deployment(request, bundle).await?;
    if copy_later {
        crate::fetches::spawn(state, id.clone(), revision_id);
    }
    Ok(id)
}

/// An ECS deployment's facts from its revision (an ECS appspec, given as
/// AppSpecContent or String), checked against the service and the task
/// definition before anything starts.
async fn ecs_facts(
    state: &AppState,
    service: &str,
    revision: &Revision,
) -> Result<ferry_core::deployment::EcsDeployment, OpError> {
    use ferry_core::resources::RevisionLocation;
    let RevisionLocation::Content { content, .. } = &revision.location else {
        return Err(OpError::Revision(
            "an ECS deployment's revision is its appspec: give it as AppSpecContent (or String)".into(),
        ));
    };
    let spec = match ferry_appspec::parse("appspec", content) {
        Ok(ferry_appspec::AppSpec::Ecs(spec)) => spec,
        Ok(_) => {
            return Err(OpError::Revision(format!(
                "service {service} takes an ECS appspec (Resources: - TargetService: Type: AWS::ECS::Service …),                  not a Server or Lambda one"
            )));
        }
        Err(e) => return Err(OpError::Revision(format!("invalid appspec: {e}"))),
    };
    let described = super::services::get(state, service).await?;
    // An ARN (`arn:aws:ecs:…:task-definition/web:2`) names `web:2`.
    let name = spec.task_definition.rsplit('/').next().unwrap_or(&spec.task_definition);
    let registered = super::task_definitions::get(state, name).await.map_err(|e| match e {
        OpError::TaskDefinitionNotFound(_) => OpError::Revision(format!("the appspec's TaskDefinition: {e}")),
        e => e,
    })?;
    if registered.status != "ACTIVE" {
        return Err(OpError::Revision(format!("task definition {} is INACTIVE (deregistered)", registered.name())));
    }
    if let Some(p) = registered.definition.placeholders().first() {
        return Err(OpError::Revision(format!(
            "task definition {} still has the image placeholder {p}: register it with real images",
            registered.name()
        )));
    }
    let Some(container) = registered.definition.container(&spec.container_name) else {
        return Err(OpError::Revision(format!(
            "the appspec's LoadBalancerInfo names container {:?}, which task definition {} does not have",
            spec.container_name,
            registered.name()
        )));
    };
    if !container.port_mappings.iter().any(|p| p.container_port == spec.container_port) {
        return Err(OpError::Revision(format!(
            "the appspec's LoadBalancerInfo names port {} of container {}, which task definition {} does not map",
            spec.container_port,
            container.name,
            registered.name()
        )));
    }
    match &described.service.load_balancer {
        Some(lb) if lb.container_name == spec.container_name && lb.container_port == spec.container_port => {}
        Some(lb) => {
            return Err(OpError::Revision(format!(
                "the appspec's LoadBalancerInfo (container {} port {}) is not what service {service}'s target group                  {} reaches (container {} port {})",
                spec.container_name, spec.container_port, lb.target_group, lb.container_name, lb.container_port
            )));
        }
        None => {
            return Err(OpError::Revision(format!(
                "service {service} has no target group: an ECS deployment moves traffic in one"
            )));
        }
    }
    for (event, function) in &spec.hooks {
        if !(function.starts_with("https://") || function.starts_with("http://")) {
            return Err(OpError::Revision(format!(
                "the {event} hook calls {function:?}: in ferry a hook function is an http(s) URL that receives \
                 DeploymentId and LifecycleEventHookExecutionId"
            )));
        }
    }
    Ok(ferry_core::deployment::EcsDeployment {
        service: service.to_string(),
        cluster: String::new(),
        task_definition: registered.name(),
        container_name: spec.container_name.clone(),
        container_port: spec.container_port,
        hooks: spec.hooks.clone(),
        routing: ferry_core::config::TrafficRouting::AllAtOnce,
        termination_wait_ms: 0,
    })
}

/// A fetch failure: the revision is refused, unless the server itself failed.
fn fetch_error(revision: &str, e: FetchError) -> OpError {
    match e {
        FetchError::Blob(ferry_blob::BlobError::Io { .. }) => OpError::Internal(format!("revision {revision}: {e}")),
        other => OpError::Revision(other.to_string()),
    }
}

/// A deployment by id.
pub async fn get(state: &AppState, id: &str) -> Result<Deployment, OpError> {
    match state.store.get_deployment(id).await {
        Ok(d) => Ok(d),
        Err(ferry_store::StoreError::NotFound) => Err(OpError::DeploymentNotFound(id.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// A new deployment of the same revision to the same group, with the same
/// config and file options (the console's Redeploy).
pub async fn redeploy(state: &AppState, id: &str, description: String) -> Result<String, OpError> {
    let d = get(state, id).await?;
    let revision = state.driver.resolve_revision(&d.application_name, Some(&d.revision.id)).await?;
    create(
        state,
        NewDeployment {
            application: d.application_name,
            group: d.group_name,
            revision,
            config_name: Some(d.config_name),
            description: Some(description),
            file_exists_behavior: d.file_exists_behavior,
            ignore_application_stop_failures: d.ignore_application_stop_failures,
            auto_rollback: None,
            green_selector: None,
            alarms: None,
            ecs: None,
            outdated_only: false,
        },
    )
    .await
}

/// StopDeployment: no new work; running events finish. `rollback`: `None`
/// defers to the deployment's auto-rollback configuration.
pub async fn stop(state: &AppState, id: &str, rollback: Option<bool>) -> Result<Deployment, OpError> {
    state.driver.stop(id, rollback).await
}

/// ContinueDeployment: ends a blue/green deployment's Ready wait, or its
/// wait to terminate the original instances.
pub async fn continue_(state: &AppState, id: &str, wait: Wait) -> Result<Deployment, OpError> {
    state.driver.continue_deployment(id, wait).await
}
