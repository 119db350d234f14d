//! The SQLite backend: every SQL statement the store runs on SQLite.
//!
//! Reads go straight to the pool. Writes of one statement run in
//! autocommit (SQLite takes the write lock when such a statement starts);
//! writes of several statements run in `BEGIN IMMEDIATE` transactions, so
//! a transaction that started reading never has to upgrade to a writer (the
//! SQLITE_BUSY that `busy_timeout` cannot wait out).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use ferry_core::Millis;
use ferry_core::build::{Build, BuildProject, BuildReport};
use ferry_core::config::{DeploymentConfig, builtin_config};
use ferry_core::deployment::{Deployment, DeploymentStatus};
use ferry_core::notices::Notice;
use ferry_core::resources::{
    AccessKey, Alarm, Application, AuditEntry, Delivery, DeploymentGroup, Instance, Revision, TargetGroup,
};
use ferry_core::scaling::ScalingGroup;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, SqlSafeStr, Sqlite, Transaction};

use crate::doc::{Document, Row, decode, decode_row, decode_rows, encode};
use crate::error::{Result, StoreError};
use crate::{
    AgentLiveness, AuditFilter, Changes, DeliveryFilter, DeploymentFilter, NewEvent, Pruned, SecretInfo, ServiceChange,
    ServiceWrite, StoredAudit, StoredEvent,
};
use crate::{PipelineRunsChange, StoredPipeline, StoredPipelineExecution, StoredTaskDefinition};

/// How long a connection waits for another one's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite has one writer at a time; a few connections let reads proceed
/// beside it (WAL) without piling up waiters.
const MAX_CONNECTIONS: u32 = 4;

/// The embedded migrations of `migrations/sqlite`, in order. (Not
/// `sqlx::migrate!`: that macro needs sqlx's `macros` feature and a second
/// build of SQLite for the proc-macro; a unit test keeps this list and the
/// directory in step instead.)
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/sqlite/0001_init.sql")),
    (2, "target groups", include_str!("../migrations/sqlite/0002_target_groups.sql")),
    (3, "events", include_str!("../migrations/sqlite/0003_events.sql")),
    (4, "audit", include_str!("../migrations/sqlite/0004_audit.sql")),
    (5, "agent liveness", include_str!("../migrations/sqlite/0005_agent_liveness.sql")),
    (6, "builds", include_str!("../migrations/sqlite/0006_builds.sql")),
    (7, "build logs", include_str!("../migrations/sqlite/0007_build_logs.sql")),
    (8, "secrets", include_str!("../migrations/sqlite/0008_secrets.sql")),
    (9, "pipelines", include_str!("../migrations/sqlite/0009_pipelines.sql")),
    (10, "pipeline runs", include_str!("../migrations/sqlite/0010_pipeline_runs.sql")),
    (11, "task definitions", include_str!("../migrations/sqlite/0011_task_definitions.sql")),
    (12, "services", include_str!("../migrations/sqlite/0012_services.sql")),
    (13, "scaling groups", include_str!("../migrations/sqlite/0013_scaling_groups.sql")),
];

/// The settings key of the time the server was last known up.
const UP_UNTIL_SETTING: &str = "liveness_up_until";

fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(version, description.into(), MigrationType::Simple, sql.into_sql_str(), false)
            })
            .collect(),
    )
}

/// The statuses of deployments that are not over yet.
const OPEN_STATUSES: [DeploymentStatus; 5] = [
    DeploymentStatus::Created,
    DeploymentStatus::Queued,
    DeploymentStatus::InProgress,
    DeploymentStatus::Baking,
    DeploymentStatus::Ready,
];

/// Millisecond timestamps as SQLite integers (clamped: the column only
/// orders and filters; the document keeps the exact value).
fn int(ms: Millis) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn err(what: impl FnOnce() -> String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| StoreError::from_sqlx(e, what)
}

/// The `status` column: the build status's stored name.
fn build_status(build: &Build) -> String {
    serde_json::to_value(build.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn found<T>(row: Option<T>) -> Result<T> {
    row.ok_or(StoreError::NotFound)
}

fn affected(rows: u64) -> Result<()> {
    if rows == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub(crate) async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit returns only once the WAL is on disk, so an
            // acknowledged transition survives power loss too, not just a
            // crash of the process (which NORMAL already survives).
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // Overwritten and deleted content is zeroed, so a secret once
            // written in plain text does not linger in free pages.
            .pragma("secure_delete", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Backend(format!("opening {}: {e}", path.display())))?;
        Self::migrated(pool).await
    }

    pub(crate) async fn open_memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // An in-memory database lives and dies with its one connection:
        // the pool must hold exactly one and never retire it.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> Result<Self> {
        migrator().run(&pool).await?;
        Ok(Self { pool })
    }

    /// Checkpoints the write-ahead log into the database and truncates it,
    /// so that no earlier version of a page survives in the log.
    pub(crate) async fn truncate_log(&self) -> Result<()> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) async fn schema_version(&self) -> Result<i64> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success").fetch_one(&self.pool).await?;
        Ok(version.unwrap_or(0))
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    // Applications.

    pub(crate) async fn create_application(&self, app: &Application) -> Result<()> {
        sqlx::query(
            "INSERT INTO applications (id, name, create_time, schema_version, doc) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(app.id.as_str())
        .bind(app.name.as_str())
        .bind(int(app.create_time))
        .bind(Application::VERSION)
        .bind(encode(app)?)
        .execute(&self.pool)
        .await
        .map_err(err(|| format!("application {}", app.name)))?;
        Ok(())
    }

    pub(crate) async fn get_application(&self, name: &str) -> Result<Application> {
        let row = sqlx::query_as("SELECT schema_version, doc FROM applications WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        decode_row(found(row)?)
    }

    pub(crate) async fn list_applications(&self) -> Result<Vec<Application>> {
        let rows =
            sqlx::query_as("SELECT schema_version, doc FROM applications ORDER BY name").fetch_all(&self.pool).await?;
        decode_rows(rows)
    }

    pub(crate) async fn update_application(&self, app: &Application) -> Result<()> {
        let done = sqlx::query("UPDATE applications SET schema_version = $2, doc = $3 WHERE id = $1 AND name = $4")
            .bind(app.id.as_str())
            .bind(Application::VERSION)
            .bind(encode(app)?)
            .bind(app.name.as_str())
            .execute(&self.pool)
            .await?;
        affected(done.rows_affected())
    }

    pub(crate) async fn rename_application(&self, old: &str, new: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let row: Option<Row> = sqlx::query_as("SELECT schema_version, doc FROM applications WHERE name = $1")
            .bind(old)
            .fetch_optional(&mut *tx)
            .await?;
        let mut app: Application = decode_row(found(row)?)?;
        if old == new {
            return Ok(());
        }
        app.name = new.to_owned();
        // The foreign keys carry the new name into the children's columns.
        sqlx::query("UPDATE applications SET name = $2, schema_version = $3, doc = $4 WHERE name = $1")
            .bind(old)
            .bind(new)
            .bind(Application::VERSION)
            .bind(encode(&app)?)
            .execute(&mut *tx)
            .await
            .map_err(err(|| format!("application {new}")))?;
        // Their documents are rewritten here.
        let groups: Vec<Row> =
            sqlx::query_as("SELECT schema_version, doc FROM deployment_groups WHERE application_name = $1")
                .bind(new)
                .fetch_all(&mut *tx)
                .await?;
        for row in groups {
            let mut group: DeploymentGroup = decode_row(row)?;
            group.application_name = new.to_owned();
            write_group(&mut tx, &group).await?;
        }
        let revisions: Vec<Row> =
            sqlx::query_as("SELECT schema_version, doc FROM revisions WHERE application_name = $1")
                .bind(new)
                .fetch_all(&mut *tx)
                .await?;
        for row in revisions {
            let mut revision: Revision = decode_row(row)?;
            revision.application_name = new.to_owned();
            put_revision(&mut tx, &revision).await?;
        }
        let deployments: Vec<Row> =
            sqlx::query_as("SELECT schema_version, doc FROM deployments WHERE application_name = $1")
                .bind(new)
                .fetch_all(&mut *tx)
                .await?;
        for row in deployments {
            let mut deployment: Deployment = decode_row(row)?;
            deployment.application_name = new.to_owned();
            write_deployment(&mut tx, &deployment).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn delete_application(&self, name: &str) -> Result<()> {
        // The foreign keys would cascade; spelling it out keeps the intent
        // visible and the same on every backend.
        let mut tx = self.begin_write().await?;
        for sql in [
            "DELETE FROM deployments WHERE application_name = $1",
            "DELETE FROM revisions WHERE application_name = $1",
            "DELETE FROM deployment_groups WHERE application_name = $1",
        ] {
            sqlx::query(sql).bind(name).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM applications WHERE name = $1").bind(name).execute(&mut *tx).await?;
        affected(done.rows_affected())?;
        tx.commit().await?;
        Ok(())
    }

    // Deployment groups.

    pub(crate) async fn create_group(&self, group: &DeploymentGroup) -> Result<()> {
        sqlx::query(
            "INSERT INTO deployment_groups (id, application_name, name, schema_version, doc) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(group.id.as_str())
        .bind(group.application_name.as_str())
        .bind(group.name.as_str())
        .bind(DeploymentGroup::VERSION)
        .bind(encode(group)?)
        .execute(&self.pool)
        .await
        .map_err(err(|| group_what(group)))?;
        Ok(())
    }

    pub(crate) async fn get_group(&self, application: &str, name: &str) -> Result<DeploymentGroup> {
        let row = sqlx::query_as(
            "SELECT schema_version, doc FROM deployment_groups WHERE application_name = $1 AND name = $2",
        )
        .bind(application)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        decode_row(found(row)?)
    }

    pub(crate) async fn get_group_by_id(&self, id: &str) -> Result<DeploymentGroup> {
        let row = sqlx::query_as("SELECT schema_version, doc FROM deployment_groups WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        decode_row(found(row)?)
    }

    pub(crate) async fn list_groups(&self, application: &str) -> Result<Vec<DeploymentGroup>> {
        let rows = sqlx::query_as(
            "SELECT schema_version, doc FROM deployment_groups WHERE application_name = $1 ORDER BY name",
        )
        .bind(application)
        .fetch_all(&self.pool)
        .await?;
        decode_rows(rows)
    }

    pub(crate) async fn update_group(&self, group: &DeploymentGroup) -> Result<()> {
        let mut tx = self.begin_write().await?;
        update_group(&mut tx, group).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn delete_group(&self, application: &str, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM deployment_groups WHERE application_name = $1 AND name = $2")
            .bind(application)
            .bind(name)
            .execute(&self.pool)
            .await?;
        affected(done.rows_affected())
    }

    // Deployment configs.

    pub(crate) async fn create_config(&self, config: &DeploymentConfig) -> Result<()> {
        let what = || format!("deployment config {}", config.name);
        if builtin_config(&config.name).is_some() {
            return Err(StoreError::AlreadyExists { what: what() });
        }
        sqlx::query("INSERT INTO deployment_configs (id, name, schema_version, doc) VALUES ($1, $2, $3, $4)")
            .bind(config.id.as_str())
            .bind(config.name.as_str())
            .bind(DeploymentConfig::VERSION)
            .bind(encode(config)?)
            .execute(&self.pool)
            .await
            .map_err(err(what))?;
        Ok(())
    }

    pub(crate) async fn get_config(&self, name: &str) -> Result<DeploymentConfig> {
        let row = sqlx::query_as("SELECT schema_version, doc FROM deployment_configs WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        decode_row(found(row)?)
    }

    pub(crate) async fn list_configs(&self) -> Result<Vec<DeploymentConfig>> {
        let rows = sqlx::query_as("SELECT schema_version, doc FROM deployment_configs ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        decode_rows(rows)
    }

    pub(crate) async fn delete_config(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM deployment_configs WHERE name = $1").bind(name).execute(&self.pool).await?;
        affected(done.rows_affected())
    }

    // Target groups.

    pub(crate) async fn create_target_group(&self, tg: &TargetGroup) -> Result<()> {
        sqlx::query("INSERT INTO target_groups (id, name, schema_version, doc) VALUES ($1, $2, $3, $4)")
            .bind(tg.id.as_str())
            .bind(tg.name.as_str())
            .bind(TargetGroup::VERSION)
            .bind(encode(tg)?)
            .execute(&self.pool)
            .await
            .map_err(err(|| format!("target group {}", tg.name)))?;
        Ok(())
    }

    pub(crate) async fn get_target_group(&self, name: &str) -> Result<TargetGroup> {
        let row = sqlx::query_as("SELECT schema_version, doc FROM target_groups WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        decode_row(found(row)?)
    }

    pub(crate) async fn list_target_groups(&self) -> Result<Vec<TargetGroup>> {
        let rows =
            sqlx::query_as("SELECT schema_version, doc FROM target_groups ORDER BY name").fetch_all(&self.pool).await?;
        decode_rows(rows)
    }

    pub(crate) async fn update_target_group(&self, tg: &TargetGroup) -> Result<()> {
        let done = sqlx::query("UPDATE target_groups SET schema_version = $3, doc = $4 WHERE id = $1 AND name = $2")
            .bind(tg.id.as_str())
            .bind(tg.name.as_str())
            .bind(TargetGroup::VERSION)
            .bind(encode(tg)?)
            .execute(&self.pool)
            .await?;
        affected(done.rows_affected())
    }

    pub(crate) async fn delete_target_group(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM target_groups WHERE name = $1").bind(name).execute(&self.pool).await?;
        affected(done.rows_affected())
    }

    // Instances.

    pub(crate) async fn upsert_instance(&self, instance: &Instance) -> Result<()> {
        sqlx::query(
            "INSERT INTO instances (name, register_time, deregister_time, schema_version, doc) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET register_time = excluded.register_time, \
             deregister_time = excluded.deregister_time, schema_version = excluded.schema_version, doc = excluded.doc",
        )
        .bind(instance.name.as_str())
        .bind(int(instance.register_time))
        .bind(instance.deregister_time.map(int))
        .bind(Instance::VERSION)
        .bind(encode(instance)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn get_instance(&self, name: &str) -> Result<Instance> {
        let row = sqlx::query_as("SELECT schema_version, doc FROM instances WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        decode_row(found(row)?)
    }

    pub(crate) async fn list_instances(&self, include_deregistered: bool) -> Result<Vec<Instance>> {
        let rows = sqlx::query_as(
            "SELECT schema_version, doc FROM instances WHERE $1 OR deregister_time IS NULL ORDER BY name",
        )
        .bind(include_deregistered)
        .fetch_all(&self.pool)
        .await?;
        decode_rows(rows)
    }

    pub(crate) async fn delete_instance(&self, name: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM instances WHERE name = $1").bind(name).execute(&mut *tx).await?;
        affected(done.rows_affected())?;
        sqlx::query("DELETE FROM agent_liveness WHERE instance = $1").bind(name).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    // Revisions.

    pub(crate) async fn put_revision(&self, revision: &Revision) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        put_revision(&mut conn, revision).await
    }

    pub(crate) async fn get_revision(&self, id: &str) -> Result<Revision> {
        let row = sqlx::query_as("SELECT schema_version, doc FROM revisions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        decode_row(found(row)?)
    }

    pub(crate) async fn list_revisions(&self, application: &str) -> Result<Vec<Revision>> {
        let rows = sqlx::query_as(
            "SELECT schema_version, doc FROM revisions WHERE application_name = $1 \
             ORDER BY register_time DESC, seq DESC",
        )
        .bind(application)
        .fetch_all(&self.pool)
        .await?;
        decode_rows(rows)
    }

    pub(crate) async fn latest_revision(&self, application: &str) -> Result<Option<Revision>> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT schema_version, doc FROM revisions WHERE application_name = $1 \
             ORDER BY register_time DESC, seq DESC LIMIT 1",
        )
        .bind(application)
        .fetch_optional(&self.pool)
        .await?;
        row.map(decode_row).transpose()
    }

    // Access keys.

    pub(crate) async fn put_access_key(&self, key: &AccessKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO access_keys (id, instance, create_time, schema_version, doc) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET instance = excluded.instance, create_time = excluded.create_time, \
             schema_version = excluded.schema_version, doc = excluded.doc",
        )
        .bind(key.id.as_str())
        .bind(key.instance.as_deref())
        .bind(int(key.create_time))
        .bind(AccessKey::VERSION)
        .bind(encode(key)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn get_access_key(&self, id: &str) -> Result<AccessKey> {
        let row = sqlx::query_as("SELECT schema_version, doc FROM access_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        decode_row(found(row)?)
    }

    pub(crate) async fn list_access_keys(&self) -> Result<Vec<AccessKey>> {
        let rows = sqlx::query_as("SELECT schema_version, doc FROM access_keys ORDER BY create_time, id")
            .fetch_all(&self.pool)
            .await?;
        decode_rows(rows)
    }

    pub(crate) async fn delete_access_key(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM access_keys WHERE id = $1").bind(id).execute(&self.pool).await?;
        affected(done.rows_affected())
    }

    // Deployments.

    pub(crate) async fn insert_deployment(&self, deployment: &Deployment) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_deployment(&mut conn, deployment).await
    }

    pub(crate) async fn get_deployment(&self, id: &str) -> Result<Deployment> {
        let row = sqlx::query_as("SELECT schema_version, doc FROM deployments WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        decode_row(found(row)?)
    }

    pub(crate) async fn list_deployments(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>> {
        let rows = filtered("SELECT schema_version, doc FROM deployments", filter)
            .build_query_as::<Row>()
            .fetch_all(&self.pool)
            .await?;
        decode_rows(rows)
    }

    pub(crate) async fn list_deployment_ids(&self, filter: &DeploymentFilter) -> Result<Vec<String>> {
        Ok(filtered("SELECT id FROM deployments", filter).build_query_scalar().fetch_all(&self.pool).await?)
    }

    pub(crate) async fn active_and_queued_deployments(&self) -> Result<Vec<Deployment>> {
        let mut query = QueryBuilder::<Sqlite>::new("SELECT schema_version, doc FROM deployments WHERE finalized = 0");
        query.push(" OR status IN (");
        let mut list = query.separated(", ");
        for status in OPEN_STATUSES {
            list.push_bind(status.as_str());
        }
        query.push(") ORDER BY create_time, seq");
        let rows = query.build_query_as::<Row>().fetch_all(&self.pool).await?;
        decode_rows(rows)
    }

    pub(crate) async fn update_deployment(&self, deployment: &Deployment) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        write_deployment(&mut conn, deployment).await
    }

    pub(crate) async fn commit(&self, changes: &Changes) -> Result<Option<u64>> {
        let mut tx = self.begin_write().await?;
        for deployment in &changes.update_deployments {
            write_deployment(&mut tx, deployment).await?;
        }
        for deployment in &changes.insert_deployments {
            insert_deployment(&mut tx, deployment).await?;
        }
        for group in &changes.update_groups {
            update_group(&mut tx, group).await?;
        }
        for revision in &changes.put_revisions {
            put_revision(&mut tx, revision).await?;
        }
        for build in &changes.update_builds {
            let done = sqlx::query("UPDATE builds SET status = $2, schema_version = $3, doc = $4 WHERE id = $1")
                .bind(build.id.as_str())
                .bind(build_status(build))
                .bind(Build::VERSION)
                .bind(encode(build)?)
                .execute(&mut *tx)
                .await?;
            affected(done.rows_affected())?;
        }
        for runs in &changes.pipeline_runs {
            put_pipeline_runs(&mut tx, runs).await?;
        }
        let mut last_seq = None;
        for event in &changes.events {
            last_seq = Some(insert_event(&mut tx, event).await?);
        }
        tx.commit().await?;
        Ok(last_seq)
    }

    pub(crate) async fn count_deployments_by_status(&self) -> Result<Vec<(DeploymentStatus, u64)>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM deployments GROUP BY status").fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(status, n)| DeploymentStatus::from_name(&status).map(|s| (s, n.max(0) as u64)))
            .collect())
    }

    // Events and deliveries.

    pub(crate) async fn events_after(
        &self,
        after: u64,
        deployment: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        let mut query = QueryBuilder::<Sqlite>::new("SELECT seq, schema_version, doc FROM events WHERE seq > ");
        query.push_bind(int(after));
        if let Some(d) = deployment {
            query.push(" AND deployment_id = ").push_bind(d.to_string());
        }
        query.push(" ORDER BY seq LIMIT ").push_bind(i64::from(limit));
        let rows: Vec<(i64, i64, String)> = query.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|(seq, version, doc)| Ok(StoredEvent { seq: seq as u64, notice: decode::<Notice>(version, &doc)? }))
            .collect()
    }

    pub(crate) async fn last_event_seq(&self) -> Result<u64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events").fetch_one(&self.pool).await?;
        Ok(seq.unwrap_or(0) as u64)
    }

    pub(crate) async fn due_deliveries(&self, now: Millis, limit: u32) -> Result<Vec<Delivery>> {
        let rows = sqlx::query_as(
            "SELECT schema_version, doc FROM deliveries WHERE state = 'Pending' AND next_attempt <= $1 \
             ORDER BY event_seq, id LIMIT $2",
        )
        .bind(int(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        decode_rows(rows)
    }

    pub(crate) async fn next_delivery_time(&self) -> Result<Option<Millis>> {
        let next: Option<i64> = sqlx::query_scalar("SELECT MIN(next_attempt) FROM deliveries WHERE state = 'Pending'")
            .fetch_one(&self.pool)
            .await?;
        Ok(next.map(|n| n.max(0) as u64))
    }

    pub(crate) async fn update_delivery(&self, delivery: &Delivery) -> Result<()> {
        let done = sqlx::query(
            "UPDATE deliveries SET state = $2, next_attempt = $3, schema_version = $4, doc = $5 WHERE id = $1",
        )
        .bind(delivery.id.as_str())
        .bind(delivery.state.as_str())
        .bind(int(delivery.next_attempt))
        .bind(Delivery::VERSION)
        .bind(encode(delivery)?)
        .execute(&self.pool)
        .await?;
        affected(done.rows_affected())
    }

    pub(crate) async fn list_deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>> {
        let mut query = QueryBuilder::<Sqlite>::new("SELECT schema_version, doc FROM deliveries WHERE TRUE");
        if let Some(d) = &filter.deployment_id {
            query.push(" AND deployment_id = ").push_bind(d.clone());
        }
        if let Some(state) = filter.state {
            query.push(" AND state = ").push_bind(state.as_str());
        }
        query.push(" ORDER BY event_seq DESC, id LIMIT ").push_bind(i64::from(filter.limit.unwrap_or(1000)));
        let rows: Vec<Row> = query.build_query_as().fetch_all(&self.pool).await?;
        let mut out: Vec<Delivery> = decode_rows(rows)?;
        out.reverse();
        Ok(out)
    }

    // Retention.

    pub(crate) async fn prune(&self, deployments_before: Millis, audit_before: Millis) -> Result<Pruned> {
        let mut tx = self.begin_write().await?;
        // A group's last successful and last attempted deployments stay.
        let deployments = sqlx::query(
            "DELETE FROM deployments WHERE finalized = 1 AND create_time < $1 AND id NOT IN ( \
               SELECT json_extract(doc, '$.last_successful_deployment_id') FROM deployment_groups \
                 WHERE json_extract(doc, '$.last_successful_deployment_id') IS NOT NULL \
               UNION SELECT json_extract(doc, '$.last_attempted_deployment_id') FROM deployment_groups \
                 WHERE json_extract(doc, '$.last_attempted_deployment_id') IS NOT NULL)",
        )
        .bind(int(deployments_before))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let events =
            sqlx::query("DELETE FROM events WHERE time < $1 AND deployment_id NOT IN (SELECT id FROM deployments)")
                .bind(int(deployments_before))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let deliveries = sqlx::query(
            "DELETE FROM deliveries WHERE state != 'Pending' AND deployment_id NOT IN (SELECT id FROM deployments)",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Pipeline executions as old as pruned deployments, unless their
        // pipeline's execution document still holds them (running, retryable).
        let pipeline_executions = sqlx::query(
            "DELETE FROM pipeline_executions WHERE start_time < $1 AND NOT EXISTS ( \
               SELECT 1 FROM pipeline_runs r, json_each(r.doc, '$.executions') e \
                 WHERE r.pipeline = pipeline_executions.pipeline \
                   AND json_extract(e.value, '$.id') = pipeline_executions.id)",
        )
        .bind(int(deployments_before))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let audit = sqlx::query("DELETE FROM audit WHERE time < $1")
            .bind(int(audit_before))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(Pruned { deployments, events, deliveries, audit, pipeline_executions })
    }

    // The audit log.

    pub(crate) async fn append_audit(&self, entry: &AuditEntry) -> Result<u64> {
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO audit (time, key_id, refused, schema_version, doc) VALUES ($1, $2, $3, $4, $5) RETURNING seq",
        )
        .bind(int(entry.time))
        .bind(entry.key_id.as_deref())
        .bind(i64::from(entry.refused()))
        .bind(AuditEntry::VERSION)
        .bind(encode(entry)?)
        .fetch_one(&self.pool)
        .await?;
        Ok(seq as u64)
    }

    pub(crate) async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<StoredAudit>> {
        let mut query = QueryBuilder::<Sqlite>::new("SELECT seq, schema_version, doc FROM audit WHERE TRUE");
        if let Some(key) = &filter.key_id {
            query.push(" AND key_id = ").push_bind(key.clone());
        }
        if let Some(since) = filter.since {
            query.push(" AND time >= ").push_bind(int(since));
        }
        if let Some(until) = filter.until {
            query.push(" AND time <= ").push_bind(int(until));
        }
        if filter.refused_only {
            query.push(" AND refused = 1");
        }
        query.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(filter.limit.unwrap_or(1000)));
        let rows: Vec<(i64, i64, String)> = query.build_query_as().fetch_all(&self.pool).await?;
        let mut out = rows
            .into_iter()
            .map(|(seq, version, doc)| Ok(StoredAudit { seq: seq as u64, entry: decode::<AuditEntry>(version, &doc)? }))
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    // Alarms.

    pub(crate) async fn put_alarm(&self, alarm: &Alarm) -> Result<()> {
        sqlx::query(
            "INSERT INTO alarms (name, schema_version, doc) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET schema_version = excluded.schema_version, doc = excluded.doc",
        )
        .bind(alarm.name.as_str())
        .bind(Alarm::VERSION)
        .bind(encode(alarm)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn get_alarm(&self, name: &str) -> Result<Alarm> {
        let row = sqlx::query_as("SELECT schema_version, doc FROM alarms WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        decode_row(found(row)?)
    }

    pub(crate) async fn list_alarms(&self) -> Result<Vec<Alarm>> {
        let rows = sqlx::query_as("SELECT schema_version, doc FROM alarms ORDER BY name").fetch_all(&self.pool).await?;
        decode_rows(rows)
    }

    pub(crate) async fn delete_alarm(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM alarms WHERE name = $1").bind(name).execute(&self.pool).await?;
        affected(done.rows_affected())
    }

    // Scaling groups.

    pub(crate) async fn create_scaling_group(&self, g: &ScalingGroup) -> Result<()> {
        sqlx::query("INSERT INTO scaling_groups (name, schema_version, doc) VALUES ($1, $2, $3)")
            .bind(g.name.as_str())
            .bind(ScalingGroup::VERSION)
            .bind(encode(g)?)
            .execute(&self.pool)
            .await
            .map_err(err(|| format!("scaling group {}", g.name)))?;
        Ok(())
    }

    pub(crate) async fn get_scaling_group(&self, name: &str) -> Result<ScalingGroup> {
        let row = sqlx::query_as("SELECT schema_version, doc FROM scaling_groups WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        decode_row(found(row)?)
    }

    pub(crate) async fn list_scaling_groups(&self) -> Result<Vec<ScalingGroup>> {
        let rows = sqlx::query_as("SELECT schema_version, doc FROM scaling_groups ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        decode_rows(rows)
    }

    /// Writes the group (or deletes it: `delete`) with the events its
    /// change made, in one transaction; returns the events' numbers.
    pub(crate) async fn save_scaling_group(
        &self,
        g: &ScalingGroup,
        delete: bool,
        events: &[NewEvent],
    ) -> Result<Vec<u64>> {
        let mut tx = self.pool.begin().await?;
        let done = if delete {
            sqlx::query("DELETE FROM scaling_groups WHERE name = $1").bind(g.name.as_str()).execute(&mut *tx).await?
        } else {
            sqlx::query("UPDATE scaling_groups SET schema_version = $2, doc = $3 WHERE name = $1")
                .bind(g.name.as_str())
                .bind(ScalingGroup::VERSION)
                .bind(encode(g)?)
                .execute(&mut *tx)
                .await?
        };
        affected(done.rows_affected())?;
        let mut seqs = Vec::new();
        for event in events {
            seqs.push(insert_event(&mut tx, event).await?);
        }
        tx.commit().await?;
        Ok(seqs)
    }

    // Build projects and builds.

    pub(crate) async fn create_build_project(&self, p: &BuildProject) -> Result<()> {
        sqlx::query("INSERT INTO build_projects (name, schema_version, doc) VALUES ($1, $2, $3)")
            .bind(p.name.as_str())
            .bind(BuildProject::VERSION)
            .bind(encode(p)?)
            .execute(&self.pool)
            .await
            .map_err(err(|| format!("build project {}", p.name)))?;
        Ok(())
    }

    pub(crate) async fn update_build_project(&self, p: &BuildProject) -> Result<()> {
        let done = sqlx::query("UPDATE build_projects SET schema_version = $2, doc = $3 WHERE name = $1")
            .bind(p.name.as_str())
            .bind(BuildProject::VERSION)
            .bind(encode(p)?)
            .execute(&self.pool)
            .await?;
        affected(done.rows_affected())
    }

    pub(crate) async fn get_build_project(&self, name: &str) -> Result<BuildProject> {
        let row = sqlx::query_as("SELECT schema_version, doc FROM build_projects WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        decode_row(found(row)?)
    }

    pub(crate) async fn list_build_projects(&self) -> Result<Vec<BuildProject>> {
        let rows = sqlx::query_as("SELECT schema_version, doc FROM build_projects ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        decode_rows(rows)
    }

    /// Deletes a project; its builds stay as history.
    pub(crate) async fn delete_build_project(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM build_projects WHERE name = $1").bind(name).execute(&self.pool).await?;
        affected(done.rows_affected())
    }

    /// Inserts the build `make` returns for the project's next number, in
    /// one write transaction, so concurrent starts never share a number.
    pub(crate) async fn queue_build(&self, project: &str, make: impl FnOnce(u64) -> Build) -> Result<Build> {
        let mut tx = self.begin_write().await?;
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(number) FROM builds WHERE project = $1")
            .bind(project)
            .fetch_one(&mut *tx)
            .await?;
        let build = make(last.unwrap_or(0) as u64 + 1);
        sqlx::query(
            "INSERT INTO builds (id, project, number, status, queued_time, schema_version, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(build.id.as_str())
        .bind(build.project.as_str())
        .bind(build.number as i64)
        .bind(build_status(&build))
        .bind(build.queued_time as i64)
        .bind(Build::VERSION)
        .bind(encode(&build)?)
        .execute(&mut *tx)
        .await
        .map_err(err(|| format!("build {}", build.id)))?;
        tx.commit().await?;
        Ok(build)
    }

    pub(crate) async fn update_build(&self, build: &Build) -> Result<()> {
        let done = sqlx::query("UPDATE builds SET status = $2, schema_version = $3, doc = $4 WHERE id = $1")
            .bind(build.id.as_str())
            .bind(build_status(build))
            .bind(Build::VERSION)
            .bind(encode(build)?)
            .execute(&self.pool)
            .await?;
        affected(done.rows_affected())
    }

    pub(crate) async fn get_build(&self, id: &str) -> Result<Build> {
        let row = sqlx::query_as("SELECT schema_version, doc FROM builds WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        decode_row(found(row)?)
    }

    /// A project's builds (or all), newest first, at most `limit`.
    pub(crate) async fn list_builds(&self, project: Option<&str>, limit: u32) -> Result<Vec<Build>> {
        let rows = match project {
            Some(p) => {
                sqlx::query_as(
                    "SELECT schema_version, doc FROM builds WHERE project = $1 ORDER BY number DESC LIMIT $2",
                )
                .bind(p)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as("SELECT schema_version, doc FROM builds ORDER BY queued_time DESC, id LIMIT $1")
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        decode_rows(rows)
    }

    /// Builds waiting for or running on a build host, oldest first.
    pub(crate) async fn unfinished_builds(&self) -> Result<Vec<Build>> {
        let rows = sqlx::query_as(
            "SELECT schema_version, doc FROM builds WHERE status IN ('QUEUED', 'IN_PROGRESS') ORDER BY queued_time, id",
        )
        .fetch_all(&self.pool)
        .await?;
        decode_rows(rows)
    }

    /// Stores log lines `first_seq`, `first_seq + 1`, …; lines already
    /// stored (a chunk sent again) are kept as they were.
    pub(crate) async fn append_build_log(&self, build_id: &str, first_seq: u64, lines: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for (i, line) in lines.iter().enumerate() {
            sqlx::query("INSERT OR IGNORE INTO build_log (build_id, seq, line) VALUES ($1, $2, $3)")
                .bind(build_id)
                .bind((first_seq + i as u64) as i64)
                .bind(line.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn build_log(&self, build_id: &str, from_seq: u64, limit: u32) -> Result<Vec<(u64, String)>> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, line FROM build_log WHERE build_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3")
                .bind(build_id)
                .bind(from_seq as i64)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(seq, line)| (seq as u64, line)).collect())
    }

    /// The number of the next log line (0 for an empty log).
    pub(crate) async fn build_log_end(&self, build_id: &str) -> Result<u64> {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM build_log WHERE build_id = $1")
            .bind(build_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(last.map_or(0, |s| s as u64 + 1))
    }

    pub(crate) async fn put_build_reports(&self, build_id: &str, reports: &[BuildReport]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for report in reports {
            sqlx::query(
                "INSERT INTO build_reports (build_id, name, doc) VALUES ($1, $2, $3) \
                 ON CONFLICT (build_id, name) DO UPDATE SET doc = excluded.doc",
            )
            .bind(build_id)
            .bind(report.name.as_str())
            .bind(serde_json::to_string(report).map_err(|e| StoreError::Backend(e.to_string()))?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn build_reports(&self, build_id: &str) -> Result<Vec<BuildReport>> {
        let docs: Vec<String> = sqlx::query_scalar("SELECT doc FROM build_reports WHERE build_id = $1 ORDER BY name")
            .bind(build_id)
            .fetch_all(&self.pool)
            .await?;
        docs.iter()
            .map(|d| serde_json::from_str(d).map_err(|e| StoreError::Backend(format!("a stored build report: {e}"))))
            .collect()
    }

    // Ferry secrets (values arrive sealed: see `Store::put_secret`).

    /// Creates or replaces; a replaced secret keeps its creation time.
    pub(crate) async fn put_secret(&self, info: &SecretInfo, sealed: &str) -> Result<SecretInfo> {
        let (create_time,): (i64,) = sqlx::query_as(
            "INSERT INTO secrets (name, sealed, description, create_time, update_time) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, description = excluded.description, \
             update_time = excluded.update_time RETURNING create_time",
        )
        .bind(info.name.as_str())
        .bind(sealed)
        .bind(info.description.as_str())
        .bind(int(info.create_time))
        .bind(int(info.update_time))
        .fetch_one(&self.pool)
        .await?;
        Ok(SecretInfo { create_time: create_time.max(0) as Millis, ..info.clone() })
    }

    /// The sealed value.
    pub(crate) async fn get_secret(&self, name: &str) -> Result<String> {
        let row = sqlx::query_scalar("SELECT sealed FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        found(row)
    }

    pub(crate) async fn list_secrets(&self) -> Result<Vec<SecretInfo>> {
        let rows: Vec<(String, String, i64, i64)> =
            sqlx::query_as("SELECT name, description, create_time, update_time FROM secrets ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(name, description, create_time, update_time)| SecretInfo {
                name,
                description,
                create_time: create_time.max(0) as Millis,
                update_time: update_time.max(0) as Millis,
            })
            .collect())
    }

    pub(crate) async fn delete_secret(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM secrets WHERE name = $1").bind(name).execute(&self.pool).await?;
        affected(done.rows_affected())
    }

    // Pipelines.

    pub(crate) async fn create_pipeline(&self, name: &str, doc: &str, now: u64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO pipelines (name, version, create_time, update_time) VALUES ($1, 1, $2, $2)")
            .bind(name)
            .bind(now as i64)
            .execute(&mut *tx)
            .await
            .map_err(err(|| format!("pipeline {name}")))?;
        sqlx::query("INSERT INTO pipeline_versions (name, version, doc) VALUES ($1, 1, $2)")
            .bind(name)
            .bind(doc)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores `make(version)` as the pipeline's next version; returns it.
    pub(crate) async fn update_pipeline(&self, name: &str, make: impl FnOnce(u32) -> String, now: u64) -> Result<u32> {
        let mut tx = self.begin_write().await?;
        let current: Option<i64> = sqlx::query_scalar("SELECT version FROM pipelines WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let version = found(current)? as u32 + 1;
        sqlx::query("UPDATE pipelines SET version = $2, update_time = $3 WHERE name = $1")
            .bind(name)
            .bind(i64::from(version))
            .bind(now as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO pipeline_versions (name, version, doc) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(i64::from(version))
            .bind(make(version))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(version)
    }

    pub(crate) async fn get_pipeline(&self, name: &str, version: Option<u32>) -> Result<StoredPipeline> {
        let row: Option<(i64, i64, i64, String)> = sqlx::query_as(
            "SELECT v.version, p.create_time, p.update_time, v.doc FROM pipelines p \
             JOIN pipeline_versions v ON v.name = p.name AND v.version = COALESCE($2, p.version) WHERE p.name = $1",
        )
        .bind(name)
        .bind(version.map(i64::from))
        .fetch_optional(&self.pool)
        .await?;
        let (version, create_time, update_time, doc) = found(row)?;
        Ok(StoredPipeline {
            name: name.to_string(),
            version: version as u32,
            create_time: create_time as u64,
            update_time: update_time as u64,
            doc,
        })
    }

    /// Every pipeline's current version, by name.
    pub(crate) async fn list_pipelines(&self) -> Result<Vec<StoredPipeline>> {
        let rows: Vec<(String, i64, i64, i64, String)> = sqlx::query_as(
            "SELECT p.name, p.version, p.create_time, p.update_time, v.doc FROM pipelines p \
             JOIN pipeline_versions v ON v.name = p.name AND v.version = p.version ORDER BY p.name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, version, create_time, update_time, doc)| StoredPipeline {
                name,
                version: version as u32,
                create_time: create_time as u64,
                update_time: update_time as u64,
                doc,
            })
            .collect())
    }

    /// Stores `make(revision)` as the family's next revision; returns it.
    pub(crate) async fn register_task_definition(
        &self,
        family: &str,
        make: impl FnOnce(u32) -> String,
        now: u64,
    ) -> Result<u32> {
        let mut tx = self.begin_write().await?;
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(revision) FROM task_definitions WHERE family = $1")
            .bind(family)
            .fetch_one(&mut *tx)
            .await?;
        let revision = last.unwrap_or(0) as u32 + 1;
        sqlx::query(
            "INSERT INTO task_definitions (family, revision, status, register_time, doc) VALUES ($1, $2, 'ACTIVE', $3, $4)",
        )
        .bind(family)
        .bind(i64::from(revision))
        .bind(now as i64)
        .bind(make(revision))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(revision)
    }

    /// A revision of a family (`None`: its newest ACTIVE one).
    pub(crate) async fn get_task_definition(
        &self,
        family: &str,
        revision: Option<u32>,
    ) -> Result<StoredTaskDefinition> {
        let row: Option<(i64, String, i64, String)> = sqlx::query_as(
            "SELECT revision, status, register_time, doc FROM task_definitions WHERE family = $1 \
             AND (revision = $2 OR ($2 IS NULL AND status = 'ACTIVE')) ORDER BY revision DESC LIMIT 1",
        )
        .bind(family)
        .bind(revision.map(i64::from))
        .fetch_optional(&self.pool)
        .await?;
        let (revision, status, register_time, doc) = found(row)?;
        Ok(StoredTaskDefinition {
            family: family.to_string(),
            revision: revision as u32,
            status,
            register_time: register_time as u64,
            doc,
        })
    }

    /// Revisions, newest first: of one family, or the newest of each.
    pub(crate) async fn list_task_definitions(&self, family: Option<&str>) -> Result<Vec<StoredTaskDefinition>> {
        let rows: Vec<(String, i64, String, i64, String)> = match family {
            Some(f) => {
                sqlx::query_as(
                    "SELECT family, revision, status, register_time, doc FROM task_definitions WHERE family = $1 \
                 ORDER BY revision DESC",
                )
                .bind(f)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT family, revision, status, register_time, doc FROM task_definitions t WHERE revision = \
                 (SELECT MAX(revision) FROM task_definitions WHERE family = t.family) ORDER BY family",
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(family, revision, status, register_time, doc)| StoredTaskDefinition {
                family,
                revision: revision as u32,
                status,
                register_time: register_time as u64,
                doc,
            })
            .collect())
    }

    /// Marks a revision INACTIVE.
    pub(crate) async fn deregister_task_definition(&self, family: &str, revision: u32) -> Result<()> {
        let done = sqlx::query("UPDATE task_definitions SET status = 'INACTIVE' WHERE family = $1 AND revision = $2")
            .bind(family)
            .bind(i64::from(revision))
            .execute(&self.pool)
            .await?;
        affected(done.rows_affected())
    }

    /// A service's document.
    pub(crate) async fn get_service(&self, name: &str) -> Result<String> {
        let doc: Option<String> = sqlx::query_scalar("SELECT doc FROM services WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        found(doc)
    }

    /// Every service's document, by name.
    pub(crate) async fn list_services(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT doc FROM services ORDER BY name").fetch_all(&self.pool).await?)
    }

    /// Writes a service change in one transaction.
    pub(crate) async fn save_service(&self, change: &ServiceChange, now: u64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        match &change.service {
            ServiceWrite::Keep => {}
            ServiceWrite::Create { name, doc } => {
                let done = sqlx::query(
                    "INSERT INTO services (name, update_time, doc) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(name)
                .bind(now as i64)
                .bind(doc)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::AlreadyExists { what: format!("service {name}") });
                }
            }
            ServiceWrite::Put { name, doc } => {
                let done = sqlx::query("UPDATE services SET update_time = $2, doc = $3 WHERE name = $1")
                    .bind(name)
                    .bind(now as i64)
                    .bind(doc)
                    .execute(&mut *tx)
                    .await?;
                affected(done.rows_affected())?;
            }
            ServiceWrite::Delete { name } => {
                sqlx::query("DELETE FROM services WHERE name = $1").bind(name).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM service_tasks WHERE service = $1").bind(name).execute(&mut *tx).await?;
            }
        }
        for t in &change.tasks {
            sqlx::query(
                "INSERT INTO service_tasks (id, service, host, live, created_at, doc) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (id) DO UPDATE SET live = excluded.live, doc = excluded.doc",
            )
            .bind(&t.id)
            .bind(&t.service)
            .bind(&t.host)
            .bind(i64::from(t.live))
            .bind(t.created_at as i64)
            .bind(&t.doc)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Tasks' documents: of one service (live ones, then the newest
    /// `stopped` stopped ones), or (`service` None) every live task.
    pub(crate) async fn list_service_tasks(&self, service: Option<&str>, stopped: u32) -> Result<Vec<String>> {
        Ok(match service {
            Some(s) => {
                sqlx::query_scalar(
                    "SELECT doc FROM (SELECT doc, created_at FROM service_tasks WHERE service = $1 AND live = 1 \
                     UNION ALL SELECT doc, created_at FROM (SELECT doc, created_at FROM service_tasks \
                     WHERE service = $1 AND live = 0 ORDER BY created_at DESC LIMIT $2)) ORDER BY created_at",
                )
                .bind(s)
                .bind(i64::from(stopped))
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_scalar("SELECT doc FROM service_tasks WHERE live = 1 ORDER BY created_at")
                    .fetch_all(&self.pool)
                    .await?
            }
        })
    }

    /// Drops a service's stopped tasks beyond the newest `keep`.
    pub(crate) async fn prune_service_tasks(&self, service: &str, keep: u32) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM service_tasks WHERE service = $1 AND live = 0 AND id NOT IN \
             (SELECT id FROM service_tasks WHERE service = $1 AND live = 0 ORDER BY created_at DESC LIMIT $2)",
        )
        .bind(service)
        .bind(i64::from(keep))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The pipeline's execution document, if it has one.
    pub(crate) async fn get_pipeline_runs(&self, pipeline: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT doc FROM pipeline_runs WHERE pipeline = $1")
            .bind(pipeline)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The names of the pipelines with an execution document.
    pub(crate) async fn list_pipeline_runs(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT pipeline FROM pipeline_runs ORDER BY pipeline").fetch_all(&self.pool).await?)
    }

    /// A pipeline's executions, newest first, at most `limit`, started before
    /// `before` (a page's end) when given.
    pub(crate) async fn list_pipeline_executions(
        &self,
        pipeline: &str,
        before: Option<(u64, &str)>,
        limit: u32,
    ) -> Result<Vec<StoredPipelineExecution>> {
        // Row-value order: (start_time, id) below the page's end.
        let (time, id) = before.map(|(t, id)| (t as i64, id.to_string())).unwrap_or((i64::MAX, String::new()));
        let rows: Vec<(String, i64, String, String)> = sqlx::query_as(
            "SELECT id, start_time, status, doc FROM pipeline_executions WHERE pipeline = $1 \
             AND (start_time, id) < ($2, $3) \
             ORDER BY start_time DESC, id DESC LIMIT $4",
        )
        .bind(pipeline)
        .bind(time)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, start_time, status, doc)| StoredPipelineExecution {
                id,
                start_time: start_time as u64,
                status,
                doc,
            })
            .collect())
    }

    /// One execution by id, with its pipeline's name.
    pub(crate) async fn get_pipeline_execution(&self, id: &str) -> Result<(String, StoredPipelineExecution)> {
        let row: Option<(String, i64, String, String)> =
            sqlx::query_as("SELECT pipeline, start_time, status, doc FROM pipeline_executions WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        let (pipeline, start_time, status, doc) = found(row)?;
        Ok((pipeline, StoredPipelineExecution { id: id.to_string(), start_time: start_time as u64, status, doc }))
    }

    /// Deletes a pipeline, its versions and its executions.
    pub(crate) async fn delete_pipeline(&self, name: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM pipeline_runs WHERE pipeline = $1").bind(name).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM pipeline_executions WHERE pipeline = $1").bind(name).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM pipeline_versions WHERE name = $1").bind(name).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM pipelines WHERE name = $1").bind(name).execute(&mut *tx).await?;
        affected(done.rows_affected())?;
        tx.commit().await?;
        Ok(())
    }

    // Settings.

    pub(crate) async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&self.pool).await?)
    }

    pub(crate) async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl SqliteStore {
    // Agent liveness.

    pub(crate) async fn save_liveness(&self, up_until: Millis, agents: &[AgentLiveness]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(UP_UNTIL_SETTING)
        .bind(up_until.to_string())
        .execute(&mut *tx)
        .await?;
        for agent in agents {
            sqlx::query(
                "INSERT INTO agent_liveness (instance, heard, silent_since, polling, poll_ended) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (instance) DO UPDATE SET heard = excluded.heard, \
                 silent_since = excluded.silent_since, polling = excluded.polling, poll_ended = excluded.poll_ended",
            )
            .bind(agent.instance.as_str())
            .bind(int(agent.heard))
            .bind(int(agent.silent_since))
            .bind(agent.polling)
            .bind(int(agent.poll_ended))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn liveness(&self) -> Result<(Option<Millis>, Vec<AgentLiveness>)> {
        let up_until = self.get_setting(UP_UNTIL_SETTING).await?.and_then(|v| v.parse().ok());
        let rows: Vec<(String, i64, i64, bool, i64)> = sqlx::query_as(
            "SELECT instance, heard, silent_since, polling, poll_ended FROM agent_liveness ORDER BY instance",
        )
        .fetch_all(&self.pool)
        .await?;
        let millis = |v: i64| Millis::try_from(v).unwrap_or(0);
        let agents = rows
            .into_iter()
            .map(|(instance, heard, silent_since, polling, poll_ended)| AgentLiveness {
                instance,
                heard: millis(heard),
                silent_since: millis(silent_since),
                polling,
                poll_ended: millis(poll_ended),
            })
            .collect();
        Ok((up_until, agents))
    }
}

fn group_what(group: &DeploymentGroup) -> String {
    format!("deployment group {} of application {}", group.name, group.application_name)
}

/// The deployments query with `filter`'s conditions and order.
fn filtered(select: &str, filter: &DeploymentFilter) -> QueryBuilder<Sqlite> {
    let mut query = QueryBuilder::new(select);
    query.push(" WHERE TRUE");
    if let Some(application) = &filter.application {
        query.push(" AND application_name = ").push_bind(application.clone());
    }
    if let Some(group) = &filter.group {
        query.push(" AND group_name = ").push_bind(group.clone());
    }
    if !filter.statuses.is_empty() {
        query.push(" AND status IN (");
        let mut list = query.separated(", ");
        for status in &filter.statuses {
            list.push_bind(status.as_str());
        }
        query.push(")");
    }
    if let Some(after) = filter.created_after {
        query.push(" AND create_time >= ").push_bind(int(after));
    }
    if let Some(before) = filter.created_before {
        query.push(" AND create_time <= ").push_bind(int(before));
    }
    query.push(" ORDER BY create_time DESC, seq DESC");
    if let Some(limit) = filter.limit {
        query.push(" LIMIT ").push_bind(i64::from(limit));
    }
    query
}

// Writes shared by the single-call methods and `commit`: they take the
// connection (or transaction) to run on.

async fn insert_deployment(conn: &mut SqliteConnection, deployment: &Deployment) -> Result<()> {
    sqlx::query(
        "INSERT INTO deployments \
         (id, application_name, group_id, group_name, status, create_time, finalized, schema_version, doc) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(deployment.id.as_str())
    .bind(deployment.application_name.as_str())
    .bind(deployment.group_id.as_str())
    .bind(deployment.group_name.as_str())
    .bind(deployment.status.as_str())
    .bind(int(deployment.create_time))
    .bind(deployment.finalized)
    .bind(Deployment::VERSION)
    .bind(encode(deployment)?)
    .execute(&mut *conn)
    .await
    .map_err(err(|| format!("deployment {}", deployment.id)))?;
    Ok(())
}

/// Rewrites a deployment's row from its document.
async fn write_deployment(conn: &mut SqliteConnection, deployment: &Deployment) -> Result<()> {
    let done = sqlx::query(
        "UPDATE deployments SET application_name = $2, group_id = $3, group_name = $4, status = $5, \
         create_time = $6, finalized = $7, schema_version = $8, doc = $9 WHERE id = $1",
    )
    .bind(deployment.id.as_str())
    .bind(deployment.application_name.as_str())
    .bind(deployment.group_id.as_str())
    .bind(deployment.group_name.as_str())
    .bind(deployment.status.as_str())
    .bind(int(deployment.create_time))
    .bind(deployment.finalized)
    .bind(Deployment::VERSION)
    .bind(encode(deployment)?)
    .execute(&mut *conn)
    .await?;
    affected(done.rows_affected())
}

/// Rewrites a group's row from its document.
async fn write_group(conn: &mut SqliteConnection, group: &DeploymentGroup) -> Result<()> {
    let done = sqlx::query(
        "UPDATE deployment_groups SET application_name = $2, name = $3, schema_version = $4, doc = $5 WHERE id = $1",
    )
    .bind(group.id.as_str())
    .bind(group.application_name.as_str())
    .bind(group.name.as_str())
    .bind(DeploymentGroup::VERSION)
    .bind(encode(group)?)
    .execute(&mut *conn)
    .await
    .map_err(err(|| group_what(group)))?;
    affected(done.rows_affected())
}

/// Updates a group; a new name is carried into its deployments. Runs in a
/// write transaction.
async fn update_group(conn: &mut SqliteConnection, group: &DeploymentGroup) -> Result<()> {
    let old_name: Option<String> = sqlx::query_scalar("SELECT name FROM deployment_groups WHERE id = $1")
        .bind(group.id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    let old_name = found(old_name)?;
    write_group(conn, group).await?;
    if old_name != group.name {
        let rows: Vec<Row> = sqlx::query_as("SELECT schema_version, doc FROM deployments WHERE group_id = $1")
            .bind(group.id.as_str())
            .fetch_all(&mut *conn)
            .await?;
        for (version, doc) in rows {
            let mut deployment: Deployment = decode(version, &doc)?;
            deployment.group_name = group.name.clone();
            write_deployment(conn, &deployment).await?;
        }
    }
    Ok(())
}

/// Inserts or replaces a revision; refuses to move it to another application.
async fn put_revision(conn: &mut SqliteConnection, revision: &Revision) -> Result<()> {
    let done = sqlx::query(
        "INSERT INTO revisions (id, application_name, register_time, schema_version, doc) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET register_time = excluded.register_time, \
         schema_version = excluded.schema_version, doc = excluded.doc \
         WHERE revisions.application_name = excluded.application_name",
    )
    .bind(revision.id.as_str())
    .bind(revision.application_name.as_str())
    .bind(int(revision.register_time))
    .bind(Revision::VERSION)
    .bind(encode(revision)?)
    .execute(&mut *conn)
    .await
    .map_err(err(|| format!("revision {}", revision.id)))?;
    if done.rows_affected() == 0 { Err(StoreError::Conflict) } else { Ok(()) }
}

/// Stores one event and its trigger deliveries; returns its sequence number.
/// Writes a pipeline's execution document and the executions it changed.
async fn put_pipeline_runs(tx: &mut Transaction<'static, Sqlite>, runs: &PipelineRunsChange) -> Result<()> {
    sqlx::query(
        "INSERT INTO pipeline_runs (pipeline, doc) VALUES ($1, $2) ON CONFLICT (pipeline) DO UPDATE SET doc = $2",
    )
    .bind(runs.pipeline.as_str())
    .bind(runs.doc.as_str())
    .execute(&mut **tx)
    .await?;
    for e in &runs.executions {
        sqlx::query(
            "INSERT INTO pipeline_executions (id, pipeline, start_time, status, doc) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET status = $4, doc = $5",
        )
        .bind(e.id.as_str())
        .bind(runs.pipeline.as_str())
        .bind(e.start_time as i64)
        .bind(e.status.as_str())
        .bind(e.doc.as_str())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn insert_event(tx: &mut Transaction<'static, Sqlite>, event: &NewEvent) -> Result<u64> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO events (deployment_id, time, schema_version, doc) VALUES ($1, $2, $3, $4) RETURNING seq",
    )
    .bind(event.notice.deployment_id.as_str())
    .bind(int(event.notice.time))
    .bind(Notice::VERSION)
    .bind(encode(&event.notice)?)
    .fetch_one(&mut **tx)
    .await?;
    for delivery in &event.deliveries {
        let delivery = Delivery { event_seq: seq as u64, ..delivery.clone() };
        sqlx::query(
            "INSERT INTO deliveries (id, event_seq, deployment_id, state, next_attempt, schema_version, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(delivery.id.as_str())
        .bind(seq)
        .bind(delivery.deployment_id.as_str())
        .bind(delivery.state.as_str())
        .bind(int(delivery.next_attempt))
        .bind(Delivery::VERSION)
        .bind(encode(&delivery)?)
        .execute(&mut **tx)
        .await
        .map_err(err(|| format!("delivery {}", delivery.id)))?;
    }
    Ok(seq as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<String> =
            MIGRATIONS.iter().map(|(v, d, _)| format!("{v:04}_{}.sql", d.replace(' ', "_"))).collect();
        assert_eq!(files, embedded);
        for (file, (_, _, sql)) in files.iter().zip(MIGRATIONS) {
            assert_eq!(&std::fs::read_to_string(dir.join(file)).unwrap(), sql, "{file}");
        }
    }

    #[test]
    fn open_statuses_are_exactly_the_non_terminal_ones() {
        for status in OPEN_STATUSES {
            assert!(!status.is_terminal(), "{status:?}");
        }
        let terminal = [DeploymentStatus::Succeeded, DeploymentStatus::Failed, DeploymentStatus::Stopped];
        assert!(terminal.iter().all(|s| s.is_terminal()));
    }
}
