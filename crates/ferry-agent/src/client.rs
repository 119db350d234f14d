//! The agent's HTTP side: the one place the HTTP client is built, request
//! signing, the JSON calls of the agent protocol and the bundle download.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ferry_proto::agent::{
    EnrolRequest, EnrolResponse, EventReport, PollRequest, PollResponse, ReportResponse, Revision, VERSION_HEADER,
};
use ferry_proto::errors::{error_chain, find_cause};
use ferry_proto::{ErrorBody, SIGNING_REGION, SIGNING_SERVICE};
use ferry_sigv4::hex;
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::AGENT_VERSION;
use crate::backoff::Backoff;
use crate::error::AgentError;
use crate::tls::{Trust, Verdicts};

pub(crate) const ENROL_PATH: &str = "/agent/v1/enrol";
pub(crate) const POLL_PATH: &str = "/agent/v1/poll";
pub(crate) const REPORT_PATH: &str = "/agent/v1/report";
pub(crate) const BUNDLES_PATH: &str = "/agent/v1/bundles/";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections are kept this long (longer than any poll hold) and reused.
const POOL_IDLE: Duration = Duration::from_secs(120);
/// For enrolment and reports, which the server answers at once.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence while a bundle streams in.
const CHUNK_TIMEOUT: Duration = Duration::from_secs(60);
/// Tries for a bundle download that fails on the network or with a 5xx.
const DOWNLOAD_ATTEMPTS: u32 = 4;

/// This host's access key, as the server issued it at enrolment.
#[derive(Clone)]
pub(crate) struct HostKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Why a request got no usable answer.
#[derive(Debug)]
pub(crate) enum RequestError {
    /// No answer: connection refused or reset, timeout, truncated body.
    Network(String),
    /// The TLS handshake failed: the server is not the one this agent
    /// trusts (the message says why), or it does not speak TLS. Nothing
    /// was sent to it.
    Tls(String),
    /// The server answered with an error status; `message` is the server's.
    Status { status: u16, code: String, message: String },
    /// A 2xx answer that does not parse as the protocol says.
    BadResponse(String),
}

impl RequestError {
    /// Worth retrying: the server may answer properly later.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network(_) | Self::Tls(_) | Self::BadResponse(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
        }
    }

    /// The server does not accept this host's credential.
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Status { status: 401 | 403, .. })
    }

    /// A coarse kind, for logging once per change rather than once per retry.
    pub fn class(&self) -> String {
        match self {
            Self::Network(_) => "unreachable".into(),
            Self::Tls(_) => "TLS".into(),
            Self::Status { status, .. } => format!("HTTP {status}"),
            Self::BadResponse(_) => "bad response".into(),
        }
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Network(message) | Self::BadResponse(message) => f.write_str(message),
            Self::Tls(message) => write!(f, "refused the server (TLS): {message}"),
            Self::Status { status, code, message } => {
                let reason = StatusCode::from_u16(*status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
                write!(f, "HTTP {status} {reason}")?;
                if !code.is_empty() {
                    write!(f, " ({code})")?;
                }
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
        }
    }
}

/// A client of one ferry server. Cheap to clone; clones share connections
/// (kept alive and reused, so a poll costs no new TLS handshake).
#[derive(Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    /// What the TLS verifier saw (`None` over plain HTTP or the system's roots).
    verdicts: Option<Arc<Verdicts>>,
    /// The server address without a trailing `/`.
    base: String,
    /// The `Host` header, as signed.
    host: String,
    key: Option<Arc<HostKey>>,
}

impl Client {
    /// Builds the HTTP client; over https it trusts only what `trust` says.
    pub fn new(server: &str, trust: &Trust) -> Result<Self, AgentError> {
        let bad = |reason: &str| AgentError::BadServer { url: server.to_string(), reason: reason.to_string() };
        let url = Url::parse(server).map_err(|e| bad(&e.to_string()))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(bad(&format!("unsupported scheme {other:?}; expected https://host:port"))),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("the address must not have a query or fragment"));
        }
        let host_name = url.host_str().ok_or_else(|| bad("no host"))?;
        let host = match url.port() {
            Some(port) => format!("{host_name}:{port}"),
            None => host_name.to_string(),
        };
        let base = format!("{}://{}{}", url.scheme(), host, url.path().trim_end_matches('/'));
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE)
            .user_agent(format!("ferry-agent/{AGENT_VERSION}"));
        let mut verdicts = None;
        if https {
            let shared = Arc::new(Verdicts::default());
            if let Some(config) = crate::tls::client_config(trust, shared.clone()).map_err(AgentError::Setup)? {
                builder = builder.tls_backend_preconfigured(config);
                verdicts = Some(shared);
            }
        }
        let http = builder
            .build()
            .map_err(|e| AgentError::Setup(format!("cannot set up the HTTP client: {}", error_chain(&e))))?;
        Ok(Self { http, verdicts, base, host, key: None })
    }

    /// Whether this client speaks TLS to the server.
    pub fn is_https(&self) -> bool {
        self.base.starts_with("https://")
    }

    /// The CA a join token's fingerprint found in the server's chain, once a
    /// request went through.
    pub fn pinned_ca(&self) -> Option<rustls::pki_types::CertificateDer<'static>> {
        self.verdicts.as_ref()?.pinned_ca()
    }

    /// The same client, signing with `key`.
    pub fn with_key(&self, key: HostKey) -> Self {
        Self { key: Some(Arc::new(key)), ..self.clone() }
    }

    pub fn access_key_id(&self) -> &str {
        self.key.as_ref().map(|k| k.access_key_id.as_str()).unwrap_or("")
    }

    /// `POST /agent/v1/enrol` (unsigned: the join token is the proof).
    pub async fn enrol(&self, request: &EnrolRequest) -> Result<EnrolResponse, RequestError> {
        self.post_json(ENROL_PATH, request, REQUEST_TIMEOUT, false).await
    }

    /// `POST /agent/v1/poll`; `timeout` must exceed the server's hold.
    pub async fn poll(&self, request: &PollRequest, timeout: Duration) -> Result<PollResponse, RequestError> {
        self.post_json(POLL_PATH, request, timeout, true).await
    }

    /// `POST /agent/v1/report`.
    pub async fn report(&self, report: &EventReport) -> Result<ReportResponse, RequestError> {
        self.post_json(REPORT_PATH, report, REQUEST_TIMEOUT, true).await
    }

    pub(crate) async fn post_json<Q: Serialize, A: DeserializeOwned>(
        &self,
        path: &str,
        body: &Q,
        timeout: Duration,
        signed: bool,
    ) -> Result<A, RequestError> {
        let body = serde_json::to_vec(body).map_err(|e| RequestError::BadResponse(format!("cannot encode: {e}")))?;
        let response = self.send(Method::POST, path, Some(("application/json", body)), Some(timeout), signed).await?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| network_error(path, &e))?;
        if !status.is_success() {
            return Err(status_error(status, &bytes));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| RequestError::BadResponse(format!("unexpected answer to POST {path} (HTTP {status}): {e}")))
    }

    /// Sends one request with the version header, signed when `signed`.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        timeout: Option<Duration>,
        signed: bool,
    ) -> Result<reqwest::Response, RequestError> {
        let url = Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| RequestError::Network(format!("bad request address {}{path}: {e}", self.base)))?;
        let mut headers = vec![
            ("host".to_string(), self.host.clone()),
            (VERSION_HEADER.to_string(), AGENT_VERSION.to_string()),
            (ferry_proto::agent::PROTOCOL_HEADER.to_string(), ferry_proto::AGENT_PROTOCOL_VERSION.to_string()),
        ];
        let (content_type, body) = match body {
            Some((content_type, body)) => (Some(content_type), body),
            None => (None, Vec::new()),
        };
        if let Some(content_type) = content_type {
            headers.push(("content-type".to_string(), content_type.to_string()));
        }
        if signed && let Some(key) = &self.key {
            let credentials = ferry_sigv4::Credentials {
                access_key_id: key.access_key_id.clone(),
                secret_access_key: key.secret_access_key.clone(),
                session_token: None,
            };
            let parts = ferry_sigv4::RequestParts {
                method: method.as_str(),
                path: url.path(),
                query: url.query().unwrap_or(""),
                headers: &headers,
                body: &body,
            };
            let extra = ferry_sigv4::sign(&parts, &credentials, SIGNING_SERVICE, SIGNING_REGION, SystemTime::now());
            headers.extend(extra);
        }
        let mut request = self.http.request(method.clone(), url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        if content_type.is_some() {
            request = request.body(body);
        }
        request.send().await.map_err(|e| self.network_error(&format!("{method} {path}"), &e))
    }

    /// A failed request's error: the TLS verifier's account of a refused
    /// server first, then any other TLS failure, else a network error.
    fn network_error(&self, what: &str, e: &reqwest::Error) -> RequestError {
        if let Some(why) = self.verdicts.as_ref().and_then(|v| v.take()) {
            return RequestError::Tls(format!("{what} to {}: {why}", self.base));
        }
        if let Some(tls) = find_cause::<rustls::Error>(e) {
            let hint = match tls {
                rustls::Error::InvalidMessage(_) => {
                    "; does the server speak plain HTTP (`ferry server --insecure-http`)? then use an http:// URL"
                }
                // Only the system's roots: no CA was pinned (enrolled over plain HTTP).
                rustls::Error::InvalidCertificate(_) if self.verdicts.is_none() => {
                    "; this agent has no pinned CA and trusts only the system's roots: pass --ca-file with \
                     the server's DATA_DIR/tls/ca.pem"
                }
                _ => "",
            };
            return RequestError::Tls(format!("{what} to {}: {tls}{hint}", self.base));
        }
        network_error(what, e)
    }

    /// `GET /agent/v1/bundles/<sha256>` into `dest`, checking size and
    /// SHA-256 as it streams. Network errors and 5xx answers are retried a
    /// few times; anything else fails at once.
    pub async fn download(&self, revision: &Revision, dest: &Path, retry: &Backoff) -> Result<(), String> {
        let path = format!("{BUNDLES_PATH}{}", encode_segment(&revision.sha256));
        self.download_checked(&path, &revision.sha256, revision.size, dest, retry, &revision.id).await
    }

    /// `GET path` into `dest`, checking size and SHA-256 as it streams;
    /// network errors and 5xx answers are retried a few times.
    pub(crate) async fn download_checked(
        &self,
        path: &str,
        sha256: &str,
        size: u64,
        dest: &Path,
        retry: &Backoff,
        what: &str,
    ) -> Result<(), String> {
        let expected = Expected { sha256, size };
        let mut backoff = retry.clone();
        let mut attempt = 1;
        loop {
            match self.download_once(path, &expected, dest).await {
                Ok(()) => return Ok(()),
                Err(Download::Transient(message)) if attempt < DOWNLOAD_ATTEMPTS => {
                    let delay = backoff.next_delay();
                    tracing::warn!(what, attempt, error = %message, "download failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(Download::Transient(message) | Download::Fatal(message)) => {
                    let _ = tokio::fs::remove_file(dest).await;
                    return Err(message);
                }
            }
        }
    }

    async fn download_once(&self, path: &str, revision: &Expected<'_>, dest: &Path) -> Result<(), Download> {
        let mut response = self.send(Method::GET, path, None, None, true).await.map_err(|e| match e {
            e if e.is_transient() => Download::Transient(format!("GET {path}: {e}")),
            e => Download::Fatal(format!("GET {path}: {e}")),
        })?;
        let status = response.status();
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            let error = status_error(status, &body);
            let message = format!("the server answered GET {path} with {error}");
            return Err(if error.is_transient() { Download::Transient(message) } else { Download::Fatal(message) });
        }
        let io = |what: &str, e: std::io::Error| Download::Fatal(format!("cannot {what} {}: {e}", dest.display()));
        let mut file = tokio::fs::File::create(dest).await.map_err(|e| io("create", e))?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        loop {
            let chunk = match tokio::time::timeout(CHUNK_TIMEOUT, response.chunk()).await {
                Err(_) => {
                    return Err(Download::Transient(format!(
                        "GET {path}: no data for {} s after {size} bytes",
                        CHUNK_TIMEOUT.as_secs()
                    )));
                }
                Ok(Err(e)) => return Err(Download::Transient(self.network_error(path, &e).to_string())),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            size += chunk.len() as u64;
            if size > revision.size {
                return Err(Download::Fatal(format!(
                    "bundle digest mismatch: expected sha256 {} ({} bytes), got more than {} bytes",
                    revision.sha256, revision.size, revision.size
                )));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(|e| io("write", e))?;
        }
        file.flush().await.map_err(|e| io("write", e))?;
        let digest = hex(&hasher.finalize());
        if !digest.eq_ignore_ascii_case(revision.sha256) || size != revision.size {
            return Err(Download::Fatal(format!(
                "bundle digest mismatch: expected sha256 {} ({} bytes), got {digest} ({size} bytes)",
                revision.sha256, revision.size
            )));
        }
        Ok(())
    }
}

enum Download {
    Transient(String),
    Fatal(String),
}

/// What a download must turn out to be.
struct Expected<'a> {
    sha256: &'a str,
    size: u64,
}

impl Client {
    /// `GET path` into `dest` when the server has it (404: `Ok(false)`); the
    /// bytes must hash to the answer's ETag (a SHA-256).
    pub(crate) async fn get_optional(&self, path: &str, dest: &Path, max: u64) -> Result<bool, String> {
        let mut response =
            self.send(Method::GET, path, None, None, true).await.map_err(|e| format!("GET {path}: {e}"))?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            return Err(format!("the server answered GET {path} with {}", status_error(status, &body)));
        }
        let etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_matches('"').to_ascii_lowercase())
            .unwrap_or_default();
        let mut file =
            tokio::fs::File::create(dest).await.map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = tokio::time::timeout(CHUNK_TIMEOUT, response.chunk())
            .await
            .map_err(|_| format!("GET {path}: no data for {} s", CHUNK_TIMEOUT.as_secs()))?
            .map_err(|e| self.network_error(path, &e).to_string())?
        {
            size += chunk.len() as u64;
            if size > max {
                return Err(format!("GET {path}: more than {max} bytes"));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
        }
        file.flush().await.map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
        let digest = hex(&hasher.finalize());
        if digest != etag {
            return Err(format!("GET {path}: sha256 {digest} arrived, the server said {etag}"));
        }
        Ok(true)
    }

    /// `PUT path` with the file's bytes streamed, its SHA-256 declared (and
    /// signed) in `x-amz-content-sha256` for the server to check.
    pub(crate) async fn put_file(&self, path: &str, file: &Path, sha256: &str) -> Result<(), RequestError> {
        let handle = tokio::fs::File::open(file)
            .await
            .map_err(|e| RequestError::Network(format!("cannot read {}: {e}", file.display())))?;
        let size = handle.metadata().await.map(|m| m.len()).unwrap_or(0);
        let url = Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| RequestError::Network(format!("bad request address {}{path}: {e}", self.base)))?;
        let mut headers = vec![
            ("host".to_string(), self.host.clone()),
            (VERSION_HEADER.to_string(), AGENT_VERSION.to_string()),
            (ferry_proto::agent::PROTOCOL_HEADER.to_string(), ferry_proto::AGENT_PROTOCOL_VERSION.to_string()),
            ("x-amz-content-sha256".to_string(), sha256.to_string()),
            ("content-type".to_string(), "application/zip".to_string()),
        ];
        if let Some(key) = &self.key {
            let credentials = ferry_sigv4::Credentials {
                access_key_id: key.access_key_id.clone(),
                secret_access_key: key.secret_access_key.clone(),
                session_token: None,
            };
            let parts = ferry_sigv4::RequestParts {
                method: "PUT",
                path: url.path(),
                query: url.query().unwrap_or(""),
                headers: &headers,
                body: &[],
            };
            let extra = ferry_sigv4::sign(&parts, &credentials, SIGNING_SERVICE, SIGNING_REGION, SystemTime::now());
            headers.extend(extra);
        }
        let mut request = self.http.request(Method::PUT, url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let stream = tokio_util::io::ReaderStream::with_capacity(handle, 256 * 1024);
        let response = request
            .header("content-length", size.to_string())
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .map_err(|e| self.network_error(&format!("PUT {path}"), &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let bytes = response.bytes().await.unwrap_or_default();
        Err(status_error(status, &bytes))
    }
}

fn status_error(status: StatusCode, body: &[u8]) -> RequestError {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) => (error.code, error.message),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let cut: String = text.chars().take(500).collect();
            (String::new(), cut)
        }
    };
    RequestError::Status { status: status.as_u16(), code, message }
}

fn network_error(what: &str, e: &reqwest::Error) -> RequestError {
    if e.is_timeout() {
        return RequestError::Network(format!("{what}: timed out"));
    }
    RequestError::Network(format!("{what}: {}", error_chain(e)))
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        let system = Trust::System;
        let c = Client::new("http://127.0.0.1:7800/", &system).unwrap();
        assert_eq!((c.base.as_str(), c.host.as_str()), ("http://127.0.0.1:7800", "127.0.0.1:7800"));
        assert!(!c.is_https());
        let c = Client::new("https://ferry.example/prefix/", &system).unwrap();
        assert_eq!((c.base.as_str(), c.host.as_str()), ("https://ferry.example/prefix", "ferry.example"));
        assert!(c.is_https());
        let c = Client::new("https://[::1]:7800", &Trust::Fingerprint("00".repeat(32))).unwrap();
        assert_eq!(c.host, "[::1]:7800");
        for bad in ["ferry:7800", "ftp://x", "http://x/?a=b"] {
            assert!(Client::new(bad, &system).is_err(), "{bad}");
        }
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("rev-1.2_x~"), "rev-1.2_x~");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn status_errors_carry_the_server_message() {
        let e = status_error(StatusCode::CONFLICT, br#"{"code":"NameTaken","message":"web-1 is enrolled"}"#);
        assert_eq!(e.to_string(), "HTTP 409 Conflict (NameTaken): web-1 is enrolled");
        assert!(!e.is_transient() && !e.is_auth());
        let e = status_error(StatusCode::BAD_GATEWAY, b"<html>oops</html>");
        assert_eq!(e.to_string(), "HTTP 502 Bad Gateway: <html>oops</html>");
        assert!(e.is_transient());
        assert!(status_error(StatusCode::FORBIDDEN, b"").is_auth());
    }
}
