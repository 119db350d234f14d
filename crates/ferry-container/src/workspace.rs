//! The no-container mode: commands run on the host, in the workspace
//! directory, as an unprivileged user, with a clean environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_host::hooks::runas;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::Command;

use crate::output::{Ended, supervise};
use crate::{
    BoxFuture, ENV_ID_VAR, EXEC_ID_VAR, EnvInfo, EnvSpec, Environment, Error, ExecOutcome, ExecRequest, Kind,
    OutputLine, Provider, procs, resolve_workdir,
};

/// `PATH` of commands that do not set their own.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Workspaces on this host. Each started one is recorded as
/// `<state_dir>/<name>.json` (its labels), so that a restarted agent finds
/// and removes what it left running.
#[derive(Debug, Clone)]
pub struct Workspaces {
    state_dir: PathBuf,
    default_user: String,
}

impl Workspaces {
    /// `default_user`: who commands run as when the spec names nobody (it
    /// should be an unprivileged user; a build never runs as the agent's root
    /// unless asked to).
    pub fn new(state_dir: impl Into<PathBuf>, default_user: impl Into<String>) -> Self {
        Self { state_dir: state_dir.into(), default_user: default_user.into() }
    }

    fn record_path(&self, name: &str) -> Result<PathBuf, Error> {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(Error::Engine {
                what: "invalid environment name".into(),
                detail: format!("{name:?} (no '/', not empty, not starting with '.')"),
            });
        }
        Ok(self.state_dir.join(format!("{name}.json")))
    }

    fn identity(&self, user: Option<&str>) -> Result<runas::Identity, Error> {
        runas::resolve(user.unwrap_or(&self.default_user)).map_err(Error::User)
    }

    async fn start_workspace(&self, spec: &EnvSpec) -> Result<WorkspaceEnv, Error> {
        let record = self.record_path(&spec.name)?;
        let identity = self.identity(spec.user.as_deref())?;
        if !spec.workspace.is_dir() {
            return Err(Error::Engine {
                what: format!("cannot start workspace {}", spec.name),
                detail: format!("{} is not a directory", spec.workspace.display()),
            });
        }
        std::fs::create_dir_all(&self.state_dir)
            .map_err(Error::io(format!("cannot create {}", self.state_dir.display())))?;
        let info = EnvInfo {
            name: spec.name.clone(),
            kind: Kind::Workspace { image: spec.image.clone() },
            labels: spec.labels.clone(),
            running: true,
        };
        let saved = Record { labels: spec.labels.clone(), image: spec.image.clone() };
        let json = serde_json::to_vec(&saved).expect("a record serializes");
        // create_new: the name is the environment's identity, as a container's.
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&record).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::NameInUse(spec.name.clone())
            } else {
                Error::io(format!("cannot write {}", record.display()))(e)
            }
        })?;
        std::io::Write::write_all(&mut file, &json).map_err(Error::io(format!("cannot write {}", record.display())))?;
        Ok(WorkspaceEnv {
            provider: self.clone(),
            info,
            workspace: spec.workspace.clone(),
            workdir: resolve_workdir(&spec.workspace, spec.workdir.as_deref(), None),
            env: spec.env.clone(),
            identity,
            execs: AtomicU64::new(0),
        })
    }

    async fn list_workspaces(&self, labels: &BTreeMap<String, String>) -> Result<Vec<EnvInfo>, Error> {
        let entries = match std::fs::read_dir(&self.state_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("cannot read {}", self.state_dir.display()))(e)),
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            // A record being written, or torn by a crash: not an environment.
            let Ok(record) =
                std::fs::read(&path).map_err(drop).and_then(|b| serde_json::from_slice::<Record>(&b).map_err(drop))
            else {
                continue;
            };
            if labels.iter().all(|(k, v)| record.labels.get(k) == Some(v)) {
                found.push(EnvInfo {
                    name: name.to_string(),
                    kind: Kind::Workspace { image: record.image },
                    labels: record.labels,
                    running: true,
                });
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    async fn remove_workspace(&self, name: &str) -> Result<(), Error> {
        let record = self.record_path(name)?;
        procs::kill_marked(ENV_ID_VAR, name);
        match std::fs::remove_file(&record) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("cannot remove {}", record.display()))(e)),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    labels: BTreeMap<String, String>,
    image: String,
}

impl Provider for Workspaces {
    fn describe(&self) -> String {
        format!("workspaces on the host as {} (no container engine)", self.default_user)
    }

    fn start<'a>(&'a self, spec: &'a EnvSpec) -> BoxFuture<'a, Result<Box<dyn Environment>, Error>> {
        Box::pin(async move { Ok(Box::new(self.start_workspace(spec).await?) as Box<dyn Environment>) })
    }

    fn list<'a>(&'a self, labels: &'a BTreeMap<String, String>) -> BoxFuture<'a, Result<Vec<EnvInfo>, Error>> {
        Box::pin(self.list_workspaces(labels))
    }

    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.remove_workspace(name))
    }
}

struct WorkspaceEnv {
    provider: Workspaces,
    info: EnvInfo,
    workspace: PathBuf,
    workdir: PathBuf,
    env: Vec<(String, String)>,
    identity: runas::Identity,
    execs: AtomicU64,
}

impl WorkspaceEnv {
    async fn exec_in(
        &self,
        request: &ExecRequest,
        output: &mut (dyn FnMut(OutputLine) + Send),
    ) -> Result<ExecOutcome, Error> {
        let Some((program, args)) = request.argv.split_first() else {
            return Err(Error::Engine { what: "cannot run a command".into(), detail: "no program given".into() });
        };
        if !self.provider.record_path(&self.info.name)?.exists() {
            return Err(Error::NotRunning(self.info.name.clone()));
        }
        let other;
        let identity = match &request.user {
            Some(user) => {
                other = self.provider.identity(Some(user))?;
                &other
            }
            None => &self.identity,
        };
        let exec_id = format!("{}/{}", self.info.name, self.execs.fetch_add(1, Ordering::Relaxed));
        let workdir = resolve_workdir(&self.workspace, Some(&self.workdir), request.workdir.as_deref());
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", DEFAULT_PATH)
            .current_dir(&workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        runas::apply(&mut cmd, identity);
        cmd.envs(self.env.iter().chain(&request.env).map(|(k, v)| (k, v)));
        cmd.env(ENV_ID_VAR, &self.info.name).env(EXEC_ID_VAR, &exec_id);
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if !workdir.is_dir() => {
                return Err(Error::Io { what: format!("no working directory {}", workdir.display()), source: e });
            }
            // As a shell (and `podman exec`) reports them: 127 not found, 126 not executable.
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied) => {
                let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
                output(OutputLine { stream: crate::Stream::Stderr, text: format!("{program}: {e}") });
                return Ok(ExecOutcome::Exited(code));
            }
            Err(e) => return Err(Error::io(format!("cannot run {program} as {}", identity.name()))(e)),
        };
        let pgid = child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw);
        let kill = || {
            if let Some(pgid) = pgid {
                let _ = killpg(pgid, Signal::SIGKILL);
            }
            procs::kill_marked(EXEC_ID_VAR, &exec_id);
        };
        let ended = supervise(&mut child, request.timeout, output, &kill)
            .await
            .map_err(Error::io(format!("cannot run {program}")))?;
        Ok(match ended {
            Ended::TimedOut => ExecOutcome::TimedOut,
            Ended::Exited(status) => {
                use std::os::unix::process::ExitStatusExt;
                ExecOutcome::Exited(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
            }
        })
    }
}

impl Environment for WorkspaceEnv {
    fn info(&self) -> &EnvInfo {
        &self.info
    }

    fn workspace_path(&self) -> &Path {
        &self.workspace
    }

    fn exec<'a>(
        &'a self,
        request: &'a ExecRequest,
        output: &'a mut (dyn FnMut(OutputLine) + Send),
    ) -> BoxFuture<'a, Result<ExecOutcome, Error>> {
        Box::pin(self.exec_in(request, output))
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(self.provider.remove_workspace(&self.info.name))
    }
}
