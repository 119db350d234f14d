//! CodeBuild's JSON 1.1 API (`X-Amz-Target: CodeBuild_20161006.<Operation>`,
//! signed for `codebuild`) on the AWS endpoint, so `aws codebuild … --endpoint-url`
//! and boto3's `codebuild` client drive ferry's builds.
//!
//! An adapter like CodeDeploy's: decode and validate with
//! `ferry_aws::codebuild`, check the caller's role, convert the wire shapes
//! (`ferry_aws::codebuild::convert`, which decides what ferry takes, ignores
//! or refuses of each member) and call `ops::builds`, nothing lower.
//! Build projects are outside applications: changing them needs an admin
//! key or a deployer key without scopes (`Subject::Global`).
//!
//! `reports`: the report operations, over the test reports ferry keeps
//! per build (a buildspec's report group `unit` of project `web` is the
//! report group `web-unit`; each build makes one report in it).

mod reports;

use axum::http::request::Parts;
use ferry_aws::arn::Arns;
use ferry_aws::codebuild::wire::{self, *};
use ferry_aws::codebuild::{Operation, Request, arn, convert};
use ferry_aws::{AwsError, AwsResult, token};
use ferry_core::build::{Build, Initiator};
use ferry_core::resources::{Role, Subject};
use serde_json::{Value, json};

use super::{json, log_outcome, read_body, verify};
use crate::AppState;
use crate::auth::{Caller, Service};
use crate::ops::OpError;
use crate::ops::builds;

/// Builds a ListBuilds call considers (the store lists newest first).
pub(super) const LIST_LIMIT: u32 = 100_000;

struct Ctx<'a> {
    state: &'a AppState,
    caller: Caller,
    arns: Arns,
    /// `scheme://host` the caller reached the server at (for log links).
    base_url: String,
}

pub(super) async fn handle(state: &AppState, parts: &Parts, body: axum::body::Body) -> AwsResult<Value> {
    let op = Operation::from_target(parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()));
    if let Ok(op) = op {
        crate::audit::note_action(op.name());
    }
    let body = read_body(body).await?;
    let caller = verify(state, Service::CodeBuild, parts, &body).await?;
    let op = op?;
    let request = Request::decode(op, &body)?;
    authorize(&caller, &request)?;
    let scheme = if matches!(state.config.tls, crate::TlsMode::Off) { "http" } else { "https" };
    let host = parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let ctx = Ctx {
        state,
        caller,
        arns: Arns { region: state.config.aws_region.clone(), account: state.config.aws_account_id.clone() },
        base_url: format!("{scheme}://{host}"),
    };
    let outcome = async {
        request.validate()?;
        dispatch(&ctx, request).await
    }
    .await;
    log_outcome(op.name(), &ctx.caller, &outcome);
    outcome
}

/// Agents may not use the API; read-only keys only read; the rest change
/// build projects as a global resource (the same rule as every API's,
/// `Caller::may_change`).
fn authorize(caller: &Caller, request: &Request) -> AwsResult<()> {
    let op = request.operation();
    if caller.role == Role::Agent {
        return Err(AwsError::access_denied(format!(
            "Access key {} belongs to an agent and cannot call {}.",
            caller.key_id,
            op.name()
        )));
    }
    for named in request.changes() {
        if let ferry_aws::codebuild::Named::Project(project) = named {
            crate::audit::note_target(format!("build project {project}"));
        }
        if let Err(why) = caller.may_change(Subject::Global) {
            return Err(AwsError::access_denied(format!("{why}, so it cannot call {}.", op.name())));
        }
    }
    Ok(())
}

async fn dispatch(ctx: &Ctx<'_>, request: Request) -> AwsResult<Value> {
    use Request::*;
    match request {
        CreateProject(i) => create_project(ctx, i).await,
        UpdateProject(i) => update_project(ctx, i).await,
        DeleteProject(i) => delete_project(ctx, i).await,
        BatchGetProjects(i) => batch_get_projects(ctx, i).await,
        ListProjects(i) => list_projects(ctx, i).await,
        StartBuild(i) => start_build(ctx, i).await,
        StopBuild(i) => {
            let build = builds::stop(ctx.state, i.id.as_deref().unwrap_or_default()).await?;
            json(&BuildOutput { build: ctx.build(&build).await? })
        }
        RetryBuild(i) => {
            let initiator = Initiator::Key(ctx.caller.key_id.clone());
            let build = builds::retry(ctx.state, i.id.as_deref().unwrap_or_default(), initiator).await?;
            json(&BuildOutput { build: ctx.build(&build).await? })
        }
        BatchGetBuilds(i) => batch_get_builds(ctx, i).await,
        ListBuilds(i) => list_builds(ctx, None, i.sort_order.as_deref(), i.next_token.as_deref()).await,
        ListBuildsForProject(i) => {
            let project = i.project_name.as_deref().unwrap_or_default();
            list_builds(ctx, Some(project), i.sort_order.as_deref(), i.next_token.as_deref()).await
        }
        BatchGetReportGroups(i) => reports::batch_get_groups(ctx, i).await,
        BatchGetReports(i) => reports::batch_get(ctx, i).await,
        DescribeTestCases(i) => reports::describe_test_cases(ctx, i).await,
        ListReportGroups(i) => reports::list_groups(ctx, i).await,
        ListReports(i) => {
            reports::list(ctx, None, i.sort_order.as_deref(), i.filter.as_ref(), i.max_results, i.next_token.as_deref())
                .await
        }
        ListReportsForReportGroup(i) => {
            let group = arn::parse_report_group(i.report_group_arn.as_deref().unwrap_or_default())?;
            let (order, filter) = (i.sort_order.as_deref(), i.filter.as_ref());
            reports::list(ctx, Some(group), order, filter, i.max_results, i.next_token.as_deref()).await
        }
    }
}

impl Ctx<'_> {
    /// A build as CodeBuild shows it, with its reports' ARNs.
    async fn build(&self, b: &Build) -> AwsResult<wire::Build> {
        let reports = builds::reports(self.state, &b.id).await?;
        // The native API's log of the build (ids are `<project>:<uuid>`).
        let link = format!("{}/api/v1/builds/{}/log", self.base_url, b.id.replace(':', "%3A"));
        Ok(convert::build(b, &reports, &self.arns, Some(link)))
    }
}

async fn create_project(ctx: &Ctx<'_>, i: CreateProjectInput) -> AwsResult<Value> {
    let project = convert::new_project(&i, crate::random::uuid(), ctx.state.driver.now())?;
    let created = builds::create_project(ctx.state, project).await?;
    json(&ProjectOutput { project: convert::project(&created, &ctx.arns) })
}

async fn update_project(ctx: &Ctx<'_>, i: UpdateProjectInput) -> AwsResult<Value> {
    let name = i.name.clone().unwrap_or_default();
    let updated = builds::update_project(ctx.state, &name, |p| convert::apply_settings(p, &i)).await?;
    json(&ProjectOutput { project: convert::project(&updated, &ctx.arns) })
}

/// CodeBuild answers DeleteProject of a project that does not exist with
/// success (the operation declares no not-found error), and so does ferry.
async fn delete_project(ctx: &Ctx<'_>, i: ProjectNameInput) -> AwsResult<Value> {
    match builds::delete_project(ctx.state, i.name.as_deref().unwrap_or_default()).await {
        Ok(()) | Err(OpError::ProjectNotFound(_)) => Ok(json!({})),
        Err(e) => Err(e.into()),
    }
}

async fn batch_get_projects(ctx: &Ctx<'_>, i: BatchGetProjectsInput) -> AwsResult<Value> {
    let mut out = BatchGetProjectsOutput::default();
    for asked in i.names.unwrap_or_default() {
        let name = arn::project_name_or_arn(&asked)?;
        match builds::get_project(ctx.state, name).await {
            Ok(p) => out.projects.push(convert::project(&p, &ctx.arns)),
            Err(OpError::ProjectNotFound(_)) => out.projects_not_found.push(asked),
            Err(e) => return Err(e.into()),
        }
    }
    json(&out)
}

/// By name (the default), creation or last change; ascending unless asked.
async fn list_projects(ctx: &Ctx<'_>, i: ListProjectsInput) -> AwsResult<Value> {
    let mut projects = builds::list_projects(ctx.state).await?;
    match i.sort_by.as_deref() {
        Some("CREATED_TIME") => projects.sort_by(|a, b| (a.create_time, &a.name).cmp(&(b.create_time, &b.name))),
        Some("LAST_MODIFIED_TIME") => {
            projects.sort_by(|a, b| (a.last_modified, &a.name).cmp(&(b.last_modified, &b.name)))
        }
        _ => projects.sort_by(|a, b| a.name.cmp(&b.name)),
    }
    if i.sort_order.as_deref() == Some("DESCENDING") {
        projects.reverse();
    }
    let names: Vec<String> = projects.into_iter().map(|p| p.name).collect();
    let (page, next_token) = page(Operation::ListProjects, names, i.next_token.as_deref(), token::PAGE_SIZE)?;
    json(&ProjectNamesOutput { projects: page, next_token })
}

async fn start_build(ctx: &Ctx<'_>, i: StartBuildInput) -> AwsResult<Value> {
    let name = i.project_name.as_deref().unwrap_or_default();
    // The overrides are checked against the project as it is; the build's
    // copy is then made from the project `start` reads, under its rules.
    let project = builds::get_project(ctx.state, name).await?;
    let overrides = convert::start_overrides(&i, &project)?;
    let request = builds::StartBuild {
        source_version: overrides.source_version.clone(),
        ..builds::StartBuild::by(Initiator::Key(ctx.caller.key_id.clone()))
    };
    let build = builds::start(ctx.state, name, request, |p| overrides.apply(p)).await?;
    json(&BuildOutput { build: ctx.build(&build).await? })
}

async fn batch_get_builds(ctx: &Ctx<'_>, i: BuildIdsInput) -> AwsResult<Value> {
    let mut out = BatchGetBuildsOutput::default();
    for id in i.ids.unwrap_or_default() {
        match builds::get(ctx.state, &id).await {
            Ok(b) => out.builds.push(ctx.build(&b).await?),
            Err(OpError::BuildNotFound(_)) => out.builds_not_found.push(id),
            Err(e) => return Err(e.into()),
        }
    }
    json(&out)
}

/// A page of a listing, `size` items long. CodeBuild declares no
/// InvalidNextTokenException: a bad token is bad input.
pub(super) fn page<T>(
    op: Operation,
    items: Vec<T>,
    next_token: Option<&str>,
    size: usize,
) -> AwsResult<(Vec<T>, Option<String>)> {
    token::page_of(op, items, next_token, size).map_err(|e| match e.code.as_ref() {
        "InvalidNextTokenException" => ferry_aws::codebuild::validate::invalid_input(e.message),
        _ => e,
    })
}

/// Build ids, newest first unless `ASCENDING`, 100 a page.
async fn list_builds(
    ctx: &Ctx<'_>,
    project: Option<&str>,
    sort_order: Option<&str>,
    next_token: Option<&str>,
) -> AwsResult<Value> {
    let listed = builds::list(ctx.state, project, LIST_LIMIT).await?;
    let mut ids: Vec<String> = listed.into_iter().map(|b| b.id).collect();
    if sort_order == Some("ASCENDING") {
        ids.reverse();
    }
    let op = if project.is_some() { Operation::ListBuildsForProject } else { Operation::ListBuilds };
    let (page, next_token) = page(op, ids, next_token, token::PAGE_SIZE)?;
    json(&BuildIdsOutput { ids: page, next_token })
}
