//! `ferry service`: container services (issue #15). A service keeps
//! `--desired` tasks of a task definition running on the hosts carrying
//! its `--hosts-tag`s (spread across them; a task that exits or fails its
//! health check is replaced), each registered in `--target-group` at the
//! host port its container port is published on.
//!
//! `--json` prints `ferry_proto::api::ServiceView`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferry_ecs::service::{DesiredStatus, LastStatus, ServiceStatus, Task};
use ferry_proto::Tag;
use ferry_proto::api::{CreateService, ServiceView, UpdateService};

use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs, encode};

#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    command: ServiceCommand,
}

#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Create a service: DESIRED tasks of a task definition on matching hosts.
    Create {
        name: String,
        /// FAMILY (its newest ACTIVE revision) or FAMILY:REVISION.
        #[arg(long, value_name = "TASKDEF")]
        task_definition: String,
        #[arg(long, value_name = "N", default_value_t = 1)]
        desired: u32,
        /// Only hosts with this tag run its tasks (repeatable: all must match).
        #[arg(long = "hosts-tag", value_name = "KEY=VALUE", value_parser = Tag::parse)]
        hosts_tags: Vec<Tag>,
        /// The target group its tasks are registered in.
        #[arg(long, value_name = "NAME")]
        target_group: Option<String>,
        /// The container the target group reaches [default: the first that maps a port].
        #[arg(long, value_name = "NAME", requires = "target_group")]
        container_name: Option<String>,
        /// Its port the target group reaches [default: its first mapped port].
        #[arg(long, value_name = "PORT", requires = "target_group")]
        container_port: Option<u16>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Change the desired count or the task definition (tasks are replaced
    /// as the new ones become healthy).
    Update {
        name: String,
        #[arg(long, value_name = "N")]
        desired: Option<u32>,
        #[arg(long, value_name = "TASKDEF")]
        task_definition: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// A service, its tasks and its latest events.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Every service.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Delete a service: its tasks are drained and stopped.
    Delete {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(args: ServiceArgs) -> ExitCode {
    output::finish(match args.command {
        ServiceCommand::Create {
            name,
            task_definition,
            desired,
            hosts_tags,
            target_group,
            container_name,
            container_port,
            server,
        } => {
            let body = CreateService {
                name,
                task_definition,
                desired_count: desired,
                hosts: hosts_tags,
                target_group,
                container_name,
                container_port,
            };
            Client::connect(&server).and_then(|c| c.post::<_, ServiceView>("/api/v1/services", &body)).map(|v| {
                output::say!(
                    "created service {}: {} task(s) of {}",
                    v.service.name,
                    v.service.desired_count,
                    v.service.task_definition
                );
                ExitCode::SUCCESS
            })
        }
        ServiceCommand::Update { name, desired, task_definition, server } => {
            if desired.is_none() && task_definition.is_none() {
                Err(Error::Setup("nothing to change: give --desired and/or --task-definition".into()))
            } else {
                let body = UpdateService { desired_count: desired, task_definition };
                Client::connect(&server).and_then(|c| c.patch::<_, ServiceView>(&path(&name), &body)).map(|v| {
                    output::say!(
                        "service {}: {} task(s) of {}",
                        v.service.name,
                        v.service.desired_count,
                        v.service.task_definition
                    );
                    ExitCode::SUCCESS
                })
            }
        }
        ServiceCommand::Show { name, json, server } => show(&name, json, &server),
        ServiceCommand::List { json, server } => list(json, &server),
        ServiceCommand::Delete { name, server } => {
            Client::connect(&server).and_then(|c| c.delete::<ServiceView>(&path(&name))).map(|v| {
                output::say!("service {} is being deleted: its {} task(s) stop", v.service.name, live(&v.tasks));
                ExitCode::SUCCESS
            })
        }
    })
}

fn path(name: &str) -> String {
    format!("/api/v1/services/{}", encode(name))
}

fn live(tasks: &[Task]) -> usize {
    tasks.iter().filter(|t| t.last_status != LastStatus::Stopped).count()
}

fn status(v: &ServiceView) -> &'static str {
    match v.service.status {
        ServiceStatus::Active => "ACTIVE",
        ServiceStatus::Draining => "DRAINING",
    }
}

fn show(name: &str, json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let v: ServiceView = Client::connect(server)?.get(&path(name), "")?;
    if json {
        output::print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = &v.service;
    output::say!(
        "Service {} ({}): {} running, {} pending of {} desired, task definition {}",
        s.name,
        status(&v),
        v.running_count,
        v.pending_count,
        s.desired_count,
        s.task_definition
    );
    if !s.hosts.is_empty() {
        let tags: Vec<String> = s.hosts.iter().map(|t| format!("{}={}", t.key, t.value)).collect();
        output::say!("Hosts: tagged {}", tags.join(", "));
    }
    if let Some(lb) = &s.load_balancer {
        output::say!("Target group: {} (container {} port {})", lb.target_group, lb.container_name, lb.container_port);
    }
    if s.task_sets.len() > 1 {
        for set in &s.task_sets {
            output::say!("Task set {}: {} ({:?})", set.id, set.task_definition, set.status);
        }
    }
    let mut table = Table::new(&["TASK", "HOST", "TASK DEFINITION", "STATUS", "HEALTH", "PORTS", "STOPPED REASON"]);
    for t in &v.tasks {
        let state = match (t.desired_status, t.last_status) {
            (DesiredStatus::Stopped, LastStatus::Running) => "STOPPING".to_string(),
            (_, s) => format!("{s:?}").to_uppercase(),
        };
        let ports: Vec<String> =
            t.ports.iter().map(|p| format!("{}:{}→{}", p.container_name, p.container_port, p.host_port)).collect();
        table.row(vec![
            t.id[..t.id.len().min(12)].to_string(),
            t.host.clone(),
            t.task_definition.clone(),
            state,
            format!("{:?}", t.health).to_uppercase(),
            ports.join(", "),
            t.stopped_reason.clone().unwrap_or_default(),
        ]);
    }
    table.print();
    if !s.events.is_empty() {
        output::say!("Events (newest last):");
        for e in s.events.iter().rev().take(10).rev() {
            output::say!("  {}  {}", output::utc(e.at), e.message);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let all: Vec<ServiceView> = Client::connect(server)?.get("/api/v1/services", "")?;
    if json {
        output::print_json(&all)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table =
        Table::new(&["SERVICE", "STATUS", "TASK DEFINITION", "DESIRED", "RUNNING", "PENDING", "TARGET GROUP"]);
    for v in &all {
        table.row(vec![
            v.service.name.clone(),
            status(v).into(),
            v.service.task_definition.clone(),
            v.service.desired_count.to_string(),
            v.running_count.to_string(),
            v.pending_count.to_string(),
            v.service.load_balancer.as_ref().map(|l| l.target_group.clone()).unwrap_or_default(),
        ]);
    }
    table.print();
    Ok(ExitCode::SUCCESS)
}
