//! The appspec of a revision, checked when a deployment of it is created
//! (native API, AWS API and the console all go through
//! `bundles::Fetcher::materialize`): the same rules `ferry push` and
//! `ferry local` apply and the agents would apply at Install
//! (`ferry_appspec::parse_server`: unknown keys, hooks on events that are
//! not lifecycle events, with what was probably meant), so a bad appspec
//! is refused before any host runs anything.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_blob::{FetchError, LocalBlobs};
use ferry_bundle::{BundleType, Limits};
use ferry_core::deployment::Bundle;

/// Bundles (by SHA-256) whose appspec passed: a redeployment does not
/// unpack them again.
static CHECKED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
static SCRATCH: AtomicU64 = AtomicU64::new(0);

/// Refuses `bundle` (a blob) whose appspec is missing or breaks a rule.
pub async fn check(blobs: &LocalBlobs, bundle: &Bundle) -> Result<(), FetchError> {
    if CHECKED.lock().unwrap().as_ref().is_some_and(|c| c.contains(&bundle.sha256)) {
        return Ok(());
    }
    let kind = BundleType::from_name(&bundle.bundle_type)
        .filter(|k| *k != BundleType::Directory)
        .ok_or_else(|| FetchError::Invalid(format!("unknown bundle type {:?}", bundle.bundle_type)))?;
    if !blobs.exists(&bundle.blob_key).await {
        return Err(FetchError::Blob(ferry_blob::BlobError::NotFound(bundle.blob_key.clone())));
    }
    let path = blobs.dir().join(&bundle.blob_key);
    let scratch = std::env::temp_dir().join(format!(
        "ferry-appspec-check-{}-{}",
        std::process::id(),
        SCRATCH.fetch_add(1, Ordering::Relaxed)
    ));
    let checked = tokio::task::spawn_blocking(move || {
        let (name, text) = ferry_host::engine::bundle_appspec(&path, kind, None, &scratch, &Limits::default())?;
        ferry_appspec::parse_server(&name, &text).map(|_| ()).map_err(|e| format!("invalid appspec: {e}"))
    })
    .await
    .map_err(|e| FetchError::Invalid(format!("the appspec check failed: {e}")))?;
    checked.map_err(FetchError::Invalid)?;
    CHECKED.lock().unwrap().get_or_insert_with(HashSet::new).insert(bundle.sha256.clone());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip bundle whose only top-level entry is a directory holding the
    /// appspec (the hosts use that directory as the revision's root).
    async fn bundle(blobs: &LocalBlobs, appspec: &str) -> Bundle {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("rev/app-1.0");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("appspec.yml"), appspec).unwrap();
        let zip = tmp.path().join("bundle.zip");
        ferry_bundle::pack(&tmp.path().join("rev"), BundleType::Zip, &zip).unwrap();
        let bytes = std::fs::read(&zip).unwrap();
        let info = blobs.put(&bytes[..], None, 1 << 20).await.unwrap();
        Bundle {
            blob_key: info.key,
            sha256: info.sha256,
            size: info.size,
            bundle_type: "zip".into(),
            etag: None,
            version: None,
        }
    }

    #[tokio::test]
    async fn a_bundle_whose_appspec_hooks_an_unknown_event_is_refused_with_a_suggestion() {
        let tmp = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(tmp.path()).await.unwrap();
        let bad = bundle(&blobs, "version: 0.0\nos: linux\nhooks:\n  AfterInstal:\n    - location: a.sh\n").await;
        let message = check(&blobs, &bad).await.unwrap_err().to_string();
        assert!(message.contains("appspec.yml: hooks.AfterInstal"), "{message}");
        assert!(message.contains("did you mean `AfterInstall`?"), "{message}");
        let good = bundle(&blobs, "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: a.sh\n").await;
        check(&blobs, &good).await.unwrap();
        // Checked once: a bundle that passed is not unpacked again.
        assert!(CHECKED.lock().unwrap().as_ref().unwrap().contains(&good.sha256));
    }
}
