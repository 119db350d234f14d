//! Revisions kept in S3 (or any S3-compatible store: MinIO, Ceph, moto).
//!
//! Built on `object_store`'s S3 client: SigV4 signing, retries with backoff,
//! and a streaming GET whose body goes straight into [`LocalBlobs`] without
//! being held in memory. The ETag check of the CodeDeploy agent
//! (`command_executor.rb`) happens before the body is read, with its message.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, RetryConfig};

use crate::{BlobError, BlobInfo, FetchError, LocalBlobs};

/// The environment variable the server reads `--s3-endpoint` from.
pub const S3_ENDPOINT_ENV: &str = "FERRY_S3_ENDPOINT";

const DEFAULT_REGION: &str = "us-east-1";
/// The whole of one fetch (HEAD or GET and the body), retries included.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Static AWS credentials. `Debug` never shows the secret or the token.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl S3Credentials {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and the optional
    /// `AWS_SESSION_TOKEN`; `None` when the first two are not both set.
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(Self {
            access_key_id: var("AWS_ACCESS_KEY_ID")?,
            secret_access_key: var("AWS_SECRET_ACCESS_KEY")?,
            session_token: var("AWS_SESSION_TOKEN"),
        })
    }
}

/// What a HEAD of an object tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    /// Without quotes.
    pub etag: String,
    /// `None` for a bucket that never had versioning.
    pub version: Option<String>,
    pub size: u64,
}

/// An object copied into the blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedS3 {
    pub info: BlobInfo,
    /// Without quotes: what hooks see as `BUNDLE_ETAG`.
    pub etag: String,
    /// What hooks see as `BUNDLE_VERSION`.
    pub version: Option<String>,
}

/// Where S3 is and who ferry is to it.
///
/// - Endpoint: the server's `--s3-endpoint` / `FERRY_S3_ENDPOINT`; without
///   one, AWS itself (`https://<bucket>.s3.<region>.amazonaws.com`, or path
///   style for bucket names with dots). A custom endpoint is addressed path
///   style (`<endpoint>/<bucket>/<key>`), which MinIO, Ceph and moto expect;
///   plain `http://` is allowed only when the endpoint says so.
/// - Region: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`.
/// - Credentials: [`S3Credentials::from_env`]. Without them requests are
///   sent unsigned (public buckets). The EC2 instance metadata service and
///   AWS profiles are deliberately not consulted.
#[derive(Clone)]
pub struct S3Source {
    endpoint: Option<String>,
    region: String,
    credentials: Option<S3Credentials>,
    timeout: Duration,
    /// One client per bucket (object_store binds a client to a bucket).
    stores: Arc<Mutex<HashMap<String, Arc<AmazonS3>>>>,
}

impl fmt::Debug for S3Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Source")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("credentials", &self.credentials)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One object's address, for messages.
struct Location<'a> {
    bucket: &'a str,
    key: &'a str,
    version: Option<&'a str>,
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)?;
        if let Some(version) = self.version {
            write!(f, " (version {version})")?;
        }
        Ok(())
    }
}

impl S3Source {
    /// The region and credentials from the standard AWS environment
    /// variables; `endpoint` is the server's `--s3-endpoint` value.
    pub fn from_env(endpoint: Option<&str>) -> Result<Self, FetchError> {
        let region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
        Self::new(endpoint, region.as_deref(), S3Credentials::from_env())
    }

    /// An explicit configuration (tests, or a server given its own).
    pub fn new(
        endpoint: Option<&str>,
        region: Option<&str>,
        credentials: Option<S3Credentials>,
    ) -> Result<Self, FetchError> {
        let endpoint = endpoint.filter(|e| !e.is_empty()).map(check_endpoint).transpose()?;
        let region = region.filter(|r| !r.is_empty()).unwrap_or(DEFAULT_REGION);
        if !region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(FetchError::Invalid(format!("invalid AWS region {region:?}")));
        }
        Ok(Self { endpoint, region: region.to_string(), credentials, timeout: DEFAULT_TIMEOUT, stores: Arc::default() })
    }

    /// Bounds each fetch (default 30 minutes).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// HEADs an object (RegisterApplicationRevision checks the revision
    /// exists and records its ETag, version and size).
    pub async fn stat_s3(&self, bucket: &str, key: &str, version: Option<&str>) -> Result<S3Object, FetchError> {
        let version = version.filter(|v| !v.is_empty());
        let loc = Location { bucket, key, version };
        let (store, path) = self.store(&loc)?;
        let options = GetOptions { head: true, version: version.map(str::to_string), ..Default::default() };
        let meta = self.bounded(&loc, store.get_opts(&path, options)).await?.map_err(|e| store_error(e, &loc))?.meta;
        let object = S3Object {
            etag: meta.e_tag.as_deref().map(unquote).unwrap_or_default().to_string(),
            version: meta.version,
            size: meta.size,
        };
        check_version(version, object.version.as_deref())?;
        Ok(object)
    }

    /// GETs an object (the given version, else the current one) into the
    /// blob store, at most `limit` bytes. When `expected_etag` is given the
    /// object's ETag must match (quotes and case ignored), checked before
    /// the body is read; nothing is stored on any error. Empty `version` and
    /// `expected_etag` strings count as absent.
    pub async fn fetch_s3(
        &self,
        blobs: &LocalBlobs,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        expected_etag: Option<&str>,
        limit: u64,
    ) -> Result<FetchedS3, FetchError> {
        self.fetch_s3_counting(blobs, bucket, key, version, expected_etag, limit, Arc::default()).await
    }

    /// [`S3Source::fetch_s3`], adding each chunk's size to `progress` as it
    /// arrives (to show a long copy's progress).
    #[allow(clippy::too_many_arguments)]
    pub async fn fetch_s3_counting(
        &self,
        blobs: &LocalBlobs,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        expected_etag: Option<&str>,
        limit: u64,
        progress: Arc<std::sync::atomic::AtomicU64>,
    ) -> Result<FetchedS3, FetchError> {
        // Empty strings are absent ones: no ETag check, the current version.
        let version = version.filter(|v| !v.is_empty());
        let expected_etag = expected_etag.map(unquote).filter(|e| !e.is_empty());
        let loc = Location { bucket, key, version };
        let (store, path) = self.store(&loc)?;
        self.bounded(&loc, async {
            let options = GetOptions { version: version.map(str::to_string), ..Default::default() };
            let result = store.get_opts(&path, options).await.map_err(|e| store_error(e, &loc))?;
            let etag = result.meta.e_tag.as_deref().map(unquote).unwrap_or_default().to_string();
            if let Some(expected) = expected_etag
                && !expected.eq_ignore_ascii_case(&etag)
            {
                return Err(FetchError::EtagMismatch { expected: expected.to_string(), actual: etag });
            }
            let actual_version = result.meta.version.clone();
            check_version(version, actual_version.as_deref())?;
            let size = result.meta.size;
            if size > limit {
                return Err(BlobError::TooLarge(limit).into());
            }
            // Keep the transport's error: the blob store only sees an io::Error.
            let failure: Arc<Mutex<Option<String>>> = Arc::default();
            let seen = Arc::clone(&failure);
            let body = result.into_stream().map(move |chunk| {
                if let Ok(bytes) = &chunk {
                    progress.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                }
                chunk.map_err(|e| {
                    let message = e.to_string();
                    *seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(message.clone());
                    std::io::Error::other(message)
                })
            });
            let pending = match blobs.put_pending(tokio_util::io::StreamReader::new(body), limit).await {
                Ok(pending) => pending,
                Err(e) => {
                    let transport = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
                    return Err(match transport {
                        Some(message) => FetchError::Unreachable(format!("downloading {loc} failed: {message}")),
                        None => e.into(),
                    });
                }
            };
            if pending.info().size != size {
                return Err(FetchError::Unreachable(format!(
                    "downloading {loc} ended after {} of its {size} bytes",
                    pending.info().size
                )));
            }
            let info = pending.commit().await?;
            Ok(FetchedS3 { info, etag, version: actual_version })
        })
        .await?
    }

    /// Uploads the blob `blob_key` to `s3://bucket/key` (a multipart upload
    /// in 8 MiB parts, so any size streams from disk); returns the ETag.
    pub async fn put_s3(
        &self,
        blobs: &LocalBlobs,
        blob_key: &str,
        bucket: &str,
        key: &str,
    ) -> Result<String, FetchError> {
        use tokio::io::AsyncReadExt;
        const PART: usize = 8 << 20;
        let loc = Location { bucket, key, version: None };
        let (store, path) = self.store(&loc)?;
        let (mut file, _) = blobs.open_blob(blob_key).await?;
        self.bounded(&loc, async {
            let upload = store.put_multipart(&path).await.map_err(|e| store_error(e, &loc))?;
            let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PART);
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = file
                    .read(&mut buf)
                    .await
                    .map_err(|e| FetchError::Unreachable(format!("reading {blob_key}: {e}")))?;
                if n == 0 {
                    break;
                }
                writer.wait_for_capacity(4).await.map_err(|e| store_error(e, &loc))?;
                writer.write(&buf[..n]);
            }
            let done = writer.finish().await.map_err(|e| store_error(e, &loc))?;
            Ok(done.e_tag.as_deref().map(unquote).unwrap_or_default().to_string())
        })
        .await?
    }

    async fn bounded<T>(&self, loc: &Location<'_>, work: impl Future<Output = T>) -> Result<T, FetchError> {
        tokio::time::timeout(self.timeout, work).await.map_err(|_| {
            FetchError::Unreachable(format!("fetching {loc} did not finish within {} s", self.timeout.as_secs()))
        })
    }

    fn store(&self, loc: &Location<'_>) -> Result<(Arc<AmazonS3>, ObjectPath), FetchError> {
        check_bucket(loc.bucket)?;
        if let Some(version) = loc.version
            && (version.is_empty() || version.len() > 1024 || version.chars().any(char::is_control))
        {
            return Err(FetchError::Invalid(format!("invalid S3 object version {version:?}")));
        }
        // object_store cannot address keys with empty, "." or ".." segments.
        let path = ObjectPath::parse(loc.key)
            .ok()
            .filter(|p| p.as_ref() == loc.key && !loc.key.is_empty())
            .ok_or_else(|| {
                FetchError::Invalid(format!(
                    "S3 key {:?} is not supported: it must be non-empty, without control characters, \
                     leading, trailing or doubled slashes, or \".\" / \"..\" segments",
                    loc.key
                ))
            })?;
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = stores.get(loc.bucket) {
            return Ok((Arc::clone(store), path));
        }
        let store = Arc::new(self.build(loc.bucket)?);
        stores.insert(loc.bucket.to_string(), Arc::clone(&store));
        Ok((store, path))
    }

    fn build(&self, bucket: &str) -> Result<AmazonS3, FetchError> {
        // No overall request timeout (bundles may be large; `bounded` covers
        // the whole fetch), but a stalled connection fails after a minute.
        let options = ClientOptions::new()
            .with_timeout_disabled()
            .with_connect_timeout(Duration::from_secs(10))
            .with_read_timeout(Duration::from_secs(60))
            .with_allow_http(self.endpoint.as_deref().is_some_and(|e| e.starts_with("http://")));
        let retry = RetryConfig { max_retries: 4, retry_timeout: Duration::from_secs(60), ..Default::default() };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&self.region)
            .with_client_options(options)
            .with_retry(retry);
        builder = match &self.endpoint {
            Some(endpoint) => builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false),
            // Dots in a bucket name break the TLS name of virtual-hosted style.
            None => builder.with_virtual_hosted_style_request(!bucket.contains('.')),
        };
        builder = match &self.credentials {
            Some(c) => {
                let b = builder.with_access_key_id(&c.access_key_id).with_secret_access_key(&c.secret_access_key);
                match &c.session_token {
                    Some(token) => b.with_token(token),
                    None => b,
                }
            }
            None => builder.with_skip_signature(true),
        };
        builder.build().map_err(|e| FetchError::Invalid(format!("S3 client for bucket {bucket}: {e}")))
    }
}

fn check_endpoint(endpoint: &str) -> Result<String, FetchError> {
    let rest = endpoint.strip_prefix("https://").or_else(|| endpoint.strip_prefix("http://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or(""));
    if host.is_none_or(str::is_empty) || endpoint.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(FetchError::Invalid(format!("S3 endpoint {endpoint:?} must be an http:// or https:// URL")));
    }
    Ok(endpoint.trim_end_matches('/').to_string())
}

/// Bucket names: S3's current rules plus the legacy ones (upper case and
/// `_` in old us-east-1 buckets); never anything that changes the URL.
fn check_bucket(bucket: &str) -> Result<(), FetchError> {
    let valid = (3..=255).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && bucket.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if valid { Ok(()) } else { Err(FetchError::Invalid(format!("invalid S3 bucket name {bucket:?}"))) }
}

fn check_version(expected: Option<&str>, actual: Option<&str>) -> Result<(), FetchError> {
    match (expected, actual) {
        // S3 reports no version for unversioned buckets, where "null" is the only version.
        (Some(expected), actual) if actual.unwrap_or("null") != expected => Err(FetchError::VersionMismatch {
            expected: expected.to_string(),
            actual: actual.unwrap_or("null").to_string(),
        }),
        _ => Ok(()),
    }
}

/// `"abc"`, `W/"abc"` → `abc`.
fn unquote(etag: &str) -> &str {
    let etag = etag.trim();
    let etag = etag.strip_prefix("W/").unwrap_or(etag);
    etag.strip_prefix('"').and_then(|e| e.strip_suffix('"')).unwrap_or(etag)
}

fn store_error(error: object_store::Error, loc: &Location<'_>) -> FetchError {
    let text = error.to_string();
    // The S3 error code, from the XML body object_store includes in its message.
    let code = text.split("<Code>").nth(1).and_then(|rest| rest.split("</Code>").next()).unwrap_or("");
    let bucket = loc.bucket;
    match error {
        object_store::Error::NotFound { .. } => FetchError::NotFound(match code {
            "NoSuchBucket" => format!("The specified bucket does not exist: {bucket}"),
            "NoSuchKey" => format!("The specified key does not exist: {loc}"),
            "NoSuchVersion" => format!("The specified version does not exist: {loc}"),
            _ => format!("{loc} does not exist (no such bucket, key or version)"),
        }),
        _ if matches!(code, "NoSuchVersion" | "InvalidArgument") && loc.version.is_some() => {
            FetchError::NotFound(format!("The specified version does not exist: {loc}"))
        }
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            FetchError::Unreachable(format!("Access Denied to {loc}: {}", short(&text)))
        }
        _ => FetchError::Unreachable(format!("fetching {loc} failed: {}", short(&text))),
    }
}

/// At most 1000 characters of a message.
fn short(text: &str) -> String {
    match text.char_indices().nth(1000) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_compared_without_quotes() {
        assert_eq!(unquote("\"abc\""), "abc");
        assert_eq!(unquote("W/\"abc\""), "abc");
        assert_eq!(unquote("abc"), "abc");
    }

    #[test]
    fn buckets_and_endpoints_are_checked() {
        assert!(check_bucket("my-bucket.example").is_ok());
        for bad in ["", "ab", "a/b", "bucket?x", "-bucket", "bucket name"] {
            assert!(matches!(check_bucket(bad), Err(FetchError::Invalid(_))), "{bad}");
        }
        assert_eq!(check_endpoint("http://127.0.0.1:9000/").unwrap(), "http://127.0.0.1:9000");
        for bad in ["127.0.0.1:9000", "ftp://x", "http://", "https:// x"] {
            assert!(matches!(check_endpoint(bad), Err(FetchError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn credentials_do_not_show_secrets() {
        let c = S3Credentials {
            access_key_id: "AKIA".into(),
            secret_access_key: "very-secret".into(),
            session_token: Some("token-secret".into()),
        };
        let shown = format!("{c:?}");
        assert!(shown.contains("AKIA") && !shown.contains("secret\"") && !shown.contains("very-secret"));
        assert!(!shown.contains("token-secret"));
    }

    #[test]
    fn versions_of_unversioned_buckets_are_null() {
        assert!(check_version(Some("null"), None).is_ok());
        assert!(check_version(None, Some("v1")).is_ok());
        let err = check_version(Some("v1"), Some("v2")).unwrap_err();
        assert_eq!(err.to_string(), "Expected deployment artifact bundle version v1 but was actually v2");
    }
}
