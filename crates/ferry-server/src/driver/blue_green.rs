//! The jobs of blue/green deployments: the replacement instances joining
//! the test listener, the traffic shift, and the termination of the
//! original instances.
//!
//! **The shift.** Production traffic is split by member weights: with `g`
//! green and `b` blue members and a green share of `p` percent, each green
//! weighs `p·b` and each blue `(100−p)·g` (reduced), so the shares hold
//! whatever the fleet sizes. The first step registers the greens and waits
//! until the load balancer finds every one healthy; each later step comes
//! an interval after the last (from the persisted step time, so a restarted
//! server keeps the schedule) and every green must still be healthy at every
//! check in between. A failure, or a stop, puts all traffic back on blue
//! before the shift reports.

use std::time::Duration;

use ferry_core::deployment::{Deployment, Label, TargetStatus};
use ferry_core::machine::Input;
use ferry_core::resources::{MemberState, TargetGroup};
use ferry_lb::Health;

use super::Driver;
use crate::clock::now_millis;
use crate::traffic;

const POLL: Duration = Duration::from_millis(100);

/// Member weights for a green share of `share` percent: (each green, each blue).
pub(crate) fn weights(share: u32, greens: usize, blues: usize) -> (u32, u32) {
    if blues == 0 || share >= 100 {
        return (1, 0);
    }
    if share == 0 {
        return (0, 1);
    }
    let (mut g, mut b) = (share as u64 * blues as u64, (100 - share) as u64 * greens.max(1) as u64);
    let divisor = gcd(g, b);
    g /= divisor;
    b /= divisor;
    (g as u32, b as u32)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a.max(1) } else { gcd(b, a % b) }
}

impl Driver {
    async fn deployment_and_groups(&self, id: &str) -> Result<(Deployment, Vec<String>), String> {
        let d = self.live_deployment(id).ok_or("the deployment is no longer running")?;
        let group = self.store.get_group_by_id(&d.group_id).await.map_err(|e| format!("deployment group: {e}"))?;
        Ok((d, group.target_groups))
    }

    async fn address(&self, instance: &str) -> Result<String, String> {
        let record = self.store.get_instance(instance).await.map_err(|e| format!("instance {instance}: {e}"))?;
        record.address.ok_or_else(|| format!("the address of {instance} is not known yet"))
    }

    /// Sets every green's and blue's member in `tg` for a green share.
    async fn set_share(
        &self,
        tg_name: &str,
        greens: &[(String, String)],
        blues: &[String],
        share: u32,
    ) -> Result<TargetGroup, String> {
        let blue_members: Vec<String> = blues.to_vec();
        let (gw, bw) = weights(share, greens.len(), blue_members.len());
        self.traffic
            .update_member(tg_name, |tg| {
                for (instance, ip) in greens {
                    let mut member = traffic::member(tg, instance, ip, MemberState::Ready, gw);
                    member.test = true;
                    tg.set_member(member);
                }
                for m in tg.members.iter_mut().filter(|m| blue_members.contains(&m.instance)) {
                    if m.state == MemberState::Ready {
                        m.weight = bw;
                    }
                }
            })
            .await
            .map_err(|e| e.to_string())
    }

    /// The first unhealthy green, if any, across the groups.
    async fn unhealthy_green(&self, groups: &[String], greens: &[(String, String)]) -> Option<String> {
        for g in groups {
            let Ok(status) = self.traffic.status(g).await else { continue };
            for (instance, _) in greens {
                if status.iter().any(|m| &m.name == instance && m.health == Health::Unhealthy) {
                    return Some(format!("{instance} became unhealthy in target group {g}"));
                }
            }
        }
        None
    }

    pub(super) async fn shift(&self, id: &str) {
        let outcome = self.shift_steps(id).await;
        if let Err(message) = &outcome {
            // Whatever happened, production traffic goes back to blue.
            if let Ok((d, groups)) = self.deployment_and_groups(id).await {
                let (greens, blues) = fleets(&d);
                let greens: Vec<(String, String)> =
                    futures_util::future::join_all(greens.iter().map(|g| async { (g.clone(), self.address(g).await) }))
                        .await
                        .into_iter()
                        .filter_map(|(g, ip)| ip.ok().map(|ip| (g, ip)))
                        .collect();
                for g in &groups {
                    if let Err(e) = self.set_share(g, &greens, &blues, 0).await {
                        tracing::error!(deployment = %id, target_group = %g, error = %e, "cannot move traffic back to blue");
                    }
                }
            }
            tracing::warn!(deployment = %id, %message, "traffic shift failed; traffic is back on the original instances");
        }
        let (succeeded, message) = match outcome {
            Ok(m) => (true, m),
            Err(m) => (false, m),
        };
        if let Err(e) = self.apply(id, Input::ShiftFinished { succeeded, message }).await {
            tracing::warn!(deployment = %id, error = %e, "cannot record the end of a traffic shift");
        }
    }

    async fn shift_steps(&self, id: &str) -> Result<String, String> {
        let (d, groups) = self.deployment_and_groups(id).await?;
        let bg = d.blue_green.clone().ok_or("not a blue/green deployment")?;
        let (green_names, blues) = fleets(&d);
        let mut greens = Vec::new();
        for g in &green_names {
            greens.push((g.clone(), self.address(g).await?));
        }
        let routing = bg.routing;
        let interval = Duration::from_secs(u64::from(routing.interval_seconds()));
        let (mut step, mut share) = match bg.step_started {
            Some(_) => (bg.step, bg.green_share),
            None => (0, routing.share_at(0).0),
        };
        let mut step_started = bg.step_started;
        // (Re)apply the current step, then wait for every green to be healthy.
        let mut timeout = Duration::ZERO;
        for g in &groups {
            let tg = self.set_share(g, &greens, &blues, share).await?;
            timeout = timeout.max(Duration::from_millis(tg.healthy_timeout_ms));
        }
        let waited = tokio::time::Instant::now();
        loop {
            if self.stop_requested(id) {
                return Err("the deployment was stopped".into());
            }
            let mut all = true;
            for g in &groups {
                let status = self.traffic.status(g).await.map_err(|e| e.to_string())?;
                for (instance, _) in &greens {
                    if !status.iter().any(|m| &m.name == instance && m.health == Health::Healthy) {
                        all = false;
                    }
                }
            }
            if all {
                break;
            }
            if waited.elapsed() >= timeout {
                return Err(format!(
                    "the replacement instances did not all become healthy within {} s",
                    timeout.as_secs()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
        if step_started.is_none() {
            self.progress(id, step, share).await?;
            step_started = Some(now_millis());
        }
        while share < 100 {
            let due = step_started.unwrap_or_else(now_millis) + interval.as_millis() as u64;
            while now_millis() < due {
                if self.stop_requested(id) {
                    return Err("the deployment was stopped".into());
                }
                if let Some(why) = self.unhealthy_green(&groups, &greens).await {
                    return Err(why);
                }
                tokio::time::sleep(POLL.min(Duration::from_millis(due.saturating_sub(now_millis()).max(1)))).await;
            }
            step += 1;
            share = routing.share_at(step).0;
            for g in &groups {
                self.set_share(g, &greens, &blues, share).await?;
            }
            self.progress(id, step, share).await?;
            step_started = Some(now_millis());
        }
        Ok(format!("all production traffic on the replacement instances after {} step(s)", step + 1))
    }

    async fn progress(&self, id: &str, step: u32, share: u32) -> Result<(), String> {
        tracing::info!(deployment = %id, step, share, "traffic shifted");
        self.apply(id, Input::ShiftProgress { step, share }).await.map(|_| ()).map_err(|e| e.to_string())
    }

    fn stop_requested(&self, id: &str) -> bool {
        self.live_deployment(id).is_none_or(|d| d.stop.is_some())
    }

    pub(super) async fn test_traffic(&self, id: &str, instances: &[String]) {
        let Ok((_, groups)) = self.deployment_and_groups(id).await else { return };
        for instance in instances {
            let ip = match self.address(instance).await {
                Ok(ip) => ip,
                Err(e) => {
                    tracing::warn!(deployment = %id, %instance, error = %e, "cannot put a replacement behind the test listener");
                    continue;
                }
            };
            for g in &groups {
                let result = self
                    .traffic
                    .update_member(g, |tg| {
                        let current = tg.member(instance).cloned();
                        let mut member = traffic::member(tg, instance, &ip, MemberState::Ready, 0);
                        member.test = true;
                        // A member that already takes traffic keeps its weight.
                        if let Some(c) = current.filter(|c| c.state == MemberState::Ready) {
                            member.weight = c.weight;
                        }
                        tg.set_member(member);
                    })
                    .await;
                if let Err(e) = result {
                    tracing::warn!(deployment = %id, target_group = %g, error = %e, "cannot register a replacement for test traffic");
                }
            }
        }
    }

    pub(super) async fn terminate(&self, id: &str, instances: &[String]) {
        let outcome = self.terminate_all(id, instances).await;
        let (succeeded, message) = match outcome {
            Ok(()) => (true, String::new()),
            Err(m) => (false, m),
        };
        if let Err(e) = self.apply(id, Input::TerminationFinished { succeeded, message }).await {
            tracing::warn!(deployment = %id, error = %e, "cannot record the termination of the original instances");
        }
    }

    /// Retires each original instance not yet retired: the instance leaves
    /// the deployment group (the commit of [`Input::OriginalRetired`] adds it
    /// to the group's removed instances, with its notice) and its target
    /// groups. Only with a terminate command is it also terminated: the
    /// command runs first, and the instance, gone with its machine, is then
    /// deregistered and its agent key revoked. Without one nothing else
    /// changes: it stays registered, in other groups, and its agent runs.
    async fn terminate_all(&self, id: &str, instances: &[String]) -> Result<(), String> {
        let (d, groups) = self.deployment_and_groups(id).await?;
        // A job queued again after a restart skips what it already did.
        let retired = d.blue_green.map(|bg| bg.retired).unwrap_or_default();
        for r in retired.iter().filter(|r| r.terminated) {
            // Recorded, but the server may have died before deregistering it.
            self.deregister_terminated(&r.instance).await?;
        }
        let done: Vec<String> = retired.into_iter().map(|r| r.instance).collect();
        for instance in instances.iter().filter(|i| !done.contains(i)) {
            let terminated = match &self.config.terminate_command {
                Some(command) => {
                    let address = self.address(instance).await.unwrap_or_default();
                    let status = tokio::process::Command::new("sh")
                        .arg("-c")
                        .arg(command)
                        .env("FERRY_INSTANCE", instance)
                        .env("FERRY_INSTANCE_ADDRESS", &address)
                        .env("FERRY_DEPLOYMENT_ID", id)
                        .stdin(std::process::Stdio::null())
                        .status()
                        .await
                        .map_err(|e| format!("cannot run the terminate command for {instance}: {e}"))?;
                    if !status.success() {
                        return Err(format!("the terminate command failed for {instance} ({status})"));
                    }
                    true
                }
                None => false,
            };
            for g in &groups {
                self.traffic
                    .update_member(g, |tg| {
                        if let Some(m) = tg.members.iter_mut().find(|m| &m.instance == instance) {
                            m.state = MemberState::Removed;
                        }
                    })
                    .await
                    .map_err(|e| e.to_string())?;
            }
            self.apply(id, Input::OriginalRetired { instance: instance.clone(), terminated })
                .await
                .map_err(|e| format!("cannot record that {instance} left the group: {e}"))?;
            if terminated {
                self.deregister_terminated(instance).await?;
                tracing::info!(deployment = %id, %instance, "original instance terminated and deregistered");
            } else {
                tracing::info!(deployment = %id, %instance, "original instance left the deployment group");
            }
        }
        Ok(())
    }

    /// A terminated instance's machine is gone: its registration and its
    /// agent's key go too.
    async fn deregister_terminated(&self, instance: &str) -> Result<(), String> {
        let mut record = self.store.get_instance(instance).await.map_err(|e| format!("instance {instance}: {e}"))?;
        if let Some(key_id) = record.agent_key_id.take()
            && let Ok(mut key) = self.store.get_access_key(&key_id).await
        {
            key.disabled = true;
            self.store.put_access_key(&key).await.map_err(|e| e.to_string())?;
        }
        if record.deregister_time.is_some() {
            return Ok(());
        }
        record.deregister_time = Some(now_millis());
        self.store.upsert_instance(&record).await.map_err(|e| e.to_string())
    }
}

/// The greens that take part in the shift (their AllowTraffic is running)
/// and the blues of a deployment.
fn fleets(d: &Deployment) -> (Vec<String>, Vec<String>) {
    let greens = d
        .targets
        .iter()
        .filter(|t| t.label == Some(Label::Green) && t.status == TargetStatus::InProgress)
        .map(|t| t.instance.clone())
        .collect();
    let blues = d.targets.iter().filter(|t| t.label == Some(Label::Blue)).map(|t| t.instance.clone()).collect();
    (greens, blues)
}

#[cfg(test)]
mod tests {
    #[test]
    fn weights_give_the_green_share_whatever_the_fleet_sizes() {
        assert_eq!(super::weights(10, 2, 3), (1, 6));
        assert_eq!(super::weights(50, 3, 3), (1, 1));
        assert_eq!(super::weights(100, 3, 3), (1, 0));
        assert_eq!(super::weights(0, 3, 3), (0, 1));
        assert_eq!(super::weights(30, 1, 0), (1, 0));
        let (g, b) = super::weights(10, 2, 3);
        let share = f64::from(2 * g) / f64::from(2 * g + 3 * b) * 100.0;
        assert!((share - 10.0).abs() < 1e-9, "{share}");
    }
}
