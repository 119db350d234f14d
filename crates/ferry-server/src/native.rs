//! `/api/v1`: the native API the `ferry` CLI speaks (see `ferry_proto::api`).

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use ferry_core::deployment::DeploymentStatus;
use ferry_core::resources::{self, Application, DeploymentGroup, InstanceSelector, Subject};
use ferry_proto::api;
use ferry_store::{DeploymentFilter, StoreError};
use futures_util::TryStreamExt;

use crate::AppState;
use crate::auth::{Signed, authenticate};
use crate::clock::now_millis;
use crate::driver::{OpError, parse_file_exists};
use crate::error::{ApiError, ApiResult};
use crate::{ops, views};

mod builds;
mod pipelines;
mod scaling_groups;
mod secrets;
mod services;
mod task_definitions;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/applications", post(create_application).get(list_applications))
        .route("/api/v1/applications/{app}/groups", post(create_group).get(list_groups))
        .route("/api/v1/applications/{app}/groups/{group}", get(get_group))
        .route("/api/v1/applications/{app}/revisions", post(upload_revision).get(list_revisions))
        .route("/api/v1/deployments", post(create_deployment).get(list_deployments))
        .route("/api/v1/deployments/{id}", get(get_deployment))
        .route("/api/v1/deployments/{id}/stop", post(stop_deployment))
        .route("/api/v1/deployments/{id}/continue", post(continue_deployment))
        .route("/api/v1/instances", get(list_instances))
        .route("/api/v1/configs", post(create_config).get(list_configs))
        .merge(builds::routes())
        .merge(pipelines::routes())
        .merge(task_definitions::routes())
        .merge(services::routes())
        .merge(scaling_groups::routes())
        .merge(secrets::routes())
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        let message = e.to_string();
        match e {
            OpError::ApplicationNotFound(_) => ApiError::not_found("ApplicationDoesNotExist", message),
            OpError::GroupNotFound { .. } => ApiError::not_found("DeploymentGroupDoesNotExist", message),
            OpError::RevisionNotFound(_) | OpError::NoRevision(_) => {
                ApiError::not_found("RevisionDoesNotExist", message)
            }
            OpError::ConfigNotFound(_) => ApiError::not_found("DeploymentConfigDoesNotExist", message),
            OpError::DeploymentNotFound(_) => ApiError::not_found("DeploymentDoesNotExist", message),
            OpError::TargetGroupNotFound(_) => ApiError::not_found("TargetGroupDoesNotExist", message),
            OpError::TargetGroupExists(_) => ApiError::conflict("TargetGroupAlreadyExists", message),
            OpError::TargetGroupInUse { .. } => ApiError::conflict("TargetGroupInUse", message),
            OpError::ConfigInUse { .. } => ApiError::conflict("DeploymentConfigInUse", message),
            OpError::BuiltinConfig(_) => ApiError::bad_request("InvalidRequest", message),
            OpError::Unavailable(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "LoadBalancerUnavailable", message)
            }
            OpError::KeyNotFound(_) => ApiError::not_found("NoSuchKey", message),
            OpError::ProjectNotFound(_) => ApiError::not_found("BuildProjectDoesNotExist", message),
            OpError::ProjectExists(_) => ApiError::conflict("BuildProjectAlreadyExists", message),
            OpError::PipelineNotFound(_) => ApiError::not_found("PipelineDoesNotExist", message),
            OpError::TaskDefinitionNotFound(_) => ApiError::not_found("TaskDefinitionDoesNotExist", message),
            OpError::PipelineExists(_) => ApiError::conflict("PipelineAlreadyExists", message),
            OpError::ServiceNotFound(_) => ApiError::not_found("ServiceDoesNotExist", message),
            OpError::ServiceExists(_) => ApiError::conflict("ServiceAlreadyExists", message),
            OpError::ScalingGroupNotFound(_) => ApiError::not_found("ScalingGroupDoesNotExist", message),
            OpError::ScalingGroupExists(_) => ApiError::conflict("ScalingGroupAlreadyExists", message),
            OpError::Pipeline(e) => {
                use ferry_pipeline::execution::StepError as E;
                // CodePipeline's exception names, without the suffix.
                let code = e.exception().trim_end_matches("Exception");
                match e {
                    E::ExecutionNotFound(_) | E::StageNotFound(_) | E::ActionNotFound(_) => {
                        ApiError::not_found(code, message)
                    }
                    E::InvalidStructure(_) | E::Validation(_) => ApiError::bad_request(code, message),
                    _ => ApiError::conflict(code, message),
                }
            }
            OpError::BuildNotFound(_) => ApiError::not_found("BuildDoesNotExist", message),
            OpError::InstanceNotFound(_) => ApiError::not_found("NoSuchInstance", message),
            OpError::Key(refusal) => {
                use ops::keys::KeyRefusal as K;
                match refusal {
                    K::Description => ApiError::bad_request("InvalidDescription", message),
                    K::Scope(_) => ApiError::bad_request("InvalidScope", message),
                    K::LastAdmin { .. } => ApiError::conflict("LastAdminKey", message),
                    K::Own(_) => ApiError::conflict("OwnKey", message),
                    K::Agent(_) => ApiError::bad_request("AgentKey", message),
                    K::NoAgent(_) => ApiError::conflict("NoAgent", message),
                }
            }
            OpError::AlarmNotFound(_) => ApiError::not_found("AlarmNotFound", message),
            OpError::ApplicationExists(_) => ApiError::conflict("ApplicationAlreadyExists", message),
            OpError::GroupExists { .. } => ApiError::conflict("DeploymentGroupAlreadyExists", message),
            OpError::ConfigExists(_) => ApiError::conflict("DeploymentConfigAlreadyExists", message),
            OpError::ConfigLimitExceeded(_) => ApiError::conflict("DeploymentConfigLimitExceeded", message),
            OpError::AlreadyCompleted(_) => ApiError::conflict("DeploymentAlreadyCompleted", message),
            OpError::NotBlueGreen(_) => ApiError::conflict("UnsupportedActionForDeploymentType", message),
            OpError::NotWaiting { .. } => ApiError::conflict("DeploymentNotWaiting", message),
            OpError::Revision(_) => ApiError::bad_request("InvalidRevision", message),
            OpError::Refused(_) | OpError::Invalid(_) => ApiError::bad_request("InvalidRequest", message),
            OpError::ShuttingDown => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "ShuttingDown", message),
            OpError::Internal(m) => ApiError::internal(m),
            OpError::Store(e) => ApiError::internal(e),
        }
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("InvalidRequest", message)
}

async fn application_exists(state: &AppState, name: &str) -> ApiResult<Application> {
    Ok(ops::applications::get(state, name).await?)
}

async fn create_application(State(state): State<AppState>, request: Signed) -> ApiResult<Json<api::Application>> {
    let body: api::CreateApplication = request.json()?;
    request.caller.require_change(Subject::Application(&body.name))?;
    let platform = match body.compute_platform.as_deref() {
        None | Some("Server") => ferry_core::config::ComputePlatform::Server,
        Some("ECS") => ferry_core::config::ComputePlatform::Ecs,
        Some(other) => return Err(invalid(format!("compute platform {other:?}: Server or ECS"))),
    };
    let app = ops::applications::create(&state, &body.name, Vec::new(), platform).await?;
    Ok(Json(views::application(&app)))
}

async fn list_applications(State(state): State<AppState>, request: Signed) -> ApiResult<Json<Vec<api::Application>>> {
    request.caller.require_operator()?;
    let apps = state.store.list_applications().await?;
    Ok(Json(apps.iter().map(views::application).collect()))
}

async fn create_group(
    State(state): State<AppState>,
    Path(app): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::DeploymentGroup>> {
    let body: api::CreateGroup = request.json()?;
    request.caller.require_change(Subject::Group(&app, &body.name))?;
    ferry_core::ids::validate_name(&body.name).map_err(invalid)?;
    let selector = InstanceSelector {
        tag_filters: body.tag_filters.iter().map(views::parse_tag_filter).collect::<Result<_, _>>().map_err(invalid)?,
        tag_set: body
            .tag_set
            .iter()
            .map(|set| set.iter().map(views::parse_tag_filter).collect::<Result<Vec<_>, _>>())
            .collect::<Result<_, _>>()
            .map_err(invalid)?,
    };
    let auto_rollback = match &body.auto_rollback {
        Some(a) => views::parse_auto_rollback(a).map_err(invalid)?,
        None => Default::default(),
    };
    let alarms = match &body.alarms {
        Some(a) => views::parse_alarms(a).map_err(invalid)?,
        None => Default::default(),
    };
    let group = DeploymentGroup {
        auto_rollback,
        triggers: views::parse_triggers(&body.triggers).map_err(invalid)?,
        alarms,
        target_groups: body.target_groups.clone(),
        // Naming a target group is asking for traffic control.
        traffic_control: !body.target_groups.is_empty() || body.blue_green.is_some(),
        blue_green: body.blue_green.as_ref().map(views::parse_blue_green),
        update_new_instances: body.update_new_instances.unwrap_or(true),
        termination_hook_enabled: body.termination_hooks.unwrap_or(false),
        outdated_instances_strategy: match body.outdated_instances_strategy.as_deref().map(str::to_ascii_uppercase) {
            None => Default::default(),
            Some(s) if s == "UPDATE" => ferry_core::resources::OutdatedInstancesStrategy::Update,
            Some(s) if s == "IGNORE" => ferry_core::resources::OutdatedInstancesStrategy::Ignore,
            Some(other) => {
                return Err(invalid(format!("the outdated instances strategy {other:?} is not UPDATE or IGNORE")));
            }
        },
        ..DeploymentGroup::new(
            crate::random::uuid(),
            app.clone(),
            body.name.clone(),
            selector,
            body.deployment_config_name.clone().unwrap_or_else(|| crate::driver::Driver::default_config().to_string()),
            now_millis(),
        )
    };
    let group = ops::groups::create(&state, group).await?;
    let instances = state.driver.group_instances(&group).await?;
    Ok(Json(views::group(&group, instances)))
}

async fn list_groups(
    State(state): State<AppState>,
    Path(app): Path<String>,
    request: Signed,
) -> ApiResult<Json<Vec<api::DeploymentGroup>>> {
    request.caller.require_operator()?;
    application_exists(&state, &app).await?;
    let mut out = Vec::new();
    for g in state.store.list_groups(&app).await? {
        let instances = state.driver.group_instances(&g).await?;
        out.push(views::group(&g, instances));
    }
    Ok(Json(out))
}

async fn get_group(
    State(state): State<AppState>,
    Path((app, group)): Path<(String, String)>,
    request: Signed,
) -> ApiResult<Json<api::DeploymentGroup>> {
    request.caller.require_operator()?;
    application_exists(&state, &app).await?;
    let g = ops::groups::get(&state, &app, &group).await?;
    let instances = state.driver.group_instances(&g).await?;
    Ok(Json(views::group(&g, instances)))
}

#[derive(serde::Deserialize)]
struct UploadQuery {
    bundle_type: String,
    #[serde(default)]
    description: Option<String>,
}

/// Streams a bundle into the blob store. The request is signed over the
/// `x-amz-content-sha256` the client declares; the stored bytes must hash to it.
async fn upload_revision(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(query): Query<UploadQuery>,
    request: Request,
) -> ApiResult<Json<api::Revision>> {
    let (parts, body) = request.into_parts();
    let caller = authenticate(&state, &parts, &[]).await?;
    caller.require_change(Subject::Revision(&app))?;
    let declared = parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| invalid("a bundle upload must declare its SHA-256 in x-amz-content-sha256"))?
        .to_ascii_lowercase();
    if !matches!(query.bundle_type.as_str(), "zip" | "tar" | "tgz") {
        return Err(invalid(format!("bundle_type {:?} is not zip, tar or tgz", query.bundle_type)));
    }
    application_exists(&state, &app).await?;
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(stream);
    let info = state.blobs.put(reader, Some(&declared), state.config.max_bundle_bytes).await.map_err(|e| match e {
        ferry_blob::BlobError::DigestMismatch { .. } => ApiError::bad_request("BundleDigestMismatch", e.to_string()),
        ferry_blob::BlobError::TooLarge(_) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "BundleTooLarge", e.to_string())
        }
        e => ApiError::internal(e),
    })?;
    let revision = resources::Revision {
        id: revision_id(&app, &query.bundle_type, &info.sha256),
        application_name: app.clone(),
        location: resources::RevisionLocation::Blob { key: info.key },
        bundle_type: query.bundle_type.clone(),
        sha256: info.sha256,
        size: info.size,
        description: query.description.unwrap_or_default(),
        register_time: now_millis(),
        first_used_time: None,
        last_used_time: None,
        deployment_groups: Vec::new(),
        last_fetch: None,
    };
    state.store.put_revision(&revision).await?;
    // Pipelines whose source is this application's pushes start now; the
    // push itself has succeeded whatever they say.
    if let Err(e) = ops::pipeline_triggers::pushed(&state, &app, &revision.id).await {
        tracing::warn!(application = %app, revision = %revision.id, error = %e, "cannot start pipelines for a push");
    }
    Ok(Json(views::revision(&revision)))
}

use ops::applications::revision_id;

async fn list_revisions(
    State(state): State<AppState>,
    Path(app): Path<String>,
    request: Signed,
) -> ApiResult<Json<Vec<api::Revision>>> {
    request.caller.require_operator()?;
    application_exists(&state, &app).await?;
    Ok(Json(state.store.list_revisions(&app).await?.iter().map(views::revision).collect()))
}

async fn create_deployment(State(state): State<AppState>, request: Signed) -> ApiResult<Json<api::CreatedDeployment>> {
    let body: api::CreateDeployment = request.json()?;
    request.caller.require_change(Subject::Group(&body.application_name, &body.group_name))?;
    let id = create_deployment_from(&state, body).await?;
    Ok(Json(api::CreatedDeployment { deployment_id: id }))
}

/// Creates a deployment as `POST /api/v1/deployments` asks (the caller has
/// checked the role). Returns its id.
async fn create_deployment_from(state: &AppState, body: api::CreateDeployment) -> ApiResult<String> {
    let file_exists_behavior =
        match &body.file_exists_behavior {
            Some(name) => Some(parse_file_exists(name).ok_or_else(|| {
                invalid(format!("file_exists_behavior {name:?} is not DISALLOW, OVERWRITE or RETAIN"))
            })?),
            None => None,
        };
    let auto_rollback = match &body.auto_rollback {
        Some(a) => Some(views::parse_auto_rollback(a).map_err(invalid)?),
        None => None,
    };
    let green_selector = if body.green_tag_filters.is_empty() {
        None
    } else {
        let filters = body.green_tag_filters.iter().map(views::parse_tag_filter).collect::<Result<_, _>>();
        Some(InstanceSelector { tag_filters: filters.map_err(invalid)?, tag_set: Vec::new() })
    };
    ops::groups::get(state, &body.application_name, &body.group_name).await?;
    let revision = match (&body.from_build, &body.revision_id) {
        (Some(_), Some(_)) => return Err(invalid("give a revision or a build to deploy from, not both")),
        (Some(build), None) => ops::builds::artifact_revision(state, build, &body.application_name).await?,
        (None, id) => state.driver.resolve_revision(&body.application_name, id.as_deref()).await?,
    };
    let id = ops::deployments::create(
        state,
        ops::deployments::NewDeployment {
            application: body.application_name,
            group: body.group_name,
            revision,
            config_name: body.deployment_config_name,
            description: body.description,
            file_exists_behavior,
            ignore_application_stop_failures: body.ignore_application_stop_failures,
            auto_rollback,
            green_selector,
            alarms: None,
            ecs: None,
            outdated_only: false,
        },
    )
    .await?;
    Ok(id)
}

#[derive(serde::Deserialize, Default)]
struct ListQuery {
    application: Option<String>,
    group: Option<String>,
    status: Option<String>,
}

async fn list_deployments(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
    request: Signed,
) -> ApiResult<Json<Vec<api::DeploymentSummary>>> {
    request.caller.require_operator()?;
    let statuses = match &query.status {
        Some(list) => list
            .split(',')
            .map(|s| DeploymentStatus::from_name(s.trim()).ok_or_else(|| invalid(format!("unknown status {s:?}"))))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let filter =
        DeploymentFilter { application: query.application, group: query.group, statuses, ..Default::default() };
    Ok(Json(state.driver.list(filter).await?.iter().map(views::summary).collect()))
}

async fn get_deployment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::DeploymentView>> {
    request.caller.require_operator()?;
    let d = ops::deployments::get(&state, &id).await?;
    Ok(Json(views::deployment_now(&state, &d).await))
}

/// Whether the caller may act on the deployment (its group's scope).
pub(crate) async fn may_change_deployment(state: &AppState, caller: &crate::auth::Caller, id: &str) -> ApiResult<()> {
    crate::audit::note_target(id);
    match state.store.get_deployment(id).await {
        Ok(d) => caller.require_change(Subject::Group(&d.application_name, &d.group_name)),
        // An unknown deployment is checked as the strictest subject (as on
        // the AWS API); the driver then says it does not exist.
        Err(StoreError::NotFound) => caller.require_change(Subject::Global),
        Err(e) => Err(e.into()),
    }
}

async fn stop_deployment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::StopResult>> {
    may_change_deployment(&state, &request.caller, &id).await?;
    let body: api::StopDeployment = request.json()?;
    let d = ops::deployments::stop(&state, &id, Some(body.rollback)).await?;
    let (status, message) = if d.status.is_terminal() {
        ("Succeeded", "The deployment is stopped.")
    } else {
        ("Pending", "No more commands will be scheduled for execution in the deployment instances.")
    };
    Ok(Json(api::StopResult { status: status.into(), message: message.into() }))
}

#[derive(serde::Deserialize)]
struct ContinueBody {
    /// `ready` (move traffic now) or `termination` (terminate the originals now).
    #[serde(default = "ready")]
    wait: String,
}

fn ready() -> String {
    "ready".into()
}

async fn continue_deployment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::DeploymentView>> {
    may_change_deployment(&state, &request.caller, &id).await?;
    let body: ContinueBody = request.json()?;
    let wait = match body.wait.as_str() {
        "ready" => ferry_core::machine::Wait::Ready,
        "termination" => ferry_core::machine::Wait::Termination,
        other => return Err(invalid(format!("wait {other:?} is not ready or termination"))),
    };
    let d = ops::deployments::continue_(&state, &id, wait).await?;
    Ok(Json(views::deployment(&d)))
}

async fn list_instances(State(state): State<AppState>, request: Signed) -> ApiResult<Json<Vec<api::InstanceView>>> {
    request.caller.require_operator()?;
    let instances = state.store.list_instances(false).await?;
    Ok(Json(
        instances
            .iter()
            .map(|i| api::InstanceView {
                name: i.name.clone(),
                tags: i.tags.iter().map(|t| ferry_proto::Tag { key: t.key.clone(), value: t.value.clone() }).collect(),
                register_time: i.register_time,
                enrolled: i.agent_key_id.is_some(),
                agent_version: i.agent_version.clone(),
                last_seen: state.driver.last_seen_millis(&i.name),
                online: state.driver.is_online(&i.name),
                container_engine: state.driver.services.engine(&i.name),
            })
            .collect(),
    ))
}

fn config_view(c: &ferry_core::config::DeploymentConfig) -> api::DeploymentConfig {
    use ferry_core::config::MinimumHealthyHosts as M;
    api::DeploymentConfig {
        id: c.id.clone(),
        name: c.name.clone(),
        compute_platform: c.compute_platform.as_str().to_string(),
        minimum_healthy_hosts: c.minimum_healthy_hosts.map(|m| match m {
            M::HostCount(v) => api::MinimumHealthyHosts { kind: "HOST_COUNT".into(), value: v },
            M::FleetPercent(v) => api::MinimumHealthyHosts { kind: "FLEET_PERCENT".into(), value: v },
            M::MostConcurrency => api::MinimumHealthyHosts { kind: "MOST_CONCURRENCY".into(), value: 1 },
        }),
        traffic_routing: c.traffic_routing.map(|r| {
            use ferry_core::config::TrafficRouting as T;
            match r {
                T::AllAtOnce => api::TrafficRouting { kind: "AllAtOnce".into(), percentage: 100, interval_seconds: 0 },
                T::TimeBasedCanary { percentage, interval_seconds } => {
                    api::TrafficRouting { kind: "TimeBasedCanary".into(), percentage, interval_seconds }
                }
                T::TimeBasedLinear { percentage, interval_seconds } => {
                    api::TrafficRouting { kind: "TimeBasedLinear".into(), percentage, interval_seconds }
                }
            }
        }),
        builtin: c.name.starts_with(ferry_core::config::BUILTIN_PREFIX),
    }
}

async fn create_config(State(state): State<AppState>, request: Signed) -> ApiResult<Json<api::DeploymentConfig>> {
    use ferry_core::config::{MinimumHealthyHosts as M, TrafficRouting as T};
    request.caller.require_writer()?;
    let body: api::CreateConfig = request.json()?;
    let minimum = match body.minimum_healthy_hosts.kind.as_str() {
        "HOST_COUNT" => M::HostCount(body.minimum_healthy_hosts.value),
        "FLEET_PERCENT" => M::FleetPercent(body.minimum_healthy_hosts.value),
        other => {
            return Err(invalid(format!("minimum healthy hosts type {other:?} is not HOST_COUNT or FLEET_PERCENT")));
        }
    };
    let traffic_routing = match &body.traffic_routing {
        None => None,
        Some(r) => Some(match r.kind.as_str() {
            "AllAtOnce" => T::AllAtOnce,
            "TimeBasedCanary" => T::TimeBasedCanary { percentage: r.percentage, interval_seconds: r.interval_seconds },
            "TimeBasedLinear" => T::TimeBasedLinear { percentage: r.percentage, interval_seconds: r.interval_seconds },
            other => {
                return Err(invalid(format!(
                    "traffic routing {other:?} is not AllAtOnce, TimeBasedCanary or TimeBasedLinear"
                )));
            }
        }),
    };
    let platform = match body.compute_platform.as_deref() {
        None | Some("Server") => ferry_core::config::ComputePlatform::Server,
        Some("ECS") => ferry_core::config::ComputePlatform::Ecs,
        Some(other) => return Err(invalid(format!("compute platform {other:?}: Server or ECS"))),
    };
    let minimum = (platform == ferry_core::config::ComputePlatform::Server).then_some(minimum);
    let config = ops::configs::create(&state, &body.name, platform, minimum, traffic_routing).await?;
    Ok(Json(config_view(&config)))
}

async fn list_configs(State(state): State<AppState>, request: Signed) -> ApiResult<Json<Vec<api::DeploymentConfig>>> {
    request.caller.require_operator()?;
    let mut all = ferry_core::config::builtin_configs();
    all.extend(state.store.list_configs().await?);
    Ok(Json(all.iter().map(config_view).collect()))
}
