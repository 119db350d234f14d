//! `ferry build local`: run a buildspec on this machine with no server, the
//! counterpart of CodeBuild's local agent, through the same runner
//! (`ferry_build`) build hosts will use. The other `ferry build` commands
//! (projects and builds on the server) are in `builds.rs`.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use ferry_build::{BuildRequest, LogSink};
use ferry_buildspec::BuildStatus;
use ferry_container::{Podman, Provider, Workspaces};

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(subcommand)]
    command: BuildCommand,
}

#[derive(Debug, Subcommand)]
enum BuildCommand {
    /// Run a buildspec here, without a server (the counterpart of CodeBuild's
    /// local agent): in a podman container of --image, or in a workspace as an
    /// unprivileged user.
    Local(LocalBuildArgs),
    /// Build projects on the server: create, update, delete, list, show.
    #[command(subcommand)]
    Project(super::builds::ProjectCommand),
    /// Start a build of a project (--source DIR uploads the source of an
    /// `upload` project; --follow streams the log to the end).
    Start(super::builds::StartArgs),
    /// List builds, newest first.
    List(super::builds::ListArgs),
    /// Show a build: phases with durations and messages, artifacts, variables, host.
    Show(super::builds::BuildIdArgs),
    /// Stop a build (a queued one at once; a running one by its build host).
    Stop(super::builds::BuildIdArgs),
    /// Start a build again with the settings and source it ran with.
    Retry(super::builds::FollowArgs),
    /// Print a build's log (--follow: until it ends).
    Logs(super::builds::FollowArgs),
    /// Download a build's artifact zips (their SHA-256 checked).
    Artifacts(super::builds::ArtifactsArgs),
    /// A build's test reports: cases with status and duration, pass rate.
    Report(super::builds::BuildIdArgs),
    /// A build project's git webhook (GitHub, GitLab, Gitea): create, delete.
    #[command(subcommand)]
    Webhook(super::build_webhook::WebhookCommand),
}

#[derive(Debug, Args)]
pub struct LocalBuildArgs {
    /// The buildspec [default: buildspec.yml in the source directory].
    #[arg(long, value_name = "FILE")]
    buildspec: Option<PathBuf>,
    /// The container image to build in (it must be on this host: ferry does
    /// not pull). Without it, or without podman, the build runs in a workspace.
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
    /// The source directory; it is copied into a fresh workspace, never changed.
    #[arg(long, value_name = "DIR", default_value = ".")]
    source: PathBuf,
    /// Where the artifact zips go.
    #[arg(long, value_name = "DIR", default_value = "artifacts")]
    artifacts: PathBuf,
    /// A variable for the build (wins over the buildspec's `env.variables`); repeatable.
    #[arg(long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Run in a workspace on this host even when podman is available.
    #[arg(long)]
    no_container: bool,
    /// Who commands run as in a workspace [default: nobody when run as root, else you].
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// The build's time limit in minutes.
    #[arg(long, value_name = "MINUTES", default_value_t = 60)]
    timeout: u64,
}

pub fn run(args: BuildArgs) -> ExitCode {
    match args.command {
        BuildCommand::Local(args) => match local(args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(message) => {
                eprintln!("ferry build local: {message}");
                ExitCode::from(2)
            }
        },
        BuildCommand::Project(command) => super::builds::project(command),
        BuildCommand::Start(args) => super::builds::start(args),
        BuildCommand::List(args) => super::builds::list(args),
        BuildCommand::Show(args) => super::builds::show(args),
        BuildCommand::Stop(args) => super::builds::stop(args),
        BuildCommand::Retry(args) => super::builds::retry(args),
        BuildCommand::Logs(args) => super::builds::logs(args),
        BuildCommand::Artifacts(args) => super::builds::artifacts(args),
        BuildCommand::Report(args) => super::builds::report(args),
        BuildCommand::Webhook(command) => super::build_webhook::run(command),
    }
}

/// Log lines to stdout as they come.
struct Stdout;

impl LogSink for Stdout {
    fn line(&mut self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

fn podman_works() -> Result<(), String> {
    match std::process::Command::new("podman").args(["version", "--format", "{{.Client.Version}}"]).output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn local(args: LocalBuildArgs) -> Result<bool, String> {
    let source =
        std::path::absolute(&args.source).map_err(|e| format!("bad --source {}: {e}", args.source.display()))?;
    if !source.is_dir() {
        return Err(format!("source {} is not a directory", source.display()));
    }
    let buildspec_path = args.buildspec.clone().unwrap_or_else(|| source.join("buildspec.yml"));
    let text = std::fs::read_to_string(&buildspec_path)
        .map_err(|e| format!("cannot read the buildspec {}: {e}", buildspec_path.display()))?;
    let file_name = buildspec_path.display().to_string();
    let buildspec = ferry_buildspec::parse(&file_name, &text).map_err(|e| e.to_string())?;
    for warning in &buildspec.warnings {
        eprintln!("warning: {warning}");
    }
    let unresolved = buildspec.env.parameter_store.iter().map(|(n, _)| n);
    for name in unresolved.chain(buildspec.env.secrets_manager.iter().map(|(n, _)| n)) {
        eprintln!(
            "warning: {name} comes from parameter-store/secrets-manager, which a local build cannot read: it is not set"
        );
    }
    let mut cli_env = Vec::new();
    for pair in &args.env {
        let (name, value) = pair.split_once('=').ok_or_else(|| format!("--env {pair:?}: expected NAME=VALUE"))?;
        ferry_buildspec::vars::check_user_variable_name(name).map_err(|e| format!("--env {name}: {e}"))?;
        cli_env.push((name.to_owned(), value.to_owned()));
    }
    let artifacts = std::path::absolute(&args.artifacts)
        .map_err(|e| format!("bad --artifacts {}: {e}", args.artifacts.display()))?;

    // Where: a container when asked for and possible, else a workspace.
    let container = match (&args.image, args.no_container) {
        (_, true) => {
            println!("Building in a workspace on this host (--no-container).");
            None
        }
        (None, false) => {
            println!("Building in a workspace on this host (no --image given).");
            None
        }
        (Some(image), false) => match podman_works() {
            Ok(()) => Some(image.clone()),
            Err(why) => {
                println!("podman is not usable here ({why}): building in a workspace on this host instead.");
                None
            }
        },
    };
    let user = match (&container, &args.user) {
        (Some(_), _) => None,
        (None, Some(user)) => Some(user.clone()),
        (None, None) if is_root() => Some("nobody".to_owned()),
        (None, None) => Some(
            nix::unistd::User::from_uid(nix::unistd::geteuid())
                .ok()
                .flatten()
                .map(|u| u.name)
                .ok_or("cannot tell who you are: pass --user")?,
        ),
    };

    let scratch = tempfile::Builder::new()
        .prefix("ferry-build-local-")
        .tempdir()
        .map_err(|e| format!("cannot create a workspace: {e}"))?;
    // Build users must reach the workspace inside; nobody else may list it.
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o711))
        .map_err(|e| format!("cannot set up the workspace: {e}"))?;
    let workspace = scratch.path().join("workspace");
    let src = workspace.join("src");
    std::fs::create_dir_all(&src).map_err(|e| format!("cannot create {}: {e}", src.display()))?;
    copy_tree(&source, &src, &artifacts).map_err(|e| format!("cannot copy the source into the workspace: {e}"))?;
    if let Some(user) = &user {
        let owner = nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .ok_or_else(|| format!("user {user} does not exist (--user)"))?;
        if is_root() {
            chown_tree(&workspace, owner.uid.as_raw(), owner.gid.as_raw())
                .map_err(|e| format!("cannot give the workspace to {user}: {e}"))?;
        }
    }

    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let name = format!("ferry-build-local-{}-{}", std::process::id(), nanos % 1_000_000_000);
    let mut request = BuildRequest::new(&name, buildspec.clone(), &workspace);
    request.image = container.clone().unwrap_or_else(|| args.image.clone().unwrap_or_else(|| "none".into()));
    request.output_dir = artifacts.clone();
    request.timeout = Duration::from_secs(args.timeout.max(1) * 60);
    // CodeBuild's builds reach the network (package installs); so do local ones.
    request.network = ferry_container::Network::Host;
    request.variables = ferry_buildspec::vars::resolve_precedence(&buildspec.env.variables, &[], &cli_env);
    request.builtins.build_id = format!("local:{name}");
    request.builtins.build_number = 1;
    request.builtins.initiator = "ferry-build-local".into();
    request.builtins.start_time_ms = (nanos / 1_000_000) as u64;
    request.builtins.build_image = container.clone();
    let provider: Box<dyn Provider> = match &container {
        Some(_) => Box::new(Podman::default()),
        None => Box::new(Workspaces::new(scratch.path().join("state"), user.clone().unwrap_or_default())),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    // Ctrl-C or SIGTERM stops the build as `stop-build` would: everything in
    // the environment is killed, then FINALIZING runs (reports, clean-up).
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    runtime.spawn(async move {
        super::shutdown_signal().await;
        eprintln!("ferry build local: stopping the build");
        let _ = stop.send(true);
    });
    let mut sink = Stdout;
    let result = runtime.block_on(ferry_build::run_build_stoppable(provider.as_ref(), &request, &mut sink, stop_rx));
    println!();
    println!("Environment: {}", result.environment);
    println!("{:<18} {:<10} {:>10}  MESSAGE", "PHASE", "STATUS", "DURATION");
    for phase in &result.phases {
        let ms = phase.end_ms.saturating_sub(phase.start_ms);
        println!("{:<18} {:<10} {:>8}ms  {}", phase.phase.name(), phase.status.name(), ms, phase.message);
    }
    for artifact in &result.artifacts {
        println!(
            "Artifact {}: {} ({} files, {} bytes, sha256 {})",
            artifact.identifier.as_deref().unwrap_or("primary"),
            artifact.path.display(),
            artifact.files.len(),
            artifact.size,
            artifact.sha256
        );
    }
    for report in &result.reports {
        let s = &report.summary;
        println!(
            "Report {} ({}): {} cases, {} succeeded, {} failed, {} error, {} skipped",
            report.name, report.format, s.total, s.succeeded, s.failed, s.error, s.skipped
        );
    }
    for (name, value) in &result.exported_variables {
        println!("Exported {name}={value}");
    }
    println!("Build {}", result.status.name());
    Ok(result.status == BuildStatus::Succeeded)
}

/// Copies `from` into `to`: directories, files (with their modes) and
/// symbolic links as links. `skip` (the artifacts directory, when it lies
/// in the source) is left out.
fn copy_tree(from: &Path, to: &Path, skip: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let path = entry.path();
        if path == skip {
            continue;
        }
        let dest = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&path)?, &dest)?;
        } else if kind.is_dir() {
            std::fs::create_dir(&dest)?;
            copy_tree(&path, &dest, skip)?;
        } else if kind.is_file() {
            std::fs::copy(&path, &dest)?;
        }
    }
    Ok(())
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}
