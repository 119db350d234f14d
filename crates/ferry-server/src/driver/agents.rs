//! The agent protocol's side of the driver: what each agent is to do (its
//! commands, derived from the live deployments at each poll), which bundle
//! it may download, its event reports (inputs to the machine), where it
//! connects from, and waking its held poll.

use std::sync::Arc;

use ferry_core::deployment::{Bundle, Deployment};
use ferry_core::events::Event;
use ferry_core::machine::{self, Input};
use ferry_core::resources::{Revision, RevisionLocation};
use ferry_proto::agent as wire;
use ferry_store::StoreError;
use tokio::sync::Notify;

use super::{Driver, OpError, file_exists_name};

impl Driver {
    /// Records where an instance's agent connects from (the address load
    /// balancers reach it at) and which version it runs (an agent upgraded
    /// in place reports its new version). Written to the store only when
    /// either changes.
    pub async fn observe_address(
        &self,
        instance: &str,
        ip: std::net::IpAddr,
        version: Option<&str>,
    ) -> Result<(), OpError> {
        let seen = format!("{ip} {}", version.unwrap_or(""));
        if self.addresses.lock().unwrap().get(instance) == Some(&seen) {
            return Ok(());
        }
        let ip = ip.to_string();
        match self.store.get_instance(instance).await {
            Ok(mut record) => {
                let version_changed = version.is_some_and(|v| record.agent_version.as_deref() != Some(v));
                if record.address.as_deref() != Some(&ip) || version_changed {
                    tracing::info!(instance, address = %ip, version, "instance address and agent version");
                    record.address = Some(ip.clone());
                    if let Some(v) = version {
                        record.agent_version = Some(v.to_string());
                    }
                    self.store.upsert_instance(&record).await?;
                }
            }
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        self.addresses.lock().unwrap().insert(instance.to_string(), seen);
        Ok(())
    }

    pub fn notifier(&self, instance: &str) -> Arc<Notify> {
        self.waiters.lock().unwrap().entry(instance.to_string()).or_default().clone()
    }

    pub(crate) fn notify(&self, instance: &str) {
        if let Some(n) = self.waiters.lock().unwrap().get(instance) {
            n.notify_waiters();
        }
    }

    /// Every command `instance` should be carrying out now.
    pub async fn commands_for(&self, instance: &str) -> Result<Vec<wire::Command>, OpError> {
        let mut commands = Vec::new();
        for d in self.live_deployments() {
            let Some(command) = machine::agent_command(&d, instance) else { continue };
            let revision = self.revision(&d.revision.id).await?;
            let revision = wire_revision(&revision, d.revision.bundle.as_ref());
            commands.push(wire::Command {
                id: command.id,
                attempt: command.attempt,
                events: command.events.iter().map(|e| e.to_string()).collect(),
                cancel: command.cancel,
                ignore_application_stop_failures: command.ignore_application_stop_failures,
                spec: wire::DeploymentSpec {
                    deployment_id: d.id.clone(),
                    application_name: d.application_name.clone(),
                    deployment_group_name: d.group_name.clone(),
                    deployment_group_id: d.group_id.clone(),
                    revision,
                    appspec_filename: None,
                    file_exists_behavior: d.file_exists_behavior.map(|b| file_exists_name(b).to_string()),
                    creator: d.creator.as_str().to_string(),
                    deployment_type: match d.deployment_type() {
                        ferry_core::deployment::DeploymentType::BlueGreen => "BLUE_GREEN",
                        ferry_core::deployment::DeploymentType::InPlace => "IN_PLACE",
                    }
                    .into(),
                    all_possible_events: None,
                },
            });
        }
        Ok(commands)
    }

    /// The blob key of the bundle with this SHA-256 if `instance` has an
    /// active command installing it (it may then download that, and nothing else).
    pub async fn bundle_for(&self, instance: &str, sha256: &str) -> Result<Option<String>, OpError> {
        let deployments: Vec<Deployment> = self
            .live
            .lock()
            .unwrap()
            .values()
            .filter(|d| machine::agent_command(d, instance).is_some())
            .cloned()
            .collect();
        for d in deployments {
            let key = match &d.revision.bundle {
                Some(bundle) => Some(bundle.blob_key.clone()).filter(|_| bundle.sha256.eq_ignore_ascii_case(sha256)),
                None => {
                    let revision = self.revision(&d.revision.id).await?;
                    match &revision.location {
                        RevisionLocation::Blob { key } if revision.sha256.eq_ignore_ascii_case(sha256) => {
                            Some(key.clone())
                        }
                        _ => None,
                    }
                }
            };
            if key.is_some() {
                return Ok(key);
            }
        }
        Ok(None)
    }

    /// A revision by id, cached (what commands need of it never changes).
    async fn revision(&self, id: &str) -> Result<Revision, OpError> {
        if let Some(r) = self.revisions.lock().unwrap().get(id) {
            return Ok(r.clone());
        }
        let r = self.store.get_revision(id).await?;
        let mut cache = self.revisions.lock().unwrap();
        if cache.len() >= 1024 {
            cache.clear();
        }
        cache.insert(id.to_string(), r.clone());
        Ok(r)
    }

    /// An agent's event report. Returns whether the agent may proceed.
    pub async fn report(&self, instance: &str, report: wire::EventReport) -> Result<bool, OpError> {
        // Commands name Server lifecycle events only: anything else is a broken agent.
        let event = Event::from_name(&report.event)
            .ok_or_else(|| OpError::Invalid(format!("{:?} is not a lifecycle event", report.event)))?;
        let input = match report.phase {
            wire::Phase::Started => {
                Input::EventStarted { instance: instance.to_string(), attempt: report.attempt, event }
            }
            wire::Phase::Finished => Input::EventFinished {
                instance: instance.to_string(),
                attempt: report.attempt,
                event,
                succeeded: report.succeeded,
                diagnostics: report.diagnostics.map(|d| ferry_core::deployment::EventDiagnostics {
                    error_code: d.error_code,
                    script_name: d.script_name,
                    message: d.message,
                    log_tail: d.log_tail,
                }),
            },
        };
        let d = self.apply(&report.deployment_id, input).await?;
        if d.target(instance).is_none() {
            return Err(OpError::Invalid(format!("instance {instance} is not a target of {}", d.id)));
        }
        Ok(report.phase == wire::Phase::Started && machine::may_start(&d, instance, report.attempt, event))
    }
}

/// The revision as the agent downloads it: the pinned bytes, and where they
/// came from (the hooks' `BUNDLE_*` variables).
fn wire_revision(r: &Revision, pinned: Option<&Bundle>) -> wire::Revision {
    let source = match &r.location {
        RevisionLocation::Blob { .. } | RevisionLocation::Content { .. } => wire::RevisionSource::Server,
        RevisionLocation::S3 { bucket, key, version, etag } => wire::RevisionSource::S3 {
            bucket: bucket.clone(),
            key: key.clone(),
            // As registered; else what was fetched.
            version: version.clone().filter(|v| !v.is_empty()).or_else(|| pinned.and_then(|b| b.version.clone())),
            etag: etag.clone().filter(|e| !e.is_empty()).or_else(|| pinned.and_then(|b| b.etag.clone())),
        },
        RevisionLocation::GitHub { repository, commit } => {
            wire::RevisionSource::GitHub { repository: repository.clone(), commit: commit.clone() }
        }
    };
    let (bundle_type, sha256, size) = match pinned {
        Some(b) => (b.bundle_type.clone(), b.sha256.clone(), b.size),
        None => (r.bundle_type.clone(), r.sha256.clone(), r.size),
    };
    wire::Revision { id: r.id.clone(), bundle_type, sha256, size, source }
}
