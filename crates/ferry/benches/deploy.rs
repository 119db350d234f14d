//! Whole deployments across a fleet: a real `ferry server` and real agents in
//! isolated hosts, a no-op revision (every hook present, each `exit 0`),
//! deployed with AllAtOnce to 1 host and to 20 hosts.
//!
//! Prints, per fleet size: the wall time of a deployment (the server's
//! create → complete timestamps), and ferry's own overhead per lifecycle
//! event: (wall time − the scripts' own time) / events per host. The
//! scripts' own time is measured in the same run by spawning the same
//! script directly. Asserts nothing; needs root (network namespaces).
//!
//! Run: `cargo bench -p ferry --bench deploy`
//! CodeDeploy, for comparison: about 1 s per event, 9–11 s for a 1-host
//! deployment (`../shared/reference/peers.md`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use support::*;

const HOOKS: [&str; 5] = ["ApplicationStop", "BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService"];
/// Lifecycle events of an in-place deployment without a load balancer.
const EVENTS: usize = 7;
const DEPLOYMENTS: usize = 15;

fn main() {
    if !fleet_supported() {
        return;
    }
    let sizes = [1usize, 20];
    let cluster = Cluster::start(ClusterOptions {
        hosts: 20,
        // Host 0 is in both groups; the rest only in the 20-host group.
        tags: |i| {
            let mut tags = vec![("all".to_string(), "yes".to_string())];
            if i == 0 {
                tags.push(("one".into(), "yes".into()));
            }
            tags
        },
        ..Default::default()
    });
    let rev = cluster.tmp.path().join("noop");
    write_noop_revision(&rev);
    let _ = cluster.ferry(&["app", "create", "bench"]);
    cluster.ferry_ok(&["group", "create", "bench", "g1", "--tag", "one=yes"]);
    cluster.ferry_ok(&["group", "create", "bench", "g20", "--tag", "all=yes"]);
    cluster.ferry_ok(&["push", "bench", rev.to_str().unwrap()]);

    let script_cost = script_cost(&rev.join("scripts/noop.sh"));
    println!("ferry deployments of a no-op revision ({} hooks, {EVENTS} events per host), AllAtOnce", HOOKS.len());
    println!("scripts' own cost (spawning the no-op script directly): {}", ms(script_cost));
    println!();
    println!(
        "{:>6} {:>10} {:>10} {:>10} {:>15} {:>12} {:>12} {:>15}",
        "hosts", "median", "min", "max", "overhead/event", "server CPU", "agents CPU", "CPU/host-event"
    );
    for n in sizes {
        let group = format!("g{n}");
        // The first deployment of a group skips ApplicationStop; warm up so
        // every measured deployment runs all seven events.
        deploy_once(&cluster, &group);
        let (server_before, agents_before) = cpu(&cluster);
        let mut walls: Vec<Duration> = (0..DEPLOYMENTS).map(|_| deploy_once(&cluster, &group)).collect();
        let (server_after, agents_after) = cpu(&cluster);
        walls.sort();
        let median = walls[walls.len() / 2];
        let scripts = script_cost * HOOKS.len() as u32;
        let overhead = median.saturating_sub(scripts) / EVENTS as u32;
        let server_cpu = (server_after - server_before) / DEPLOYMENTS as u32;
        let agents_cpu = (agents_after - agents_before) / DEPLOYMENTS as u32;
        // ferry's own CPU per lifecycle event on one host: all CPU minus the scripts'.
        let host_events = (n * EVENTS) as u32;
        let own_cpu = (server_cpu + agents_cpu).saturating_sub(scripts * n as u32) / host_events;
        println!(
            "{n:>6} {:>10} {:>10} {:>10} {:>15} {:>12} {:>12} {:>15}",
            ms(median),
            ms(walls[0]),
            ms(*walls.last().unwrap()),
            ms(overhead),
            ms(server_cpu),
            ms(agents_cpu),
            ms(own_cpu),
        );
    }
    println!("overhead/event: (median wall time - the scripts' own time) / events per host");
    println!(
        "CPU: per deployment; the agents' includes their hook scripts; the server's includes the CLI's status polls;"
    );
    println!("CPU/host-event: (server + agents CPU - the scripts' own) / (hosts x events)");
    println!();
    println!("targets: < 10 ms overhead per event, < 300 ms for a 1-host deployment");
}

/// One deployment, waited for; its wall time by the server's clock.
fn deploy_once(cluster: &Cluster, group: &str) -> Duration {
    let out = cluster.ferry_ok(&[
        "deploy",
        "bench",
        group,
        "--config",
        "CodeDeployDefault.AllAtOnce",
        "--file-exists-behavior",
        "OVERWRITE",
    ]);
    let id = out.lines().last().unwrap().trim().to_string();
    let view = cluster.wait_done(&id, Duration::from_secs(120));
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let create = view["create_time"].as_u64().expect("create_time");
    let complete = view["complete_time"].as_u64().expect("complete_time");
    Duration::from_millis(complete - create)
}

/// CPU time used so far by the server and by all agents (with their
/// waited-for children, the hook scripts), from `/proc/<pid>/stat`.
fn cpu(cluster: &Cluster) -> (Duration, Duration) {
    let of = |pid: u32| -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name, which is in parentheses.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<u64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
        // utime, stime, cutime, cstime are fields 14-17 (1-based) of the line.
        let ticks: u64 = fields.get(11..15).map(|f| f.iter().sum()).unwrap_or(0);
        Duration::from_millis(ticks * 1000 / clock_ticks_per_second())
    };
    let server = cluster.server_pid().map(of).unwrap_or_default();
    let agents = cluster.agent_pids().into_iter().map(of).sum();
    (server, agents)
}

fn clock_ticks_per_second() -> u64 {
    // sysconf(_SC_CLK_TCK) is 100 on every Linux architecture ferry runs on.
    100
}

/// Mean cost of running the no-op script once, spawned directly.
fn script_cost(script: &Path) -> Duration {
    const RUNS: u32 = 200;
    let t = Instant::now();
    for _ in 0..RUNS {
        assert!(std::process::Command::new(script).status().unwrap().success());
    }
    t.elapsed() / RUNS
}

fn write_noop_revision(dir: &Path) {
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/index.html"), "noop\n").unwrap();
    std::fs::write(dir.join("scripts/noop.sh"), "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(dir.join("scripts/noop.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut appspec =
        "version: 0.0\nos: linux\nfiles:\n  - source: www\n    destination: /srv/bench/www\nhooks:\n".to_string();
    for hook in HOOKS {
        appspec.push_str(&format!("  {hook}:\n    - location: scripts/noop.sh\n"));
    }
    std::fs::write(dir.join("appspec.yml"), appspec).unwrap();
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
