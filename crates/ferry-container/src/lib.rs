//! Where a build's commands run: an [`Environment`], started by a
//! [`Provider`]. Two providers implement the same traits, so the build runner
//! is written once:
//!
//! - [`Podman`]: a long-lived container from the project's image, the
//!   workspace bind-mounted read-write, commands run in it by `podman exec`.
//! - [`Workspaces`]: no container engine; commands run on the host in the
//!   workspace directory as an unprivileged user (credentials switched
//!   between `fork` and `exec` by `ferry_host::hooks::runas`, as hooks'
//!   `runas` is), with a clean environment.
//!
//! Both tag every process they start with two environment variables,
//! [`ENV_ID_VAR`] (the environment) and [`EXEC_ID_VAR`] (the command), so a
//! timeout or a stop finds and kills everything a command left behind by
//! reading `/proc/*/environ` on the host (container processes are host
//! processes too). A process that clears its own environment escapes that
//! scan: in a container [`Environment::stop`] still kills it (the container's
//! PID namespace ends); in a workspace a timeout still kills it if it stayed
//! in the command's process group, but a stop does not.
//!
//! [`tasks`] runs something else: the long-lived containers of service tasks
//! (ECS-style), through the same `podman` CLI. They are labelled with their
//! task, host and container name, so an agent finds its host's containers
//! again in one `podman ps`. Their environment values may be secrets, so they
//! reach podman in a 0600 `--env-file` deleted as soon as `podman run`
//! returns, never on a command line (which `ps` shows and podman records).
//!
//! # Why the `podman` CLI and not the Docker-compatible API (bollard)
//! Measured on a build machine (2 cores shared, load about 3; podman 4.3.1
//! with runc; busybox image; `true` executed in a running container):
//!
//! | | `podman exec` (CLI) | bollard 0.21.1 over `podman system service` |
//! |---|---|---|
//! | one exec of `true`, same run, two rounds | 544 ms, 422 ms | 308 ms, 178 ms |
//! | one exec, quieter machine (the `exec` bench) | 200–250 ms | – |
//! | first request after connecting | – | 530–630 ms |
//! | service start until it answers | – | 131 ms |
//! | build cost on top of the warm workspace | none | +47 s wall, 70 s CPU (bollard, bollard-stubs, hyperlocal, …) |
//! | engine API not running | n/a (daemonless) | `SocketNotFoundError` at once; the agent must start, supervise and restart `podman system service --time=0` |
//!
//! The API saves 100–250 ms per exec. A build runs a handful of execs (one
//! per phase, or one shell for the whole build), so that is well under a
//! second per build, against a second process to supervise whose death
//! breaks every stream, a large dependency, and a second place for podman's
//! configuration problems to show up. The CLI is daemonless like podman
//! itself, reports errors as text we map to clear messages, and needs no
//! socket permissions. If execs per build ever become many (one per
//! command), a bollard provider can be added behind the same traits.
//!
//! # Machine setup
//! `scripts/setup-podman.sh` (run by `scripts/test.sh`) installs podman,
//! runc and busybox-static and writes `/etc/containers/containers.conf.d/
//! ferry.conf`: `runtime = "runc"` (the hosts have hybrid cgroups, which crun
//! refuses) and `default_ulimits` within the host's limits (nofile at its
//! hard limit, nproc at most `pid_max`): root on these hosts lacks
//! `CAP_SYS_RESOURCE`, and podman's own defaults make runc fail with
//! "error setting rlimit … operation not permitted" ([`Error::EngineSetup`]).
//!
//! **Architecture Invariant:** knows nothing of builds, buildspecs or the
//! server: it starts environments, runs commands in them and stops them.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

mod output;
mod podman;
pub mod procs;
pub mod tasks;
mod workspace;

pub use podman::Podman;
pub use workspace::Workspaces;

/// The variable naming the environment in every process started in it.
pub const ENV_ID_VAR: &str = "FERRY_ENVIRONMENT_ID";
/// The variable naming the command (`<environment>/<n>`) in every process it starts.
pub const EXEC_ID_VAR: &str = "FERRY_EXEC_ID";

/// Longest output line delivered as one [`OutputLine`], in bytes; longer
/// lines arrive in pieces of at most this size.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// A boxed future, so that the traits can be used as `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Starts environments and finds the ones a previous agent left.
pub trait Provider: Send + Sync {
    /// What environments of this provider are (for the build's record).
    fn describe(&self) -> String;
    /// Starts a new environment; `spec.name` must be unused.
    fn start<'a>(&'a self, spec: &'a EnvSpec) -> BoxFuture<'a, Result<Box<dyn Environment>, Error>>;
    /// The environments (running or not) carrying all of `labels`.
    fn list<'a>(&'a self, labels: &'a BTreeMap<String, String>) -> BoxFuture<'a, Result<Vec<EnvInfo>, Error>>;
    /// Kills everything in the environment named `name` and forgets it
    /// (for leftovers found by [`Provider::list`]); no error if it is gone.
    fn remove<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), Error>>;
}

/// One started environment.
pub trait Environment: Send + Sync {
    /// Its name, kind and labels.
    fn info(&self) -> &EnvInfo;
    /// The workspace as commands see it (the mount point in a container,
    /// the host directory otherwise).
    fn workspace_path(&self) -> &Path;
    /// Runs a command to its end (or its timeout), handing each output line
    /// to `output` as it comes.
    fn exec<'a>(
        &'a self,
        request: &'a ExecRequest,
        output: &'a mut (dyn FnMut(OutputLine) + Send),
    ) -> BoxFuture<'a, Result<ExecOutcome, Error>>;
    /// Kills every process in it and removes it; calling it again is harmless.
    fn stop(&self) -> BoxFuture<'_, Result<(), Error>>;
}

/// What to start.
#[derive(Debug, Clone)]
pub struct EnvSpec {
    /// Unique among this provider's environments (the container's name).
    pub name: String,
    /// The container image; recorded but not used by [`Workspaces`].
    pub image: String,
    /// The workspace directory on the host (must exist and be writable by `user`).
    pub workspace: PathBuf,
    /// Where commands see the workspace in a container (ignored by [`Workspaces`]).
    pub mount_at: PathBuf,
    /// Variables of every command (a command's own come on top).
    pub env: Vec<(String, String)>,
    /// Default working directory: absolute, or relative to the workspace;
    /// `None` is the workspace itself.
    pub workdir: Option<PathBuf>,
    /// Who commands run as: a user name (or `uid[:gid]` in a container);
    /// `None` is the image's user, or the provider's default user.
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub network: Network,
}

impl EnvSpec {
    pub fn new(name: impl Into<String>, image: impl Into<String>, workspace: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            image: image.into(),
            workspace: workspace.into(),
            mount_at: PathBuf::from("/workspace"),
            env: Vec::new(),
            workdir: None,
            user: None,
            labels: BTreeMap::new(),
            network: Network::None,
        }
    }
}

/// The network of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// Loopback only (the default: builds need no network unless they say so).
    #[default]
    None,
    /// The host's network. [`Workspaces`] always has it.
    Host,
}

/// What an environment is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvInfo {
    pub name: String,
    pub kind: Kind,
    pub labels: BTreeMap<String, String>,
    /// Whether it is running (a container can have exited; a workspace is
    /// listed until removed).
    pub running: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A podman container from `image`.
    Container { image: String },
    /// A host directory; `image` is what a container would have used.
    Workspace { image: String },
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Container { image } => write!(f, "container from image {image} (podman)"),
            Kind::Workspace { image } => {
                write!(f, "workspace on the host as an unprivileged user, no container (image {image} not used)")
            }
        }
    }
}

/// A command to run.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// Program and arguments (no shell unless you ask for one: [`ExecRequest::shell`]).
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Absolute, or relative to the workspace; `None`: the environment's.
    pub workdir: Option<PathBuf>,
    /// `None`: the environment's user.
    pub user: Option<String>,
    /// When this passes the command and everything it started get SIGKILL
    /// (no TERM grace: a build's timeout is final).
    pub timeout: Option<Duration>,
}

impl ExecRequest {
    pub fn new<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        Self {
            argv: argv.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            workdir: None,
            user: None,
            timeout: None,
        }
    }

    /// `sh -c script`.
    pub fn shell(script: impl Into<String>) -> Self {
        Self::new(["sh".to_string(), "-c".to_string(), script.into()])
    }

    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn workdir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workdir = Some(dir.into());
        self
    }

    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of output, without its newline (invalid UTF-8 replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: Stream,
    pub text: String,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecOutcome {
    /// Its exit code; a command killed by signal N counts as 128 + N, as
    /// shells (and `podman exec`) report it.
    Exited(i32),
    /// The timeout passed; it and everything it started were killed.
    TimedOut,
}

impl ExecOutcome {
    pub fn success(&self) -> bool {
        *self == ExecOutcome::Exited(0)
    }
}

/// Why an operation failed; the messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "podman is not installed or not runnable ({0}): install it with `apt-get install podman runc` and configure it with scripts/setup-podman.sh"
    )]
    EngineMissing(String),
    #[error(
        "image {image} is not on this host and ferry does not pull images: import one (`podman import rootfs.tar {image}`) or pull it (`podman pull {image}`) first"
    )]
    ImageMissing { image: String },
    #[error("an environment named {0} already exists: remove it (`podman rm -f {0}`) or choose another name")]
    NameInUse(String),
    #[error(
        "podman is not configured for this host: {0}; scripts/setup-podman.sh writes the containers.conf settings it needs (runtime runc, default_ulimits at the host's limits)"
    )]
    EngineSetup(String),
    #[error("permission denied: {0}; run the agent as root (builds switch to an unprivileged user themselves)")]
    Permission(String),
    #[error("environment {0} is not running (stopped, or removed by someone else)")]
    NotRunning(String),
    #[error("user {0}")]
    User(String),
    #[error("{what}: {detail}")]
    Engine { what: String, detail: String },
    #[error(
        "image {image} is not on this host and cannot be pulled: {detail}; check the image's name and the host's access to its registry, or load it (`podman load`/`podman import`)"
    )]
    ImageUnavailable { image: String, detail: String },
    #[error(
        "a container named {0} already exists: it is in `list` (started before), or remove it with `podman rm -f {0}`"
    )]
    ContainerExists(String),
    #[error("container {container} is not running (it exited or was removed): {detail}")]
    ContainerNotRunning { container: String, detail: String },
    #[error("task container {container}: {detail}")]
    InvalidTask { container: String, detail: String },
    #[error(
        "{what}: podman did not finish within {seconds} s and was killed; check that `podman ps` answers on this host"
    )]
    EngineTimeout { what: String, seconds: u64 },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

/// Resolves a request's working directory against the workspace as commands see it.
pub(crate) fn resolve_workdir(workspace: &Path, env_default: Option<&Path>, request: Option<&Path>) -> PathBuf {
    match request.or(env_default) {
        Some(dir) if dir.is_absolute() => dir.to_path_buf(),
        Some(dir) => workspace.join(dir),
        None => workspace.to_path_buf(),
    }
}
