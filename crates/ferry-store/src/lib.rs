//! The ferry server's state store: applications, deployment groups, custom
//! deployment configs, instances, revisions, access keys, deployments and a
//! few settings, persisted in SQLite (PostgreSQL later).
//!
//! [`Store`] is the whole API: cheap to clone, safe to share between tasks.
//! Every resource is stored as the serde document of its `ferry-core` type
//! (the source of truth) beside the columns needed to look it up; see
//! the `doc` module for how documents carry a schema version so that a
//! later ferry can upgrade them. [`Store::commit`] applies a deployment's
//! transition and its follow-ups in one transaction: the server persists
//! every transition with it *before* acting on it.
//!
//! **Architecture Invariant:** this crate owns all SQL and the schema
//! migrations (`migrations/<backend>/`, embedded in the binary and applied
//! on open). It knows nothing of HTTP, the AWS wire format, the deployment
//! state machine or the built-in deployment configs beyond refusing to store
//! one: it stores what it is given. Callers see [`StoreError`], never SQL
//! error codes, so the same server code runs on every backend.
//!
//! **Durability:** the SQLite backend runs in WAL mode with
//! `synchronous=FULL`: once a write returns, it survives `kill -9` and power
//! loss alike.
//!
//! # Layout
//! - `lib.rs`: [`Store`], which dispatches to a backend; [`DeploymentFilter`], [`Changes`].
//! - `error`: [`StoreError`].
//! - `doc`: documents, their schema versions and upgrades.
//! - `secrets`: [`SecretsKey`], sealing access keys' secrets at rest
//!   (AES-256-GCM) so that the database alone gives none away.
//! - `sqlite`: the SQLite backend, the only module with SQL in it. A
//!   PostgreSQL backend becomes a sibling module (`pg`, with
//!   `migrations/postgres/`) and a second [`Backend`] variant; the
//!   conformance suite in `tests/store.rs` runs against each.

mod doc;
mod error;
mod secrets;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use ferry_core::Millis;
use ferry_core::build::{Build, BuildProject, BuildReport};
use ferry_core::config::DeploymentConfig;
use ferry_core::deployment::{Deployment, DeploymentStatus};
use ferry_core::notices::Notice;
use ferry_core::resources::{
    AccessKey, Alarm, Application, AuditEntry, Delivery, DeliveryState, DeploymentGroup, Instance, Revision,
    TargetGroup,
};

pub use crate::error::{Result, StoreError};
pub use crate::secrets::SecretsKey;

/// The state store. Clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// Seals access keys' secrets as they are written and opens them as
    /// they are read; without one, secrets are written in plain text (tests).
    secrets: Option<Arc<SecretsKey>>,
}

/// What the server last recorded about an agent's liveness (see
/// [`Store::save_liveness`]). Times are milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLiveness {
    pub instance: String,
    /// When the agent's last request arrived.
    pub heard: Millis,
    /// The time its silence is counted from: `heard`, or earlier when
    /// silence carried over a server restart.
    pub silent_since: Millis,
    /// A poll of it was being held when this was recorded.
    pub polling: bool,
    /// When its last held poll ended (0: none).
    pub poll_ended: Millis,
}

/// A ferry secret as listings show it: never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub name: String,
    pub description: String,
    pub create_time: Millis,
    pub update_time: Millis,
}

/// The settings key of the sealed check value that tells a wrong secrets key
/// from the right one before any secret is read.
const SECRETS_CHECK_SETTING: &str = "secrets_key_check";
const SECRETS_CHECK_CONTEXT: &str = "the secrets key check";

/// The database behind a [`Store`]. Each variant owns its SQL.
#[derive(Debug, Clone)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
}

/// Runs `$call` on whichever backend the store has.
macro_rules! on_backend {
    ($store:expr, $backend:ident => $call:expr) => {
        match &$store.backend {
            Backend::Sqlite($backend) => $call,
        }
    };
}

/// Which deployments [`Store::list_deployments`] returns. The default
/// matches every deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentFilter {
    pub application: Option<String>,
    /// A group name (of `application`, if that is set).
    pub group: Option<String>,
    /// Any of these statuses; empty means any status.
    pub statuses: Vec<DeploymentStatus>,
    /// Created at or after this time.
    pub created_after: Option<Millis>,
    /// Created at or before this time.
    pub created_before: Option<Millis>,
    /// At most this many (the newest).
    pub limit: Option<u32>,
}

/// Writes that [`Store::commit`] applies together or not at all, in this
/// order: deployment updates, deployment inserts, group updates, revision
/// puts, events (each with its trigger deliveries). Each behaves as its
/// single-call method does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// As [`Store::update_deployment`].
    pub update_deployments: Vec<Deployment>,
    /// As [`Store::insert_deployment`].
    pub insert_deployments: Vec<Deployment>,
    /// As [`Store::update_group`].
    pub update_groups: Vec<DeploymentGroup>,
    /// As [`Store::put_revision`].
    pub put_revisions: Vec<Revision>,
    /// As [`Store::update_build`].
    pub update_builds: Vec<Build>,
    /// Pipelines' execution documents and the executions they changed.
    pub pipeline_runs: Vec<PipelineRunsChange>,
    /// Appended to the event log, in order.
    pub events: Vec<NewEvent>,
}

/// An event to append, with the trigger deliveries it causes (their
/// `event_seq` is filled in when the event gets its number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub notice: Notice,
    pub deliveries: Vec<Delivery>,
}

/// An event as the log holds it: numbered from 1, in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: u64,
    pub notice: Notice,
}

/// A pipeline's declaration at one version, as CodePipeline's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPipeline {
    pub name: String,
    pub version: u32,
    pub create_time: Millis,
    pub update_time: Millis,
    pub doc: String,
}

/// A pipeline's new execution document (`ferry_pipeline::execution::Runs`
/// as JSON) and the executions whose rows change with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineRunsChange {
    pub pipeline: String,
    pub doc: String,
    pub executions: Vec<StoredPipelineExecution>,
}

/// One pipeline execution as JSON, with what listing it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPipelineExecution {
    pub id: String,
    pub start_time: Millis,
    /// CodePipeline's name of its status (`InProgress`, `Succeeded`, …).
    pub status: String,
    pub doc: String,
}

/// One revision of a task definition family, as ECS's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTaskDefinition {
    pub family: String,
    pub revision: u32,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    pub register_time: Millis,
    pub doc: String,
}

/// A change of a service and its tasks, written in one transaction
/// ([`Store::save_service`]). Documents are the server's (ferry_ecs's
/// `Service` and `Task`); the store keeps them with the columns it indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceChange {
    pub service: ServiceWrite,
    /// Tasks to insert or replace.
    pub tasks: Vec<TaskRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceWrite {
    Keep,
    /// A new service (`Conflict` if the name is taken).
    Create {
        name: String,
        doc: String,
    },
    /// A new version of an existing service (`NotFound` if it is gone).
    Put {
        name: String,
        doc: String,
    },
    /// The service and all its tasks.
    Delete {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    pub id: String,
    pub service: String,
    pub host: String,
    /// Meant to run, or not yet stopped.
    pub live: bool,
    pub created_at: Millis,
    pub doc: String,
}

/// What [`Store::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deployments: u64,
    pub events: u64,
    pub deliveries: u64,
    pub audit: u64,
    /// Finished pipeline executions in history (not those still in their
    /// pipeline's execution document).
    pub pipeline_executions: u64,
}

/// An audit entry as the log holds it, numbered in the order it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAudit {
    pub seq: u64,
    pub entry: AuditEntry,
}

/// Which audit entries [`Store::list_audit`] returns (oldest first; at
/// most `limit`, the newest, 1000 by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub key_id: Option<String>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    pub refused_only: bool,
    pub limit: Option<u32>,
}

/// Which deliveries [`Store::list_deliveries`] returns (oldest first; at
/// most `limit`, the newest, 1000 by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub deployment_id: Option<String>,
    pub state: Option<DeliveryState>,
    pub limit: Option<u32>,
}

impl Changes {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update_deployment(mut self, deployment: Deployment) -> Self {
        self.update_deployments.push(deployment);
        self
    }

    pub fn insert_deployment(mut self, deployment: Deployment) -> Self {
        self.insert_deployments.push(deployment);
        self
    }

    pub fn update_group(mut self, group: DeploymentGroup) -> Self {
        self.update_groups.push(group);
        self
    }

    pub fn put_revision(mut self, revision: Revision) -> Self {
        self.put_revisions.push(revision);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.update_deployments.is_empty()
            && self.insert_deployments.is_empty()
            && self.update_groups.is_empty()
            && self.put_revisions.is_empty()
            && self.update_builds.is_empty()
            && self.pipeline_runs.is_empty()
            && self.events.is_empty()
    }
}

impl Store {
    /// Opens (creating it if needed) the SQLite database at `path` and
    /// brings its schema up to date. The directory must exist.
    pub async fn open_sqlite(path: &Path) -> Result<Store> {
        Ok(Store { backend: Backend::Sqlite(sqlite::SqliteStore::open(path).await?), secrets: None })
    }

    /// A fresh, empty in-memory SQLite database, for tests. It lives as
    /// long as the store (and its clones).
    pub async fn open_sqlite_memory() -> Result<Store> {
        Ok(Store { backend: Backend::Sqlite(sqlite::SqliteStore::open_memory().await?), secrets: None })
    }

    /// Seals secrets with `key` from now on (call before cloning the store).
    /// Check it with [`Store::seal_stored_secrets`] before use.
    pub fn with_secrets_key(mut self, key: SecretsKey) -> Store {
        self.secrets = Some(Arc::new(key));
        self
    }

    /// Whether secrets in this database were sealed (so a key is needed to read them).
    pub async fn has_sealed_secrets(&self) -> Result<bool> {
        Ok(self.get_setting(SECRETS_CHECK_SETTING).await?.is_some())
    }

    /// Checks that the store's secrets key is the one the database was
    /// sealed with (a clear error if not), then seals every secret still
    /// stored in plain text (written before sealing existed) and clears
    /// the old plain text from the database and its write-ahead log.
    /// Returns how many secrets it sealed.
    pub async fn seal_stored_secrets(&self) -> Result<usize> {
        let key = self.secrets.as_ref().ok_or_else(|| StoreError::Backend("no secrets key was given".into()))?;
        match self.get_setting(SECRETS_CHECK_SETTING).await? {
            Some(check) => {
                key.open(&check, SECRETS_CHECK_CONTEXT).map_err(|_| {
                    StoreError::Backend(
                        "the secrets key does not match the one this database's secrets were sealed with".into(),
                    )
                })?;
            }
            None => self.put_setting(SECRETS_CHECK_SETTING, &key.seal("ferry", SECRETS_CHECK_CONTEXT)?).await?,
        }
        let mut sealed = 0;
        for stored in on_backend!(self, b => b.list_access_keys().await)? {
            if !secrets::is_sealed(&stored.secret) {
                self.put_access_key(&stored).await?;
                sealed += 1;
            }
        }
        if sealed > 0 {
            on_backend!(self, b => b.truncate_log().await)?;
        }
        Ok(sealed)
    }

    fn secret_context(id: &str) -> String {
        format!("access key {id}")
    }

    fn seal_key(&self, key: &AccessKey) -> Result<AccessKey> {
        let mut stored = key.clone();
        if let Some(secrets) = &self.secrets {
            stored.secret = secrets.seal(&key.secret, &Self::secret_context(&key.id))?;
        }
        Ok(stored)
    }

    fn open_key(&self, mut key: AccessKey) -> Result<AccessKey> {
        if secrets::is_sealed(&key.secret) {
            let secrets = self.secrets.as_ref().ok_or_else(|| {
                StoreError::Backend(format!(
                    "the secret of access key {} is sealed and no secrets key was given",
                    key.id
                ))
            })?;
            key.secret = secrets.open(&key.secret, &Self::secret_context(&key.id))?;
        }
        Ok(key)
    }

    /// Closes every connection, waiting for those in use to come back.
    /// Later calls fail.
    pub async fn close(&self) {
        on_backend!(self, b => b.close().await)
    }

    /// The version of the newest migration applied to the database.
    pub async fn schema_version(&self) -> Result<i64> {
        on_backend!(self, b => b.schema_version().await)
    }

    // Applications.

    /// [`StoreError::AlreadyExists`] if the name (or id) is taken.
    pub async fn create_application(&self, app: &Application) -> Result<()> {
        on_backend!(self, b => b.create_application(app).await)
    }

    pub async fn get_application(&self, name: &str) -> Result<Application> {
        on_backend!(self, b => b.get_application(name).await)
    }

    /// By name.
    pub async fn list_applications(&self) -> Result<Vec<Application>> {
        on_backend!(self, b => b.list_applications().await)
    }

    /// Replaces the application's document (its tags); the id and name must
    /// not change (see [`Store::rename_application`]). [`StoreError::NotFound`]
    /// if there is no such application.
    pub async fn update_application(&self, app: &Application) -> Result<()> {
        on_backend!(self, b => b.update_application(app).await)
    }

    /// Renames an application and, in the same transaction, its groups',
    /// revisions' and deployments' references to it.
    /// [`StoreError::AlreadyExists`] if `new` is taken.
    pub async fn rename_application(&self, old: &str, new: &str) -> Result<()> {
        on_backend!(self, b => b.rename_application(old, new).await)
    }

    /// Deletes an application with its groups, revisions and deployments.
    pub async fn delete_application(&self, name: &str) -> Result<()> {
        on_backend!(self, b => b.delete_application(name).await)
    }

    // Deployment groups.

    /// [`StoreError::AlreadyExists`] if the application has a group of that
    /// name; [`StoreError::Conflict`] if the application does not exist.
    pub async fn create_group(&self, group: &DeploymentGroup) -> Result<()> {
        on_backend!(self, b => b.create_group(group).await)
    }

    pub async fn get_group(&self, application: &str, name: &str) -> Result<DeploymentGroup> {
        on_backend!(self, b => b.get_group(application, name).await)
    }

    pub async fn get_group_by_id(&self, id: &str) -> Result<DeploymentGroup> {
        on_backend!(self, b => b.get_group_by_id(id).await)
    }

    /// The application's groups, by name.
    pub async fn list_groups(&self, application: &str) -> Result<Vec<DeploymentGroup>> {
        on_backend!(self, b => b.list_groups(application).await)
    }

    /// Replaces the group with this id. A new name is carried into the
    /// group's deployments; [`StoreError::AlreadyExists`] if it is taken.
    pub async fn update_group(&self, group: &DeploymentGroup) -> Result<()> {
        on_backend!(self, b => b.update_group(group).await)
    }

    /// Deletes a group. Its deployments stay, as history.
    pub async fn delete_group(&self, application: &str, name: &str) -> Result<()> {
        on_backend!(self, b => b.delete_group(application, name).await)
    }

    // Deployment configs (custom ones; the built-ins live in ferry-core).

    /// [`StoreError::AlreadyExists`] if the name is taken, built-in names included.
    pub async fn create_config(&self, config: &DeploymentConfig) -> Result<()> {
        on_backend!(self, b => b.create_config(config).await)
    }

    /// A custom config: [`StoreError::NotFound`] for a built-in name.
    pub async fn get_config(&self, name: &str) -> Result<DeploymentConfig> {
        on_backend!(self, b => b.get_config(name).await)
    }

    /// The custom configs, by name.
    pub async fn list_configs(&self) -> Result<Vec<DeploymentConfig>> {
        on_backend!(self, b => b.list_configs().await)
    }

    pub async fn delete_config(&self, name: &str) -> Result<()> {
        on_backend!(self, b => b.delete_config(name).await)
    }

    // Target groups.

    /// [`StoreError::AlreadyExists`] if the name is taken.
    pub async fn create_target_group(&self, tg: &TargetGroup) -> Result<()> {
        on_backend!(self, b => b.create_target_group(tg).await)
    }

    pub async fn get_target_group(&self, name: &str) -> Result<TargetGroup> {
        on_backend!(self, b => b.get_target_group(name).await)
    }

    /// By name.
    pub async fn list_target_groups(&self) -> Result<Vec<TargetGroup>> {
        on_backend!(self, b => b.list_target_groups().await)
    }

    /// Replaces the target group with this id and name.
    pub async fn update_target_group(&self, tg: &TargetGroup) -> Result<()> {
        on_backend!(self, b => b.update_target_group(tg).await)
    }

    pub async fn delete_target_group(&self, name: &str) -> Result<()> {
        on_backend!(self, b => b.delete_target_group(name).await)
    }

    // Build projects and builds.

    pub async fn create_build_project(&self, project: &BuildProject) -> Result<()> {
        on_backend!(self, b => b.create_build_project(project).await)
    }

    pub async fn update_build_project(&self, project: &BuildProject) -> Result<()> {
        on_backend!(self, b => b.update_build_project(project).await)
    }

    pub async fn get_build_project(&self, name: &str) -> Result<BuildProject> {
        on_backend!(self, b => b.get_build_project(name).await)
    }

    pub async fn list_build_projects(&self) -> Result<Vec<BuildProject>> {
        on_backend!(self, b => b.list_build_projects().await)
    }

    /// Deletes a project; its builds stay as history.
    pub async fn delete_build_project(&self, name: &str) -> Result<()> {
        on_backend!(self, b => b.delete_build_project(name).await)
    }

    /// Stores the build `make` returns for `project`'s next build number
    /// (1, 2, …), allocated in the same transaction.
    pub async fn queue_build(&self, project: &str, make: impl FnOnce(u64) -> Build) -> Result<Build> {
        on_backend!(self, b => b.queue_build(project, make).await)
    }

    pub async fn update_build(&self, build: &Build) -> Result<()> {
        on_backend!(self, b => b.update_build(build).await)
    }

    pub async fn get_build(&self, id: &str) -> Result<Build> {
        on_backend!(self, b => b.get_build(id).await)
    }

    /// A project's builds (or everyone's), newest first, at most `limit`.
    pub async fn list_builds(&self, project: Option<&str>, limit: u32) -> Result<Vec<Build>> {
        on_backend!(self, b => b.list_builds(project, limit).await)
    }

    /// Builds queued or running, oldest first.
    pub async fn unfinished_builds(&self) -> Result<Vec<Build>> {
        on_backend!(self, b => b.unfinished_builds().await)
    }

    /// Stores a build's log lines numbered from `first_seq`; a line already
    /// stored under its number is kept (a chunk sent again).
    pub async fn append_build_log(&self, build_id: &str, first_seq: u64, lines: &[String]) -> Result<()> {
        on_backend!(self, b => b.append_build_log(build_id, first_seq, lines).await)
    }

    /// At most `limit` log lines of a build from line `from_seq` on, with their numbers.
    pub async fn build_log(&self, build_id: &str, from_seq: u64, limit: u32) -> Result<Vec<(u64, String)>> {
        on_backend!(self, b => b.build_log(build_id, from_seq, limit).await)
    }

    /// The number the build's next log line gets.
    pub async fn build_log_end(&self, build_id: &str) -> Result<u64> {
        on_backend!(self, b => b.build_log_end(build_id).await)
    }

    /// Stores (or replaces, by name) a build's test reports.
    pub async fn put_build_reports(&self, build_id: &str, reports: &[BuildReport]) -> Result<()> {
        on_backend!(self, b => b.put_build_reports(build_id, reports).await)
    }

    pub async fn build_reports(&self, build_id: &str) -> Result<Vec<BuildReport>> {
        on_backend!(self, b => b.build_reports(build_id).await)
    }

    // Pipelines.

    /// Stores a new pipeline at version 1 (`AlreadyExists` when the name is taken).
    pub async fn create_pipeline(&self, name: &str, doc: &str, now: Millis) -> Result<()> {
        on_backend!(self, b => b.create_pipeline(name, doc, now).await)
    }

    /// Stores the pipeline's next version, `make(version)`; returns the version.
    pub async fn update_pipeline(&self, name: &str, make: impl FnOnce(u32) -> String, now: Millis) -> Result<u32> {
        on_backend!(self, b => b.update_pipeline(name, make, now).await)
    }

    /// A pipeline at `version` (`None`: its current one).
    pub async fn get_pipeline(&self, name: &str, version: Option<u32>) -> Result<StoredPipeline> {
        on_backend!(self, b => b.get_pipeline(name, version).await)
    }

    pub async fn list_pipelines(&self) -> Result<Vec<StoredPipeline>> {
        on_backend!(self, b => b.list_pipelines().await)
    }

    /// Stores the family's next task definition revision, `make(revision)`.
    pub async fn register_task_definition(
        &self,
        family: &str,
        make: impl FnOnce(u32) -> String,
        now: Millis,
    ) -> Result<u32> {
        on_backend!(self, b => b.register_task_definition(family, make, now).await)
    }

    /// A revision of a family (`None`: its newest ACTIVE one).
    pub async fn get_task_definition(&self, family: &str, revision: Option<u32>) -> Result<StoredTaskDefinition> {
        on_backend!(self, b => b.get_task_definition(family, revision).await)
    }

    /// One family's revisions, newest first; or (`None`) each family's newest.
    pub async fn list_task_definitions(&self, family: Option<&str>) -> Result<Vec<StoredTaskDefinition>> {
        on_backend!(self, b => b.list_task_definitions(family).await)
    }

    /// Marks a revision INACTIVE (`NotFound` if there is none).
    pub async fn deregister_task_definition(&self, family: &str, revision: u32) -> Result<()> {
        on_backend!(self, b => b.deregister_task_definition(family, revision).await)
    }

    /// A service's document (`NotFound` if there is none).
    pub async fn get_service(&self, name: &str) -> Result<String> {
        on_backend!(self, b => b.get_service(name).await)
    }

    /// Every service's document, by name.
    pub async fn list_services(&self) -> Result<Vec<String>> {
        on_backend!(self, b => b.list_services().await)
    }

    /// Writes a service and its tasks in one transaction.
    pub async fn save_service(&self, change: &ServiceChange, now: Millis) -> Result<()> {
        on_backend!(self, b => b.save_service(change, now).await)
    }

    /// Task documents: one service's live tasks and its newest `stopped`
    /// stopped ones, oldest first; or (`None`) every live task.
    pub async fn list_service_tasks(&self, service: Option<&str>, stopped: u32) -> Result<Vec<String>> {
        on_backend!(self, b => b.list_service_tasks(service, stopped).await)
    }

    /// Deletes a service's stopped tasks beyond the newest `keep`.
    pub async fn prune_service_tasks(&self, service: &str, keep: u32) -> Result<u64> {
        on_backend!(self, b => b.prune_service_tasks(service, keep).await)
    }

    /// A pipeline's execution document (see [`Changes::pipeline_runs`]).
    pub async fn get_pipeline_runs(&self, pipeline: &str) -> Result<Option<String>> {
        on_backend!(self, b => b.get_pipeline_runs(pipeline).await)
    }

    /// The pipelines that have an execution document.
    pub async fn list_pipeline_runs(&self) -> Result<Vec<String>> {
        on_backend!(self, b => b.list_pipeline_runs().await)
    }

    /// A pipeline's executions, newest first: at most `limit`, those that
    /// come after `(start_time, id)` of the previous page's last when given.
    pub async fn list_pipeline_executions(
        &self,
        pipeline: &str,
        before: Option<(Millis, &str)>,
        limit: u32,
    ) -> Result<Vec<StoredPipelineExecution>> {
        on_backend!(self, b => b.list_pipeline_executions(pipeline, before, limit).await)
    }

    /// An execution by id, with its pipeline's name.
    pub async fn get_pipeline_execution(&self, id: &str) -> Result<(String, StoredPipelineExecution)> {
        on_backend!(self, b => b.get_pipeline_execution(id).await)
    }

    /// Deletes a pipeline with all its versions and executions.
    pub async fn delete_pipeline(&self, name: &str) -> Result<()> {
        on_backend!(self, b => b.delete_pipeline(name).await)
    }

    // Instances.

    /// Inserts or replaces the instance of this name.
    pub async fn upsert_instance(&self, instance: &Instance) -> Result<()> {
        on_backend!(self, b => b.upsert_instance(instance).await)
    }

    pub async fn get_instance(&self, name: &str) -> Result<Instance> {
        on_backend!(self, b => b.get_instance(name).await)
    }

    /// By name; deregistered instances only if asked for.
    pub async fn list_instances(&self, include_deregistered: bool) -> Result<Vec<Instance>> {
        on_backend!(self, b => b.list_instances(include_deregistered).await)
    }

    pub async fn delete_instance(&self, name: &str) -> Result<()> {
        on_backend!(self, b => b.delete_instance(name).await)
    }

    // Revisions.

    /// Inserts or replaces the revision of this id. [`StoreError::Conflict`]
    /// if the id belongs to another application, or the application does
    /// not exist.
    pub async fn put_revision(&self, revision: &Revision) -> Result<()> {
        on_backend!(self, b => b.put_revision(revision).await)
    }

    pub async fn get_revision(&self, id: &str) -> Result<Revision> {
        on_backend!(self, b => b.get_revision(id).await)
    }

    /// The application's revisions, newest registration first.
    pub async fn list_revisions(&self, application: &str) -> Result<Vec<Revision>> {
        on_backend!(self, b => b.list_revisions(application).await)
    }

    /// The application's most recently registered revision, if any.
    pub async fn latest_revision(&self, application: &str) -> Result<Option<Revision>> {
        on_backend!(self, b => b.latest_revision(application).await)
    }

    // Access keys.

    /// Inserts or replaces the key of this id (disabling a key is a put).
    /// The secret is sealed when the store has a secrets key.
    pub async fn put_access_key(&self, key: &AccessKey) -> Result<()> {
        let stored = self.seal_key(key)?;
        on_backend!(self, b => b.put_access_key(&stored).await)
    }

    pub async fn get_access_key(&self, id: &str) -> Result<AccessKey> {
        self.open_key(on_backend!(self, b => b.get_access_key(id).await)?)
    }

    /// Oldest first.
    pub async fn list_access_keys(&self) -> Result<Vec<AccessKey>> {
        on_backend!(self, b => b.list_access_keys().await)?.into_iter().map(|k| self.open_key(k)).collect()
    }

    pub async fn delete_access_key(&self, id: &str) -> Result<()> {
        on_backend!(self, b => b.delete_access_key(id).await)
    }

    // Deployments.

    /// [`StoreError::AlreadyExists`] if the id is taken;
    /// [`StoreError::Conflict`] if the application does not exist.
    pub async fn insert_deployment(&self, deployment: &Deployment) -> Result<()> {
        on_backend!(self, b => b.insert_deployment(deployment).await)
    }

    pub async fn get_deployment(&self, id: &str) -> Result<Deployment> {
        on_backend!(self, b => b.get_deployment(id).await)
    }

    /// The matching deployments, newest first.
    pub async fn list_deployments(&self, filter: DeploymentFilter) -> Result<Vec<Deployment>> {
        on_backend!(self, b => b.list_deployments(&filter).await)
    }

    /// The ids of [`Store::list_deployments`], without reading documents.
    pub async fn list_deployment_ids(&self, filter: DeploymentFilter) -> Result<Vec<String>> {
        on_backend!(self, b => b.list_deployment_ids(&filter).await)
    }

    /// What a (re)started driver must pick up, oldest first: deployments
    /// not yet terminal (Created, Queued, InProgress, Baking, Ready) and
    /// terminal ones whose follow-ups are not recorded (`finalized == false`).
    pub async fn active_and_queued_deployments(&self) -> Result<Vec<Deployment>> {
        on_backend!(self, b => b.active_and_queued_deployments().await)
    }

    /// Replaces the deployment with this id.
    pub async fn update_deployment(&self, deployment: &Deployment) -> Result<()> {
        on_backend!(self, b => b.update_deployment(deployment).await)
    }

    /// Applies every change in one transaction: all of them or, on the
    /// first error (returned), none. Returns the last event's number, if
    /// it appended events.
    pub async fn commit(&self, changes: Changes) -> Result<Option<u64>> {
        if changes.is_empty() {
            return Ok(None);
        }
        on_backend!(self, b => b.commit(&changes).await)
    }

    /// How many deployments there are of each status (statuses with none left out).
    pub async fn count_deployments_by_status(&self) -> Result<Vec<(DeploymentStatus, u64)>> {
        on_backend!(self, b => b.count_deployments_by_status().await)
    }

    // Events and trigger deliveries.

    /// Events numbered above `after`, oldest first, at most `limit`; of one
    /// deployment if given.
    pub async fn events_after(&self, after: u64, deployment: Option<&str>, limit: u32) -> Result<Vec<StoredEvent>> {
        on_backend!(self, b => b.events_after(after, deployment, limit).await)
    }

    /// The newest event's number (0 when there is none).
    pub async fn last_event_seq(&self) -> Result<u64> {
        on_backend!(self, b => b.last_event_seq().await)
    }

    /// Pending deliveries whose next attempt is due at `now`, oldest event first.
    pub async fn due_deliveries(&self, now: Millis, limit: u32) -> Result<Vec<Delivery>> {
        on_backend!(self, b => b.due_deliveries(now, limit).await)
    }

    /// When the next pending delivery is due, if any is pending.
    pub async fn next_delivery_time(&self) -> Result<Option<Millis>> {
        on_backend!(self, b => b.next_delivery_time().await)
    }

    /// Records an attempt's outcome (replaces the delivery with this id).
    pub async fn update_delivery(&self, delivery: &Delivery) -> Result<()> {
        on_backend!(self, b => b.update_delivery(delivery).await)
    }

    pub async fn list_deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>> {
        on_backend!(self, b => b.list_deliveries(filter).await)
    }

    // Retention.

    /// Deletes finished deployments created before `deployments_before`
    /// (but never a group's last successful or last attempted one), the
    /// events and finished deliveries of deployments that are gone, and
    /// audit entries older than `audit_before`.
    pub async fn prune(&self, deployments_before: Millis, audit_before: Millis) -> Result<Pruned> {
        on_backend!(self, b => b.prune(deployments_before, audit_before).await)
    }

    // The audit log.

    /// Appends an entry; returns its number.
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<u64> {
        on_backend!(self, b => b.append_audit(entry).await)
    }

    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<StoredAudit>> {
        on_backend!(self, b => b.list_audit(filter).await)
    }

    // Alarms.

    /// Creates a scaling group (AlreadyExists if the name is taken).
    pub async fn create_scaling_group(&self, g: &ferry_core::scaling::ScalingGroup) -> Result<()> {
        on_backend!(self, b => b.create_scaling_group(g).await)
    }

    pub async fn get_scaling_group(&self, name: &str) -> Result<ferry_core::scaling::ScalingGroup> {
        on_backend!(self, b => b.get_scaling_group(name).await)
    }

    pub async fn list_scaling_groups(&self) -> Result<Vec<ferry_core::scaling::ScalingGroup>> {
        on_backend!(self, b => b.list_scaling_groups().await)
    }

    /// Writes a scaling group (or deletes it) with the events of its change,
    /// in one transaction; returns the events' numbers (NotFound if it is gone).
    pub async fn save_scaling_group(
        &self,
        g: &ferry_core::scaling::ScalingGroup,
        delete: bool,
        events: &[NewEvent],
    ) -> Result<Vec<u64>> {
        on_backend!(self, b => b.save_scaling_group(g, delete, events).await)
    }

    /// Creates or replaces the alarm with this name.
    pub async fn put_alarm(&self, alarm: &Alarm) -> Result<()> {
        on_backend!(self, b => b.put_alarm(alarm).await)
    }

    pub async fn get_alarm(&self, name: &str) -> Result<Alarm> {
        on_backend!(self, b => b.get_alarm(name).await)
    }

    /// By name.
    pub async fn list_alarms(&self) -> Result<Vec<Alarm>> {
        on_backend!(self, b => b.list_alarms().await)
    }

    pub async fn delete_alarm(&self, name: &str) -> Result<()> {
        on_backend!(self, b => b.delete_alarm(name).await)
    }

    // Ferry secrets.

    /// The associated data a ferry secret is sealed with: its name, in a
    /// namespace of its own (an access key's secret cannot be moved here).
    fn named_secret_context(name: &str) -> String {
        format!("ferry secret {name}")
    }

    /// Creates or replaces the secret `info.name` with `value`, sealed with
    /// the store's secrets key; a replaced secret keeps its creation time
    /// (the returned info says it). Without a secrets key nothing is
    /// written: such secrets are never kept in plain text.
    pub async fn put_secret(&self, info: &SecretInfo, value: &str) -> Result<SecretInfo> {
        let key = self.secrets.as_ref().ok_or_else(|| {
            StoreError::Backend("this store has no secrets key: ferry secrets are only ever stored sealed".into())
        })?;
        let sealed = key.seal(value, &Self::named_secret_context(&info.name))?;
        on_backend!(self, b => b.put_secret(info, &sealed).await)
    }

    /// The plain value of a secret ([`StoreError::NotFound`] if there is none).
    pub async fn get_secret(&self, name: &str) -> Result<String> {
        let sealed = on_backend!(self, b => b.get_secret(name).await)?;
        let key = self
            .secrets
            .as_ref()
            .ok_or_else(|| StoreError::Backend(format!("secret {name} is sealed and no secrets key was given")))?;
        key.open(&sealed, &Self::named_secret_context(name))
    }

    /// Every secret's name and times, by name (never a value).
    pub async fn list_secrets(&self) -> Result<Vec<SecretInfo>> {
        on_backend!(self, b => b.list_secrets().await)
    }

    pub async fn delete_secret(&self, name: &str) -> Result<()> {
        on_backend!(self, b => b.delete_secret(name).await)
    }

    // Settings.

    pub async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        on_backend!(self, b => b.get_setting(key).await)
    }

    /// Inserts or replaces.
    pub async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        on_backend!(self, b => b.put_setting(key, value).await)
    }

    // Agent liveness.

    /// Records, in one transaction, that the server was up at `up_until`
    /// and the given agents' liveness (others keep their last record).
    pub async fn save_liveness(&self, up_until: Millis, agents: &[AgentLiveness]) -> Result<()> {
        on_backend!(self, b => b.save_liveness(up_until, agents).await)
    }

    /// The last [`Store::save_liveness`]: when the server was last known up
    /// (`None` if never recorded) and every agent's record.
    pub async fn liveness(&self) -> Result<(Option<Millis>, Vec<AgentLiveness>)> {
        on_backend!(self, b => b.liveness().await)
    }
}
