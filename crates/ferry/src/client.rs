//! The client of ferry's native API (`ferry_proto::api`), used by the operator
//! commands: finds credentials, signs every request with SigV4 (service
//! [`ferry_proto::SIGNING_SERVICE`], region [`ferry_proto::SIGNING_REGION`])
//! and turns the server's answers into typed values or [`Error`]s.
//!
//! It is blocking on the outside: each client owns a current-thread tokio
//! runtime and every call runs to completion on it, over one pooled
//! connection where it can (one TLS handshake per command, not per request).
//!
//! Over https it trusts only the server's CA when it knows it: `--ca-file`
//! / `FERRY_CA_FILE`, else `tls/ca.pem` beside the credentials file it
//! uses (the server's data directory), else `./ferry-data/tls/ca.pem`;
//! without any, the system's roots (a server with a public certificate).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;
use ferry_proto::ErrorBody;
use ferry_proto::errors::{error_chain, find_cause, innermost};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Where ferry's server writes the admin credentials on first start, relative
/// to the directory it runs in (its default data directory is `./ferry-data`).
pub const DEFAULT_CREDENTIALS_FILE: &str = "ferry-data/credentials";
pub const DEFAULT_SERVER: &str = "https://127.0.0.1:7800";
/// Where the server keeps its own CA, relative to its data directory.
pub const CA_IN_DATA_DIR: &str = "tls/ca.pem";

/// How long a JSON request may take, all in; uploads have no overall limit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Read size when streaming a bundle.
const UPLOAD_CHUNK: usize = 256 * 1024;

/// The connection options every operator command takes.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The ferry server's URL.
    #[arg(long, value_name = "URL", env = "FERRY_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,
    /// An AWS-style credentials file to sign requests with [default:
    /// $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY, else ./ferry-data/credentials].
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// The profile to read from the credentials file [default: $AWS_PROFILE, else `default`;
    /// ./ferry-data/credentials is read with `default` unless --profile is given].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The CA (PEM) the server's certificate must chain to [default: tls/ca.pem beside
    /// the credentials file, i.e. the server's DATA_DIR/tls/ca.pem; else the system's roots].
    #[arg(long, value_name = "FILE", env = "FERRY_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

/// Why a command failed; each kind has its exit code (see [`Error::exit_code`]).
#[derive(Debug)]
pub enum Error {
    /// The server answered with an error body.
    Api { code: String, message: String },
    /// No connection to the server could be made.
    Unreachable { url: String, detail: String },
    /// The TLS handshake failed: the server's certificate is not trusted, or
    /// one side does not speak TLS.
    Tls { url: String, detail: String, hint: String },
    /// The command could not be carried out as given (credentials, local input).
    Setup(String),
    /// Anything else (an unexpected answer, an I/O failure mid-way).
    Other(String),
}

impl Error {
    /// 1 when the server refused or the operation failed, 2 when the command
    /// could not be carried out at all.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Api { .. } | Self::Other(_) => 1,
            Self::Unreachable { .. } | Self::Tls { .. } | Self::Setup(_) => 2,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api { code, message, .. } => write!(f, "{message} ({code})"),
            Self::Unreachable { url, detail } => {
                write!(f, "cannot reach the ferry server at {url}: {detail} (is `ferry server` running?)")
            }
            Self::Tls { url, detail, hint } => write!(f, "TLS with the ferry server at {url} failed: {detail}{hint}"),
            Self::Setup(message) | Self::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

// ---------------------------------------------------------------------------
// Credentials

/// The CA file to trust: `--ca-file`, else `tls/ca.pem` beside the
/// credentials file [`resolve_credentials`] reads, else
/// `./ferry-data/tls/ca.pem`; `None` when none exists (the system's roots).
pub fn resolve_ca_file(args: &ServerArgs) -> Result<Option<PathBuf>, Error> {
    if let Some(file) = &args.ca_file {
        if !file.exists() {
            return Err(Error::Setup(format!("--ca-file {}: no such file", file.display())));
        }
        return Ok(Some(file.clone()));
    }
    let env_keys = std::env::var("AWS_ACCESS_KEY_ID").is_ok_and(|v| !v.trim().is_empty());
    let credentials_file = match &args.credentials {
        Some(file) => Some(file.clone()),
        None if env_keys => None,
        None => Some(PathBuf::from(DEFAULT_CREDENTIALS_FILE)),
    };
    let beside = credentials_file.and_then(|f| f.parent().map(|dir| dir.join(CA_IN_DATA_DIR)));
    let fallback = Path::new(DEFAULT_CREDENTIALS_FILE).parent().map(|dir| dir.join(CA_IN_DATA_DIR));
    Ok([beside, fallback].into_iter().flatten().find(|path| path.exists()))
}

/// Finds the credentials to sign with, in order: `--credentials FILE`; the
/// environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional
/// `AWS_SESSION_TOKEN`); `./ferry-data/credentials` if it exists.
pub fn resolve_credentials(args: &ServerArgs) -> Result<ferry_sigv4::Credentials, Error> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(file) = &args.credentials {
        let profile = args.profile.clone().or_else(|| env("AWS_PROFILE")).unwrap_or_else(|| "default".into());
        return read_credentials_file(file, &profile);
    }
    match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(access_key_id), Some(secret_access_key)) => {
            return Ok(ferry_sigv4::Credentials {
                access_key_id: access_key_id.trim().to_string(),
                secret_access_key: secret_access_key.trim().to_string(),
                session_token: env("AWS_SESSION_TOKEN").map(|t| t.trim().to_string()),
            });
        }
        (Some(_), None) => {
            return Err(Error::Setup("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into()));
        }
        (None, Some(_)) => {
            return Err(Error::Setup("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into()));
        }
        (None, None) => {}
    }
    let fallback = Path::new(DEFAULT_CREDENTIALS_FILE);
    if fallback.exists() {
        // This file is ferry's own (profile `default`): an AWS_PROFILE meant
        // for AWS does not apply to it, an explicit --profile does.
        return read_credentials_file(fallback, args.profile.as_deref().unwrap_or("default"));
    }
    Err(Error::Setup(format!(
        "no credentials found: pass --credentials FILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
         or run from the directory holding ./{DEFAULT_CREDENTIALS_FILE} (written by `ferry server` on first start)"
    )))
}

fn read_credentials_file(path: &Path, profile: &str) -> Result<ferry_sigv4::Credentials, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Setup(format!("cannot read the credentials file {}: {e}", path.display())))?;
    let found = parse_credentials(&text, profile).map_err(|e| Error::Setup(format!("{}: {e}", path.display())))?;
    Ok(ferry_sigv4::Credentials {
        access_key_id: found.access_key_id,
        secret_access_key: found.secret_access_key,
        session_token: found.session_token,
    })
}

/// One profile of a credentials file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

/// Reads `profile` from text in the AWS credentials-file format: `[name]`
/// sections (`[profile name]` is accepted too), `key = value` lines, full-line
/// comments starting with `#` or `;`. Keys are case-insensitive; a section
/// given twice is merged, later values winning. Errors name the line or the
/// missing key.
pub fn parse_credentials(text: &str, profile: &str) -> Result<FileCredentials, String> {
    let mut section: Option<String> = None;
    let mut profiles: Vec<String> = Vec::new();
    let (mut key_id, mut secret, mut token) = (None, None, None);
    let mut seen = false;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| format!("line {}: expected `[profile]`, got {line:?}", index + 1))?
                .trim();
            let name = name.strip_prefix("profile ").map(str::trim).unwrap_or(name);
            if name.is_empty() {
                return Err(format!("line {}: empty profile name", index + 1));
            }
            if !profiles.iter().any(|p| p == name) {
                profiles.push(name.to_string());
            }
            seen |= name == profile;
            section = Some(name.to_string());
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected `key = value` or `[profile]`, got {line:?}", index + 1))?;
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        if section.is_none() {
            return Err(format!("line {}: `{key}` comes before any `[profile]` section", index + 1));
        }
        if section.as_deref() != Some(profile) || value.is_empty() {
            continue;
        }
        match key.as_str() {
            "aws_access_key_id" => key_id = Some(value.to_string()),
            "aws_secret_access_key" => secret = Some(value.to_string()),
            "aws_session_token" | "aws_security_token" => token = Some(value.to_string()),
            _ => {}
        }
    }
    if !seen {
        let known = if profiles.is_empty() { "none".to_string() } else { profiles.join(", ") };
        return Err(format!("no profile [{profile}] (profiles in the file: {known})"));
    }
    let missing = |what: &str| format!("profile [{profile}] has no {what}");
    Ok(FileCredentials {
        access_key_id: key_id.ok_or_else(|| missing("aws_access_key_id"))?,
        secret_access_key: secret.ok_or_else(|| missing("aws_secret_access_key"))?,
        session_token: token,
    })
}

// ---------------------------------------------------------------------------
// URLs

/// Percent-encodes `text` as SigV4 does: everything but `A-Z a-z 0-9 - _ . ~`.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string from the pairs whose value is present, encoded with [`encode`].
pub fn query(pairs: &[(&str, Option<&str>)]) -> String {
    pairs.iter().filter_map(|(k, v)| v.map(|v| format!("{}={}", encode(k), encode(v)))).collect::<Vec<_>>().join("&")
}

/// The server's base URL, checked: scheme, host, port and an optional path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Base {
    /// `https://host:port` (no trailing slash).
    origin: String,
    /// What the `Host` header says: `host` or `host:port`.
    host: String,
    /// A path prefix without a trailing slash (empty for none).
    prefix: String,
}

impl Base {
    fn parse(server: &str) -> Result<Self, Error> {
        let bad = |why: String| Error::Setup(format!("bad --server URL {server:?}: {why}"));
        let url = reqwest::Url::parse(server.trim()).map_err(|e| bad(e.to_string()))?;
        match url.scheme() {
            "https" | "http" => {}
            other => return Err(bad(format!("unsupported scheme {other}: (expected https://host:port)"))),
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a query or fragment is not allowed".into()));
        }
        let host_name = url.host_str().ok_or_else(|| bad("no host".into()))?;
        let host = match url.port() {
            Some(port) => format!("{host_name}:{port}"),
            None => host_name.to_string(),
        };
        let prefix = url.path().trim_end_matches('/').to_string();
        Ok(Self { origin: format!("{}://{host}", url.scheme()), host, prefix })
    }
}

// ---------------------------------------------------------------------------
// The client

/// A signed connection to one ferry server.
pub struct Client {
    base: Base,
    server: String,
    credentials: ferry_sigv4::Credentials,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    /// The CA trusted over https (`None`: the system's roots).
    ca_file: Option<PathBuf>,
}

/// How a request's body is given and hashed.
enum Payload {
    /// No body (GET).
    Empty,
    /// A JSON document, signed over its bytes.
    Json(Vec<u8>),
    /// A file streamed as-is, signed over its declared SHA-256.
    File { path: PathBuf, sha256: String, len: u64 },
}

impl Client {
    /// A client for `args.server` with the credentials [`resolve_credentials`] finds.
    pub fn connect(args: &ServerArgs) -> Result<Self, Error> {
        let base = Base::parse(&args.server)?;
        let credentials = resolve_credentials(args)?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")));
        let ca_file = if base.origin.starts_with("https://") { resolve_ca_file(args)? } else { None };
        if let Some(file) = &ca_file {
            let pem = std::fs::read(file)
                .map_err(|e| Error::Setup(format!("cannot read the CA file {}: {e}", file.display())))?;
            let ca = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| Error::Setup(format!("the CA file {} is not a PEM certificate: {e}", file.display())))?;
            // Only the server's own CA: no system root can vouch for an impostor.
            builder = builder.tls_certs_only([ca]);
        }
        let http =
            builder.build().map_err(|e| Error::Other(format!("cannot set up the HTTP client: {}", error_chain(&e))))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("cannot start the runtime: {e}")))?;
        Ok(Self { base, server: args.server.trim().to_string(), credentials, http, runtime, ca_file })
    }

    /// `GET path?query`, answered with JSON.
    pub fn get<T: DeserializeOwned>(&self, path: &str, query: &str) -> Result<T, Error> {
        self.send(reqwest::Method::GET, path, query, Payload::Empty)
    }

    /// `DELETE path`, answered with JSON.
    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.send(reqwest::Method::DELETE, path, "", Payload::Empty)
    }

    /// `POST path` with a JSON body, answered with JSON.
    pub fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, Error> {
        let bytes = serde_json::to_vec(body).map_err(|e| Error::Other(format!("cannot encode the request: {e}")))?;
        self.send(reqwest::Method::POST, path, "", Payload::Json(bytes))
    }

    /// `PATCH path` with a JSON body, answered with JSON.
    pub fn patch<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, Error> {
        let bytes = serde_json::to_vec(body).map_err(|e| Error::Other(format!("cannot encode the request: {e}")))?;
        self.send(reqwest::Method::PATCH, path, "", Payload::Json(bytes))
    }

    /// `PUT path` with a JSON body, answered with JSON.
    pub fn put<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, Error> {
        let bytes = serde_json::to_vec(body).map_err(|e| Error::Other(format!("cannot encode the request: {e}")))?;
        self.send(reqwest::Method::PUT, path, "", Payload::Json(bytes))
    }

    /// `GET path?query` whose answer (bytes, not JSON) is streamed into the
    /// new file `dest` while hashed; returns its SHA-256 (lowercase hex) and
    /// length. Like uploads, it has no overall time limit.
    pub fn download(&self, path: &str, query: &str, dest: &Path) -> Result<(String, u64), Error> {
        use sha2::Digest;
        use std::io::Write;
        let full_path = format!("{}{path}", self.base.prefix);
        let url = if query.is_empty() {
            format!("{}{full_path}", self.base.origin)
        } else {
            format!("{}{full_path}?{query}", self.base.origin)
        };
        let map = self.signed_headers(&reqwest::Method::GET, &full_path, query, &Payload::Empty)?;
        let what = format!("GET {full_path}");
        self.runtime.block_on(async {
            let mut response =
                self.http.get(&url).headers(map).send().await.map_err(|e| self.transport_error(&what, &e))?;
            let status = response.status();
            if !status.is_success() {
                let bytes = response.bytes().await.map_err(|e| self.transport_error(&what, &e))?;
                return Err(api_error(status.as_u16(), &bytes));
            }
            let write_error = |e: std::io::Error| Error::Other(format!("cannot write {}: {e}", dest.display()));
            // A CLI on a current-thread runtime: plain blocking writes are fine.
            let mut file = std::fs::File::create(dest).map_err(write_error)?;
            let mut hasher = sha2::Sha256::new();
            let mut len = 0u64;
            while let Some(chunk) = response.chunk().await.map_err(|e| self.transport_error(&what, &e))? {
                hasher.update(&chunk);
                len += chunk.len() as u64;
                file.write_all(&chunk).map_err(write_error)?;
            }
            file.sync_all().map_err(write_error)?;
            Ok((ferry_sigv4::hex(&hasher.finalize()), len))
        })
    }

    /// `POST path?query` with the file at `path` streamed as the body, signed
    /// with `x-amz-content-sha256: sha256` (the server checks the bytes against it).
    pub fn upload<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &str,
        file: &Path,
        sha256: &str,
        len: u64,
    ) -> Result<T, Error> {
        let payload = Payload::File { path: file.to_path_buf(), sha256: sha256.to_string(), len };
        self.send(reqwest::Method::POST, path, query, payload)
    }

    fn send<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &str,
        payload: Payload,
    ) -> Result<T, Error> {
        let full_path = format!("{}{path}", self.base.prefix);
        let url = if query.is_empty() {
            format!("{}{full_path}", self.base.origin)
        } else {
            format!("{}{full_path}?{query}", self.base.origin)
        };
        let map = self.signed_headers(&method, &full_path, query, &payload)?;
        let what = format!("{method} {full_path}");
        self.runtime.block_on(async {
            let mut request = self.http.request(method, &url).headers(map);
            request = match payload {
                Payload::Empty => request.timeout(REQUEST_TIMEOUT),
                Payload::Json(bytes) => request.timeout(REQUEST_TIMEOUT).body(bytes),
                Payload::File { path, .. } => {
                    let file = tokio::fs::File::open(&path)
                        .await
                        .map_err(|e| Error::Other(format!("cannot open {}: {e}", path.display())))?;
                    let stream = tokio_util::io::ReaderStream::with_capacity(file, UPLOAD_CHUNK);
                    request.body(reqwest::Body::wrap_stream(stream))
                }
            };
            let response = request.send().await.map_err(|e| self.transport_error(&what, &e))?;
            let status = response.status();
            let bytes = response.bytes().await.map_err(|e| self.transport_error(&what, &e))?;
            if status.is_success() {
                serde_json::from_slice(&bytes).map_err(|e| {
                    Error::Other(format!("the server's answer to {what} is not what this ferry expects: {e}"))
                })
            } else {
                Err(api_error(status.as_u16(), &bytes))
            }
        })
    }

    /// The request's headers with its SigV4 signature.
    fn signed_headers(
        &self,
        method: &reqwest::Method,
        full_path: &str,
        query: &str,
        payload: &Payload,
    ) -> Result<HeaderMap, Error> {
        let mut headers: Vec<(String, String)> = vec![("host".into(), self.base.host.clone())];
        match payload {
            Payload::Empty => {}
            Payload::Json(_) => headers.push(("content-type".into(), "application/json".into())),
            Payload::File { sha256, .. } => {
                headers.push(("content-type".into(), "application/octet-stream".into()));
                headers.push(("x-amz-content-sha256".into(), sha256.clone()));
            }
        }
        let signed_body: &[u8] = match payload {
            Payload::Json(bytes) => bytes,
            _ => &[],
        };
        let parts = ferry_sigv4::RequestParts {
            method: method.as_str(),
            path: full_path,
            query,
            headers: &headers,
            body: signed_body,
        };
        let added = ferry_sigv4::sign(
            &parts,
            &self.credentials,
            ferry_proto::SIGNING_SERVICE,
            ferry_proto::SIGNING_REGION,
            SystemTime::now(),
        );
        let mut map = HeaderMap::new();
        for (name, value) in headers.iter().chain(added.iter()) {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| Error::Other(format!("bad header name {name:?}: {e}")))?;
            let value =
                HeaderValue::from_str(value).map_err(|e| Error::Other(format!("bad value for header {name}: {e}")))?;
            map.insert(name, value);
        }
        if let Payload::File { len, .. } = payload {
            // Not signed (stacks may rewrite it), but sent so the stream is not chunked.
            map.insert(reqwest::header::CONTENT_LENGTH, HeaderValue::from(*len));
        }
        Ok(map)
    }

    /// `GET path?query` answered with server-sent events: calls `each` with
    /// every event's `(event, data)` until it returns false or the stream ends.
    pub fn follow_events(
        &self,
        path: &str,
        query: &str,
        mut each: impl FnMut(&str, &str) -> bool,
    ) -> Result<(), Error> {
        let full_path = format!("{}{path}", self.base.prefix);
        let url = format!("{}{full_path}?{query}", self.base.origin);
        let map = self.signed_headers(&reqwest::Method::GET, &full_path, query, &Payload::Empty)?;
        let what = format!("GET {full_path}");
        self.runtime.block_on(async {
            let mut response =
                self.http.get(&url).headers(map).send().await.map_err(|e| self.transport_error(&what, &e))?;
            let status = response.status();
            if !status.is_success() {
                let bytes = response.bytes().await.map_err(|e| self.transport_error(&what, &e))?;
                return Err(api_error(status.as_u16(), &bytes));
            }
            let mut pending = String::new();
            let (mut event, mut data) = (String::new(), String::new());
            while let Some(chunk) = response.chunk().await.map_err(|e| self.transport_error(&what, &e))? {
                pending.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = pending.find('\n') {
                    let line: String = pending.drain(..=end).collect();
                    let line = line.trim_end_matches(['\r', '\n']);
                    if line.is_empty() {
                        if !data.is_empty() && !each(&event, &data) {
                            return Ok(());
                        }
                        event.clear();
                        data.clear();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim_start().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        if !data.is_empty() {
                            data.push('\n');
                        }
                        data.push_str(v.trim_start());
                    }
                }
            }
            Ok(())
        })
    }

    fn transport_error(&self, what: &str, e: &reqwest::Error) -> Error {
        if let Some(tls) = find_cause::<rustls::Error>(e) {
            let hint = match (tls, &self.ca_file) {
                (rustls::Error::InvalidMessage(_), _) => {
                    " (does the server serve plain HTTP, `ferry server --insecure-http`? then use an http:// URL)"
                        .to_string()
                }
                (rustls::Error::InvalidCertificate(_), Some(file)) => format!(
                    " (checked against the CA in {}: is it this server's? pass --ca-file with the server's \
                     DATA_DIR/tls/ca.pem, or FERRY_CA_FILE)",
                    file.display()
                ),
                (rustls::Error::InvalidCertificate(_), None) => " (no CA file was found, so only the system's roots \
                     are trusted: pass --ca-file with the server's DATA_DIR/tls/ca.pem, or set FERRY_CA_FILE)"
                    .to_string(),
                _ => String::new(),
            };
            return Error::Tls { url: self.server.clone(), detail: tls.to_string(), hint };
        }
        if e.is_connect() {
            Error::Unreachable { url: self.server.clone(), detail: innermost(e) }
        } else if e.is_timeout() {
            Error::Other(format!("{what}: the server at {} did not answer in time", self.server))
        } else {
            Error::Other(format!("{what} failed: {}", error_chain(e)))
        }
    }
}

/// The error a non-2xx answer means: its `ErrorBody`, or the status and text.
fn api_error(status: u16, body: &[u8]) -> Error {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => Error::Api { code: e.code, message: e.message },
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message = if text.is_empty() {
                format!("the server answered HTTP {status}")
            } else {
                format!("the server answered HTTP {status}: {}", crate::cmd::output::truncate(text, 300))
            };
            Error::Api { code: format!("HTTP{status}"), message }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# written by ferry server
[default]
aws_access_key_id = FKIADEFAULT
aws_secret_access_key = secret/with+chars=

; another profile, with odd spacing
  [ ci ]
AWS_ACCESS_KEY_ID=FKIACI
	aws_secret_access_key   =   cisecret   
aws_session_token = tok
region = local

[profile named]
aws_access_key_id = FKIANAMED
aws_secret_access_key = named

[broken]
aws_access_key_id = FKIABROKEN
aws_secret_access_key =
";

    #[test]
    fn reads_the_default_profile() {
        let c = parse_credentials(FILE, "default").unwrap();
        assert_eq!(c.access_key_id, "FKIADEFAULT");
        assert_eq!(c.secret_access_key, "secret/with+chars=", "only the first = splits");
        assert_eq!(c.session_token, None);
    }

    #[test]
    fn reads_other_profiles_with_whitespace_case_and_tokens() {
        let c = parse_credentials(FILE, "ci").unwrap();
        assert_eq!(
            c,
            FileCredentials {
                access_key_id: "FKIACI".into(),
                secret_access_key: "cisecret".into(),
                session_token: Some("tok".into())
            }
        );
        assert_eq!(parse_credentials(FILE, "named").unwrap().access_key_id, "FKIANAMED");
    }

    #[test]
    fn missing_profile_lists_the_known_ones() {
        let e = parse_credentials(FILE, "prod").unwrap_err();
        assert_eq!(e, "no profile [prod] (profiles in the file: default, ci, named, broken)");
        assert_eq!(
            parse_credentials("# empty\n", "default").unwrap_err(),
            "no profile [default] (profiles in the file: none)"
        );
    }

    #[test]
    fn missing_or_empty_keys_are_named() {
        assert_eq!(parse_credentials(FILE, "broken").unwrap_err(), "profile [broken] has no aws_secret_access_key");
        let e = parse_credentials("[default]\naws_secret_access_key = s\n", "default").unwrap_err();
        assert_eq!(e, "profile [default] has no aws_access_key_id");
    }

    #[test]
    fn later_sections_merge() {
        let text =
            "[default]\naws_access_key_id = A\n[x]\naws_access_key_id = X\n[default]\naws_secret_access_key = S\n";
        let c = parse_credentials(text, "default").unwrap();
        assert_eq!((c.access_key_id.as_str(), c.secret_access_key.as_str()), ("A", "S"));
    }

    #[test]
    fn malformed_lines_are_reported_with_their_number() {
        let e = parse_credentials("[default]\naws_access_key_id A\n", "default").unwrap_err();
        assert!(e.starts_with("line 2: expected `key = value`"), "{e}");
        let e = parse_credentials("[default\n", "default").unwrap_err();
        assert!(e.starts_with("line 1: expected `[profile]`"), "{e}");
        let e = parse_credentials("aws_access_key_id = A\n[default]\n", "default").unwrap_err();
        assert!(e.contains("before any `[profile]`"), "{e}");
    }

    #[test]
    fn a_credentials_file_that_cannot_be_read_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let args = ServerArgs {
            server: DEFAULT_SERVER.into(),
            credentials: Some(dir.path().join("nope")),
            profile: Some("default".into()),
            ca_file: None,
        };
        let e = resolve_credentials(&args).unwrap_err();
        assert!(matches!(e, Error::Setup(_)));
        assert!(e.to_string().contains("cannot read the credentials file"), "{e}");
        let path = dir.path().join("creds");
        std::fs::write(&path, FILE).unwrap();
        let args = ServerArgs { credentials: Some(path.clone()), profile: Some("prod".into()), ..args };
        let e = resolve_credentials(&args).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: no profile [prod] (profiles in the file: default, ci, named, broken)", path.display())
        );
        let args = ServerArgs { profile: Some("ci".into()), ..args };
        assert_eq!(resolve_credentials(&args).unwrap().access_key_id, "FKIACI");
    }

    #[test]
    fn the_ca_is_found_beside_the_credentials_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("tls")).unwrap();
        let args = ServerArgs {
            server: DEFAULT_SERVER.into(),
            credentials: Some(data.join("credentials")),
            profile: None,
            ca_file: None,
        };
        assert_eq!(resolve_ca_file(&args).unwrap(), None, "no CA yet");
        std::fs::write(data.join("tls/ca.pem"), "x").unwrap();
        assert_eq!(resolve_ca_file(&args).unwrap(), Some(data.join("tls/ca.pem")));
        let given = ServerArgs { ca_file: Some(dir.path().join("other.pem")), ..args };
        let e = resolve_ca_file(&given).unwrap_err().to_string();
        assert!(e.contains("--ca-file") && e.contains("other.pem"), "{e}");
    }

    #[test]
    fn encodes_as_sigv4() {
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode("hello world/ü+&="), "hello%20world%2F%C3%BC%2B%26%3D");
        assert_eq!(
            query(&[("bundle_type", Some("zip")), ("description", None), ("x", Some("a b"))]),
            "bundle_type=zip&x=a%20b"
        );
    }

    #[test]
    fn parses_server_urls() {
        let b = Base::parse("http://127.0.0.1:7800").unwrap();
        assert_eq!(
            b,
            Base { origin: "http://127.0.0.1:7800".into(), host: "127.0.0.1:7800".into(), prefix: "".into() }
        );
        let b = Base::parse("http://ferry.internal/ferry/").unwrap();
        assert_eq!((b.host.as_str(), b.prefix.as_str()), ("ferry.internal", "/ferry"));
        let b = Base::parse("http://[::1]:80/").unwrap();
        assert_eq!((b.origin.as_str(), b.host.as_str()), ("http://[::1]", "[::1]"));
        assert!(Base::parse("127.0.0.1:7800").is_err());
        let b = Base::parse("https://127.0.0.1:7800").unwrap();
        assert_eq!(b.origin, "https://127.0.0.1:7800");
        assert!(Base::parse("ftp://x").unwrap_err().to_string().contains("https://"));
    }

    #[test]
    fn error_bodies_and_exit_codes() {
        let e = api_error(404, br#"{"code":"ApplicationDoesNotExist","message":"application web does not exist"}"#);
        assert_eq!(e.to_string(), "application web does not exist (ApplicationDoesNotExist)");
        assert_eq!(e.exit_code(), 1);
        let e = api_error(502, b"bad gateway");
        assert_eq!(e.to_string(), "the server answered HTTP 502: bad gateway (HTTP502)");
        let e =
            Error::Unreachable { url: "http://127.0.0.1:1".into(), detail: "Connection refused (os error 111)".into() };
        assert_eq!(
            e.to_string(),
            "cannot reach the ferry server at http://127.0.0.1:1: Connection refused (os error 111) (is `ferry server` running?)"
        );
        assert_eq!(e.exit_code(), 2);
    }
}
