//! `ferry task-definition`: ECS task definitions for container services
//! (issue #15), from the `taskdef.json` users already have (the register
//! input, or `aws ecs describe-task-definition`'s output). The server
//! checks it with ECS's rules; errors name the file and the key
//! (`containerDefinitions[0].portMappings[1].containerPort`). Each register
//! is the family's next revision; `deregister FAMILY:REV` marks one
//! INACTIVE (still readable, as in ECS).
//!
//! `--json` prints `ferry_proto::api::TaskDefinitionView`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferry_proto::api::{PipelineText, TaskDefinitionView};

use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs, encode};

#[derive(Debug, Args)]
pub struct TaskDefinitionArgs {
    #[command(subcommand)]
    command: TaskDefinitionCommand,
}

#[derive(Debug, Subcommand)]
enum TaskDefinitionCommand {
    /// Register a task definition (ECS's JSON) as its family's next revision.
    Register {
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show FAMILY (its newest ACTIVE revision) or FAMILY:REVISION.
    Describe {
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List each family's newest revision, or one family's revisions.
    List {
        #[arg(long)]
        family: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Mark FAMILY:REVISION INACTIVE.
    Deregister {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(args: TaskDefinitionArgs) -> ExitCode {
    output::finish(match args.command {
        TaskDefinitionCommand::Register { file, server } => register(&file, &server),
        TaskDefinitionCommand::Describe { name, json, server } => describe(&name, json, &server),
        TaskDefinitionCommand::List { family, json, server } => list(family.as_deref(), json, &server),
        TaskDefinitionCommand::Deregister { name, server } => {
            Client::connect(&server).and_then(|c| c.delete::<TaskDefinitionView>(&path(&name))).map(|t| {
                output::say!("{}:{} is {}", t.task_definition.family, t.revision, t.status);
                ExitCode::SUCCESS
            })
        }
    })
}

fn path(name: &str) -> String {
    format!("/api/v1/task-definitions/{}", encode(name))
}

fn register(file: &std::path::Path, server: &ServerArgs) -> Result<ExitCode, Error> {
    let text =
        std::fs::read_to_string(file).map_err(|e| Error::Setup(format!("cannot read {}: {e}", file.display())))?;
    let body = PipelineText { file: file.display().to_string(), text };
    let t: TaskDefinitionView = Client::connect(server)?.post("/api/v1/task-definitions", &body)?;
    output::say!("registered task definition {}:{}", t.task_definition.family, t.revision);
    Ok(ExitCode::SUCCESS)
}

fn describe(name: &str, json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let t: TaskDefinitionView = Client::connect(server)?.get(&path(name), "")?;
    if json {
        output::print_json(&t)?;
        return Ok(ExitCode::SUCCESS);
    }
    let d = &t.task_definition;
    output::say!(
        "Task definition {}:{} ({}, network mode {:?}, registered {})",
        d.family,
        t.revision,
        t.status,
        d.network_mode,
        output::utc(t.registered_at)
    );
    let mut table = Table::new(&["CONTAINER", "IMAGE", "ESSENTIAL", "PORTS", "HEALTH CHECK"]);
    for c in &d.container_definitions {
        let ports: Vec<String> = c
            .port_mappings
            .iter()
            .map(|p| {
                if p.host_port == 0 {
                    format!("{}", p.container_port)
                } else {
                    format!("{}:{}", p.host_port, p.container_port)
                }
            })
            .collect();
        table.row(vec![
            c.name.clone(),
            c.image.clone(),
            if c.essential { "yes" } else { "no" }.into(),
            ports.join(", "),
            c.health_check.as_ref().map(|h| h.command.join(" ")).unwrap_or_default(),
        ]);
    }
    table.print();
    Ok(ExitCode::SUCCESS)
}

fn list(family: Option<&str>, json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let query = family.map(|f| format!("family={}", encode(f))).unwrap_or_default();
    let all: Vec<TaskDefinitionView> = Client::connect(server)?.get("/api/v1/task-definitions", &query)?;
    if json {
        output::print_json(&all)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&["TASK DEFINITION", "STATUS", "CONTAINERS", "REGISTERED"]);
    for t in &all {
        let containers: Vec<&str> = t.task_definition.container_definitions.iter().map(|c| c.name.as_str()).collect();
        table.row(vec![
            format!("{}:{}", t.task_definition.family, t.revision),
            t.status.clone(),
            containers.join(", "),
            output::utc(t.registered_at),
        ]);
    }
    table.print();
    Ok(ExitCode::SUCCESS)
}
