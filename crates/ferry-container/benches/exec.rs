//! Overhead of running a command in an environment: `true` through a
//! container exec (podman CLI), through the workspace mode (user switch,
//! output supervision) and spawned directly, in the same run. Prints
//! figures; asserts nothing. Needs root and podman (scripts/setup-podman.sh).
//!
//! Run: `cargo bench -p ferry-container --bench exec`

use std::time::{Duration, Instant};

use ferry_container::{EnvSpec, Environment, ExecRequest, Podman, Provider, Workspaces};

const CONTAINER_RUNS: u32 = 20;
const HOST_RUNS: u32 = 200;

fn main() {
    let root = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false);
    if !root {
        eprintln!("exec bench: needs root (rootful podman, switching to nobody); nothing measured");
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let workspace = tmp.path().join("ws");
    std::fs::create_dir(&workspace).unwrap();
    std::os::unix::fs::chown(&workspace, Some(65534), Some(65534)).unwrap();

    let direct = runtime.block_on(async {
        let t = Instant::now();
        for _ in 0..HOST_RUNS {
            let status = tokio::process::Command::new("true").status().await.unwrap();
            assert!(status.success());
        }
        t.elapsed() / HOST_RUNS
    });

    let workspaces = Workspaces::new(tmp.path().join("state"), "nobody");
    let spec = EnvSpec::new(format!("ferry-bench-ws-{}", std::process::id()), "not-used", &workspace);
    let (_, in_workspace) = runtime.block_on(time_exec(&workspaces, &spec, HOST_RUNS));

    let podman = Podman::default();
    let in_container = if runtime.block_on(podman.check()).is_ok() {
        let image = ferry_testkit::busybox_image();
        let spec = EnvSpec::new(format!("ferry-bench-ct-{}", std::process::id()), image, &workspace);
        Some(runtime.block_on(time_exec(&podman, &spec, CONTAINER_RUNS)))
    } else {
        None
    };

    println!("exec of `true`, mean per command (same run)");
    println!("{:<34} {:>10}", "directly (tokio spawn)", format!("{direct:.2?}"));
    println!(
        "{:<34} {:>10}  (+{:.2?})",
        "workspace mode (as nobody)",
        format!("{in_workspace:.2?}"),
        in_workspace.saturating_sub(direct)
    );
    match in_container {
        Some((start, exec)) => println!(
            "{:<34} {:>10}  (+{:.2?}; container start {start:.2?})",
            "container (podman exec)",
            format!("{exec:.2?}"),
            exec.saturating_sub(direct)
        ),
        None => println!("{:<34} {:>10}", "container (podman exec)", "no podman"),
    }
}

/// Starts the environment, runs `true` `runs` times, stops it. Mean exec time
/// (and, as a second figure, the start time for containers).
async fn time_exec(provider: &dyn Provider, spec: &EnvSpec, runs: u32) -> (Duration, Duration) {
    let t = Instant::now();
    let env: Box<dyn Environment> = provider.start(spec).await.unwrap();
    let start = t.elapsed();
    let request = ExecRequest::new(["true"]);
    let t = Instant::now();
    for _ in 0..runs {
        let outcome = env.exec(&request, &mut |_| {}).await.unwrap();
        assert!(outcome.success());
    }
    let exec = t.elapsed() / runs;
    env.stop().await.unwrap();
    (start, exec)
}
