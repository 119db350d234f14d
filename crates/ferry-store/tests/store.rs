//! The store's conformance suite: one `async fn(Store)` per behaviour, run
//! by `conformance!` against every backend (SQLite in a file and in memory
//! now; PostgreSQL adds a module there). Below it, what only a file-backed
//! SQLite store can show: reopening, `kill -9`, the cost of a write.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use ferry_core::config::{ComputePlatform, DeploymentConfig, MinimumHealthyHosts, ONE_AT_A_TIME, TrafficRouting};
use ferry_core::deployment::{
    AutoRollback, Bundle, Creator, Deployment, DeploymentStatus, ErrorCode, ErrorInfo, EventDiagnostics, EventStatus,
    FileExistsBehavior, RevisionRef, RollbackEvent, RollbackInfo, StopRequest, Target, TargetStatus,
};
use ferry_core::notices::{Notice, NoticeKind};
use ferry_core::resources::{
    AccessKey, AlarmConfig, Application, Balancer, DeploymentGroup, HealthCheck, Instance, InstanceSelector,
    MemberState, OutdatedInstancesStrategy, Revision, RevisionLocation, Role, Tag, TagFilter, TagFilterType,
    TargetGroup, TargetMember, Trigger,
};
use ferry_core::resources::{Alarm, Delivery, DeliveryState};
use ferry_store::{
    AgentLiveness, Changes, DeliveryFilter, DeploymentFilter, NewEvent, PipelineRunsChange, SecretInfo, SecretsKey,
    ServiceChange, ServiceWrite, Store, StoreError, StoredPipelineExecution, TaskRow,
};

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite_file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = ferry_store::Store::open_sqlite(&dir.path().join("ferry.db")).await.unwrap();
                    super::$name(store).await;
                }
            )*
        }
        mod sqlite_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(ferry_store::Store::open_sqlite_memory().await.unwrap()).await;
                }
            )*
        }
    };
}

conformance!(
    scaling_groups_are_written_with_their_events,
    build_projects_and_numbered_builds,
    pipelines_keep_every_version,
    task_definitions_are_numbered_per_family,
    services_and_their_tasks,
    fresh_store_is_empty_and_migrated,
    applications_crud_and_uniqueness,
    groups_crud_and_uniqueness,
    group_rename_carries_into_its_deployments,
    configs_crud_and_uniqueness,
    target_groups_crud_and_uniqueness,
    instances_upsert_list_delete,
    revisions_put_list_latest,
    access_keys_put_get_list_delete,
    rename_application_cascades,
    delete_application_cascades,
    deployment_round_trip,
    deployment_filters_and_order,
    active_and_queued_deployments,
    commit_applies_every_change,
    commit_is_atomic,
    settings_get_put,
    concurrent_writers_and_readers,
    events_and_deliveries,
    alarms_put_get_list_delete,
    audit_append_and_filter,
    prune_keeps_what_groups_and_recent_history_need,
    secrets_are_sealed_at_rest_and_need_their_key,
    named_secrets_round_trip_sealed,
    agent_liveness_round_trip,
);

// Fixtures.

fn app(name: &str) -> Application {
    Application {
        id: format!("app-id-{name}"),
        name: name.into(),
        compute_platform: ComputePlatform::Server,
        create_time: 1_700_000_000_000,
        tags: vec![Tag { key: "team".into(), value: "shop".into() }],
    }
}

fn group(app: &str, name: &str) -> DeploymentGroup {
    DeploymentGroup {
        id: format!("dg-{app}-{name}"),
        application_name: app.into(),
        name: name.into(),
        selector: InstanceSelector {
            tag_filters: vec![TagFilter { key: "role".into(), value: name.into(), kind: TagFilterType::KeyAndValue }],
            tag_set: vec![],
        },
        deployment_config_name: ONE_AT_A_TIME.into(),
        auto_rollback: AutoRollback { enabled: true, events: vec![RollbackEvent::DeploymentFailure] },
        service_role_arn: None,
        last_successful_revision_id: None,
        last_successful_deployment_id: None,
        last_attempted_deployment_id: None,
        target_revision_id: None,
        create_time: 1_700_000_000_001,
        ec2_selector: InstanceSelector::default(),
        triggers: vec![Trigger {
            name: "ops".into(),
            target: "https://hooks.example/ferry".into(),
            events: vec!["DeploymentFailure".into()],
        }],
        alarms: AlarmConfig {
            enabled: true,
            ignore_poll_alarm_failure: false,
            alarms: vec!["errors".into()],
            bake_time_ms: 60_000,
            prometheus_url: Some("http://prometheus:9090".into()),
        },
        outdated_instances_strategy: OutdatedInstancesStrategy::Update,
        termination_hook_enabled: false,
        tags: vec![],
        target_groups: vec!["web-tg".into()],
        traffic_control: true,
        blue_green: None,
        ecs_service: None,
        removed_instances: vec![],
        update_new_instances: false,
        instances: vec![ferry_core::resources::GroupInstance {
            instance: "web-1".into(),
            register_time: 1,
            joined: 2,
            revision_id: Some("r1".into()),
            deployment_id: Some("d-1".into()),
            failed: false,
            joined_during: None,
            revision_at_join: Some("r0".into()),
        }],
        tracks_instances: true,
        scaling_groups: vec!["web".into()],
    }
}

fn config(name: &str) -> DeploymentConfig {
    DeploymentConfig {
        id: format!("cfg-{name}"),
        name: name.into(),
        compute_platform: ComputePlatform::Server,
        minimum_healthy_hosts: Some(MinimumHealthyHosts::FleetPercent(75)),
        traffic_routing: None,
        create_time: 1_700_000_000_002,
    }
}

fn instance(name: &str) -> Instance {
    Instance {
        name: name.into(),
        tags: vec![Tag { key: "role".into(), value: "web".into() }],
        register_time: 1_700_000_000_003,
        deregister_time: None,
        iam_user_arn: None,
        iam_session_arn: Some("arn:aws:sts::123456789012:assumed-role/r/s".into()),
        agent_key_id: Some(format!("AK-{name}")),
        agent_version: Some("0.1.0".into()),
        address: Some("10.0.0.7".into()),
    }
}

fn revision(app: &str, id: &str, register_time: u64) -> Revision {
    Revision {
        id: id.into(),
        application_name: app.into(),
        location: RevisionLocation::Blob { key: format!("sha256/{id}") },
        bundle_type: "zip".into(),
        sha256: "ab".repeat(32),
        size: 1234,
        description: format!("revision {id}"),
        register_time,
        first_used_time: None,
        last_used_time: None,
        deployment_groups: vec![],
        last_fetch: None,
    }
}

fn access_key(id: &str, create_time: u64) -> AccessKey {
    AccessKey {
        id: id.into(),
        secret: format!("secret-of-{id}"),
        role: Role::Deployer,
        instance: None,
        description: "ci".into(),
        create_time,
        disabled: false,
        scopes: vec!["shop".into(), "blog/web".into()],
    }
}

/// A deployment with every optional part filled in: two targets with
/// lifecycle events in different states.
fn deployment(id: &str, app: &str, group: &str, create_time: u64, status: DeploymentStatus) -> Deployment {
    let events = ferry_core::events::IN_PLACE[..4].to_vec();
    let mut done = Target::new("web-1", &events, create_time + 5);
    done.status = TargetStatus::Failed;
    done.attempt = 2;
    done.segment_start = Some(2);
    for (i, event) in done.events.iter_mut().enumerate() {
        event.start_time = Some(create_time + 10 + i as u64);
        event.end_time = Some(create_time + 11 + i as u64);
        event.status = if i < 3 { EventStatus::Succeeded } else { EventStatus::Failed };
    }
    done.events[3].diagnostics = Some(EventDiagnostics {
        error_code: "ScriptFailed".into(),
        script_name: "scripts/install.sh".into(),
        message: "Script at specified location: scripts/install.sh run as user root failed with exit code 1".into(),
        log_tail: "[stderr]boom\n[stderr]ünïcödé ✓".into(),
    });
    let waiting = Target::new("web-2", &events, create_time + 6);
    Deployment {
        id: id.into(),
        application_name: app.into(),
        group_name: group.into(),
        group_id: format!("dg-{app}-{group}"),
        config_name: ONE_AT_A_TIME.into(),
        minimum_healthy_hosts: MinimumHealthyHosts::MostConcurrency,
        revision: RevisionRef {
            id: "rev-2".into(),
            summary: "sha256:abab… (zip, 1.2 kB)".into(),
            bundle: Some(Bundle {
                blob_key: format!("sha256/{}", "ab".repeat(32)),
                sha256: "ab".repeat(32),
                size: 1234,
                bundle_type: "zip".into(),
                etag: Some("e1".into()),
                version: None,
            }),
        },
        previous_revision: Some(RevisionRef { id: "rev-1".into(), summary: "older".into(), bundle: None }),
        creator: Creator::User,
        description: Some("deploy \"it\"".into()),
        status,
        error: Some(ErrorInfo { code: ErrorCode::HealthConstraints, message: "too many failed".into() }),
        create_time,
        start_time: Some(create_time + 1),
        complete_time: None,
        ignore_application_stop_failures: true,
        file_exists_behavior: Some(FileExistsBehavior::Retain),
        auto_rollback: AutoRollback { enabled: true, events: vec![RollbackEvent::DeploymentStopOnRequest] },
        rollback_info: RollbackInfo { rollback_message: Some("why".into()), ..Default::default() },
        stop: Some(StopRequest {
            at: create_time + 20,
            rollback: Some(false),
            code: ErrorCode::ManualStop,
            message: "stop".into(),
        }),
        ecs: None,
        only_instances: Some(vec!["web-1".into()]),
        lifecycle_events: events,
        targets: vec![done, waiting],
        finalized: false,
        blue_green: None,
        alarms: AlarmConfig { enabled: true, alarms: vec!["errors".into()], ..Default::default() },
        bake_until: Some(create_time + 30),
        fetching: Some(ferry_core::deployment::Fetching { since: create_time }),
        triggers: vec![Trigger {
            name: "ops".into(),
            target: "http://hooks/x".into(),
            events: vec!["DeploymentFailure".into()],
        }],
    }
}

fn already_exists<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::AlreadyExists { .. })), "{result:?}");
}

fn not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
}

fn conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
}

fn ids(deployments: &[Deployment]) -> Vec<&str> {
    deployments.iter().map(|d| d.id.as_str()).collect()
}

// The suite.

async fn fresh_store_is_empty_and_migrated(store: Store) {
    assert_eq!(store.schema_version().await.unwrap(), 13);
    assert!(store.list_applications().await.unwrap().is_empty());
    assert!(store.list_configs().await.unwrap().is_empty());
    assert!(store.list_target_groups().await.unwrap().is_empty());
    assert!(store.list_instances(true).await.unwrap().is_empty());
    assert!(store.list_access_keys().await.unwrap().is_empty());
    assert!(store.list_deployments(DeploymentFilter::default()).await.unwrap().is_empty());
    assert!(store.active_and_queued_deployments().await.unwrap().is_empty());
    assert_eq!(store.latest_revision("web").await.unwrap(), None);
}

async fn applications_crud_and_uniqueness(store: Store) {
    store.create_application(&app("web")).await.unwrap();
    store.create_application(&app("api")).await.unwrap();
    assert_eq!(store.get_application("web").await.unwrap(), app("web"));
    let names: Vec<String> = store.list_applications().await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["api", "web"]);

    already_exists(store.create_application(&app("web")).await);
    let mut same_id = app("other");
    same_id.id = app("web").id;
    already_exists(store.create_application(&same_id).await);
    match store.create_application(&app("web")).await {
        Err(StoreError::AlreadyExists { what }) => assert!(what.contains("web"), "{what}"),
        other => panic!("{other:?}"),
    }

    not_found(store.get_application("nope").await);
    not_found(store.delete_application("nope").await);
    store.delete_application("api").await.unwrap();
    not_found(store.get_application("api").await);
    assert_eq!(store.list_applications().await.unwrap(), [app("web")]);
}

async fn groups_crud_and_uniqueness(store: Store) {
    conflict(store.create_group(&group("web", "prod")).await);
    store.create_application(&app("web")).await.unwrap();
    store.create_application(&app("api")).await.unwrap();
    store.create_group(&group("web", "prod")).await.unwrap();
    store.create_group(&group("web", "canary")).await.unwrap();
    store.create_group(&group("api", "prod")).await.unwrap();

    let mut dup = group("web", "prod");
    dup.id = "another-id".into();
    already_exists(store.create_group(&dup).await);

    assert_eq!(store.get_group("web", "prod").await.unwrap(), group("web", "prod"));
    assert_eq!(store.get_group_by_id("dg-api-prod").await.unwrap(), group("api", "prod"));
    not_found(store.get_group("web", "nope").await);
    not_found(store.get_group("nope", "prod").await);
    not_found(store.get_group_by_id("nope").await);
    let names: Vec<String> = store.list_groups("web").await.unwrap().into_iter().map(|g| g.name).collect();
    assert_eq!(names, ["canary", "prod"]);
    assert!(store.list_groups("nope").await.unwrap().is_empty());

    let mut updated = group("web", "prod");
    updated.deployment_config_name = "Custom.Quarter".into();
    updated.last_successful_revision_id = Some("rev-9".into());
    updated.last_successful_deployment_id = Some("d-AAAAAAAAA".into());
    store.update_group(&updated).await.unwrap();
    assert_eq!(store.get_group("web", "prod").await.unwrap(), updated);

    let mut taken = group("web", "canary");
    taken.name = "prod".into();
    already_exists(store.update_group(&taken).await);
    assert_eq!(store.get_group("web", "canary").await.unwrap(), group("web", "canary"));
    let mut missing = group("web", "ghost");
    missing.id = "ghost".into();
    not_found(store.update_group(&missing).await);

    store.delete_group("web", "canary").await.unwrap();
    not_found(store.get_group("web", "canary").await);
    not_found(store.delete_group("web", "canary").await);
    assert_eq!(store.get_group("api", "prod").await.unwrap(), group("api", "prod"));
}

async fn group_rename_carries_into_its_deployments(store: Store) {
    store.create_application(&app("web")).await.unwrap();
    store.create_group(&group("web", "prod")).await.unwrap();
    store.create_group(&group("web", "canary")).await.unwrap();
    store.insert_deployment(&deployment("d-1", "web", "prod", 100, DeploymentStatus::Succeeded)).await.unwrap();
    store.insert_deployment(&deployment("d-2", "web", "canary", 200, DeploymentStatus::Succeeded)).await.unwrap();

    let mut renamed = group("web", "prod");
    renamed.name = "production".into();
    store.update_group(&renamed).await.unwrap();
    not_found(store.get_group("web", "prod").await);
    assert_eq!(store.get_group("web", "production").await.unwrap(), renamed);
    assert_eq!(store.get_deployment("d-1").await.unwrap().group_name, "production");
    assert_eq!(store.get_deployment("d-2").await.unwrap().group_name, "canary");
    let filter = DeploymentFilter { group: Some("production".into()), ..Default::default() };
    assert_eq!(store.list_deployment_ids(filter).await.unwrap(), ["d-1"]);

    // A deleted group's deployments stay, as history.
    store.delete_group("web", "production").await.unwrap();
    assert_eq!(store.get_deployment("d-1").await.unwrap().group_name, "production");
}

async fn configs_crud_and_uniqueness(store: Store) {
    store.create_config(&config("Custom.Quarter")).await.unwrap();
    let mut linear = config("Custom.Linear");
    linear.compute_platform = ComputePlatform::Lambda;
    linear.minimum_healthy_hosts = None;
    linear.traffic_routing = Some(TrafficRouting::TimeBasedLinear { percentage: 10, interval_seconds: 180 });
    store.create_config(&linear).await.unwrap();

    assert_eq!(store.get_config("Custom.Quarter").await.unwrap(), config("Custom.Quarter"));
    assert_eq!(store.get_config("Custom.Linear").await.unwrap(), linear);
    already_exists(store.create_config(&config("Custom.Quarter")).await);
    already_exists(store.create_config(&config(ONE_AT_A_TIME)).await);
    not_found(store.get_config(ONE_AT_A_TIME).await);
    let names: Vec<String> = store.list_configs().await.unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["Custom.Linear", "Custom.Quarter"]);

    store.delete_config("Custom.Linear").await.unwrap();
    not_found(store.get_config("Custom.Linear").await);
    not_found(store.delete_config("Custom.Linear").await);
    not_found(store.delete_config(ONE_AT_A_TIME).await);
}

fn target_group(name: &str) -> TargetGroup {
    TargetGroup {
        id: format!("tg-{name}"),
        name: name.into(),
        port: 8080,
        health_check: HealthCheck {
            path: "/health".into(),
            interval_ms: 1000,
            timeout_ms: 500,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
        },
        deregistration_delay_ms: 5000,
        healthy_timeout_ms: 60_000,
        balancer: Balancer::Builtin { listen: "127.0.0.1:9000".into(), test_listen: Some("127.0.0.1:9001".into()) },
        members: vec![TargetMember {
            instance: "web-1".into(),
            address: "10.0.0.7:8080".into(),
            weight: 1,
            state: MemberState::Ready,
            test: false,
        }],
        create_time: 1_700_000_000_010,
    }
}

async fn target_groups_crud_and_uniqueness(store: Store) {
    store.create_target_group(&target_group("web")).await.unwrap();
    let mut haproxy = target_group("api");
    haproxy.balancer = Balancer::HaProxy { socket: "/run/haproxy.sock".into(), backend: "api".into() };
    store.create_target_group(&haproxy).await.unwrap();
    assert_eq!(store.get_target_group("web").await.unwrap(), target_group("web"));
    already_exists(store.create_target_group(&target_group("web")).await);
    let names: Vec<String> = store.list_target_groups().await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["api", "web"]);

    let mut draining = target_group("web");
    draining.members[0].state = MemberState::Draining;
    store.update_target_group(&draining).await.unwrap();
    assert_eq!(store.get_target_group("web").await.unwrap(), draining);
    not_found(store.update_target_group(&target_group("nope")).await);
    store.delete_target_group("web").await.unwrap();
    not_found(store.get_target_group("web").await);
    not_found(store.delete_target_group("web").await);
}

async fn instances_upsert_list_delete(store: Store) {
    store.upsert_instance(&instance("web-2")).await.unwrap();
    store.upsert_instance(&instance("web-1")).await.unwrap();
    assert_eq!(store.get_instance("web-1").await.unwrap(), instance("web-1"));

    // The same name again replaces: instance names are unique.
    let mut gone = instance("web-2");
    gone.deregister_time = Some(1_700_000_999_999);
    gone.tags.push(Tag { key: "env".into(), value: "prod".into() });
    store.upsert_instance(&gone).await.unwrap();
    assert_eq!(store.get_instance("web-2").await.unwrap(), gone);
    assert_eq!(store.list_instances(false).await.unwrap(), [instance("web-1")]);
    assert_eq!(store.list_instances(true).await.unwrap(), [instance("web-1"), gone]);

    store.delete_instance("web-1").await.unwrap();
    not_found(store.get_instance("web-1").await);
    not_found(store.delete_instance("web-1").await);
    assert!(store.list_instances(false).await.unwrap().is_empty());
}

async fn revisions_put_list_latest(store: Store) {
    conflict(store.put_revision(&revision("web", "r-0", 10)).await);
    store.create_application(&app("web")).await.unwrap();
    store.create_application(&app("api")).await.unwrap();
    store.put_revision(&revision("web", "r-1", 10)).await.unwrap();
    store.put_revision(&revision("web", "r-3", 30)).await.unwrap();
    store.put_revision(&revision("web", "r-2", 20)).await.unwrap();
    // Same millisecond as r-3, registered later: newer.
    store.put_revision(&revision("web", "r-4", 30)).await.unwrap();
    store.put_revision(&revision("api", "a-1", 99)).await.unwrap();

    let listed: Vec<String> = store.list_revisions("web").await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(listed, ["r-4", "r-3", "r-2", "r-1"]);
    assert_eq!(store.latest_revision("web").await.unwrap(), Some(revision("web", "r-4", 30)));
    assert_eq!(store.latest_revision("nope").await.unwrap(), None);

    // Put again: an upsert by id.
    let mut used = revision("web", "r-1", 10);
    used.first_used_time = Some(50);
    used.last_used_time = Some(60);
    used.location =
        RevisionLocation::S3 { bucket: "b".into(), key: "k.zip".into(), version: Some("v1".into()), etag: None };
    store.put_revision(&used).await.unwrap();
    assert_eq!(store.get_revision("r-1").await.unwrap(), used);
    assert_eq!(store.list_revisions("web").await.unwrap().len(), 4);

    // An id cannot move to another application.
    conflict(store.put_revision(&revision("api", "r-1", 10)).await);
    assert_eq!(store.get_revision("r-1").await.unwrap(), used);
    not_found(store.get_revision("nope").await);
}

async fn access_keys_put_get_list_delete(store: Store) {
    store.put_access_key(&access_key("AK2", 20)).await.unwrap();
    store.put_access_key(&access_key("AK1", 10)).await.unwrap();
    let mut agent = access_key("AK3", 30);
    agent.role = Role::Agent;
    agent.instance = Some("web-1".into());
    store.put_access_key(&agent).await.unwrap();
    assert_eq!(store.get_access_key("AK3").await.unwrap(), agent);

    // The id is the key: a second put replaces (this is how a key is disabled).
    let mut disabled = access_key("AK2", 20);
    disabled.disabled = true;
    store.put_access_key(&disabled).await.unwrap();
    assert_eq!(store.get_access_key("AK2").await.unwrap(), disabled);
    assert_eq!(store.list_access_keys().await.unwrap(), [access_key("AK1", 10), disabled, agent]);

    store.delete_access_key("AK1").await.unwrap();
    not_found(store.get_access_key("AK1").await);
    not_found(store.delete_access_key("AK1").await);
    assert_eq!(store.list_access_keys().await.unwrap().len(), 2);
}

async fn rename_application_cascades(store: Store) {
    store.create_application(&app("web")).await.unwrap();
    store.create_application(&app("api")).await.unwrap();
    store.create_group(&group("web", "prod")).await.unwrap();
    store.put_revision(&revision("web", "r-1", 10)).await.unwrap();
    store.insert_deployment(&deployment("d-1", "web", "prod", 100, DeploymentStatus::InProgress)).await.unwrap();
    store.insert_deployment(&deployment("d-2", "api", "prod", 100, DeploymentStatus::InProgress)).await.unwrap();

    already_exists(store.rename_application("web", "api").await);
    not_found(store.rename_application("nope", "other").await);
    store.rename_application("web", "web").await.unwrap();
    assert_eq!(store.get_application("web").await.unwrap(), app("web"));

    store.rename_application("web", "site").await.unwrap();
    not_found(store.get_application("web").await);
    let renamed = store.get_application("site").await.unwrap();
    assert_eq!((renamed.id.as_str(), renamed.name.as_str()), ("app-id-web", "site"));

    not_found(store.get_group("web", "prod").await);
    let g = store.get_group("site", "prod").await.unwrap();
    assert_eq!(g.application_name, "site");
    assert_eq!(store.get_group_by_id(&g.id).await.unwrap(), g);

    assert!(store.list_revisions("web").await.unwrap().is_empty());
    assert_eq!(store.list_revisions("site").await.unwrap()[0].application_name, "site");
    assert_eq!(store.get_revision("r-1").await.unwrap().application_name, "site");

    let mut expected = deployment("d-1", "web", "prod", 100, DeploymentStatus::InProgress);
    expected.application_name = "site".into();
    assert_eq!(store.get_deployment("d-1").await.unwrap(), expected);
    let by_app = |name: &str| DeploymentFilter { application: Some(name.into()), ..Default::default() };
    assert_eq!(store.list_deployment_ids(by_app("site")).await.unwrap(), ["d-1"]);
    assert!(store.list_deployment_ids(by_app("web")).await.unwrap().is_empty());
    assert_eq!(store.get_deployment("d-2").await.unwrap().application_name, "api");

    // The old name is free again.
    store.create_application(&Application { id: "new-web".into(), ..app("web") }).await.unwrap();
}

async fn delete_application_cascades(store: Store) {
    for name in ["web", "api"] {
        store.create_application(&app(name)).await.unwrap();
        store.create_group(&group(name, "prod")).await.unwrap();
        store.put_revision(&revision(name, &format!("{name}-r"), 10)).await.unwrap();
        let d = deployment(&format!("{name}-d"), name, "prod", 100, DeploymentStatus::Queued);
        store.insert_deployment(&d).await.unwrap();
    }
    store.delete_application("web").await.unwrap();

    not_found(store.get_group("web", "prod").await);
    not_found(store.get_group_by_id("dg-web-prod").await);
    not_found(store.get_revision("web-r").await);
    not_found(store.get_deployment("web-d").await);
    assert_eq!(ids(&store.active_and_queued_deployments().await.unwrap()), ["api-d"]);
    assert!(store.get_group("api", "prod").await.is_ok());
    assert!(store.get_revision("api-r").await.is_ok());

    // Nothing of the deleted application haunts a new one of the same name.
    store.create_application(&app("web")).await.unwrap();
    assert!(store.list_groups("web").await.unwrap().is_empty());
    assert!(store.list_revisions("web").await.unwrap().is_empty());
    store.create_group(&group("web", "prod")).await.unwrap();
}

async fn deployment_round_trip(store: Store) {
    let d = deployment("d-ROUNDTRIP", "web", "prod", 1_700_000_100_000, DeploymentStatus::InProgress);
    conflict(store.insert_deployment(&d).await);
    store.create_application(&app("web")).await.unwrap();
    store.insert_deployment(&d).await.unwrap();
    assert_eq!(store.get_deployment("d-ROUNDTRIP").await.unwrap(), d);
    already_exists(store.insert_deployment(&d).await);
    not_found(store.get_deployment("d-NOPE").await);

    let mut next = d.clone();
    next.status = DeploymentStatus::Failed;
    next.complete_time = Some(1_700_000_200_000);
    next.targets[1].status = TargetStatus::Skipped;
    next.targets[1].events[0].status = EventStatus::Skipped;
    next.rollback_info.rollback_deployment_id = Some("d-ROLLBACK".into());
    next.creator = Creator::Rollback;
    next.finalized = true;
    store.update_deployment(&next).await.unwrap();
    assert_eq!(store.get_deployment("d-ROUNDTRIP").await.unwrap(), next);

    let mut ghost = d.clone();
    ghost.id = "d-GHOST".into();
    not_found(store.update_deployment(&ghost).await);
    not_found(store.get_deployment("d-GHOST").await);
}

async fn deployment_filters_and_order(store: Store) {
    use DeploymentStatus::*;
    store.create_application(&app("web")).await.unwrap();
    store.create_application(&app("api")).await.unwrap();
    let all = [
        deployment("d-1", "web", "prod", 100, Succeeded),
        deployment("d-2", "web", "canary", 200, Failed),
        deployment("d-3", "api", "prod", 300, InProgress),
        deployment("d-4", "web", "prod", 400, Stopped),
        deployment("d-5", "web", "prod", 400, Queued),
        deployment("d-6", "api", "prod", 500, Succeeded),
    ];
    // Inserted out of order: the order comes from create_time (then insertion).
    for i in [2, 0, 5, 1, 3, 4] {
        store.insert_deployment(&all[i]).await.unwrap();
    }
    let list = |filter: DeploymentFilter| {
        let store = store.clone();
        async move {
            let full = store.list_deployments(filter.clone()).await.unwrap();
            let ids_only = store.list_deployment_ids(filter).await.unwrap();
            assert_eq!(ids(&full), ids_only);
            ids_only
        }
    };

    assert_eq!(list(DeploymentFilter::default()).await, ["d-6", "d-5", "d-4", "d-3", "d-2", "d-1"]);
    assert_eq!(store.list_deployments(DeploymentFilter::default()).await.unwrap()[5], all[0]);
    let web = DeploymentFilter { application: Some("web".into()), ..Default::default() };
    assert_eq!(list(web.clone()).await, ["d-5", "d-4", "d-2", "d-1"]);
    let web_prod = DeploymentFilter { group: Some("prod".into()), ..web.clone() };
    assert_eq!(list(web_prod.clone()).await, ["d-5", "d-4", "d-1"]);
    let any_prod = DeploymentFilter { group: Some("prod".into()), ..Default::default() };
    assert_eq!(list(any_prod).await, ["d-6", "d-5", "d-4", "d-3", "d-1"]);
    let done = DeploymentFilter { statuses: vec![Succeeded, Failed], ..Default::default() };
    assert_eq!(list(done).await, ["d-6", "d-2", "d-1"]);
    let web_prod_terminal = DeploymentFilter { statuses: vec![Succeeded, Stopped], ..web_prod };
    assert_eq!(list(web_prod_terminal).await, ["d-4", "d-1"]);
    let window = DeploymentFilter { created_after: Some(200), created_before: Some(400), ..Default::default() };
    assert_eq!(list(window.clone()).await, ["d-5", "d-4", "d-3", "d-2"]);
    let newest_two = DeploymentFilter { limit: Some(2), ..window };
    assert_eq!(list(newest_two).await, ["d-5", "d-4"]);
    let after = DeploymentFilter { created_after: Some(401), ..Default::default() };
    assert_eq!(list(after).await, ["d-6"]);
    let nothing = DeploymentFilter { application: Some("nope".into()), ..Default::default() };
    assert!(list(nothing).await.is_empty());
}

async fn active_and_queued_deployments(store: Store) {
    assert!(store.count_deployments_by_status().await.unwrap().is_empty());
    use DeploymentStatus::*;
    store.create_application(&app("web")).await.unwrap();
    let cases = [
        ("d-created", Created, false, true),
        ("d-queued", Queued, false, true),
        ("d-running", InProgress, false, true),
        ("d-baking", Baking, false, true),
        ("d-ready", Ready, false, true),
        ("d-failed-open", Failed, false, true),
        ("d-succeeded-open", Succeeded, false, true),
        ("d-stopped-done", Stopped, true, false),
        ("d-succeeded-done", Succeeded, true, false),
        ("d-failed-done", Failed, true, false),
    ];
    // Newest first in insertion, so "oldest first" is visible.
    for (i, (id, status, finalized, _)) in cases.iter().enumerate() {
        let mut d = deployment(id, "web", "prod", 1000 - i as u64, *status);
        d.finalized = *finalized;
        store.insert_deployment(&d).await.unwrap();
    }
    let mut counts = store.count_deployments_by_status().await.unwrap();
    counts.sort_by_key(|(s, _)| s.as_str());
    let counted: Vec<(&str, u64)> = counts.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    assert_eq!(
        counted,
        [
            ("Baking", 1),
            ("Created", 1),
            ("Failed", 2),
            ("InProgress", 1),
            ("Queued", 1),
            ("Ready", 1),
            ("Stopped", 1),
            ("Succeeded", 2)
        ]
    );
    let mut expected: Vec<&str> = cases.iter().filter(|c| c.3).map(|c| c.0).collect();
    expected.reverse();
    assert_eq!(ids(&store.active_and_queued_deployments().await.unwrap()), expected);

    // Finalizing takes a deployment out; nothing else does.
    let mut d = store.get_deployment("d-failed-open").await.unwrap();
    d.finalized = true;
    store.update_deployment(&d).await.unwrap();
    let left = store.active_and_queued_deployments().await.unwrap();
    assert!(!ids(&left).contains(&"d-failed-open"));
    assert_eq!(left.len(), expected.len() - 1);
}

async fn commit_applies_every_change(store: Store) {
    store.create_application(&app("web")).await.unwrap();
    store.create_group(&group("web", "prod")).await.unwrap();
    store.put_revision(&revision("web", "r-good", 10)).await.unwrap();
    let running = deployment("d-FAILING", "web", "prod", 100, DeploymentStatus::InProgress);
    store.insert_deployment(&running).await.unwrap();

    // The driver's shape: the failed deployment, the rollback it spawns, the
    // group's new record, the revision's use.
    let mut failed = running.clone();
    failed.status = DeploymentStatus::Failed;
    failed.finalized = true;
    failed.rollback_info.rollback_deployment_id = Some("d-ROLLBACK".into());
    let mut rollback = deployment("d-ROLLBACK", "web", "prod", 200, DeploymentStatus::Created);
    rollback.creator = Creator::Rollback;
    rollback.rollback_info.rollback_triggering_deployment_id = Some("d-FAILING".into());
    let mut g = group("web", "prod");
    g.last_attempted_deployment_id = Some("d-ROLLBACK".into());
    g.target_revision_id = Some("r-good".into());
    let mut used = revision("web", "r-good", 10);
    used.last_used_time = Some(200);

    let changes = Changes::new()
        .update_deployment(failed.clone())
        .insert_deployment(rollback.clone())
        .update_group(g.clone())
        .put_revision(used.clone())
        .put_revision(revision("web", "r-new", 20));
    store.commit(changes).await.unwrap();

    assert_eq!(store.get_deployment("d-FAILING").await.unwrap(), failed);
    assert_eq!(store.get_deployment("d-ROLLBACK").await.unwrap(), rollback);
    assert_eq!(store.get_group_by_id(&g.id).await.unwrap(), g);
    assert_eq!(store.get_revision("r-good").await.unwrap(), used);
    assert_eq!(store.latest_revision("web").await.unwrap().unwrap().id, "r-new");
    assert_eq!(ids(&store.active_and_queued_deployments().await.unwrap()), ["d-ROLLBACK"]);

    store.commit(Changes::default()).await.unwrap();
}

async fn commit_is_atomic(store: Store) {
    store.create_application(&app("web")).await.unwrap();
    store.create_group(&group("web", "prod")).await.unwrap();
    let first = deployment("d-1", "web", "prod", 100, DeploymentStatus::InProgress);
    let second = deployment("d-2", "web", "prod", 200, DeploymentStatus::Queued);
    store.insert_deployment(&first).await.unwrap();
    store.insert_deployment(&second).await.unwrap();
    let mut failed = first.clone();
    failed.status = DeploymentStatus::Failed;

    // The second change (an insert of an existing id) fails: the first
    // (an update) must not stay applied.
    let result = store
        .commit(Changes {
            update_deployments: vec![failed.clone()],
            insert_deployments: vec![second.clone()],
            ..Default::default()
        })
        .await;
    already_exists(result);
    assert_eq!(store.get_deployment("d-1").await.unwrap(), first);

    // A failure at the end undoes everything before it.
    let mut g = group("web", "prod");
    g.last_successful_deployment_id = Some("d-1".into());
    let result = store
        .commit(
            Changes::new()
                .update_deployment(failed.clone())
                .insert_deployment(deployment("d-3", "web", "prod", 300, DeploymentStatus::Created))
                .update_group(g)
                .put_revision(revision("nope", "r-orphan", 10)),
        )
        .await;
    conflict(result);
    assert_eq!(store.get_deployment("d-1").await.unwrap(), first);
    not_found(store.get_deployment("d-3").await);
    assert_eq!(store.get_group("web", "prod").await.unwrap(), group("web", "prod"));
    not_found(store.get_revision("r-orphan").await);

    // An update of a missing deployment fails the whole commit too.
    let mut ghost = first.clone();
    ghost.id = "d-GHOST".into();
    let result = store
        .commit(
            Changes::new()
                .insert_deployment(deployment("d-4", "web", "prod", 1, DeploymentStatus::Created))
                .update_deployment(ghost),
        )
        .await;
    not_found(result);
    not_found(store.get_deployment("d-4").await);

    // And the store is still usable afterwards.
    store.commit(Changes::new().update_deployment(failed.clone())).await.unwrap();
    assert_eq!(store.get_deployment("d-1").await.unwrap(), failed);
}

async fn settings_get_put(store: Store) {
    assert_eq!(store.get_setting("join_token_sha256").await.unwrap(), None);
    store.put_setting("join_token_sha256", "abc").await.unwrap();
    store.put_setting("other", "").await.unwrap();
    assert_eq!(store.get_setting("join_token_sha256").await.unwrap().as_deref(), Some("abc"));
    store.put_setting("join_token_sha256", "def").await.unwrap();
    assert_eq!(store.get_setting("join_token_sha256").await.unwrap().as_deref(), Some("def"));
    assert_eq!(store.get_setting("other").await.unwrap().as_deref(), Some(""));
}

/// Writers committing transitions while readers list: no SQLITE_BUSY, no
/// lost update.
async fn concurrent_writers_and_readers(store: Store) {
    const WRITERS: usize = 6;
    const STEPS: u64 = 15;
    store.create_application(&app("web")).await.unwrap();
    store.create_group(&group("web", "prod")).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut d = deployment(&format!("d-w{w}"), "web", "prod", w as u64, DeploymentStatus::InProgress);
            store.insert_deployment(&d).await.unwrap();
            for step in 1..=STEPS {
                d.targets[0].last_updated = step;
                let changes = Changes::new().update_deployment(d.clone()).put_revision(revision(
                    "web",
                    &format!("r-{w}-{step}"),
                    step,
                ));
                store.commit(changes).await.unwrap();
                if step % 5 == 0 {
                    let mut g = store.get_group("web", "prod").await.unwrap();
                    g.last_attempted_deployment_id = Some(d.id.clone());
                    store.update_group(&g).await.unwrap();
                }
            }
        }));
    }
    for _ in 0..2 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..STEPS {
                let all = store.list_deployments(DeploymentFilter::default()).await.unwrap();
                assert!(all.len() <= WRITERS);
                store.active_and_queued_deployments().await.unwrap();
                store.list_revisions("web").await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for w in 0..WRITERS {
        assert_eq!(store.get_deployment(&format!("d-w{w}")).await.unwrap().targets[0].last_updated, STEPS);
    }
    assert_eq!(store.list_revisions("web").await.unwrap().len(), WRITERS * STEPS as usize);
}

// SQLite files: reopening, crashes, the cost of a write.

#[tokio::test]
async fn data_survives_reopen_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let d = deployment("d-KEPT", "web", "prod", 100, DeploymentStatus::InProgress);
    {
        let store = Store::open_sqlite(&path).await.unwrap();
        store.create_application(&app("web")).await.unwrap();
        store.create_group(&group("web", "prod")).await.unwrap();
        store.insert_deployment(&d).await.unwrap();
        store.put_setting("k", "v").await.unwrap();
        // Dropped without close(): nothing depends on a clean shutdown.
    }
    for _ in 0..2 {
        let store = Store::open_sqlite(&path).await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), 13);
        assert_eq!(store.get_application("web").await.unwrap(), app("web"));
        assert_eq!(store.get_group("web", "prod").await.unwrap(), group("web", "prod"));
        assert_eq!(store.get_deployment("d-KEPT").await.unwrap(), d);
        assert_eq!(store.get_setting("k").await.unwrap().as_deref(), Some("v"));
        already_exists(store.create_application(&app("web")).await);
        store.close().await;
    }
}

#[tokio::test]
async fn open_fails_cleanly_where_no_file_can_be() {
    let dir = tempfile::tempdir().unwrap();
    let result = Store::open_sqlite(&dir.path().join("missing-dir").join("ferry.db")).await;
    assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
}

const CRASH_DB: &str = "FERRY_STORE_CRASH_DB";

/// The child of `acknowledged_commits_survive_kill_9`: commits transitions
/// as fast as it can, printing each one's number once `commit` returned.
/// Does nothing unless the parent started it.
#[tokio::test]
async fn kill9_child_writer() {
    let Some(path) = std::env::var_os(CRASH_DB) else { return };
    let store = Store::open_sqlite(Path::new(&path)).await.unwrap();
    let mut d = match store.get_deployment("d-CRASH").await {
        Ok(d) => d,
        Err(StoreError::NotFound) => {
            store.create_application(&app("web")).await.unwrap();
            let d = deployment("d-CRASH", "web", "prod", 1, DeploymentStatus::InProgress);
            store.insert_deployment(&d).await.unwrap();
            d
        }
        Err(e) => panic!("{e}"),
    };
    loop {
        let step = d.targets[0].last_updated + 1;
        d.targets[0].last_updated = step;
        let changes =
            Changes::new().update_deployment(d.clone()).put_revision(revision("web", &format!("r-{step}"), step));
        store.commit(changes).await.unwrap();
        println!("acked {step}");
    }
}

/// `kill -9` at an arbitrary instant loses no acknowledged commit and
/// leaves no half commit: the deployment's step and its revision agree.
#[tokio::test]
async fn acknowledged_commits_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let mut last_acked = 0;
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["kill9_child_writer", "--exact", "--nocapture", "--test-threads=1"])
            .env(CRASH_DB, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut acked_this_round = 0;
        for line in stdout.lines() {
            let Some(step) = line.unwrap().strip_prefix("acked ").map(|s| s.parse::<u64>().unwrap()) else {
                continue;
            };
            assert!(step > last_acked);
            last_acked = step;
            acked_this_round += 1;
            if acked_this_round == 20 + 7 * round {
                child.kill().unwrap(); // SIGKILL
                break;
            }
        }
        child.wait().unwrap();
        assert!(acked_this_round > 0, "the child wrote nothing");

        let store = Store::open_sqlite(&path).await.unwrap();
        let step = store.get_deployment("d-CRASH").await.unwrap().targets[0].last_updated;
        assert!(step >= last_acked, "acknowledged step {last_acked} lost: the store has {step}");
        // Atomic: the revision of the last commit is there, the next one is not.
        store.get_revision(&format!("r-{step}")).await.unwrap();
        not_found(store.get_revision(&format!("r-{}", step + 1)).await);
        last_acked = step;
        store.close().await;
    }
}

/// Not a benchmark: prints what persisting one transition costs, for the
/// record (no assertion on time). The in-memory figure is the same work
/// without a disk, so the difference is roughly the cost of durability.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transition_write_cost() {
    let dir = tempfile::tempdir().unwrap();
    let file = Store::open_sqlite(&dir.path().join("ferry.db")).await.unwrap();
    let memory = Store::open_sqlite_memory().await.unwrap();
    for (name, store) in [("file (WAL, synchronous=FULL)", file), ("memory", memory)] {
        let (update, commit, doc_bytes) = write_cost(&store).await;
        eprintln!(
            "ferry-store {name}: update_deployment mean {update:?}, commit of one update mean {commit:?} \
             ({doc_bytes}-byte deployment document)"
        );
    }
}

async fn write_cost(store: &Store) -> (std::time::Duration, std::time::Duration, usize) {
    const WRITES: u32 = 200;
    store.create_application(&app("web")).await.unwrap();
    let mut d = deployment("d-COST", "web", "prod", 1, DeploymentStatus::InProgress);
    // A realistic document: 20 instances of 9 lifecycle events.
    let events = ferry_core::events::IN_PLACE_WITH_TRAFFIC[..9].to_vec();
    d.lifecycle_events = events.clone();
    d.targets = (0..20).map(|i| Target::new(format!("host-{i:02}"), &events, 1)).collect();
    store.insert_deployment(&d).await.unwrap();
    let doc_bytes = serde_json::to_string(&d).unwrap().len();

    let start = Instant::now();
    for step in 0..WRITES {
        d.targets[(step % 20) as usize].last_updated = u64::from(step);
        store.update_deployment(&d).await.unwrap();
    }
    let update = start.elapsed() / WRITES;
    let start = Instant::now();
    for step in 0..WRITES {
        d.targets[(step % 20) as usize].last_updated = u64::from(step);
        store.commit(Changes::new().update_deployment(d.clone())).await.unwrap();
    }
    (update, start.elapsed() / WRITES, doc_bytes)
}

fn notice(deployment: &str, kind: NoticeKind, time: u64) -> Notice {
    Notice {
        kind,
        time,
        deployment_id: deployment.into(),
        application_name: "web".into(),
        group_name: "prod".into(),
        instance: None,
        lifecycle_event: None,
        status: "InProgress".into(),
        message: None,
        build: None,
        pipeline: None,
    }
}

fn delivery(id: &str, deployment: &str, next_attempt: u64) -> Delivery {
    Delivery {
        id: id.into(),
        event_seq: 0,
        deployment_id: deployment.into(),
        trigger_name: "ops".into(),
        event: "DeploymentStart".into(),
        url: "http://127.0.0.1:9/hook".into(),
        body: "{}".into(),
        state: DeliveryState::Pending,
        attempts: 0,
        next_attempt,
        last_error: None,
        delivered_time: None,
        create_time: next_attempt,
    }
}

async fn events_and_deliveries(store: Store) {
    assert_eq!(store.last_event_seq().await.unwrap(), 0);
    let changes = Changes {
        events: vec![
            NewEvent {
                notice: notice("d-EVENTS", NoticeKind::DeploymentStart, 100),
                deliveries: vec![delivery("dl-1", "d-EVENTS", 100)],
            },
            NewEvent { notice: notice("d-OTHER", NoticeKind::LifecycleEvent, 101), deliveries: vec![] },
        ],
        ..Default::default()
    };
    let last = store.commit(changes).await.unwrap().expect("events appended");
    assert_eq!(store.last_event_seq().await.unwrap(), last);
    let all = store.events_after(0, None, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].seq < all[1].seq);
    assert_eq!(all[1].seq, last);
    assert_eq!(all[0].notice, notice("d-EVENTS", NoticeKind::DeploymentStart, 100));
    let mine = store.events_after(0, Some("d-OTHER"), 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert!(store.events_after(last, None, 10).await.unwrap().is_empty());
    assert_eq!(store.events_after(0, None, 1).await.unwrap().len(), 1, "the limit holds");

    // The delivery points at its event and is due from its next attempt on.
    assert!(store.due_deliveries(99, 10).await.unwrap().is_empty());
    let due = store.due_deliveries(100, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].event_seq, all[0].seq);
    assert_eq!(store.next_delivery_time().await.unwrap(), Some(100));
    let mut retried = due[0].clone();
    retried.attempts = 1;
    retried.next_attempt = 2000;
    retried.last_error = Some("connection refused".into());
    store.update_delivery(&retried).await.unwrap();
    assert!(store.due_deliveries(1999, 10).await.unwrap().is_empty());
    let mut done = retried.clone();
    done.state = DeliveryState::Delivered;
    done.delivered_time = Some(2000);
    store.update_delivery(&done).await.unwrap();
    assert!(store.due_deliveries(u64::MAX / 2, 10).await.unwrap().is_empty());
    assert_eq!(store.next_delivery_time().await.unwrap(), None);
    let listed = store
        .list_deliveries(&DeliveryFilter { deployment_id: Some("d-EVENTS".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(listed, [done.clone()]);
    let pending =
        store.list_deliveries(&DeliveryFilter { state: Some(DeliveryState::Pending), ..Default::default() }).await;
    assert!(pending.unwrap().is_empty());
    not_found(store.update_delivery(&delivery("dl-missing", "d-EVENTS", 1)).await);
}

async fn alarms_put_get_list_delete(store: Store) {
    let alarm = |name: &str, expression: &str| Alarm {
        name: name.into(),
        expression: expression.into(),
        prometheus_url: None,
        create_time: 1,
    };
    store.put_alarm(&alarm("errors", "rate(errors[1m]) > 1")).await.unwrap();
    store.put_alarm(&alarm("latency", "p99 > 0.5")).await.unwrap();
    store.put_alarm(&alarm("errors", "rate(errors[1m]) > 2")).await.unwrap();
    assert_eq!(store.get_alarm("errors").await.unwrap().expression, "rate(errors[1m]) > 2");
    let names: Vec<String> = store.list_alarms().await.unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["errors", "latency"]);
    store.delete_alarm("errors").await.unwrap();
    not_found(store.get_alarm("errors").await);
    not_found(store.delete_alarm("errors").await);
}

async fn audit_append_and_filter(store: Store) {
    use ferry_core::resources::AuditEntry;
    use ferry_store::AuditFilter;
    let entry = |time: u64, key: Option<&str>, status: u16| AuditEntry {
        time,
        key_id: key.map(str::to_string),
        role: key.map(|_| "deployer".to_string()),
        source: "10.0.0.1".into(),
        api: "native".into(),
        action: "POST /api/v1/deployments".into(),
        target: Some("shop/web".into()),
        status,
        error: (status >= 400).then(|| "AccessDenied".to_string()),
    };
    let first = store.append_audit(&entry(10, Some("K1"), 200)).await.unwrap();
    let second = store.append_audit(&entry(20, Some("K2"), 403)).await.unwrap();
    store.append_audit(&entry(30, None, 403)).await.unwrap();
    assert!(second > first);
    let all = store.list_audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(all.iter().map(|a| a.entry.time).collect::<Vec<_>>(), [10, 20, 30], "oldest first");
    assert_eq!(all[0].entry, entry(10, Some("K1"), 200));
    let refused = store.list_audit(&AuditFilter { refused_only: true, ..Default::default() }).await.unwrap();
    assert_eq!(refused.len(), 2);
    let by_key = store.list_audit(&AuditFilter { key_id: Some("K2".into()), ..Default::default() }).await.unwrap();
    assert_eq!(by_key.len(), 1);
    let window =
        store.list_audit(&AuditFilter { since: Some(15), until: Some(25), ..Default::default() }).await.unwrap();
    assert_eq!(window[0].entry.time, 20);
    let newest = store.list_audit(&AuditFilter { limit: Some(1), ..Default::default() }).await.unwrap();
    assert_eq!(newest[0].entry.time, 30, "the limit keeps the newest");
}

async fn prune_keeps_what_groups_and_recent_history_need(store: Store) {
    use ferry_core::notices::{Notice, NoticeKind};
    store.create_application(&app("web")).await.unwrap();
    let mut g = group("web", "prod");
    g.last_successful_deployment_id = Some("d-good".into());
    g.last_attempted_deployment_id = Some("d-last".into());
    store.create_group(&g).await.unwrap();
    for (id, created, status, finalized) in [
        ("d-old", 100, DeploymentStatus::Failed, true),
        ("d-good", 110, DeploymentStatus::Succeeded, true),
        ("d-last", 120, DeploymentStatus::Stopped, true),
        ("d-unfinished", 130, DeploymentStatus::Failed, false),
        ("d-new", 5000, DeploymentStatus::Succeeded, true),
    ] {
        let mut d = deployment(id, "web", "prod", created, status);
        d.finalized = finalized;
        store.insert_deployment(&d).await.unwrap();
    }
    let notice = |d: &str, time: u64| Notice {
        kind: NoticeKind::DeploymentStart,
        time,
        deployment_id: d.into(),
        application_name: "web".into(),
        group_name: "prod".into(),
        instance: None,
        lifecycle_event: None,
        status: "InProgress".into(),
        message: None,
        build: None,
        pipeline: None,
    };
    let changes = Changes {
        events: vec![
            NewEvent { notice: notice("d-old", 100), deliveries: vec![delivery("dl-old", "d-old", 100)] },
            NewEvent { notice: notice("d-good", 110), deliveries: vec![] },
        ],
        ..Default::default()
    };
    store.commit(changes).await.unwrap();
    let mut done = store.due_deliveries(u64::MAX / 2, 10).await.unwrap().remove(0);
    done.state = DeliveryState::Delivered;
    store.update_delivery(&done).await.unwrap();
    store
        .append_audit(&ferry_core::resources::AuditEntry {
            time: 50,
            key_id: None,
            role: None,
            source: String::new(),
            api: "native".into(),
            action: "POST /x".into(),
            target: None,
            status: 200,
            error: None,
        })
        .await
        .unwrap();

    let pruned = store.prune(1000, 60).await.unwrap();
    assert_eq!(
        pruned,
        ferry_store::Pruned { deployments: 1, events: 1, deliveries: 1, audit: 1, pipeline_executions: 0 }
    );
    not_found(store.get_deployment("d-old").await);
    for kept in ["d-good", "d-last", "d-unfinished", "d-new"] {
        store.get_deployment(kept).await.unwrap();
    }
    let events = store.events_after(0, None, 10).await.unwrap();
    assert_eq!(events.len(), 1, "only the events of deployments still there");
    assert_eq!(store.prune(1000, 60).await.unwrap(), ferry_store::Pruned::default(), "idempotent");
}

async fn secrets_are_sealed_at_rest_and_need_their_key(store: Store) {
    // `unkeyed` shares the database but has no key: it reads what is at rest.
    let unkeyed = store.clone();
    let (key, key_text) = SecretsKey::generate().unwrap();
    let keyed = store.with_secrets_key(key);
    assert!(!keyed.has_sealed_secrets().await.unwrap());
    unkeyed.put_access_key(&access_key("OLD", 1)).await.unwrap();
    assert_eq!(unkeyed.get_access_key("OLD").await.unwrap(), access_key("OLD", 1), "plain text before sealing");

    assert_eq!(keyed.seal_stored_secrets().await.unwrap(), 1, "the plain-text secret is sealed");
    assert!(keyed.has_sealed_secrets().await.unwrap());
    assert_eq!(keyed.seal_stored_secrets().await.unwrap(), 0, "only once");
    keyed.put_access_key(&access_key("NEW", 2)).await.unwrap();
    assert_eq!(keyed.get_access_key("OLD").await.unwrap(), access_key("OLD", 1));
    assert_eq!(keyed.list_access_keys().await.unwrap(), [access_key("OLD", 1), access_key("NEW", 2)]);
    for id in ["OLD", "NEW"] {
        let err = unkeyed.get_access_key(id).await.unwrap_err();
        assert!(err.to_string().contains("is sealed and no secrets key was given"), "{err}");
    }
    assert!(unkeyed.list_access_keys().await.is_err());

    // Another key is told apart before any secret is read.
    let (other, _) = SecretsKey::generate().unwrap();
    let err = unkeyed.clone().with_secrets_key(other).seal_stored_secrets().await.unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    // The same key from its text form opens everything.
    let again = unkeyed.with_secrets_key(SecretsKey::parse(&key_text).unwrap());
    assert_eq!(again.seal_stored_secrets().await.unwrap(), 0);
    assert_eq!(again.get_access_key("NEW").await.unwrap(), access_key("NEW", 2));
}

fn secret_info(name: &str, time: u64) -> SecretInfo {
    SecretInfo { name: name.into(), description: format!("{name} for builds"), create_time: time, update_time: time }
}

async fn named_secrets_round_trip_sealed(store: Store) {
    let unkeyed = store.clone();
    let err = unkeyed.put_secret(&secret_info("/prod/db/password", 1), "hunter2").await.unwrap_err();
    assert!(err.to_string().contains("only ever stored sealed"), "{err}");
    assert!(unkeyed.list_secrets().await.unwrap().is_empty(), "nothing written without a key");

    let (key, _) = SecretsKey::generate().unwrap();
    let keyed = store.with_secrets_key(key);
    let put = keyed.put_secret(&secret_info("/prod/db/password", 10), "hunter2").await.unwrap();
    assert_eq!(put, secret_info("/prod/db/password", 10));
    keyed.put_secret(&secret_info("api_token", 11), "tok-1").await.unwrap();
    assert_eq!(keyed.get_secret("/prod/db/password").await.unwrap(), "hunter2");
    // Replacing keeps the creation time and takes the new value and description.
    let replaced =
        keyed.put_secret(&SecretInfo { description: "rotated".into(), ..secret_info("api_token", 20) }, "tok-2").await;
    assert_eq!(
        replaced.unwrap(),
        SecretInfo { name: "api_token".into(), description: "rotated".into(), create_time: 11, update_time: 20 }
    );
    assert_eq!(keyed.get_secret("api_token").await.unwrap(), "tok-2");
    let listed = keyed.list_secrets().await.unwrap();
    assert_eq!(listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["/prod/db/password", "api_token"]);
    assert_eq!(listed[1].update_time, 20);

    // A store without the key lists names but cannot read a value.
    assert_eq!(unkeyed.list_secrets().await.unwrap().len(), 2);
    let err = unkeyed.get_secret("api_token").await.unwrap_err();
    assert!(err.to_string().contains("no secrets key"), "{err}");
    let (other, _) = SecretsKey::generate().unwrap();
    assert!(unkeyed.clone().with_secrets_key(other).get_secret("api_token").await.is_err(), "another key");

    keyed.delete_secret("api_token").await.unwrap();
    assert_eq!(keyed.get_secret("api_token").await, Err(StoreError::NotFound));
    assert_eq!(keyed.delete_secret("api_token").await, Err(StoreError::NotFound));
}

/// What is on disk: the database file and its write-ahead log hold no
/// secret's plain text, before and after a checkpoint.
#[tokio::test]
async fn named_secrets_are_not_in_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let (key, _) = SecretsKey::generate().unwrap();
    let store = Store::open_sqlite(&path).await.unwrap().with_secrets_key(key);
    let value = "pLaInTeXt-sEcReT-0123456789";
    store.put_secret(&secret_info("/prod/db/password", 1), value).await.unwrap();
    assert_eq!(store.get_secret("/prod/db/password").await.unwrap(), value);
    let on_disk = || {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        bytes
    };
    let needle = value.as_bytes();
    let holds = |bytes: &[u8], what: &[u8]| bytes.windows(what.len()).any(|w| w == what);
    let before = on_disk();
    assert!(holds(&before, b"/prod/db/password"), "the name is stored (the test reads the right files)");
    assert!(!holds(&before, needle), "plain text in the database or its log");
    store.close().await;
    assert!(!holds(&on_disk(), needle), "plain text after closing (checkpoint)");
}

async fn agent_liveness_round_trip(store: Store) {
    assert_eq!(store.liveness().await.unwrap(), (None, Vec::new()));
    let record = |instance: &str, heard: u64, polling: bool| AgentLiveness {
        instance: instance.into(),
        heard,
        silent_since: heard - 5,
        polling,
        poll_ended: heard - 1,
    };
    store.save_liveness(1_000, &[record("a", 900, true), record("b", 800, false)]).await.unwrap();
    assert_eq!(store.liveness().await.unwrap(), (Some(1_000), vec![record("a", 900, true), record("b", 800, false)]));
    // Only what changed is written; the time up to which the server ran always.
    store.save_liveness(2_000, &[record("a", 1_900, false)]).await.unwrap();
    assert_eq!(
        store.liveness().await.unwrap(),
        (Some(2_000), vec![record("a", 1_900, false), record("b", 800, false)])
    );
    store.save_liveness(3_000, &[]).await.unwrap();
    assert_eq!(store.liveness().await.unwrap().0, Some(3_000));
    // A deleted instance takes its record along.
    store.upsert_instance(&instance("b")).await.unwrap();
    store.delete_instance("b").await.unwrap();
    assert_eq!(store.liveness().await.unwrap().1, vec![record("a", 1_900, false)]);
}

fn build_project(name: &str) -> ferry_core::build::BuildProject {
    use ferry_core::build::{BuildProject, BuildSource, BuildVariable, VariableKind};
    BuildProject {
        id: format!("id-{name}"),
        name: name.into(),
        description: String::new(),
        source: BuildSource::Git { url: "https://git.example/shop.git".into(), version: Some("main".into()) },
        buildspec: None,
        image: None,
        variables: vec![BuildVariable { name: "TOKEN".into(), value: "shop-token".into(), kind: VariableKind::Secret }],
        timeout_minutes: 60,
        queued_timeout_minutes: 480,
        concurrent_build_limit: Some(2),
        cache: true,
        badge: false,
        tags: Vec::new(),
        create_time: 1,
        last_modified: 1,
        poll_seconds: None,
        notify: Vec::new(),
        webhook: None,
    }
}

async fn pipelines_keep_every_version(store: Store) {
    store.create_pipeline("shop", r#"{"v":1}"#, 10).await.unwrap();
    assert!(matches!(store.create_pipeline("shop", "{}", 11).await, Err(StoreError::AlreadyExists { .. })));
    let v2 = store.update_pipeline("shop", |v| format!(r#"{{"v":{v}}}"#), 20).await.unwrap();
    assert_eq!(v2, 2);
    let current = store.get_pipeline("shop", None).await.unwrap();
    assert_eq!(
        (current.version, current.doc.as_str(), current.create_time, current.update_time),
        (2, r#"{"v":2}"#, 10, 20)
    );
    assert_eq!(store.get_pipeline("shop", Some(1)).await.unwrap().doc, r#"{"v":1}"#);
    assert!(matches!(store.get_pipeline("shop", Some(3)).await, Err(StoreError::NotFound)));
    assert!(matches!(store.update_pipeline("nope", |_| String::new(), 1).await, Err(StoreError::NotFound)));
    assert_eq!(store.list_pipelines().await.unwrap().len(), 1);

    // Execution documents and history: written with the commit, paged newest first.
    let execution = |id: &str, start: u64, status: &str| StoredPipelineExecution {
        id: id.into(),
        start_time: start,
        status: status.into(),
        doc: format!(r#"{{"id":"{id}","status":"{status}"}}"#),
    };
    let change = |doc: &str, executions| PipelineRunsChange { pipeline: "shop".into(), doc: doc.into(), executions };
    let mut changes = Changes::new();
    changes
        .pipeline_runs
        .push(change("runs-1", vec![execution("e1", 100, "InProgress"), execution("e2", 100, "InProgress")]));
    store.commit(changes).await.unwrap();
    let mut changes = Changes::new();
    changes
        .pipeline_runs
        .push(change("runs-2", vec![execution("e1", 100, "Succeeded"), execution("e3", 300, "InProgress")]));
    store.commit(changes).await.unwrap();
    assert_eq!(store.get_pipeline_runs("shop").await.unwrap().as_deref(), Some("runs-2"));
    assert_eq!(store.get_pipeline_runs("blog").await.unwrap(), None);
    assert_eq!(store.list_pipeline_runs().await.unwrap(), ["shop"]);
    let ids = |page: Vec<StoredPipelineExecution>| page.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids(store.list_pipeline_executions("shop", None, 2).await.unwrap()), ["e3", "e2"]);
    assert_eq!(ids(store.list_pipeline_executions("shop", Some((100, "e2")), 2).await.unwrap()), ["e1"]);
    let (pipeline, e1) = store.get_pipeline_execution("e1").await.unwrap();
    assert_eq!((pipeline.as_str(), e1.status.as_str(), e1.start_time), ("shop", "Succeeded", 100));
    assert!(matches!(store.get_pipeline_execution("e9").await, Err(StoreError::NotFound)));

    // Retention: old executions go from history unless the document still holds them.
    let mut changes = Changes::new();
    changes.pipeline_runs.push(change(r#"{"executions":[{"id":"e2"}],"disabled":[]}"#, Vec::new()));
    store.commit(changes).await.unwrap();
    let pruned = store.prune(200, 0).await.unwrap();
    assert_eq!(pruned.pipeline_executions, 1, "e1 (e2 is in the document, e3 is newer)");
    assert_eq!(ids(store.list_pipeline_executions("shop", None, 10).await.unwrap()), ["e3", "e2"]);

    store.delete_pipeline("shop").await.unwrap();
    assert_eq!(store.get_pipeline_runs("shop").await.unwrap(), None);
    assert!(matches!(store.get_pipeline_execution("e1").await, Err(StoreError::NotFound)));
    assert!(matches!(store.get_pipeline("shop", None).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_pipeline("shop").await, Err(StoreError::NotFound)));
}

async fn build_projects_and_numbered_builds(store: Store) {
    use ferry_core::build::{BuildStatus, Initiator, queue_build};
    let project = build_project("shop");
    store.create_build_project(&project).await.unwrap();
    assert!(matches!(store.create_build_project(&project).await, Err(StoreError::AlreadyExists { .. })));
    let mut edited = project.clone();
    edited.image = Some("localhost/builder:1".into());
    store.update_build_project(&edited).await.unwrap();
    assert_eq!(store.get_build_project("shop").await.unwrap(), edited);
    assert!(matches!(store.update_build_project(&build_project("nope")).await, Err(StoreError::NotFound)));
    store.create_build_project(&build_project("blog")).await.unwrap();
    let names: Vec<String> = store.list_build_projects().await.unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["blog", "shop"]);

    // Concurrent starts get distinct numbers 1..=8.
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let (store, edited) = (store.clone(), edited.clone());
        tasks.push(tokio::spawn(async move {
            store
                .queue_build("shop", |n| {
                    queue_build(&edited, n, &format!("u{i}"), Initiator::Key("FKIA".into()), None, 10 + i)
                })
                .await
                .unwrap()
        }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.unwrap().number);
    }
    numbers.sort();
    assert_eq!(numbers, (1..=8).collect::<Vec<u64>>());
    let other = store
        .queue_build("blog", |n| queue_build(&build_project("blog"), n, "b1", Initiator::Webhook, None, 5))
        .await
        .unwrap();
    assert_eq!((other.number, other.id.as_str()), (1, "blog:b1"), "numbers are per project");

    let newest = store.list_builds(Some("shop"), 3).await.unwrap();
    assert_eq!(newest.iter().map(|b| b.number).collect::<Vec<_>>(), [8, 7, 6]);
    let mut done = newest[0].clone();
    done.status = BuildStatus::Succeeded;
    done.end_time = Some(99);
    store.update_build(&done).await.unwrap();
    assert_eq!(store.get_build(&done.id).await.unwrap(), done);
    let unfinished = store.unfinished_builds().await.unwrap();
    assert_eq!(unfinished.len(), 8, "seven of shop's and blog's one");
    assert_eq!(unfinished[0].id, "blog:b1", "oldest first");
    assert!(unfinished.iter().all(|b| b.id != done.id));
    assert_eq!(store.list_builds(None, 100).await.unwrap().len(), 9);

    // The log: numbered lines, a chunk sent twice is stored once.
    let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    store.append_build_log(&done.id, 0, &lines(&["a", "b"])).await.unwrap();
    store.append_build_log(&done.id, 1, &lines(&["b again", "c"])).await.unwrap();
    assert_eq!(store.build_log_end(&done.id).await.unwrap(), 3);
    let tail = store.build_log(&done.id, 1, 10).await.unwrap();
    assert_eq!(tail, [(1, "b".to_string()), (2, "c".to_string())]);
    assert_eq!(store.build_log_end("blog:b1").await.unwrap(), 0);
    let report = ferry_core::build::BuildReport {
        name: "unit".into(),
        format: "JUNITXML".into(),
        total: 1,
        succeeded: 1,
        failed: 0,
        error: 0,
        skipped: 0,
        unknown: 0,
        duration_ms: 5,
        cases: Vec::new(),
        errors: Vec::new(),
    };
    store.put_build_reports(&done.id, std::slice::from_ref(&report)).await.unwrap();
    store.put_build_reports(&done.id, std::slice::from_ref(&report)).await.unwrap();
    assert_eq!(store.build_reports(&done.id).await.unwrap(), [report]);

    // A project's deletion keeps its builds as history.
    store.delete_build_project("shop").await.unwrap();
    assert!(matches!(store.get_build_project("shop").await, Err(StoreError::NotFound)));
    assert_eq!(store.get_build(&done.id).await.unwrap().settings.image.as_deref(), Some("localhost/builder:1"));
}

async fn task_definitions_are_numbered_per_family(store: Store) {
    assert_eq!(store.register_task_definition("web", |r| format!("web:{r}"), 10).await.unwrap(), 1);
    assert_eq!(store.register_task_definition("web", |r| format!("web:{r}"), 20).await.unwrap(), 2);
    assert_eq!(store.register_task_definition("api", |r| format!("api:{r}"), 30).await.unwrap(), 1);
    assert_eq!(store.get_task_definition("web", None).await.unwrap().doc, "web:2");
    store.deregister_task_definition("web", 2).await.unwrap();
    let newest = store.get_task_definition("web", None).await.unwrap();
    assert_eq!((newest.revision, newest.status.as_str()), (1, "ACTIVE"), "the newest ACTIVE one");
    let old = store.get_task_definition("web", Some(2)).await.unwrap();
    assert_eq!((old.status.as_str(), old.register_time), ("INACTIVE", 20), "still readable");
    assert!(matches!(store.get_task_definition("web", Some(9)).await, Err(StoreError::NotFound)));
    assert!(matches!(store.deregister_task_definition("nope", 1).await, Err(StoreError::NotFound)));
    let revisions: Vec<u32> =
        store.list_task_definitions(Some("web")).await.unwrap().iter().map(|t| t.revision).collect();
    assert_eq!(revisions, [2, 1]);
    let families: Vec<String> = store
        .list_task_definitions(None)
        .await
        .unwrap()
        .iter()
        .map(|t| format!("{}:{}", t.family, t.revision))
        .collect();
    assert_eq!(families, ["api:1", "web:2"]);
}

async fn services_and_their_tasks(store: Store) {
    let create =
        ServiceChange { service: ServiceWrite::Create { name: "web".into(), doc: "{\"v\":1}".into() }, tasks: vec![] };
    store.save_service(&create, 1).await.unwrap();
    assert!(matches!(store.save_service(&create, 2).await, Err(StoreError::AlreadyExists { .. })));
    let task = |id: &str, live: bool, at: u64| TaskRow {
        id: id.into(),
        service: "web".into(),
        host: "h1".into(),
        live,
        created_at: at,
        doc: format!("{id}:{live}"),
    };
    let change = ServiceChange {
        service: ServiceWrite::Put { name: "web".into(), doc: "{\"v\":2}".into() },
        tasks: vec![task("t1", true, 1), task("t2", false, 2), task("t3", false, 3), task("t4", true, 4)],
    };
    store.save_service(&change, 3).await.unwrap();
    assert_eq!(store.get_service("web").await.unwrap(), "{\"v\":2}");
    assert_eq!(store.list_services().await.unwrap().len(), 1);
    // Live tasks and the newest stopped one, oldest first.
    assert_eq!(store.list_service_tasks(Some("web"), 1).await.unwrap(), ["t1:true", "t3:false", "t4:true"]);
    assert_eq!(store.list_service_tasks(None, 0).await.unwrap(), ["t1:true", "t4:true"]);
    // A task updated in place.
    let stop = ServiceChange { service: ServiceWrite::Keep, tasks: vec![task("t1", false, 1)] };
    store.save_service(&stop, 4).await.unwrap();
    assert_eq!(store.list_service_tasks(None, 0).await.unwrap(), ["t4:true"]);
    assert_eq!(store.prune_service_tasks("web", 1).await.unwrap(), 2);
    assert_eq!(store.list_service_tasks(Some("web"), 10).await.unwrap(), ["t3:false", "t4:true"]);
    // Putting a service that is gone is NotFound; deleting takes its tasks.
    let gone = ServiceChange { service: ServiceWrite::Put { name: "api".into(), doc: "{}".into() }, tasks: vec![] };
    assert_eq!(store.save_service(&gone, 5).await, Err(StoreError::NotFound));
    store
        .save_service(&ServiceChange { service: ServiceWrite::Delete { name: "web".into() }, tasks: vec![] }, 6)
        .await
        .unwrap();
    assert_eq!(store.get_service("web").await, Err(StoreError::NotFound));
    assert!(store.list_service_tasks(None, 0).await.unwrap().is_empty());
}

async fn scaling_groups_are_written_with_their_events(store: Store) {
    use ferry_core::scaling::{HostState, Provider, ScalingGroup, ScalingHost};
    let mut g = ScalingGroup {
        name: "web".into(),
        provider: Provider::Local { fleet_dir: "/tmp/fleet".into() },
        min: 1,
        desired: 2,
        max: 3,
        tags: vec![Tag { key: "role".into(), value: "web".into() }],
        hosts: Vec::new(),
        next_host: 1,
        launch_failures: 0,
        launch_after: None,
        launch_timeout_ms: 60_000,
        replace_after_ms: 30_000,
        deleting: false,
        create_time: 5,
    };
    store.create_scaling_group(&g).await.unwrap();
    assert!(matches!(store.create_scaling_group(&g).await, Err(StoreError::AlreadyExists { .. })));
    g.hosts.push(ScalingHost {
        name: "web-1".into(),
        state: HostState::Launching,
        launched: 10,
        since: 10,
        reason: None,
        retry_at: None,
        drain: true,
        hooks: Some(vec!["d-T".into()]),
    });
    let event = NewEvent { notice: notice("", NoticeKind::ScalingActivity, 10), deliveries: vec![] };
    let seqs = store.save_scaling_group(&g, false, &[event]).await.unwrap();
    assert_eq!(seqs.len(), 1);
    assert_eq!(store.last_event_seq().await.unwrap(), seqs[0]);
    assert_eq!(store.get_scaling_group("web").await.unwrap(), g);
    assert_eq!(store.list_scaling_groups().await.unwrap(), [g.clone()]);
    store.save_scaling_group(&g, true, &[]).await.unwrap();
    assert!(matches!(store.get_scaling_group("web").await, Err(StoreError::NotFound)));
    // Saving a group that is gone writes no event either.
    let event = NewEvent { notice: notice("", NoticeKind::ScalingActivity, 11), deliveries: vec![] };
    assert!(matches!(store.save_scaling_group(&g, false, &[event]).await, Err(StoreError::NotFound)));
    assert_eq!(store.last_event_seq().await.unwrap(), seqs[0]);
}
