//! Where revision bundles live on the server.
//!
//! Blobs are written under a temporary name while their SHA-256 is computed,
//! checked against the digest the uploader claimed, and only then renamed to
//! their key, so a reader never sees a partial blob and a crash leaves at
//! most a stray temporary file. Keys are `sha256/<hex>`: the same bundle
//! uploaded twice is stored once.
//!
//! Revisions that users keep elsewhere are copied in: [`S3Source`] streams an
//! S3 object (any S3-compatible store) into the blob store, [`GitSource`]
//! turns one commit of a git repository into a tar bundle. Agents only ever
//! download from ferry's server.
//!
//! **Architecture Invariant:** knows nothing of SQL, deployments or HTTP
//! routes (it is an HTTP *client* of S3, never a server).

mod fetch;
mod git;
mod s3;

pub use fetch::FetchError;
pub use git::{CommitInfo, DEFAULT_GIT_BASE_URL, DEFAULT_GIT_TIMEOUT, GIT_BASE_URL_ENV, GitSource};
pub use s3::{FetchedS3, S3_ENDPOINT_ENV, S3Credentials, S3Object, S3Source};

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("the upload's SHA-256 is {actual}, not the {expected} it was sent with")]
    DigestMismatch { expected: String, actual: String },
    #[error("the upload is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("blob {0} does not exist")]
    NotFound(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

/// A stored blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub key: String,
    pub sha256: String,
    pub size: u64,
}

/// Blobs in a local directory.
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    dir: PathBuf,
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BlobError {
    let context = context.into();
    move |source| BlobError::Io { context, source }
}

impl LocalBlobs {
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let dir = dir.into();
        tokio::fs::create_dir_all(dir.join("sha256")).await.map_err(io(format!("create {}", dir.display())))?;
        tokio::fs::create_dir_all(dir.join("tmp")).await.map_err(io(format!("create {}", dir.display())))?;
        Ok(Self { dir })
    }

    /// Stores everything `reader` yields, at most `limit` bytes. When
    /// `expected_sha256` is given, a different digest is refused and nothing
    /// is kept.
    pub async fn put(
        &self,
        reader: impl AsyncRead + Unpin,
        expected_sha256: Option<&str>,
        limit: u64,
    ) -> Result<BlobInfo, BlobError> {
        let pending = self.put_pending(reader, limit).await?;
        if let Some(expected) = expected_sha256
            && !expected.eq_ignore_ascii_case(&pending.info().sha256)
        {
            return Err(BlobError::DigestMismatch {
                expected: expected.to_string(),
                actual: pending.info().sha256.clone(),
            });
        }
        pending.commit().await
    }

    /// Writes everything `reader` yields (at most `limit` bytes) to a
    /// temporary file and hashes it, without making it visible: the caller
    /// checks what it must (a process's exit status, a declared size) and
    /// then [`PendingBlob::commit`]s it. Dropping the pending blob, or this
    /// future before it completes, removes the temporary file.
    pub async fn put_pending(&self, mut reader: impl AsyncRead + Unpin, limit: u64) -> Result<PendingBlob, BlobError> {
        let tmp = TempFile(Some(self.dir.join("tmp").join(format!("upload-{}-{}", std::process::id(), unique()))));
        let path = tmp.0.as_deref().expect("just set");
        let mut file = tokio::fs::File::create(path).await.map_err(io("create temporary blob"))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read(&mut buf).await.map_err(io("read upload"))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if size > limit {
                return Err(BlobError::TooLarge(limit));
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).await.map_err(io("write blob"))?;
        }
        file.sync_all().await.map_err(io("sync blob"))?;
        let sha256 = hex(&hasher.finalize());
        let key = format!("sha256/{sha256}");
        Ok(PendingBlob { tmp, dest: self.path(&key), info: BlobInfo { key, sha256, size } })
    }

    /// Opens a blob for reading, with its size.
    pub async fn open_blob(&self, key: &str) -> Result<(tokio::fs::File, u64), BlobError> {
        let path = self.checked_path(key)?;
        let file = tokio::fs::File::open(&path).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BlobError::NotFound(key.to_string()),
            _ => BlobError::Io { context: format!("open blob {key}"), source: e },
        })?;
        let size = file.metadata().await.map_err(io(format!("stat blob {key}")))?.len();
        Ok((file, size))
    }

    pub async fn exists(&self, key: &str) -> bool {
        self.checked_path(key).map(|p| p.is_file()).unwrap_or(false)
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// Keys come from the store, but never let one name a path outside the dir.
    fn checked_path(&self, key: &str) -> Result<PathBuf, BlobError> {
        let valid =
            key.strip_prefix("sha256/").is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !valid {
            return Err(BlobError::NotFound(key.to_string()));
        }
        Ok(self.path(key))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A blob written and hashed but not yet stored under its key.
#[derive(Debug)]
pub struct PendingBlob {
    tmp: TempFile,
    dest: PathBuf,
    info: BlobInfo,
}

impl PendingBlob {
    /// What the blob will be once committed.
    pub fn info(&self) -> &BlobInfo {
        &self.info
    }

    /// Makes the blob visible under its key.
    pub async fn commit(mut self) -> Result<BlobInfo, BlobError> {
        let tmp = self.tmp.0.take().expect("a pending blob has its file");
        if let Err(e) = tokio::fs::rename(&tmp, &self.dest).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(BlobError::Io { context: "store blob".into(), source: e });
        }
        Ok(self.info)
    }
}

/// A temporary file removed when dropped (unless taken).
#[derive(Debug)]
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

use ferry_sigv4::hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_checks_the_digest_and_keeps_nothing_on_mismatch() {
        let tmp = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(tmp.path()).await.unwrap();
        let info = blobs.put(&b"hello"[..], None, 100).await.unwrap();
        assert_eq!(info.sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(info.size, 5);
        let (_, size) = blobs.open_blob(&info.key).await.unwrap();
        assert_eq!(size, 5);
        let err = blobs.put(&b"other"[..], Some(&info.sha256), 100).await.unwrap_err();
        assert!(matches!(err, BlobError::DigestMismatch { .. }));
        assert!(matches!(blobs.put(&b"toolarge"[..], None, 3).await, Err(BlobError::TooLarge(3))));
        assert_eq!(std::fs::read_dir(tmp.path().join("tmp")).unwrap().count(), 0);
        assert!(matches!(blobs.open_blob("../etc/passwd").await, Err(BlobError::NotFound(_))));
    }
}
