//! Revision copies that outlive the API call which asked for them.
//!
//! CreateDeployment answers as soon as the revision passed its cheap checks
//! (`bundles::Fetcher::prepare`); when its bytes still have to be copied in
//! (a large S3 object, a git commit), the deployment is created waiting
//! (`Deployment::fetching`) and a task here copies them, then tells the
//! driver: `Input::BundleReady` pins the bytes and lets the deployment
//! start, `Input::BundleFailed` fails it with the fetch's error, as
//! CodeDeploy fails a deployment whose revision cannot be downloaded. After
//! a restart `resume` starts the copies of every deployment still waiting
//! for one, so none waits forever.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ferry_blob::FetchError;
use ferry_core::deployment::ErrorCode;

use crate::AppState;

/// Bytes copied so far, by deployment, while copies run.
#[derive(Debug, Default, Clone)]
pub struct Progress(Arc<Mutex<HashMap<String, Arc<AtomicU64>>>>);

impl Progress {
    fn start(&self, deployment_id: &str) -> Arc<AtomicU64> {
        let counter = Arc::new(AtomicU64::new(0));
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(deployment_id.to_string(), Arc::clone(&counter));
        counter
    }

    fn end(&self, deployment_id: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(deployment_id);
    }

    /// How many bytes of the deployment's revision have been copied, while
    /// a copy runs in this process.
    pub fn bytes(&self, deployment_id: &str) -> Option<u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(deployment_id).map(|c| c.load(Ordering::Relaxed))
    }
}

/// Copies the revision of a deployment created waiting for it.
pub fn spawn(state: &AppState, deployment_id: String, revision_id: String) {
    let state = state.clone();
    tokio::spawn(async move {
        let counter = state.fetch_progress.start(&deployment_id);
        let outcome = copy(&state, &revision_id, &counter).await;
        state.fetch_progress.end(&deployment_id);
        if let Err((_, message)) = &outcome {
            tracing::warn!(deployment = %deployment_id, revision = %revision_id, error = %message, "revision copy failed");
        }
        if let Err(e) = state.driver.bundle_fetched(&deployment_id, outcome).await {
            // Shutting down (resumed at the next start) or the store failed.
            tracing::warn!(deployment = %deployment_id, error = %e, "could not record the revision copy");
        }
    });
}

type Copied = Result<(ferry_core::deployment::Bundle, ferry_core::resources::Revision), (ErrorCode, String)>;

async fn copy(state: &AppState, revision_id: &str, progress: &Arc<AtomicU64>) -> Copied {
    let mut revision = state
        .store
        .get_revision(revision_id)
        .await
        .map_err(|e| (ErrorCode::RevisionMissing, format!("revision {revision_id}: {e}")))?;
    match state.fetcher.materialize(&mut revision, progress).await {
        Ok(bundle) => Ok((bundle, revision)),
        Err(e) => Err((error_code(&e), format!("The revision could not be copied to the server: {e}"))),
    }
}

/// CodeDeploy's error codes for a revision that cannot be had.
fn error_code(e: &FetchError) -> ErrorCode {
    match e {
        FetchError::Blob(ferry_blob::BlobError::Io { .. }) => ErrorCode::InternalError,
        FetchError::NotFound(_) => ErrorCode::RevisionMissing,
        _ => ErrorCode::InvalidRevision,
    }
}

/// Starts again the copies of deployments that were waiting for one when
/// the server stopped.
pub fn resume(state: &AppState) {
    for (deployment_id, revision_id) in state.driver.waiting_for_bundles() {
        tracing::info!(deployment = %deployment_id, revision = %revision_id, "resuming the revision copy");
        spawn(state, deployment_id, revision_id);
    }
}
