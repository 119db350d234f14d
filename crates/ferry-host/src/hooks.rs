//! Running the scripts of one lifecycle event: CodeDeploy's `hook_executor.rb`,
//! with its weak spots fixed.
//!
//! For each script, in appspec order, stopping at the first failure:
//! 1. `Script - <location>` goes to `scripts.log` (before the checks, so the
//!    log names a missing script too).
//! 2. The file must exist (code 1, `ScriptMissing`); a directory counts as
//!    missing. If it is not executable it is `chmod +x`'ed (`a+x`); if that
//!    fails, code 2 (`ScriptNotExecutable`).
//! 3. `runas` is resolved in the user database (unknown user: code 5).
//! 4. The script is executed directly (no shell; a file without a `#!` line is
//!    run by `/bin/sh`, as Ruby's `spawn` does for CodeDeploy), with stdin on
//!    `/dev/null`, stdout/stderr piped, in a process group of its own, with the
//!    agent's environment plus the caller's pairs. The working directory is
//!    `script_root` (CodeDeploy leaves the agent's cwd, which differs between
//!    init systems).
//! 5. Its output is logged line by line and kept in the event's [`LogTail`].
//!
//! # `runas` and `sudo`
//! `runas: U` switches credentials in the child (supplementary groups from the
//! group database, gid, uid) instead of going through `su`, and sets `HOME`,
//! `USER`, `LOGNAME` and `SHELL` from U's passwd entry (CodeDeploy's `su` sets
//! none of them). An agent that is not root can only "run as" itself; any
//! other user is an error (code 5). `sudo: true` means "as root": the agent
//! normally is root, so it changes nothing; a non-root agent (development,
//! `ferry local` as a user) runs such scripts as itself, and a script that
//! needs root then fails on its own.
//!
//! # Timeouts and stuck outputs
//! Each script has one deadline (`timeout` from its start) covering both its
//! exit and the closing of its stdout/stderr, as in CodeDeploy. When it
//! passes, SIGTERM goes to the script's process group; if the group is still
//! there after [`HookRunConfig::kill_grace`], SIGKILL follows (CodeDeploy never
//! escalates, so a script ignoring SIGTERM hangs its agent). The result is code
//! 3 whatever the script then does.
//!
//! A script that exits while a background child still holds its stdout or
//! stderr (`daemon &` without redirection) fails with code 6 after
//! [`HookRunConfig::outputs_grace`] (CodeDeploy waits for the whole timeout,
//! an hour by default). The background process is not killed (it is likely
//! the application), but ferry stops reading: its next write to the pipe
//! gets `EPIPE`/`SIGPIPE`, as with CodeDeploy. Redirect daemons' output.
//!
//! If the future of [`run_scripts`] is dropped while a script runs, the
//! script's process group is killed (SIGKILL); the process is reaped in the
//! background by tokio, so no zombie is left behind.
//!
//! # Output
//! Lines are split on `\n` (a trailing `\r` is dropped), decoded lossily as
//! UTF-8, and cut into pieces of at most [`MAX_LINE_BYTES`] (at a character
//! boundary). Each becomes `[stdout]…`/`[stderr]…` in `scripts.log` and in the
//! tail returned in [`Diagnostics::log`].

mod output;
pub mod runas;
mod tail;

pub use output::MAX_LINE_BYTES;
pub use tail::LogTail;

use std::future::Future;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use ferry_appspec::HookScript;
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{AccessFlags, Pid, access};
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep_until};

use crate::diagnostics::{Diagnostics, ErrorCode};
use crate::scripts_log::ScriptsLog;
use output::{Lines, Sink, pump};
use runas::Identity;

/// Knobs of the hook runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookRunConfig {
    /// After a script's timeout, SIGTERM goes to its process group; after this
    /// grace period, SIGKILL follows (CodeDeploy never escalates).
    pub kill_grace: Duration,
    /// How long to wait for stdout/stderr to close once the script has exited
    /// before failing with OutputsLeftOpen (CodeDeploy waits for the whole timeout).
    pub outputs_grace: Duration,
}

impl Default for HookRunConfig {
    fn default() -> Self {
        Self { kill_grace: Duration::from_secs(10), outputs_grace: Duration::from_secs(5) }
    }
}

/// Runs `scripts` (the hooks of `event`) in order. Script locations are
/// relative to `script_root` (the revision archive the scripts come from).
/// `env` is added to the agent's own environment. Output goes to `log`.
/// Returns success diagnostics (with the output tail) or the first failure.
pub async fn run_scripts(
    event: &str,
    scripts: &[HookScript],
    script_root: &Path,
    env: &[(String, String)],
    log: &ScriptsLog,
    config: &HookRunConfig,
) -> Diagnostics {
    if scripts.is_empty() {
        return Diagnostics::success(String::new());
    }
    log.line(&format!("LifecycleEvent - {event}"));
    let sink = Sink::new(log);
    let root = std::path::absolute(script_root).unwrap_or_else(|_| script_root.to_path_buf());
    for script in scripts {
        if let Err(failure) = run_script(script, &root, env, &sink, config).await {
            return Diagnostics {
                error_code: failure.code,
                script_name: script.location.clone(),
                message: failure.message,
                log: sink.tail(),
            };
        }
    }
    Diagnostics::success(sink.tail())
}

/// Why a script failed: its error code and message.
struct Failure {
    code: ErrorCode,
    message: String,
}

impl Failure {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

async fn run_script(
    script: &HookScript,
    root: &Path,
    env: &[(String, String)],
    sink: &Sink<'_>,
    config: &HookRunConfig,
) -> Result<(), Failure> {
    let location = script.location.trim();
    sink.line(&format!("Script - {location}"));
    // `File.join` semantics: a leading `/` does not escape the revision.
    let path = root.join(location.trim_start_matches('/'));
    prepare_file(&path, location)?;
    let identity = match &script.runas {
        Some(name) => Some(runas::resolve(name).map_err(|m| Failure::new(ErrorCode::UnknownError, m))?),
        None => None,
    };

    let deadline = Instant::now() + script.timeout;
    let mut child = spawn(&path, root, env, identity.as_ref()).await.map_err(|e| {
        Failure::new(
            ErrorCode::UnknownError,
            format!("Script at specified location: {location} could not be started: {e}"),
        )
    })?;
    let prefix = match &script.runas {
        Some(user) => format!("Script at specified location: {location} run as user {user}"),
        None => format!("Script at specified location: {location}"),
    };
    match supervise(&mut child, sink, deadline, config).await {
        Outcome::Exited(Ok(status)) if status.success() => Ok(()),
        Outcome::Exited(Ok(status)) => Err(Failure::new(ErrorCode::ScriptFailed, failed_message(&prefix, status))),
        Outcome::Exited(Err(e)) => {
            Err(Failure::new(ErrorCode::UnknownError, format!("{prefix} could not be waited for: {e}")))
        }
        Outcome::LeftOpen(stream) => Err(Failure::new(
            ErrorCode::OutputsLeftOpen,
            format!("Script at specified location: {location} failed to close {stream}"),
        )),
        Outcome::TimedOut => Err(Failure::new(
            ErrorCode::ScriptTimedOut,
            format!(
                "Script at specified location: {location} failed to complete in {} seconds",
                seconds(script.timeout)
            ),
        )),
    }
}

/// Checks that the script exists and makes it executable if needed.
fn prepare_file(path: &Path, location: &str) -> Result<(), Failure> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file()).ok_or_else(|| {
        Failure::new(
            ErrorCode::ScriptMissing,
            format!("Script does not exist at specified location: {}", path.display()),
        )
    })?;
    if access(path, AccessFlags::X_OK).is_err() {
        let mode = (meta.permissions().mode() & 0o7777) | 0o111;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|_| {
            Failure::new(
                ErrorCode::ScriptNotExecutable,
                format!("Unable to set script at specified location: {location} as executable"),
            )
        })?;
    }
    Ok(())
}

/// Starts the script. A file the kernel cannot execute as such (no `#!` line:
/// `ENOEXEC`) is run by `/bin/sh`; `ETXTBSY` (the file was just written and a
/// concurrent fork still holds it open for writing) is retried briefly.
async fn spawn(path: &Path, root: &Path, env: &[(String, String)], identity: Option<&Identity>) -> io::Result<Child> {
    let mut via_shell = false;
    let mut busy_retries = 0u32;
    loop {
        let mut cmd = if via_shell {
            let mut cmd = Command::new("/bin/sh");
            cmd.arg(path);
            cmd
        } else {
            Command::new(path)
        };
        cmd.current_dir(root).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
        if let Some(identity) = identity {
            runas::apply(&mut cmd, identity);
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        match cmd.spawn() {
            Err(e) if !via_shell && e.raw_os_error() == Some(Errno::ENOEXEC as i32) => via_shell = true,
            Err(e) if e.raw_os_error() == Some(Errno::ETXTBSY as i32) && busy_retries < 5 => {
                busy_retries += 1;
                tokio::time::sleep(Duration::from_millis(5 << busy_retries)).await;
            }
            result => return result,
        }
    }
}

/// How a script's run ended.
enum Outcome {
    /// It exited and closed its outputs.
    Exited(io::Result<ExitStatus>),
    /// It exited but this stream (`STDOUT`/`STDERR`) stayed open.
    LeftOpen(&'static str),
    /// The deadline passed first (the process group has been signalled).
    TimedOut,
}

/// Waits for the script to exit and its outputs to close (logging output
/// meanwhile), enforcing the deadline and the outputs grace.
async fn supervise(child: &mut Child, sink: &Sink<'_>, deadline: Instant, config: &HookRunConfig) -> Outcome {
    // The child is its own group leader, so its pid is the group id. The id
    // cannot be reused while the child is unreaped or the group has members.
    let pgid = child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw);
    let mut guard = GroupGuard { pgid, armed: true };
    let mut out_lines = Lines::new("[stdout]");
    let mut err_lines = Lines::new("[stderr]");
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let (outcome, reaped) = {
        let (out_lines, err_lines) = (&mut out_lines, &mut err_lines);
        let mut run = Run {
            out: Box::pin(async move {
                if let Some(stdout) = stdout {
                    pump(stdout, out_lines, sink).await;
                }
            }),
            err: Box::pin(async move {
                if let Some(stderr) = stderr {
                    pump(stderr, err_lines, sink).await;
                }
            }),
            child,
            out_open: true,
            err_open: true,
            status: None,
            reaped: false,
        };
        let outcome = run.supervise(deadline, config, pgid).await;
        (outcome, run.reaped)
    };
    // Reading may have been abandoned mid-line.
    out_lines.finish(sink);
    err_lines.finish(sink);
    guard.armed = !reaped;
    outcome
}

type Pump<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The state of a running script: the process and its two output readers.
struct Run<'a> {
    child: &'a mut Child,
    out: Pump<'a>,
    err: Pump<'a>,
    out_open: bool,
    err_open: bool,
    /// Set once the process has been reaped (or waiting for it failed).
    status: Option<io::Result<ExitStatus>>,
    /// Whether the process has been reaped (its pid, the group id, may be reused).
    reaped: bool,
}

#[derive(Debug, Clone, Copy)]
enum Goal {
    Exit,
    OutputsClosed,
    All,
}

impl Run<'_> {
    fn reached(&self, goal: Goal) -> bool {
        let exited = self.status.is_some();
        let closed = !self.out_open && !self.err_open;
        match goal {
            Goal::Exit => exited,
            Goal::OutputsClosed => closed,
            Goal::All => exited && closed,
        }
    }

    /// Drives the process and readers until `goal` is reached (true) or
    /// `until` passes (false).
    async fn wait_for(&mut self, goal: Goal, until: Instant) -> bool {
        let timer = sleep_until(until);
        tokio::pin!(timer);
        while !self.reached(goal) {
            tokio::select! {
                () = &mut self.out, if self.out_open => self.out_open = false,
                () = &mut self.err, if self.err_open => self.err_open = false,
                status = self.child.wait(), if self.status.is_none() => {
                    self.reaped = status.is_ok();
                    self.status = Some(status);
                }
                () = &mut timer => return self.reached(goal),
            }
        }
        true
    }

    async fn supervise(&mut self, deadline: Instant, config: &HookRunConfig, pgid: Option<Pid>) -> Outcome {
        if self.wait_for(Goal::Exit, deadline).await {
            let outputs_deadline = (Instant::now() + config.outputs_grace).min(deadline);
            if !self.wait_for(Goal::OutputsClosed, outputs_deadline).await {
                return Outcome::LeftOpen(if self.out_open { "STDOUT" } else { "STDERR" });
            }
            return match self.status.take() {
                Some(status) => Outcome::Exited(status),
                None => Outcome::Exited(Err(io::Error::other("no exit status"))),
            };
        }
        signal_group(pgid, Signal::SIGTERM);
        let grace_end = Instant::now() + config.kill_grace;
        let settled = self.wait_for(Goal::All, grace_end).await;
        if settled && group_exists(pgid) {
            // The leader is gone and the outputs are closed, but members of its
            // group (with redirected output) are still there: they get the
            // rest of the grace period too. Nothing is left to read meanwhile.
            sleep_until(grace_end).await;
        }
        if self.status.is_none() || group_exists(pgid) {
            signal_group(pgid, Signal::SIGKILL);
        }
        if !settled {
            // Reap it and read what is left, still bounded: a process in
            // uninterruptible sleep may take a while to die.
            self.wait_for(Goal::All, Instant::now() + config.kill_grace).await;
        }
        Outcome::TimedOut
    }
}

fn signal_group(pgid: Option<Pid>, signal: Signal) {
    if let Some(pgid) = pgid {
        // ESRCH (the group is gone) is the outcome we want anyway.
        let _ = killpg(pgid, signal);
    }
}

fn group_exists(pgid: Option<Pid>) -> bool {
    pgid.is_some_and(|pgid| killpg(pgid, None).is_ok())
}

/// Kills the script's process group if the run is abandoned (its future
/// dropped) before the script was reaped.
struct GroupGuard {
    pgid: Option<Pid>,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            signal_group(self.pgid, Signal::SIGKILL);
        }
    }
}

fn failed_message(prefix: &str, status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("{prefix} failed with exit code {code}");
    }
    match status.signal() {
        Some(signal) => {
            let name = Signal::try_from(signal).map_or_else(|_| signal.to_string(), |s| s.as_str().to_owned());
            format!("{prefix} was killed by signal {name}")
        }
        None => format!("{prefix} failed: {status}"),
    }
}

/// A timeout as CodeDeploy prints it: whole seconds (fractions only if any).
fn seconds(timeout: Duration) -> String {
    if timeout.subsec_nanos() == 0 { timeout.as_secs().to_string() } else { timeout.as_secs_f64().to_string() }
}
