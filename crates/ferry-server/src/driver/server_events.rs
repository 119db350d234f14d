//! The events the server carries out itself: BlockTraffic and AllowTraffic.
//!
//! The machine marks such an event in progress and the driver persists
//! that before a job for it is queued (and after a restart finds it so and
//! queues it again): each step here is idempotent. The outcome comes back
//! to the machine as [`Input::ServerEventFinished`].
//!
//! - **BlockTraffic**: in every target group of the deployment group the
//!   instance's member drains (no new requests); once its requests in flight
//!   are done (seen idle twice, 50 ms apart) or the group's deregistration
//!   delay has passed, it is removed. An instance not in a group (its first
//!   deployment) has nothing to block.
//! - **AllowTraffic**: the member is (re)registered at the instance's
//!   address and the event succeeds once every group's load balancer finds
//!   it healthy by its health check; it fails after the group's healthy
//!   timeout. A deployment stopped meanwhile ends the wait (a member being
//!   drained is then put back: nothing was done to the instance yet).

use std::sync::Arc;
use std::time::Duration;

use ferry_core::deployment::{Deployment, EventDiagnostics, EventStatus, TargetStatus};
use ferry_core::events::Event;
use ferry_core::machine::Input;
use ferry_core::resources::{DeploymentGroup, MemberState};
use ferry_lb::Health;
use ferry_store::StoreError;

use super::{Driver, Job, ServerJob};
use crate::traffic;

const POLL: Duration = Duration::from_millis(50);

impl Driver {
    /// Carries out queued jobs, each in a task of its own (a job already
    /// running is not started twice).
    pub async fn run_server_jobs(self: Arc<Self>, mut jobs: tokio::sync::mpsc::UnboundedReceiver<Job>) {
        while let Some(job) = jobs.recv().await {
            if !self.running_jobs.lock().unwrap().insert(job.clone()) {
                continue;
            }
            let driver = self.clone();
            tokio::spawn(async move {
                match &job {
                    Job::Event(event) => driver.carry_out(event).await,
                    Job::Shift { deployment } => driver.shift(deployment).await,
                    Job::TestTraffic { deployment, instances } => driver.test_traffic(deployment, instances).await,
                    Job::Terminate { deployment, instances } => driver.terminate(deployment, instances).await,
                }
                driver.running_jobs.lock().unwrap().remove(&job);
            });
        }
    }

    async fn carry_out(&self, job: &ServerJob) {
        tracing::info!(deployment = %job.deployment, instance = %job.instance, event = %job.event, "server event started");
        let outcome = match job.event {
            Event::BlockTraffic => self.block(job).await,
            Event::AllowTraffic => self.allow(job).await,
            other => Err(format!("the server does not run the event {other}")),
        };
        let (succeeded, message) = match outcome {
            Ok(message) => (true, message),
            Err(message) => (false, message),
        };
        tracing::info!(deployment = %job.deployment, instance = %job.instance, event = %job.event, succeeded, %message, "server event finished");
        let diagnostics = EventDiagnostics {
            error_code: if succeeded { "Success" } else { "UnknownError" }.into(),
            script_name: String::new(),
            message,
            log_tail: String::new(),
        };
        let input = Input::ServerEventFinished {
            instance: job.instance.clone(),
            attempt: job.attempt,
            event: job.event,
            succeeded,
            diagnostics: Some(diagnostics),
        };
        if let Err(e) = self.apply(&job.deployment, input).await {
            tracing::warn!(deployment = %job.deployment, error = %e, "cannot record a server event's outcome");
        }
    }

    pub(crate) fn live_deployment(&self, id: &str) -> Option<Deployment> {
        self.live.lock().unwrap().get(id).cloned()
    }

    /// Whether the job's event is still running and the deployment not stopping.
    fn still_wanted(&self, job: &ServerJob) -> bool {
        self.live_deployment(&job.deployment).is_some_and(|d| {
            d.stop.is_none()
                && d.target(&job.instance).is_some_and(|t| {
                    t.status == TargetStatus::InProgress
                        && t.attempt == job.attempt
                        && t.events.iter().any(|e| e.name == job.event && e.status == EventStatus::InProgress)
                })
        })
    }

    async fn job_group(&self, job: &ServerJob) -> Result<Option<DeploymentGroup>, String> {
        let d = self.live_deployment(&job.deployment).ok_or("the deployment is no longer running")?;
        match self.store.get_group_by_id(&d.group_id).await {
            Ok(g) => Ok(Some(g)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(format!("state store: {e}")),
        }
    }

    async fn block(&self, job: &ServerJob) -> Result<String, String> {
        let Some(group) = self.job_group(job).await? else { return Ok("the deployment group is gone".into()) };
        let mut draining = Vec::new();
        for name in &group.target_groups {
            let tg = self
                .traffic
                .update_member(name, |tg| {
                    if let Some(m) = tg.members.iter_mut().find(|m| m.instance == job.instance)
                        && m.state == MemberState::Ready
                    {
                        m.state = MemberState::Draining;
                    }
                })
                .await
                .map_err(|e| e.to_string())?;
            if tg.member(&job.instance).is_some_and(|m| m.state == MemberState::Draining) {
                draining.push((name.clone(), Duration::from_millis(tg.deregistration_delay_ms)));
            }
        }
        if draining.is_empty() {
            return Ok(format!("{} was not taking traffic", job.instance));
        }
        let started = tokio::time::Instant::now();
        let mut idle_once = vec![false; draining.len()];
        let mut done = vec![false; draining.len()];
        while done.iter().any(|d| !d) {
            if !self.still_wanted(job) {
                // Stopped before anything was done to the instance: put it back.
                for (name, _) in &draining {
                    let _ = self.set_state(name, &job.instance, MemberState::Draining, MemberState::Ready).await;
                }
                return Err("the deployment was stopped; the instance was put back into its target groups".into());
            }
            for (i, (name, delay)) in draining.iter().enumerate() {
                if done[i] {
                    continue;
                }
                let idle = match self.traffic.member_status(name, &job.instance).await {
                    Ok(Some(status)) => status.in_flight == 0,
                    Ok(None) => true,
                    Err(e) => {
                        tracing::warn!(target_group = %name, error = %e, "cannot read the load balancer while draining");
                        false
                    }
                };
                if (idle && idle_once[i]) || started.elapsed() >= *delay {
                    done[i] = true;
                }
                idle_once[i] = idle;
            }
            if done.iter().any(|d| !d) {
                tokio::time::sleep(POLL).await;
            }
        }
        for (name, _) in &draining {
            self.set_state(name, &job.instance, MemberState::Draining, MemberState::Removed)
                .await
                .map_err(|e| e.to_string())?;
        }
        let names: Vec<&str> = draining.iter().map(|(n, _)| n.as_str()).collect();
        Ok(format!("drained from {} in {} ms", names.join(", "), started.elapsed().as_millis()))
    }

    async fn set_state(
        &self,
        group: &str,
        instance: &str,
        from: MemberState,
        to: MemberState,
    ) -> Result<(), traffic::TrafficError> {
        self.traffic
            .update_member(group, |tg| {
                if let Some(m) = tg.members.iter_mut().find(|m| m.instance == instance)
                    && m.state == from
                {
                    m.state = to;
                }
            })
            .await
            .map(|_| ())
    }

    async fn allow(&self, job: &ServerJob) -> Result<String, String> {
        let Some(group) = self.job_group(job).await? else { return Ok("the deployment group is gone".into()) };
        let instance =
            self.store.get_instance(&job.instance).await.map_err(|e| format!("instance {}: {e}", job.instance))?;
        let ip = instance.address.clone().ok_or_else(|| {
            format!("the address of {} is not known yet (it is learned from its agent's connections)", job.instance)
        })?;
        let mut waits = Vec::new();
        for name in &group.target_groups {
            let tg = self
                .traffic
                .update_member(name, |tg| {
                    let member = traffic::member(tg, &job.instance, &ip, MemberState::Ready, 1);
                    tg.set_member(member);
                })
                .await
                .map_err(|e| e.to_string())?;
            waits.push((name.clone(), Duration::from_millis(tg.healthy_timeout_ms)));
        }
        let started = tokio::time::Instant::now();
        for (name, timeout) in &waits {
            let mut last = Health::Unknown;
            loop {
                match self.traffic.member_status(name, &job.instance).await {
                    Ok(Some(status)) if status.health == Health::Healthy => break,
                    Ok(Some(status)) => last = status.health,
                    Ok(None) => {}
                    Err(e) => tracing::warn!(target_group = %name, error = %e, "cannot read the load balancer"),
                }
                if !self.still_wanted(job) {
                    return Err("the deployment was stopped while waiting for the instance to become healthy".into());
                }
                if started.elapsed() >= *timeout {
                    return Err(format!(
                        "{} did not become healthy in target group {name} within {} s (last health check: {})",
                        job.instance,
                        timeout.as_secs(),
                        last.as_str()
                    ));
                }
                tokio::time::sleep(POLL).await;
            }
        }
        let names: Vec<&str> = waits.iter().map(|(n, _)| n.as_str()).collect();
        Ok(format!("healthy in {} after {} ms", names.join(", "), started.elapsed().as_millis()))
    }
}
