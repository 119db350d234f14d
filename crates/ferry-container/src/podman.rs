//! Containers through the `podman` CLI (rootful; see the crate docs for why
//! not the API).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::process::Command;

use crate::output::{Ended, supervise};
use crate::{
    BoxFuture, ENV_ID_VAR, EXEC_ID_VAR, EnvInfo, EnvSpec, Environment, Error, ExecOutcome, ExecRequest, Kind, Network,
    OutputLine, Provider, procs, resolve_workdir,
};

/// The label every ferry container carries (its value: the environment's name).
pub const ENVIRONMENT_LABEL: &str = "ferry.environment";

/// What the container's main process does: nothing, until it is removed
/// (a shell loop, so any image with `sh` and `sleep` works; `--init` would
/// need catatonit on the host).
const IDLE: [&str; 3] = ["sh", "-c", "while :; do sleep 86400 & wait; done"];

/// The podman CLI.
#[derive(Debug, Clone)]
pub struct Podman {
    program: PathBuf,
}

impl Default for Podman {
    fn default() -> Self {
        Self { program: PathBuf::from("podman") }
    }
}

impl Podman {
    /// `program`: the podman binary (default `podman` on `PATH`).
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self { program: program.into() }
    }

    /// Whether podman runs at all (`podman version`); the error says how to install it.
    pub async fn check(&self) -> Result<(), Error> {
        self.run(&["version", "--format", "{{.Client.Version}}"], "podman version").await.map(drop)
    }

    /// Whether `image` is in local storage.
    pub async fn image_exists(&self, image: &str) -> Result<bool, Error> {
        let out = self.command(&["image", "exists", image]).output().await.map_err(|e| self.spawn_error(e))?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(classify("podman image exists", &String::from_utf8_lossy(&out.stderr), Some(image))),
        }
    }

    /// A `podman` command with a minimal, known environment (the agent's
    /// own variables, secrets included, are not podman's business).
    fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(args).env_clear().env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        if let Some(home) = std::env::var_os("HOME") {
            cmd.env("HOME", home);
        }
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }

    fn spawn_error(&self, e: std::io::Error) -> Error {
        match e.kind() {
            std::io::ErrorKind::NotFound => Error::EngineMissing(format!("{} not found", self.program.display())),
            std::io::ErrorKind::PermissionDenied => {
                Error::Permission(format!("cannot run {}: {e}", self.program.display()))
            }
            _ => Error::EngineMissing(format!("cannot run {}: {e}", self.program.display())),
        }
    }

    /// Runs podman to its end; its stdout, or its stderr as a classified error.
    async fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S], what: &str) -> Result<String, Error> {
        self.run_cmd(self.command(args), what, None).await
    }

    async fn run_cmd(&self, mut cmd: Command, what: &str, image: Option<&str>) -> Result<String, Error> {
        let out = cmd.output().await.map_err(|e| self.spawn_error(e))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(classify(what, &String::from_utf8_lossy(&out.stderr), image))
        }
    }

    async fn start_container(&self, spec: &EnvSpec) -> Result<PodmanEnv, Error> {
        let mut args: Vec<OsString> = ["run", "--detach", "--pull=never", "--name"].map(OsString::from).into();
        args.push(spec.name.clone().into());
        args.push("--network".into());
        args.push(match spec.network {
            Network::None => "none".into(),
            Network::Host => "host".into(),
        });
        args.push("--label".into());
        args.push(format!("{ENVIRONMENT_LABEL}={}", spec.name).into());
        for (k, v) in &spec.labels {
            args.push("--label".into());
            args.push(format!("{k}={v}").into());
        }
        let mut volume = OsString::from(spec.workspace.as_os_str());
        volume.push(":");
        volume.push(spec.mount_at.as_os_str());
        volume.push(":rw");
        args.push("--volume".into());
        args.push(volume);
        let workdir = resolve_workdir(&spec.mount_at, spec.workdir.as_deref(), None);
        args.push("--workdir".into());
        args.push(workdir.clone().into());
        if let Some(user) = &spec.user {
            args.push("--user".into());
            args.push(user.into());
        }
        let mut cmd = self.command::<&str>(&[]);
        let marker = [(ENV_ID_VAR.to_string(), spec.name.clone())];
        pass_env(&mut cmd, &mut args, spec.env.iter().chain(&marker));
        args.push(spec.image.clone().into());
        args.extend(IDLE.map(OsString::from));
        cmd.args(&args);
        self.run_cmd(cmd, &format!("cannot start a container from {}", spec.image), Some(&spec.image)).await?;
        Ok(PodmanEnv {
            podman: self.clone(),
            info: EnvInfo {
                name: spec.name.clone(),
                kind: Kind::Container { image: spec.image.clone() },
                labels: spec.labels.clone(),
                running: true,
            },
            mount_at: spec.mount_at.clone(),
            workdir,
            execs: AtomicU64::new(0),
        })
    }

    async fn list_containers(&self, labels: &BTreeMap<String, String>) -> Result<Vec<EnvInfo>, Error> {
        let mut args = vec!["ps".to_string(), "--all".into(), "--format".into(), "json".into()];
        args.push("--filter".into());
        args.push(format!("label={ENVIRONMENT_LABEL}"));
        for (k, v) in labels {
            args.push("--filter".into());
            args.push(format!("label={k}={v}"));
        }
        let json = self.run(&args, "cannot list containers").await?;
        let listed: Vec<Listed> = serde_json::from_str(&json)
            .map_err(|e| Error::Engine { what: "cannot read podman ps's answer".into(), detail: e.to_string() })?;
        Ok(listed
            .into_iter()
            .map(|c| {
                let mut labels = c.labels.unwrap_or_default();
                let name = labels.remove(ENVIRONMENT_LABEL).or_else(|| c.names.into_iter().next()).unwrap_or_default();
                EnvInfo { name, kind: Kind::Container { image: c.image }, labels, running: c.state == "running" }
            })
            .collect())
    }

    async fn remove_container(&self, name: &str) -> Result<(), Error> {
        // `--time 0`: SIGKILL at once; the container's PID namespace ends,
        // so every process in it dies, whatever it did to its environment.
        self.run(&["rm", "--force", "--ignore", "--time", "0", name], &format!("cannot remove container {name}"))
            .await
            .map(drop)
    }
}

/// One container from `podman ps --format json`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listed {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    image: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Variables podman itself reads: passed as `--env NAME=VALUE` (they are
/// not secrets), all others as `--env NAME` with the value in podman's own
/// environment, so values never appear on a command line (`ps`).
fn podman_reads(name: &str) -> bool {
    matches!(name, "PATH" | "HOME" | "TMPDIR" | "TZ" | "USER" | "LANG")
        || ["XDG_", "LD_", "CONTAINERS_", "CONTAINER_", "PODMAN_", "BUILDAH_", "STORAGE_", "DOCKER_", "LC_"]
            .iter()
            .any(|p| name.starts_with(p))
}

fn pass_env<'a>(cmd: &mut Command, args: &mut Vec<OsString>, vars: impl Iterator<Item = &'a (String, String)>) {
    for (name, value) in vars {
        args.push("--env".into());
        if podman_reads(name) {
            args.push(format!("{name}={value}").into());
        } else {
            args.push(name.into());
            cmd.env(name, value);
        }
    }
}

/// Maps podman's error text to an [`Error`] that says what to do.
fn classify(what: &str, stderr: &str, image: Option<&str>) -> Error {
    let detail = stderr.trim().trim_start_matches("Error: ").to_string();
    let lower = detail.to_ascii_lowercase();
    if let Some(image) = image
        && (lower.contains("image not known") || lower.contains("no such image"))
    {
        return Error::ImageMissing { image: image.to_string() };
    }
    if lower.contains("is already in use") {
        let name = detail.split('"').nth(1).unwrap_or("?").to_string();
        return Error::NameInUse(name);
    }
    if lower.contains("error setting rlimit") || lower.contains("crun") && lower.contains("cgroup") {
        return Error::EngineSetup(format!("{what}: {detail}"));
    }
    if lower.contains("permission denied") || lower.contains("operation not permitted") {
        return Error::Permission(format!("{what}: {detail}"));
    }
    if lower.contains("no such container")
        || lower.contains("container state improper")
        || lower.contains("not running")
    {
        return Error::NotRunning(format!("{what}: {detail}"));
    }
    Error::Engine { what: what.to_string(), detail }
}

impl Provider for Podman {
    fn describe(&self) -> String {
        "containers (podman)".into()
    }

    fn start<'a>(&'a self, spec: &'a EnvSpec) -> BoxFuture<'a, Result<Box<dyn Environment>, Error>> {
        Box::pin(async move { Ok(Box::new(self.start_container(spec).await?) as Box<dyn Environment>) })
    }

    fn list<'a>(&'a self, labels: &'a BTreeMap<String, String>) -> BoxFuture<'a, Result<Vec<EnvInfo>, Error>> {
        Box::pin(self.list_containers(labels))
    }

    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.remove_container(name))
    }
}

/// A running container.
struct PodmanEnv {
    podman: Podman,
    info: EnvInfo,
    mount_at: PathBuf,
    workdir: PathBuf,
    execs: AtomicU64,
}

impl PodmanEnv {
    async fn exec_in(
        &self,
        request: &ExecRequest,
        output: &mut (dyn FnMut(OutputLine) + Send),
    ) -> Result<ExecOutcome, Error> {
        if request.argv.is_empty() {
            return Err(Error::Engine { what: "cannot run a command".into(), detail: "no program given".into() });
        }
        let exec_id = format!("{}/{}", self.info.name, self.execs.fetch_add(1, Ordering::Relaxed));
        let mut args: Vec<OsString> = vec!["exec".into(), "--interactive=false".into()];
        let workdir = resolve_workdir(&self.mount_at, Some(&self.workdir), request.workdir.as_deref());
        args.push("--workdir".into());
        args.push(workdir.into());
        if let Some(user) = &request.user {
            args.push("--user".into());
            args.push(user.into());
        }
        let mut cmd = self.podman.command::<&str>(&[]);
        let marker = [(EXEC_ID_VAR.to_string(), exec_id.clone())];
        pass_env(&mut cmd, &mut args, request.env.iter().chain(&marker));
        args.push(self.info.name.clone().into());
        args.extend(request.argv.iter().map(OsString::from));
        cmd.args(&args).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| self.podman.spawn_error(e))?;
        // Podman's own complaints arrive on stderr too; keep the last lines
        // to tell its failures (exit 125) from the command's.
        let mut last_stderr = Vec::<String>::new();
        let mut tee = |line: OutputLine| {
            if line.stream == crate::Stream::Stderr {
                last_stderr.push(line.text.clone());
                if last_stderr.len() > 5 {
                    last_stderr.remove(0);
                }
            }
            output(line);
        };
        let kill = || procs::kill_marked(EXEC_ID_VAR, &exec_id);
        let ended = supervise(&mut child, request.timeout, &mut tee, &kill)
            .await
            .map_err(Error::io(format!("cannot run a command in container {}", self.info.name)))?;
        match ended {
            Ended::TimedOut => Ok(ExecOutcome::TimedOut),
            Ended::Exited(status) => match status.code() {
                Some(125) if last_stderr.iter().any(|l| l.starts_with("Error: ")) => Err(classify(
                    &format!("cannot run a command in container {}", self.info.name),
                    &last_stderr.join("\n"),
                    None,
                )),
                Some(code) => Ok(ExecOutcome::Exited(code)),
                None => {
                    use std::os::unix::process::ExitStatusExt;
                    Ok(ExecOutcome::Exited(128 + status.signal().unwrap_or(0)))
                }
            },
        }
    }
}

impl Environment for PodmanEnv {
    fn info(&self) -> &EnvInfo {
        &self.info
    }

    fn workspace_path(&self) -> &Path {
        &self.mount_at
    }

    fn exec<'a>(
        &'a self,
        request: &'a ExecRequest,
        output: &'a mut (dyn FnMut(OutputLine) + Send),
    ) -> BoxFuture<'a, Result<ExecOutcome, Error>> {
        Box::pin(self.exec_in(request, output))
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(self.podman.remove_container(&self.info.name))
    }
}
