//! The build runner: a parsed buildspec run in a `ferry_container`
//! environment (a podman container or a host workspace; written once over
//! [`Provider`]/[`Environment`]) with CodeBuild 0.2's semantics.
//!
//! [`run_build`] walks the phases with `ferry_buildspec::PhaseMachine`:
//! SUBMITTED, PROVISIONING (the environment starts), DOWNLOAD_SOURCE (the
//! source must already be in the workspace, at [`BuildRequest::source_dir`]),
//! INSTALL, PRE_BUILD, BUILD, POST_BUILD, UPLOAD_ARTIFACTS, FINALIZING.
//!
//! # Commands
//! - All commands of a build run in **one shell** (`env.shell`, default
//!   `/bin/sh`), so `export`, `cd`, shell variables and functions persist
//!   across commands and phases (see `shell` for the mechanism and why). The
//!   first shell starts in `CODEBUILD_SRC_DIR`.
//! - In a phase, the first command that fails skips the rest of the phase's
//!   `commands`; `finally` always runs (its first failing command ends it
//!   too); the phase succeeds when both did. Which phase runs next is
//!   `ferry_buildspec::transition`'s decision (install or pre_build failing
//!   skip to FINALIZING, build failing still runs post_build, `on-failure`).
//! - `CODEBUILD_BUILD_SUCCEEDING` is exported before every command: 1 until a
//!   phase fails, and 0 in a `finally` block whose commands failed.
//! - `run-as` (phase, else top level, else the environment's user): a phase
//!   with a different user than the running shell gets a new shell as that
//!   user, which takes over the exported variables and the working directory
//!   (not unexported variables or functions: one process cannot change user).
//! - The build timeout covers everything from the first command: when it
//!   passes, the shell and everything it started are killed, the phase is
//!   TIMED_OUT, the build goes to FINALIZING and ends TIMED_OUT.
//! - [`run_build_stoppable`]: a stop stops the environment (everything in it
//!   is killed), the phase ends STOPPED, FINALIZING still runs (reports),
//!   the build ends STOPPED.
//! - The image needs a POSIX `sh` with `sleep` (the driver loop polls for
//!   the next command file with `sleep 0.02`, or `sleep 1` where fractions
//!   are refused), `cat`, `grep` (hand-offs) and `printf`.
//!
//! # Variables and secrets
//! The shell's variables are [`BuildRequest::variables`] (user variables,
//! already resolved by precedence) under the built-ins of
//! `ferry_buildspec::vars` (which win). They reach the shell through a file
//! in the workspace's control directory, never a command line (`ps` shows
//! command lines to every user). That file (and a hand-off's `env.sh`) is
//! readable by the build's users: the caller keeps the workspace's parent
//! private (`ferry build local` uses a 0711 directory, so only a process
//! that knows the random path reaches it); the control directory is removed
//! in FINALIZING. Every log line, the runner's own included, has each of
//! [`BuildRequest::secrets`] replaced by `***`.
//!
//! # Outputs
//! UPLOAD_ARTIFACTS selects the primary and secondary artifacts with
//! `Selection` over `walk` of the source directory and zips each into
//! [`BuildRequest::output_dir`] (`<name>.zip`; `artifacts.zip` when the
//! primary has no name; a secondary's identifier otherwise); an artifact
//! that matches nothing fails the phase, as CodeBuild's "no matching
//! artifact paths found". Reports are read in FINALIZING, whatever the
//! build's status (a failing test run is when they matter). Exported
//! variables are read from the shell when the last command phase is over.
//!
//! **Architecture Invariant:** knows nothing of servers, stores or HTTP: a
//! caller (the CLI's `ferry build local`, later the agent) hands it a
//! provider, a workspace and a sink, and gets a [`BuildResult`].

mod artifacts;
pub mod cache;
mod log;
mod shell;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use artifacts::{ArtifactResult, ReportResult};
use ferry_buildspec::vars::BuildVariables;
use ferry_buildspec::{BuildStatus, Buildspec, CommandPhase, Outcome, Phase, PhaseMachine, PhaseStatus, phases, walk};
use ferry_container::{EnvSpec, Environment, Provider};
pub use log::{LogSink, MIN_MASKED_PIECE};
use shell::{CommandEnd, Control, Shell};

/// Where the workspace's control directory is, relative to the workspace:
/// command files, the variables file, the shell's hand-off state. Outside
/// the source directory, so artifact globs never see it.
pub const CONTROL_DIR: &str = ".ferry-build";

/// What to build, where.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The environment's name (a container's name: unique on the host).
    pub name: String,
    pub buildspec: Buildspec,
    /// The container image (recorded, unused by workspaces).
    pub image: String,
    /// The workspace on the host: must exist, be writable by the build's user
    /// and hold the source at `source_dir`.
    pub workspace: PathBuf,
    /// The source, relative to the workspace (`src`): `CODEBUILD_SRC_DIR`.
    pub source_dir: PathBuf,
    /// Where commands see the workspace in a container.
    pub mount_at: PathBuf,
    /// The built-in variables; `src_dir` is filled in by the runner, and a
    /// secondary source's relative `src_dir` is taken inside the workspace.
    pub builtins: BuildVariables,
    /// User variables, resolved (StartBuild > project > buildspec).
    pub variables: Vec<(String, String)>,
    /// Values to mask in the log (secrets' values, whatever variable holds them).
    pub secrets: Vec<String>,
    /// Where artifact zips go (on the host).
    pub output_dir: PathBuf,
    /// The whole build's time limit (CodeBuild's default is 60 minutes).
    pub timeout: Duration,
    pub network: ferry_container::Network,
    /// Labels on the environment besides `ferry.build` (a build host marks
    /// its own, to find and remove what a crash left behind).
    pub labels: std::collections::BTreeMap<String, String>,
}

impl BuildRequest {
    pub fn new(name: impl Into<String>, buildspec: Buildspec, workspace: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            buildspec,
            image: String::new(),
            workspace: workspace.into(),
            source_dir: PathBuf::from("src"),
            mount_at: PathBuf::from("/codebuild/output"),
            builtins: BuildVariables::default(),
            variables: Vec::new(),
            secrets: Vec::new(),
            output_dir: PathBuf::from("artifacts"),
            timeout: Duration::from_secs(60 * 60),
            network: ferry_container::Network::None,
            labels: std::collections::BTreeMap::new(),
        }
    }
}

/// One phase as it ran (`BuildPhase`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseRecord {
    pub phase: Phase,
    pub status: PhaseStatus,
    /// Milliseconds since the Unix epoch.
    pub start_ms: u64,
    pub end_ms: u64,
    /// Why it failed (CodeBuild's `contexts[].message`), empty when it succeeded.
    pub message: String,
}

/// How a build went.
#[derive(Debug, Clone)]
pub struct BuildResult {
    pub status: BuildStatus,
    /// The phases that ran, in order (skipped ones are not listed, as in CodeBuild).
    pub phases: Vec<PhaseRecord>,
    pub artifacts: Vec<ArtifactResult>,
    pub reports: Vec<ReportResult>,
    /// `exported-variables` with their values at the end of the last command
    /// phase that ran (variables that were unset are left out).
    pub exported_variables: Vec<(String, String)>,
    /// What ran it (`Provider::describe`), then the environment's own kind.
    pub environment: String,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Runs a build to its end. Never panics on a build's failure: everything
/// that can go wrong ends in the result's status and phase messages.
pub async fn run_build(provider: &dyn Provider, request: &BuildRequest, sink: &mut dyn LogSink) -> BuildResult {
    let (_keep, stop) = tokio::sync::watch::channel(false);
    run_build_stoppable(provider, request, sink, stop).await
}

/// [`run_build`], stopped when `stop` turns true: the environment is
/// stopped (everything in it killed), the running phase ends STOPPED, the
/// build goes to FINALIZING (reports are still read) and ends STOPPED.
pub async fn run_build_stoppable(
    provider: &dyn Provider,
    request: &BuildRequest,
    sink: &mut dyn LogSink,
    stop: tokio::sync::watch::Receiver<bool>,
) -> BuildResult {
    let mut runner = Runner::new(provider, request, sink, stop);
    runner.run().await
}

/// Resolves once `stop` is true (never, if its sender is gone).
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    if stop.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

struct Runner<'a> {
    provider: &'a dyn Provider,
    request: &'a BuildRequest,
    sink: &'a mut dyn LogSink,
    masker: log::Masker,
    machine: PhaseMachine,
    env: Option<Arc<dyn Environment>>,
    control: Option<Control>,
    shell: Option<Shell>,
    deadline: Option<Instant>,
    result: BuildResult,
    /// The source directory as commands see it.
    src_inside: PathBuf,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl<'a> Runner<'a> {
    fn new(
        provider: &'a dyn Provider,
        request: &'a BuildRequest,
        sink: &'a mut dyn LogSink,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        let masker = log::Masker::new(&request.secrets);
        Self {
            provider,
            request,
            sink,
            masker,
            machine: PhaseMachine::new(),
            env: None,
            control: None,
            shell: None,
            deadline: None,
            result: BuildResult {
                status: BuildStatus::Failed,
                phases: Vec::new(),
                artifacts: Vec::new(),
                reports: Vec::new(),
                exported_variables: Vec::new(),
                environment: provider.describe(),
            },
            src_inside: PathBuf::new(),
            stop,
        }
    }

    /// A line of the runner's own, in CodeBuild's format.
    fn say(&mut self, message: &str) {
        let line = format!("[Container] {} {message}", log::timestamp(SystemTime::now()));
        let masked = self.masker.mask(&line);
        self.sink.line(&masked);
    }

    async fn run(&mut self) -> BuildResult {
        while self.machine.phase() != Phase::Completed {
            let phase = self.machine.phase();
            let start_ms = now_ms();
            self.sink.phase_started(phase, start_ms);
            let (outcome, message) = self.run_phase(phase).await;
            let transition = self.machine.finish(outcome);
            if phase != Phase::Submitted {
                self.say(&format!("Phase complete: {phase} State: {}", transition.status.name()));
            }
            if !message.is_empty() {
                self.say(&format!("Phase context status code: {message}"));
            }
            let record = PhaseRecord { phase, status: transition.status, start_ms, end_ms: now_ms(), message };
            self.sink.phase_ended(&record);
            self.result.phases.push(record);
            if transition.next.command_phase().is_none() && self.shell.is_some() {
                self.end_shell().await;
            }
        }
        self.result.status = self.machine.build_status().unwrap_or(BuildStatus::Failed);
        self.result.clone()
    }

    async fn run_phase(&mut self, phase: Phase) -> (Outcome, String) {
        if phase != Phase::Submitted && phase != Phase::Finalizing {
            self.say(&format!("Entering phase {phase}"));
            if *self.stop.borrow() {
                return (Outcome::Stopped, "BUILD_STOPPED: the build was stopped".into());
            }
        }
        match phase {
            Phase::Submitted | Phase::Queued => (Outcome::SUCCEEDED, String::new()),
            Phase::Provisioning => match self.provision().await {
                Ok(()) => (Outcome::SUCCEEDED, String::new()),
                Err(e) => (Outcome::FAILED, format!("CLIENT_ERROR: {e}")),
            },
            Phase::DownloadSource => {
                let src = self.request.workspace.join(&self.request.source_dir);
                if src.is_dir() {
                    (Outcome::SUCCEEDED, String::new())
                } else {
                    (Outcome::FAILED, format!("CLIENT_ERROR: no source directory {}", src.display()))
                }
            }
            Phase::Install | Phase::PreBuild | Phase::Build | Phase::PostBuild => {
                let command_phase = phase.command_phase().expect("a command phase");
                self.run_commands(command_phase).await
            }
            Phase::UploadArtifacts => self.upload_artifacts(),
            Phase::Finalizing => {
                self.finalize().await;
                (Outcome::SUCCEEDED, String::new())
            }
            Phase::Completed => (Outcome::SUCCEEDED, String::new()),
        }
    }

    async fn provision(&mut self) -> Result<(), String> {
        let request = self.request;
        let control_host = request.workspace.join(CONTROL_DIR);
        let _ = std::fs::remove_dir_all(&control_host);
        std::fs::create_dir(&control_host).map_err(|e| format!("cannot create {}: {e}", control_host.display()))?;
        // Every run-as user writes here (hand-off state, exported values).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&control_host, std::fs::Permissions::from_mode(0o1777))
            .map_err(|e| format!("cannot set the mode of {}: {e}", control_host.display()))?;
        let mut spec = EnvSpec::new(&request.name, &request.image, &request.workspace);
        spec.mount_at = request.mount_at.clone();
        spec.user = request.buildspec.run_as.clone();
        spec.network = request.network;
        spec.workdir = Some(request.source_dir.clone());
        spec.labels.extend(request.labels.clone());
        spec.labels.insert("ferry.build".into(), request.name.clone());
        let env: Arc<dyn Environment> = Arc::from(self.provider.start(&spec).await.map_err(|e| e.to_string())?);
        let kind = env.info().kind.to_string();
        self.result.environment = format!("{} — {kind}", self.provider.describe());
        self.say(&format!("Running in {kind}"));
        let inside = env.workspace_path().to_path_buf();
        self.src_inside = inside.join(&request.source_dir);
        let mut builtins = request.builtins.clone();
        builtins.src_dir = self.src_inside.to_string_lossy().into_owned();
        // Secondary sources are given relative to the workspace, like the source.
        for s in &mut builtins.secondary_sources {
            if !std::path::Path::new(&s.src_dir).is_absolute() {
                s.src_dir = inside.join(&s.src_dir).to_string_lossy().into_owned();
            }
        }
        let variables = ferry_buildspec::vars::build_environment(&request.variables, &builtins, true);
        let mut vars = String::new();
        for (name, value) in variables.iter().filter(|(n, _)| shell::is_identifier(n)) {
            vars.push_str(&format!("export {name}={}\n", shell::quote(value)));
        }
        let vars_path = control_host.join("vars.sh");
        std::fs::write(&vars_path, vars).map_err(|e| format!("cannot write {}: {e}", vars_path.display()))?;
        self.control = Some(Control {
            host: control_host,
            inside: inside.join(CONTROL_DIR),
            nonce: format!("__FERRY_DONE_{:016x}", nonce()),
            counter: 1,
        });
        self.env = Some(env);
        self.deadline = Some(Instant::now() + request.timeout);
        Ok(())
    }

    fn remaining(&self) -> Duration {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now())).unwrap_or_default()
    }

    async fn run_commands(&mut self, phase: CommandPhase) -> (Outcome, String) {
        let Some(spec) = self.request.buildspec.phases.get(phase).cloned() else {
            return (Outcome::SUCCEEDED, String::new());
        };
        let user = self.request.buildspec.run_as_for(phase).map(str::to_owned);
        let succeeding = self.machine.succeeding();
        let (commands_ok, mut message, interrupted) = self.run_list(&spec.commands, &user, succeeding).await;
        if let Some(outcome) = interrupted {
            return (outcome, message);
        }
        let finally = if spec.finally.is_empty() {
            None
        } else {
            let (ok, finally_message, interrupted) =
                self.run_list(&spec.finally, &user, phases::finally_succeeding(succeeding, commands_ok)).await;
            if let Some(outcome) = interrupted {
                return (outcome, finally_message);
            }
            if message.is_empty() {
                message = finally_message;
            }
            Some(ok)
        };
        (Outcome::Ran { commands: commands_ok, finally, on_failure: spec.on_failure }, message)
    }

    /// Runs commands until one fails: (all succeeded, failure message, the
    /// phase's outcome if the build timed out or was stopped).
    async fn run_list(
        &mut self,
        commands: &[String],
        user: &Option<String>,
        succeeding: bool,
    ) -> (bool, String, Option<Outcome>) {
        for command in commands {
            self.say(&format!("Running command {command}"));
            match self.run_command(command, user, succeeding).await {
                Ok(end) if end.success() => {}
                Ok(CommandEnd::Stopped) => {
                    self.say("Build stopped; everything it started was killed");
                    return (
                        false,
                        format!("BUILD_STOPPED: the build was stopped during: {command}"),
                        Some(Outcome::Stopped),
                    );
                }
                Ok(CommandEnd::TimedOut) => {
                    let message = format!("BUILD_TIMED_OUT: the build timed out during: {command}");
                    self.say(&format!(
                        "Build timed out after {:?}; everything it started was killed",
                        self.request.timeout
                    ));
                    return (false, message, Some(Outcome::TimedOut));
                }
                Ok(end) => {
                    let code = match end {
                        CommandEnd::Exited(c) | CommandEnd::ShellEnded(c) => c,
                        CommandEnd::TimedOut | CommandEnd::Stopped => unreachable!(),
                    };
                    if matches!(end, CommandEnd::ShellEnded(_)) {
                        self.say("The shell ended during this command (exit?); the next command runs in a new shell");
                    }
                    self.say(&format!("Command did not exit successfully {command} exit status {code}"));
                    return (
                        false,
                        format!(
                            "COMMAND_EXECUTION_ERROR: Error while executing command: {command}. Reason: exit status {code}"
                        ),
                        None,
                    );
                }
                Err(e) => {
                    self.say(&format!("Cannot run command {command}: {e}"));
                    return (false, format!("CLIENT_ERROR: cannot run command {command}: {e}"), None);
                }
            }
        }
        (true, String::new(), None)
    }

    async fn run_command(
        &mut self,
        command: &str,
        user: &Option<String>,
        succeeding: bool,
    ) -> Result<CommandEnd, ferry_container::Error> {
        let needs_new = match &self.shell {
            None => true,
            Some(shell) => shell.exited() || &shell.user != user,
        };
        if needs_new {
            if self.shell.as_ref().is_some_and(|s| !s.exited()) {
                self.end_shell().await;
            }
            let env = self.env.clone().expect("provisioned");
            let program = self.request.buildspec.env.shell.map(|s| s.program()).unwrap_or("/bin/sh");
            let remaining = self.remaining();
            let control = self.control.as_mut().expect("provisioned");
            self.shell = Some(control.start(env, program, user.clone(), &self.src_inside, remaining));
        }
        let mut shell = self.shell.take().expect("a shell");
        let mut control = self.control.take().expect("provisioned");
        let masker = &self.masker;
        let sink = &mut *self.sink;
        let mut line = |text: String| sink.line(&masker.mask(&text));
        let stop = self.stop.clone();
        let end = tokio::select! {
            end = shell.run(&mut control, command, succeeding, &mut line) => end,
            () = stopped(stop) => {
                if let Some(env) = &self.env {
                    let _ = env.stop().await;
                }
                shell.mark_exited();
                Ok(CommandEnd::Stopped)
            }
        };
        self.control = Some(control);
        self.shell = Some(shell);
        end
    }

    /// Ends the running shell, reading the exported variables first.
    async fn end_shell(&mut self) {
        let Some(shell) = self.shell.take() else { return };
        if shell.exited() {
            return;
        }
        let mut control = self.control.take().expect("provisioned");
        let masker = &self.masker;
        let sink = &mut *self.sink;
        let mut line = |text: String| sink.line(&masker.mask(&text));
        let names = &self.request.buildspec.env.exported_variables;
        if let Ok((values, _)) = shell.finish(&mut control, names, &mut line).await {
            self.result.exported_variables = values;
        }
        self.control = Some(control);
    }

    fn upload_artifacts(&mut self) -> (Outcome, String) {
        let Some(spec) = self.request.buildspec.artifacts.clone() else {
            return (Outcome::SUCCEEDED, String::new());
        };
        let src = self.request.workspace.join(&self.request.source_dir);
        let entries = match walk(&src) {
            Ok(entries) => entries,
            Err(e) => return (Outcome::FAILED, format!("CLIENT_ERROR: cannot list {}: {e}", src.display())),
        };
        let all =
            std::iter::once((None, &spec.primary)).chain(spec.secondary.iter().map(|(id, a)| (Some(id.as_str()), a)));
        for (identifier, artifact) in all {
            match artifacts::write_artifact(&src, artifact, identifier, &entries, &self.request.output_dir) {
                Ok(written) => {
                    self.say(&format!(
                        "Artifact {} written: {} files, {} bytes, sha256 {}",
                        written.path.display(),
                        written.files.len(),
                        written.size,
                        written.sha256
                    ));
                    self.result.artifacts.push(written);
                }
                Err(e) => {
                    self.say(&format!("Artifact {}: {e}", identifier.unwrap_or("primary")));
                    return (Outcome::FAILED, e);
                }
            }
        }
        (Outcome::SUCCEEDED, String::new())
    }

    async fn finalize(&mut self) {
        self.end_shell().await;
        let src = self.request.workspace.join(&self.request.source_dir);
        if !self.request.buildspec.reports.is_empty() {
            match walk(&src) {
                Ok(entries) => {
                    for group in &self.request.buildspec.reports {
                        let report = artifacts::read_reports(&src, group, &entries);
                        let s = &report.summary;
                        self.say(&format!(
                            "Report {}: {} cases, {} succeeded, {} failed, {} error, {} skipped",
                            report.name, s.total, s.succeeded, s.failed, s.error, s.skipped
                        ));
                        for error in &report.errors {
                            self.say(&format!("Report {}: {error}", report.name));
                        }
                        self.result.reports.push(report);
                    }
                }
                Err(e) => self.say(&format!("Cannot read reports in {}: {e}", src.display())),
            }
        }
        if let Some(env) = self.env.take()
            && let Err(e) = env.stop().await
        {
            self.say(&format!("Cannot stop the build environment: {e}"));
        }
        if let Some(control) = &self.control {
            // It holds the variables file (secrets).
            let _ = std::fs::remove_dir_all(&control.host);
        }
    }
}

/// A value nobody's output contains by chance (time and a counter; not a secret).
fn nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.write_u32(std::process::id());
    h.finish()
}
