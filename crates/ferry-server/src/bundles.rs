//! Getting a revision's bytes into the blob store, so a deployment can pin
//! them: uploaded bundles are there already; S3 objects, git commits and
//! inline appspecs are copied in when a deployment of them is created.
//!
//! Copies are reused while they are current: a git commit or an inline
//! appspec never changes; an S3 object is HEADed and reused while its ETag
//! (and version) match what was fetched before.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use ferry_blob::{FetchError, GitSource, LocalBlobs, S3Source};
use ferry_core::deployment::Bundle;
use ferry_core::resources::{Revision, RevisionLocation};

/// The largest appspec accepted as a whole revision (inline, or an S3
/// object of bundle type YAML or JSON).
pub const MAX_APPSPEC_BYTES: u64 = 1 << 20;

/// Copies revisions kept elsewhere into the blob store.
#[derive(Debug, Clone)]
pub struct Fetcher {
    pub blobs: LocalBlobs,
    pub s3: S3Source,
    pub git: GitSource,
    pub max_bundle_bytes: u64,
}

/// What a new deployment's bundle is: pinned at once, or copied in later.
#[derive(Debug)]
pub enum Pin {
    Now(Bundle),
    /// The revision passed the cheap checks (the S3 object exists, with
    /// the registered ETag and version, within the size limit); its bytes
    /// are still to be copied in ([`Fetcher::materialize`]).
    Later,
}

impl Fetcher {
    /// Decides, cheaply, how a new deployment of `revision` gets its bytes:
    /// what is already here (uploads, a current earlier copy, an inline
    /// appspec) is pinned now; an S3 object is HEADed (so a missing object,
    /// another ETag or version, or one too large is refused with a clear
    /// error); a copy is left for later. Updates `revision` as
    /// `materialize` does when it pins now.
    pub async fn prepare(&self, revision: &mut Revision) -> Result<Pin, FetchError> {
        match &revision.location {
            RevisionLocation::Blob { .. } | RevisionLocation::Content { .. } => {
                self.materialize(revision, &Arc::default()).await.map(Pin::Now)
            }
            RevisionLocation::S3 { bucket, key, version, etag } => {
                let now = self.s3.stat_s3(bucket, key, version.as_deref()).await?;
                check_registered_etag(etag.as_deref(), &now.etag)?;
                let limit =
                    if is_appspec_type(&revision.bundle_type) { MAX_APPSPEC_BYTES } else { self.max_bundle_bytes };
                if now.size > limit {
                    return Err(FetchError::Blob(ferry_blob::BlobError::TooLarge(limit)));
                }
                if let Some(cached) = self.reusable(revision).await {
                    let same_etag = cached.etag.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(&now.etag));
                    if same_etag && cached.version == now.version {
                        return Ok(Pin::Now(cached));
                    }
                }
                Ok(Pin::Later)
            }
            RevisionLocation::GitHub { repository, .. } => {
                if let Some(cached) = self.reusable(revision).await {
                    return Ok(Pin::Now(cached));
                }
                // The location must at least be one the server may fetch.
                self.git.resolve(repository)?;
                Ok(Pin::Later)
            }
        }
    }

    /// Makes sure `revision`'s bytes are in the blob store and returns them
    /// as a bundle to pin, counting the bytes copied in `progress`. Updates
    /// `revision.last_fetch`, `sha256` and `size` when it fetched (the
    /// caller persists the revision).
    /// The bundle's appspec must pass ferry's rules (`appspec_check`).
    pub async fn materialize(&self, revision: &mut Revision, progress: &Arc<AtomicU64>) -> Result<Bundle, FetchError> {
        let bundle = self.copy_in(revision, progress).await?;
        crate::appspec_check::check(&self.blobs, &bundle).await?;
        Ok(bundle)
    }

    async fn copy_in(&self, revision: &mut Revision, progress: &Arc<AtomicU64>) -> Result<Bundle, FetchError> {
        let bundle = match &revision.location {
            RevisionLocation::Blob { key } => {
                return Ok(Bundle {
                    blob_key: key.clone(),
                    sha256: revision.sha256.clone(),
                    size: revision.size,
                    bundle_type: revision.bundle_type.clone(),
                    etag: None,
                    version: None,
                });
            }
            RevisionLocation::S3 { bucket, key, version, etag } => {
                let s3 = &self.s3;
                if let Some(cached) = self.reusable(revision).await {
                    // Still the same object? A HEAD is cheap next to a GET.
                    let now = s3.stat_s3(bucket, key, version.as_deref()).await?;
                    let same_etag = cached.etag.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(&now.etag));
                    if same_etag && cached.version == now.version {
                        check_registered_etag(etag.as_deref(), &now.etag)?;
                        return Ok(cached);
                    }
                }
                let limit =
                    if is_appspec_type(&revision.bundle_type) { MAX_APPSPEC_BYTES } else { self.max_bundle_bytes };
                let fetched = s3
                    .fetch_s3_counting(
                        &self.blobs,
                        bucket,
                        key,
                        version.as_deref(),
                        etag.as_deref(),
                        limit,
                        Arc::clone(progress),
                    )
                    .await?;
                let mut bundle = Bundle {
                    blob_key: fetched.info.key,
                    sha256: fetched.info.sha256,
                    size: fetched.info.size,
                    bundle_type: revision.bundle_type.clone(),
                    etag: Some(fetched.etag),
                    version: fetched.version,
                };
                if is_appspec_type(&revision.bundle_type) {
                    let text = self.read_small(&bundle.blob_key).await?;
                    let wrapped = self.store_appspec(&text).await?;
                    bundle = Bundle { etag: bundle.etag, version: bundle.version, ..wrapped };
                }
                bundle
            }
            RevisionLocation::GitHub { repository, commit } => {
                if let Some(cached) = self.reusable(revision).await {
                    return Ok(cached);
                }
                let info = self.git.fetch_git(&self.blobs, repository, commit, self.max_bundle_bytes).await?;
                Bundle {
                    blob_key: info.key,
                    sha256: info.sha256,
                    size: info.size,
                    bundle_type: "tar".into(),
                    etag: None,
                    version: None,
                }
            }
            RevisionLocation::Content { content, .. } => {
                if let Some(cached) = self.reusable(revision).await {
                    return Ok(cached);
                }
                self.store_appspec(content.as_bytes()).await?
            }
        };
        revision.sha256 = bundle.sha256.clone();
        revision.size = bundle.size;
        revision.last_fetch = Some(bundle.clone());
        Ok(bundle)
    }

    /// The revision's previous copy, if its blob is still there.
    async fn reusable(&self, revision: &Revision) -> Option<Bundle> {
        let cached = revision.last_fetch.clone()?;
        self.blobs.exists(&cached.blob_key).await.then_some(cached)
    }

    async fn read_small(&self, key: &str) -> Result<Vec<u8>, FetchError> {
        use tokio::io::AsyncReadExt;
        let (mut file, size) = self.blobs.open_blob(key).await?;
        if size > MAX_APPSPEC_BYTES {
            return Err(FetchError::Invalid(format!("an appspec revision is at most {MAX_APPSPEC_BYTES} bytes")));
        }
        let mut text = Vec::with_capacity(size as usize);
        file.read_to_end(&mut text)
            .await
            .map_err(|e| FetchError::Blob(ferry_blob::BlobError::Io { context: "read appspec".into(), source: e }))?;
        Ok(text)
    }

    /// Stores a tar bundle holding just `appspec.yml` (deterministic: the
    /// same appspec gives the same bundle).
    async fn store_appspec(&self, appspec: &[u8]) -> Result<Bundle, FetchError> {
        let tar = appspec_tar(appspec)
            .map_err(|e| FetchError::Blob(ferry_blob::BlobError::Io { context: "build bundle".into(), source: e }))?;
        let info = self.blobs.put(&tar[..], None, self.max_bundle_bytes).await?;
        Ok(Bundle {
            blob_key: info.key,
            sha256: info.sha256,
            size: info.size,
            bundle_type: "tar".into(),
            etag: None,
            version: None,
        })
    }
}

/// CodeDeploy's bundle types for a revision that is only an appspec.
pub fn is_appspec_type(bundle_type: &str) -> bool {
    matches!(bundle_type, "YAML" | "JSON")
}

/// A registered ETag must match the object even when a cached copy is reused.
fn check_registered_etag(registered: Option<&str>, actual: &str) -> Result<(), FetchError> {
    match registered.map(|e| e.trim_matches('"')).filter(|e| !e.is_empty()) {
        Some(expected) if !expected.eq_ignore_ascii_case(actual) => {
            Err(FetchError::EtagMismatch { expected: expected.to_string(), actual: actual.to_string() })
        }
        _ => Ok(()),
    }
}

fn appspec_tar(appspec: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(appspec.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, "appspec.yml", appspec)?;
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    #[test]
    fn appspec_bundles_are_deterministic_tars() {
        let a = super::appspec_tar(b"version: 0.0\nos: linux\n").unwrap();
        let b = super::appspec_tar(b"version: 0.0\nos: linux\n").unwrap();
        assert_eq!(a, b);
        let mut archive = tar::Archive::new(&a[..]);
        let names: Vec<String> =
            archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["appspec.yml"]);
    }
}
