//! The runner end to end, in a real podman container (the imported busybox
//! image) and in a host workspace run as `nobody`. Both need root and say so
//! through `ferry_testkit::skip` when they cannot run.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ferry_build::{BuildRequest, BuildResult, run_build_stoppable};
use ferry_buildspec::{BuildStatus, Phase, PhaseStatus};
use ferry_container::{Podman, Provider, Workspaces};

const NOBODY: u32 = 65534;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Container,
    Workspace,
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(1) == 0
}

/// The modes that can run here (each test runs its body in all of them).
fn modes() -> Vec<Mode> {
    if !is_root() {
        ferry_testkit::skip("build runner tests switch users and run rootful podman: run them as root");
        return Vec::new();
    }
    let mut modes = vec![Mode::Workspace];
    if ferry_testkit::podman_available() {
        modes.insert(0, Mode::Container);
    }
    modes
}

struct Build {
    result: BuildResult,
    log: Vec<String>,
    /// Keeps the workspace and the output until the test ends.
    dir: tempfile::TempDir,
    name: String,
}

impl Build {
    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn phase(&self, phase: Phase) -> Option<PhaseStatus> {
        self.result.phases.iter().find(|p| p.phase == phase).map(|p| p.status)
    }

    fn has_line(&self, line: &str) -> bool {
        self.log.iter().any(|l| l == line)
    }

    fn dump(&self) -> String {
        format!("status {:?}\nphases {:#?}\nlog:\n{}", self.result.status, self.result.phases, self.log.join("\n"))
    }
}

fn chown_tree(path: &Path, uid: u32) {
    chown(path, Some(uid), Some(uid)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid);
        }
    }
}

/// Collects the log and stops the build when a line equals `stop_on`.
struct StopOn {
    lines: Vec<String>,
    stop_on: Option<String>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl ferry_build::LogSink for StopOn {
    fn line(&mut self, line: &str) {
        if self.stop_on.as_deref() == Some(line) {
            let _ = self.stop.send(true);
        }
        self.lines.push(line.to_owned());
    }
}

/// Runs `buildspec` over a source holding `files`, with `tweak` applied to the request.
fn build(mode: Mode, buildspec: &str, files: &[(&str, &str)], tweak: impl FnOnce(&mut BuildRequest)) -> Build {
    build_stopped_on(mode, buildspec, files, tweak, None)
}

/// [`build`], stopped when the log shows the line `stop_on`.
fn build_stopped_on(
    mode: Mode,
    buildspec: &str,
    files: &[(&str, &str)],
    tweak: impl FnOnce(&mut BuildRequest),
    stop_on: Option<&str>,
) -> Build {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let dir = tempfile::tempdir().unwrap();
    // Traversable by the build's users, listable by nobody else.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let workspace = dir.path().join("ws");
    let src = workspace.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for (path, text) in files {
        let path = src.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::fs::set_permissions(&workspace, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o777)).unwrap();
    let spec = ferry_buildspec::parse("buildspec.yml", buildspec).unwrap_or_else(|e| panic!("{e}"));
    let name = format!("ferry-build-test-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
    let mut request = BuildRequest::new(name, spec, &workspace);
    request.output_dir = dir.path().join("out");
    request.builtins.build_id = "test:1".into();
    request.builtins.build_number = 1;
    request.builtins.initiator = "tests".into();
    let provider: Box<dyn Provider> = match mode {
        Mode::Container => {
            request.image = ferry_testkit::busybox_image();
            Box::new(Podman::default())
        }
        Mode::Workspace => {
            chown_tree(&workspace, NOBODY);
            request.image = "not-used".into();
            Box::new(Workspaces::new(dir.path().join("state"), "nobody"))
        }
    };
    tweak(&mut request);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut sink = StopOn { lines: Vec::new(), stop_on: stop_on.map(str::to_owned), stop };
    let result = runtime.block_on(run_build_stoppable(provider.as_ref(), &request, &mut sink, stop_rx));
    let log = sink.lines;
    eprintln!(
        "{mode:?}: {} in {:?}: {}",
        result.status.name(),
        result.phases.last().map(|p| p.end_ms - result.phases[0].start_ms),
        result.environment
    );
    Build { result, log, dir, name: request.name }
}

#[test]
fn variables_directory_and_functions_persist_across_commands_and_phases() {
    let spec = r#"
version: 0.2
phases:
  install:
    commands:
      - export GREETING=hello
      - LOCAL_ONLY=kept
      - greet() { echo "greet $1"; }
      - mkdir -p sub && cd sub
  pre_build:
    commands:
      - echo "A:$GREETING:$LOCAL_ONLY:$(basename "$(pwd)")"
  build:
    commands:
      - greet world
      - echo "B:$CODEBUILD_SRC_DIR:$CODEBUILD_BUILD_ID:$CODEBUILD_BUILD_SUCCEEDING"
"#;
    for mode in modes() {
        let b = build(mode, spec, &[], |_| {});
        assert_eq!(b.result.status, BuildStatus::Succeeded, "{mode:?}: {}", b.dump());
        assert!(b.has_line("A:hello:kept:sub"), "{mode:?}: {}", b.dump());
        assert!(b.has_line("greet world"), "{mode:?}: {}", b.dump());
        let src = match mode {
            Mode::Container => "/codebuild/output/src".to_owned(),
            Mode::Workspace => b.dir.path().join("ws/src").display().to_string(),
        };
        assert!(b.has_line(&format!("B:{src}:test:1:1")), "{mode:?}: {}", b.dump());
        assert!(b.result.environment.contains(if mode == Mode::Container { "podman" } else { "workspace" }));
    }
}

#[test]
fn a_failing_build_still_runs_post_build_with_succeeding_zero() {
    let spec = r#"
version: 0.2
phases:
  build:
    commands:
      - echo before
      - "false"
      - echo never-runs
  post_build:
    commands:
      - echo "post:$CODEBUILD_BUILD_SUCCEEDING"
artifacts:
  files: ['**/*']
"#;
    for mode in modes() {
        let b = build(mode, spec, &[("a.txt", "a")], |_| {});
        assert_eq!(b.result.status, BuildStatus::Failed, "{}", b.dump());
        assert!(b.has_line("before") && b.has_line("post:0"), "{}", b.dump());
        assert!(!b.has_line("never-runs"), "{}", b.dump());
        assert_eq!(b.phase(Phase::Build), Some(PhaseStatus::Failed));
        assert_eq!(b.phase(Phase::PostBuild), Some(PhaseStatus::Succeeded));
        // "The UPLOAD_ARTIFACTS phase is always attempted, even if the BUILD phase fails".
        assert_eq!(b.phase(Phase::UploadArtifacts), Some(PhaseStatus::Succeeded));
        let build_phase = b.result.phases.iter().find(|p| p.phase == Phase::Build).unwrap();
        assert!(
            build_phase.message.contains("false") && build_phase.message.contains("exit status 1"),
            "{build_phase:?}"
        );
        assert!(b.log.iter().any(|l| l.contains("Command did not exit successfully false exit status 1")));
    }
}

#[test]
fn a_failing_install_skips_the_other_command_phases_and_finally_always_runs() {
    let spec = r#"
version: 0.2
phases:
  install:
    commands:
      - exit 3
    finally:
      - echo "finally:$CODEBUILD_BUILD_SUCCEEDING"
  pre_build:
    commands:
      - echo pre-build-ran
  build:
    commands:
      - echo build-ran
  post_build:
    commands:
      - echo post-build-ran
"#;
    for mode in modes() {
        let b = build(mode, spec, &[], |_| {});
        assert_eq!(b.result.status, BuildStatus::Failed, "{}", b.dump());
        assert!(b.has_line("finally:0"), "{}", b.dump());
        for never in ["pre-build-ran", "build-ran", "post-build-ran"] {
            assert!(!b.has_line(never), "{never}: {}", b.dump());
        }
        assert_eq!(b.phase(Phase::Install), Some(PhaseStatus::Failed));
        assert_eq!(b.phase(Phase::Build), None);
        assert_eq!(b.phase(Phase::Finalizing), Some(PhaseStatus::Succeeded));
    }
}

#[test]
fn on_failure_continue_goes_on_and_a_failing_finally_fails_the_phase() {
    let spec = r#"
version: 0.2
phases:
  install:
    on-failure: CONTINUE
    commands:
      - "false"
  pre_build:
    commands:
      - echo "pre:$CODEBUILD_BUILD_SUCCEEDING"
  build:
    commands:
      - echo build-ok
    finally:
      - exit 4
      - echo finally-never
  post_build:
    commands:
      - echo "post-ran:$CODEBUILD_BUILD_ID"
"#;
    let mode = Mode::Workspace;
    if modes().is_empty() {
        return;
    }
    let b = build(mode, spec, &[], |_| {});
    assert_eq!(b.result.status, BuildStatus::Failed, "{}", b.dump());
    assert!(b.has_line("pre:0") && b.has_line("build-ok"), "{}", b.dump());
    // `exit 4` ended the shell; post_build ran in a new one, which has the
    // build's variables again.
    assert!(b.has_line("post-ran:test:1"), "{}", b.dump());
    assert!(!b.has_line("finally-never"), "{}", b.dump());
    assert_eq!(b.phase(Phase::Install), Some(PhaseStatus::Failed));
    assert_eq!(b.phase(Phase::PreBuild), Some(PhaseStatus::Succeeded));
    assert_eq!(b.phase(Phase::Build), Some(PhaseStatus::Failed));
}

#[test]
fn run_as_switches_user_per_phase_and_keeps_exported_variables_and_directory() {
    if !is_root() {
        ferry_testkit::skip("run-as needs root");
        return;
    }
    let spec = r#"
version: 0.2
phases:
  install:
    commands:
      - export CARRIED=yes
      - mkdir -p deeper && cd deeper
      - echo "install:$(id -un)"
  build:
    run-as: daemon
    commands:
      - echo "build:$(id -un):$CARRIED:$(basename "$(pwd)")"
  post_build:
    commands:
      - echo "post:$(id -un)"
"#;
    let b = build(Mode::Workspace, spec, &[], |_| {});
    assert_eq!(b.result.status, BuildStatus::Succeeded, "{}", b.dump());
    assert!(b.has_line("install:nobody"), "{}", b.dump());
    assert!(b.has_line("build:daemon:yes:deeper"), "{}", b.dump());
    assert!(b.has_line("post:nobody"), "{}", b.dump());
}

#[test]
fn run_as_in_a_container_runs_the_phase_as_that_user_of_the_image() {
    if !modes().contains(&Mode::Container) {
        return;
    }
    let spec = r#"
version: 0.2
phases:
  install:
    commands:
      - export CARRIED=yes
      - echo "install:$(id -un)"
  build:
    run-as: nobody
    commands:
      - echo "build:$(id -un):$CARRIED"
"#;
    let b = build(Mode::Container, spec, &[], |_| {});
    assert_eq!(b.result.status, BuildStatus::Succeeded, "{}", b.dump());
    assert!(b.has_line("install:root") && b.has_line("build:nobody:yes"), "{}", b.dump());
}

#[test]
fn secrets_are_masked_in_every_line() {
    let spec = r#"
version: 0.2
phases:
  build:
    commands:
      - echo "token is $API_TOKEN"
      - printf 'no newline %s' "$API_TOKEN"
      - echo "$API_TOKEN" >&2
      - echo "literal s3cr3t-Value-42 in a command"
"#;
    for mode in modes() {
        let b = build(mode, spec, &[], |r| {
            r.variables.push(("API_TOKEN".into(), "s3cr3t-Value-42".into()));
            r.secrets.push("s3cr3t-Value-42".into());
        });
        assert_eq!(b.result.status, BuildStatus::Succeeded, "{}", b.dump());
        assert!(b.log.iter().all(|l| !l.contains("s3cr3t-Value-42")), "{}", b.dump());
        assert!(b.has_line("token is ***"), "{}", b.dump());
        assert!(b.has_line("no newline ***"), "{}", b.dump());
        assert!(b.has_line("***"), "{}", b.dump());
        assert!(b.log.iter().any(|l| l.ends_with("Running command echo \"literal *** in a command\"")), "{}", b.dump());
    }
}

#[test]
fn exported_variables_are_read_at_the_end() {
    let spec = r#"
version: 0.2
env:
  exported-variables:
    - VERSION
    - NEVER_SET
phases:
  build:
    commands:
      - export VERSION=1.2.3
  post_build:
    commands:
      - VERSION="$VERSION-final"
"#;
    for mode in modes() {
        let b = build(mode, spec, &[], |_| {});
        assert_eq!(b.result.status, BuildStatus::Succeeded, "{}", b.dump());
        assert_eq!(b.result.exported_variables, vec![("VERSION".to_owned(), "1.2.3-final".to_owned())]);
    }
}

fn unzip(zip: &Path) -> Vec<(String, String)> {
    let dest = tempfile::tempdir().unwrap();
    let target = dest.path().join("x");
    ferry_bundle::unpack(zip, ferry_bundle::BundleType::Zip, &target, &ferry_bundle::Limits::default()).unwrap();
    let mut files = Vec::new();
    for entry in ferry_buildspec::walk(&target).unwrap() {
        if entry.kind == ferry_buildspec::EntryKind::File {
            files.push((entry.path.clone(), std::fs::read_to_string(target.join(&entry.path)).unwrap()));
        }
    }
    files.sort();
    files
}

#[test]
fn artifacts_are_selected_and_zipped_and_a_junit_report_is_parsed() {
    let spec = r#"
version: 0.2
phases:
  build:
    commands:
      - mkdir -p dist/lib dist/tmp
      - echo app > dist/app.txt
      - echo lib > dist/lib/lib.txt
      - echo scratch > dist/tmp/x.tmp
      - mkdir -p reports
      - |
        cat > reports/junit.xml <<'EOF'
        <testsuite name="unit" tests="3">
          <testcase classname="t" name="passes" time="0.5"/>
          <testcase classname="t" name="fails" time="0.1"><failure message="boom">trace</failure></testcase>
          <testcase classname="t" name="skipped"><skipped/></testcase>
        </testsuite>
        EOF
artifacts:
  files: ['**/*']
  base-directory: dist
  exclude-paths: ['**/*.tmp']
  name: web
  secondary-artifacts:
    flat:
      files: ['dist/**/*.txt']
      discard-paths: yes
reports:
  unit-tests:
    files: ['**/*.xml']
    base-directory: reports
    file-format: JUNITXML
"#;
    for mode in modes() {
        let b = build(mode, spec, &[], |_| {});
        assert_eq!(b.result.status, BuildStatus::Succeeded, "{}", b.dump());
        assert_eq!(b.result.artifacts.len(), 2);
        let web = &b.result.artifacts[0];
        assert_eq!(web.path, b.out().join("web.zip"));
        assert_eq!(web.files, vec!["app.txt", "lib/lib.txt"]);
        assert_eq!(web.size, std::fs::metadata(&web.path).unwrap().len());
        assert_eq!(web.sha256.len(), 64);
        assert_eq!(
            unzip(&web.path),
            vec![("app.txt".to_owned(), "app\n".to_owned()), ("lib/lib.txt".to_owned(), "lib\n".to_owned())]
        );
        let flat = &b.result.artifacts[1];
        assert_eq!(flat.identifier.as_deref(), Some("flat"));
        assert_eq!(flat.path, b.out().join("flat.zip"));
        assert_eq!(unzip(&flat.path).into_iter().map(|f| f.0).collect::<Vec<_>>(), vec!["app.txt", "lib.txt"]);
        let report = &b.result.reports[0];
        assert_eq!(report.name, "unit-tests");
        assert_eq!(report.files, vec!["reports/junit.xml"]);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!((report.summary.total, report.summary.succeeded, report.summary.failed), (3, 1, 1));
        assert_eq!(report.summary.skipped, 1);
    }
}

#[test]
fn an_artifact_that_matches_nothing_fails_the_build() {
    let spec = r#"
version: 0.2
phases:
  build:
    commands:
      - echo nothing
artifacts:
  files: ['dist/**/*']
"#;
    if modes().is_empty() {
        return;
    }
    let b = build(Mode::Workspace, spec, &[], |_| {});
    assert_eq!(b.result.status, BuildStatus::Failed, "{}", b.dump());
    let upload = b.result.phases.iter().find(|p| p.phase == Phase::UploadArtifacts).unwrap();
    assert_eq!(upload.status, PhaseStatus::Failed);
    assert!(upload.message.contains("no matching artifact paths found"), "{upload:?}");
}

#[test]
fn the_build_timeout_kills_everything_and_skips_the_rest() {
    let spec = r#"
version: 0.2
phases:
  build:
    commands:
      - echo started
      - sleep 1000 & sleep 1000
  post_build:
    commands:
      - echo post-ran
"#;
    for mode in modes() {
        let started = Instant::now();
        let b = build(mode, spec, &[], |r| r.timeout = Duration::from_secs(3));
        let took = started.elapsed();
        assert_eq!(b.result.status, BuildStatus::TimedOut, "{}", b.dump());
        assert!(took < Duration::from_secs(30), "took {took:?}");
        assert!(b.has_line("started") && !b.has_line("post-ran"), "{}", b.dump());
        assert_eq!(b.phase(Phase::Build), Some(PhaseStatus::TimedOut));
        assert_eq!(b.phase(Phase::PostBuild), None);
        // Nothing of the build is left running (the background sleep included).
        let left = ferry_container::procs::marked(ferry_container::ENV_ID_VAR, &b.name);
        assert!(left.is_empty(), "left running: {left:?}");
    }
}

#[test]
fn a_stopped_build_kills_everything_and_still_reads_reports() {
    let spec = r#"
version: 0.2
phases:
  build:
    commands:
      - mkdir -p reports && printf '<testsuite name="s"><testcase classname="c" name="ran"/></testsuite>' > reports/r.xml
      - (sleep 1000; echo never) & echo started; sleep 1000
  post_build:
    commands:
      - echo post-ran
reports:
  early:
    files: ['reports/*.xml']
"#;
    for mode in modes() {
        let started = Instant::now();
        let b = build_stopped_on(mode, spec, &[], |_| {}, Some("started"));
        assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
        assert_eq!(b.result.status, BuildStatus::Stopped, "{}", b.dump());
        assert_eq!(b.phase(Phase::Build), Some(PhaseStatus::Stopped));
        assert_eq!(b.phase(Phase::PostBuild), None);
        assert!(!b.has_line("post-ran"), "{}", b.dump());
        assert_eq!(b.result.reports[0].summary.total, 1, "{}", b.dump());
        let left = ferry_container::procs::marked(ferry_container::ENV_ID_VAR, &b.name);
        assert!(left.is_empty(), "left running: {left:?}");
    }
}

#[test]
fn bash_as_the_shell_with_a_run_as_hand_off() {
    if !is_root() || !Path::new("/bin/bash").exists() {
        ferry_testkit::skip("needs root and /bin/bash");
        return;
    }
    let spec = r#"
version: 0.2
env:
  shell: bash
phases:
  install:
    commands:
      - export WITH_SPACES="a b  'c'"
      - if [[ -n "$BASH_VERSION" ]]; then echo "bash:yes"; fi
  build:
    run-as: daemon
    commands:
      - echo "carried:$WITH_SPACES:$(id -un)"
"#;
    let b = build(Mode::Workspace, spec, &[], |_| {});
    assert_eq!(b.result.status, BuildStatus::Succeeded, "{}", b.dump());
    assert!(b.has_line("bash:yes"), "{}", b.dump());
    assert!(b.has_line("carried:a b  'c':daemon"), "{}", b.dump());
}
