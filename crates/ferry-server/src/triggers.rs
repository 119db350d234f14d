//! Triggers (CodeDeploy's `triggerConfigurations`): which targets ferry
//! accepts, and the message a trigger sends.
//!
//! A trigger's target is an `http://` or `https://` URL. Each notice a
//! trigger asks for becomes a [`Delivery`](ferry_core::resources::Delivery)
//! in the store's outbox, written in the same transaction as the change it
//! reports (see `events`), with the JSON body [`message`] fixed then:
//! CodeDeploy's SNS message fields, every value a string, plus `eventType`
//! and `deliveryId`. `deliverer` sends them.

use ferry_core::Millis;
use ferry_core::deployment::{Deployment, DeploymentStatus, TargetStatus};
use ferry_core::notices::Notice;
use ferry_core::resources::Trigger;
use serde_json::{Value, json};

/// What ARNs in trigger messages are built with.
#[derive(Debug, Clone)]
pub struct MessageContext {
    pub arns: ferry_aws::arn::Arns,
}

/// Whether `target` is a URL ferry can deliver to; the message says why not.
pub fn check_target(target: &str) -> Result<(), String> {
    let lower = target.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(()),
        _ => Err(format!(
            "ferry delivers triggers as webhooks: the trigger target must be an http:// or https:// URL (got {target:?})"
        )),
    }
}

/// CodeDeploy's status words in notification messages.
fn status_word(status: &str) -> String {
    let mut out = String::new();
    for (i, c) in status.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn seconds(ms: Option<Millis>) -> String {
    ms.map(|ms| (ms / 1000).to_string()).unwrap_or_default()
}

/// The JSON body of a trigger's notification.
pub fn message(id: &str, trigger: &Trigger, notice: &Notice, d: &Deployment, context: &MessageContext) -> String {
    let mut body = json!({
        "region": context.arns.region,
        "accountId": context.arns.account,
        "eventTriggerName": trigger.name,
        "eventType": notice.kind.as_str(),
        "deliveryId": id,
        "deploymentId": d.id,
    });
    let fields = body.as_object_mut().expect("an object");
    if notice.kind.is_instance() {
        let instance = notice.instance.as_deref().unwrap_or_default();
        let target = d.target(instance);
        let events: Vec<Value> = target
            .map(|t| {
                t.events
                    .iter()
                    .map(|e| {
                        json!({
                            "LifecycleEvent": e.name,
                            "LifecycleEventStatus": e.status.as_str(),
                            "StartTime": seconds(e.start_time),
                            "EndTime": seconds(e.end_time),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        fields.insert("instanceId".into(), context.arns.instance(instance).into());
        fields.insert("instanceName".into(), instance.into());
        fields.insert("lastUpdatedAt".into(), seconds(target.map(|t| t.last_updated)).into());
        fields.insert(
            "instanceStatus".into(),
            status_word(target.map(|t| t.status).unwrap_or(TargetStatus::Unknown).as_str()).into(),
        );
        fields.insert("lifecycleEvents".into(), Value::Array(events).to_string().into());
    } else {
        let o = d.overview();
        let overview = json!({
            "Failed": o.failed.to_string(),
            "InProgress": o.in_progress.to_string(),
            "Pending": o.pending.to_string(),
            "Skipped": o.skipped.to_string(),
            "Succeeded": o.succeeded.to_string(),
            "Ready": o.ready.to_string(),
        });
        fields.insert("applicationName".into(), d.application_name.clone().into());
        fields.insert("deploymentGroupName".into(), d.group_name.clone().into());
        fields.insert("createTime".into(), seconds(Some(d.create_time)).into());
        fields.insert("completeTime".into(), seconds(d.complete_time).into());
        fields.insert("deploymentOverview".into(), overview.to_string().into());
        let status = if notice.kind == ferry_core::notices::NoticeKind::DeploymentStart {
            DeploymentStatus::InProgress.as_str()
        } else {
            d.status.as_str()
        };
        fields.insert("status".into(), status_word(status).into());
        if let Some(e) = &d.error
            && d.status.is_terminal()
        {
            let info = json!({"ErrorCode": e.code.as_str(), "ErrorMessage": e.message});
            fields.insert("errorInformation".into(), info.to_string().into());
        }
        if let Some(rollback) = &d.rollback_info.rollback_deployment_id {
            fields.insert("rollbackDeploymentId".into(), rollback.clone().into());
        }
    }
    body.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_must_be_web_urls() {
        assert!(check_target("https://hooks.example.com/ferry").is_ok());
        assert!(check_target("http://127.0.0.1:9000/x").is_ok());
        let refused = check_target("arn:aws:sns:us-east-1:1:topic").unwrap_err();
        assert!(refused.contains("http:// or https:// URL"), "{refused}");
        assert!(check_target("http://").is_err());
        assert!(check_target("ftp://x").is_err());
    }

    #[test]
    fn status_words_are_codedeploys() {
        assert_eq!(status_word("InProgress"), "IN_PROGRESS");
        assert_eq!(status_word("Succeeded"), "SUCCEEDED");
    }
}
