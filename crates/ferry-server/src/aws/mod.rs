//! `POST /`: CodeDeploy's (and CodeBuild's) JSON 1.1 API, for the AWS CLI and the SDKs.
//!
//! Each request is authenticated (SigV4, the same keys as the native API),
//! its operation read from `X-Amz-Target`, its body decoded with
//! `ferry-aws`, and the work done against the store and the driver exactly
//! as the native API does it. Every answer carries `x-amzn-RequestId`;
//! errors are AWS's (`__type`, `message`, `x-amzn-ErrorType`).
//!
//! # Layout
//! - `resources`: applications, deployment groups, deployment configs,
//!   tagging, and the AWS-only operations ferry has nothing for.
//! - `revisions`: application revisions (S3, git, inline, and `ferry push`'s).
//! - `deployments`: deployments, their targets and instances.
//! - `onprem`: on-premises instances.
//! - `codebuild`: CodeBuild's API (`CodeBuild_20161006.*` targets, signed
//!   for `codebuild`) on the same endpoint, over `ops::builds`.

mod codebuild;
mod codepipeline;
mod deployments;
mod onprem;
mod resources;
mod revisions;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use ferry_aws::arn::Arns;
use ferry_aws::validate::Name;
use ferry_aws::{AwsError, AwsResult, Named, Operation, Request as AwsRequest};
use ferry_core::config::DeploymentConfig;
use ferry_core::deployment::Deployment;
use ferry_core::resources::{Application, DeploymentGroup, Role, Subject};
use ferry_store::StoreError;
use serde_json::Value;

use crate::AppState;
use crate::auth::{Caller, Service, verify_request};
use crate::driver::OpError;

/// Largest request body (CodeDeploy's requests are small; inline appspecs
/// are the largest).
pub(crate) const MAX_BODY: usize = 2 << 20;

pub fn routes() -> Router<AppState> {
    Router::new().route("/", post(handle))
}

/// What a handler works with.
pub(crate) struct Ctx<'a> {
    pub state: &'a AppState,
    pub caller: Caller,
    pub arns: Arns,
    pub op: Operation,
}

async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let request_id = crate::random::uuid();
    let (parts, body) = request.into_parts();
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    // One endpoint, two services: the target names the service, and the
    // request must be signed for that one.
    let result = if target.is_some_and(|t| t.starts_with(ferry_aws::codebuild::TARGET_PREFIX)) {
        codebuild::handle(&state, &parts, body).await
    } else if target.is_some_and(|t| t.starts_with(ferry_aws::codepipeline::TARGET_PREFIX)) {
        codepipeline::handle(&state, &parts, body).await
    } else {
        codedeploy(&state, &parts, body).await
    };
    respond(&request_id, result)
}

/// The request's body, within [`MAX_BODY`].
pub(crate) async fn read_body(body: axum::body::Body) -> AwsResult<Bytes> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        AwsError::new("RequestEntityTooLargeException", format!("The request body exceeds {MAX_BODY} bytes."))
            .with_status(413)
    })
}

/// The caller of a request signed for `service`.
pub(crate) async fn verify(
    state: &AppState,
    service: Service,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> AwsResult<Caller> {
    verify_request(state, service, parts, body)
        .await
        .map_err(|f| AwsError::new(f.aws_code, f.message).with_status(f.status.as_u16()))
}

/// Logs the outcome of a call as every AWS operation does.
pub(crate) fn log_outcome(operation: &str, caller: &Caller, outcome: &AwsResult<Value>) {
    match outcome {
        Ok(_) => tracing::debug!(operation, key = %caller.key_id, "aws api call"),
        Err(e) if e.status >= 500 => {
            tracing::error!(operation, key = %caller.key_id, error = %e, "aws api call failed")
        }
        Err(e) => tracing::info!(operation, key = %caller.key_id, error = %e.code, "aws api call refused"),
    }
}

async fn codedeploy(state: &AppState, parts: &axum::http::request::Parts, body: axum::body::Body) -> AwsResult<Value> {
    // The operation is named before the signature is checked, so that a
    // refused (forged, expired) call is audited as what it claimed to be.
    let op = Operation::from_target(parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()));
    if let Ok(op) = op {
        crate::audit::note_action(op.name());
    }
    let body = read_body(body).await?;
    let caller = verify(state, Service::CodeDeploy, parts, &body).await?;
    let op = op?;
    let request = AwsRequest::decode(op, &body)?;
    authorize(state, &caller, &request).await?;
    let arns = Arns { region: state.config.aws_region.clone(), account: state.config.aws_account_id.clone() };
    let ctx = Ctx { state, caller, arns, op };
    let outcome = dispatch(&ctx, request).await;
    log_outcome(op.name(), &ctx.caller, &outcome);
    outcome
}

fn respond(request_id: &str, result: AwsResult<Value>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ferry_aws::CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    match result {
        Ok(value) => (StatusCode::OK, headers, Bytes::from(value.to_string())).into_response(),
        Err(e) => {
            crate::audit::note_error(&e.code);
            if let Ok(code) = HeaderValue::from_str(&e.code) {
                headers.insert("x-amzn-errortype", code);
            }
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, headers, Bytes::from(e.body())).into_response()
        }
    }
}

/// Agents may not use the AWS API; read-only keys only read; deployers
/// limited to applications and groups change only those (the same rule as
/// the native API's, `Caller::may_change`). What a call changes is read from
/// the decoded request its handler acts on ([`AwsRequest::changes`]).
async fn authorize(state: &AppState, caller: &Caller, request: &AwsRequest) -> AwsResult<()> {
    let op = request.operation();
    if caller.role == Role::Agent {
        return Err(AwsError::access_denied(format!(
            "Access key {} belongs to an agent and cannot call {}.",
            caller.key_id,
            op.name()
        )));
    }
    if !op.mutates() {
        return Ok(());
    }
    for named in request.changes() {
        let subject = resolve(state, named).await?;
        if let Err(why) = caller.may_change(subject.subject()) {
            return Err(AwsError::access_denied(format!("{why}, so it cannot call {}.", op.name())));
        }
    }
    Ok(())
}

/// A [`Subject`] with its names owned.
enum Owned {
    Global,
    Application(String),
    Revision(String),
    Group(String, String),
}

impl Owned {
    fn subject(&self) -> Subject<'_> {
        match self {
            Owned::Global => Subject::Global,
            Owned::Application(a) => Subject::Application(a),
            Owned::Revision(a) => Subject::Revision(a),
            Owned::Group(a, g) => Subject::Group(a, g),
        }
    }
}

/// The subject of a name: a deployment's group (looked up), an ARN's
/// resource; what cannot be resolved is checked as global (the strictest),
/// and the handler then refuses the bad input.
async fn resolve(state: &AppState, named: Named<'_>) -> AwsResult<Owned> {
    Ok(match named {
        Named::Everything => Owned::Global,
        Named::Application(a) => Owned::Application(a.to_string()),
        Named::Revisions(a) => Owned::Revision(a.to_string()),
        Named::Group(a, g) => Owned::Group(a.to_string(), g.to_string()),
        Named::Deployment(id) => match state.store.get_deployment(id).await {
            Ok(d) => Owned::Group(d.application_name, d.group_name),
            Err(StoreError::NotFound) => Owned::Global,
            Err(e) => return Err(store_error(e)),
        },
        Named::Arn(arn) => match ferry_aws::arn::parse(Some(arn)) {
            Ok(ferry_aws::arn::Resource::Application(a)) => Owned::Application(a),
            Ok(ferry_aws::arn::Resource::DeploymentGroup { application, group }) => Owned::Group(application, group),
            _ => Owned::Global,
        },
    })
}

async fn dispatch(ctx: &Ctx<'_>, request: AwsRequest) -> AwsResult<Value> {
    use AwsRequest::*;
    match request {
        CreateApplication(i) => resources::create_application(ctx, i).await,
        GetApplication(i) => resources::get_application(ctx, i).await,
        BatchGetApplications(i) => resources::batch_get_applications(ctx, i).await,
        ListApplications(i) => resources::list_applications(ctx, i).await,
        UpdateApplication(i) => resources::update_application(ctx, i).await,
        DeleteApplication(i) => resources::delete_application(ctx, i).await,
        CreateDeploymentGroup(i) => resources::create_deployment_group(ctx, i).await,
        GetDeploymentGroup(i) => resources::get_deployment_group(ctx, i).await,
        BatchGetDeploymentGroups(i) => resources::batch_get_deployment_groups(ctx, i).await,
        ListDeploymentGroups(i) => resources::list_deployment_groups(ctx, i).await,
        UpdateDeploymentGroup(i) => resources::update_deployment_group(ctx, i).await,
        DeleteDeploymentGroup(i) => resources::delete_deployment_group(ctx, i).await,
        CreateDeploymentConfig(i) => resources::create_deployment_config(ctx, i).await,
        GetDeploymentConfig(i) => resources::get_deployment_config(ctx, i).await,
        ListDeploymentConfigs(i) => resources::list_deployment_configs(ctx, i).await,
        DeleteDeploymentConfig(i) => resources::delete_deployment_config(ctx, i).await,
        TagResource(i) => resources::tag_resource(ctx, i).await,
        UntagResource(i) => resources::untag_resource(ctx, i).await,
        ListTagsForResource(i) => resources::list_tags_for_resource(ctx, i).await,
        ListGitHubAccountTokenNames(i) => resources::list_github_account_token_names(ctx, i).await,
        DeleteGitHubAccountToken(i) => resources::delete_github_account_token(ctx, i).await,
        DeleteResourcesByExternalId(i) => resources::delete_resources_by_external_id(ctx, i).await,
        RegisterApplicationRevision(i) => revisions::register(ctx, i).await,
        GetApplicationRevision(i) => revisions::get(ctx, i).await,
        BatchGetApplicationRevisions(i) => revisions::batch_get(ctx, i).await,
        ListApplicationRevisions(i) => revisions::list(ctx, i).await,
        CreateDeployment(i) => deployments::create(ctx, i).await,
        GetDeployment(i) => deployments::get(ctx, i).await,
        BatchGetDeployments(i) => deployments::batch_get(ctx, i).await,
        ListDeployments(i) => deployments::list(ctx, i).await,
        StopDeployment(i) => deployments::stop(ctx, i).await,
        ContinueDeployment(i) => deployments::continue_deployment(ctx, i).await,
        SkipWaitTimeForInstanceTermination(i) => deployments::skip_wait(ctx, i).await,
        PutLifecycleEventHookExecutionStatus(i) => deployments::put_hook_status(ctx, i).await,
        GetDeploymentTarget(i) => deployments::get_target(ctx, i).await,
        BatchGetDeploymentTargets(i) => deployments::batch_get_targets(ctx, i).await,
        ListDeploymentTargets(i) => deployments::list_targets(ctx, i).await,
        GetDeploymentInstance(i) => deployments::get_instance(ctx, i).await,
        BatchGetDeploymentInstances(i) => deployments::batch_get_instances(ctx, i).await,
        ListDeploymentInstances(i) => deployments::list_instances(ctx, i).await,
        RegisterOnPremisesInstance(i) => onprem::register(ctx, i).await,
        DeregisterOnPremisesInstance(i) => onprem::deregister(ctx, i).await,
        GetOnPremisesInstance(i) => onprem::get(ctx, i).await,
        BatchGetOnPremisesInstances(i) => onprem::batch_get(ctx, i).await,
        ListOnPremisesInstances(i) => onprem::list(ctx, i).await,
        AddTagsToOnPremisesInstances(i) => onprem::add_tags(ctx, i).await,
        RemoveTagsFromOnPremisesInstances(i) => onprem::remove_tags(ctx, i).await,
    }
}

// ---------------------------------------------------------------- shared helpers

/// A store failure is ferry's fault, never the caller's.
pub(crate) fn store_error(e: StoreError) -> AwsError {
    AwsError::internal(format!("state store: {e}"))
}

pub(crate) fn json<T: serde::Serialize>(value: &T) -> AwsResult<Value> {
    serde_json::to_value(value).map_err(|e| AwsError::internal(format!("encoding the response: {e}")))
}

pub(crate) fn no_application(name: &str) -> AwsError {
    AwsError::new("ApplicationDoesNotExistException", format!("No application found for name: {name}"))
}

pub(crate) fn no_group(application: &str, group: &str) -> AwsError {
    AwsError::new(
        "DeploymentGroupDoesNotExistException",
        format!("No Deployment Group found for name: {group} (application {application})"),
    )
}

pub(crate) fn no_deployment(id: &str) -> AwsError {
    AwsError::new("DeploymentDoesNotExistException", format!("The deployment {id} could not be found."))
}

pub(crate) fn no_config(name: &str) -> AwsError {
    AwsError::new(
        "DeploymentConfigDoesNotExistException",
        format!("No deployment configuration found for name: {name}"),
    )
}

impl Ctx<'_> {
    /// The checked application name of a request, and the application.
    pub async fn application(&self, name: Option<&str>) -> AwsResult<Application> {
        let name = Name::Application.check(name)?;
        match self.state.store.get_application(name).await {
            Ok(app) => Ok(app),
            Err(StoreError::NotFound) => Err(no_application(name)),
            Err(e) => Err(store_error(e)),
        }
    }

    pub async fn group(&self, application: &str, name: Option<&str>) -> AwsResult<DeploymentGroup> {
        let name = Name::DeploymentGroup.check(name)?;
        match self.state.store.get_group(application, name).await {
            Ok(g) => Ok(g),
            Err(StoreError::NotFound) => Err(no_group(application, name)),
            Err(e) => Err(store_error(e)),
        }
    }

    pub async fn deployment(&self, id: Option<&str>) -> AwsResult<Deployment> {
        let id = ferry_aws::validate::deployment_id(id)?;
        match self.state.store.get_deployment(id).await {
            Ok(d) => Ok(d),
            Err(StoreError::NotFound) => Err(no_deployment(id)),
            Err(e) => Err(store_error(e)),
        }
    }

    /// A deployment config for servers, by its (checked) name.
    pub async fn server_config(&self, name: &str) -> AwsResult<DeploymentConfig> {
        let name = Name::DeploymentConfig.check(Some(name))?;
        let config = self.config(name).await?;
        if config.compute_platform != ferry_core::config::ComputePlatform::Server {
            return Err(AwsError::new(
                "InvalidDeploymentConfigNameException",
                format!(
                    "The deployment config {name} is for the {} compute platform, not Server.",
                    config.compute_platform.as_str()
                ),
            ));
        }
        Ok(config)
    }

    /// A deployment config, built-in or custom.
    pub async fn config(&self, name: &str) -> AwsResult<DeploymentConfig> {
        Ok(crate::ops::configs::get(self.state, name).await?)
    }
}

/// The operations' refusals in AWS's words: each rule has its exception.
impl From<OpError> for AwsError {
    fn from(e: OpError) -> Self {
        use ferry_core::plan::Rule;
        let message = e.to_string();
        match e {
            OpError::ApplicationNotFound(name) => no_application(&name),
            OpError::GroupNotFound { application, group } => no_group(&application, &group),
            OpError::RevisionNotFound(_) | OpError::NoRevision(_) => {
                AwsError::new("RevisionDoesNotExistException", message)
            }
            OpError::ConfigNotFound(name) => no_config(&name),
            OpError::DeploymentNotFound(id) => no_deployment(&id),
            OpError::TargetGroupNotFound(_) => AwsError::new("InvalidLoadBalancerInfoException", message),
            OpError::AlarmNotFound(_) => AwsError::new("InvalidAlarmConfigException", message),
            OpError::ApplicationExists(name) => AwsError::new(
                "ApplicationAlreadyExistsException",
                format!("An application with the name {name} already exists."),
            ),
            OpError::GroupExists { application, group } => AwsError::new(
                "DeploymentGroupAlreadyExistsException",
                format!("A deployment group named {group} already exists for application {application}."),
            ),
            OpError::ConfigExists(name) => AwsError::new(
                "DeploymentConfigAlreadyExistsException",
                format!("A deployment configuration named {name} already exists."),
            ),
            OpError::ConfigLimitExceeded(_) => AwsError::new("DeploymentConfigLimitExceededException", message),
            OpError::ConfigInUse { name, application, group } => AwsError::new(
                "DeploymentConfigInUseException",
                format!("The deployment configuration {name} is used by deployment group {group} of {application}."),
            ),
            OpError::BuiltinConfig(name) => AwsError::new(
                "InvalidOperationException",
                format!("The predefined deployment configuration {name} cannot be deleted."),
            ),
            // Build projects and builds reach only CodeBuild's API: its names.
            OpError::ProjectNotFound(_) | OpError::BuildNotFound(_) => {
                ferry_aws::codebuild::validate::not_found(message)
            }
            OpError::ProjectExists(name) => ferry_aws::codebuild::validate::already_exists(&name),
            // Pipelines reach only CodePipeline's API: its names.
            OpError::PipelineNotFound(_) => AwsError::new("PipelineNotFoundException", message),
            OpError::PipelineExists(_) => AwsError::new("PipelineNameInUseException", message),
            // CodeDeploy's name for a deployment group's missing ECS service.
            OpError::ServiceNotFound(_) => AwsError::new("InvalidECSServiceException", message),
            // CodeDeploy's name for a deployment group's missing Auto Scaling group.
            OpError::ScalingGroupNotFound(_) => AwsError::new("InvalidAutoScalingGroupException", message),
            OpError::Pipeline(e) => AwsError::new(e.exception(), message),
            // Target groups and keys have no AWS operations: these do not
            // reach this API, but say what they are if they ever do.
            OpError::TargetGroupExists(_)
            | OpError::TaskDefinitionNotFound(_)
            | OpError::ServiceExists(_)
            | OpError::ScalingGroupExists(_)
            | OpError::TargetGroupInUse { .. }
            | OpError::KeyNotFound(_)
            | OpError::InstanceNotFound(_)
            | OpError::Key(_) => AwsError::new("InvalidInputException", message),
            OpError::Unavailable(m) => AwsError::new("ServiceUnavailable", m).with_status(503),
            OpError::Refused(refusal) => {
                let code = match refusal.rule {
                    Rule::ComputePlatform => "InvalidDeploymentConfigNameException",
                    Rule::TrafficRouting => "InvalidTrafficRoutingConfigurationException",
                    Rule::MinimumHealthyHosts => "InvalidMinimumHealthyHostValueException",
                    Rule::LoadBalancer => "InvalidLoadBalancerInfoException",
                    Rule::BlueGreen => "InvalidBlueGreenDeploymentConfigurationException",
                    Rule::TargetInstances => "InvalidTargetInstancesException",
                    Rule::Alarm => "InvalidAlarmConfigException",
                    Rule::Trigger => "InvalidTriggerConfigException",
                    Rule::Tags => "InvalidOnPremisesTagCombinationException",
                    Rule::Ec2Tags => "InvalidEC2TagCombinationException",
                };
                AwsError::new(code, message)
            }
            OpError::Revision(m) => AwsError::new("InvalidRevisionException", m),
            OpError::AlreadyCompleted(id) => AwsError::new(
                "DeploymentAlreadyCompletedException",
                format!("The deployment {id} has already completed."),
            ),
            OpError::Invalid(m) => AwsError::new("InvalidInputException", m),
            OpError::NotBlueGreen(_) => AwsError::new("UnsupportedActionForDeploymentTypeException", message),
            OpError::NotWaiting { .. } => AwsError::new("DeploymentIsNotInReadyStateException", message),
            OpError::ShuttingDown => AwsError::new("ServiceUnavailable", message).with_status(503),
            OpError::Internal(m) => AwsError::internal(m),
            OpError::Store(e) => store_error(e),
        }
    }
}
