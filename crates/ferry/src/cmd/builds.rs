//! `ferry build project …` and `ferry build start|list|show|stop|retry|logs|
//! artifacts|report`: build projects and builds on the server, through the
//! native API (`/api/v1/build-projects`, `/api/v1/builds`).
//!
//! `--json` prints the API's JSON (`ferry_proto::api::BuildProjectView`,
//! `BuildView`, `BuildReportView`; field names stable). `start` without
//! `--follow` prints the build id alone on stdout (for scripts); `--follow`
//! (and `logs --follow`) streams the log until the build ends, prints its
//! status and exits 0 only if it SUCCEEDED.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferry_bundle::BundleType;
use ferry_proto::api;

use super::output::{self, Table, say, say_err};
use crate::client::{Client, Error, ServerArgs, encode, query};

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a build project.
    Create(CreateProject),
    /// Change a project: only the settings given change (builds already
    /// queued keep theirs).
    Update(UpdateProject),
    /// Delete a project (its builds stay as history).
    Delete {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the build projects.
    List {
        /// Print the API's JSON (`Vec<ferry_proto::api::BuildProjectView>`).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show a project's settings.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, Args)]
pub struct CreateProject {
    /// The project's name (2 to 150 letters, digits, '-' or '_').
    name: String,
    /// Where the source comes from: `git+https://host/repo.git[#REF]`,
    /// `s3://BUCKET/KEY`, `upload` (each build uploads it: `ferry build start
    /// --source DIR`) or `none` (the buildspec is inline).
    #[arg(long, value_name = "SOURCE")]
    source: String,
    #[command(flatten)]
    settings: ProjectSettings,
}

#[derive(Debug, Args)]
pub struct UpdateProject {
    name: String,
    /// A new source (as for `create`).
    #[arg(long, value_name = "SOURCE")]
    source: Option<String>,
    #[command(flatten)]
    settings: ProjectSettings,
    /// Do not keep the cache between builds.
    #[arg(long, conflicts_with = "cache")]
    no_cache: bool,
    /// Stop serving the build badge.
    #[arg(long, conflicts_with = "badge")]
    no_badge: bool,
    /// Stop polling the git source.
    #[arg(long, conflicts_with = "poll_seconds")]
    no_poll: bool,
    /// Remove every notification address.
    #[arg(long, conflicts_with = "notify")]
    no_notify: bool,
    /// Remove the concurrent build limit.
    #[arg(long, conflicts_with = "concurrency")]
    no_concurrency_limit: bool,
}

#[derive(Debug, Args)]
pub struct ProjectSettings {
    /// The buildspec: a path in the source [default: buildspec.yml], or the
    /// buildspec itself (YAML holding a newline or starting with `version:`);
    /// on `update`, `''` goes back to the default.
    #[arg(long, value_name = "PATH_OR_INLINE", conflicts_with = "buildspec_file")]
    buildspec: Option<String>,
    /// A buildspec file on this machine, sent inline.
    #[arg(long, value_name = "FILE")]
    buildspec_file: Option<PathBuf>,
    /// The container image builds run in [default: a fresh workspace on the
    /// build host]; on `update`, `''` goes back to the workspace.
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
    /// A variable for every build (repeatable); on `update`, the variables
    /// given (with --secret-env) replace all of the project's.
    #[arg(long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// A variable read from the ferry secret SECRET when the build starts,
    /// masked in its log (repeatable).
    #[arg(long = "secret-env", value_name = "K=SECRET")]
    secret_env: Vec<String>,
    /// The build timeout, 5 to 2160 minutes [create: 60].
    #[arg(long, value_name = "MINUTES")]
    timeout: Option<u32>,
    /// How long a build may wait for a build host, 5 to 480 minutes [create: 480].
    #[arg(long, value_name = "MINUTES")]
    queued_timeout: Option<u32>,
    /// At most this many builds of the project at once [default: no limit].
    #[arg(long, value_name = "N")]
    concurrency: Option<u32>,
    /// Keep the buildspec's `cache.paths` between builds.
    #[arg(long)]
    cache: bool,
    /// Serve the project's build badge (an SVG, passing or failing) without
    /// authentication at /badges/builds/NAME.svg[?branch=B].
    #[arg(long)]
    badge: bool,
    /// Poll the git source's branch every SECONDS (30 to 86400) and build
    /// each new commit (no forge webhook needed).
    #[arg(long, value_name = "SECONDS")]
    poll_seconds: Option<u32>,
    /// Post every build status change to URL (EventBridge's "CodeBuild Build
    /// State Change" JSON, signed like deployment triggers); repeatable, on
    /// `update` the addresses given replace the project's.
    #[arg(long, value_name = "URL")]
    notify: Vec<String>,
    /// A description kept with the project.
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The build project.
    project: String,
    /// A branch, tag, commit or `pr/N` to build [default: the project's].
    #[arg(long, value_name = "VERSION")]
    source_version: Option<String>,
    /// The directory to build (`upload` projects): zipped and uploaded first.
    #[arg(long, value_name = "DIR")]
    source: Option<PathBuf>,
    /// A variable for this build only, replacing the project's of that name (repeatable).
    #[arg(long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Stream the log until the build ends; exit 0 only if it SUCCEEDED.
    #[arg(long)]
    follow: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this project's builds.
    #[arg(long, value_name = "PROJECT")]
    project: Option<String>,
    /// At most this many, newest first.
    #[arg(long, value_name = "N", default_value_t = 50)]
    limit: u32,
    /// Print the API's JSON (`Vec<ferry_proto::api::BuildView>`).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct BuildIdArgs {
    /// The build's id (`PROJECT:UUID`).
    id: String,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct FollowArgs {
    /// The build's id (`PROJECT:UUID`).
    id: String,
    /// Stream the log until the build ends; exit 0 only if it SUCCEEDED.
    #[arg(long)]
    follow: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct ArtifactsArgs {
    /// The build's id (`PROJECT:UUID`).
    id: String,
    /// Where the zips go (`primary.zip`, `<identifier>.zip`).
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn project(command: ProjectCommand) -> ExitCode {
    output::finish(match command {
        ProjectCommand::Create(args) => create_project(args),
        ProjectCommand::Update(args) => update_project(args),
        ProjectCommand::Delete { name, server } => delete_project(&name, &server),
        ProjectCommand::List { json, server } => list_projects(json, &server),
        ProjectCommand::Show { name, json, server } => show_project(&name, json, &server),
    })
}

fn project_path(name: &str) -> String {
    format!("/api/v1/build-projects/{}", encode(name))
}

/// A build's API path; its id's `:` is percent-encoded.
fn build_path(id: &str) -> String {
    format!("/api/v1/builds/{}", encode(id))
}

/// `git+URL[#REF]`, `s3://BUCKET/KEY`, `upload` or `none`.
fn parse_source(text: &str) -> Result<api::BuildSourceSpec, Error> {
    let bad = |why: &str| {
        Error::Setup(format!(
            "--source {text:?}: {why} (expected git+https://host/repo.git[#REF], s3://BUCKET/KEY, upload or none)"
        ))
    };
    match text {
        "upload" => return Ok(api::BuildSourceSpec::Upload),
        "none" => return Ok(api::BuildSourceSpec::None),
        _ => {}
    }
    if let Some(rest) = text.strip_prefix("git+") {
        let (url, version) = match rest.split_once('#') {
            Some((url, version)) if !version.is_empty() => (url, Some(version.to_string())),
            Some(_) => return Err(bad("an empty #REF")),
            None => (rest, None),
        };
        if !url.contains("://") {
            return Err(bad("the repository must be a URL"));
        }
        return Ok(api::BuildSourceSpec::Git { url: url.to_string(), version });
    }
    if let Some(rest) = text.strip_prefix("s3://") {
        return match rest.split_once('/') {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                Ok(api::BuildSourceSpec::S3 { bucket: bucket.to_string(), key: key.to_string() })
            }
            _ => Err(bad("an S3 source names a bucket and a key")),
        };
    }
    Err(bad("unknown kind of source"))
}

fn source_text(source: &api::BuildSourceSpec) -> String {
    match source {
        api::BuildSourceSpec::None => "none".into(),
        api::BuildSourceSpec::Git { url, version: Some(v) } => format!("git+{url}#{v}"),
        api::BuildSourceSpec::Git { url, version: None } => format!("git+{url}"),
        api::BuildSourceSpec::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        api::BuildSourceSpec::Upload => "upload".into(),
    }
}

/// `--env K=V` and `--secret-env K=SECRET` as the API's variables.
fn variables(env: &[String], secret_env: &[String]) -> Result<Vec<api::BuildVariable>, Error> {
    let pair = |flag: &str, text: &str, kind: &str| {
        let (name, value) = text
            .split_once('=')
            .filter(|(name, _)| !name.is_empty())
            .ok_or_else(|| Error::Setup(format!("{flag} {text:?}: expected NAME=VALUE")))?;
        Ok(api::BuildVariable { name: name.to_string(), value: value.to_string(), kind: kind.to_string() })
    };
    let plain = env.iter().map(|e| pair("--env", e, "PLAINTEXT"));
    plain.chain(secret_env.iter().map(|e| pair("--secret-env", e, "SECRET"))).collect()
}

fn buildspec(settings: &ProjectSettings) -> Result<Option<String>, Error> {
    match &settings.buildspec_file {
        Some(file) => std::fs::read_to_string(file)
            .map(Some)
            .map_err(|e| Error::Setup(format!("cannot read --buildspec-file {}: {e}", file.display()))),
        None => Ok(settings.buildspec.clone()),
    }
}

fn create_project(args: CreateProject) -> Result<ExitCode, Error> {
    let s = &args.settings;
    let body = api::CreateBuildProject {
        name: args.name.clone(),
        description: s.description.clone(),
        source: parse_source(&args.source)?,
        buildspec: buildspec(s)?,
        image: s.image.clone(),
        variables: variables(&s.env, &s.secret_env)?,
        timeout_minutes: s.timeout,
        queued_timeout_minutes: s.queued_timeout,
        concurrent_build_limit: s.concurrency,
        cache: s.cache,
        badge: s.badge,
        poll_seconds: s.poll_seconds,
        notify: s.notify.clone(),
    };
    let client = Client::connect(&s.server)?;
    let project: api::BuildProjectView = client.post("/api/v1/build-projects", &body)?;
    say!("created build project {} (source {})", project.name, source_text(&project.source));
    Ok(ExitCode::SUCCESS)
}

fn update_project(args: UpdateProject) -> Result<ExitCode, Error> {
    let s = &args.settings;
    let vars = variables(&s.env, &s.secret_env)?;
    let body = api::UpdateBuildProject {
        description: s.description.clone(),
        source: args.source.as_deref().map(parse_source).transpose()?,
        buildspec: buildspec(s)?,
        image: s.image.clone(),
        variables: (!vars.is_empty()).then_some(vars),
        timeout_minutes: s.timeout,
        queued_timeout_minutes: s.queued_timeout,
        concurrent_build_limit: if args.no_concurrency_limit { Some(-1) } else { s.concurrency.map(i64::from) },
        cache: match (s.cache, args.no_cache) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        badge: match (s.badge, args.no_badge) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        poll_seconds: if args.no_poll { Some(0) } else { s.poll_seconds },
        notify: if args.no_notify { Some(Vec::new()) } else { (!s.notify.is_empty()).then(|| s.notify.clone()) },
    };
    let client = Client::connect(&s.server)?;
    let project: api::BuildProjectView = client.put(&project_path(&args.name), &body)?;
    say!("updated build project {}", project.name);
    Ok(ExitCode::SUCCESS)
}

fn delete_project(name: &str, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let _: serde_json::Value = client.delete(&project_path(name))?;
    say!("deleted build project {name} (its builds stay)");
    Ok(ExitCode::SUCCESS)
}

fn list_projects(json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let projects: Vec<api::BuildProjectView> = client.get("/api/v1/build-projects", "")?;
    if json {
        output::print_json(&projects)?;
    } else if projects.is_empty() {
        eprintln!("no build projects yet (create one with `ferry build project create NAME --source …`)");
    } else {
        let now = output::now_millis();
        let mut t = Table::new(&["NAME", "SOURCE", "IMAGE", "TIMEOUT", "CREATED"]);
        for p in &projects {
            t.row(vec![
                p.name.clone(),
                source_text(&p.source),
                p.image.clone().unwrap_or_else(|| "(workspace)".into()),
                format!("{} min", p.timeout_minutes),
                output::ago(now, p.create_time),
            ]);
        }
        t.print();
    }
    Ok(ExitCode::SUCCESS)
}

fn show_project(name: &str, json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let p: api::BuildProjectView = client.get(&project_path(name), "")?;
    if json {
        output::print_json(&p)?;
        return Ok(ExitCode::SUCCESS);
    }
    say!("Build project {} (id {})", p.name, p.id);
    if !p.description.is_empty() {
        say!("Description: {}", p.description);
    }
    say!("Source: {}", source_text(&p.source));
    match p.buildspec.as_deref() {
        Some(text) if text.contains('\n') || text.trim_start().starts_with("version:") => {
            println!("Buildspec: inline");
            for line in text.lines() {
                say!("  {line}");
            }
        }
        other => say!("Buildspec: {}", other.unwrap_or("buildspec.yml (in the source)")),
    }
    say!("Image: {}", p.image.as_deref().unwrap_or("none: a fresh workspace on the build host"));
    say!("Timeout: {} min, queued timeout: {} min", p.timeout_minutes, p.queued_timeout_minutes);
    say!(
        "Concurrent builds: {}; cache: {}; badge: {}",
        p.concurrent_build_limit.map_or("no limit".to_string(), |n| n.to_string()),
        if p.cache { "kept" } else { "off" },
        if p.badge { "served" } else { "off" }
    );
    if let Some(every) = p.poll_seconds {
        say!("Polls its git source every {every} s");
    }
    for url in &p.notify {
        say!("Notifies: {url}");
    }
    print_variables(&p.variables);
    say!("Created {}, changed {}", output::utc(p.create_time), output::utc(p.last_modified));
    Ok(ExitCode::SUCCESS)
}

fn print_variables(variables: &[api::BuildVariable]) {
    if variables.is_empty() {
        return;
    }
    println!("Variables:");
    for v in variables {
        if v.kind == "SECRET" {
            say!("  {} from secret {}", v.name, v.value);
        } else {
            say!("  {}={}", v.name, v.value);
        }
    }
}

// ---------------------------------------------------------------------------
// Builds

pub fn start(args: StartArgs) -> ExitCode {
    output::finish(start_build(args))
}

fn start_build(args: StartArgs) -> Result<ExitCode, Error> {
    let variables = variables(&args.env, &[])?;
    let client = Client::connect(&args.server)?;
    let source = match &args.source {
        Some(dir) => Some(upload_source(&client, &args.project, dir)?),
        None => None,
    };
    let body = api::StartBuild { source_version: args.source_version.clone(), source, variables };
    let build: api::BuildView = client.post(&format!("{}/builds", project_path(&args.project)), &body)?;
    say_err!("started build {} (#{} of {}, {})", build.id, build.number, build.project, build.status);
    if args.follow {
        return follow(&client, &build.id);
    }
    say!("{}", build.id);
    Ok(ExitCode::SUCCESS)
}

/// Zips `dir` as `ferry push` bundles a revision and uploads it as the
/// project's source; the build then names it by its SHA-256.
fn upload_source(client: &Client, project: &str, dir: &Path) -> Result<api::UploadedSource, Error> {
    if !dir.is_dir() {
        return Err(Error::Setup(format!("--source {}: not a directory", dir.display())));
    }
    let bundle = tempfile::Builder::new()
        .prefix("ferry-build-source-")
        .suffix(".zip")
        .tempfile()
        .map_err(|e| Error::Other(format!("cannot create a temporary file: {e}")))?;
    let stats = ferry_bundle::pack(dir, BundleType::Zip, bundle.path())
        .map_err(|e| Error::Setup(format!("cannot bundle {}: {e}", dir.display())))?;
    let (sha256, len) = super::push::hash_file(bundle.path())?;
    eprintln!("bundled {}: {} files, {} zip, sha256 {sha256}", dir.display(), stats.files, super::push::bytes(len));
    let q = query(&[("bundle_type", Some("zip"))]);
    client.upload(&format!("{}/sources", project_path(project)), &q, bundle.path(), &sha256, len)
}

pub fn list(args: ListArgs) -> ExitCode {
    output::finish(list_builds(args))
}

fn list_builds(args: ListArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(&args.server)?;
    let limit = args.limit.to_string();
    let builds: Vec<api::BuildView> = match &args.project {
        Some(p) => client.get(&format!("{}/builds", project_path(p)), &query(&[("limit", Some(&limit))]))?,
        None => client.get("/api/v1/builds", &query(&[("limit", Some(&limit))]))?,
    };
    if args.json {
        output::print_json(&builds)?;
    } else if builds.is_empty() {
        eprintln!("no builds yet (start one with `ferry build start PROJECT`)");
    } else {
        let now = output::now_millis();
        let mut t = Table::new(&["BUILD", "#", "STATUS", "QUEUED", "DURATION", "INITIATOR"]).right(1).right(4);
        for b in &builds {
            t.row(vec![
                b.id.clone(),
                b.number.to_string(),
                b.status.clone(),
                output::ago(now, b.queued_time),
                b.start_time.map_or("-".into(), |s| output::duration(b.end_time.unwrap_or(now).saturating_sub(s))),
                b.initiator.clone(),
            ]);
        }
        t.print();
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show(args: BuildIdArgs) -> ExitCode {
    output::finish(show_build(args))
}

fn show_build(args: BuildIdArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(&args.server)?;
    let b: api::BuildView = client.get(&build_path(&args.id), "")?;
    if args.json {
        output::print_json(&b)?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = output::now_millis();
    say!("Build {} (#{} of {}): {}", b.id, b.number, b.project, b.status);
    if b.stop_requested && (b.status == "IN_PROGRESS" || b.status == "QUEUED") {
        println!("A stop was asked for: the build host is stopping it.");
    }
    say!("Initiator: {}", b.initiator);
    let mut source = source_text(&b.source);
    if let Some(bundle) = &b.source_bundle {
        source.push_str(&format!(
            " ({} {}, sha256 {})",
            bundle.bundle_type,
            super::push::bytes(bundle.size),
            bundle.sha256
        ));
    }
    say!("Source: {source}");
    if let Some(v) = &b.source_version {
        say!(
            "Source version: {v}{}",
            b.resolved_source_version.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
        );
    }
    say!(
        "Queued {}; started {}; ended {}",
        output::utc(b.queued_time),
        b.start_time.map_or("-".into(), output::utc),
        b.end_time.map_or("-".into(), output::utc)
    );
    say!("Host: {}; environment: {}", output::or_dash(b.host.as_deref()), output::or_dash(b.environment.as_deref()));
    println!();
    let mut t = Table::new(&["PHASE", "STATUS", "DURATION", "MESSAGE"]).right(2);
    for p in &b.phases {
        let running = p.end_time.is_none();
        let status = p.status.clone().unwrap_or_else(|| if running { "IN_PROGRESS".into() } else { "-".into() });
        let ms = p.end_time.unwrap_or(now).saturating_sub(p.start_time);
        t.row(vec![p.name.clone(), status, output::duration(ms), p.message.clone().unwrap_or_default()]);
    }
    t.print();
    if !b.artifacts.is_empty() {
        println!();
        let mut t = Table::new(&["ARTIFACT", "SIZE", "SHA256"]).right(1);
        for a in &b.artifacts {
            t.row(vec![a.name.clone(), super::push::bytes(a.size), a.sha256.clone()]);
        }
        t.print();
    }
    if !b.exported_variables.is_empty() {
        println!("Exported variables:");
        for v in &b.exported_variables {
            say!("  {}={}", v.name, v.value);
        }
    }
    print_variables(&b.variables);
    Ok(ExitCode::SUCCESS)
}

pub fn stop(args: BuildIdArgs) -> ExitCode {
    output::finish(stop_build(args))
}

fn stop_build(args: BuildIdArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(&args.server)?;
    let b: api::BuildView = client.post(&format!("{}/stop", build_path(&args.id)), &serde_json::json!({}))?;
    if args.json {
        output::print_json(&b)?;
    } else if b.stop_requested
        && !matches!(b.status.as_str(), "STOPPED" | "SUCCEEDED" | "FAILED" | "FAULT" | "TIMED_OUT")
    {
        say!("stopping build {}: its build host stops it", b.id);
    } else if b.status == "STOPPED" {
        say!("build {} is stopped", b.id);
    } else {
        say!("build {} had already finished: {}", b.id, b.status);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn retry(args: FollowArgs) -> ExitCode {
    output::finish(retry_build(args))
}

fn retry_build(args: FollowArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(&args.server)?;
    let b: api::BuildView = client.post(&format!("{}/retry", build_path(&args.id)), &serde_json::json!({}))?;
    say_err!("started build {} (#{} of {}, a retry of {})", b.id, b.number, b.project, args.id);
    if args.follow {
        return follow(&client, &b.id);
    }
    say!("{}", b.id);
    Ok(ExitCode::SUCCESS)
}

pub fn logs(args: FollowArgs) -> ExitCode {
    output::finish(print_logs(args))
}

fn print_logs(args: FollowArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(&args.server)?;
    if args.follow {
        return follow(&client, &args.id);
    }
    let mut from = 0;
    loop {
        let log = read_log(&client, &args.id, from, 0)?;
        if log.lines.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        print_lines(&log);
        from = log.next;
    }
}

fn read_log(client: &Client, id: &str, from: u64, wait: u64) -> Result<api::BuildLog, Error> {
    let (from, wait) = (from.to_string(), wait.to_string());
    client.get(&format!("{}/log", build_path(id)), &query(&[("from", Some(&from)), ("wait", Some(&wait))]))
}

fn print_lines(log: &api::BuildLog) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in &log.lines {
        let _ = writeln!(out, "{}", output::clean_line(&line.text));
    }
    let _ = out.flush();
}

/// How long each log request may be held by the server.
const FOLLOW_WAIT_SECONDS: u64 = 20;

/// Streams the build's log until it has finished and nothing is left, then
/// prints its status: exit 0 only for SUCCEEDED.
fn follow(client: &Client, id: &str) -> Result<ExitCode, Error> {
    let mut from = 0;
    loop {
        let log = read_log(client, id, from, FOLLOW_WAIT_SECONDS)?;
        print_lines(&log);
        from = log.next;
        if log.finished && log.lines.is_empty() {
            break;
        }
    }
    let b: api::BuildView = client.get(&build_path(id), "")?;
    let took = match (b.start_time, b.end_time) {
        (Some(start), Some(end)) => format!(" in {}", output::duration(end.saturating_sub(start))),
        _ => String::new(),
    };
    say!("Build {} (#{} of {}) {}{took}", b.id, b.number, b.project, b.status);
    for p in b.phases.iter().filter(|p| p.status.as_deref().is_some_and(|s| s != "SUCCEEDED")) {
        say!("  {} {}: {}", p.name, p.status.as_deref().unwrap_or("-"), p.message.as_deref().unwrap_or(""));
    }
    Ok(if b.status == "SUCCEEDED" { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub fn artifacts(args: ArtifactsArgs) -> ExitCode {
    output::finish(download_artifacts(args))
}

/// Downloads each artifact zip into `--out` and checks its SHA-256 against
/// the build's record; a mismatched file is removed.
fn download_artifacts(args: ArtifactsArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(&args.server)?;
    let b: api::BuildView = client.get(&build_path(&args.id), "")?;
    if b.artifacts.is_empty() {
        say_err!("build {} has no artifacts ({})", b.id, b.status);
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Error::Setup(format!("cannot create {}: {e}", args.out.display())))?;
    for a in &b.artifacts {
        // Identifiers are the buildspec's; a file name must not leave --out.
        if a.name.is_empty() || a.name.contains(['/', '\\']) || a.name.starts_with('.') {
            return Err(Error::Other(format!("artifact name {:?} cannot be a file name", a.name)));
        }
        let dest = args.out.join(format!("{}.zip", a.name));
        let path = format!("{}/artifacts/{}", build_path(&b.id), encode(&a.name));
        let (sha256, len) = client.download(&path, "", &dest)?;
        if sha256 != a.sha256 || len != a.size {
            let _ = std::fs::remove_file(&dest);
            return Err(Error::Other(format!(
                "artifact {} of build {}: downloaded {len} bytes with sha256 {sha256}, but the build recorded \
                 {} bytes with sha256 {} (the file was removed)",
                a.name, b.id, a.size, a.sha256
            )));
        }
        say!("saved {} ({}, sha256 {} checked)", dest.display(), super::push::bytes(len), sha256);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn report(args: BuildIdArgs) -> ExitCode {
    output::finish(show_reports(args))
}

fn show_reports(args: BuildIdArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(&args.server)?;
    let reports: Vec<api::BuildReportView> = client.get(&format!("{}/reports", build_path(&args.id)), "")?;
    if args.json {
        output::print_json(&reports)?;
        return Ok(ExitCode::SUCCESS);
    }
    if reports.is_empty() {
        say_err!("build {} has no test reports (yet)", args.id);
        return Ok(ExitCode::SUCCESS);
    }
    for (i, r) in reports.iter().enumerate() {
        if i > 0 {
            println!();
        }
        say!(
            "Report {} ({}): {} cases, {} succeeded, {} failed, {} error, {} skipped; pass rate {:.1}%; {}",
            r.name,
            r.format,
            r.total,
            r.succeeded,
            r.failed,
            r.error,
            r.skipped,
            r.pass_rate,
            output::duration(r.duration_ms)
        );
        let mut t = Table::new(&["STATUS", "DURATION", "TEST", "MESSAGE"]).right(1);
        for c in &r.cases {
            let test = if c.prefix.is_empty() { c.name.clone() } else { format!("{}.{}", c.prefix, c.name) };
            t.row(vec![
                c.status.clone(),
                c.duration_ms.map_or("-".into(), output::duration),
                test,
                output::truncate(c.message.as_deref().unwrap_or("").lines().next().unwrap_or(""), 80),
            ]);
        }
        t.print();
        for e in &r.errors {
            say!("  not read: {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_parsed_from_their_text_and_back() {
        for text in ["git+https://git.example/shop.git", "git+https://git.example/shop.git#v1.2", "s3://b/k/x.zip"] {
            assert_eq!(source_text(&parse_source(text).unwrap()), text);
        }
        assert_eq!(parse_source("upload").unwrap(), api::BuildSourceSpec::Upload);
        assert_eq!(parse_source("none").unwrap(), api::BuildSourceSpec::None);
        for bad in ["git+shop", "git+https://x/y#", "s3://bucket", "s3:///key", "svn://x", ""] {
            let e = parse_source(bad).unwrap_err().to_string();
            assert!(e.contains("expected git+https://"), "{bad}: {e}");
        }
    }

    #[test]
    fn variables_need_a_name_and_an_equals_sign() {
        let v = variables(&["A=1=2".into()], &["TOKEN=deploy-token".into()]).unwrap();
        assert_eq!((v[0].name.as_str(), v[0].value.as_str(), v[0].kind.as_str()), ("A", "1=2", "PLAINTEXT"));
        assert_eq!((v[1].name.as_str(), v[1].value.as_str(), v[1].kind.as_str()), ("TOKEN", "deploy-token", "SECRET"));
        assert!(variables(&["A".into()], &[]).unwrap_err().to_string().contains("--env \"A\""));
        assert!(variables(&[], &["=x".into()]).unwrap_err().to_string().contains("--secret-env"));
    }

    #[test]
    fn build_ids_are_percent_encoded_in_paths() {
        assert_eq!(build_path("shop:0f1e-2d"), "/api/v1/builds/shop%3A0f1e-2d");
    }
}
