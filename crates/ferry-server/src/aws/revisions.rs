//! Application revisions: registered by location (S3, git, inline appspec)
//! or pushed with `ferry push` (shown under the `FerryServer` pseudo-bucket).

use ferry_aws::convert::{self, RevisionRequest};
use ferry_aws::validate::{self, one_of};
use ferry_aws::{AwsError, AwsResult, token, wire};
use ferry_core::resources::{Application, Revision, RevisionLocation};
use ferry_store::StoreError;
use serde_json::{Value, json};

use super::resources::with_token;
use super::{Ctx, json, store_error};
use crate::clock::now_millis;

/// The revision a request names, if it is registered. A build's primary
/// artifact (`FerryServer/builds/<build id>`) is registered on first use.
pub(crate) async fn find(ctx: &Ctx<'_>, app: &Application, request: &RevisionRequest) -> AwsResult<Option<Revision>> {
    let id = match request {
        RevisionRequest::Build { build_id } => {
            return Ok(Some(crate::ops::builds::artifact_revision(ctx.state, build_id, &app.name).await?));
        }
        RevisionRequest::Stored { revision_id } => revision_id.clone(),
        RevisionRequest::Located { location, bundle_type } => {
            convert::located_revision_id(&app.name, location, bundle_type)
        }
    };
    match ctx.state.store.get_revision(&id).await {
        Ok(r) if r.application_name == app.name => Ok(Some(r)),
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(store_error(e)),
    }
}

fn no_revision(request: &RevisionRequest) -> AwsError {
    let what = match request {
        RevisionRequest::Build { build_id } => format!("artifact of build {build_id}"),
        RevisionRequest::Stored { revision_id } => format!("revision {revision_id}"),
        RevisionRequest::Located { location, .. } => describe(location),
    };
    AwsError::new("RevisionDoesNotExistException", format!("The {what} is not registered with this application."))
}

fn describe(location: &RevisionLocation) -> String {
    match location {
        RevisionLocation::S3 { bucket, key, .. } => format!("revision s3://{bucket}/{key}"),
        RevisionLocation::GitHub { repository, commit } => format!("revision {repository}@{commit}"),
        RevisionLocation::Content { sha256, .. } => format!("inline revision with sha256 {sha256}"),
        RevisionLocation::Blob { key } => format!("revision {key}"),
    }
}

/// Registers the revision a request names (or finds it registered); checks
/// what can be checked without fetching it.
pub(crate) async fn register_located(
    ctx: &Ctx<'_>,
    app: &Application,
    request: &RevisionRequest,
    description: Option<String>,
) -> AwsResult<Revision> {
    if let Some(mut existing) = find(ctx, app, request).await? {
        if let Some(d) = description {
            existing.description = d;
            ctx.state.store.put_revision(&existing).await.map_err(store_error)?;
        }
        return Ok(existing);
    }
    let RevisionRequest::Located { location, bundle_type } = request else {
        return Err(AwsError::new(
            "InvalidRevisionException",
            format!(
                "The {} bucket holds revisions pushed with `ferry push`; {} was not pushed to this application.",
                convert::FERRY_BUCKET,
                match request {
                    RevisionRequest::Stored { revision_id } => revision_id.as_str(),
                    RevisionRequest::Build { build_id } => build_id.as_str(),
                    RevisionRequest::Located { .. } => "",
                }
            ),
        ));
    };
    match location {
        RevisionLocation::GitHub { repository, .. } => {
            ctx.state
                .fetcher
                .git
                .resolve(repository)
                .map_err(|e| AwsError::new("InvalidRevisionException", e.to_string()))?;
        }
        RevisionLocation::Content { content, .. } => {
            // An inline revision is only an appspec: check it now, for the
            // application's compute platform.
            let invalid =
                |e: String| AwsError::new("InvalidRevisionException", format!("The appspec content is not valid: {e}"));
            if app.compute_platform == ferry_core::config::ComputePlatform::Ecs {
                match ferry_appspec::parse("appspec.yml", content) {
                    Ok(ferry_appspec::AppSpec::Ecs(_)) => {}
                    Ok(_) => {
                        return Err(invalid(
                            "application of the ECS compute platform: expected an ECS appspec (Resources: - \
                             TargetService: Type: AWS::ECS::Service …)"
                                .into(),
                        ));
                    }
                    Err(e) => return Err(invalid(e.to_string())),
                }
            } else {
                ferry_appspec::parse_server("appspec.yml", content).map_err(|e| invalid(e.to_string()))?;
            }
        }
        _ => {}
    }
    let revision = Revision {
        id: convert::located_revision_id(&app.name, location, bundle_type),
        application_name: app.name.clone(),
        location: location.clone(),
        bundle_type: bundle_type.clone(),
        sha256: String::new(),
        size: 0,
        description: description.unwrap_or_default(),
        register_time: now_millis(),
        first_used_time: None,
        last_used_time: None,
        deployment_groups: Vec::new(),
        last_fetch: None,
    };
    ctx.state.store.put_revision(&revision).await.map_err(store_error)?;
    Ok(revision)
}

pub async fn register(ctx: &Ctx<'_>, input: wire::RegisterApplicationRevisionInput) -> AwsResult<Value> {
    let app = ctx.application(input.application_name.as_deref()).await?;
    let description = validate::description(input.description.as_deref())?;
    let request = convert::parse_revision(input.revision.as_ref())?;
    register_located(ctx, &app, &request, description).await?;
    Ok(json!({}))
}

fn info(r: &Revision) -> wire::RevisionInfo {
    wire::RevisionInfo {
        revision_location: convert::revision_location(r),
        generic_revision_info: convert::generic_revision_info(r),
    }
}

pub async fn get(ctx: &Ctx<'_>, input: wire::GetApplicationRevisionInput) -> AwsResult<Value> {
    let app = ctx.application(input.application_name.as_deref()).await?;
    let request = convert::parse_revision(input.revision.as_ref())?;
    let r = find(ctx, &app, &request).await?.ok_or_else(|| no_revision(&request))?;
    Ok(json!({
        "applicationName": app.name,
        "revision": json(&convert::revision_location(&r))?,
        "revisionInfo": json(&convert::generic_revision_info(&r))?,
    }))
}

pub async fn batch_get(ctx: &Ctx<'_>, input: wire::BatchGetApplicationRevisionsInput) -> AwsResult<Value> {
    let app = ctx.application(input.application_name.as_deref()).await?;
    let revisions = input
        .revisions
        .as_deref()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| AwsError::new("RevisionRequiredException", "The revisions to get were not specified."))?;
    validate::batch_limit(revisions.len(), 25)?;
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for location in revisions {
        let request = convert::parse_revision(Some(location))?;
        match find(ctx, &app, &request).await? {
            Some(r) => out.push(info(&r)),
            None => missing.push(no_revision(&request).message),
        }
    }
    let mut result = json!({ "applicationName": app.name, "revisions": json(&out)? });
    if !missing.is_empty() {
        result["errorMessage"] = json!(missing.join(" "));
    }
    Ok(result)
}

pub async fn list(ctx: &Ctx<'_>, input: wire::ListApplicationRevisionsInput) -> AwsResult<Value> {
    let app = ctx.application(input.application_name.as_deref()).await?;
    let sort_by = match input.sort_by.as_deref() {
        Some(s) => one_of(s, &["registerTime", "firstUsedTime", "lastUsedTime"], "InvalidSortByException", "sortBy")?,
        None => "registerTime",
    };
    let descending = match input.sort_order.as_deref() {
        Some(s) => one_of(s, &["ascending", "descending"], "InvalidSortOrderException", "sortOrder")? == "descending",
        None => true,
    };
    let deployed = match input.deployed.as_deref() {
        Some(s) => one_of(s, &["include", "exclude", "ignore"], "InvalidDeployedStateFilterException", "deployed")?,
        None => "ignore",
    };
    if input.s3_key_prefix.is_some() && input.s3_bucket.is_none() {
        return Err(AwsError::new(
            "BucketNameFilterRequiredException",
            "An s3KeyPrefix filter needs an s3Bucket filter too.",
        ));
    }
    let mut revisions = ctx.state.store.list_revisions(&app.name).await.map_err(store_error)?;
    revisions.retain(|r| {
        let location = convert::revision_location(r);
        let s3 = location.s3_location.as_ref();
        let bucket_ok = input.s3_bucket.as_ref().is_none_or(|b| s3.and_then(|s| s.bucket.as_ref()) == Some(b));
        let prefix_ok = input
            .s3_key_prefix
            .as_ref()
            .is_none_or(|p| s3.and_then(|s| s.key.as_ref()).is_some_and(|k| k.starts_with(p.as_str())));
        let deployed_ok = match deployed {
            "include" => r.first_used_time.is_some(),
            "exclude" => r.first_used_time.is_none(),
            _ => true,
        };
        bucket_ok && prefix_ok && deployed_ok
    });
    let key = |r: &Revision| match sort_by {
        "firstUsedTime" => r.first_used_time.unwrap_or(0),
        "lastUsedTime" => r.last_used_time.unwrap_or(0),
        _ => r.register_time,
    };
    revisions.sort_by(|a, b| (key(a), &a.id).cmp(&(key(b), &b.id)));
    if descending {
        revisions.reverse();
    }
    let locations: Vec<wire::RevisionLocation> = revisions.iter().map(convert::revision_location).collect();
    let (page, next) = token::page(ctx.op, locations, input.next_token.as_deref())?;
    Ok(with_token(json!({ "revisions": json(&page)? }), "nextToken", next))
}
