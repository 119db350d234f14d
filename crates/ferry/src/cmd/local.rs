//! `ferry local`: run a deployment's lifecycle events on this machine, with no
//! server, exactly as an agent would.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, ValueEnum};
use ferry_appspec::FileExistsBehavior;
use ferry_bundle::BundleType;
use ferry_host::{Creator, DeploymentSpec, DeploymentType, HostConfig, HostEngine, RevisionSource};

/// The events `ferry local` runs when `--events` is not given: those of an
/// in-place deployment, with the traffic hooks but without the traffic
/// events themselves (there is no load balancer here), as codedeploy-local.
const DEFAULT_EVENTS: [&str; 11] = [
    "BeforeBlockTraffic",
    "AfterBlockTraffic",
    "ApplicationStop",
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
    "BeforeAllowTraffic",
    "AfterAllowTraffic",
];

/// The deployment group `ferry local` uses unless told otherwise, so that
/// repeated runs behave like successive deployments of one group.
const DEFAULT_GROUP: &str = "LocalFleet";

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// The bundle: a zip, tar or tgz file, or a directory.
    #[arg(long, value_name = "PATH")]
    bundle_location: PathBuf,
    /// The bundle format; inferred from the file name (or a directory) when omitted.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    bundle_type: Option<BundleKind>,
    /// The application name hooks see in APPLICATION_NAME [default: the bundle's file name].
    #[arg(long, value_name = "NAME")]
    application_name: Option<String>,
    /// The deployment group; deployments of one group follow each other
    /// (cleanup, stop-side hooks of the previous revision, retention).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_GROUP)]
    deployment_group: String,
    /// What to do with files at install destinations that the group's
    /// previous install did not create (the appspec's own setting wins).
    #[arg(long, value_enum, value_name = "BEHAVIOR")]
    file_exists_behavior: Option<FileExists>,
    /// Lifecycle events to run, in order, comma-separated [default: the in-place events].
    #[arg(long, value_name = "E1,E2,...", value_delimiter = ',')]
    events: Vec<String>,
    /// A custom appspec file name inside the bundle.
    #[arg(long, value_name = "FILE")]
    appspec_filename: Option<String>,
    /// The deployment root.
    #[arg(long, value_name = "DIR", default_value = "/opt/ferry/deployment-root")]
    root: PathBuf,
    /// Deployment directories kept per group (at least 1).
    #[arg(long, value_name = "N", default_value_t = 5)]
    max_revisions: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BundleKind {
    Zip,
    Tar,
    Tgz,
    Directory,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
enum FileExists {
    Disallow,
    Overwrite,
    Retain,
}

pub fn run(args: LocalArgs) -> ExitCode {
    match deploy(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("ferry local: {message}");
            ExitCode::from(2)
        }
    }
}

/// Runs the deployment; `Ok(false)` when an event failed (already reported).
fn deploy(args: LocalArgs) -> Result<bool, String> {
    let bundle = std::path::absolute(&args.bundle_location)
        .map_err(|e| format!("bad bundle location {}: {e}", args.bundle_location.display()))?;
    if !bundle.exists() {
        return Err(format!("bundle {} does not exist", bundle.display()));
    }
    let bundle_type = match args.bundle_type {
        Some(BundleKind::Zip) => BundleType::Zip,
        Some(BundleKind::Tar) => BundleType::Tar,
        Some(BundleKind::Tgz) => BundleType::Tgz,
        Some(BundleKind::Directory) => BundleType::Directory,
        None => BundleType::infer(&bundle).ok_or_else(|| {
            format!(
                "cannot tell the bundle type of {}: name it .zip/.tar/.tgz/.tar.gz or pass --type",
                bundle.display()
            )
        })?,
    };
    let events: Vec<String> = if args.events.is_empty() {
        DEFAULT_EVENTS.iter().map(|e| e.to_string()).collect()
    } else {
        args.events.iter().map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect()
    };
    let mut all_possible: Vec<String> = DEFAULT_EVENTS.iter().map(|e| e.to_string()).collect();
    all_possible.extend(events.iter().filter(|e| !DEFAULT_EVENTS.contains(&e.as_str())).cloned());
    check_before_running(&bundle, bundle_type, args.appspec_filename.as_deref(), &events)?;
    let application_name = args.application_name.unwrap_or_else(|| {
        bundle.file_name().map(|n| n.to_string_lossy().replace('.', "-")).unwrap_or_else(|| "local".into())
    });
    let spec = DeploymentSpec {
        deployment_id: format!("d-{}", random_id(9)),
        application_name,
        deployment_group_id: group_id(&args.deployment_group),
        deployment_group_name: args.deployment_group,
        revision: RevisionSource::Local { path: bundle.clone() },
        bundle_type,
        appspec_filename: args.appspec_filename,
        file_exists_behavior: args.file_exists_behavior.map(|b| match b {
            FileExists::Disallow => FileExistsBehavior::Disallow,
            FileExists::Overwrite => FileExistsBehavior::Overwrite,
            FileExists::Retain => FileExistsBehavior::Retain,
        }),
        creator: Creator::User,
        deployment_type: DeploymentType::InPlace,
        all_possible_events: Some(all_possible),
    };
    let mut config = HostConfig::new(args.root);
    config.max_revisions = args.max_revisions;
    let engine = HostEngine::new(config).map_err(|e| e.to_string())?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    println!(
        "Deploying {} ({}) as {} of {} to group {}",
        bundle.display(),
        bundle_type.as_str(),
        spec.deployment_id,
        spec.application_name,
        spec.deployment_group_name
    );
    let started = Instant::now();
    let ok = runtime.block_on(async {
        for event in &events {
            let noop = engine.is_noop(&spec, event);
            let event_started = Instant::now();
            let outcome = engine.run_event(&spec, event, None).await;
            let took = event_started.elapsed();
            let status = if outcome.succeeded() { "Succeeded" } else { "Failed" };
            let note = if noop && outcome.succeeded() { "  (no scripts)" } else { "" };
            println!("  {event:<20} {status:<9} {:>9.1} ms{note}", took.as_secs_f64() * 1000.0);
            if !outcome.succeeded() {
                let _ = std::io::stdout().flush();
                eprintln!("error: {} in {event}", outcome.error_code);
                if !outcome.script_name.is_empty() {
                    eprintln!("script: {}", outcome.script_name);
                }
                eprintln!("message: {}", outcome.message);
                if !outcome.log.is_empty() {
                    eprintln!("output (tail):");
                    for line in outcome.log.lines() {
                        eprintln!("  {line}");
                    }
                }
                return false;
            }
        }
        true
    });
    let dir = engine.layout().deployment_dir(&spec.deployment_group_id, &spec.deployment_id);
    if ok {
        println!(
            "Succeeded in {:.1} ms; deployment directory {}",
            started.elapsed().as_secs_f64() * 1000.0,
            dir.display()
        );
    } else {
        println!("Failed; scripts log at {}", dir.join("logs/scripts.log").display());
    }
    Ok(ok)
}

/// The appspec and the events, checked before any event runs (the same
/// rules as `ferry push` and the server; the agent would only find out at
/// Install, after ApplicationStop and BeforeInstall ran): a typo in a hook's
/// event, a key or `--events` stops here. Prints where CodeDeploy's own
/// agent would refuse what ferry accepts.
fn check_before_running(
    bundle: &std::path::Path,
    kind: BundleType,
    appspec_filename: Option<&str>,
    events: &[String],
) -> Result<(), String> {
    let scratch = tempfile::tempdir().map_err(|e| format!("cannot make a scratch directory: {e}"))?;
    let (name, text) = ferry_host::engine::bundle_appspec(
        bundle,
        kind,
        appspec_filename,
        &scratch.path().join("check"),
        &ferry_bundle::Limits::default(),
    )
    .map_err(|e| format!("{e} (nothing was run)"))?;
    let custom = ferry_host::engine::custom_events(events);
    let spec = ferry_appspec::parse_server_with_events(&name, &text, &custom)
        .map_err(|e| format!("invalid appspec (nothing was run): {e}"))?;
    ferry_appspec::check_requested_events(events, &spec).map_err(|e| format!("--events: {e} (nothing was run)"))?;
    for warning in ferry_appspec::codedeploy_warnings(&name, &text) {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

/// A directory-safe group id derived from the group name, stable across runs.
fn group_id(group_name: &str) -> String {
    let safe: String =
        group_name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    format!("local-{safe}")
}

/// `len` random characters from `[A-Z0-9]`, as CodeDeploy's ids use.
fn random_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = vec![0u8; len];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        // Fall back on the clock: uniqueness, not secrecy, is what matters here.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (nanos >> (i * 7)) as u8;
        }
    }
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}
