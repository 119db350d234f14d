//! The host engine's own overhead per lifecycle event.
//!
//! Deploys a revision whose every hook is a no-op script (`exit 0`) through
//! `HostEngine::run_event`, many times, and compares the time per hook event
//! with spawning the same script directly (the scripts' own cost), measured
//! in the same run. Prints figures; asserts nothing.
//!
//! Run: `cargo bench -p ferry-host --bench engine`

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use ferry_bundle::BundleType;
use ferry_host::{Creator, DeploymentSpec, DeploymentType, HostConfig, HostEngine, RevisionSource};

const HOOKS: [&str; 9] = [
    "BeforeBlockTraffic",
    "AfterBlockTraffic",
    "ApplicationStop",
    "BeforeInstall",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
    "BeforeAllowTraffic",
    "AfterAllowTraffic",
];
const EVENTS: [&str; 11] = [
    "BeforeBlockTraffic",
    "AfterBlockTraffic",
    "ApplicationStop",
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
    "BeforeAllowTraffic",
    "AfterAllowTraffic",
];
const DEPLOYMENTS: usize = 40;

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let revision = tmp.path().join("rev");
    write_revision(&revision, &tmp.path().join("dest"));
    let mut config = HostConfig::new(tmp.path().join("root"));
    config.max_revisions = 2;
    let engine = HostEngine::new(config).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    let mut per_event: Vec<(String, Duration)> = EVENTS.iter().map(|e| (e.to_string(), Duration::ZERO)).collect();
    let started = Instant::now();
    for i in 0..DEPLOYMENTS {
        let spec = spec(&revision, i);
        runtime.block_on(async {
            for (name, total) in per_event.iter_mut() {
                let t = Instant::now();
                let outcome = engine.run_event(&spec, name, None).await;
                assert!(outcome.succeeded(), "{name}: {}", outcome.message);
                *total += t.elapsed();
            }
        });
    }
    let wall = started.elapsed() / DEPLOYMENTS as u32;

    // Baseline: the scripts' own cost, spawning the same script directly.
    let script = revision.join("scripts/noop.sh");
    let spawns = DEPLOYMENTS * HOOKS.len();
    let t = Instant::now();
    for _ in 0..spawns {
        let status = std::process::Command::new(&script).status().unwrap();
        assert!(status.success());
    }
    let spawn_cost = t.elapsed() / spawns as u32;

    println!("host engine, {DEPLOYMENTS} deployments of a revision with {} no-op hooks", HOOKS.len());
    println!("{:<20} {:>12}", "event", "mean");
    let mut hook_total = Duration::ZERO;
    for (name, total) in &per_event {
        let mean = *total / DEPLOYMENTS as u32;
        if HOOKS.contains(&name.as_str()) {
            hook_total += mean;
        }
        println!("{name:<20} {:>9.3} ms", ms(mean));
    }
    let hook_mean = hook_total / HOOKS.len() as u32;
    println!("whole deployment (11 events)          {:>9.3} ms", ms(wall));
    println!("hook event, mean                      {:>9.3} ms", ms(hook_mean));
    println!("direct spawn of the same script       {:>9.3} ms  (baseline, same run)", ms(spawn_cost));
    println!(
        "engine overhead per hook event        {:>9.3} ms  (hook event − direct spawn)",
        ms(hook_mean.saturating_sub(spawn_cost))
    );
    println!("CodeDeploy's agent, for comparison:  ~1000 ms per event (reference logs)");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn spec(revision: &Path, i: usize) -> DeploymentSpec {
    DeploymentSpec {
        deployment_id: format!("d-BENCH{i:04}"),
        application_name: "bench".into(),
        deployment_group_name: "bench".into(),
        deployment_group_id: "bench-group".into(),
        revision: RevisionSource::Local { path: revision.to_path_buf() },
        bundle_type: BundleType::Directory,
        appspec_filename: None,
        file_exists_behavior: None,
        creator: Creator::User,
        deployment_type: DeploymentType::InPlace,
        all_possible_events: None,
    }
}

fn write_revision(dir: &Path, dest: &Path) {
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/index.html"), "hello").unwrap();
    let script = dir.join("scripts/noop.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut appspec =
        format!("version: 0.0\nos: linux\nfiles:\n  - source: www\n    destination: {}\nhooks:\n", dest.display());
    for hook in HOOKS {
        appspec.push_str(&format!("  {hook}:\n    - location: scripts/noop.sh\n"));
    }
    std::fs::write(dir.join("appspec.yml"), appspec).unwrap();
}
