//! How the agent is set up.

use std::path::PathBuf;
use std::time::Duration;

use ferry_bundle::Limits;
use ferry_host::hooks::HookRunConfig;
use ferry_proto::Tag;

/// The default agent root.
pub const DEFAULT_ROOT: &str = "/opt/ferry";

/// Everything [`crate::run`] needs.
#[derive(Clone)]
pub struct AgentConfig {
    /// The server's base address, `https://host:port` (a path prefix is
    /// allowed; `http://` for a server run with `--insecure-http`).
    pub server: String,
    /// The fleet's join token; needed only until this host has enrolled.
    /// As the server prints it, it ends in `.sha256-<CA fingerprint>`.
    pub join_token: Option<String>,
    /// The CA the server's certificate must chain to (PEM); when absent, the
    /// one pinned at enrolment (`state/ca.pem`), found by the join token's fingerprint.
    pub ca_file: Option<PathBuf>,
    /// The instance name to enrol as (unique in the fleet).
    pub name: String,
    /// Tags sent at enrolment.
    pub tags: Vec<Tag>,
    /// The agent root ([`DEFAULT_ROOT`] by default): `deployment-root/`, `state/`.
    pub root: PathBuf,
    /// Deployment directories kept per deployment group (at least 1).
    pub max_revisions: u32,
    /// Hook runner knobs (kill grace, outputs grace).
    pub hooks: HookRunConfig,
    /// Bounds on what one bundle may unpack to.
    pub bundle_limits: Limits,
    /// First delay after a failed request; doubles on each further failure.
    pub retry_initial: Duration,
    /// Longest delay between retries.
    pub retry_max: Duration,
    /// After shutdown is requested, how long to keep trying to deliver the
    /// reports of events that ran (they are re-sent at the next start anyway).
    pub shutdown_grace: Duration,
    /// How many builds this host runs at once (0: it is not a build host).
    pub builds: u32,
    /// Who build commands run as in a workspace (builds without a container).
    pub build_user: String,
    /// Whether this host runs service tasks (when a container engine works here).
    pub containers: crate::ContainerMode,
}

impl AgentConfig {
    pub fn new(server: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            join_token: None,
            ca_file: None,
            name: name.into(),
            tags: Vec::new(),
            root: PathBuf::from(DEFAULT_ROOT),
            max_revisions: 5,
            hooks: HookRunConfig::default(),
            bundle_limits: Limits::default(),
            retry_initial: Duration::from_millis(200),
            retry_max: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            builds: 0,
            build_user: "nobody".into(),
            containers: crate::ContainerMode::Auto,
        }
    }

    /// `<root>/deployment-root`: the host engine's root.
    pub fn deployment_root(&self) -> PathBuf {
        self.root.join("deployment-root")
    }

    /// `<root>/state`.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }

    /// `<root>/state/credentials`.
    pub fn credentials_file(&self) -> PathBuf {
        self.state_dir().join("credentials")
    }

    /// `<root>/state/ca.pem`: the server's CA, pinned at enrolment.
    pub fn pinned_ca_file(&self) -> PathBuf {
        self.state_dir().join("ca.pem")
    }

    /// `<root>/state/commands`: the command journal.
    pub fn journal_dir(&self) -> PathBuf {
        self.state_dir().join("commands")
    }

    /// `<root>/builds`: one directory per running build.
    pub fn builds_dir(&self) -> PathBuf {
        self.root.join("builds")
    }

    pub(crate) fn lock_file(&self) -> PathBuf {
        self.state_dir().join("agent.lock")
    }
}

/// Leaves the join token out.
impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("server", &self.server)
            .field("join_token", &self.join_token.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .field("name", &self.name)
            .field("tags", &self.tags)
            .field("root", &self.root)
            .field("max_revisions", &self.max_revisions)
            .field("hooks", &self.hooks)
            .field("bundle_limits", &self.bundle_limits)
            .field("retry_initial", &self.retry_initial)
            .field("retry_max", &self.retry_max)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("builds", &self.builds)
            .field("build_user", &self.build_user)
            .field("containers", &self.containers)
            .finish()
    }
}
