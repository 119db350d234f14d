//! `ferry scaling-group`: hosts ferry launches and terminates through a
//! provider, kept at a desired capacity (issue #16). Launched hosts run
//! `ferry agent` with the group's tags; deployment groups whose tags they
//! match give them their last successful revision before they take traffic.
//!
//! `--json` prints `ferry_proto::api::ScalingGroupView`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferry_proto::Tag;
use ferry_proto::api::{CreateScalingGroup, ScalingGroupView, SetCapacity};

use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs, encode};

#[derive(Debug, Args)]
pub struct ScalingGroupArgs {
    #[command(subcommand)]
    command: ScalingGroupCommand,
}

#[derive(Debug, Subcommand)]
enum ScalingGroupCommand {
    /// Create a scaling group: ferry launches hosts until it has DESIRED.
    Create {
        /// The group's name; its hosts are NAME-1, NAME-2, …
        name: String,
        /// `command`: your --launch-command and --terminate-command (a cloud
        /// CLI, Terraform, libvirt, PXE…); `local`: spare hosts of a `ferry
        /// fleet run --spare N` on this machine (--fleet-dir).
        #[arg(long, value_parser = ["command", "local"])]
        provider: String,
        /// Run with `sh -c` to make a host that runs `ferry agent --name
        /// "$FERRY_HOST_NAME"` with the tags in $FERRY_HOST_TAGS, enrolling at
        /// $FERRY_SERVER_URL with $FERRY_JOIN_TOKEN; exit 0 once it is started.
        #[arg(long, value_name = "COMMAND", required_if_eq("provider", "command"))]
        launch_command: Option<String>,
        /// Run with `sh -c` to unmake $FERRY_HOST_NAME (also after a failed
        /// or timed-out launch, to clean up: it must succeed for a host that
        /// is half made or already gone).
        #[arg(long, value_name = "COMMAND", required_if_eq("provider", "command"))]
        terminate_command: Option<String>,
        /// The local provider's fleet directory (`ferry fleet run --dir`).
        #[arg(long, value_name = "DIR", required_if_eq("provider", "local"))]
        fleet_dir: Option<std::path::PathBuf>,
        #[arg(long, value_name = "N", default_value_t = 0)]
        min: u32,
        #[arg(long, value_name = "N")]
        desired: u32,
        #[arg(long, value_name = "N")]
        max: u32,
        /// A tag every host enrols with (repeatable; at least one: hosts
        /// join deployment groups by their tags).
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = Tag::parse, required = true)]
        tags: Vec<Tag>,
        /// How long a launched host has to enrol before it is terminated and
        /// replaced [default: 10m].
        #[arg(long, value_name = "DURATION", value_parser = output::parse_duration_ms)]
        launch_timeout: Option<u64>,
        /// How long a host's agent may be silent before the host is
        /// terminated and replaced [default: twice the server's lost-agent limit].
        #[arg(long, value_name = "DURATION", value_parser = output::parse_duration_ms)]
        replace_after: Option<u64>,
        /// Print the API's JSON (a ScalingGroupView object).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Set the desired capacity (and the minimum and maximum).
    SetCapacity {
        name: String,
        /// The desired number of hosts.
        desired: u32,
        #[arg(long, value_name = "N")]
        min: Option<u32>,
        #[arg(long, value_name = "N")]
        max: Option<u32>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show a group: capacity and each host's state.
    Show {
        name: String,
        /// Print the API's JSON (a ScalingGroupView object).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the scaling groups.
    List {
        /// Print the API's JSON (a list of ScalingGroupView objects).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Delete a group: its hosts are terminated, then it goes.
    Delete {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(args: ScalingGroupArgs) -> ExitCode {
    output::finish(match args.command {
        ScalingGroupCommand::Create {
            name,
            provider,
            launch_command,
            terminate_command,
            fleet_dir,
            min,
            desired,
            max,
            tags,
            launch_timeout,
            replace_after,
            json,
            server,
        } => (|| {
            let fleet_dir = match fleet_dir {
                Some(dir) => Some(
                    std::path::absolute(&dir)
                        .map_err(|e| Error::Setup(format!("--fleet-dir: {e}")))?
                        .display()
                        .to_string(),
                ),
                None => None,
            };
            let request = CreateScalingGroup {
                name,
                provider,
                launch_command,
                terminate_command,
                fleet_dir,
                min,
                desired,
                max,
                tags,
                launch_timeout_ms: launch_timeout,
                replace_after_ms: replace_after,
            };
            let client = Client::connect(&server)?;
            let g: ScalingGroupView = client.post("/api/v1/scaling-groups", &request)?;
            print(&g, json, "created")
        })(),
        ScalingGroupCommand::SetCapacity { name, desired, min, max, server } => (|| {
            let client = Client::connect(&server)?;
            let path = format!("/api/v1/scaling-groups/{}/capacity", encode(&name));
            let g: ScalingGroupView = client.put(&path, &SetCapacity { desired, min, max })?;
            output::say!(
                "{}: desired {} (min {}, max {}); ferry launches or terminates hosts to match",
                g.name,
                g.desired,
                g.min,
                g.max
            );
            Ok(ExitCode::SUCCESS)
        })(),
        ScalingGroupCommand::Show { name, json, server } => (|| {
            let client = Client::connect(&server)?;
            let g: ScalingGroupView = client.get(&format!("/api/v1/scaling-groups/{}", encode(&name)), "")?;
            print(&g, json, "")
        })(),
        ScalingGroupCommand::List { json, server } => (|| {
            let client = Client::connect(&server)?;
            let groups: Vec<ScalingGroupView> = client.get("/api/v1/scaling-groups", "")?;
            if json {
                output::print_json(&groups)?;
            } else if groups.is_empty() {
                eprintln!("no scaling groups yet (create one with `ferry scaling-group create NAME --provider …`)");
            } else {
                table(&groups).print();
            }
            Ok(ExitCode::SUCCESS)
        })(),
        ScalingGroupCommand::Delete { name, server } => (|| {
            let client = Client::connect(&server)?;
            let g: ScalingGroupView = client.delete(&format!("/api/v1/scaling-groups/{}", encode(&name)))?;
            output::say!("{}: deleting; its {} hosts are terminated, then it goes", g.name, g.hosts.len());
            Ok(ExitCode::SUCCESS)
        })(),
    })
}

fn print(g: &ScalingGroupView, json: bool, verb: &str) -> Result<ExitCode, Error> {
    if json {
        output::print_json(g)?;
    } else {
        for line in describe(g, verb) {
            output::say!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(g: &ScalingGroupView, verb: &str) -> Vec<String> {
    let heading =
        if verb.is_empty() { format!("scaling group {}", g.name) } else { format!("{verb} scaling group {}", g.name) };
    let provider = match (&g.launch_command, &g.fleet_dir) {
        (Some(launch), _) => format!("command (launch: {launch})"),
        (None, Some(dir)) => format!("local (fleet in {dir})"),
        _ => g.provider.clone(),
    };
    let tags: Vec<String> = g.tags.iter().map(|t| format!("{}={}", t.key, t.value)).collect();
    let mut lines = vec![
        heading,
        format!("  provider   {provider}"),
        format!("  capacity   {} desired (min {}, max {}), {} hosts now", g.desired, g.min, g.max, g.hosts.len()),
        format!("  tags       {}", tags.join(", ")),
    ];
    if g.deleting {
        lines.push("  deleting: its hosts are being terminated".into());
    }
    if g.launch_failures > 0 {
        lines.push(format!("  launches   {} failed in a row; the next waits (see `ferry events`)", g.launch_failures));
    }
    if !g.hosts.is_empty() {
        let mut t = Table::new(&["HOST", "STATE", "WHY"]);
        for h in &g.hosts {
            t.row(vec![h.name.clone(), h.state.clone(), output::or_dash(h.reason.as_deref())]);
        }
        lines.extend(t.lines().into_iter().map(|l| format!("  {l}")));
    }
    lines
}

fn table(groups: &[ScalingGroupView]) -> Table {
    let mut t = Table::new(&["NAME", "PROVIDER", "DESIRED", "MIN", "MAX", "HOSTS", "IN SERVICE"])
        .right(2)
        .right(3)
        .right(4)
        .right(5)
        .right(6);
    for g in groups {
        let in_service = g.hosts.iter().filter(|h| h.state == "in service").count();
        t.row(vec![
            g.name.clone(),
            g.provider.clone(),
            g.desired.to_string(),
            g.min.to_string(),
            g.max.to_string(),
            g.hosts.len().to_string(),
            in_service.to_string(),
        ]);
    }
    t
}
