//! Both providers against the same test bodies: a real podman container from
//! a locally imported busybox image, and a host workspace run as `nobody`.
//! They need root (rootful podman; switching users) and say so loudly
//! through `ferry_testkit::skip` when they cannot run.

use std::collections::BTreeMap;
use std::os::unix::fs::chown;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ferry_container::{
    EnvSpec, Environment, Error, ExecOutcome, ExecRequest, OutputLine, Podman, Provider, Stream, Workspaces,
};

/// `nobody` on Debian and in the busybox image alike.
const NOBODY: u32 = 65534;

struct Fixture {
    provider: Box<dyn Provider>,
    image: String,
    dir: tempfile::TempDir,
    /// What was started, removed when the test ends even if it failed.
    started: std::sync::Mutex<Vec<String>>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for name in self.started.lock().unwrap().drain(..) {
            if self.image == "not-used" {
                ferry_container::procs::kill_marked(ferry_container::ENV_ID_VAR, &name);
            } else {
                let _ = std::process::Command::new("podman")
                    .args(["rm", "--force", "--ignore", "--time", "0", &name])
                    .output();
            }
        }
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(1) == 0
}

fn container() -> Option<Fixture> {
    if !ferry_testkit::podman_available() {
        return None;
    }
    let image = ferry_testkit::busybox_image();
    Some(Fixture {
        provider: Box::new(Podman::default()),
        image,
        dir: tempfile::tempdir().unwrap(),
        started: Default::default(),
    })
}

fn workspace() -> Option<Fixture> {
    if !is_root() {
        ferry_testkit::skip("workspace tests switch to user nobody, which needs root");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let provider = Workspaces::new(dir.path().join("state"), "nobody");
    Some(Fixture { provider: Box::new(provider), image: "not-used".into(), dir, started: Default::default() })
}

impl Fixture {
    /// A fresh workspace directory owned by nobody and a spec running as nobody.
    fn spec(&self, test: &str) -> EnvSpec {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!("ferry-test-{test}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let workspace = self.dir.path().join(&name);
        std::fs::create_dir(&workspace).unwrap();
        chown(&workspace, Some(NOBODY), Some(NOBODY)).unwrap();
        self.started.lock().unwrap().push(name.clone());
        let mut spec = EnvSpec::new(name, self.image.clone(), workspace);
        spec.user = Some("nobody".into());
        spec
    }

    async fn start(&self, spec: &EnvSpec) -> Box<dyn Environment> {
        self.provider.start(spec).await.unwrap_or_else(|e| panic!("start {}: {e}", spec.name))
    }
}

async fn run(env: &dyn Environment, request: ExecRequest) -> (ExecOutcome, Vec<OutputLine>) {
    let mut lines = Vec::new();
    let outcome = env.exec(&request, &mut |line| lines.push(line)).await.unwrap_or_else(|e| panic!("exec: {e}"));
    (outcome, lines)
}

fn out(text: &str) -> OutputLine {
    OutputLine { stream: Stream::Stdout, text: text.into() }
}

fn err(text: &str) -> OutputLine {
    OutputLine { stream: Stream::Stderr, text: text.into() }
}

/// A number no other test uses, as a `sleep` argument to find the process by.
fn token() -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    format!("{}{:03}", 1_000_000 + std::process::id() % 1_000_000, SEQ.fetch_add(1, Ordering::Relaxed))
}

/// Host pids of `sleep <token>` processes (container processes included),
/// read from `/proc` independently of the crate's own scan.
fn sleeping(token: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if args.first().is_some_and(|a| a.ends_with(b"sleep")) && args.get(1) == Some(&token.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// One test per provider for each body.
macro_rules! both {
    ($($body:ident),* $(,)?) => {$(
        mod $body {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn container() {
                let Some(fixture) = super::container() else { return };
                super::$body(&fixture).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn workspace() {
                let Some(fixture) = super::workspace() else { return };
                super::$body(&fixture).await;
            }
        }
    )*};
}

both!(
    echo_and_failure,
    env_and_workdir,
    workspace_files_shared_with_host,
    timeout_kills,
    stop_kills_background,
    labels_listed
);

async fn echo_and_failure(f: &Fixture) {
    let spec = f.spec("echo");
    let env = f.start(&spec).await;
    assert_eq!(
        run(&*env, ExecRequest::new(["echo", "hello", "world"])).await,
        (ExecOutcome::Exited(0), vec![out("hello world")])
    );
    let (outcome, lines) = run(&*env, ExecRequest::shell("echo to-out; echo to-err >&2; exit 3")).await;
    assert_eq!(outcome, ExecOutcome::Exited(3));
    assert_eq!(lines.iter().filter(|l| l.stream == Stream::Stdout).collect::<Vec<_>>(), [&out("to-out")]);
    assert_eq!(lines.iter().filter(|l| l.stream == Stream::Stderr).collect::<Vec<_>>(), [&err("to-err")]);
    let (outcome, lines) = run(&*env, ExecRequest::new(["id", "-u"])).await;
    assert_eq!((outcome, lines), (ExecOutcome::Exited(0), vec![out("65534")]), "commands run as nobody");
    let (outcome, _) = run(&*env, ExecRequest::new(["id", "-u"]).user("root")).await;
    assert!(outcome.success());
    let (outcome, lines) = run(&*env, ExecRequest::new(["/no/such/program"])).await;
    assert_eq!(outcome, ExecOutcome::Exited(127), "a missing program exits 127, as in a shell");
    assert!(lines.iter().any(|l| l.stream == Stream::Stderr && l.text.contains("/no/such/program")), "{lines:?}");
    env.stop().await.unwrap();
}

async fn env_and_workdir(f: &Fixture) {
    let mut spec = f.spec("env");
    spec.env.push(("FROM_SPEC".into(), "spec value".into()));
    spec.env.push(("MULTI_LINE".into(), "line one\nline two".into()));
    let env = f.start(&spec).await;
    let ws = env.workspace_path().to_string_lossy().into_owned();
    let request = ExecRequest::shell(r#"echo "$FROM_SPEC/$FROM_EXEC"; pwd; echo "$MULTI_LINE" | wc -l"#)
        .env("FROM_EXEC", "exec value");
    let (outcome, lines) = run(&*env, request).await;
    assert_eq!(outcome, ExecOutcome::Exited(0));
    let texts: Vec<&str> = lines.iter().map(|l| l.text.trim()).collect();
    assert_eq!(texts, ["spec value/exec value", ws.as_str(), "2"]);
    let sub = spec.workspace.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let (_, lines) = run(&*env, ExecRequest::new(["pwd"]).workdir("sub")).await;
    assert_eq!(lines, [out(&format!("{ws}/sub"))]);
    env.stop().await.unwrap();
}

async fn workspace_files_shared_with_host(f: &Fixture) {
    let spec = f.spec("files");
    let env = f.start(&spec).await;
    std::fs::write(spec.workspace.join("in.txt"), "from the host\n").unwrap();
    let (outcome, lines) = run(&*env, ExecRequest::shell("cat in.txt; echo from the command > out.txt")).await;
    assert_eq!((outcome, lines), (ExecOutcome::Exited(0), vec![out("from the host")]));
    assert_eq!(std::fs::read_to_string(spec.workspace.join("out.txt")).unwrap(), "from the command\n");
    env.stop().await.unwrap();
}

async fn timeout_kills(f: &Fixture) {
    let spec = f.spec("timeout");
    let env = f.start(&spec).await;
    let token = token();
    let started = Instant::now();
    let request =
        ExecRequest::shell(format!("echo started; sleep {token}; echo never")).timeout(Duration::from_secs(1));
    let (outcome, lines) = run(&*env, request).await;
    let took = started.elapsed();
    assert_eq!(outcome, ExecOutcome::TimedOut);
    assert_eq!(lines, [out("started")]);
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(sleeping(&token), Vec::<u32>::new(), "the timed-out command's process is gone when exec returns");
    // The environment still works after a timeout.
    assert!(run(&*env, ExecRequest::new(["true"])).await.0.success());
    env.stop().await.unwrap();
}

async fn stop_kills_background(f: &Fixture) {
    let spec = f.spec("stop");
    let env = f.start(&spec).await;
    let (plain, detached) = (token(), token());
    // `plain` keeps the command's output open: the exec still ends when the
    // command exits (after a short grace for its output), not when the
    // background process does.
    let script = format!("echo started; sleep {plain} & setsid sleep {detached} >/dev/null 2>&1 &");
    let started = Instant::now();
    let (outcome, lines) = run(&*env, ExecRequest::shell(script)).await;
    assert_eq!((outcome, lines), (ExecOutcome::Exited(0), vec![out("started")]));
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    ferry_testkit::wait_for("the background processes", Duration::from_secs(10), || {
        (sleeping(&plain).len() == 1 && sleeping(&detached).len() == 1).then_some(())
    });
    env.stop().await.unwrap();
    assert_eq!(sleeping(&plain), Vec::<u32>::new(), "stop killed the background process");
    assert_eq!(sleeping(&detached), Vec::<u32>::new(), "stop killed the process in its own session");
    env.stop().await.expect("a second stop is harmless");
    let after = env.exec(&ExecRequest::new(["true"]), &mut |_| {}).await;
    assert!(after.is_err(), "exec after stop fails: {after:?}");
}

async fn labels_listed(f: &Fixture) {
    let mut spec = f.spec("labels");
    let unique = spec.name.clone();
    spec.labels =
        BTreeMap::from([("ferry.test".to_string(), unique.clone()), ("role".to_string(), "build".to_string())]);
    let env = f.start(&spec).await;
    let mine = BTreeMap::from([("ferry.test".to_string(), unique.clone())]);
    let listed = f.provider.list(&mine).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].name, spec.name);
    assert_eq!(listed[0].labels, spec.labels);
    assert!(listed[0].running);
    assert_eq!(&listed[0], env.info());
    let other = BTreeMap::from([("ferry.test".to_string(), format!("{unique}-other"))]);
    assert!(f.provider.list(&other).await.unwrap().is_empty());
    // A restarted agent removes what it finds by label.
    f.provider.remove(&listed[0].name).await.unwrap();
    assert!(f.provider.list(&mine).await.unwrap().is_empty());
    env.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_with_a_missing_image_says_how_to_import_one() {
    let Some(f) = container() else { return };
    let mut spec = f.spec("noimage");
    spec.image = "localhost/ferry-no-such-image:1".into();
    let e = f.provider.start(&spec).await.err().expect("no such image");
    assert!(matches!(e, Error::ImageMissing { .. }), "{e:?}");
    assert!(e.to_string().contains("podman import"), "{e}");
    assert!(!Podman::default().image_exists(&spec.image).await.unwrap());
    assert!(Podman::default().image_exists(&f.image).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_podman_is_a_clear_error() {
    let e = Podman::new("/nonexistent/podman").check().await.unwrap_err();
    assert!(matches!(e, Error::EngineMissing(_)), "{e:?}");
    assert!(e.to_string().contains("apt-get install podman"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_with_an_unknown_user_is_a_clear_error() {
    let Some(f) = workspace() else { return };
    let mut spec = f.spec("nouser");
    spec.user = Some("ferry-no-such-user".into());
    let e = f.provider.start(&spec).await.err().expect("no such user");
    assert!(e.to_string().contains("ferry-no-such-user does not exist"), "{e}");
}

/// Variable values reach podman through its environment, never its command
/// line, where any user could read them (`ps`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_env_values_are_not_on_command_lines() {
    let Some(f) = container() else { return };
    let mut spec = f.spec("secret");
    let (spec_secret, exec_secret) = (format!("spec-secret-{}", token()), format!("exec-secret-{}", token()));
    spec.env.push(("SPEC_SECRET".into(), spec_secret.clone()));
    let env = f.start(&spec).await;
    let token = token();
    let request = ExecRequest::shell(format!(r#"echo "$SPEC_SECRET $EXEC_SECRET"; sleep {token}"#))
        .env("EXEC_SECRET", exec_secret.clone())
        .timeout(Duration::from_secs(20));
    let mut lines = Vec::new();
    let mut collect = |line| lines.push(line);
    let exec = env.exec(&request, &mut collect);
    let watch = async {
        let deadline = Instant::now() + Duration::from_secs(15);
        while sleeping(&token).is_empty() {
            assert!(Instant::now() < deadline, "the command did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let exposed = command_lines_containing(&[&spec_secret, &exec_secret]);
        ferry_container::procs::kill_marked(ferry_container::ENV_ID_VAR, &spec.name);
        exposed
    };
    let (outcome, exposed) = tokio::join!(exec, watch);
    assert_eq!(exposed, Vec::<String>::new(), "values on a command line");
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(lines.first(), Some(&out(&format!("{spec_secret} {exec_secret}"))));
    env.stop().await.unwrap();
}

fn command_lines_containing(needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if needles.iter().any(|n| text.contains(n)) {
            found.push(text);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_network_is_loopback_only_unless_asked() {
    let Some(f) = container() else { return };
    let spec = f.spec("nonet");
    let env = f.start(&spec).await;
    assert_eq!(interfaces(&*env).await, ["lo"]);
    env.stop().await.unwrap();
    let mut spec = f.spec("hostnet");
    spec.network = ferry_container::Network::Host;
    let env = f.start(&spec).await;
    assert!(interfaces(&*env).await.len() > 1, "the host's interfaces");
    env.stop().await.unwrap();
}

async fn interfaces(env: &dyn Environment) -> Vec<String> {
    let request = ExecRequest::shell("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
    run(env, request).await.1.into_iter().map(|l| l.text).collect()
}
