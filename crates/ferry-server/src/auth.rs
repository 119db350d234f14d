//! Every request but enrolment is SigV4-signed; this module verifies the
//! signature against the store's access keys and says who is calling.

use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use ferry_core::resources::{AccessKey, Role, Subject};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// Largest JSON request body.
pub(crate) const MAX_JSON_BODY: usize = 1 << 20;
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// The verified caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub role: Role,
    /// For agent keys: the instance the key belongs to.
    pub instance: Option<String>,
    /// For deployer keys: what they may change (empty: everything).
    pub scopes: Vec<String>,
}

impl Caller {
    /// Operators may use the native API; agents may not.
    pub fn require_operator(&self) -> ApiResult<()> {
        match self.role {
            Role::Agent => Err(ApiError::forbidden("agent credentials cannot use the native API")),
            _ => Ok(()),
        }
    }

    /// Only admins and deployers change things, deployers only within
    /// their scopes. The refusal says why, in the same words on every API.
    pub fn may_change(&self, subject: Subject<'_>) -> Result<(), String> {
        match subject {
            Subject::Global => {}
            Subject::Application(app) | Subject::Revision(app) => crate::audit::note_target(app),
            Subject::Group(app, group) => crate::audit::note_target(format!("{app}/{group}")),
        }
        let key = AccessKey {
            id: self.key_id.clone(),
            secret: String::new(),
            role: self.role,
            instance: None,
            description: String::new(),
            create_time: 0,
            disabled: false,
            scopes: self.scopes.clone(),
        };
        if key.may_change(subject) {
            return Ok(());
        }
        Err(match self.role {
            Role::ReadOnly => format!("access key {} is read-only", self.key_id),
            Role::Agent => "agent credentials may only use the agent protocol".to_string(),
            _ => format!(
                "access key {} is limited to {}: it may not change {}",
                self.key_id,
                self.scopes.join(", "),
                describe(subject)
            ),
        })
    }

    /// [`Caller::may_change`], as the native API answers it.
    pub fn require_change(&self, subject: Subject<'_>) -> ApiResult<()> {
        self.may_change(subject).map_err(ApiError::forbidden)
    }

    /// A change to something outside every application (configs, target
    /// groups, alarms, instances): admins and unlimited deployers.
    pub fn require_writer(&self) -> ApiResult<()> {
        self.require_change(Subject::Global)
    }

    /// Only admins manage access keys.
    pub fn require_admin(&self) -> ApiResult<()> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(ApiError::forbidden(format!("access key {} is not an admin key", self.key_id))),
        }
    }

    pub fn require_agent(&self) -> ApiResult<&str> {
        match (&self.role, &self.instance) {
            (Role::Agent, Some(instance)) => Ok(instance),
            _ => Err(ApiError::forbidden("only an enrolled agent's credential may use the agent protocol")),
        }
    }
}

/// A signed request: the caller plus the body.
pub struct Signed {
    pub caller: Caller,
    pub body: Bytes,
}

impl Signed {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> ApiResult<T> {
        let body: &[u8] = if self.body.is_empty() { b"{}" } else { &self.body };
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request("InvalidRequest", format!("bad request body: {e}")))
    }
}

impl FromRequest<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, MAX_JSON_BODY)
            .await
            .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLarge", "request body too large"))?;
        let caller = authenticate(state, &parts, &body).await?;
        Ok(Signed { caller, body })
    }
}

/// Why a request is not authenticated, in terms each API edge can render.
#[derive(Debug)]
pub struct AuthFailure {
    pub status: StatusCode,
    /// The AWS exception name (`InvalidSignatureException`, …).
    pub aws_code: &'static str,
    pub message: String,
}

impl From<AuthFailure> for ApiError {
    fn from(f: AuthFailure) -> Self {
        ApiError::new(f.status, f.aws_code, f.message)
    }
}

/// Verifies the request's signature. For streamed bodies pass an empty
/// `body`: the signature then covers the `x-amz-content-sha256` the client
/// declared, which the caller must check against the streamed content.
pub async fn authenticate(state: &AppState, parts: &Parts, body: &[u8]) -> ApiResult<Caller> {
    Ok(verify_request(state, Service::Ferry, parts, body).await?)
}

/// The service a request's credential scope must name. The region is not
/// checked: clients sign with whatever region they are configured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The native API, the agent protocol and /metrics.
    Ferry,
    /// CodeDeploy's own API (`POST /`, `CodeDeploy_20141006.*` targets).
    CodeDeploy,
    /// CodeBuild's own API (`POST /`, `CodeBuild_20161006.*` targets).
    CodeBuild,
    /// CodePipeline's own API (`POST /`, `CodePipeline_20150709.*` targets).
    CodePipeline,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Ferry => ferry_proto::SIGNING_SERVICE,
            Service::CodeDeploy => ferry_aws::SIGNING_SERVICE,
            Service::CodeBuild => ferry_aws::codebuild::SIGNING_SERVICE,
            Service::CodePipeline => ferry_aws::codepipeline::SIGNING_SERVICE,
        }
    }
}

/// [`authenticate`], with the failure kept apart for the AWS edge.
pub async fn verify_request(
    state: &AppState,
    service: Service,
    parts: &Parts,
    body: &[u8],
) -> Result<Caller, AuthFailure> {
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let authorization = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let key_id = access_key_from_authorization(authorization);
    if let Some(id) = key_id {
        crate::audit::note_claimed_key(id);
    }
    let key = match key_id {
        Some(id) => state.store.get_access_key(id).await.ok(),
        None => None,
    };
    let request = ferry_sigv4::RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body,
    };
    let secret = key.as_ref().map(|k| k.secret.clone());
    let verified = ferry_sigv4::verify(&request, Some(service.name()), SystemTime::now(), MAX_CLOCK_SKEW, |_| secret)
        .map_err(|e| {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::FORBIDDEN);
        AuthFailure { status, aws_code: e.aws_code(), message: e.to_string() }
    })?;
    // A disabled key says so, but only to whoever holds its secret: an
    // unsigned guess learns nothing about which keys exist.
    if let Some(k) = key.as_ref().filter(|k| k.disabled) {
        let what = if k.role == Role::Agent { "agent credential" } else { "access key" };
        return Err(AuthFailure {
            status: StatusCode::FORBIDDEN,
            aws_code: "UnrecognizedClientException",
            message: format!("The security token included in the request is invalid: {what} {} is disabled.", k.id),
        });
    }
    // A body sent with UNSIGNED-PAYLOAD would be unauthenticated: only the
    // streamed upload (which checks its declared digest itself) may skip it.
    if matches!(verified.payload, ferry_sigv4::Payload::Unsigned) {
        return Err(AuthFailure {
            status: StatusCode::BAD_REQUEST,
            aws_code: "IncompleteSignatureException",
            message: "ferry requires signed payloads (UNSIGNED-PAYLOAD is not accepted)".into(),
        });
    }
    // Unreachable in practice: verify() fails first for a key without a secret.
    let key = key.ok_or_else(|| AuthFailure {
        status: StatusCode::FORBIDDEN,
        aws_code: "UnrecognizedClientException",
        message: "The security token included in the request is invalid.".into(),
    })?;
    debug_assert_eq!(key.id, verified.access_key_id);
    if let (Role::Agent, Some(instance)) = (key.role, &key.instance) {
        state.driver.saw(instance);
    }
    crate::audit::note_caller(&key.id, key.role);
    Ok(Caller { key_id: key.id, role: key.role, instance: key.instance, scopes: key.scopes })
}

/// A change's subject in words.
pub fn describe(subject: Subject<'_>) -> String {
    match subject {
        Subject::Global => {
            "resources outside applications (deployment configs, target groups, alarms, instances, build projects)"
                .into()
        }
        Subject::Application(app) => format!("application {app}"),
        Subject::Revision(app) => format!("revisions of application {app}"),
        Subject::Group(app, group) => format!("deployment group {app}/{group}"),
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is
/// case-insensitive (RFC 9110, section 11.1).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The access key id in `Credential=<id>/...`, if the header has one.
fn access_key_from_authorization(header: &str) -> Option<&str> {
    let start = header.find("Credential=")? + "Credential=".len();
    let rest = &header[start..];
    let end = rest.find('/')?;
    Some(rest[..end].trim())
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_access_key() {
        let h =
            "AWS4-HMAC-SHA256 Credential=AKID123/20250101/local/ferry/aws4_request, SignedHeaders=host, Signature=x";
        assert_eq!(super::access_key_from_authorization(h), Some("AKID123"));
        assert_eq!(super::access_key_from_authorization("Bearer x"), None);
    }

    #[test]
    fn bearer_schemes_are_case_insensitive() {
        for header in ["Bearer tok", "bearer tok", "BEARER  tok ", "bEaReR tok"] {
            assert_eq!(super::bearer_token(header), Some("tok"), "{header:?}");
        }
        for header in ["Bearertok", "Basic tok", "Bearer ", "Bearer", ""] {
            assert_eq!(super::bearer_token(header), None, "{header:?}");
        }
    }
}
