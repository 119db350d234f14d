//! Custom actions' job workers (issue #14, CodePipeline's job worker
//! contract): an action of a `Custom` owner is, once launched, a job with a
//! UUID (its external id). Workers poll for the jobs of their action type
//! (PollForJobs, each job handed out once per server process with a nonce),
//! acknowledge them (AcknowledgeJob), and report their end
//! (PutJobSuccessResult with output variables and a summary, or
//! PutJobFailureResult), which the machine takes as the action's end.
//!
//! Jobs are found in the pipelines' execution documents, so a restart loses
//! none: a job handed out before it is offered again (at least once, as
//! CodePipeline's own). With an artifact bucket (`--artifact-bucket`),
//! workers fetch their input artifacts from it and upload their outputs to
//! the locations the job names (`<pipeline>/<execution>/<artifact>.zip`),
//! which the server copies in on PutJobSuccessResult. Without one they get
//! the names only, and a custom action that declares outputs fails when
//! its worker reports success.

use std::collections::BTreeMap;

use ferry_pipeline::execution::{ActionRef, ActionRun, ActionStatus, Execution, Input};
use ferry_pipeline::{ActionDeclaration, ActionTypeId, Owner};

use super::{OpError, pipeline_runs};
use crate::AppState;

/// One job: where its action is and what the worker needs.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub pipeline: String,
    pub execution: String,
    pub stage: String,
    pub action: ActionDeclaration,
    pub run: ActionRun,
    /// The nonce AcknowledgeJob must carry (set when handed out by a poll).
    pub nonce: Option<String>,
}

impl Job {
    fn action_ref(&self) -> ActionRef {
        ActionRef {
            execution: self.execution.clone(),
            stage: self.stage.clone(),
            action: self.run.name.clone(),
            attempt: self.run.attempt,
        }
    }
}

/// Every job waiting for a worker or being worked on.
async fn jobs(state: &AppState) -> Result<Vec<Job>, OpError> {
    let mut out = Vec::new();
    for pipeline in state.store.list_pipeline_runs().await? {
        let runs = pipeline_runs::runs(state, &pipeline).await?;
        for e in &runs.executions {
            collect(&pipeline, e, &mut out);
        }
    }
    Ok(out)
}

fn collect(pipeline: &str, e: &Execution, out: &mut Vec<Job>) {
    for (declared, stage) in e.pipeline.stages.iter().zip(&e.stages) {
        for (action, run) in declared.actions.iter().zip(&stage.actions) {
            let (true, Some(id)) = (
                action.action_type_id.owner == Owner::Custom && run.status == Some(ActionStatus::InProgress),
                &run.external_id,
            ) else {
                continue;
            };
            out.push(Job {
                id: id.clone(),
                pipeline: pipeline.to_string(),
                execution: e.id.clone(),
                stage: stage.name.clone(),
                action: action.clone(),
                run: run.clone(),
                nonce: None,
            });
        }
    }
}

/// PollForJobs: at most `max` jobs of `type_id` not handed out yet whose
/// configuration has every `query` value; each gets a nonce.
pub async fn poll(
    state: &AppState,
    type_id: &ActionTypeId,
    max: usize,
    query: &BTreeMap<String, String>,
) -> Result<Vec<Job>, OpError> {
    let waiting = jobs(state).await?;
    // Jobs that ended (timed out, abandoned) are forgotten.
    state.driver.pipeline_jobs.lock().unwrap().0.retain(|id, _| waiting.iter().any(|j| &j.id == id));
    let mut handed = Vec::new();
    for mut job in waiting {
        if handed.len() >= max {
            break;
        }
        let t = &job.action.action_type_id;
        let same_type =
            t.category == type_id.category && t.provider == type_id.provider && t.version == type_id.version;
        let queried = query.iter().all(|(k, v)| job.run.configuration.get(k) == Some(v));
        if !same_type || !queried {
            continue;
        }
        let nonce = crate::random::uuid();
        let fresh = state.driver.pipeline_jobs.lock().unwrap().try_insert_nonce(&job.id, &nonce);
        if fresh {
            job.nonce = Some(nonce);
            handed.push(job);
        }
    }
    Ok(handed)
}

/// A job by id (GetJobDetails), with the nonce it was handed out with.
pub async fn get(state: &AppState, id: &str) -> Result<Option<Job>, OpError> {
    let nonce = state.driver.pipeline_jobs.lock().unwrap().nonce(id);
    Ok(jobs(state).await?.into_iter().find(|j| j.id == id).map(|j| Job { nonce, ..j }))
}

/// Why a job operation was refused.
#[derive(Debug)]
pub enum JobRefusal {
    /// JobNotFoundException.
    NotFound,
    /// InvalidNonceException.
    Nonce(String),
    Op(OpError),
}

impl From<OpError> for JobRefusal {
    fn from(e: OpError) -> Self {
        JobRefusal::Op(e)
    }
}

async fn find(state: &AppState, id: &str) -> Result<Job, JobRefusal> {
    get(state, id).await?.ok_or(JobRefusal::NotFound)
}

/// AcknowledgeJob: the worker took it (`InProgress`).
pub async fn acknowledge(state: &AppState, id: &str, nonce: &str) -> Result<&'static str, JobRefusal> {
    let job = find(state, id).await?;
    if job.nonce.as_deref() != Some(nonce) {
        return Err(JobRefusal::Nonce(format!("the nonce is not the one job {id} was handed out with")));
    }
    Ok("InProgress")
}

/// PutJobSuccessResult.
pub async fn succeed(
    state: &AppState,
    id: &str,
    summary: Option<String>,
    revision: Option<String>,
    variables: BTreeMap<String, String>,
) -> Result<(), JobRefusal> {
    let job = find(state, id).await?;
    let names: Vec<String> = job.action.output_artifacts.iter().map(|o| o.name.clone()).collect();
    let input = match super::pipeline_actions::collect_outputs(state, &job.pipeline, &job.execution, &names).await {
        Ok(outputs) => Input::ActionSucceeded { action: job.action_ref(), outputs, variables, summary, revision },
        Err(message) => Input::ActionFailed { action: job.action_ref(), message },
    };
    let input = pipeline_runs::published(state, &job.pipeline, input).await;
    pipeline_runs::apply(state, &job.pipeline, input).await?;
    state.driver.pipeline_jobs.lock().unwrap().forget(id);
    Ok(())
}

/// PutJobFailureResult.
pub async fn fail(state: &AppState, id: &str, message: String) -> Result<(), JobRefusal> {
    let job = find(state, id).await?;
    pipeline_runs::apply(state, &job.pipeline, Input::ActionFailed { action: job.action_ref(), message }).await?;
    state.driver.pipeline_jobs.lock().unwrap().forget(id);
    Ok(())
}

/// The jobs handed out by this process, with their nonces.
#[derive(Debug, Default)]
pub struct HandedOut(std::collections::HashMap<String, String>);

impl HandedOut {
    /// Records `nonce` for a job not handed out yet; false if it was.
    fn try_insert_nonce(&mut self, id: &str, nonce: &str) -> bool {
        if self.0.contains_key(id) {
            return false;
        }
        self.0.insert(id.to_string(), nonce.to_string());
        true
    }

    fn nonce(&self, id: &str) -> Option<String> {
        self.0.get(id).cloned()
    }

    fn forget(&mut self, id: &str) {
        self.0.remove(id);
    }
}
