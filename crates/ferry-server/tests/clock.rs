//! Time-dependent behaviour on an injected clock: no test waits for
//! minutes of bake time or a Ready wait to run out.

mod support;

use std::time::Duration;

use ferry_server::clock::Clock;
use serde_json::json;
use support::*;

/// A deployment bakes under its alarms for the group's bake time after its
/// last instance succeeded, measured on the server's clock: it stays
/// Baking until that clock has moved past the bake time, then succeeds.
#[tokio::test]
async fn a_deployment_bakes_until_the_servers_clock_passes_the_bake_time() {
    let clock = Clock::manual(1_800_000_000_000);
    let server = TestServer::start_with(|c| c.clock = clock.clone()).await;
    let admin = &server.admin;
    let (status, body) = admin.post("/api/v1/applications", json!({ "name": "shop" })).await;
    assert_eq!(status, 200, "{body}");
    let alarm = json!({ "name": "errors", "expression": "vector(1) > 2" });
    let (status, body) = admin.post("/api/v1/alarms", alarm).await;
    assert_eq!(status, 200, "{body}");
    let group = json!({
        "name": "web",
        "tag_filters": [{ "key": "app", "value": "demo", "type": "KEY_AND_VALUE" }],
        // No Prometheus here: an alarm that cannot be evaluated must not stop it.
        "alarms": { "alarms": ["errors"], "ignore_poll_alarm_failure": true, "bake_time_ms": 3_600_000 },
    });
    let (status, body) = admin.post("/api/v1/applications/shop/groups", group).await;
    assert_eq!(status, 200, "{body}");
    let agent = server.enrol("host1", &[("app", "demo")]).await;
    let revision = admin.push_tar("shop", tar_bundle(APPSPEC)).await;
    let request = json!({ "application_name": "shop", "group_name": "web", "revision_id": revision["id"] });
    let (status, created) = admin.post("/api/v1/deployments", request).await;
    assert_eq!(status, 200, "{created}");
    let id = created["deployment_id"].as_str().unwrap().to_string();
    agent.run_deployment(&id).await;
    wait_status(admin, &id, "Baking").await;

    // The reconciler ticks every 0.5 s of real time: several ticks pass
    // while the server's clock stands still, and the deployment bakes on.
    clock.advance(Duration::from_secs(3_599));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(native_status(admin, &id).await, "Baking", "the bake time has not passed on the server's clock");

    clock.advance(Duration::from_secs(2));
    let view = wait_status(admin, &id, "Succeeded").await;
    assert_eq!(view["overview"]["succeeded"], 1, "{view}");
}
