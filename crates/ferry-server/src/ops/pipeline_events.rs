//! Pipelines' notifications (issue #14): the addresses a pipeline notifies
//! (`ferry pipeline notify NAME --url …`, kept beside the declaration,
//! which has no place for them), and what they are sent.
//!
//! Every execution, stage and action state change goes to each address as
//! CodePipeline's EventBridge event ("CodePipeline Pipeline Execution State
//! Change", "… Stage Execution …", "… Action Execution …"). A manual
//! approval that starts waiting sends CodePipeline's approval message
//! (the SNS "APPROVAL NEEDED" JSON: pipeline, stage, action, token,
//! expiry, `customData`, `externalEntityLink`, and a review link to the
//! console) to the addresses, and to the action's `NotificationArn` when
//! that is an http(s) URL. Deliveries go through the trigger outbox with
//! the change that caused them: signed, retried, never lost.

use ferry_core::notices::{Notice, NoticeKind};
use ferry_core::resources::{Delivery, DeliveryState};
use ferry_pipeline::execution::{ActionStatus, Runs};
use serde_json::{Value, json};

use super::OpError;
use crate::AppState;

/// At most this many addresses per pipeline.
pub const MAX_URLS: usize = 10;

fn setting(pipeline: &str) -> String {
    format!("pipeline_notify/{pipeline}")
}

/// The addresses `pipeline` notifies.
pub async fn urls(state: &AppState, pipeline: &str) -> Result<Vec<String>, OpError> {
    Ok(match state.store.get_setting(&setting(pipeline)).await? {
        Some(text) => serde_json::from_str(&text).unwrap_or_default(),
        None => Vec::new(),
    })
}

/// Replaces the addresses `pipeline` notifies (empty: none).
pub async fn set_urls(state: &AppState, pipeline: &str, urls: Vec<String>) -> Result<Vec<String>, OpError> {
    super::pipelines::get(state, pipeline, None).await?;
    if urls.len() > MAX_URLS {
        return Err(OpError::Invalid(format!("at most {MAX_URLS} notification addresses (got {})", urls.len())));
    }
    for url in &urls {
        crate::triggers::check_target(url).map_err(OpError::Invalid)?;
    }
    let text = serde_json::to_string(&urls).map_err(|e| OpError::Internal(e.to_string()))?;
    state.store.put_setting(&setting(pipeline), &text).await?;
    Ok(urls)
}

use super::builds::rfc3339;

/// The deliveries of one change of `pipeline`'s executions: its notices
/// as EventBridge events to `urls`, and approval requests for approvals
/// that started waiting between `before` and `after`.
pub fn deliveries(
    state: &AppState,
    urls: &[String],
    notices: &[Notice],
    before: &Runs,
    after: &Runs,
    now: u64,
) -> Vec<(usize, Delivery)> {
    let arns =
        ferry_aws::arn::Arns { region: state.config.aws_region.clone(), account: state.config.aws_account_id.clone() };
    let mut out = Vec::new();
    for (index, notice) in notices.iter().enumerate() {
        let Some(subject) = &notice.pipeline else { continue };
        let detail_type = match notice.kind {
            NoticeKind::PipelineExecutionStateChange => "CodePipeline Pipeline Execution State Change",
            NoticeKind::StageExecutionStateChange => "CodePipeline Stage Execution State Change",
            NoticeKind::ActionExecutionStateChange => "CodePipeline Action Execution State Change",
            _ => continue,
        };
        let mut detail = json!({
            "pipeline": subject.pipeline,
            "execution-id": subject.execution,
            "state": event_state(&notice.status),
            "version": subject.version,
        });
        if let Some(stage) = &subject.stage {
            detail["stage"] = stage.clone().into();
        }
        if let Some(action) = &subject.action {
            detail["action"] = action.clone().into();
        }
        if let Some(message) = &notice.message {
            detail["additional-information"] = json!({ "message": message });
        }
        let body = json!({
            "version": "0",
            "id": crate::random::uuid(),
            "detail-type": detail_type,
            "source": "aws.codepipeline",
            "account": arns.account,
            "time": rfc3339(now),
            "region": arns.region,
            "resources": [arns.pipeline(&subject.pipeline)],
            "detail": detail,
        });
        for url in urls {
            out.push((index, delivery(&subject.execution, detail_type, url, &body, now)));
        }
    }
    // Approvals that got their token in this change.
    for e in &after.executions {
        for stage in &e.stages {
            for run in &stage.actions {
                let (Some(token), Some(ActionStatus::InProgress)) = (&run.token, run.status) else { continue };
                let old = before
                    .execution(&e.id)
                    .and_then(|o| o.stage(&stage.name))
                    .and_then(|s| s.actions.iter().find(|a| a.name == run.name))
                    .and_then(|a| a.token.clone());
                if old.as_ref() == Some(token) {
                    continue;
                }
                let review = format!("/console/pipelines/{}", crate::console::enc(&e.pipeline.name));
                let body = json!({
                    "region": arns.region,
                    "consoleLink": review,
                    "approval": {
                        "pipelineName": e.pipeline.name,
                        "stageName": stage.name,
                        "actionName": run.name,
                        "token": token,
                        "expires": run.deadline.map(rfc3339),
                        "externalEntityLink": run.configuration.get("ExternalEntityLink"),
                        "approvalReviewLink": review,
                        "customData": run.configuration.get("CustomData"),
                    },
                });
                let notification = run
                    .configuration
                    .get("NotificationArn")
                    .filter(|u| u.starts_with("http://") || u.starts_with("https://"));
                let index = notices.len().saturating_sub(1);
                for url in urls.iter().chain(notification) {
                    out.push((index, delivery(&e.id, "APPROVAL NEEDED", url, &body, now)));
                }
            }
        }
    }
    out
}

fn delivery(execution: &str, event: &str, url: &str, body: &Value, now: u64) -> Delivery {
    Delivery {
        id: crate::random::uuid(),
        event_seq: 0,
        deployment_id: execution.to_string(),
        trigger_name: "pipeline".into(),
        event: event.to_string(),
        url: url.to_string(),
        body: body.to_string(),
        state: DeliveryState::Pending,
        attempts: 0,
        next_attempt: now,
        last_error: None,
        delivered_time: None,
        create_time: now,
    }
}

/// CodePipeline's events spell states in capitals (`STARTED`, `SUCCEEDED`,
/// `FAILED`, `CANCELED`, `SUPERSEDED`, …).
fn event_state(status: &str) -> String {
    match status {
        "InProgress" => "STARTED".into(),
        "Cancelled" => "CANCELED".into(),
        other => other.to_ascii_uppercase(),
    }
}
