//! `ferry pipeline`: pipelines as CodePipeline declares them (issue #14),
//! from a JSON file (as `aws codepipeline get-pipeline` prints it) or YAML
//! with the same keys. The server parses and checks the declaration, so
//! errors name the file, the key (`stages[1].actions[0].runOrder`) and the
//! line. Every update is a new version; `show --version N` reads an old one.
//!
//! Executions: `start` (with `--variable NAME=VALUE` and `--revision
//! ACTION=COMMIT`), `status` (the latest execution, or one, stage by stage),
//! `executions`, `approve`/`reject` (the approval waiting in an action),
//! `retry`, `stop`, `disable-transition`/`enable-transition`.
//!
//! `--json` prints `ferry_proto::api::PipelineView` (get-pipeline's shape),
//! or an execution as `ferry_pipeline::execution::Execution`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferry_pipeline::execution::{Execution, Runs};
use ferry_proto::api::{
    ApprovalDecision, PipelineExecutionStarted, PipelineText, PipelineView, RetryPipelineStage, StartPipelineExecution,
    StopPipelineExecution, TransitionChange,
};

use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs, encode};

#[derive(Debug, Args)]
pub struct PipelineArgs {
    #[command(subcommand)]
    command: PipelineCommand,
}

#[derive(Debug, Subcommand)]
enum PipelineCommand {
    /// Create a pipeline from a declaration file (JSON or YAML).
    Create {
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Replace a pipeline's declaration: a new version (the name comes from the file).
    Update {
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Delete a pipeline and its versions.
    Delete {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List pipelines.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show a pipeline: its stages and actions, or its declaration (--json).
    Show {
        name: String,
        /// An earlier version [default: the current one].
        #[arg(long, value_name = "N")]
        version: Option<u32>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Start an execution of the pipeline's current version.
    Start {
        name: String,
        /// A pipeline variable's value for this execution (repeatable).
        #[arg(long = "variable", value_name = "NAME=VALUE")]
        variables: Vec<String>,
        /// The revision a source action fetches, instead of its branch's head (repeatable).
        #[arg(long = "revision", value_name = "ACTION=REVISION")]
        revisions: Vec<String>,
        /// Wait for the execution to end, printing its progress; exit 1 unless it succeeds.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show an execution stage by stage (default: the newest).
    Status {
        name: String,
        /// An execution id [default: the newest].
        execution: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List a pipeline's executions, newest first.
    Executions {
        name: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Download the artifacts an execution produced into a directory
    /// (`<artifact>.<zip|tar|tgz>`, each checked against its SHA-256).
    Artifacts {
        name: String,
        execution: String,
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// An execution's actions with their build logs.
    Logs {
        name: String,
        /// An execution id [default: the newest].
        execution: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Approve the manual approval waiting in an action.
    Approve {
        name: String,
        stage: String,
        action: String,
        #[arg(long, default_value = "")]
        summary: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Reject the manual approval waiting in an action (the execution fails).
    Reject {
        name: String,
        stage: String,
        action: String,
        #[arg(long, default_value = "")]
        summary: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Retry the stage a failed or stopped execution ended in.
    Retry {
        name: String,
        execution: String,
        stage: String,
        /// Run every action of the stage again, not only the failed ones.
        #[arg(long)]
        all_actions: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Stop an execution: running actions finish (or, --abandon, are abandoned and stopped).
    Stop {
        name: String,
        execution: String,
        #[arg(long)]
        abandon: bool,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Keep executions out of a stage (they wait in front of it).
    DisableTransition {
        name: String,
        stage: String,
        /// The stage's outbound transition instead of its inbound one.
        #[arg(long)]
        outbound: bool,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Turn the pipeline's git webhook on (a new shared secret, shown once) or off.
    Webhook {
        name: String,
        /// Turn it off.
        #[arg(long)]
        delete: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Set the addresses told of every execution, stage and action change and
    /// of approvals waiting (EventBridge's events, CodePipeline's approval message).
    Notify {
        name: String,
        /// An http(s) address (repeatable); none with --clear.
        #[arg(long = "url", value_name = "URL")]
        urls: Vec<String>,
        /// Notify no one.
        #[arg(long, conflicts_with = "urls")]
        clear: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Let executions into a stage again.
    EnableTransition {
        name: String,
        stage: String,
        #[arg(long)]
        outbound: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(args: PipelineArgs) -> ExitCode {
    output::finish(match args.command {
        PipelineCommand::Create { file, server } => send(&file, &server, None),
        PipelineCommand::Update { file, server } => send(&file, &server, Some(())),
        PipelineCommand::Delete { name, server } => {
            Client::connect(&server).and_then(|c| c.delete::<serde_json::Value>(&path(&name))).map(|_| {
                output::say!("deleted pipeline {name}");
                ExitCode::SUCCESS
            })
        }
        PipelineCommand::List { json, server } => list(json, &server),
        PipelineCommand::Show { name, version, json, server } => show(&name, version, json, &server),
        PipelineCommand::Start { name, variables, revisions, wait, server } => {
            start(&name, &variables, &revisions, wait, &server)
        }
        PipelineCommand::Status { name, execution, json, server } => status(&name, execution.as_deref(), json, &server),
        PipelineCommand::Executions { name, limit, json, server } => executions(&name, limit, json, &server),
        PipelineCommand::Approve { name, stage, action, summary, server } => {
            decide(&name, stage, action, true, summary, &server)
        }
        PipelineCommand::Reject { name, stage, action, summary, server } => {
            decide(&name, stage, action, false, summary, &server)
        }
        PipelineCommand::Retry { name, execution, stage, all_actions, server } => {
            let body = RetryPipelineStage { stage: stage.clone(), all_actions };
            Client::connect(&server)
                .and_then(|c| {
                    c.post::<_, Execution>(&format!("{}/executions/{}/retry", path(&name), encode(&execution)), &body)
                })
                .map(|_| {
                    output::say!("retrying stage {stage} of execution {execution}");
                    ExitCode::SUCCESS
                })
        }
        PipelineCommand::Stop { name, execution, abandon, reason, server } => {
            let body = StopPipelineExecution { abandon, reason };
            Client::connect(&server)
                .and_then(|c| {
                    c.post::<_, Execution>(&format!("{}/executions/{}/stop", path(&name), encode(&execution)), &body)
                })
                .map(|e| {
                    output::say!("execution {execution}: {}", status_name(e.status));
                    ExitCode::SUCCESS
                })
        }
        PipelineCommand::DisableTransition { name, stage, outbound, reason, server } => {
            let body = TransitionChange { stage: stage.clone(), outbound, disable_reason: Some(reason) };
            transition(&name, &body, &server)
        }
        PipelineCommand::Webhook { name, delete, server } => webhook(&name, delete, &server),
        PipelineCommand::Artifacts { name, execution, out, server } => artifacts(&name, &execution, &out, &server),
        PipelineCommand::Logs { name, execution, server } => logs(&name, execution.as_deref(), &server),
        PipelineCommand::Notify { name, urls, clear, server } => {
            let url = format!("{}/notify", path(&name));
            let result = if clear || !urls.is_empty() {
                Client::connect(&server).and_then(|c| c.put::<_, Vec<String>>(&url, &urls))
            } else {
                Client::connect(&server).and_then(|c| c.get::<Vec<String>>(&url, ""))
            };
            result.map(|urls| {
                match urls.as_slice() {
                    [] => output::say!("pipeline {name} notifies no one"),
                    urls => output::say!("pipeline {name} notifies {}", urls.join(", ")),
                }
                ExitCode::SUCCESS
            })
        }
        PipelineCommand::EnableTransition { name, stage, outbound, server } => {
            let body = TransitionChange { stage: stage.clone(), outbound, disable_reason: None };
            transition(&name, &body, &server)
        }
    })
}

/// CodePipeline's name of a status.
fn status_name(status: impl serde::Serialize) -> String {
    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn pairs(items: &[String], what: &str) -> Result<std::collections::BTreeMap<String, String>, Error> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Error::Setup(format!("{what} {item:?}: expected NAME=VALUE")))
        })
        .collect()
}

fn start(
    name: &str,
    variables: &[String],
    revisions: &[String],
    wait: bool,
    server: &ServerArgs,
) -> Result<ExitCode, Error> {
    let body = StartPipelineExecution {
        variables: pairs(variables, "--variable")?,
        source_revisions: pairs(revisions, "--revision")?,
    };
    let client = Client::connect(server)?;
    let started: PipelineExecutionStarted = client.post(&format!("{}/executions", path(name)), &body)?;
    output::say!("started execution {} of pipeline {name}", started.execution_id);
    if !wait {
        return Ok(ExitCode::SUCCESS);
    }
    let url = format!("{}/executions/{}", path(name), encode(&started.execution_id));
    let mut told = std::collections::BTreeSet::new();
    loop {
        let e: Execution = client.get(&url, "")?;
        for (stage, run) in e.stages.iter().flat_map(|s| s.actions.iter().map(move |a| (s, a))) {
            if let Some(status) = run.status {
                let line = format!("{}/{} #{}: {}", stage.name, run.name, run.attempt, status_name(status));
                if told.insert(line.clone()) {
                    output::say!("{line}{}", run.error.as_deref().map(|m| format!(" ({m})")).unwrap_or_default());
                }
            }
        }
        if e.status.is_finished() {
            output::say!("execution {}: {}", e.id, status_name(e.status));
            let ok = e.status == ferry_pipeline::execution::ExecutionStatus::Succeeded;
            return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// An execution by id, or the newest.
fn execution(client: &Client, name: &str, execution: Option<&str>) -> Result<Execution, Error> {
    match execution {
        Some(id) => client.get(&format!("{}/executions/{}", path(name), encode(id)), ""),
        None => {
            let newest: Vec<Execution> = client.get(&format!("{}/executions", path(name)), "limit=1")?;
            newest.into_iter().next().ok_or_else(|| Error::Setup(format!("pipeline {name} has not run yet")))
        }
    }
}

fn status(name: &str, id: Option<&str>, json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let e = execution(&client, name, id)?;
    if json {
        output::print_json(&e)?;
        return Ok(ExitCode::SUCCESS);
    }
    output::say!(
        "Execution {} of {} (version {}): {}{}",
        e.id,
        name,
        e.pipeline.version.unwrap_or(1),
        status_name(e.status),
        e.status_summary.as_deref().map(|s| format!(" ({s})")).unwrap_or_default()
    );
    if let Some(wait) = &e.waiting {
        output::say!("  waiting: {}", serde_json::to_string(wait).unwrap_or_default());
    }
    let mut t = Table::new(&["STAGE", "ACTION", "STATUS", "ATTEMPT", "EXTERNAL", "DETAIL"]);
    for s in &e.stages {
        for a in &s.actions {
            t.row(vec![
                s.name.clone(),
                a.name.clone(),
                a.status.map(status_name).unwrap_or_else(|| "-".into()),
                a.attempt.to_string(),
                // A build or deployment id; a source's commit.
                a.external_id.clone().or_else(|| a.revision.clone()).unwrap_or_default(),
                a.error.clone().or_else(|| a.summary.clone()).unwrap_or_default(),
            ]);
        }
    }
    t.print();
    Ok(ExitCode::SUCCESS)
}

fn executions(name: &str, limit: u32, json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let list: Vec<Execution> = client.get(&format!("{}/executions", path(name)), &format!("limit={limit}"))?;
    if json {
        output::print_json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["EXECUTION", "STATUS", "VERSION", "STARTED", "UPDATED", "SUMMARY"]);
    for e in &list {
        t.row(vec![
            e.id.clone(),
            status_name(e.status),
            e.pipeline.version.unwrap_or(1).to_string(),
            output::utc(e.started_at),
            output::utc(e.updated_at),
            e.status_summary.clone().unwrap_or_default(),
        ]);
    }
    t.print();
    Ok(ExitCode::SUCCESS)
}

fn decide(
    name: &str,
    stage: String,
    action: String,
    approved: bool,
    summary: String,
    server: &ServerArgs,
) -> Result<ExitCode, Error> {
    let body = ApprovalDecision { stage: stage.clone(), action: action.clone(), approved, summary, token: None };
    Client::connect(server)?.post::<_, serde_json::Value>(&format!("{}/approvals", path(name)), &body)?;
    output::say!("{} {stage}/{action} of pipeline {name}", if approved { "approved" } else { "rejected" });
    Ok(ExitCode::SUCCESS)
}

fn transition(name: &str, body: &TransitionChange, server: &ServerArgs) -> Result<ExitCode, Error> {
    let _: Runs = Client::connect(server)?.post(&format!("{}/transitions", path(name)), body)?;
    let which = if body.outbound { "outbound" } else { "inbound" };
    let what = if body.disable_reason.is_some() { "disabled" } else { "enabled" };
    output::say!("{what} the {which} transition of stage {} of pipeline {name}", body.stage);
    Ok(ExitCode::SUCCESS)
}

fn path(name: &str) -> String {
    format!("/api/v1/pipelines/{}", encode(name))
}

fn read(file: &Path) -> Result<PipelineText, Error> {
    let text =
        std::fs::read_to_string(file).map_err(|e| Error::Setup(format!("cannot read {}: {e}", file.display())))?;
    Ok(PipelineText { file: file.display().to_string(), text })
}

/// Creates (`update: None`) or updates the pipeline the file declares.
fn send(file: &Path, server: &ServerArgs, update: Option<()>) -> Result<ExitCode, Error> {
    let body = read(file)?;
    let client = Client::connect(server)?;
    let p: PipelineView = match update {
        None => client.post("/api/v1/pipelines", &body)?,
        Some(()) => {
            // The server checks that the file declares this name.
            let name = declared_name(&body.text);
            client.put(&path(&name), &body)?
        }
    };
    let verb = if update.is_some() { "updated" } else { "created" };
    output::say!("{verb} pipeline {} (version {})", p.metadata.name, p.metadata.version);
    Ok(ExitCode::SUCCESS)
}

/// The `name` a declaration gives; for a file that does not parse, any
/// name will do: the server parses it first and answers with its errors.
fn declared_name(text: &str) -> String {
    ferry_pipeline::parse("the file", text).map(|d| d.name).unwrap_or_else(|_| "-".into())
}

fn list(json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let pipelines: Vec<PipelineView> = client.get("/api/v1/pipelines", "")?;
    if json {
        output::print_json(&pipelines)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["NAME", "VERSION", "STAGES", "MODE", "UPDATED"]);
    for p in &pipelines {
        let stages: Vec<&str> = p.pipeline.stages.iter().map(|s| s.name.as_str()).collect();
        t.row(vec![
            p.metadata.name.clone(),
            p.metadata.version.to_string(),
            stages.join(" → "),
            p.pipeline.execution_mode.as_str().to_string(),
            output::utc(p.metadata.updated),
        ]);
    }
    t.print();
    Ok(ExitCode::SUCCESS)
}

fn show(name: &str, version: Option<u32>, json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let query = version.map(|v| format!("version={v}")).unwrap_or_default();
    let p: PipelineView = client.get(&path(name), &query)?;
    if json {
        output::print_json(&p)?;
        return Ok(ExitCode::SUCCESS);
    }
    output::say!(
        "Pipeline {} (version {}, {}, {} executions)",
        p.metadata.name,
        p.metadata.version,
        format!("{:?}", p.pipeline.pipeline_type),
        p.pipeline.execution_mode.as_str()
    );
    for stage in &p.pipeline.stages {
        output::say!("Stage {}", stage.name);
        for a in &stage.actions {
            let t = &a.action_type_id;
            output::say!(
                "  [{}] {} ({}/{}/{}){}{}",
                a.run_order,
                a.name,
                t.category.as_str(),
                t.owner.as_str(),
                t.provider,
                if a.input_artifacts.is_empty() {
                    String::new()
                } else {
                    format!(" in: {}", a.input_artifacts.iter().map(|x| x.name.as_str()).collect::<Vec<_>>().join(", "))
                },
                if a.output_artifacts.is_empty() {
                    String::new()
                } else {
                    format!(
                        " out: {}",
                        a.output_artifacts.iter().map(|x| x.name.as_str()).collect::<Vec<_>>().join(", ")
                    )
                },
            );
        }
    }
    // The newest execution, in a line (`status` shows it stage by stage).
    let newest: Vec<Execution> = client.get(&format!("{}/executions", path(name)), "limit=1")?;
    match newest.first() {
        Some(e) => output::say!(
            "Latest execution {} (version {}): {}, started {}{}",
            e.id,
            e.pipeline.version.unwrap_or(1),
            status_name(e.status),
            output::utc(e.started_at),
            e.status_summary.as_deref().map(|s| format!(": {s}")).unwrap_or_default()
        ),
        None => output::say!("Never ran: `ferry pipeline start {name}` or a push starts it"),
    }
    Ok(ExitCode::SUCCESS)
}

fn webhook(name: &str, delete: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let url = format!("{}/webhook", path(name));
    if delete {
        client.delete::<serde_json::Value>(&url)?;
        output::say!("webhook of pipeline {name} is off");
        return Ok(ExitCode::SUCCESS);
    }
    let view: serde_json::Value = client.put(&url, &serde_json::json!({}))?;
    let payload_url =
        format!("{}{}", server.server.trim().trim_end_matches('/'), view["path"].as_str().unwrap_or_default());
    output::say!("webhook of pipeline {name} is on");
    output::say!("payload URL: {payload_url}");
    output::say!(
        "content type: application/json; events: push, pull requests (GitLab: push, tag push, merge requests)"
    );
    output::say!(
        "secret (GitHub and Gitea: Secret; GitLab: Secret token), shown once: {}",
        view["generated_secret"].as_str().unwrap_or_default()
    );
    output::say!("(kept as the ferry secret {})", view["secret_name"].as_str().unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}

fn artifacts(name: &str, id: &str, out: &Path, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let e = execution(&client, name, Some(id))?;
    let produced: Vec<&ferry_pipeline::execution::ArtifactLocation> =
        e.stages.iter().flat_map(|s| &s.actions).flat_map(|a| &a.output_artifacts).collect();
    if produced.is_empty() {
        output::say!("execution {id} produced no artifacts (yet)");
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(out).map_err(|e| Error::Setup(format!("cannot create {}: {e}", out.display())))?;
    for a in produced {
        // Artifact names are [A-Za-z0-9_-]+ (CodePipeline's rule): safe as file names.
        let (bundle_type, key) = a.location.split_once(':').unwrap_or(("zip", &a.location));
        let dest = out.join(format!("{}.{bundle_type}", a.name));
        let url = format!("{}/executions/{}/artifacts/{}", path(name), encode(id), encode(&a.name));
        let (sha256, len) = client.download(&url, "", &dest)?;
        if Some(sha256.as_str()) != key.strip_prefix("sha256/") {
            let _ = std::fs::remove_file(&dest);
            return Err(Error::Other(format!("artifact {} arrived with sha256 {sha256}, not {key} (removed)", a.name)));
        }
        output::say!("saved {} ({}, sha256 {sha256} checked)", dest.display(), super::push::bytes(len));
    }
    Ok(ExitCode::SUCCESS)
}

fn logs(name: &str, id: Option<&str>, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let e = execution(&client, name, id)?;
    output::say!("Execution {} of {name}: {}", e.id, status_name(e.status));
    for (declared, stage) in e.pipeline.stages.iter().zip(&e.stages) {
        for (d, run) in declared.actions.iter().zip(&stage.actions) {
            let Some(status) = run.status else { continue };
            output::say!(
                "== {}/{} ({}) #{}: {}{}",
                stage.name,
                run.name,
                d.action_type_id.provider,
                run.attempt,
                status_name(status),
                run.error.as_deref().or(run.summary.as_deref()).map(|m| format!(": {m}")).unwrap_or_default()
            );
            let is_build = d.action_type_id.provider == "CodeBuild";
            if let (true, Some(build)) = (is_build, &run.external_id) {
                // The whole log, page by page.
                let url = format!("/api/v1/builds/{}/log", encode(build));
                let mut from = 0;
                loop {
                    let page: ferry_proto::api::BuildLog = client.get(&url, &format!("from={from}"))?;
                    for line in &page.lines {
                        output::say!("{}", line.text);
                    }
                    if page.lines.is_empty() || page.next == from {
                        break;
                    }
                    from = page.next;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
