//! Black-box tests of the hook runner: real scripts written to a tempdir.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;

use ferry_appspec::HookScript;
use ferry_host::diagnostics::LOG_TAIL_LIMIT;
use ferry_host::hooks::{HookRunConfig, LogTail, MAX_LINE_BYTES, run_scripts};
use ferry_host::scripts_log::ScriptsLog;
use ferry_host::{Diagnostics, ErrorCode};
use tokio::time::Instant;

const CONFIG: HookRunConfig =
    HookRunConfig { kill_grace: Duration::from_millis(300), outputs_grace: Duration::from_millis(300) };

/// A revision directory with scripts, and a `scripts.log` beside it.
struct Fixture {
    dir: tempfile::TempDir,
    log: ScriptsLog,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("archive")).unwrap();
        let log = ScriptsLog::open(&dir.path().join("logs/scripts.log")).unwrap();
        Self { dir, log }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("archive")
    }

    /// A directory for marker files written by scripts.
    fn out(&self) -> PathBuf {
        let out = self.dir.path().join("out");
        fs::create_dir_all(&out).unwrap();
        out
    }

    /// Writes an executable `#!/bin/sh` script at `location`.
    fn script(&self, location: &str, body: &str) {
        self.raw_script(location, &format!("#!/bin/sh\n{body}\n"), 0o755);
    }

    fn raw_script(&self, location: &str, content: &str, mode: u32) {
        let path = self.root().join(location);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }

    async fn run(&self, event: &str, scripts: &[HookScript]) -> Diagnostics {
        let env = vec![
            ("LIFECYCLE_EVENT".to_string(), event.to_string()),
            ("DEPLOYMENT_ID".to_string(), "d-TEST12345".to_string()),
            ("OUT".to_string(), self.out().display().to_string()),
        ];
        run_scripts(event, scripts, &self.root(), &env, &self.log, &CONFIG).await
    }

    /// `scripts.log`'s lines without their timestamps (which are checked).
    fn log_texts(&self) -> Vec<String> {
        let content = fs::read_to_string(self.dir.path().join("logs/scripts.log")).unwrap();
        content.lines().map(|line| split_timestamp(line).1.to_string()).collect()
    }
}

fn hook(location: &str, timeout: Duration) -> HookScript {
    HookScript { location: location.into(), timeout, runas: None, sudo: false }
}

fn hook_secs(location: &str, secs: u64) -> HookScript {
    hook(location, Duration::from_secs(secs))
}

/// Splits `YYYY-MM-DD HH:MM:SS text`, asserting the timestamp's shape.
fn split_timestamp(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    assert!(bytes.len() >= 20, "short log line {line:?}");
    for (i, &b) in bytes[..19].iter().enumerate() {
        let ok = match i {
            4 | 7 => b == b'-',
            10 => b == b' ',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        };
        assert!(ok, "bad timestamp in log line {line:?}");
    }
    assert_eq!(bytes[19], b' ', "no space after the timestamp in {line:?}");
    (&line[..19], &line[20..])
}

fn local_now() -> String {
    let now = jiff::Zoned::now().datetime();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        now.year(),
        now.month(),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// Polls `cond` until it holds, failing after `timeout`.
async fn eventually(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether `pid` no longer runs (gone, or a zombie awaiting its new parent).
fn is_dead(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            matches!(state, Some('Z' | 'X'))
        }
    }
}

/// Whether `pid` is still running after watching it for `window` (a signal
/// sent before may take a moment to take effect).
async fn stays_alive(pid: i32, window: Duration) -> bool {
    let end = Instant::now() + window;
    while Instant::now() < end {
        if is_dead(pid) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    !is_dead(pid)
}

fn read_pid(path: &Path) -> i32 {
    fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn run_scripts_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let log = ScriptsLog::open(&tempfile::tempdir().unwrap().path().join("scripts.log")).unwrap();
    let config = HookRunConfig::default();
    let future = run_scripts("E", &[], Path::new("/"), &[], &log, &config);
    assert_send(&future);
}

#[tokio::test(flavor = "multi_thread")]
async fn scripts_run_in_order_with_env_cwd_and_log_format() {
    let fx = Fixture::new();
    fx.script("scripts/one.sh", "echo \"one $LIFECYCLE_EVENT $DEPLOYMENT_ID\"\npwd\necho one >> \"$OUT/order\"");
    fx.script("scripts/two.sh", "echo two >&2\necho two >> \"$OUT/order\"");
    let before = local_now();
    let diag = fx.run("AfterInstall", &[hook_secs("scripts/one.sh", 10), hook_secs(" scripts/two.sh ", 10)]).await;
    let after = local_now();
    assert_eq!(diag.error_code, ErrorCode::Succeeded, "{diag:?}");
    assert_eq!(diag.message, "Succeeded: ");
    assert_eq!(fs::read_to_string(fx.out().join("order")).unwrap(), "one\ntwo\n");

    let cwd = fx.root().canonicalize().unwrap();
    assert_eq!(diag.log, format!("[stdout]one AfterInstall d-TEST12345\n[stdout]{}\n[stderr]two", cwd.display()));

    assert_eq!(
        fx.log_texts(),
        vec![
            "LifecycleEvent - AfterInstall".to_string(),
            "Script - scripts/one.sh".to_string(),
            "[stdout]one AfterInstall d-TEST12345".to_string(),
            format!("[stdout]{}", cwd.display()),
            "Script - scripts/two.sh".to_string(),
            "[stderr]two".to_string(),
        ]
    );
    // Local wall-clock time: every timestamp lies between the two readings.
    let content = fs::read_to_string(fx.dir.path().join("logs/scripts.log")).unwrap();
    for line in content.lines() {
        let (ts, _) = split_timestamp(line);
        assert!(before.as_str() <= ts && ts <= after.as_str(), "{ts} not in [{before}, {after}]");
    }
}

#[tokio::test]
async fn no_scripts_log_nothing() {
    let fx = Fixture::new();
    let diag = fx.run("ApplicationStop", &[]).await;
    assert_eq!(diag, Diagnostics::success(String::new()));
    assert!(fx.log_texts().is_empty());
}

#[tokio::test]
async fn missing_script_is_code_1() {
    let fx = Fixture::new();
    let diag = fx.run("BeforeInstall", &[hook_secs("scripts/nope.sh", 10)]).await;
    assert_eq!(diag.error_code, ErrorCode::ScriptMissing);
    assert_eq!(diag.error_code.number(), 1);
    assert_eq!(diag.script_name, "scripts/nope.sh");
    assert_eq!(
        diag.message,
        format!("Script does not exist at specified location: {}", fx.root().join("scripts/nope.sh").display())
    );
    assert_eq!(fx.log_texts(), vec!["LifecycleEvent - BeforeInstall", "Script - scripts/nope.sh"]);
}

#[tokio::test]
async fn non_executable_script_is_made_executable() {
    let fx = Fixture::new();
    fx.raw_script("run.sh", "#!/bin/sh\necho ran\n", 0o644);
    let diag = fx.run("AfterInstall", &[hook_secs("run.sh", 10)]).await;
    assert_eq!(diag.error_code, ErrorCode::Succeeded, "{diag:?}");
    assert_eq!(diag.log, "[stdout]ran");
    let mode = fs::metadata(fx.root().join("run.sh")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755);
}

#[tokio::test]
async fn script_without_shebang_runs_with_sh() {
    let fx = Fixture::new();
    fx.raw_script("plain.sh", "echo plain \"$LIFECYCLE_EVENT\"\n", 0o755);
    let diag = fx.run("AfterInstall", &[hook_secs("plain.sh", 10)]).await;
    assert_eq!(diag.error_code, ErrorCode::Succeeded, "{diag:?}");
    assert_eq!(diag.log, "[stdout]plain AfterInstall");
}

#[tokio::test]
async fn nonzero_exit_is_code_4_and_stops_the_event() {
    let fx = Fixture::new();
    fx.script("fail.sh", "echo failing\nexit 3");
    fx.script("after.sh", "touch \"$OUT/after-ran\"");
    let diag = fx.run("ApplicationStart", &[hook_secs("fail.sh", 10), hook_secs("after.sh", 10)]).await;
    assert_eq!(diag.error_code, ErrorCode::ScriptFailed);
    assert_eq!(diag.error_code.number(), 4);
    assert_eq!(diag.script_name, "fail.sh");
    assert_eq!(diag.message, "Script at specified location: fail.sh failed with exit code 3");
    assert_eq!(diag.log, "[stdout]failing");
    assert!(!fx.out().join("after-ran").exists());
}

#[tokio::test]
async fn death_by_signal_is_named() {
    let fx = Fixture::new();
    fx.script("sig.sh", "kill -USR1 $$");
    let diag = fx.run("ApplicationStart", &[hook_secs("sig.sh", 10)]).await;
    assert_eq!(diag.error_code, ErrorCode::ScriptFailed);
    assert_eq!(diag.message, "Script at specified location: sig.sh was killed by signal SIGUSR1");
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_sends_sigterm_to_the_process_group() {
    let fx = Fixture::new();
    // The trap only runs once `wait` is interrupted; the background `sleep`
    // (same group) gets the SIGTERM as well.
    fx.script("slow.sh", "trap 'echo term > \"$OUT/termed\"; exit 0' TERM\necho started\nsleep 30 &\nwait");
    let start = Instant::now();
    let diag = fx.run("ValidateService", &[hook_secs("slow.sh", 1)]).await;
    let elapsed = start.elapsed();
    assert_eq!(diag.error_code, ErrorCode::ScriptTimedOut, "{diag:?}");
    assert_eq!(diag.error_code.number(), 3);
    assert_eq!(diag.message, "Script at specified location: slow.sh failed to complete in 1 seconds");
    assert_eq!(diag.log, "[stdout]started");
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1000 + 300 + 1500), "{elapsed:?}");
    assert_eq!(fs::read_to_string(fx.out().join("termed")).unwrap(), "term\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_escalates_to_sigkill_and_nothing_survives() {
    let fx = Fixture::new();
    fx.script(
        "stubborn.sh",
        "trap '' TERM\nsleep 1000 &\necho $! > \"$OUT/child.pid\"\necho $$ > \"$OUT/script.pid\"\nwait\nwait",
    );
    let start = Instant::now();
    let diag = fx.run("ValidateService", &[hook_secs("stubborn.sh", 1)]).await;
    let elapsed = start.elapsed();
    assert_eq!(diag.error_code, ErrorCode::ScriptTimedOut, "{diag:?}");
    // 1 s timeout + 300 ms grace, then SIGKILL, which nothing can ignore.
    assert!(elapsed >= Duration::from_millis(1300), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1300 + 1500), "{elapsed:?}");
    let script = read_pid(&fx.out().join("script.pid"));
    let child = read_pid(&fx.out().join("child.pid"));
    // The script itself was reaped by the runner.
    assert!(is_dead(script), "script {script} survived");
    // Its orphaned child is reparented; it is dead even if not yet reaped.
    eventually("the background child to die", Duration::from_secs(5), || is_dead(child)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_kills_group_members_that_outlive_the_leader() {
    let fx = Fixture::new();
    // The leader dies on SIGTERM at once; a member of its group ignores it
    // and has closed its copies of the outputs, so only the group check finds it.
    fx.script(
        "leader.sh",
        "(trap '' TERM; exec sleep 1000) >/dev/null 2>&1 &\necho $! > \"$OUT/member.pid\"\nsleep 30",
    );
    let start = Instant::now();
    let diag = fx.run("ValidateService", &[hook_secs("leader.sh", 1)]).await;
    let elapsed = start.elapsed();
    assert_eq!(diag.error_code, ErrorCode::ScriptTimedOut, "{diag:?}");
    assert!(elapsed >= Duration::from_millis(1300), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1300 + 1500), "{elapsed:?}");
    let member = read_pid(&fx.out().join("member.pid"));
    eventually("the group member to die", Duration::from_secs(5), || is_dead(member)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn background_child_holding_stdout_is_code_6_quickly() {
    let fx = Fixture::new();
    fx.script("daemon.sh", "sleep 30 &\necho $! > \"$OUT/daemon.pid\"\necho started");
    let start = Instant::now();
    let diag = fx.run("ApplicationStart", &[hook_secs("daemon.sh", 20)]).await;
    let elapsed = start.elapsed();
    let daemon = read_pid(&fx.out().join("daemon.pid"));
    // The background process is left alone (it would be the application).
    let alive = stays_alive(daemon, Duration::from_millis(300)).await;
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon), nix::sys::signal::Signal::SIGKILL);
    assert_eq!(diag.error_code, ErrorCode::OutputsLeftOpen, "{diag:?}");
    assert_eq!(diag.error_code.number(), 6);
    assert_eq!(diag.message, "Script at specified location: daemon.sh failed to close STDOUT");
    assert_eq!(diag.log, "[stdout]started");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(alive, "the background process was killed");
}

#[tokio::test(flavor = "multi_thread")]
async fn background_child_holding_stderr_only() {
    let fx = Fixture::new();
    fx.script("daemon.sh", "sleep 30 >/dev/null &\necho $! > \"$OUT/daemon.pid\"");
    let diag = fx.run("ApplicationStart", &[hook_secs("daemon.sh", 20)]).await;
    let daemon = read_pid(&fx.out().join("daemon.pid"));
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon), nix::sys::signal::Signal::SIGKILL);
    assert_eq!(diag.error_code, ErrorCode::OutputsLeftOpen, "{diag:?}");
    assert_eq!(diag.message, "Script at specified location: daemon.sh failed to close STDERR");
}

#[tokio::test]
async fn redirected_daemon_is_fine() {
    let fx = Fixture::new();
    fx.script("daemon.sh", "sleep 30 >/dev/null 2>&1 &\necho $! > \"$OUT/daemon.pid\"\necho started");
    let diag = fx.run("ApplicationStart", &[hook_secs("daemon.sh", 20)]).await;
    let daemon = read_pid(&fx.out().join("daemon.pid"));
    let alive = stays_alive(daemon, Duration::from_millis(300)).await;
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon), nix::sys::signal::Signal::SIGKILL);
    assert_eq!(diag.error_code, ErrorCode::Succeeded, "{diag:?}");
    assert!(alive, "the daemon was killed");
}

#[tokio::test]
async fn long_output_keeps_a_tail_of_whole_entries() {
    let fx = Fixture::new();
    fx.script("chatty.sh", "i=0\nwhile [ $i -lt 500 ]; do echo \"line $i\"; i=$((i+1)); done");
    let diag = fx.run("AfterInstall", &[hook_secs("chatty.sh", 10)]).await;
    assert_eq!(diag.error_code, ErrorCode::Succeeded, "{diag:?}");
    assert!(diag.log.chars().count() <= LOG_TAIL_LIMIT, "{}", diag.log.len());
    assert!(diag.log.chars().count() > LOG_TAIL_LIMIT - 20, "{}", diag.log.len());
    assert!(diag.log.ends_with("[stdout]line 499"), "{}", diag.log);
    assert!(diag.log.starts_with("[stdout]line "), "{}", diag.log);
    let logged = fx.log_texts();
    assert_eq!(logged.len(), 2 + 500);
    assert_eq!(logged.last().unwrap(), "[stdout]line 499");
}

#[tokio::test]
async fn huge_lines_are_split_and_binary_is_lossy() {
    let fx = Fixture::new();
    fx.script("binary.sh", "head -c 200000 /dev/zero | tr '\\0' 'a'\nprintf '\\377\\376 bin\\n'");
    let diag = fx.run("AfterInstall", &[hook_secs("binary.sh", 10)]).await;
    assert_eq!(diag.error_code, ErrorCode::Succeeded, "{diag:?}");
    let logged = fx.log_texts();
    let stdout: Vec<&String> = logged.iter().filter(|l| l.starts_with("[stdout]")).collect();
    // 200000 = 3 * 65536 + 3392: three full pieces, then the rest joined with the last line.
    assert_eq!(stdout.len(), 4, "{:?}", stdout.iter().map(|l| l.len()).collect::<Vec<_>>());
    for piece in &stdout[..3] {
        assert_eq!(piece.len(), "[stdout]".len() + MAX_LINE_BYTES);
    }
    assert_eq!(*stdout[3], format!("[stdout]{}\u{FFFD}\u{FFFD} bin", "a".repeat(200_000 - 3 * MAX_LINE_BYTES)));
    // The tail is bounded even though the last entry is longer than it: it
    // keeps the entry's end.
    assert_eq!(diag.log.chars().count(), LOG_TAIL_LIMIT);
    assert!(diag.log.ends_with("aaa\u{FFFD}\u{FFFD} bin"), "{}", diag.log);

    // An unterminated last line is still logged.
    fx.script("nonl.sh", "printf 'no newline' >&2");
    let diag = fx.run("ApplicationStart", &[hook_secs("nonl.sh", 10)]).await;
    assert_eq!(diag.log, "[stderr]no newline");
    assert_eq!(fx.log_texts().last().unwrap(), "[stderr]no newline");
}

#[tokio::test]
async fn multibyte_characters_are_not_cut_when_splitting() {
    let fx = Fixture::new();
    // 'é' is 2 bytes: 40000 of them make an 80000-byte line; 65536 is even, so
    // prefix one ASCII byte to make the cut fall inside a character.
    let body =
        format!("printf 'x'\ni=0\nwhile [ $i -lt 400 ]; do printf '{}'; i=$((i+1)); done\necho", "é".repeat(100));
    fx.script("utf8.sh", &body);
    let diag = fx.run("AfterInstall", &[hook_secs("utf8.sh", 10)]).await;
    assert_eq!(diag.error_code, ErrorCode::Succeeded, "{diag:?}");
    let logged = fx.log_texts();
    let pieces: Vec<&String> = logged.iter().filter(|l| l.starts_with("[stdout]")).collect();
    assert_eq!(pieces.len(), 2);
    assert!(!pieces.iter().any(|p| p.contains('\u{FFFD}')));
    let total: usize = pieces.iter().map(|p| p.len() - "[stdout]".len()).sum();
    assert_eq!(total, 1 + 2 * 40_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_run_kills_the_script() {
    let fx = Fixture::new();
    fx.script("forever.sh", "echo $$ > \"$OUT/pid.tmp\"\nmv \"$OUT/pid.tmp\" \"$OUT/pid\"\nexec sleep 1000");
    let pid_file = fx.out().join("pid");
    let hooks = [hook_secs("forever.sh", 100)];
    {
        let run = fx.run("ApplicationStart", &hooks);
        tokio::pin!(run);
        let started = async {
            eventually("the script to start", Duration::from_secs(10), || pid_file.exists()).await;
        };
        tokio::select! {
            diag = &mut run => panic!("finished early: {diag:?}"),
            () = started => {}
        }
    }
    let pid = read_pid(&pid_file);
    eventually("the abandoned script to die", Duration::from_secs(5), || is_dead(pid)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn noop_hooks_are_cheap() {
    let fx = Fixture::new();
    fs::copy("/bin/true", fx.root().join("true")).unwrap();
    let hooks: Vec<HookScript> = (0..20).map(|_| hook_secs("true", 10)).collect();
    let start = Instant::now();
    let diag = fx.run("ValidateService", &hooks).await;
    let per_script = start.elapsed() / 20;
    assert_eq!(diag.error_code, ErrorCode::Succeeded, "{diag:?}");
    println!("per no-op script: {per_script:?}");
    // Generous: the target is a few ms; this only catches fixed sleeps/polling.
    assert!(per_script < Duration::from_millis(100), "{per_script:?}");
}

#[tokio::test]
async fn unknown_runas_user_is_a_clear_error() {
    let fx = Fixture::new();
    fx.script("x.sh", "touch \"$OUT/ran\"");
    let mut script = hook_secs("x.sh", 10);
    script.runas = Some("ferry-no-such-user-xyz".into());
    let diag = fx.run("AfterInstall", &[script]).await;
    assert_eq!(diag.error_code, ErrorCode::UnknownError, "{diag:?}");
    assert_eq!(diag.script_name, "x.sh");
    assert_eq!(diag.message, "runas user ferry-no-such-user-xyz does not exist");
    assert!(!fx.out().join("ran").exists());
}

#[tokio::test]
async fn sudo_runs_as_root() {
    if !is_root() {
        ferry_testkit::skip("needs root");
        return;
    }
    let fx = Fixture::new();
    fx.script("who.sh", "id -u");
    let mut script = hook_secs("who.sh", 10);
    script.sudo = true;
    let diag = fx.run("AfterInstall", &[script]).await;
    assert_eq!(diag.error_code, ErrorCode::Succeeded, "{diag:?}");
    assert_eq!(diag.log, "[stdout]0");
}

/// A user and a supplementary group, deleted on drop.
struct TempUser {
    name: String,
    group: String,
}

impl TempUser {
    fn create() -> Self {
        let unique = format!(
            "{}{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() % 100_000
        );
        let user = Self { name: format!("fy{unique}"), group: format!("fyg{unique}") };
        run_admin("groupadd", &[&user.group]);
        run_admin(
            "useradd",
            &["-M", "-d", &format!("/home/{}", user.name), "-s", "/bin/sh", "-G", &user.group, &user.name],
        );
        user
    }

    fn id(&self, flag: &str) -> String {
        let out = StdCommand::new("id").args([flag, &self.name]).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = StdCommand::new("userdel").arg(&self.name).status();
        let _ = StdCommand::new("groupdel").arg(&self.group).status();
    }
}

/// Runs a user-database command, retrying while another process holds the lock.
fn run_admin(program: &str, args: &[&str]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = StdCommand::new(program).args(args).output().unwrap();
        if out.status.success() {
            return;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("lock") && std::time::Instant::now() < deadline, "{program} {args:?} failed: {err}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn runas_switches_user_groups_and_login_env() {
    if !is_root() {
        ferry_testkit::skip("needs root to create users");
        return;
    }
    let user = TempUser::create();
    let fx = Fixture::new();
    // The user must be able to reach the scripts and write its report.
    fs::set_permissions(fx.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(fx.out(), fs::Permissions::from_mode(0o777)).unwrap();
    fx.script(
        "who.sh",
        "printf '%s\\n' \"$(id -u)\" \"$(id -g)\" \"$(id -G)\" \"$HOME\" \"$USER\" \"$LOGNAME\" \"$SHELL\" \"$(pwd)\" \"$DEPLOYMENT_ID\" > \"$OUT/who\"",
    );
    fx.script("fail.sh", "exit 5");
    let mut who = hook_secs("who.sh", 10);
    who.runas = Some(user.name.clone());
    let mut fail = hook_secs("fail.sh", 10);
    fail.runas = Some(user.name.clone());
    fail.sudo = true;

    let diag = fx.run("AfterInstall", &[who, fail]).await;
    assert_eq!(diag.error_code, ErrorCode::ScriptFailed, "{diag:?}");
    assert_eq!(
        diag.message,
        format!("Script at specified location: fail.sh run as user {} failed with exit code 5", user.name)
    );

    let report = fs::read_to_string(fx.out().join("who")).unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines[0], user.id("-u"));
    assert_eq!(lines[1], user.id("-g"));
    let mut groups: Vec<&str> = lines[2].split(' ').collect();
    groups.sort_unstable();
    let expected_groups = user.id("-G");
    let mut expected: Vec<&str> = expected_groups.split(' ').collect();
    expected.sort_unstable();
    assert_eq!(groups, expected, "supplementary groups");
    assert!(!groups.contains(&"0"), "root's groups leaked");
    assert_eq!(lines[3], format!("/home/{}", user.name));
    assert_eq!(lines[4], user.name);
    assert_eq!(lines[5], user.name);
    assert_eq!(lines[6], "/bin/sh");
    assert_eq!(lines[7], fx.root().canonicalize().unwrap().display().to_string());
    assert_eq!(lines[8], "d-TEST12345");
}

#[test]
fn tail_keeps_newest_whole_entries() {
    let mut tail = LogTail::with_limit(10);
    tail.push("abc");
    tail.push("defgh");
    assert_eq!(tail.contents(), "abc\ndefgh");
    assert_eq!(tail.len_chars(), 9);
    tail.push("ij");
    assert_eq!(tail.contents(), "defgh\nij");
    tail.push("k");
    assert_eq!(tail.contents(), "defgh\nij\nk");
    assert_eq!(tail.len_chars(), 10);
    tail.push("");
    assert_eq!(tail.contents(), "ij\nk\n");
}

#[test]
fn tail_truncates_an_oversized_entry_instead_of_emptying() {
    let mut tail = LogTail::with_limit(5);
    tail.push("ab");
    tail.push("0123456789");
    assert_eq!(tail.contents(), "56789");
    tail.push("x");
    assert_eq!(tail.contents(), "x");
    tail.push("éèêëē!");
    assert_eq!(tail.contents(), "èêëē!");
    assert_eq!(tail.len_chars(), 5);
    tail.push("12345");
    assert_eq!(tail.contents(), "12345");
}

#[test]
fn tail_default_limit_is_codedeploys() {
    let mut tail = LogTail::new();
    for i in 0..1000 {
        tail.push(format!("[stdout]entry {i}"));
    }
    let contents = tail.contents();
    assert!(contents.len() <= LOG_TAIL_LIMIT);
    assert!(contents.ends_with("[stdout]entry 999"));
    assert_eq!(contents.chars().count(), tail.len_chars());
}
