//! `ferry pipeline`: pipelines as CodePipeline declares them (issue #14),
//! from a JSON file (as `aws codepipeline get-pipeline` prints it) or YAML
//! with the same keys. The server parses and checks the declaration, so
//! errors name the file, the key (`stages[1].actions[0].runOrder`) and the
//! line. Every update is a new version; `show --version N` reads an old one.
//! Running pipelines is the next step of #14.
//!
//! `--json` prints `ferry_proto::api::PipelineView` (get-pipeline's shape).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferry_proto::api::{PipelineText, PipelineView};

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
    })
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
    Ok(ExitCode::SUCCESS)
}
