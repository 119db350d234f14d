//! The Lambda and ECS platforms: `Resources` and `Hooks`.

use std::collections::HashMap;

use super::yaml::{Key, Node, Resolved, Value};
use super::{Ctx, Fields, check_version, child, index, list, string, whole_number};
use crate::{
    AppSpec, AppSpecError, CapacityProvider, ECS_HOOK_EVENTS, EcsAppSpec, EcsNetwork, LAMBDA_HOOK_EVENTS,
    LambdaAppSpec, LambdaFunction,
};

const TOP_LEVEL_KEYS: [&str; 3] = ["version", "Resources", "Hooks"];
const LAMBDA_TYPE: &str = "AWS::Lambda::Function";
const ECS_TYPE: &str = "AWS::ECS::Service";

/// One `Resources` item: `- logicalName: {Type, Properties}`.
struct Resource<'n> {
    path: String,
    logical_name: &'n Key,
    type_: String,
    type_node: &'n Node,
    properties: Fields<'n>,
}

pub(super) fn parse(ctx: &Ctx<'_>, root: &Fields<'_>, resources: &Node) -> Result<AppSpec, AppSpecError> {
    root.check_known(ctx, &TOP_LEVEL_KEYS)?;
    check_version(ctx, root)?;
    let resources = root.require(ctx, "Resources", "a list of resources").map(|_| resources)?;
    let items = list(ctx, "Resources", resources, "a list of resources, each `- name: {Type, Properties}`")?;
    if items.is_empty() {
        return Err(ctx.expected("Resources", resources, "at least one resource"));
    }
    let mut parsed: Vec<Resource<'_>> = Vec::with_capacity(items.len());
    let mut names: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let r = resource(ctx, i, item)?;
        if let Some(first) = names.insert(&r.logical_name.text, r.logical_name.line) {
            return Err(ctx.err(
                &r.path,
                Some(r.logical_name.line),
                format!("duplicate resource name `{}` (first given on line {first})", r.logical_name.text),
            ));
        }
        parsed.push(r);
    }

    match parsed[0].type_.as_str() {
        LAMBDA_TYPE => {
            let mut functions = Vec::with_capacity(parsed.len());
            for r in &parsed {
                if r.type_ != LAMBDA_TYPE {
                    return Err(ctx.expected(
                        &child(&r.path, "Type"),
                        r.type_node,
                        &format!("{LAMBDA_TYPE} (a Lambda appspec holds only Lambda functions)"),
                    ));
                }
                functions.push(lambda_function(ctx, r)?);
            }
            let hooks = hooks(ctx, root, &LAMBDA_HOOK_EVENTS)?;
            Ok(AppSpec::Lambda(LambdaAppSpec { functions, hooks }))
        }
        ECS_TYPE => {
            if let Some(extra) = items.get(1) {
                return Err(ctx.at(
                    &index("Resources", 1),
                    extra,
                    format!("expected a single {ECS_TYPE} resource in an ECS appspec, got {}", items.len()),
                ));
            }
            let mut spec = ecs_service(ctx, &parsed[0])?;
            spec.hooks = hooks(ctx, root, &ECS_HOOK_EVENTS)?;
            Ok(AppSpec::Ecs(spec))
        }
        _ => Err(ctx.expected(
            &child(&parsed[0].path, "Type"),
            parsed[0].type_node,
            &format!("{LAMBDA_TYPE} or {ECS_TYPE}"),
        )),
    }
}

fn resource<'n>(ctx: &Ctx<'_>, i: usize, node: &'n Node) -> Result<Resource<'n>, AppSpecError> {
    const SHAPE: &str = "a resource `name: {Type, Properties}`";
    let path = index("Resources", i);
    let outer = Fields::of(ctx, &path, node, SHAPE)?;
    let [(logical_name, body)] = outer.entries else {
        return Err(ctx.at(
            &path,
            node,
            format!("expected {SHAPE} with exactly one name, got {} keys", outer.entries.len()),
        ));
    };
    let path = child(&path, &logical_name.text);
    let body = Fields::of(ctx, &path, body, "a mapping with Type and Properties")?;
    body.check_known(ctx, &["Type", "Properties"])?;
    let type_node = body.require(ctx, "Type", &format!("{LAMBDA_TYPE} or {ECS_TYPE}"))?;
    let type_ = string(ctx, &body.path_of("Type"), type_node, &format!("{LAMBDA_TYPE} or {ECS_TYPE}"))?;
    let properties = body.require(ctx, "Properties", "the resource's properties")?;
    let properties = Fields::of(ctx, &body.path_of("Properties"), properties, "a mapping of properties")?;
    Ok(Resource { path, logical_name, type_, type_node, properties })
}

fn lambda_function(ctx: &Ctx<'_>, r: &Resource<'_>) -> Result<LambdaFunction, AppSpecError> {
    let p = &r.properties;
    p.check_known(ctx, &["Name", "Alias", "CurrentVersion", "TargetVersion"])?;
    let name = p.req_string(ctx, "Name", "the name of the Lambda function")?;
    let alias = p.req_string(ctx, "Alias", "the name of the alias whose traffic shifts")?;
    let current_version = lambda_version(ctx, p, "CurrentVersion")?;
    let target_version = lambda_version(ctx, p, "TargetVersion")?;
    Ok(LambdaFunction { logical_name: r.logical_name.text.clone(), name, alias, current_version, target_version })
}

/// A published version number (`3` or `"3"`), returned without leading zeros.
fn lambda_version(ctx: &Ctx<'_>, p: &Fields<'_>, name: &str) -> Result<String, AppSpecError> {
    const VERSION: &str = "a published version number such as 3";
    let node = p.require(ctx, name, VERSION)?;
    let is_text = matches!(&node.value, Value::Scalar(s) if matches!(s.resolved, Resolved::Int(_) | Resolved::Str));
    match whole_number(node) {
        Some(v) if is_text && v >= 1 => Ok(v.to_string()),
        _ => Err(ctx.expected(&p.path_of(name), node, VERSION)),
    }
}

fn ecs_service(ctx: &Ctx<'_>, r: &Resource<'_>) -> Result<EcsAppSpec, AppSpecError> {
    let p = &r.properties;
    p.check_known(
        ctx,
        &["TaskDefinition", "LoadBalancerInfo", "PlatformVersion", "NetworkConfiguration", "CapacityProviderStrategy"],
    )?;
    let task_definition = p.req_string(ctx, "TaskDefinition", "the ARN of the task definition")?;

    let lb_node = p.require(ctx, "LoadBalancerInfo", "a mapping with ContainerName and ContainerPort")?;
    let lb =
        Fields::of(ctx, &p.path_of("LoadBalancerInfo"), lb_node, "a mapping with ContainerName and ContainerPort")?;
    lb.check_known(ctx, &["ContainerName", "ContainerPort"])?;
    let container_name = lb.req_string(ctx, "ContainerName", "the name of the container that receives traffic")?;
    const PORT: &str = "a port number from 1 to 65535";
    let port_node = lb.require(ctx, "ContainerPort", PORT)?;
    let container_port = whole_number(port_node)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| ctx.expected(&lb.path_of("ContainerPort"), port_node, PORT))?;

    let platform_version = p.opt_string(ctx, "PlatformVersion", "a Fargate platform version such as LATEST")?;
    let network =
        p.get("NetworkConfiguration").map(|n| network(ctx, &p.path_of("NetworkConfiguration"), n)).transpose()?;
    let capacity_provider_strategy = match p.get("CapacityProviderStrategy") {
        None => Vec::new(),
        Some(n) => capacity_providers(ctx, &p.path_of("CapacityProviderStrategy"), n)?,
    };
    Ok(EcsAppSpec {
        task_definition,
        container_name,
        container_port,
        platform_version,
        network,
        capacity_provider_strategy,
        hooks: Vec::new(),
    })
}

fn network(ctx: &Ctx<'_>, path: &str, node: &Node) -> Result<EcsNetwork, AppSpecError> {
    const AWSVPC: &str = "a mapping with Subnets, SecurityGroups and AssignPublicIp (all three)";
    let outer = Fields::of(ctx, path, node, "a mapping with AwsvpcConfiguration")?;
    outer.check_known(ctx, &["AwsvpcConfiguration"])?;
    let vpc_node = outer.require(ctx, "AwsvpcConfiguration", AWSVPC)?;
    let vpc = Fields::of(ctx, &outer.path_of("AwsvpcConfiguration"), vpc_node, AWSVPC)?;
    vpc.check_known(ctx, &["Subnets", "SecurityGroups", "AssignPublicIp"])?;
    let subnets = string_list(
        ctx,
        &vpc,
        "Subnets",
        "a list of subnet ids (Subnets, SecurityGroups and AssignPublicIp go together)",
    )?;
    let security_groups = string_list(
        ctx,
        &vpc,
        "SecurityGroups",
        "a list of security group ids (Subnets, SecurityGroups and AssignPublicIp go together)",
    )?;
    const ASSIGN: &str = "ENABLED or DISABLED (Subnets, SecurityGroups and AssignPublicIp go together)";
    let assign = vpc.require(ctx, "AssignPublicIp", ASSIGN)?;
    let assign_public_ip = match &assign.value {
        Value::Scalar(s) if s.text == "ENABLED" => true,
        Value::Scalar(s) if s.text == "DISABLED" => false,
        _ => return Err(ctx.expected(&vpc.path_of("AssignPublicIp"), assign, ASSIGN)),
    };
    Ok(EcsNetwork { subnets, security_groups, assign_public_ip })
}

/// A required, non-empty list of non-empty strings.
fn string_list(ctx: &Ctx<'_>, fields: &Fields<'_>, name: &str, expected: &str) -> Result<Vec<String>, AppSpecError> {
    let node = fields.require(ctx, name, expected)?;
    let path = fields.path_of(name);
    let items = list(ctx, &path, node, expected)?;
    if items.is_empty() {
        return Err(ctx.expected(&path, node, expected));
    }
    items.iter().enumerate().map(|(i, item)| string(ctx, &index(&path, i), item, "an id")).collect()
}

fn capacity_providers(ctx: &Ctx<'_>, path: &str, node: &Node) -> Result<Vec<CapacityProvider>, AppSpecError> {
    const ITEM: &str = "a mapping with CapacityProvider, and optionally Base and Weight";
    let items = list(ctx, path, node, "a list of capacity provider strategy items")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let fields = Fields::of(ctx, &index(path, i), item, ITEM)?;
        fields.check_known(ctx, &["CapacityProvider", "Base", "Weight"])?;
        let name = fields.req_string(ctx, "CapacityProvider", "the name of a capacity provider")?;
        let base = bounded(ctx, &fields, "Base", 100_000)?;
        let weight = bounded(ctx, &fields, "Weight", 1_000)?;
        out.push(CapacityProvider { name, base, weight });
    }
    Ok(out)
}

/// An optional whole number from 0 to `max` (default 0).
fn bounded(ctx: &Ctx<'_>, fields: &Fields<'_>, name: &str, max: u32) -> Result<u32, AppSpecError> {
    let Some(node) = fields.get(name) else { return Ok(0) };
    whole_number(node)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n <= max)
        .ok_or_else(|| ctx.expected(&fields.path_of(name), node, &format!("a whole number from 0 to {max}")))
}

/// `Hooks`: a list of single-key mappings, event name to the Lambda function
/// that validates it.
fn hooks(ctx: &Ctx<'_>, root: &Fields<'_>, allowed: &[&str]) -> Result<Vec<(String, String)>, AppSpecError> {
    let Some(node) = root.get("Hooks") else { return Ok(Vec::new()) };
    let shape = format!("a list of `- Event: FunctionName` entries (events: {})", allowed.join(", "));
    let items = list(ctx, "Hooks", node, &shape)?;
    let mut hooks: Vec<(String, String)> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = index("Hooks", i);
        let fields = Fields::of(ctx, &path, item, "a single `Event: FunctionName` entry")?;
        let [(event, function)] = fields.entries else {
            return Err(ctx.at(
                &path,
                item,
                format!("expected a single `Event: FunctionName` entry, got {} keys", fields.entries.len()),
            ));
        };
        let key = child(&path, &event.text);
        if !allowed.contains(&event.text.as_str()) {
            return Err(ctx.err(
                &key,
                Some(event.line),
                format!("expected one of the events {}, got `{}`", allowed.join(", "), event.text),
            ));
        }
        if hooks.iter().any(|(e, _)| *e == event.text) {
            return Err(ctx.err(
                &key,
                Some(event.line),
                format!("the event `{}` is hooked more than once", event.text),
            ));
        }
        let function = string(ctx, &key, function, "the name of the Lambda function that validates this event")?;
        hooks.push((event.text.clone(), function.trim().to_owned()));
    }
    Ok(hooks)
}
