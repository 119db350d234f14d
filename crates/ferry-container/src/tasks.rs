//! Service task containers (ECS-style): long-lived containers of a task,
//! started, listed, health-checked and removed through the `podman` CLI
//! (see the crate docs for why the CLI), as the agent of the host they run
//! on does it.
//!
//! Every container carries the labels [`TASK_LABEL`], [`HOST_LABEL`] and
//! [`CONTAINER_LABEL`], so [`Engine::list`] finds a host's containers (after
//! an agent restart too) in one `podman ps`. Its podman name is
//! [`container_name`]`(task, container)`.
//!
//! Environment values may be secrets: they never appear on a command line
//! (`ps` shows those to every user, and podman records its own in the
//! container's `Config.CreateCommand`). They go to podman in a `--env-file`
//! written 0600 into a fresh 0700 directory (on the `/dev/shm` tmpfs when
//! there is one, so the values never reach a disk) and deleted as soon as
//! `podman run` returns.
//!
//! Every podman invocation has a time limit ([`RUN_TIMEOUT`],
//! [`ENGINE_TIMEOUT`]): a wedged podman is killed and reported, it does not
//! hang the caller.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::process::Command;

use crate::output::{Ended, supervise};
use crate::{EXEC_ID_VAR, Error, OutputLine, Stream, procs};

/// The label holding the task's id.
pub const TASK_LABEL: &str = "ferry.task";
/// The label holding the name of the host (agent) the task runs on.
pub const HOST_LABEL: &str = "ferry.task-host";
/// The label holding the container's name in the task definition.
pub const CONTAINER_LABEL: &str = "ferry.container";

/// Longest wait for `podman run` (it may pull the image first).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest wait for any other podman command (`remove` adds the stop timeout).
pub const ENGINE_TIMEOUT: Duration = Duration::from_secs(30);
/// The most [`Engine::logs_tail`] returns, in bytes.
pub const LOGS_TAIL_MAX_BYTES: usize = 4096;

/// podman's `bufio.Scanner` reads `--env-file` lines of at most 64 KiB
/// (newline included); a longer one fails `podman run` with "token too long".
const ENV_LINE_MAX: usize = 64 * 1024 - 1;

/// The podman name of a task's container: `ferry-task-<task_id>-<container>`.
/// Unique per host as long as task ids are of one fixed length (UUIDs are),
/// since the split between the two parts is then known.
pub fn container_name(task_id: &str, container: &str) -> String {
    format!("ferry-task-{task_id}-{container}")
}

/// A container to start for a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskContainerSpec {
    pub task_id: String,
    /// The host (agent) it runs on: [`Engine::list`] finds containers by it.
    pub host: String,
    /// The container's name in the task definition.
    pub container: String,
    /// Pulled by podman when it is not on the host.
    pub image: String,
    /// Empty: the image's entry point.
    pub entry_point: Vec<String>,
    /// Empty: the image's command.
    pub command: Vec<String>,
    /// May hold secret values: written to a private `--env-file`, never on
    /// a command line. Values cannot hold newlines, carriage returns or NUL
    /// (the env file's format), which [`Engine::run`] refuses.
    pub env: Vec<(String, String)>,
    /// Published on the host in [`TaskNetwork::Bridge`] mode; see
    /// [`TaskNetwork`] for the others.
    pub ports: Vec<PortSpec>,
    pub network: TaskNetwork,
    /// `None`: the image's.
    pub working_dir: Option<String>,
    /// A user name or `uid[:gid]`; `None`: the image's.
    pub user: Option<String>,
    /// Hard memory limit (`--memory`).
    pub memory_mib: Option<u32>,
    /// Soft memory limit (`--memory-reservation`).
    pub memory_reservation_mib: Option<u32>,
    /// Relative CPU weight (`--cpu-shares`); ECS cpu units map 1:1 to shares.
    pub cpu_shares: Option<u32>,
    /// How long the main process has between SIGTERM and SIGKILL when the
    /// container is stopped (`--stop-timeout`, whole seconds, rounded up).
    pub stop_timeout: Duration,
    /// Further labels; the three `ferry.` labels above are set by
    /// [`Engine::run`] and may not be given here.
    pub labels: BTreeMap<String, String>,
}

impl TaskContainerSpec {
    /// A spec with the image's entry point and command, no variables, no
    /// ports, the bridge network, no limits and a 30 s stop timeout (ECS's
    /// default).
    pub fn new(
        task_id: impl Into<String>,
        host: impl Into<String>,
        container: impl Into<String>,
        image: impl Into<String>,
    ) -> Self {
        Self {
            task_id: task_id.into(),
            host: host.into(),
            container: container.into(),
            image: image.into(),
            entry_point: Vec::new(),
            command: Vec::new(),
            env: Vec::new(),
            ports: Vec::new(),
            network: TaskNetwork::Bridge,
            working_dir: None,
            user: None,
            memory_mib: None,
            memory_reservation_mib: None,
            cpu_shares: None,
            stop_timeout: Duration::from_secs(30),
            labels: BTreeMap::new(),
        }
    }

    /// Its podman name ([`container_name`]).
    pub fn podman_name(&self) -> String {
        container_name(&self.task_id, &self.container)
    }
}

/// One port to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSpec {
    pub container_port: u16,
    /// 0: podman picks a free port (on all addresses); see
    /// [`TaskContainer::ports`] for which.
    pub host_port: u16,
    /// UDP instead of TCP.
    pub udp: bool,
}

/// The network of a task's container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskNetwork {
    /// podman's default bridge network; [`TaskContainerSpec::ports`] are
    /// published on the host (ECS `bridge`).
    #[default]
    Bridge,
    /// The host's network: the container's ports are the host's, nothing is
    /// published, so a port's `host_port` must be 0 or its `container_port`
    /// (ECS `host`).
    Host,
    /// Loopback only; ports are refused (ECS `none`).
    None,
}

/// A container's state as podman reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    /// Created but never started (or its start failed).
    Created,
    Running,
    /// Its main process ended with `code` (128 + N for signal N).
    Exited {
        code: i32,
    },
    /// Anything else podman says (`paused`, `stopping`, `removing`, …).
    Other(String),
}

/// One published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortBinding {
    pub container_port: u16,
    pub udp: bool,
    /// On all of the host's addresses (ferry publishes no other way).
    pub host_port: u16,
}

/// One task container as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskContainer {
    /// podman's container id.
    pub engine_id: String,
    /// Its podman name ([`container_name`]).
    pub name: String,
    /// From its labels (empty if a label is missing).
    pub task_id: String,
    pub host: String,
    pub container: String,
    pub state: ContainerState,
    /// Unix seconds of its (last) start, `None` if never started.
    pub started_at: Option<i64>,
    /// Unix seconds of its exit, `None` unless it exited.
    pub finished_at: Option<i64>,
    /// What podman publishes for it (also after it exited); empty in the
    /// host and none networks.
    pub ports: Vec<PortBinding>,
    /// Its labels without the three `ferry.` ones above (that is, the spec's
    /// [`TaskContainerSpec::labels`]).
    pub labels: BTreeMap<String, String>,
}

impl TaskContainer {
    /// The host port `container_port` (TCP, or UDP if `udp`) is published on.
    pub fn host_port(&self, container_port: u16, udp: bool) -> Option<u16> {
        self.ports.iter().find(|p| p.container_port == container_port && p.udp == udp).map(|p| p.host_port)
    }
}

/// The podman CLI, for task containers.
#[derive(Debug, Clone)]
pub struct Engine {
    program: PathBuf,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new("podman")
    }
}

impl Engine {
    /// `program`: the podman binary (`podman` on `PATH` by default).
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self { program: program.into() }
    }

    /// `podman <version>`, e.g. `podman 4.3.1`; [`Error::EngineMissing`]
    /// (which says how to install it) when podman is missing or broken.
    pub async fn version(&self) -> Result<String, Error> {
        let out = self.call(["version", "--format", "{{.Client.Version}}"], "podman version", ENGINE_TIMEOUT).await;
        match out {
            Ok(version) => Ok(format!("podman {}", version.trim())),
            Err(Error::Engine { detail, .. }) => Err(Error::EngineMissing(format!("podman version failed: {detail}"))),
            Err(e) => Err(e),
        }
    }

    /// Starts `spec`'s container (`podman run --detach`, pulling its image
    /// when missing) and returns it as podman reports it once started, host
    /// ports known. A container whose start failed is removed again (so the
    /// name can be reused) and the error carries podman's reason; an image
    /// that cannot be had is [`Error::ImageUnavailable`]; a name in use is
    /// [`Error::ContainerExists`].
    pub async fn run(&self, spec: &TaskContainerSpec) -> Result<TaskContainer, Error> {
        let name = spec.podman_name();
        validate(spec, &name)?;
        let dir = PrivateDir::create().map_err(Error::io(format!("cannot make a private directory for {name}")))?;
        let cidfile = dir.path().join("cid");
        let mut args: Vec<OsString> = ["run", "--detach", "--quiet", "--pull=missing"].map(OsString::from).into();
        args.push(flag("--cidfile", &cidfile));
        args.push(format!("--name={name}").into());
        for (k, v) in [(TASK_LABEL, &spec.task_id), (HOST_LABEL, &spec.host), (CONTAINER_LABEL, &spec.container)]
            .into_iter()
            .chain(spec.labels.iter().map(|(k, v)| (k.as_str(), v)))
        {
            args.push(format!("--label={k}={v}").into());
        }
        match spec.network {
            TaskNetwork::Bridge => {
                args.push("--network=bridge".into());
                for p in &spec.ports {
                    let proto = if p.udp { "udp" } else { "tcp" };
                    args.push(match p.host_port {
                        0 => format!("--publish={}/{proto}", p.container_port).into(),
                        host => format!("--publish={host}:{}/{proto}", p.container_port).into(),
                    });
                }
            }
            TaskNetwork::Host => args.push("--network=host".into()),
            TaskNetwork::None => args.push("--network=none".into()),
        }
        if !spec.env.is_empty() {
            let env_file = dir.path().join("env");
            write_env_file(&env_file, &spec.env).map_err(Error::io(format!("cannot write the env file of {name}")))?;
            args.push(flag("--env-file", &env_file));
        }
        if let Some(dir) = &spec.working_dir {
            args.push(format!("--workdir={dir}").into());
        }
        if let Some(user) = &spec.user {
            args.push(format!("--user={user}").into());
        }
        if let Some(mib) = spec.memory_mib {
            args.push(format!("--memory={mib}m").into());
        }
        if let Some(mib) = spec.memory_reservation_mib {
            args.push(format!("--memory-reservation={mib}m").into());
        }
        if let Some(shares) = spec.cpu_shares {
            args.push(format!("--cpu-shares={shares}").into());
        }
        args.push(format!("--stop-timeout={}", ceil_secs(spec.stop_timeout)).into());
        if !spec.entry_point.is_empty() {
            // podman takes a JSON array for an entry point of several words.
            let json = serde_json::to_string(&spec.entry_point).expect("strings serialize");
            args.push(format!("--entrypoint={json}").into());
        }
        args.push(spec.image.clone().into());
        args.extend(spec.command.iter().map(OsString::from));

        let what = format!("cannot start task container {name} from image {}", spec.image);
        let ran = self.call(&args, &what, RUN_TIMEOUT).await;
        // The container exists from here (or never will): its id is all
        // that is still needed from the directory, and the env file goes now.
        let cid = std::fs::read_to_string(&cidfile).unwrap_or_default().trim().to_string();
        drop(dir);
        let id = match ran {
            Ok(stdout) => stdout.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or(&cid).to_string(),
            Err(e) => {
                // Created but not started (a missing executable, a bad
                // limit, a timeout): remove exactly that container.
                if !cid.is_empty() {
                    let _ = self.remove(&cid, Duration::ZERO).await;
                }
                return Err(classify_run(e, spec, &name));
            }
        };
        self.ps(&[format!("--filter=id={id}")], &format!("cannot inspect task container {name}"))
            .await?
            .into_iter()
            .find(|c| c.engine_id == id)
            .ok_or_else(|| Error::ContainerNotRunning {
                container: name.clone(),
                detail: "it was removed right after it started".into(),
            })
    }

    /// Every container (running or not) labelled as running on `host`,
    /// sorted by name.
    pub async fn list(&self, host: &str) -> Result<Vec<TaskContainer>, Error> {
        let mut found = self
            .ps(&[format!("--filter=label={HOST_LABEL}={host}")], &format!("cannot list the task containers of {host}"))
            .await?;
        // podman's label filter is exact in 4.3; check again so a pattern
        // in a later version's filter cannot widen the answer.
        found.retain(|c| c.host == host);
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    /// Stops the container (SIGTERM, SIGKILL after `stop_timeout`) and
    /// removes it; no error if it is already gone.
    pub async fn remove(&self, name_or_id: &str, stop_timeout: Duration) -> Result<(), Error> {
        let time = format!("--time={}", ceil_secs(stop_timeout));
        self.call(
            ["rm", "--force", "--ignore", &time, "--", name_or_id],
            &format!("cannot remove container {name_or_id}"),
            ENGINE_TIMEOUT + stop_timeout,
        )
        .await
        .map(drop)
    }

    /// Runs an ECS `healthCheck.command` in the container: `["CMD", prog,
    /// args…]` runs `prog` directly, `["CMD-SHELL", cmd, args…]` runs
    /// `/bin/sh -c cmd args…` (as Docker does). `Ok(true)` when it exits 0
    /// within `timeout`; `Ok(false)` when it exits otherwise, cannot be
    /// executed, or times out (it and what it started are killed). `Err`
    /// when podman itself fails, the command is of neither form, or the
    /// container is not running ([`Error::ContainerNotRunning`]).
    pub async fn check_health(&self, name_or_id: &str, command: &[String], timeout: Duration) -> Result<bool, Error> {
        let argv: Vec<&str> = match command.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => rest.iter().map(String::as_str).collect(),
            Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
                ["/bin/sh", "-c"].into_iter().chain(rest.iter().map(String::as_str)).collect()
            }
            _ => {
                return Err(Error::InvalidTask {
                    container: name_or_id.to_string(),
                    detail: format!(
                        "a health check command is [\"CMD\", program, args…] or [\"CMD-SHELL\", command], not {command:?}"
                    ),
                });
            }
        };
        // The exec'd processes are children of conmon, not of our podman
        // client: killing the client on a timeout leaves them running. A
        // marker in their environment finds them on the host's /proc.
        static CHECKS: AtomicU64 = AtomicU64::new(0);
        let marker = format!("{name_or_id}/health-{}-{}", std::process::id(), CHECKS.fetch_add(1, Ordering::Relaxed));
        let mut cmd = self.command();
        cmd.args(["exec", "--interactive=false"])
            .arg(format!("--env={EXEC_ID_VAR}={marker}"))
            .arg("--")
            .arg(name_or_id)
            .args(&argv)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| self.spawn_error(e))?;
        drop(cmd);
        // Podman's own complaints come on stderr: keep the last few lines
        // to tell them from the check's.
        let mut last_stderr: Vec<String> = Vec::new();
        let mut keep = |line: OutputLine| {
            if line.stream == Stream::Stderr {
                last_stderr.push(line.text);
                if last_stderr.len() > 5 {
                    last_stderr.remove(0);
                }
            }
        };
        let kill = || procs::kill_marked(EXEC_ID_VAR, &marker);
        let what = format!("cannot run a health check in container {name_or_id}");
        let ended = supervise(&mut child, Some(timeout), &mut keep, &kill).await.map_err(Error::io(what.clone()))?;
        match ended {
            Ended::TimedOut => {
                // The exec may have started its process only after the
                // first sweep (podman was still setting it up).
                kill();
                Ok(false)
            }
            Ended::Exited(status) => {
                let code = status.code();
                // 125: podman's own failure; 255: "container state improper" in 4.3.
                if matches!(code, Some(125 | 255)) && last_stderr.iter().any(|l| l.starts_with("Error: ")) {
                    return Err(classify(&what, &last_stderr.join("\n"), Some(name_or_id)));
                }
                Ok(code == Some(0))
            }
        }
    }

    /// The last `lines` lines of the container's output (stdout and stderr
    /// in podman's log order), at most [`LOGS_TAIL_MAX_BYTES`] (cut at a
    /// line start); empty when podman cannot tell (best effort, for
    /// explaining why a container stopped).
    pub async fn logs_tail(&self, name_or_id: &str, lines: usize) -> String {
        self.logs_tail_inner(name_or_id, lines).await.unwrap_or_default()
    }

    async fn logs_tail_inner(&self, name_or_id: &str, lines: usize) -> Option<String> {
        // One pipe for both outputs, so the lines stay in podman's order.
        let (mut reader, writer) = std::io::pipe().ok()?;
        let mut cmd = self.command();
        cmd.arg("logs").arg(format!("--tail={lines}")).arg("--").arg(name_or_id);
        cmd.stdout(Stdio::from(writer.try_clone().ok()?)).stderr(Stdio::from(writer));
        let mut child = cmd.spawn().ok()?;
        // The command holds the pipe's write ends: without dropping it the
        // read below never sees the end.
        drop(cmd);
        let read = tokio::task::spawn_blocking(move || {
            let mut tail = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                match std::io::Read::read(&mut reader, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        tail.extend_from_slice(&buf[..n]);
                        if tail.len() > 2 * LOGS_TAIL_MAX_BYTES {
                            tail.drain(..tail.len() - LOGS_TAIL_MAX_BYTES);
                        }
                    }
                }
            }
            tail
        });
        let both = async { (read.await, child.wait().await) };
        // On a timeout the child is killed (kill_on_drop), its pipe closes
        // and the reading thread ends.
        let (tail, status) = tokio::time::timeout(ENGINE_TIMEOUT, both).await.ok()?;
        // A failed podman wrote its complaint, not the container's output.
        status.ok()?.success().then(|| cut_tail(&tail.unwrap_or_default(), LOGS_TAIL_MAX_BYTES))
    }

    /// A `podman` command with a minimal, known environment (the agent's own
    /// variables, secrets included, are not podman's business) that dies
    /// with its handle.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.env_clear().env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
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

    /// Runs podman to its end within `limit`: its stdout, or its stderr as
    /// a classified error (no container or image named: callers refine it).
    async fn call<I, S>(&self, args: I, what: &str, limit: Duration) -> Result<String, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = self.command();
        cmd.args(args);
        // Dropping the future on the timeout kills podman (kill_on_drop).
        let out = match tokio::time::timeout(limit, cmd.output()).await {
            Ok(out) => out.map_err(|e| self.spawn_error(e))?,
            Err(_) => return Err(Error::EngineTimeout { what: what.to_string(), seconds: ceil_secs(limit) }),
        };
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(classify(what, &String::from_utf8_lossy(&out.stderr), None))
        }
    }

    /// `podman ps --all --format json` with `filters`.
    async fn ps(&self, filters: &[String], what: &str) -> Result<Vec<TaskContainer>, Error> {
        let mut args = vec!["ps".to_string(), "--all".into(), "--format=json".into()];
        args.extend(filters.iter().cloned());
        let json = self.call(&args, what, ENGINE_TIMEOUT).await?;
        if json.trim().is_empty() {
            return Ok(Vec::new());
        }
        let listed: Vec<Listed> = serde_json::from_str(&json).map_err(|e| Error::Engine {
            what: format!("{what}: cannot read podman ps's answer"),
            detail: e.to_string(),
        })?;
        Ok(listed.into_iter().map(Listed::into_task_container).collect())
    }
}

/// One container of `podman ps --all --format json` (podman 4.3's field
/// names; fields ferry does not use are ignored).
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listed {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    state: String,
    #[serde(default)]
    exit_code: i32,
    /// Unix seconds; Go's zero time (-62135596800) when never started.
    #[serde(default)]
    started_at: i64,
    /// Unix seconds; Go's zero time when it has not exited.
    #[serde(default)]
    exited_at: i64,
    /// `null` when nothing is published.
    #[serde(default)]
    ports: Option<Vec<ListedPort>>,
    /// `null` when there are none.
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// One entry of `Ports`: `range` consecutive ports from the two given.
#[derive(serde::Deserialize)]
struct ListedPort {
    container_port: u16,
    host_port: u16,
    #[serde(default = "one")]
    range: u16,
    #[serde(default)]
    protocol: String,
}

fn one() -> u16 {
    1
}

impl Listed {
    fn into_task_container(self) -> TaskContainer {
        let state = match self.state.as_str() {
            "running" => ContainerState::Running,
            "exited" | "stopped" => ContainerState::Exited { code: self.exit_code },
            "created" | "configured" | "initialized" => ContainerState::Created,
            other => ContainerState::Other(other.to_string()),
        };
        let finished_at = match state {
            ContainerState::Exited { .. } if self.exited_at > 0 => Some(self.exited_at),
            _ => None,
        };
        let mut ports = Vec::new();
        for p in self.ports.unwrap_or_default() {
            let udp = match p.protocol.as_str() {
                "udp" => true,
                "tcp" | "" => false,
                _ => continue, // sctp: ferry never publishes it
            };
            for i in 0..p.range.max(1) {
                let (Some(container_port), Some(host_port)) =
                    (p.container_port.checked_add(i), p.host_port.checked_add(i))
                else {
                    break;
                };
                ports.push(PortBinding { container_port, udp, host_port });
            }
        }
        let mut labels = self.labels.unwrap_or_default();
        let mut take = |key| labels.remove(key).unwrap_or_default();
        let (task_id, host, container) = (take(TASK_LABEL), take(HOST_LABEL), take(CONTAINER_LABEL));
        TaskContainer {
            engine_id: self.id,
            name: self.names.into_iter().next().unwrap_or_default(),
            task_id,
            host,
            container,
            state,
            started_at: (self.started_at > 0).then_some(self.started_at),
            finished_at,
            ports,
            labels,
        }
    }
}

/// Refuses what podman would reject obscurely, or take differently than meant.
fn validate(spec: &TaskContainerSpec, name: &str) -> Result<(), Error> {
    let invalid = |detail: String| Err(Error::InvalidTask { container: name.to_string(), detail });
    // podman's names: [a-zA-Z0-9][a-zA-Z0-9_.-]*.
    let name_part = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !name_part(&spec.task_id) || !name_part(&spec.container) {
        return invalid(format!(
            "the task id ({:?}) and the container name ({:?}) must be non-empty and of letters, digits, '_', '.' and '-'",
            spec.task_id, spec.container
        ));
    }
    if spec.host.is_empty() {
        return invalid("no host name".into());
    }
    if spec.image.is_empty() || spec.image.starts_with('-') || spec.image.contains(char::is_whitespace) {
        return invalid(format!("{:?} is not an image reference", spec.image));
    }
    for key in spec.labels.keys() {
        if [TASK_LABEL, HOST_LABEL, CONTAINER_LABEL].contains(&key.as_str()) {
            return invalid(format!("label {key} is set by ferry"));
        }
        if key.is_empty() || key.contains('=') {
            return invalid(format!("{key:?} is not a label name"));
        }
    }
    match spec.network {
        TaskNetwork::Bridge => {}
        TaskNetwork::Host => {
            if let Some(p) = spec.ports.iter().find(|p| p.host_port != 0 && p.host_port != p.container_port) {
                return invalid(format!(
                    "in the host network the host port is the container port: {} cannot be published on {}",
                    p.container_port, p.host_port
                ));
            }
        }
        TaskNetwork::None => {
            if !spec.ports.is_empty() {
                return invalid("a container without network cannot publish ports".into());
            }
        }
    }
    for (var, value) in &spec.env {
        // Never the value in a message: it may be a secret.
        if var.is_empty()
            || var.starts_with('#')
            || var.contains(|c: char| c == '=' || c.is_whitespace() || c.is_control())
        {
            return invalid(format!("{var:?} is not an environment variable name"));
        }
        if value.contains(['\n', '\r', '\0']) {
            return invalid(format!(
                "the value of {var} holds a line break or NUL, which podman's env file cannot carry"
            ));
        }
        if var.len() + 1 + value.len() > ENV_LINE_MAX {
            return invalid(format!("the value of {var} is longer than podman's env file allows (64 KiB a line)"));
        }
    }
    Ok(())
}

/// `NAME=value` lines; podman takes each value verbatim up to the line's end.
fn write_env_file(path: &Path, env: &[(String, String)]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    let mut text = String::new();
    for (name, value) in env {
        text.push_str(name);
        text.push('=');
        text.push_str(value);
        text.push('\n');
    }
    file.write_all(text.as_bytes())
}

/// A fresh 0700 directory, removed with everything in it when dropped
/// (also when the caller's future is dropped half-way).
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn create() -> std::io::Result<Self> {
        static DIRS: AtomicU64 = AtomicU64::new(0);
        // A tmpfs keeps secret values off the disks.
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        let mut last = None;
        for _ in 0..10 {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let path = base.join(format!(
                "ferry-task-{}-{}-{}",
                std::process::id(),
                DIRS.fetch_add(1, Ordering::Relaxed),
                nanos.subsec_nanos()
            ));
            // mkdir fails on anything already there (a planted symlink too).
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("ten attempts"))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `--name=value` for a path.
fn flag(name: &str, path: &Path) -> OsString {
    let mut flag = OsString::from(name);
    flag.push("=");
    flag.push(path.as_os_str());
    flag
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The last `max` bytes of `bytes` as text, from a line start when one is
/// in them.
fn cut_tail(bytes: &[u8], max: usize) -> String {
    if bytes.len() <= max {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let tail = &bytes[bytes.len() - max..];
    let from = tail.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    String::from_utf8_lossy(&tail[from..]).into_owned()
}

/// The line podman's failure is told in: the last non-empty one of its
/// stderr (earlier ones are progress and retry warnings), without `Error: `,
/// at most 500 bytes.
fn last_line(stderr: &str) -> String {
    let line = stderr.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("(podman said nothing)");
    let line = line.strip_prefix("Error: ").unwrap_or(line);
    if line.len() <= 500 {
        return line.to_string();
    }
    let mut end = 500;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

/// Maps podman's error text to an [`Error`]; `container`: the container
/// the command was about, for the not-running case.
fn classify(what: &str, stderr: &str, container: Option<&str>) -> Error {
    let detail = last_line(stderr);
    let lower = detail.to_ascii_lowercase();
    if lower.contains("error setting rlimit") || lower.contains("crun") && lower.contains("cgroup") {
        return Error::EngineSetup(format!("{what}: {detail}"));
    }
    if let Some(container) = container
        && (lower.contains("no such container")
            || lower.contains("container state improper")
            || lower.contains("no container with name or id"))
    {
        return Error::ContainerNotRunning { container: container.to_string(), detail };
    }
    if lower.contains("permission denied") && !lower.contains("oci runtime") && !lower.contains("runc") {
        return Error::Permission(format!("{what}: {detail}"));
    }
    Error::Engine { what: what.to_string(), detail }
}

/// Refines a failed `podman run`'s error: the image, the name.
fn classify_run(e: Error, spec: &TaskContainerSpec, name: &str) -> Error {
    let Error::Engine { what, detail } = e else { return e };
    let lower = detail.to_ascii_lowercase();
    const IMAGE_TROUBLE: [&str; 13] = [
        "initializing source",
        "pinging container registry",
        "short-name",
        "image not known",
        "manifest unknown",
        "reading manifest",
        "requested access to the resource is denied",
        "pull access denied",
        "unable to pull",
        "unauthorized",
        "name unknown",
        "invalid reference format",
        "repository name must",
    ];
    if IMAGE_TROUBLE.iter().any(|p| lower.contains(p)) {
        return Error::ImageUnavailable { image: spec.image.clone(), detail };
    }
    if lower.contains("already in use") {
        return Error::ContainerExists(name.to_string());
    }
    Error::Engine { what, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_4_3_ps_json() {
        // Abridged from `podman ps --all --format json` (podman 4.3.1).
        let json = r#"[
          {"Id": "1c77", "Names": ["ferry-task-t1-web"], "State": "running", "ExitCode": 0,
           "StartedAt": 1796323791, "ExitedAt": -62135596800,
           "Ports": [{"host_ip": "", "container_port": 8080, "host_port": 34543, "range": 1, "protocol": "tcp"},
                     {"host_ip": "", "container_port": 7000, "host_port": 7100, "range": 2, "protocol": "udp"}],
           "Labels": {"ferry.task": "t1", "ferry.task-host": "h", "ferry.container": "web", "app": "x"},
           "Command": ["sh"], "Status": "Up 1 second ago", "Created": 1796323790},
          {"Id": "162a", "Names": ["ferry-task-t2-job"], "State": "exited", "ExitCode": 3,
           "StartedAt": 1796323791, "ExitedAt": 1796323792, "Ports": null, "Labels": null},
          {"Id": "c1ef", "Names": ["x"], "State": "created", "ExitCode": 0,
           "StartedAt": -62135596800, "ExitedAt": -62135596800, "Ports": null, "Labels": {}}
        ]"#;
        let listed: Vec<Listed> = serde_json::from_str(json).unwrap();
        let c: Vec<TaskContainer> = listed.into_iter().map(Listed::into_task_container).collect();
        assert_eq!(c[0].state, ContainerState::Running);
        assert_eq!((c[0].task_id.as_str(), c[0].host.as_str(), c[0].container.as_str()), ("t1", "h", "web"));
        assert_eq!(c[0].labels, BTreeMap::from([("app".to_string(), "x".to_string())]));
        assert_eq!((c[0].started_at, c[0].finished_at), (Some(1796323791), None));
        assert_eq!(c[0].host_port(8080, false), Some(34543));
        assert_eq!(c[0].host_port(7001, true), Some(7101));
        assert_eq!(c[0].ports.len(), 3);
        assert_eq!(c[1].state, ContainerState::Exited { code: 3 });
        assert_eq!(c[1].finished_at, Some(1796323792));
        assert!(c[1].ports.is_empty());
        assert_eq!((c[2].state.clone(), c[2].started_at), (ContainerState::Created, None));
    }

    #[test]
    fn tails_start_at_a_line() {
        assert_eq!(cut_tail(b"abc\ndef\n", 100), "abc\ndef\n");
        assert_eq!(cut_tail(b"abc\ndef\n", 6), "def\n");
        assert_eq!(cut_tail(b"abcdefgh", 3), "fgh");
    }

    #[test]
    fn last_lines_drop_progress_and_prefix() {
        let stderr = "Trying to pull x...\ntime=\"…\" level=warning msg=\"retrying\"\nError: initializing source docker://x: no such host\n";
        assert_eq!(last_line(stderr), "initializing source docker://x: no such host");
    }
}
