//! `HostEngine::run_event`: one lifecycle event of one deployment on this
//! host, from the deployment spec to CodeDeploy-style diagnostics.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use ferry_appspec::{FileExistsBehavior, SERVER_LIFECYCLE_EVENTS, ServerAppSpec};
use ferry_bundle::{BundleType, Limits};

use crate::diagnostics::Diagnostics;
use crate::hooks::{HookRunConfig, run_scripts};
use crate::layout::{DeploymentDir, Layout, Pointer};
use crate::scripts_log::ScriptsLog;

/// The default appspec file name.
pub const DEFAULT_APPSPEC: &str = "appspec.yml";

/// How the engine is set up on this host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The deployment root (`/opt/ferry/deployment-root` by default).
    pub root: PathBuf,
    /// Deployment directories kept per group, counting the current one (≥ 1).
    pub max_revisions: u32,
    pub bundle_limits: Limits,
    pub hooks: HookRunConfig,
}

impl HostConfig {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), max_revisions: 5, bundle_limits: Limits::default(), hooks: HookRunConfig::default() }
    }
}

/// Who created a deployment; rollbacks of blue/green deployments take their
/// traffic-hook scripts from other revisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Creator {
    #[default]
    User,
    /// CodeDeploy's `codeDeployRollback`.
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeploymentType {
    #[default]
    InPlace,
    BlueGreen,
}

/// Where a revision came from; decides the `BUNDLE_*` variables hooks see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevisionSource {
    /// A file or directory on this host (`ferry local`).
    Local {
        path: PathBuf,
    },
    /// A bundle uploaded to the ferry server (no extra variables).
    Server,
    S3 {
        bucket: String,
        key: String,
        version: Option<String>,
        etag: Option<String>,
    },
    GitHub {
        repository: String,
        commit: String,
    },
}

/// Everything the host needs to know about a deployment.
#[derive(Debug, Clone)]
pub struct DeploymentSpec {
    pub deployment_id: String,
    pub application_name: String,
    pub deployment_group_name: String,
    pub deployment_group_id: String,
    pub revision: RevisionSource,
    pub bundle_type: BundleType,
    /// A custom appspec file name; `None` means `appspec.yml` (then `appspec.yaml`).
    pub appspec_filename: Option<String>,
    /// The deployment-level file-exists behaviour (the appspec's wins).
    pub file_exists_behavior: Option<FileExistsBehavior>,
    pub creator: Creator,
    pub deployment_type: DeploymentType,
    /// When set, the appspec may only hook these events, and must hook every
    /// custom (non-standard) event listed.
    pub all_possible_events: Option<Vec<String>>,
}

/// Fetches a bundle that is not on this host into a file.
pub trait BundleFetcher: Send + Sync {
    fn fetch<'a>(&'a self, dest: &'a Path) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// Why the engine refused its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("max_revisions must be at least 1 (got {0})")]
    MaxRevisions(u32),
}

/// The host-side engine. Cheap to clone; holds no open files between events.
#[derive(Debug, Clone)]
pub struct HostEngine {
    config: Arc<HostConfig>,
    layout: Layout,
}

impl HostEngine {
    pub fn new(config: HostConfig) -> Result<Self, ConfigError> {
        if config.max_revisions < 1 {
            return Err(ConfigError::MaxRevisions(config.max_revisions));
        }
        let layout = Layout::new(config.root.clone());
        Ok(Self { config: Arc::new(config), layout })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Runs one lifecycle event and reports its outcome. Never panics on bad
    /// input: every failure becomes diagnostics.
    pub async fn run_event(
        &self,
        spec: &DeploymentSpec,
        event: &str,
        fetcher: Option<&dyn BundleFetcher>,
    ) -> Diagnostics {
        let dir = self.layout.deployment_dir(&spec.deployment_group_id, &spec.deployment_id);
        if let Err(e) = std::fs::create_dir_all(dir.join("logs")) {
            return Diagnostics::unknown(format!("cannot create deployment directory {}: {e}", dir.display()));
        }
        match event {
            "DownloadBundle" => self.download_bundle(spec, &dir, fetcher).await,
            "Install" => self.install(spec, &dir).await,
            // Traffic is moved by the server; the host has nothing to do.
            "BlockTraffic" | "AllowTraffic" => Diagnostics::success(String::new()),
            hook => self.run_hook(spec, &dir, hook).await,
        }
    }

    /// True when `event` would run no script for this deployment on this host
    /// (DownloadBundle and Install never are no-ops).
    pub fn is_noop(&self, spec: &DeploymentSpec, event: &str) -> bool {
        if matches!(event, "DownloadBundle" | "Install") {
            return false;
        }
        let dir = self.layout.deployment_dir(&spec.deployment_group_id, &spec.deployment_id);
        match self.script_source(spec, &dir, event) {
            Ok(Some(source)) => match appspec_of(spec, &source, &dir) {
                Ok(appspec) => appspec.scripts_for(event).is_empty(),
                Err(_) => false,
            },
            Ok(None) => true,
            Err(_) => false,
        }
    }

    async fn download_bundle(
        &self,
        spec: &DeploymentSpec,
        dir: &Path,
        fetcher: Option<&dyn BundleFetcher>,
    ) -> Diagnostics {
        let group_dir = self.layout.group_dir(&spec.deployment_group_id);
        let last_successful = self.layout.read_pointer(&spec.deployment_group_id, Pointer::LastSuccessful);
        if let Err(e) = crate::retention::prune_old_revisions(
            &group_dir,
            dir,
            last_successful.as_deref(),
            self.config.max_revisions,
        ) {
            return Diagnostics::unknown(format!("cannot prune old revisions in {}: {e}", group_dir.display()));
        }
        let bundle_path = match &spec.revision {
            RevisionSource::Local { path } => {
                if !path.exists() {
                    return Diagnostics::unknown(format!("bundle {} does not exist", path.display()));
                }
                path.clone()
            }
            _ => {
                let Some(fetcher) = fetcher else {
                    return Diagnostics::unknown("no way to fetch a remote bundle was given");
                };
                let dest = dir.bundle_file();
                let _ = std::fs::remove_file(&dest);
                if let Err(e) = fetcher.fetch(&dest).await {
                    return Diagnostics::unknown(format!("could not download the bundle: {e}"));
                }
                dest
            }
        };
        let archive = dir.archive();
        let limits = self.config.bundle_limits;
        let kind = spec.bundle_type;
        let unpacked =
            tokio::task::spawn_blocking(move || unpack_revision(&bundle_path, kind, &archive, &limits)).await;
        match unpacked {
            Ok(Ok(())) => {}
            Ok(Err(message)) => return Diagnostics::unknown(message),
            Err(e) => return Diagnostics::unknown(format!("unpacking failed: {e}")),
        }
        if let Err(e) = self.layout.write_pointer(&spec.deployment_group_id, Pointer::MostRecent, dir) {
            return Diagnostics::unknown(format!("cannot record the most recent install: {e}"));
        }
        Diagnostics::success(String::new())
    }

    async fn install(&self, spec: &DeploymentSpec, dir: &Path) -> Diagnostics {
        let archive = dir.archive();
        if !archive.is_dir() {
            return Diagnostics::unknown(format!(
                "the revision is not unpacked at {} (DownloadBundle must run first)",
                archive.display()
            ));
        }
        let appspec = match load_appspec(&archive, spec.appspec_filename.as_deref(), &custom_events_of(spec)) {
            Ok(appspec) => appspec,
            Err(message) => return Diagnostics::unknown(message),
        };
        if let Some(all) = &spec.all_possible_events
            && let Err(message) = check_lifecycle_events(&appspec, all)
        {
            return Diagnostics::unknown(message);
        }
        // Precedence: the appspec, then the deployment, then DISALLOW.
        let behavior = appspec.file_exists_behavior.or(spec.file_exists_behavior).unwrap_or_default();
        let records = self.layout.install_records(&spec.deployment_group_id);
        let installed =
            tokio::task::spawn_blocking(move || crate::install::install(&appspec, &archive, behavior, &records)).await;
        match installed {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Diagnostics::unknown(e.to_string()),
            Err(e) => return Diagnostics::unknown(format!("install failed: {e}")),
        }
        if let Err(e) = self.layout.write_pointer(&spec.deployment_group_id, Pointer::LastSuccessful, dir) {
            return Diagnostics::unknown(format!("cannot record the last successful install: {e}"));
        }
        Diagnostics::success(String::new())
    }

    async fn run_hook(&self, spec: &DeploymentSpec, dir: &Path, event: &str) -> Diagnostics {
        let source = match self.script_source(spec, dir, event) {
            Ok(Some(source)) => source,
            Ok(None) => return Diagnostics::success(String::new()),
            Err(message) => return Diagnostics::unknown(message),
        };
        let script_root = source.archive();
        let appspec = match appspec_of(spec, &source, dir) {
            Ok(appspec) => appspec,
            Err(message) => return Diagnostics::unknown(message),
        };
        let scripts = appspec.scripts_for(event);
        if scripts.is_empty() {
            return Diagnostics::success(String::new());
        }
        // Output always goes to the current deployment's log, even when the
        // previous revision's scripts run.
        let log = match ScriptsLog::open(&dir.scripts_log()) {
            Ok(log) => log,
            Err(e) => return Diagnostics::unknown(format!("cannot open {}: {e}", dir.scripts_log().display())),
        };
        let env = hook_environment(spec, event);
        run_scripts(event, scripts, &script_root, &env, &log, &self.config.hooks).await
    }

    /// The deployment directory whose scripts run `event`, or `None` when the
    /// event is a no-op (stop-side hooks on a group's first deployment).
    fn script_source(&self, spec: &DeploymentSpec, dir: &Path, event: &str) -> Result<Option<PathBuf>, String> {
        let current_unpacked = dir.archive().is_dir();
        let blue_green_rollback =
            spec.creator == Creator::Rollback && spec.deployment_type == DeploymentType::BlueGreen;
        let previous = |which| {
            if current_unpacked {
                Some(dir.to_path_buf())
            } else {
                self.layout.read_pointer(&spec.deployment_group_id, which)
            }
        };
        let source = match event {
            "BeforeBlockTraffic" | "AfterBlockTraffic" if blue_green_rollback => previous(Pointer::MostRecent),
            "BeforeAllowTraffic" | "AfterAllowTraffic" if blue_green_rollback => previous(Pointer::LastSuccessful),
            "ApplicationStop" | "BeforeBlockTraffic" | "AfterBlockTraffic" => previous(Pointer::LastSuccessful),
            _ if current_unpacked => Some(dir.to_path_buf()),
            _ => {
                return Err(format!(
                    "cannot run {event}: the revision is not unpacked at {} (DownloadBundle must run first)",
                    dir.archive().display()
                ));
            }
        };
        Ok(source)
    }
}

/// The environment CodeDeploy gives hook scripts.
pub fn hook_environment(spec: &DeploymentSpec, event: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("LIFECYCLE_EVENT".to_string(), event.to_string()),
        ("DEPLOYMENT_ID".to_string(), crate::layout::short_deployment_id(&spec.deployment_id).to_string()),
        ("APPLICATION_NAME".to_string(), spec.application_name.clone()),
        ("DEPLOYMENT_GROUP_NAME".to_string(), spec.deployment_group_name.clone()),
        ("DEPLOYMENT_GROUP_ID".to_string(), spec.deployment_group_id.clone()),
    ];
    match &spec.revision {
        RevisionSource::S3 { bucket, key, version, etag } => {
            env.push(("BUNDLE_BUCKET".into(), bucket.clone()));
            env.push(("BUNDLE_KEY".into(), key.clone()));
            env.push(("BUNDLE_VERSION".into(), version.clone().unwrap_or_default()));
            env.push(("BUNDLE_ETAG".into(), etag.clone().unwrap_or_default()));
        }
        RevisionSource::GitHub { commit, .. } => env.push(("BUNDLE_COMMIT".into(), commit.clone())),
        RevisionSource::Local { .. } | RevisionSource::Server => {}
    }
    env
}

/// Unpacks a bundle into a fresh `archive` directory and applies CodeDeploy's
/// single-top-level-directory rule.
fn unpack_revision(bundle: &Path, kind: BundleType, archive: &Path, limits: &Limits) -> Result<(), String> {
    remove_dir_if_exists(archive)?;
    if let Err(e) = ferry_bundle::unpack(bundle, kind, archive, limits) {
        // Whatever was written stays inside `archive`; do not leave it half-made.
        let _ = std::fs::remove_dir_all(archive);
        return Err(format!("cannot unpack the {} bundle: {e}", kind.as_str()));
    }
    hoist_single_top_level_dir(archive).map_err(|e| format!("cannot rearrange the unpacked revision: {e}"))
}

fn remove_dir_if_exists(dir: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", dir.display())),
    }
}

/// If the archive's only top-level entry is a directory holding an appspec
/// file, that directory becomes the archive root (CodeDeploy's rule).
fn hoist_single_top_level_dir(archive: &Path) -> std::io::Result<()> {
    let mut entries = std::fs::read_dir(archive)?;
    let (Some(only), None) = (entries.next().transpose()?, entries.next().transpose()?) else {
        return Ok(());
    };
    if !only.file_type()?.is_dir() {
        return Ok(());
    }
    let inner = only.path();
    let has_appspec = std::fs::read_dir(&inner)?
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().to_ascii_lowercase().contains("appspec"));
    if !has_appspec {
        return Ok(());
    }
    let parent = archive.parent().unwrap_or(archive);
    let staging = parent.join(".deployment-archive-hoist");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::rename(&inner, &staging)?;
    std::fs::remove_dir(archive)?;
    std::fs::rename(&staging, archive)
}

/// The custom lifecycle events a deployment runs (only `ferry local
/// --events` names any): hooks may name them besides the standard ones.
pub fn custom_events(events: &[String]) -> Vec<String> {
    events.iter().filter(|e| !SERVER_LIFECYCLE_EVENTS.contains(&e.as_str())).cloned().collect()
}

fn custom_events_of(spec: &DeploymentSpec) -> Vec<String> {
    custom_events(spec.all_possible_events.as_deref().unwrap_or_default())
}

/// The appspec whose scripts run from deployment directory `source`: this
/// deployment's (every rule), or an earlier one's (as it was installed).
fn appspec_of(spec: &DeploymentSpec, source: &Path, current: &Path) -> Result<ServerAppSpec, String> {
    if source == current {
        load_appspec(&source.archive(), spec.appspec_filename.as_deref(), &custom_events_of(spec))
    } else {
        let (name, text) = read_appspec(&source.archive(), spec.appspec_filename.as_deref())?;
        ferry_appspec::parse_installed_server(&name, &text).map_err(|e| e.to_string())
    }
}

/// Finds and parses the appspec of an unpacked revision (see
/// [`ferry_appspec::parse_server_with_events`]). A custom name must exist as
/// given; otherwise `appspec.yml`, then `appspec.yaml`, are tried.
pub fn load_appspec(
    archive: &Path,
    custom_name: Option<&str>,
    custom_events: &[String],
) -> Result<ServerAppSpec, String> {
    let (name, text) = read_appspec(archive, custom_name)?;
    ferry_appspec::parse_server_with_events(&name, &text, custom_events).map_err(|e| e.to_string())
}

/// The appspec's name (relative to the archive) and text.
fn read_appspec(archive: &Path, custom_name: Option<&str>) -> Result<(String, String), String> {
    let path = find_appspec(archive, custom_name)?;
    let text = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8(text).map_err(|_| format!("{} is not valid UTF-8", path.display()))?;
    let name = path.strip_prefix(archive).unwrap_or(&path).display().to_string();
    Ok((name, text))
}

/// A bundle's appspec name and text, read before any event runs (by `ferry
/// local`, and by the server when a deployment is created): the bundle is
/// unpacked into `scratch` (which must not exist; removed afterwards) as
/// DownloadBundle would, so the appspec found is the one the hosts will use.
pub fn bundle_appspec(
    bundle: &Path,
    kind: BundleType,
    custom_name: Option<&str>,
    scratch: &Path,
    limits: &Limits,
) -> Result<(String, String), String> {
    let archive = scratch.join("deployment-archive");
    let read = unpack_revision(bundle, kind, &archive, limits).and_then(|()| read_appspec(&archive, custom_name));
    let _ = std::fs::remove_dir_all(scratch);
    read
}

fn find_appspec(archive: &Path, custom_name: Option<&str>) -> Result<PathBuf, String> {
    let candidates: Vec<&str> = match custom_name {
        Some(name) if name != DEFAULT_APPSPEC => {
            let relative = Path::new(name);
            if relative.is_absolute() || relative.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
                return Err(format!("the appspec file name {name:?} must be a plain path inside the revision"));
            }
            vec![name]
        }
        _ => vec![DEFAULT_APPSPEC, "appspec.yaml"],
    };
    candidates.iter().map(|name| archive.join(name)).find(|path| path.is_file()).ok_or_else(|| {
        format!(
            "no AppSpec file found in the unpacked revision at {} (looked for {})",
            archive.display(),
            candidates.join(", ")
        )
    })
}

/// CodeDeploy's check at Install when the deployment lists every event it
/// will run: no hooks for unlisted events, and every listed custom event hooked.
fn check_lifecycle_events(appspec: &ServerAppSpec, all: &[String]) -> Result<(), String> {
    let unknown: Vec<&str> =
        appspec.hooks.iter().map(|(event, _)| event.as_str()).filter(|event| !all.iter().any(|a| a == event)).collect();
    if !unknown.is_empty() {
        return Err(format!("appspec.yml contains unknown lifecycle events: {}", unknown.join(", ")));
    }
    let missing: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|event| !SERVER_LIFECYCLE_EVENTS.contains(event))
        .filter(|event| !appspec.hooks.iter().any(|(name, _)| name == event))
        .collect();
    if !missing.is_empty() {
        return Err(format!("appspec.yml is missing custom lifecycle events: {}", missing.join(", ")));
    }
    Ok(())
}
