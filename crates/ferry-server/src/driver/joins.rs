//! Instances joining deployment groups (issue #16; the rules are
//! `ferry_core::joins`). Every 2 s, and when woken (an agent enrolled,
//! tags changed, a deployment ended), the driver looks at each group's
//! instances under its lock: it records joins and leaves in the group,
//! and while the group has no deployment active or waiting, makes launch
//! deployments of its last successful revision to the instances that
//! joined. They start as any deployment does (`start_next`), to their own
//! instances only.

use std::sync::Arc;
use std::time::Duration;

use ferry_core::config::{ALL_AT_ONCE, builtin_config};
use ferry_core::deployment::Deployment;
use ferry_core::joins::{self, Launch};
use ferry_core::resources::DeploymentGroup;
use ferry_store::{Changes, StoreError};

use super::{Driver, revision_ref};
use crate::ops::OpError;

const EVERY: Duration = Duration::from_secs(2);

impl Driver {
    /// Looks at groups' instances until `stop`.
    pub async fn joins_forever(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let woken = self.joins_wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if let Err(e) = self.reconcile_joins().await {
                tracing::warn!(error = %e, "cannot look at deployment groups' new instances");
            }
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(EVERY) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// One look at every group's instances.
    pub async fn reconcile_joins(&self) -> Result<(), OpError> {
        if self.is_shutting_down() {
            return Ok(());
        }
        let guard = self.lock.lock().await;
        let instances = self.store.list_instances(false).await?;
        let live = self.live_deployments();
        let now = self.now();
        let mut notify = Vec::new();
        for application in self.store.list_applications().await? {
            for mut group in self.store.list_groups(&application.name).await? {
                let pending: Vec<&Deployment> =
                    live.iter().filter(|d| d.group_id == group.id && !d.status.is_terminal()).collect();
                let running = pending.iter().find(|d| d.status.is_active()).copied();
                let mut changed = joins::observe(&mut group, &instances, running, now);
                let mut launched = Vec::new();
                if pending.is_empty() {
                    for launch in joins::launches(&group) {
                        match self.plan_launch(&group, &launch).await {
                            Ok(d) => {
                                tracing::info!(deployment = %d.id, group = %group.name, instances = ?launch.instances,
                                    creator = d.creator.as_str(), "launch deployment for joining instances");
                                joins::mark_launched(&mut group, &launch, &d.id);
                                launched.push(d);
                                changed = true;
                            }
                            Err(e) => tracing::warn!(group = %group.name, instances = ?launch.instances, error = %e,
                                "cannot make a launch deployment for joining instances"),
                        }
                    }
                }
                if !changed {
                    continue;
                }
                let started = !launched.is_empty();
                let id = group.id.clone();
                self.commit(Changes { insert_deployments: launched, update_groups: vec![group], ..Default::default() })
                    .await?;
                if started {
                    notify.extend(self.start_next(&id).await?);
                }
            }
        }
        drop(guard);
        self.notify_all(&notify);
        Ok(())
    }

    /// Termination deployments for `instance`, which a scaling group is
    /// about to terminate: one per in-place group with termination hooks
    /// (`terminationHookEnabled`) that targets it and has a last successful
    /// revision. Returns their ids.
    pub async fn create_terminations(&self, instance: &str) -> Result<Vec<String>, OpError> {
        let guard = self.lock.lock().await;
        let record = match self.store.get_instance(instance).await {
            Ok(i) if i.deregister_time.is_none() => i,
            Ok(_) | Err(StoreError::NotFound) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let all_at_once = builtin_config(ALL_AT_ONCE).expect("a built-in config");
        let (mut ids, mut notify) = (Vec::new(), Vec::new());
        for application in self.store.list_applications().await? {
            for group in self.store.list_groups(&application.name).await? {
                let hooks = group.termination_hook_enabled && group.blue_green.is_none() && group.ecs_service.is_none();
                if !hooks || !group.targets(&record) {
                    continue;
                }
                let Some(revision) = self.last_good_revision(&group).await? else { continue };
                let id = crate::random::deployment_id();
                let d = joins::plan_termination(&group, instance, revision, &all_at_once, id, self.now())?;
                tracing::info!(deployment = %d.id, group = %group.name, instance, "termination deployment");
                ids.push(d.id.clone());
                self.commit(Changes { insert_deployments: vec![d], ..Default::default() }).await?;
                notify.extend(self.start_next(&group.id).await?);
            }
        }
        drop(guard);
        self.notify_all(&notify);
        Ok(ids)
    }

    /// The launch deployment of `launch` (the revision's bytes as the
    /// group's last good deployment pinned them, when it is that one).
    async fn plan_launch(&self, group: &DeploymentGroup, launch: &Launch) -> Result<Deployment, OpError> {
        let last_good = self.last_good_revision(group).await?.filter(|r| r.id == launch.revision_id);
        let revision = match last_good {
            Some(r) => r,
            None => match self.store.get_revision(&launch.revision_id).await {
                Ok(r) => revision_ref(&r),
                Err(StoreError::NotFound) => return Err(OpError::RevisionNotFound(launch.revision_id.clone())),
                Err(e) => return Err(e.into()),
            },
        };
        let all_at_once = builtin_config(ALL_AT_ONCE).expect("a built-in config");
        let id = crate::random::deployment_id();
        Ok(joins::plan_launch(group, launch, revision, &all_at_once, id, self.now())?)
    }
}
