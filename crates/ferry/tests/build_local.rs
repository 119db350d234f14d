//! `ferry build local` as a user runs it, on examples/hello-build: in a
//! workspace as nobody, and in a podman container of the busybox test image.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello-build")
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn ferry_build_local(artifacts: &Path, extra: &[&str]) -> (Output, String) {
    let mut cmd = Command::new(FERRY);
    cmd.args(["build", "local", "--source"]).arg(example()).arg("--artifacts").arg(artifacts).args(extra);
    let out = cmd.output().expect("run ferry");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, text)
}

fn unzip_names(zip: &Path) -> Vec<String> {
    let dest = tempfile::tempdir().unwrap();
    let target = dest.path().join("x");
    ferry_bundle::unpack(zip, ferry_bundle::BundleType::Zip, &target, &ferry_bundle::Limits::default()).unwrap();
    let mut names: Vec<String> =
        std::fs::read_dir(&target).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn check_success(text: &str, artifacts: &Path) {
    assert!(text.contains("PASS greets"), "{text}");
    assert!(text.contains("Running command sh test/run-tests.sh"), "{text}");
    for phase in ["INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD", "UPLOAD_ARTIFACTS"] {
        assert!(
            text.lines().any(|l| l.starts_with(phase) && l.split_whitespace().nth(1) == Some("SUCCEEDED")),
            "{phase} in the table: {text}"
        );
    }
    assert!(text.contains("Report hello-tests (JUNITXML): 2 cases, 2 succeeded, 0 failed"), "{text}");
    assert!(text.contains("Exported APP_VERSION=1.0.1"), "{text}");
    assert!(text.contains("version 1.0.1"), "{text}");
    assert!(text.trim_end().ends_with("Build SUCCEEDED"), "{text}");
    assert_eq!(unzip_names(&artifacts.join("hello.zip")), vec!["VERSION", "hello.sh"]);
}

#[test]
fn builds_the_example_in_a_workspace_and_fails_when_its_tests_fail() {
    if !is_root() {
        ferry_testkit::skip("ferry build local --no-container switches to nobody, which needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("out");
    let (out, text) = ferry_build_local(&artifacts, &["--no-container"]);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Building in a workspace on this host (--no-container)."), "{text}");
    assert!(text.contains("workspace on the host as an unprivileged user"), "{text}");
    check_success(&text, &artifacts);
    // The source is copied, never changed.
    assert!(!example().join("reports").exists() && !example().join("dist").exists());

    // A failing test: the build fails (exit 1), post_build still runs, the
    // report shows the failure.
    let failing = dir.path().join("out2");
    let (out, text) = ferry_build_local(&failing, &["--no-container", "--env", "GREETING=bye"]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL greets: expected 'hello, world', got 'bye, world'"), "{text}");
    assert!(text.contains("tests done, succeeding=0"), "{text}");
    assert!(text.contains("Report hello-tests (JUNITXML): 2 cases, 1 succeeded, 1 failed"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("BUILD ") && l.contains("FAILED")), "{text}");
    assert!(text.trim_end().ends_with("Build FAILED"), "{text}");
}

#[test]
fn builds_the_example_in_a_podman_container() {
    if !ferry_testkit::podman_available() {
        return;
    }
    let image = ferry_testkit::busybox_image();
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("out");
    let (out, text) = ferry_build_local(&artifacts, &["--image", &image]);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("container from image {image} (podman)")), "{text}");
    assert!(text.contains("building hello in /codebuild/output/src"), "{text}");
    check_success(&text, &artifacts);
}

#[test]
fn a_bad_buildspec_is_refused_with_its_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("buildspec.yml"),
        "version: 0.2\nphases:\n  build:\n    on-failure: STOP\n    commands: [true]\n",
    )
    .unwrap();
    let out = Command::new(FERRY)
        .args(["build", "local", "--no-container", "--source"])
        .arg(dir.path())
        .output()
        .expect("run ferry");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("buildspec.yml: phases.build.on-failure"), "{stderr}");
}

#[test]
fn ctrl_c_stops_the_build_and_kills_what_it_started() {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};
    if !is_root() {
        ferry_testkit::skip("ferry build local --no-container switches to nobody, which needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("src");
    std::fs::create_dir(&source).unwrap();
    std::fs::write(
        source.join("buildspec.yml"),
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo started; sleep 1000\n  post_build:\n    commands:\n      - echo post-ran\n",
    )
    .unwrap();
    let mut child = Command::new(FERRY)
        .args(["build", "local", "--no-container", "--source"])
        .arg(&source)
        .arg("--artifacts")
        .arg(dir.path().join("out"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run ferry");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let line =
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("no 'started' line in time");
        seen.push(line.clone());
        if line == "started" {
            break;
        }
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = ferry_testkit::wait_for("ferry build local to end after SIGINT", Duration::from_secs(60), || {
        child.try_wait().unwrap()
    });
    // The rest of the output, until ferry's stdout closes.
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        seen.push(line);
    }
    let text = seen.join("\n");
    // Nothing of the build's environment is left (its name carries ferry's pid).
    let marker = format!("FERRY_ENVIRONMENT_ID=ferry-build-local-{}-", child.id());
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v.starts_with(marker.as_bytes())))
        })
        .map(|pid| pid.to_string())
        .collect();
    assert!(left.is_empty(), "left running: {left:?}");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.lines().any(|l| l.starts_with("BUILD ") && l.contains("STOPPED")), "{text}");
    assert!(!text.contains("post-ran"), "{text}");
    assert!(text.trim_end().ends_with("Build STOPPED"), "{text}");
}
