//! The overhead of a build: a no-op buildspec (`true`) built again and again
//! on one build host (a fleet host whose agent runs with `--builds 1`), in a
//! workspace as `nobody` and in a podman container of a local busybox image.
//!
//! Prints, per mode, the median and spread of: queued → taken by the host
//! (the claim), taken → ended (the host's work: environment, phases,
//! report), and queued → ended, from the server's own timestamps; beside it
//! the baseline measured in the same run: the same command run directly
//! (`sh -c true`, and `podman run --rm IMAGE sh -c true`). Asserts nothing;
//! needs root (network namespaces) and podman for the container mode.
//!
//! Run: `cargo bench -p ferry --bench build`
//! CodeBuild, for comparison: a build spends 20–60 s in PROVISIONING and
//! QUEUED before its first command (`../shared/reference/peers.md`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

const BUILDS: usize = 15;

fn main() {
    if !fleet_supported() {
        return;
    }
    let cluster = Cluster::start(ClusterOptions {
        hosts: 1,
        agent_args: |_| vec!["--builds".into(), "1".into()],
        ..Default::default()
    });
    let noop = "version: 0.2\nphases:\n  build:\n    commands:\n      - 'true'\n";
    println!("ferry builds of a no-op buildspec (one command, `true`), one build host, {BUILDS} builds per mode");
    println!();
    println!(
        "{:<11} {:>12} {:>14} {:>14} {:>10} {:>10} {:>16}",
        "mode", "queued→taken", "taken→ended", "queued→ended", "min", "max", "direct baseline"
    );
    let mut cluster = cluster;
    let mut modes = vec![("workspace", None)];
    if podman_works() {
        modes.push(("container", Some(ferry_testkit::busybox_image())));
    } else {
        println!("(container mode skipped: podman does not work here; scripts/setup-podman.sh sets it up)");
    }
    let mut root_agent = None;
    for (mode, image) in modes {
        if image.is_some() {
            // Fleet hosts (`ip netns exec`) see a sysfs without the cgroup
            // mounts runc needs: the container mode's build host runs in
            // the root namespace instead, as it would on a real machine.
            cluster.kill_agent(0);
            root_agent = Some(root_build_host(&cluster));
        }
        let project = format!("noop-{mode}");
        let mut args = vec!["build", "project", "create", &project, "--source", "none", "--buildspec", noop];
        if let Some(image) = &image {
            args.extend(["--image", image.as_str()]);
        }
        cluster.ferry_ok(&args);
        build_once(&cluster, &project); // warm up (first image use, first workspace)
        let mut claims = Vec::new();
        let mut runs = Vec::new();
        let mut totals = Vec::new();
        for _ in 0..BUILDS {
            let (claim, run) = build_once(&cluster, &project);
            claims.push(claim);
            runs.push(run);
            totals.push(claim + run);
        }
        let baseline = match &image {
            None => direct(Command::new("sh").args(["-c", "true"])),
            Some(image) => {
                direct(Command::new("podman").args(["run", "--rm", "--network", "none", image, "sh", "-c", "true"]))
            }
        };
        totals.sort();
        println!(
            "{mode:<11} {:>12} {:>14} {:>14} {:>10} {:>10} {:>16}",
            ms(median(claims)),
            ms(median(runs)),
            ms(totals[totals.len() / 2]),
            ms(totals[0]),
            ms(totals[totals.len() - 1]),
            ms(baseline),
        );
    }
    drop(root_agent);
}

/// A build host (`ferry agent --builds 1`) in the root namespaces, killed when dropped.
fn root_build_host(c: &Cluster) -> KillOnDrop {
    let root = c.tmp.path().join("root-agent");
    let child = Command::new(FERRY)
        .args(["agent", "--server", &c.url(), "--join-token", &c.join_token(), "--name", "bench-root-host"])
        .arg("--root")
        .arg(&root)
        .args(["--builds", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start an agent");
    wait_for("the root-namespace build host to enrol", Duration::from_secs(60), || {
        root.join("state/credentials").exists().then_some(())
    });
    KillOnDrop(child)
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One build, started and waited for; (queued → taken, taken → ended) by
/// the server's timestamps.
fn build_once(c: &Cluster, project: &str) -> (Duration, Duration) {
    let id = c.ferry_ok(&["build", "start", project]).lines().next().unwrap().trim().to_string();
    let view = wait_for("the build to end", Duration::from_secs(120), || {
        let view: serde_json::Value = serde_json::from_str(&c.ferry_ok(&["build", "show", &id, "--json"])).unwrap();
        matches!(view["status"].as_str(), Some("SUCCEEDED" | "FAILED" | "FAULT" | "STOPPED" | "TIMED_OUT"))
            .then_some(view)
    });
    assert_eq!(view["status"], "SUCCEEDED", "{view:#}");
    let at = |field: &str| view[field].as_u64().unwrap_or_else(|| panic!("{field} in {view:#}"));
    let (queued, started, ended) = (at("queued_time"), at("start_time"), at("end_time"));
    (Duration::from_millis(started - queued), Duration::from_millis(ended - started))
}

/// The median time of running `command` directly, a few times.
fn direct(command: &mut Command) -> Duration {
    let mut times: Vec<Duration> = (0..7)
        .map(|_| {
            let start = Instant::now();
            let status = command.status().expect("run the baseline");
            assert!(status.success());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn podman_works() -> bool {
    Command::new("podman").args(["version"]).output().is_ok_and(|o| o.status.success())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
