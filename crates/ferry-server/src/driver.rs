//! The deployment driver: the only code that changes deployments.
//!
//! Every change follows one path: take the driver lock, load the deployment,
//! let the pure machine (`ferry_core::machine::step`) compute the next state,
//! persist it (with its follow-ups, in one store transaction), release the
//! lock, and only then act (wake the long polls of affected instances).
//! Agents are never sent work directly: their commands are derived from the
//! persisted state at each poll, so a server killed at any instant resumes
//! by re-deriving them, and the command ids let agents run each once.
//!
//! Two things keep the hot path cheap:
//! - **The live set.** Every deployment not yet finalized is also held in
//!   memory, exactly as last persisted (it is updated only after a commit
//!   succeeds). Polls, reports and the reconcile loop read it instead of the
//!   database; the store remains the truth, reloaded at start-up.
//! - **Combined commits.** Inputs for one deployment that arrive while the
//!   lock is held queue up; the next holder applies them all in order and
//!   persists once, answering each caller with the resulting state. Twenty
//!   agents reporting at once cost one transaction, not twenty.
//!
//! # Layout
//! - this file: the transitions (create, apply, commit, finalize, start the
//!   next deployment, stop, continue, delete, recover, reconcile). What a
//!   new deployment or a rollback *is* is decided by `ferry_core::plan`.
//! - `agents`: the agent protocol's side (commands, bundle access, reports,
//!   addresses, waking held polls).
//! - `liveness`: when each agent was last heard from, persisted.
//! - `server_events`, `blue_green`: the jobs the server carries out itself
//!   (BlockTraffic / AllowTraffic, traffic shifts, retiring originals).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_core::config::{DeploymentConfig, MinimumHealthyHosts, ONE_AT_A_TIME, builtin_config};
use ferry_core::deployment::{
    Bundle, Creator, Deployment, DeploymentStatus, ErrorCode, FileExistsBehavior, RevisionRef, TargetStatus,
};
use ferry_core::machine::{self, Effect, Input};
use ferry_core::resources::{DeploymentGroup, Revision, RevisionLocation};
use ferry_store::{Changes, DeploymentFilter, Store, StoreError};
use tokio::sync::Notify;

use crate::ServerConfig;
pub use crate::ops::OpError;
use crate::ops::deployments::NewDeployment;

mod agents;
mod blue_green;
mod joins;
mod liveness;
mod server_events;

/// An input waiting for the driver lock, and where its caller waits.
type Queued = (Input, tokio::sync::oneshot::Sender<Result<Deployment, OpError>>);

/// An event the server carries out itself (see `server_events`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerJob {
    pub deployment: String,
    pub instance: String,
    pub attempt: u32,
    pub event: ferry_core::events::Event,
}

/// Work the driver does outside its lock, after persisting what asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Job {
    /// BlockTraffic or AllowTraffic of one instance.
    Event(ServerJob),
    /// A blue/green deployment's traffic shift.
    Shift { deployment: String },
    /// Installed replacement instances join the test listener.
    TestTraffic { deployment: String, instances: Vec<String> },
    /// A blue/green deployment's original instances are terminated.
    Terminate { deployment: String, instances: Vec<String> },
}

pub struct Driver {
    store: Store,
    config: Arc<ServerConfig>,
    /// Serialises every deployment transition (and deployment creation).
    lock: tokio::sync::Mutex<()>,
    /// Deployments not yet finalized, as persisted; written under `lock`.
    live: Mutex<HashMap<String, Deployment>>,
    /// Revisions of live deployments, for building commands.
    revisions: Mutex<HashMap<String, Revision>>,
    /// Inputs waiting for `lock`, by deployment.
    queued: Mutex<HashMap<String, Vec<Queued>>>,
    /// The load balancers.
    pub(crate) traffic: Arc<crate::traffic::Traffic>,
    /// Jobs to carry out, and those being carried out.
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    running_jobs: Mutex<std::collections::HashSet<Job>>,
    /// The last address each instance's agent was seen at.
    addresses: Mutex<HashMap<String, String>>,
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    /// When each instance's agent was last heard from (module `liveness`).
    seen: Mutex<liveness::Agents>,
    started: Instant,
    shutting_down: AtomicBool,
    /// Wakes every poll at shutdown.
    shutdown_notify: Notify,
    /// Wakes build hosts' claims when a build is queued or one ends.
    pub(crate) build_queue: Notify,
    /// Wakes the pipeline runner (`ops::pipeline_runs`): a build or a
    /// deployment a pipeline may wait for ended, or an execution changed.
    pub(crate) pipeline_wake: Notify,
    /// Wakes the look at groups' instances (`joins`): an agent enrolled,
    /// tags changed, or a deployment ended.
    pub(crate) joins_wake: Notify,
    /// Serialises every change of pipeline executions.
    pub(crate) pipeline_lock: tokio::sync::Mutex<()>,
    /// Pipeline action attempts being launched by this process.
    pub(crate) pipeline_launching: Mutex<std::collections::HashSet<String>>,
    /// Custom actions' jobs handed out to workers by this process.
    pub(crate) pipeline_jobs: Mutex<crate::ops::pipeline_jobs::HandedOut>,
    /// Container services' scheduler (`ops::services`).
    pub(crate) services: crate::ops::services::Scheduler,
    /// Scaling groups' state in this process (`ops::scaling_groups`).
    pub(crate) scaling: crate::ops::scaling_groups::Scaling,
    /// Announces each commit's newest event.
    pub(crate) events: crate::events::EventBus,
    messages: crate::events::MessageContext,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
}

impl Driver {
    /// The driver and the receiving end of its server-run events, for
    /// [`Driver::run_server_jobs`].
    pub fn new(
        store: Store,
        config: Arc<ServerConfig>,
        traffic: Arc<crate::traffic::Traffic>,
    ) -> (Self, tokio::sync::mpsc::UnboundedReceiver<Job>) {
        let (jobs, receiver) = tokio::sync::mpsc::unbounded_channel();
        let driver = Self {
            store,
            config: config.clone(),
            traffic,
            jobs,
            running_jobs: Mutex::default(),
            addresses: Mutex::default(),
            lock: tokio::sync::Mutex::new(()),
            live: Mutex::new(HashMap::new()),
            revisions: Mutex::new(HashMap::new()),
            queued: Mutex::new(HashMap::new()),
            waiters: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            started: Instant::now(),
            shutting_down: AtomicBool::new(false),
            shutdown_notify: Notify::new(),
            build_queue: Notify::new(),
            pipeline_wake: Notify::new(),
            joins_wake: Notify::new(),
            pipeline_lock: tokio::sync::Mutex::new(()),
            pipeline_launching: Mutex::default(),
            pipeline_jobs: Mutex::default(),
            services: Default::default(),
            scaling: Default::default(),
            events: crate::events::EventBus::new(0),
            metrics: Arc::default(),
            messages: crate::events::MessageContext {
                arns: ferry_aws::arn::Arns {
                    region: config.aws_region.clone(),
                    account: config.aws_account_id.clone(),
                },
            },
        };
        (driver, receiver)
    }

    pub fn shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.shutdown_notify.notify_waiters();
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    pub async fn wait_shutdown(&self) {
        let notified = self.shutdown_notify.notified();
        if self.is_shutting_down() {
            return;
        }
        notified.await;
    }

    /// Resolves a config name: built-ins first, then custom configs.
    pub async fn resolve_config(&self, name: &str) -> Result<DeploymentConfig, OpError> {
        if let Some(config) = builtin_config(name) {
            return Ok(config);
        }
        match self.store.get_config(name).await {
            Ok(config) => Ok(config),
            Err(StoreError::NotFound) => Err(OpError::ConfigNotFound(name.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// The group a deployment would go to.
    pub async fn group(&self, application: &str, group: &str) -> Result<DeploymentGroup, OpError> {
        match self.store.get_group(application, group).await {
            Ok(group) => Ok(group),
            Err(StoreError::NotFound) => Err(match self.store.get_application(application).await {
                Err(StoreError::NotFound) => OpError::ApplicationNotFound(application.to_string()),
                _ => OpError::GroupNotFound { application: application.to_string(), group: group.to_string() },
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// A revision of `application` by id, or (`None`) its newest one.
    pub async fn resolve_revision(&self, application: &str, id: Option<&str>) -> Result<Revision, OpError> {
        match id {
            Some(id) => match self.store.get_revision(id).await {
                Ok(r) if r.application_name == application => Ok(r),
                Ok(_) | Err(StoreError::NotFound) => Err(OpError::RevisionNotFound(id.to_string())),
                Err(e) => Err(e.into()),
            },
            None => match self.store.latest_revision(application).await {
                Ok(Some(r)) => Ok(r),
                Ok(None) => Err(OpError::NoRevision(application.to_string())),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Creates a deployment and starts it, or queues it behind the group's
    /// active deployment. `bundle`: the revision's bytes, pinned for it (see
    /// `bundles::Fetcher`); `None` while they are still being copied in
    /// (`fetches`): the deployment then waits for them.
    pub async fn create_deployment(&self, request: NewDeployment, bundle: Option<Bundle>) -> Result<String, OpError> {
        if self.is_shutting_down() {
            return Err(OpError::ShuttingDown);
        }
        let _guard = self.lock.lock().await;
        // The group as it is now, under the lock: edits to it are serialised with this.
        let group = self.group(&request.application, &request.group).await?;
        let revision = request.revision.clone();
        let config_name = request.config_name.clone().unwrap_or_else(|| group.deployment_config_name.clone());
        let config = self.resolve_config(&config_name).await?;
        let previous = match &group.last_successful_revision_id {
            Some(id) => self.store.get_revision(id).await.ok().map(|r| revision_ref(&r)),
            None => None,
        };
        let now = self.now();
        let plan = ferry_core::plan::DeploymentRequest {
            group: &group,
            config: &config,
            revision: RevisionRef { bundle, ..revision_ref(&revision) },
            previous,
            description: request.description.clone(),
            file_exists_behavior: request.file_exists_behavior,
            ignore_application_stop_failures: request.ignore_application_stop_failures,
            auto_rollback: request.auto_rollback.clone(),
            green_selector: request.green_selector.clone(),
            alarms: request.alarms.clone(),
            ecs: request.ecs.clone(),
        };
        let mut deployment = ferry_core::plan::plan_deployment(plan, crate::random::deployment_id(), now)?;
        if request.outdated_only {
            // The instances the group targets that this revision is not
            // known to be on (those joining now included).
            let mut outdated = self.targets_of(&group.id).await?;
            outdated.retain(|name| {
                !group.instances.iter().any(|m| &m.instance == name && m.revision_id.as_deref() == Some(&revision.id))
            });
            deployment.only_instances = Some(outdated);
        }
        let id = deployment.id.clone();
        let mut revision = revision;
        revision.first_used_time.get_or_insert(now);
        revision.last_used_time = Some(now);
        if !revision.deployment_groups.contains(&group.name) {
            revision.deployment_groups.push(group.name.clone());
        }
        let mut group = group;
        group.target_revision_id = Some(revision.id.clone());
        self.commit(Changes {
            insert_deployments: vec![deployment],
            update_groups: vec![group.clone()],
            put_revisions: vec![revision],
            ..Default::default()
        })
        .await?;
        tracing::info!(deployment = %id, group = %group.name, config = %config_name, "deployment created");
        let notify = self.start_next(&group.id).await?;
        drop(_guard);
        self.notify_all(&notify);
        Ok(id)
    }

    /// A revision copy of a deployment created waiting for one ended: pin
    /// the bytes (and keep the copy on the revision for later deployments)
    /// and start the group's next deployment, or fail the deployment.
    pub async fn bundle_fetched(
        &self,
        deployment_id: &str,
        outcome: Result<(Bundle, Revision), (ErrorCode, String)>,
    ) -> Result<(), OpError> {
        // One critical section: the revision's copy, the deployment's input
        // and starting the group's next deployment.
        let guard = self.lock.lock().await;
        let input = match outcome {
            Ok((bundle, revision)) => {
                self.commit(Changes { put_revisions: vec![revision], ..Default::default() }).await?;
                Input::BundleReady { bundle }
            }
            Err((code, message)) => Input::BundleFailed { code, message },
        };
        let (deployment, mut notify, _) = self.apply_locked(deployment_id, vec![input]).await?;
        notify.extend(self.start_next(&deployment.group_id).await?);
        drop(guard);
        self.notify_all(&notify);
        Ok(())
    }

    /// Deployments waiting for their revision's bytes, with the revision.
    pub fn waiting_for_bundles(&self) -> Vec<(String, String)> {
        self.live_deployments()
            .into_iter()
            .filter(|d| d.fetching.is_some() && !d.status.is_terminal())
            .map(|d| (d.id, d.revision.id))
            .collect()
    }

    /// Applies `input` to a deployment; returns the deployment as persisted
    /// (with any inputs combined into the same commit applied too).
    pub async fn apply(&self, deployment_id: &str, input: Input) -> Result<Deployment, OpError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queued.lock().unwrap().entry(deployment_id.to_string()).or_default().push((input, reply));
        let guard = self.lock.lock().await;
        // Whoever held the lock before may have applied ours already (its
        // answer is then waiting); otherwise ours is in this batch.
        let batch = self.queued.lock().unwrap().remove(deployment_id).unwrap_or_default();
        if !batch.is_empty() {
            let (inputs, replies): (Vec<Input>, Vec<_>) = batch.into_iter().unzip();
            let mut notify = Vec::new();
            let result = async {
                let (deployment, woken, finished) = self.apply_locked(deployment_id, inputs).await?;
                notify = woken;
                if finished {
                    notify.extend(self.start_next(&deployment.group_id).await?);
                }
                Ok(deployment)
            }
            .await;
            for reply in replies {
                let _ = reply.send(result.clone());
            }
            drop(guard);
            self.notify_all(&notify);
        } else {
            drop(guard);
        }
        answer.await.unwrap_or(Err(OpError::ShuttingDown))
    }

    /// Applies `inputs` in order and persists the result once; returns the
    /// deployment, the instances to wake, and whether it just finished (its
    /// group may start the next deployment). Caller holds the lock.
    async fn apply_locked(
        &self,
        deployment_id: &str,
        inputs: Vec<Input>,
    ) -> Result<(Deployment, Vec<String>, bool), OpError> {
        let cached = self.live.lock().unwrap().get(deployment_id).cloned();
        let mut d = match cached {
            Some(d) => d,
            None => match self.store.get_deployment(deployment_id).await {
                Ok(d) => d,
                Err(StoreError::NotFound) => return Err(OpError::DeploymentNotFound(deployment_id.to_string())),
                Err(e) => return Err(e.into()),
            },
        };
        let before = d.clone();
        let mut notify: Vec<String> = Vec::new();
        let mut finished = false;
        let mut jobs = Vec::new();
        let mut ecs_event = false;
        for input in inputs {
            for effect in machine::step(&mut d, input, self.now()) {
                match effect {
                    Effect::Notify { instance } => {
                        if !notify.contains(&instance) {
                            notify.push(instance);
                        }
                    }
                    // An ECS deployment's events are `ops::ecs_deployments`' (it is woken below).
                    Effect::ServerEvent { .. } if d.ecs.is_some() => ecs_event = true,
                    Effect::ServerEvent { instance, attempt, event } => {
                        jobs.push(Job::Event(ServerJob { deployment: d.id.clone(), instance, attempt, event }))
                    }
                    Effect::Shift => jobs.push(Job::Shift { deployment: d.id.clone() }),
                    Effect::TestTraffic { instances } => {
                        jobs.push(Job::TestTraffic { deployment: d.id.clone(), instances })
                    }
                    Effect::Terminate { instances } => {
                        jobs.push(Job::Terminate { deployment: d.id.clone(), instances })
                    }
                    Effect::Finished => finished = true,
                }
            }
        }
        if d == before {
            return Ok((d, Vec::new(), false));
        }
        let mut changes = if finished { self.finalize(&mut d).await? } else { Changes::default() };
        self.remove_retired_from_group(&before, &d, &mut changes).await?;
        changes.update_deployments.push(d.clone());
        self.commit(changes).await?;
        if finished {
            self.pipeline_wake.notify_one();
        }
        if ecs_event || (finished && d.ecs.is_some()) {
            self.services.ecs_wake.notify_one();
            self.services.wake.notify_one();
        }
        // Persisted: now they may be carried out.
        for job in jobs {
            let _ = self.jobs.send(job);
        }
        Ok((d, notify, finished))
    }

    /// Persists `changes`, then mirrors their deployments in the live set.
    /// Caller holds the lock (or is the only task running, at start-up).
    async fn commit(&self, mut changes: Changes) -> Result<(), OpError> {
        // What changed, for the event log and the triggers: stored with the change.
        let now = self.now();
        {
            let live = self.live.lock().unwrap();
            for d in &changes.update_deployments {
                let events = crate::events::events_of(live.get(&d.id), d, now, &self.messages);
                self.count_finished_events(d, &events);
                changes.events.extend(events);
            }
        }
        for d in &changes.insert_deployments {
            changes.events.extend(crate::events::events_of(None, d, now, &self.messages));
        }
        let has_deliveries = changes.events.iter().any(|e| !e.deliveries.is_empty());
        let last_event = self.store.commit(changes.clone()).await?;
        if let Some(seq) = last_event {
            self.events.published(seq);
        }
        if has_deliveries {
            self.events.deliveries_added();
        }
        let mut live = self.live.lock().unwrap();
        for d in changes.update_deployments.into_iter().chain(changes.insert_deployments) {
            if is_live(&d) {
                live.insert(d.id.clone(), d);
            } else {
                live.remove(&d.id);
            }
        }
        Ok(())
    }

    /// Lifecycle events that just ended, into the duration histograms.
    fn count_finished_events(&self, d: &Deployment, events: &[ferry_store::NewEvent]) {
        use ferry_core::notices::NoticeKind;
        for e in events.iter().map(|e| &e.notice).filter(|n| n.kind == NoticeKind::LifecycleEvent) {
            let (Some(instance), Some(name)) = (&e.instance, &e.lifecycle_event) else { continue };
            let Some(event) = d.target(instance).and_then(|t| t.events.iter().find(|ev| ev.name == name.as_str()))
            else {
                continue;
            };
            let status = match event.status {
                ferry_core::deployment::EventStatus::Succeeded => "Succeeded",
                ferry_core::deployment::EventStatus::Failed => "Failed",
                _ => continue,
            };
            if let (Some(start), Some(end)) = (event.start_time, event.end_time) {
                self.metrics.observe_lifecycle_event(name, status, end.saturating_sub(start) as f64 / 1000.0);
            }
        }
    }

    /// Running deployments that watch alarms.
    pub(crate) fn watching_alarms(&self) -> Vec<Deployment> {
        let live = self.live.lock().unwrap();
        live.values().filter(|d| d.status.is_active() && d.stop.is_none() && d.alarms.watches()).cloned().collect()
    }

    /// The live deployments, oldest first.
    /// ECS deployments' server events in progress: (deployment, target, attempt, event).
    pub(crate) fn ecs_events_in_progress(&self) -> Vec<(Deployment, String, u32, ferry_core::events::Event)> {
        let mut out = Vec::new();
        for d in self.live_deployments().into_iter().filter(|d| d.ecs.is_some()) {
            for (target, attempt, event) in machine::server_events_in_progress(&d) {
                out.push((d.clone(), target, attempt, event));
            }
        }
        out
    }

    fn live_deployments(&self) -> Vec<Deployment> {
        let mut all: Vec<Deployment> = self.live.lock().unwrap().values().cloned().collect();
        all.sort_by(|a, b| (a.create_time, &a.id).cmp(&(b.create_time, &b.id)));
        all
    }

    /// Reloads the live set from the store (after changes made around the
    /// driver, such as deleting an application with its deployments).
    pub async fn reload(&self) -> Result<(), OpError> {
        let _guard = self.lock.lock().await;
        self.reload_locked().await
    }

    /// The time transitions see: the server's clock (`ServerConfig::clock`),
    /// which tests may set, so waits and bake times are tested without
    /// waiting. (Agent silence is measured on the monotonic clock.)
    pub(crate) fn now(&self) -> ferry_core::Millis {
        self.config.clock.now()
    }

    /// Takes the driver's lock: a change made while holding it (an edit of a
    /// group record) is serialised with every deployment transition, which
    /// write the same records (`finalize`, `create_deployment`).
    pub(crate) async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }

    /// [`Driver::reload`] for a caller holding [`Driver::exclusive`].
    pub(crate) async fn reload_holding(&self, _held: &tokio::sync::MutexGuard<'_, ()>) -> Result<(), OpError> {
        self.reload_locked().await
    }

    async fn reload_locked(&self) -> Result<(), OpError> {
        let all = self.store.active_and_queued_deployments().await?;
        *self.live.lock().unwrap() = all.into_iter().map(|d| (d.id.clone(), d)).collect();
        Ok(())
    }

    /// The original instances `d` retired since `before` leave its group:
    /// they join the group's removed instances in the same commit as their
    /// notices (in the group record `changes` already updates, if any).
    async fn remove_retired_from_group(
        &self,
        before: &Deployment,
        d: &Deployment,
        changes: &mut Changes,
    ) -> Result<(), OpError> {
        let known = before.blue_green.as_ref().map_or(0, |bg| bg.retired.len());
        let Some(bg) = d.blue_green.as_ref().filter(|bg| bg.retired.len() > known) else { return Ok(()) };
        let position = changes.update_groups.iter().position(|g| g.id == d.group_id);
        let mut group = match position {
            Some(i) => changes.update_groups.remove(i),
            None => match self.store.get_group_by_id(&d.group_id).await {
                Ok(group) => group,
                // The group was deleted meanwhile: nothing to leave.
                Err(StoreError::NotFound) => return Ok(()),
                Err(e) => return Err(e.into()),
            },
        };
        for r in &bg.retired[known..] {
            let register_time = match self.store.get_instance(&r.instance).await {
                Ok(instance) => instance.register_time,
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            };
            group.removed_instances.retain(|old| old.instance != r.instance);
            group.removed_instances.push(ferry_core::resources::RemovedInstance {
                instance: r.instance.clone(),
                register_time,
                deployment_id: d.id.clone(),
                time: r.time,
            });
        }
        changes.update_groups.push(group);
        Ok(())
    }

    /// The follow-ups of a terminal deployment: the group's record, and an
    /// automatic rollback. Returns the changes to commit with `d`.
    async fn finalize(&self, d: &mut Deployment) -> Result<Changes, OpError> {
        let mut changes = Changes::default();
        d.finalized = true;
        tracing::info!(deployment = %d.id, status = d.status.as_str(), "deployment finished");
        let mut group = match self.store.get_group_by_id(&d.group_id).await {
            Ok(group) => group,
            // The group was deleted meanwhile: nothing to record or roll back.
            Err(StoreError::NotFound) => return Ok(changes),
            Err(e) => return Err(e.into()),
        };
        // The group's record first learns of instances it has not looked
        // at yet (this deployment's targets among them), then what this
        // deployment did to them.
        let instances = self.store.list_instances(false).await?;
        ferry_core::joins::observe(&mut group, &instances, Some(d), self.now());
        ferry_core::joins::record_finished(&mut group, d);
        // The group may be idle now: instances waiting to join get theirs.
        self.joins_wake.notify_one();
        if d.creator.is_automatic() {
            // It installed what the group already runs: the group's record
            // of its deployments is unchanged, and nothing rolls back.
            changes.update_groups.push(group);
            return Ok(changes);
        }
        group.last_attempted_deployment_id = Some(d.id.clone());
        if d.status == DeploymentStatus::Succeeded {
            group.last_successful_deployment_id = Some(d.id.clone());
            group.last_successful_revision_id = Some(d.revision.id.clone());
        } else if d.ecs.is_some() {
            // The services scheduler puts the service back (`ops::services`).
            ferry_core::plan::plan_rollback(d, &group, None, String::new(), self.now());
            ferry_core::plan::explain_ecs_failure(d);
        } else if machine::wants_rollback(d) {
            let last_good = self.last_good_revision(&group).await?;
            let id = crate::random::deployment_id();
            if let Some(rollback) = ferry_core::plan::plan_rollback(d, &group, last_good, id, self.now()) {
                tracing::info!(deployment = %d.id, rollback = %rollback.id, "rolling back");
                changes.insert_deployments.push(rollback);
            }
        }
        changes.update_groups.push(group);
        Ok(changes)
    }

    /// The group's last successful revision, with the bytes its last good
    /// deployment installed (not a fresh fetch) when they are known.
    async fn last_good_revision(&self, group: &DeploymentGroup) -> Result<Option<RevisionRef>, OpError> {
        let Some(revision_id) = &group.last_successful_revision_id else { return Ok(None) };
        let revision = match self.store.get_revision(revision_id).await {
            Ok(r) => r,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let pinned = match &group.last_successful_deployment_id {
            Some(id) => match self.store.get_deployment(id).await {
                Ok(good) if good.revision.id == revision.id => Some(good.revision),
                Ok(_) | Err(StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        Ok(Some(pinned.unwrap_or_else(|| revision_ref(&revision))))
    }

    /// Starts the group's next waiting deployment if none is active; waiting
    /// deployments become Queued. Returns instances to wake. Caller holds the lock.
    async fn start_next(&self, group_id: &str) -> Result<Vec<String>, OpError> {
        let mut notify = Vec::new();
        loop {
            let mut waiting: Vec<Deployment> =
                self.live_deployments().into_iter().filter(|d| d.group_id == group_id).collect();
            if waiting.iter().any(|d| d.status.is_active()) {
                // Mark newcomers as queued behind the active deployment.
                for d in waiting.iter_mut().filter(|d| d.status == DeploymentStatus::Created) {
                    d.status = DeploymentStatus::Queued;
                    self.commit(Changes::new().update_deployment(d.clone())).await?;
                }
                return Ok(notify);
            }
            // Rollbacks first, then termination deployments (a host waits
            // to go), then oldest first.
            waiting.retain(|d| matches!(d.status, DeploymentStatus::Created | DeploymentStatus::Queued));
            waiting.sort_by_key(|d| {
                (d.creator != Creator::Rollback, d.creator != Creator::AutoscalingTermination, d.create_time)
            });
            let Some(next) = waiting.into_iter().next() else { return Ok(notify) };
            if !machine::ready_to_start(&next) {
                // Its bytes are still being copied in; it starts (and the
                // ones behind it after it) once they are.
                return Ok(notify);
            }
            let start = match &next.blue_green {
                // An ECS deployment's one target is its service.
                None if next.ecs.is_some() => {
                    Input::Start { instances: next.ecs.iter().map(|e| e.target_id()).collect() }
                }
                Some(bg) => {
                    let (green, blue) = self.blue_green_fleets(&next, bg).await?;
                    Input::StartBlueGreen { green, blue }
                }
                None => {
                    let mut instances = self.targets_of(group_id).await?;
                    if let Some(only) = &next.only_instances {
                        // Those it was made for that the group still targets.
                        instances.retain(|i| only.contains(i));
                    }
                    Input::Start { instances }
                }
            };
            let (d, woken, _) = self.apply_locked(&next.id, vec![start]).await?;
            notify.extend(woken);
            if d.status.is_active() {
                return Ok(notify);
            }
            // It ended at once (no instances, invalid minimum): try the next one.
        }
    }

    /// A blue/green deployment's fleets, (green, blue): those decided at its
    /// creation (a rollback's), else discovered now. Blue: the instances
    /// taking production traffic in the group's target groups. Green: those
    /// its target-instance tags select, else the group's instances that are
    /// not blue.
    async fn blue_green_fleets(
        &self,
        d: &Deployment,
        bg: &ferry_core::deployment::BlueGreen,
    ) -> Result<(Vec<String>, Vec<String>), OpError> {
        if !bg.green_instances.is_empty() {
            return Ok((bg.green_instances.clone(), bg.blue_instances.clone()));
        }
        let group = match self.store.get_group_by_id(&d.group_id).await {
            Ok(group) => group,
            Err(StoreError::NotFound) => return Ok((Vec::new(), Vec::new())),
            Err(e) => return Err(e.into()),
        };
        let instances: Vec<_> = self
            .store
            .list_instances(false)
            .await?
            .into_iter()
            .filter(|i| i.deregister_time.is_none() && !group.removed(i))
            .collect();
        let mut blue: Vec<String> = Vec::new();
        for name in &group.target_groups {
            let tg = match self.store.get_target_group(name).await {
                Ok(tg) => tg,
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            };
            for m in tg.members.iter().filter(|m| m.state == ferry_core::resources::MemberState::Ready && m.weight > 0)
            {
                if instances.iter().any(|i| i.name == m.instance) && !blue.contains(&m.instance) {
                    blue.push(m.instance.clone());
                }
            }
        }
        let selector = bg.green_selector.as_ref().unwrap_or(&group.selector);
        let mut green: Vec<String> = instances
            .iter()
            .filter(|i| selector.selects(&i.tags) && !blue.contains(&i.name))
            .map(|i| i.name.clone())
            .collect();
        green.sort();
        blue.sort();
        Ok((green, blue))
    }

    /// The instances a group targets now, by name (none once it is deleted).
    async fn targets_of(&self, group_id: &str) -> Result<Vec<String>, OpError> {
        let group = match self.store.get_group_by_id(group_id).await {
            Ok(group) => group,
            Err(StoreError::NotFound) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut names: Vec<String> =
            self.store.list_instances(false).await?.into_iter().filter(|i| group.targets(i)).map(|i| i.name).collect();
        names.sort();
        Ok(names)
    }

    pub async fn group_instances(&self, group: &DeploymentGroup) -> Result<Vec<String>, OpError> {
        self.targets_of(&group.id).await
    }

    /// Stops a deployment (StopDeployment): no new work; running events finish.
    pub async fn stop(&self, deployment_id: &str, rollback: Option<bool>) -> Result<Deployment, OpError> {
        let d = self.store.get_deployment(deployment_id).await.map_err(|e| match e {
            StoreError::NotFound => OpError::DeploymentNotFound(deployment_id.to_string()),
            e => e.into(),
        })?;
        if d.status.is_terminal() {
            return Err(OpError::AlreadyCompleted(deployment_id.to_string()));
        }
        self.apply(
            deployment_id,
            Input::Stop {
                rollback,
                code: ErrorCode::ManualStop,
                message: "The deployment was stopped by a user.".into(),
            },
        )
        .await
    }

    /// Deletes an application with its groups, revisions and deployments
    /// (none of it left if it did not exist). Agents running its
    /// deployments no longer see their commands: they finish the running
    /// event and start no more.
    pub async fn delete_application(&self, name: &str) -> Result<(), OpError> {
        let _guard = self.lock.lock().await;
        let affected: Vec<String> = self
            .live_deployments()
            .iter()
            .filter(|d| d.application_name == name)
            .flat_map(|d| d.targets.iter().map(|t| t.instance.clone()))
            .collect();
        match self.store.delete_application(name).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        self.reload_locked().await?;
        drop(_guard);
        tracing::info!(application = %name, "application deleted");
        self.notify_all(&affected);
        Ok(())
    }

    /// Deletes a group (nothing if it does not exist) and stops its running
    /// and waiting deployments, without rolling back; they stay as history.
    pub async fn delete_group(&self, application: &str, group: &str) -> Result<(), OpError> {
        let group = match self.store.get_group(application, group).await {
            Ok(g) => g,
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        match self.store.delete_group(application, &group.name).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let ids: Vec<String> = self
            .live_deployments()
            .into_iter()
            .filter(|d| d.group_id == group.id && !d.status.is_terminal())
            .map(|d| d.id)
            .collect();
        for id in ids {
            let stop = Input::Stop {
                rollback: Some(false),
                code: ErrorCode::ManualStop,
                message: "The deployment group was deleted.".into(),
            };
            self.apply(&id, stop).await?;
        }
        tracing::info!(application, group = %group.name, "deployment group deleted");
        Ok(())
    }

    /// ContinueDeployment: ends a blue/green deployment's Ready wait, or
    /// skips its termination wait.
    pub async fn continue_deployment(&self, id: &str, wait: machine::Wait) -> Result<Deployment, OpError> {
        use ferry_core::deployment::Phase;
        let d = self.store.get_deployment(id).await.map_err(|e| match e {
            StoreError::NotFound => OpError::DeploymentNotFound(id.to_string()),
            e => e.into(),
        })?;
        if d.status.is_terminal() {
            return Err(OpError::AlreadyCompleted(id.to_string()));
        }
        let Some(bg) = &d.blue_green else { return Err(OpError::NotBlueGreen(id.to_string())) };
        let (wanted, what) = match wait {
            machine::Wait::Ready => (Phase::Ready, "in the Ready state (for its traffic to be moved)"),
            machine::Wait::Termination => (Phase::TerminationWait, "to terminate its original instances"),
        };
        if bg.phase != wanted {
            return Err(OpError::NotWaiting { id: id.to_string(), what });
        }
        self.apply(id, Input::Continue { wait }).await
    }

    fn notify_all(&self, instances: &[String]) {
        for instance in instances {
            self.notify(instance);
        }
    }

    /// After a restart: finish what a crash interrupted and start what waits.
    pub async fn recover(&self) -> Result<(), OpError> {
        let _guard = self.lock.lock().await;
        self.reload_locked().await?;
        let mut groups = Vec::new();
        for mut d in self.live_deployments() {
            if d.status.is_terminal() && !d.finalized {
                let mut changes = self.finalize(&mut d).await?;
                changes.update_deployments.push(d.clone());
                self.commit(changes).await?;
            }
            if !groups.contains(&d.group_id) {
                groups.push(d.group_id.clone());
            }
        }
        for group in groups {
            self.start_next(&group).await?;
        }
        // Jobs a crash interrupted are carried out again.
        for d in self.live_deployments() {
            if d.ecs.is_some() {
                // `ops::ecs_deployments` finds its events in progress itself.
                continue;
            }
            for (instance, attempt, event) in machine::server_events_in_progress(&d) {
                let _ = self.jobs.send(Job::Event(ServerJob { deployment: d.id.clone(), instance, attempt, event }));
            }
            let (shifting, terminating) = machine::blue_green_jobs(&d);
            if shifting {
                let _ = self.jobs.send(Job::Shift { deployment: d.id.clone() });
            }
            if let Some(instances) = terminating {
                let _ = self.jobs.send(Job::Terminate { deployment: d.id.clone(), instances });
            }
        }
        Ok(())
    }

    /// Every half second: fail the in-flight events of lost hosts, and start
    /// waiting deployments whose group is free (a safety net).
    pub async fn reconcile_forever(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            self.reconcile_once().await;
        }
    }

    /// One pass over the live deployments. A deployment that cannot be
    /// advanced (its commit failed) is logged and skipped: the others still
    /// get their timeouts and lost-host checks on this tick.
    async fn reconcile_once(&self) {
        let deployments = self.live_deployments();
        // Blue/green waits that ran out.
        let now = self.now();
        for d in &deployments {
            let bg_deadline = d.blue_green.as_ref().and_then(|bg| bg.deadline);
            let baked = d.status == DeploymentStatus::Baking && d.bake_until.is_some_and(|until| now >= until);
            if (bg_deadline.is_some_and(|deadline| now >= deadline) || baked)
                && let Err(e) = self.apply(&d.id, Input::Tick).await
            {
                tracing::warn!(deployment = %d.id, error = %e, "reconcile: cannot end a wait");
            }
        }
        let lost_after = self.config.agent_lost_after;
        for d in &deployments {
            if d.status != DeploymentStatus::InProgress {
                continue;
            }
            for t in d.targets.iter().filter(|t| t.status == TargetStatus::InProgress) {
                // While the server moves an instance's traffic (or runs an
                // ECS deployment's events), no agent has anything to say.
                if t.current_event().is_some_and(|e| d.runner(e.name) == ferry_core::events::Runner::Server) {
                    continue;
                }
                let silent = self.silent_for(&t.instance);
                if silent >= lost_after {
                    let message = format!(
                        "The ferry agent on {} has not been heard from for {} s (limit {} s); failing its in-flight lifecycle event.",
                        t.instance,
                        silent.as_secs(),
                        lost_after.as_secs()
                    );
                    tracing::warn!(instance = %t.instance, deployment = %d.id, "host lost");
                    let lost = Input::InstanceLost { instance: t.instance.clone(), message };
                    if let Err(e) = self.apply(&d.id, lost).await {
                        tracing::warn!(deployment = %d.id, error = %e, "reconcile: cannot fail a lost host's event");
                    }
                }
            }
        }
        let mut idle_groups: Vec<&str> = Vec::new();
        for d in &deployments {
            if matches!(d.status, DeploymentStatus::Created | DeploymentStatus::Queued)
                && !deployments.iter().any(|o| o.group_id == d.group_id && o.status.is_active())
                && !idle_groups.contains(&d.group_id.as_str())
            {
                idle_groups.push(&d.group_id);
            }
        }
        for group in idle_groups {
            let _guard = self.lock.lock().await;
            match self.start_next(group).await {
                Ok(notify) => {
                    drop(_guard);
                    self.notify_all(&notify);
                }
                Err(e) => tracing::warn!(group, error = %e, "reconcile: cannot start the next deployment"),
            }
        }
    }

    /// The minimum for a config, checked for the fleet size (for display).
    pub fn minimum_label(min: MinimumHealthyHosts) -> String {
        match min {
            MinimumHealthyHosts::HostCount(n) => format!("HOST_COUNT {n}"),
            MinimumHealthyHosts::FleetPercent(p) => format!("FLEET_PERCENT {p}"),
            MinimumHealthyHosts::MostConcurrency => "one at a time".into(),
        }
    }

    pub fn default_config() -> &'static str {
        ONE_AT_A_TIME
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Lists deployments newest first.
    pub async fn list(&self, filter: DeploymentFilter) -> Result<Vec<Deployment>, OpError> {
        Ok(self.store.list_deployments(filter).await?)
    }
}

/// Whether a deployment belongs in the live set: not yet finalized, or still
/// waiting or running (the store's `active_and_queued_deployments`).
fn is_live(d: &Deployment) -> bool {
    !d.finalized || !d.status.is_terminal()
}

pub fn file_exists_name(b: FileExistsBehavior) -> &'static str {
    match b {
        FileExistsBehavior::Disallow => "DISALLOW",
        FileExistsBehavior::Overwrite => "OVERWRITE",
        FileExistsBehavior::Retain => "RETAIN",
    }
}

pub fn parse_file_exists(name: &str) -> Option<FileExistsBehavior> {
    match name.to_ascii_uppercase().as_str() {
        "DISALLOW" => Some(FileExistsBehavior::Disallow),
        "OVERWRITE" => Some(FileExistsBehavior::Overwrite),
        "RETAIN" => Some(FileExistsBehavior::Retain),
        _ => None,
    }
}

/// A revision's reference, with its bytes pinned when they are known
/// (uploaded bundles, or the last copy of one kept elsewhere).
pub fn revision_ref(r: &Revision) -> RevisionRef {
    let bundle = match &r.location {
        RevisionLocation::Blob { key } => Some(Bundle {
            blob_key: key.clone(),
            sha256: r.sha256.clone(),
            size: r.size,
            bundle_type: r.bundle_type.clone(),
            etag: None,
            version: None,
        }),
        _ => r.last_fetch.clone(),
    };
    let (bundle_type, sha256, size) = match &bundle {
        Some(b) => (b.bundle_type.as_str(), b.sha256.as_str(), b.size),
        None => (r.bundle_type.as_str(), r.sha256.as_str(), r.size),
    };
    RevisionRef {
        id: r.id.clone(),
        summary: format!("{bundle_type} {} ({size} bytes)", &sha256[..sha256.len().min(12)]),
        bundle,
    }
}
