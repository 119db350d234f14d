//! `/agent/v1`: the protocol agents speak (see `ferry_proto::agent`).

use axum::Json;
use axum::Router;
use axum::body::Body;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ferry_core::resources::{AccessKey, Instance, Role, Tag};
use ferry_proto::agent as wire;
use ferry_proto::build_host as build_wire;
use ferry_store::StoreError;

use crate::AppState;
use crate::auth::Signed;
use crate::clock::now_millis;
use crate::error::{ApiError, ApiResult};
use crate::ops;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/agent/v1/enrol", post(enrol))
        .route("/agent/v1/poll", post(poll))
        .route("/agent/v1/report", post(report))
        .route("/agent/v1/bundles/{revision}", get(bundle))
        .route("/agent/v1/builds/claim", post(claim_build))
        .route(ferry_proto::container_host::SYNC_PATH, post(sync_tasks))
        .route("/agent/v1/tasks/{id}/secrets", post(task_secrets))
        .route("/agent/v1/builds/{id}/source", get(build_source))
        .route("/agent/v1/builds/{id}/sources/{identifier}", get(build_secondary_source))
        .route("/agent/v1/builds/{id}/secrets", post(build_secrets))
        .route("/agent/v1/builds/{id}/progress", post(build_progress))
        .route("/agent/v1/builds/{id}/artifacts/{name}", axum::routing::put(build_artifact))
        .route("/agent/v1/builds/{id}/cache", get(build_cache).put(save_build_cache))
        .route("/agent/v1/builds/{id}/finish", post(finish_build))
}

/// The agent's version, if its protocol is this server's; an agent that
/// says it speaks another protocol is told what to upgrade (426). Agents
/// older than the protocol header speak protocol 2 (checked at enrolment).
fn speaks_our_protocol(headers: &HeaderMap) -> ApiResult<Option<&str>> {
    let version = headers.get(wire::VERSION_HEADER).and_then(|v| v.to_str().ok());
    let Some(protocol) = headers.get(wire::PROTOCOL_HEADER).and_then(|v| v.to_str().ok()) else {
        return Ok(version);
    };
    if protocol.trim().parse::<u32>().ok() == Some(ferry_proto::AGENT_PROTOCOL_VERSION) {
        return Ok(version);
    }
    Err(ApiError::new(
        StatusCode::UPGRADE_REQUIRED,
        "UnsupportedAgentVersion",
        format!(
            "agent {} speaks protocol {protocol}, this server (ferry {}) speaks protocol {}: install ferry {} on the host",
            version.unwrap_or("(unknown version)"),
            env!("CARGO_PKG_VERSION"),
            ferry_proto::AGENT_PROTOCOL_VERSION,
            env!("CARGO_PKG_VERSION"),
        ),
    ))
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Enrolment: the join token buys the host its own access key. After a
/// few wrong tokens from one address, its enrolments are refused (429, with
/// the wait) for an exponentially growing time, so the token cannot be
/// guessed at network speed.
async fn enrol(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(request): Json<wire::EnrolRequest>,
) -> ApiResult<Json<wire::EnrolResponse>> {
    crate::audit::note_target(&request.name);
    if let Err(wait) = state.throttles.enrol.check(peer.ip(), std::time::Instant::now()) {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyFailedEnrolments",
            format!(
                "too many enrolments with a wrong join token from {}: wait {seconds} s before trying again \
                 (each further failure doubles the wait)",
                peer.ip()
            ),
        ));
    }
    if request.protocol_version != ferry_proto::AGENT_PROTOCOL_VERSION {
        return Err(ApiError::bad_request(
            "UnsupportedAgentVersion",
            format!(
                "agent {} speaks protocol {}, this server speaks protocol {}: upgrade the agent to the server's version",
                request.agent_version,
                request.protocol_version,
                ferry_proto::AGENT_PROTOCOL_VERSION
            ),
        ));
    }
    // A whole token (`<secret>.sha256-<fingerprint>`) counts by its secret.
    let secret = wire::JoinToken::parse(&request.join_token).map(|t| t.secret).unwrap_or_default();
    let presented = crate::bootstrap::hash_token(&secret);
    if !constant_time_eq(&presented, &state.join_token_hash) {
        let instance = crate::audit::bounded(&request.name);
        tracing::warn!(%instance, address = %peer.ip(), "enrolment refused: wrong join token");
        if let Some(block) = state.throttles.enrol.failed(peer.ip(), std::time::Instant::now()) {
            tracing::warn!(
                address = %peer.ip(),
                seconds = block.as_secs(),
                "too many enrolments with a wrong join token from this address; refusing its enrolments for a while"
            );
        }
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "InvalidJoinToken",
            "the join token is not valid for this server",
        ));
    }
    state.throttles.enrol.succeeded(peer.ip());
    ferry_core::ids::validate_name(&request.name)
        .map_err(|e| ApiError::bad_request("InvalidInstanceName", format!("instance name: {e}")))?;
    let now = now_millis();
    let mut instance = match state.store.get_instance(&request.name).await {
        Ok(existing) if existing.deregister_time.is_none() => existing,
        Ok(_) | Err(StoreError::NotFound) => Instance {
            name: request.name.clone(),
            tags: Vec::new(),
            register_time: now,
            deregister_time: None,
            iam_user_arn: None,
            iam_session_arn: None,
            agent_key_id: None,
            agent_version: None,
            address: None,
        },
        Err(e) => return Err(e.into()),
    };
    if let Some(key) = &instance.agent_key_id
        && state.store.get_access_key(key).await.is_ok_and(|k| !k.disabled)
    {
        return Err(ApiError::conflict(
            "InstanceAlreadyEnrolled",
            format!(
                "instance {} already has an enrolled agent; revoke its credential before enrolling again",
                instance.name
            ),
        ));
    }
    for tag in request.tags {
        instance.tags.retain(|t| t.key != tag.key);
        instance.tags.push(Tag { key: tag.key, value: tag.value });
    }
    instance.tags.sort();
    let key = AccessKey {
        id: crate::random::access_key_id("FKAG"),
        secret: crate::random::secret_key(),
        role: Role::Agent,
        instance: Some(instance.name.clone()),
        description: format!("agent credential of {}", instance.name),
        create_time: now,
        disabled: false,
        scopes: Vec::new(),
    };
    state.store.put_access_key(&key).await?;
    instance.agent_key_id = Some(key.id.clone());
    instance.agent_version = Some(request.agent_version.clone());
    instance.address = Some(peer.ip().to_string());
    state.store.upsert_instance(&instance).await?;
    state.driver.saw(&instance.name);
    // It may join deployment groups by its tags.
    state.driver.joins_wake.notify_one();
    tracing::info!(instance = %instance.name, key = %key.id, "agent enrolled");
    Ok(Json(wire::EnrolResponse { instance_name: instance.name, access_key_id: key.id, secret_access_key: key.secret }))
}

/// The long poll: answers as soon as the host's commands differ from what it
/// says it is running, or after the hold time.
async fn poll(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Signed,
) -> ApiResult<Json<wire::PollResponse>> {
    let instance = request.caller.require_agent()?.to_string();
    let version = speaks_our_protocol(&headers)?;
    state.driver.observe_address(&instance, peer.ip(), version).await?;
    let body: wire::PollRequest = request.json()?;
    let hold = state.config.poll_hold;
    let deadline = tokio::time::Instant::now() + hold;
    let notifier = state.driver.notifier(&instance);
    // Liveness counts the poll's arrival (authentication), not its hold: a
    // frozen host keeps its connection open as well as a live one does.
    let _held = state.driver.hold_poll(&instance);
    loop {
        let notified = notifier.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let commands = state.driver.commands_for(&instance).await?;
        let news = commands.iter().any(|c| c.cancel || !body.running.contains(&c.id))
            || body.running.iter().any(|id| !commands.iter().any(|c| &c.id == id));
        if news || body.no_wait || state.driver.is_shutting_down() || tokio::time::Instant::now() >= deadline {
            return Ok(Json(wire::PollResponse {
                commands,
                hold_seconds: hold.as_secs(),
                lost_after_seconds: state.config.agent_lost_after.as_secs(),
            }));
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = state.driver.wait_shutdown() => {}
        }
        // A credential revoked while the poll was held ends it at once.
        if state.store.get_access_key(&request.caller.key_id).await.is_ok_and(|k| k.disabled) {
            return Err(ApiError::forbidden(format!(
                "the agent credential {} of {instance} was revoked: enrol the agent again with the join token",
                request.caller.key_id
            )));
        }
    }
}

async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Signed,
) -> ApiResult<Json<wire::ReportResponse>> {
    let instance = request.caller.require_agent()?.to_string();
    speaks_our_protocol(&headers)?;
    let body: wire::EventReport = request.json()?;
    let proceed = state.driver.report(&instance, body).await?;
    Ok(Json(wire::ReportResponse { proceed }))
}

/// A bundle by its SHA-256, for a host that has a command installing it.
async fn bundle(State(state): State<AppState>, Path(sha256): Path<String>, request: Signed) -> ApiResult<Response> {
    let instance = request.caller.require_agent()?.to_string();
    let Some(key) = state.driver.bundle_for(&instance, &sha256).await? else {
        return Err(ApiError::forbidden(format!("instance {instance} has no deployment of bundle sha256 {sha256}")));
    };
    let key = &key;
    let (file, size) = state.blobs.open_blob(key).await.map_err(|e| match e {
        ferry_blob::BlobError::NotFound(_) => {
            ApiError::not_found("RevisionMissing", format!("bundle sha256 {sha256} is missing from the blob store"))
        }
        e => ApiError::internal(e),
    })?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024));
    Ok(([(header::CONTENT_LENGTH, size.to_string()), (header::CONTENT_TYPE, "application/octet-stream".into())], body)
        .into_response())
}

/// A build host's claim: held until a build it may run is queued (or the
/// hold passes); the answer takes the build out of the queue.
async fn claim_build(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Signed,
) -> ApiResult<Json<build_wire::ClaimResponse>> {
    let instance = request.caller.require_agent()?.to_string();
    let version = speaks_our_protocol(&headers)?;
    state.driver.observe_address(&instance, peer.ip(), version).await?;
    let body: build_wire::ClaimRequest = request.json()?;
    let hold = state.config.poll_hold;
    let deadline = tokio::time::Instant::now() + hold;
    loop {
        let queued = state.driver.build_queue.notified();
        tokio::pin!(queued);
        queued.as_mut().enable();
        let build = ops::build_hosts::claim(&state, &instance, &body).await?;
        if build.is_some() || state.driver.is_shutting_down() || tokio::time::Instant::now() >= deadline {
            return Ok(Json(build_wire::ClaimResponse { build, hold_seconds: hold.as_secs() }));
        }
        tokio::select! {
            _ = &mut queued => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = state.driver.wait_shutdown() => {}
        }
    }
}

/// A container host's sync: its tasks' state in, the tasks it should run
/// out; held until those differ from what it runs (or the hold passes).
async fn sync_tasks(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Signed,
) -> ApiResult<Json<ferry_proto::container_host::SyncResponse>> {
    let instance = request.caller.require_agent()?.to_string();
    let version = speaks_our_protocol(&headers)?;
    state.driver.observe_address(&instance, peer.ip(), version).await?;
    let body: ferry_proto::container_host::SyncRequest = request.json()?;
    let hold = state.config.poll_hold;
    let deadline = tokio::time::Instant::now() + hold;
    let notify = state.driver.services.host_notify(&instance);
    loop {
        let woken = notify.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        // Applying the same report again changes nothing: later rounds look again.
        let (tasks, news) = ops::container_hosts::sync(&state, &instance, &body).await?;
        if news || !body.wait || state.driver.is_shutting_down() || tokio::time::Instant::now() >= deadline {
            return Ok(Json(ferry_proto::container_host::SyncResponse { tasks, hold_seconds: hold.as_secs() }));
        }
        tokio::select! {
            _ = &mut woken => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = state.driver.wait_shutdown() => {}
        }
    }
}

/// The secret variables of a task running on the calling host.
async fn task_secrets(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<ferry_proto::container_host::TaskSecrets>> {
    let instance = request.caller.require_agent()?.to_string();
    Ok(Json(ops::container_hosts::secrets(&state, &instance, &id).await?))
}

/// The source bundle of a build running on the calling host.
async fn build_source(State(state): State<AppState>, Path(id): Path<String>, request: Signed) -> ApiResult<Response> {
    let instance = request.caller.require_agent()?.to_string();
    let bundle = ops::build_hosts::source(&state, &instance, &id).await?;
    serve_source(&state, &id, &bundle).await
}

async fn build_secondary_source(
    State(state): State<AppState>,
    Path((id, identifier)): Path<(String, String)>,
    request: Signed,
) -> ApiResult<Response> {
    let instance = request.caller.require_agent()?.to_string();
    let bundle = ops::build_hosts::secondary_source(&state, &instance, &id, &identifier).await?;
    serve_source(&state, &id, &bundle).await
}

async fn serve_source(state: &AppState, id: &str, bundle: &ferry_core::build::SourceBundle) -> ApiResult<Response> {
    let (file, size) = state.blobs.open_blob(&bundle.blob_key).await.map_err(|e| match e {
        ferry_blob::BlobError::NotFound(_) => {
            ApiError::not_found("SourceMissing", format!("the source of build {id} is missing from the blob store"))
        }
        e => ApiError::internal(e),
    })?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024));
    Ok(([(header::CONTENT_LENGTH, size.to_string()), (header::CONTENT_TYPE, "application/octet-stream".into())], body)
        .into_response())
}

async fn build_secrets(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<build_wire::SecretsResponse>> {
    let instance = request.caller.require_agent()?.to_string();
    let body: build_wire::SecretsRequest = request.json()?;
    let values = ops::build_hosts::secrets(&state, &instance, &id, &body.names).await?;
    Ok(Json(build_wire::SecretsResponse { values }))
}

async fn build_progress(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<build_wire::ProgressResponse>> {
    let instance = request.caller.require_agent()?.to_string();
    speaks_our_protocol(&headers)?;
    let body: build_wire::Progress = request.json()?;
    let stop = ops::build_hosts::progress(&state, &instance, &id, body).await?;
    Ok(Json(build_wire::ProgressResponse { stop }))
}

/// An artifact zip, streamed into the blob store and checked against the
/// SHA-256 the host declared (and signed) in `x-amz-content-sha256`.
async fn build_artifact(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    request: axum::extract::Request,
) -> ApiResult<StatusCode> {
    let (parts, body) = request.into_parts();
    let caller = crate::auth::authenticate(&state, &parts, &[]).await?;
    let instance = caller.require_agent()?.to_string();
    let declared = declared_sha256(&parts.headers)?;
    use futures_util::TryStreamExt;
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(stream);
    ops::build_hosts::store_artifact(&state, &instance, &id, &name, &declared, reader).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn build_cache(State(state): State<AppState>, Path(id): Path<String>, request: Signed) -> ApiResult<Response> {
    let instance = request.caller.require_agent()?.to_string();
    let Some(cache) = ops::build_hosts::cache(&state, &instance, &id).await? else {
        return Err(ApiError::not_found("NoCache", format!("the project of build {id} has no cache yet")));
    };
    let (file, size) = state.blobs.open_blob(&cache.blob_key).await.map_err(ApiError::internal)?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024));
    Ok((
        [
            (header::CONTENT_LENGTH, size.to_string()),
            (header::CONTENT_TYPE, "application/zip".into()),
            (header::ETAG, cache.sha256.clone()),
        ],
        body,
    )
        .into_response())
}

async fn save_build_cache(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: axum::extract::Request,
) -> ApiResult<StatusCode> {
    let (parts, body) = request.into_parts();
    let caller = crate::auth::authenticate(&state, &parts, &[]).await?;
    let instance = caller.require_agent()?.to_string();
    let declared = declared_sha256(&parts.headers)?;
    use futures_util::TryStreamExt;
    let reader = tokio_util::io::StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    ops::build_hosts::save_cache(&state, &instance, &id, &declared, reader).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The SHA-256 an upload declared (and signed) in `x-amz-content-sha256`.
fn declared_sha256(headers: &HeaderMap) -> ApiResult<String> {
    Ok(headers
        .get(build_wire::SHA256_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| ApiError::bad_request("InvalidRequest", "an upload must declare its SHA-256"))?
        .to_ascii_lowercase())
}

async fn finish_build(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<build_wire::FinishResponse>> {
    let instance = request.caller.require_agent()?.to_string();
    let body: build_wire::Finish = request.json()?;
    ops::build_hosts::finish(&state, &instance, &id, body).await?;
    Ok(Json(build_wire::FinishResponse {}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn agents_of_another_protocol_are_told_what_to_install() {
        let headers = |protocol: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(wire::VERSION_HEADER, HeaderValue::from_static("0.9.0"));
            if let Some(p) = protocol {
                h.insert(wire::PROTOCOL_HEADER, HeaderValue::from_str(p).unwrap());
            }
            h
        };
        let ours = ferry_proto::AGENT_PROTOCOL_VERSION.to_string();
        assert_eq!(speaks_our_protocol(&headers(Some(&ours))).unwrap(), Some("0.9.0"));
        assert_eq!(speaks_our_protocol(&headers(None)).unwrap(), Some("0.9.0"), "agents before the header");
        let refused = speaks_our_protocol(&headers(Some("99"))).unwrap_err();
        assert_eq!(refused.status, StatusCode::UPGRADE_REQUIRED);
        assert_eq!(refused.code, "UnsupportedAgentVersion");
        assert!(refused.message.contains("speaks protocol 99"), "{}", refused.message);
        assert!(refused.message.contains(concat!("install ferry ", env!("CARGO_PKG_VERSION"))), "{}", refused.message);
    }
}
