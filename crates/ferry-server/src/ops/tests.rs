//! The operations against a real (in-memory) store and driver.

use std::sync::mpsc;
use std::time::Duration;

use ferry_core::config::{ALL_AT_ONCE, ONE_AT_A_TIME};
use ferry_core::deployment::Bundle;
use ferry_core::plan::Rule;
use ferry_core::resources::{DeploymentGroup, InstanceSelector, Revision, RevisionLocation};

use super::*;
use crate::AppState;

async fn state_with_group(dir: &std::path::Path) -> AppState {
    let state = AppState::for_tests(dir).await;
    applications::create(&state, "shop", Vec::new(), ferry_core::config::ComputePlatform::Server).await.unwrap();
    let group = DeploymentGroup::new(
        "gid".into(),
        "shop".into(),
        "web".into(),
        InstanceSelector::default(),
        ONE_AT_A_TIME.into(),
        1,
    );
    groups::create(&state, group).await.unwrap();
    state
}

fn revision() -> Revision {
    Revision {
        id: "r-1".into(),
        application_name: "shop".into(),
        location: RevisionLocation::Blob { key: "k".into() },
        bundle_type: "zip".into(),
        sha256: "0".repeat(64),
        size: 1,
        description: String::new(),
        register_time: 1,
        first_used_time: None,
        last_used_time: None,
        deployment_groups: Vec::new(),
        last_fetch: None,
    }
}

fn bundle() -> Option<Bundle> {
    Some(Bundle {
        blob_key: "k".into(),
        sha256: revision().sha256,
        size: 1,
        bundle_type: "zip".into(),
        etag: None,
        version: None,
    })
}

fn new_deployment() -> deployments::NewDeployment {
    deployments::NewDeployment {
        application: "shop".into(),
        group: "web".into(),
        revision: revision(),
        config_name: None,
        description: None,
        file_exists_behavior: None,
        ignore_application_stop_failures: false,
        auto_rollback: None,
        green_selector: None,
        alarms: None,
        ecs: None,
        outdated_only: false,
    }
}

/// The lost update of issue #12: an operator's edit of a group (read,
/// change, write back) racing a deployment that writes the same record
/// (its `target_revision_id` when created, `last_attempted_deployment_id`
/// when it ends: with no instances it ends at once). The edit holds the
/// record while the deployment is created; both changes must survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_edit_and_a_deployment_writing_the_group_keep_both_changes() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_with_group(dir.path()).await;
    let (read_tx, read_rx) = mpsc::channel::<()>();
    let (created_tx, created_rx) = mpsc::channel::<String>();
    let edit = {
        let state = state.clone();
        tokio::spawn(async move {
            groups::update(&state, "shop", "web", move |group| {
                read_tx.send(()).unwrap();
                // Had the deployment been created meanwhile (the record
                // not being held), writing this copy back would erase it.
                let _ = created_rx.recv_timeout(Duration::from_millis(500));
                group.deployment_config_name = ALL_AT_ONCE.into();
                Ok::<(), OpError>(())
            })
            .await
        })
    };
    tokio::task::spawn_blocking(move || read_rx.recv_timeout(Duration::from_secs(10)).unwrap()).await.unwrap();
    let id = state.driver.create_deployment(new_deployment(), bundle()).await.unwrap();
    let _ = created_tx.send(id.clone());
    edit.await.unwrap().unwrap();
    let group = groups::get(&state, "shop", "web").await.unwrap();
    assert_eq!(group.deployment_config_name, ALL_AT_ONCE, "the operator's edit");
    assert_eq!(group.target_revision_id.as_deref(), Some("r-1"), "the deployment's revision");
    assert_eq!(group.last_attempted_deployment_id.as_deref(), Some(id.as_str()), "the finished deployment");
}

#[tokio::test]
async fn group_rules_apply_to_creates_and_edits_alike() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_with_group(dir.path()).await;
    // Blue/green without a target group, by edit.
    let refused = groups::update(&state, "shop", "web", |g| {
        g.traffic_control = true;
        g.blue_green = Some(ferry_core::resources::BlueGreenConfig {
            ready: ferry_core::deployment::ReadyAction::Continue,
            blue: ferry_core::deployment::BlueAction::KeepAlive,
        });
        Ok::<(), OpError>(())
    })
    .await
    .unwrap_err();
    assert!(matches!(&refused, OpError::Refused(r) if r.rule == Rule::LoadBalancer), "{refused:?}");
    // A target group, an alarm or a config that does not exist.
    let edit = |f: fn(&mut DeploymentGroup)| {
        let state = state.clone();
        async move {
            groups::update(&state, "shop", "web", |g| {
                f(g);
                Ok::<(), OpError>(())
            })
            .await
        }
    };
    let missing_tg = edit(|g| {
        g.traffic_control = true;
        g.target_groups = vec!["nope".into()];
    });
    assert!(matches!(missing_tg.await, Err(OpError::TargetGroupNotFound(name)) if name == "nope"));
    assert!(matches!(edit(|g| g.alarms.alarms = vec!["nope".into()]).await, Err(OpError::AlarmNotFound(_))));
    assert!(matches!(edit(|g| g.deployment_config_name = "Nope".into()).await, Err(OpError::ConfigNotFound(_))));
    let lambda = edit(|g| g.deployment_config_name = "CodeDeployDefault.LambdaAllAtOnce".into()).await;
    assert!(matches!(&lambda, Err(OpError::Refused(r)) if r.rule == Rule::ComputePlatform), "{lambda:?}");
    // Nothing refused was written.
    let group = groups::get(&state, "shop", "web").await.unwrap();
    assert!(group.blue_green.is_none() && group.target_groups.is_empty() && group.alarms.alarms.is_empty());
    // A second group of the same name.
    let twin = DeploymentGroup::new(
        "g2".into(),
        "shop".into(),
        "web".into(),
        InstanceSelector::default(),
        ONE_AT_A_TIME.into(),
        1,
    );
    assert!(matches!(groups::create(&state, twin).await, Err(OpError::GroupExists { .. })));
}

#[tokio::test]
async fn a_deployment_the_rules_refuse_is_refused_before_its_revision_is_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_with_group(dir.path()).await;
    // An S3 revision on an unreachable store: fetching it would fail otherwise.
    let mut r = revision();
    r.location = RevisionLocation::S3 { bucket: "b".into(), key: "k".into(), version: None, etag: None };
    let request = deployments::NewDeployment {
        revision: r,
        green_selector: Some(InstanceSelector::default()),
        ..new_deployment()
    };
    let refused = deployments::create(&state, request).await.unwrap_err();
    assert!(matches!(&refused, OpError::Refused(r) if r.rule == Rule::TargetInstances), "{refused:?}");
}
