//! Applications, deployment groups, deployment configs and tagging; and the
//! operations for things only AWS has (GitHub connections, CloudFormation
//! external ids), answered as AWS answers when there are none.

use ferry_aws::arn::{self, Resource};
use ferry_aws::convert::{self, GroupContext};
use ferry_aws::validate::{self, Name};
use ferry_aws::{AwsError, AwsResult, token, wire};
use ferry_core::config::{BUILTIN_PREFIX, ComputePlatform, builtin_configs};
use ferry_core::deployment::{BlueAction, ReadyAction};
use ferry_core::resources::{AlarmConfig, Application, BlueGreenConfig, DeploymentGroup, InstanceSelector, Tag};
use ferry_store::StoreError;
use serde_json::{Value, json};

use super::{Ctx, json, no_application, no_group, store_error};
use crate::clock::now_millis;
use crate::ops;

const MAX_TAGS: usize = 50;

// ---------------------------------------------------------------- applications

pub async fn create_application(ctx: &Ctx<'_>, input: wire::CreateApplicationInput) -> AwsResult<Value> {
    let name = Name::Application.check(input.application_name.as_deref())?;
    let platform = convert::parse_compute_platform(input.compute_platform.as_deref())?;
    if platform == ComputePlatform::Lambda {
        return Err(unsupported_platform(platform));
    }
    let tags = convert::parse_tags(input.tags.as_deref().unwrap_or_default(), "InvalidTagsToAddException")?;
    let app = ops::applications::create(ctx.state, name, tags, platform).await?;
    Ok(json!({ "applicationId": app.id }))
}

pub fn unsupported_platform(platform: ComputePlatform) -> AwsError {
    AwsError::new(
        "InvalidComputePlatformException",
        format!(
            "ferry deploys to servers and container services: the {} compute platform is not supported (use Server or ECS).",
            platform.as_str()
        ),
    )
}

pub async fn get_application(ctx: &Ctx<'_>, input: wire::ApplicationNameInput) -> AwsResult<Value> {
    let app = ctx.application(input.application_name.as_deref()).await?;
    Ok(json!({ "application": json(&convert::application_info(&app))? }))
}

pub async fn batch_get_applications(ctx: &Ctx<'_>, input: wire::BatchGetApplicationsInput) -> AwsResult<Value> {
    let names = Name::Application.check_list(input.application_names.as_deref(), 100)?;
    let mut infos = Vec::new();
    for name in names {
        let app = ctx.application(Some(&name)).await?;
        infos.push(convert::application_info(&app));
    }
    Ok(json!({ "applicationsInfo": json(&infos)? }))
}

pub async fn list_applications(ctx: &Ctx<'_>, input: wire::NextTokenInput) -> AwsResult<Value> {
    let names: Vec<String> =
        ctx.state.store.list_applications().await.map_err(store_error)?.into_iter().map(|a| a.name).collect();
    let (page, next) = token::page(ctx.op, names, input.next_token.as_deref())?;
    Ok(with_token(json!({ "applications": page }), "nextToken", next))
}

pub async fn update_application(ctx: &Ctx<'_>, input: wire::UpdateApplicationInput) -> AwsResult<Value> {
    let app = ctx.application(input.application_name.as_deref()).await?;
    let new = Name::Application.check(input.new_application_name.as_deref())?;
    ops::applications::rename(ctx.state, &app.name, new).await?;
    Ok(json!({}))
}

/// Deleting an application that does not exist succeeds, as in CodeDeploy.
/// Its running deployments are stopped first.
pub async fn delete_application(ctx: &Ctx<'_>, input: wire::ApplicationNameInput) -> AwsResult<Value> {
    let name = Name::Application.check(input.application_name.as_deref())?;
    ops::applications::delete(ctx.state, name).await?;
    Ok(json!({}))
}

// ---------------------------------------------------------------- deployment groups

/// The IAM role ARN CodeDeploy requires: kept and shown, never assumed.
fn check_role(arn: &str) -> AwsResult<()> {
    let valid = arn.strip_prefix("arn:").and_then(|rest| rest.split_once(":iam::")).is_some_and(|(partition, rest)| {
        !partition.is_empty()
            && rest.split_once(":role/").is_some_and(|(account, role)| !account.is_empty() && !role.is_empty())
    });
    if !valid {
        return Err(AwsError::new(
            "InvalidRoleException",
            format!("The service role ARN {arn:?} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)."),
        ));
    }
    Ok(())
}

/// Everything of a create or update request that maps onto a group, applied
/// to `group`: members that are present replace what the group has. What
/// the result must obey, and whether what it names exists, is
/// `ops::groups`' to check.
fn apply_group_input(
    group: &mut DeploymentGroup,
    input: wire::GroupSettings<'_>,
    config: Option<String>,
) -> AwsResult<()> {
    if let Some(role) = input.service_role_arn.filter(|r| !r.is_empty()) {
        check_role(role)?;
        group.service_role_arn = Some(role.to_string());
    }
    if let Some(name) = config {
        group.deployment_config_name = name;
    }
    if let Some(filters) = &input.on_premises_instance_tag_filters {
        group.selector.tag_filters = convert::parse_tag_filters(filters, "InvalidTagException")?;
        if input.on_premises_tag_set.is_none() && !filters.is_empty() {
            group.selector.tag_set.clear();
        }
    }
    if let Some(set) = &input.on_premises_tag_set {
        group.selector.tag_set =
            convert::parse_tag_set(set.on_premises_tag_set_list.as_deref().unwrap_or_default(), "InvalidTagException")?;
        if input.on_premises_instance_tag_filters.is_none() && !group.selector.tag_set.is_empty() {
            group.selector.tag_filters.clear();
        }
    }
    if let Some(filters) = &input.ec2_tag_filters {
        group.ec2_selector.tag_filters = convert::parse_tag_filters(filters, "InvalidEC2TagException")?;
    }
    if let Some(set) = &input.ec2_tag_set {
        group.ec2_selector.tag_set =
            convert::parse_tag_set(set.ec2_tag_set_list.as_deref().unwrap_or_default(), "InvalidEC2TagException")?;
    }
    if let Some(names) = input.auto_scaling_groups {
        // Omitted: kept; `[]`: none. Each names a ferry scaling group.
        group.scaling_groups = names.to_vec();
    }
    if let Some(triggers) = &input.trigger_configurations {
        group.triggers = convert::parse_triggers(triggers)?;
    }
    if let Some(alarms) = &input.alarm_configuration {
        group.alarms = AlarmConfig {
            bake_time_ms: group.alarms.bake_time_ms,
            prometheus_url: group.alarms.prometheus_url.clone(),
            ..convert::parse_alarm_configuration(alarms)?
        };
    }
    if let Some(rollback) = &input.auto_rollback_configuration {
        group.auto_rollback = convert::parse_auto_rollback(rollback)?;
    }
    if let Some(strategy) = input.outdated_instances_strategy {
        group.outdated_instances_strategy = convert::parse_outdated_instances_strategy(strategy)?;
    }
    if let Some(style) = &input.deployment_style {
        let (blue_green, traffic_control) = check_style(style)?;
        group.traffic_control = traffic_control;
        group.blue_green = match (blue_green, group.blue_green) {
            (true, current) => {
                Some(current.unwrap_or(BlueGreenConfig { ready: ReadyAction::Continue, blue: BlueAction::KeepAlive }))
            }
            (false, _) => None,
        };
    }
    if let Some(config) = input.blue_green_deployment_configuration.as_ref().filter(|c| !is_empty_config(c)) {
        if group.blue_green.is_none() {
            return Err(AwsError::new(
                "InvalidBlueGreenDeploymentConfigurationException",
                "blueGreenDeploymentConfiguration applies to BLUE_GREEN groups: set deploymentStyle \
                 {deploymentType: BLUE_GREEN, deploymentOption: WITH_TRAFFIC_CONTROL} too.",
            ));
        }
        group.blue_green = Some(convert::parse_blue_green_configuration(config, group.blue_green)?);
    }
    if let Some(info) = &input.load_balancer_info {
        group.target_groups = convert::parse_load_balancer_info(info)?;
    }
    if let Some(services) = input.ecs_services {
        group.ecs_service = convert::parse_ecs_services(services)?;
    }
    if let Some(enabled) = input.termination_hook_enabled {
        group.termination_hook_enabled = enabled;
    }
    Ok(())
}

/// An empty object, list or null: what some clients send for "none".
fn is_empty_json(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(map) => map.values().all(is_empty_json),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn is_empty_config(c: &wire::BlueGreenDeploymentConfiguration) -> bool {
    c.deployment_ready_option.is_none()
        && c.terminate_blue_instances_on_deployment_success.is_none()
        && c.green_fleet_provisioning_option.is_none()
}

/// Whether the style is blue/green, and whether it asks for traffic
/// control (which blue/green always needs: traffic moves between fleets).
fn check_style(style: &wire::DeploymentStyle) -> AwsResult<(bool, bool)> {
    let kind = style.deployment_type.as_deref().unwrap_or("IN_PLACE");
    let option = style.deployment_option.as_deref().unwrap_or("WITHOUT_TRAFFIC_CONTROL");
    validate::one_of(kind, &["IN_PLACE", "BLUE_GREEN"], "InvalidDeploymentStyleException", "The deploymentType")?;
    validate::one_of(
        option,
        &["WITH_TRAFFIC_CONTROL", "WITHOUT_TRAFFIC_CONTROL"],
        "InvalidDeploymentStyleException",
        "The deploymentOption",
    )?;
    let blue_green = kind == "BLUE_GREEN";
    if blue_green && option != "WITH_TRAFFIC_CONTROL" {
        return Err(AwsError::new(
            "InvalidDeploymentStyleException",
            "A BLUE_GREEN deployment moves traffic between fleets: its deploymentOption must be WITH_TRAFFIC_CONTROL.",
        ));
    }
    Ok((blue_green, option == "WITH_TRAFFIC_CONTROL"))
}

pub async fn create_deployment_group(ctx: &Ctx<'_>, input: wire::CreateDeploymentGroupInput) -> AwsResult<Value> {
    let app = ctx.application(input.application_name.as_deref()).await?;
    let name = Name::DeploymentGroup.check(input.deployment_group_name.as_deref())?;
    if input.service_role_arn.as_deref().is_none_or(str::is_empty) {
        return Err(AwsError::new("RoleRequiredException", "The service role ARN (serviceRoleArn) is required."));
    }
    let config = config_name(ctx, input.deployment_config_name.as_deref()).await?;
    let mut group = DeploymentGroup {
        tags: convert::parse_tags(input.tags.as_deref().unwrap_or_default(), "InvalidTagsToAddException")?,
        ..DeploymentGroup::new(
            crate::random::uuid(),
            app.name.clone(),
            name.to_string(),
            InstanceSelector::default(),
            if app.compute_platform == ComputePlatform::Ecs {
                "CodeDeployDefault.ECSAllAtOnce".to_string()
            } else {
                crate::driver::Driver::default_config().to_string()
            },
            now_millis(),
        )
    };
    apply_group_input(&mut group, input.settings(), config)?;
    let group = ops::groups::create(ctx.state, group).await?;
    Ok(json!({ "deploymentGroupId": group.id }))
}

/// The canonical name of the config a request names (checked, looked up).
async fn config_name(ctx: &Ctx<'_>, name: Option<&str>) -> AwsResult<Option<String>> {
    match name {
        // Its compute platform is checked against the application's by `ops::groups`.
        Some(name) => Ok(Some(ctx.config(name).await?.name)),
        None => Ok(None),
    }
}

async fn group_info(ctx: &Ctx<'_>, g: &DeploymentGroup) -> AwsResult<wire::DeploymentGroupInfo> {
    let store = &ctx.state.store;
    let mut context = GroupContext::default();
    if let Some(id) = &g.target_revision_id
        && let Ok(r) = store.get_revision(id).await
    {
        context.target_revision = Some(convert::revision_location(&r));
    }
    if let Some(id) = &g.last_successful_deployment_id
        && let Ok(d) = store.get_deployment(id).await
    {
        context.last_successful = Some(convert::last_deployment(&d));
    }
    if let Some(id) = &g.last_attempted_deployment_id
        && let Ok(d) = store.get_deployment(id).await
    {
        context.last_attempted = Some(convert::last_deployment(&d));
    }
    Ok(convert::group_info(g, context))
}

pub async fn get_deployment_group(ctx: &Ctx<'_>, input: wire::DeploymentGroupNameInput) -> AwsResult<Value> {
    let app = ctx.application(input.application_name.as_deref()).await?;
    let group = ctx.group(&app.name, input.deployment_group_name.as_deref()).await?;
    Ok(json!({ "deploymentGroupInfo": json(&group_info(ctx, &group).await?)? }))
}

pub async fn batch_get_deployment_groups(
    ctx: &Ctx<'_>,
    input: wire::BatchGetDeploymentGroupsInput,
) -> AwsResult<Value> {
    let app = ctx.application(input.application_name.as_deref()).await?;
    let names = Name::DeploymentGroup.check_list(input.deployment_group_names.as_deref(), 100)?;
    let mut infos = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        match ctx.state.store.get_group(&app.name, &name).await {
            Ok(g) => infos.push(group_info(ctx, &g).await?),
            Err(StoreError::NotFound) => missing.push(name),
            Err(e) => return Err(store_error(e)),
        }
    }
    let mut out = json!({ "deploymentGroupsInfo": json(&infos)? });
    if !missing.is_empty() {
        out["errorMessage"] = json!(format!("Deployment groups not found: {}", missing.join(", ")));
    }
    Ok(out)
}

pub async fn list_deployment_groups(ctx: &Ctx<'_>, input: wire::ListDeploymentGroupsInput) -> AwsResult<Value> {
    let app = ctx.application(input.application_name.as_deref()).await?;
    let names: Vec<String> =
        ctx.state.store.list_groups(&app.name).await.map_err(store_error)?.into_iter().map(|g| g.name).collect();
    let (page, next) = token::page(ctx.op, names, input.next_token.as_deref())?;
    Ok(with_token(json!({ "applicationName": app.name, "deploymentGroups": page }), "nextToken", next))
}

pub async fn update_deployment_group(ctx: &Ctx<'_>, input: wire::UpdateDeploymentGroupInput) -> AwsResult<Value> {
    let app = ctx.application(input.application_name.as_deref()).await?;
    let current = Name::DeploymentGroup.check(input.current_deployment_group_name.as_deref())?;
    let new_name = match input.new_deployment_group_name.as_deref() {
        Some(new) => Some(Name::DeploymentGroup.check(Some(new))?.to_string()),
        None => None,
    };
    let config = config_name(ctx, input.deployment_config_name.as_deref()).await?;
    ops::groups::update(ctx.state, &app.name, current, |group| {
        if let Some(new) = new_name {
            group.name = new;
        }
        apply_group_input(group, input.settings(), config)
    })
    .await?;
    Ok(json!({ "hooksNotCleanedUp": [] }))
}

/// Deleting a group that does not exist succeeds, as in CodeDeploy; its
/// running and queued deployments are stopped first.
pub async fn delete_deployment_group(ctx: &Ctx<'_>, input: wire::DeploymentGroupNameInput) -> AwsResult<Value> {
    let app_name = Name::Application.check(input.application_name.as_deref())?;
    let name = Name::DeploymentGroup.check(input.deployment_group_name.as_deref())?;
    ops::groups::delete(ctx.state, app_name, name).await?;
    Ok(json!({ "hooksNotCleanedUp": [] }))
}

// ---------------------------------------------------------------- deployment configs

pub async fn create_deployment_config(ctx: &Ctx<'_>, input: wire::CreateDeploymentConfigInput) -> AwsResult<Value> {
    let name = Name::DeploymentConfig.check(input.deployment_config_name.as_deref())?;
    if name.starts_with(BUILTIN_PREFIX) {
        return Err(Name::DeploymentConfig.invalid_error(name, &format!("the prefix {BUILTIN_PREFIX} is reserved")));
    }
    let platform = convert::parse_compute_platform(input.compute_platform.as_deref())?;
    if platform == ComputePlatform::Lambda {
        return Err(unsupported_platform(platform));
    }
    if input.zonal_config.as_ref().is_some_and(|v| !is_empty_json(v)) {
        return Err(AwsError::new(
            "InvalidZonalDeploymentConfigurationException",
            "Zonal configs are not supported: ferry's on-premises instances have no Availability Zones.",
        ));
    }
    // A ferry extension: CodeDeploy shifts traffic by steps only for Lambda
    // and ECS; ferry also does it for blue/green deployments of servers.
    let traffic_routing = input.traffic_routing_config.as_ref().map(convert::parse_traffic_routing).transpose()?;
    if platform == ComputePlatform::Ecs {
        if input.minimum_healthy_hosts.is_some() {
            return Err(AwsError::new(
                "InvalidMinimumHealthyHostValueException",
                "An ECS deployment config has no minimumHealthyHosts: its trafficRoutingConfig says how traffic moves.",
            ));
        }
        let routing = traffic_routing.ok_or_else(|| {
            AwsError::new(
                "InvalidTrafficRoutingConfigurationException",
                "An ECS deployment config needs trafficRoutingConfig (AllAtOnce, TimeBasedCanary or TimeBasedLinear).",
            )
        })?;
        let config = ops::configs::create(ctx.state, name, platform, None, Some(routing)).await?;
        return Ok(json!({ "deploymentConfigId": config.id }));
    }
    let minimum = input.minimum_healthy_hosts.as_ref().ok_or_else(|| {
        AwsError::new(
            "InvalidMinimumHealthyHostValueException",
            "A Server deployment config needs minimumHealthyHosts (HOST_COUNT or FLEET_PERCENT).",
        )
    })?;
    let minimum = convert::parse_minimum_healthy_hosts(minimum)?;
    let config = ops::configs::create(ctx.state, name, platform, Some(minimum), traffic_routing).await?;
    Ok(json!({ "deploymentConfigId": config.id }))
}

pub async fn get_deployment_config(ctx: &Ctx<'_>, input: wire::DeploymentConfigNameInput) -> AwsResult<Value> {
    let name = Name::DeploymentConfig.check(input.deployment_config_name.as_deref())?;
    let config = ctx.config(name).await?;
    Ok(json!({ "deploymentConfigInfo": json(&convert::config_info(&config))? }))
}

pub async fn list_deployment_configs(ctx: &Ctx<'_>, input: wire::NextTokenInput) -> AwsResult<Value> {
    let mut names: Vec<String> = builtin_configs().into_iter().map(|c| c.name).collect();
    names.extend(ctx.state.store.list_configs().await.map_err(store_error)?.into_iter().map(|c| c.name));
    let (page, next) = token::page(ctx.op, names, input.next_token.as_deref())?;
    Ok(with_token(json!({ "deploymentConfigsList": page }), "nextToken", next))
}

/// Built-in configs cannot be deleted, nor configs a group uses; deleting
/// one that does not exist succeeds, as in CodeDeploy.
pub async fn delete_deployment_config(ctx: &Ctx<'_>, input: wire::DeploymentConfigNameInput) -> AwsResult<Value> {
    let name = Name::DeploymentConfig.check(input.deployment_config_name.as_deref())?;
    ops::configs::delete(ctx.state, name).await?;
    Ok(json!({}))
}

// ---------------------------------------------------------------- tagging

/// The resource an ARN names, for tagging.
enum Tagged {
    Application(Application),
    Group(Box<DeploymentGroup>),
}

impl Tagged {
    fn tags(&self) -> &[Tag] {
        match self {
            Tagged::Application(a) => &a.tags,
            Tagged::Group(g) => &g.tags,
        }
    }
}

async fn tagged(ctx: &Ctx<'_>, arn: Option<&str>) -> AwsResult<Tagged> {
    match arn::parse(arn)? {
        Resource::Application(name) => match ctx.state.store.get_application(&name).await {
            Ok(app) => Ok(Tagged::Application(app)),
            Err(StoreError::NotFound) => Err(no_application(&name)),
            Err(e) => Err(store_error(e)),
        },
        Resource::DeploymentGroup { application, group } => match ctx.state.store.get_group(&application, &group).await
        {
            Ok(g) => Ok(Tagged::Group(Box::new(g))),
            Err(StoreError::NotFound) => Err(no_group(&application, &group)),
            Err(e) => Err(store_error(e)),
        },
        Resource::DeploymentConfig(name) => {
            ctx.config(&name).await?;
            Err(AwsError::new(
                "ArnNotSupportedException",
                format!(
                    "Deployment configs cannot be tagged in ferry ({name}); tag applications and deployment groups."
                ),
            ))
        }
    }
}

/// Changes the tags of what `resource` is, as it is now (through the
/// operations layer, so a concurrent change to the same record is kept).
async fn retag(ctx: &Ctx<'_>, resource: &Tagged, edit: impl FnOnce(&mut Vec<Tag>) + Send) -> AwsResult<()> {
    match resource {
        Tagged::Application(app) => {
            ops::applications::retag(ctx.state, &app.name, edit).await?;
        }
        Tagged::Group(g) => {
            ops::groups::update(ctx.state, &g.application_name, &g.name, |group| {
                edit(&mut group.tags);
                Ok::<(), AwsError>(())
            })
            .await?;
        }
    }
    Ok(())
}

pub async fn tag_resource(ctx: &Ctx<'_>, input: wire::TagResourceInput) -> AwsResult<Value> {
    let resource = tagged(ctx, input.resource_arn.as_deref()).await?;
    let new = input.tags.as_deref().filter(|t| !t.is_empty()).ok_or_else(tag_required)?;
    let new = convert::parse_tags(new, "InvalidTagsToAddException")?;
    let mut tags = resource.tags().to_vec();
    merge_tags(&mut tags, new.clone());
    if tags.len() > MAX_TAGS {
        return Err(AwsError::new(
            "InvalidTagsToAddException",
            format!("A resource can have at most {MAX_TAGS} tags."),
        ));
    }
    retag(ctx, &resource, |tags| merge_tags(tags, new)).await?;
    Ok(json!({}))
}

/// New tags replace those with the same key.
fn merge_tags(tags: &mut Vec<Tag>, new: Vec<Tag>) {
    for tag in new {
        tags.retain(|t| t.key != tag.key);
        tags.push(tag);
    }
    tags.sort();
}

pub async fn untag_resource(ctx: &Ctx<'_>, input: wire::UntagResourceInput) -> AwsResult<Value> {
    let resource = tagged(ctx, input.resource_arn.as_deref()).await?;
    let keys = input.tag_keys.as_deref().filter(|k| !k.is_empty()).ok_or_else(tag_required)?;
    retag(ctx, &resource, |tags| tags.retain(|t| !keys.contains(&t.key))).await?;
    Ok(json!({}))
}

fn tag_required() -> AwsError {
    AwsError::new("TagRequiredException", "A tag was not specified.")
}

pub async fn list_tags_for_resource(ctx: &Ctx<'_>, input: wire::ListTagsForResourceInput) -> AwsResult<Value> {
    // This operation declares no does-not-exist exceptions: an ARN of
    // nothing is an invalid ARN here.
    let resource = tagged(ctx, input.resource_arn.as_deref()).await.map_err(|e| match e.code.as_ref() {
        "ApplicationDoesNotExistException" | "DeploymentGroupDoesNotExistException" => {
            AwsError::new("InvalidArnException", format!("The ARN names no existing resource: {}", e.message))
        }
        _ => e,
    })?;
    let tags: Vec<wire::Tag> = resource.tags().iter().map(convert::tag).collect();
    let (page, next) = token::page(ctx.op, tags, input.next_token.as_deref())?;
    Ok(with_token(json!({ "Tags": json(&page)? }), "NextToken", next))
}

// ---------------------------------------------------------------- AWS-only things

/// ferry has no GitHub connections (git revisions use the server's own git
/// credentials): the list is empty.
pub async fn list_github_account_token_names(ctx: &Ctx<'_>, input: wire::NextTokenInput) -> AwsResult<Value> {
    token::page(ctx.op, Vec::<String>::new(), input.next_token.as_deref())?;
    Ok(json!({ "tokenNameList": [] }))
}

pub async fn delete_github_account_token(_ctx: &Ctx<'_>, input: wire::GitHubTokenNameInput) -> AwsResult<Value> {
    let name = input.token_name.filter(|n| !n.is_empty()).ok_or_else(|| {
        AwsError::new(
            "GitHubAccountTokenNameRequiredException",
            "The name of the GitHub account connection was not specified.",
        )
    })?;
    Err(AwsError::new(
        "GitHubAccountTokenDoesNotExistException",
        format!(
            "No GitHub account connection named {name} exists: ferry fetches git revisions with the server's own git credentials."
        ),
    ))
}

/// Nothing in ferry is created by CloudFormation, so nothing matches.
pub async fn delete_resources_by_external_id(_ctx: &Ctx<'_>, _input: wire::ExternalIdInput) -> AwsResult<Value> {
    Ok(json!({}))
}

// ---------------------------------------------------------------- helpers

/// Adds `"<name>": token` to an output when there is a next page.
pub fn with_token(mut out: Value, name: &str, next: Option<String>) -> Value {
    if let Some(next) = next {
        out[name] = Value::String(next);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn role_arns_are_checked() {
        assert!(super::check_role("arn:aws:iam::123456789012:role/CodeDeployServiceRole").is_ok());
        assert!(super::check_role("arn:aws-cn:iam::1:role/r").is_ok());
        for bad in ["", "role", "arn:aws:iam::123:user/u", "arn:aws:iam:::role/r", "arn:aws:iam::1:role/"] {
            assert_eq!(super::check_role(bad).unwrap_err().code, "InvalidRoleException", "{bad}");
        }
    }

    #[test]
    fn only_in_place_styles() {
        use ferry_aws::wire::DeploymentStyle;
        let style =
            |t: &str, o: &str| DeploymentStyle { deployment_type: Some(t.into()), deployment_option: Some(o.into()) };
        assert_eq!(super::check_style(&style("IN_PLACE", "WITHOUT_TRAFFIC_CONTROL")).unwrap(), (false, false));
        assert_eq!(super::check_style(&style("IN_PLACE", "WITH_TRAFFIC_CONTROL")).unwrap(), (false, true));
        assert_eq!(super::check_style(&style("BLUE_GREEN", "WITH_TRAFFIC_CONTROL")).unwrap(), (true, true));
        assert_eq!(super::check_style(&DeploymentStyle::default()).unwrap(), (false, false));
        for (t, o) in [("BLUE_GREEN", "WITHOUT_TRAFFIC_CONTROL"), ("IN_PLACE", "SOMETIMES"), ("X", "Y")] {
            assert_eq!(super::check_style(&style(t, o)).unwrap_err().code, "InvalidDeploymentStyleException");
        }
    }
}
