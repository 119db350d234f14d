//! `ferry alarm`: named alarms (PromQL expressions) that stop deployments.
//!
//! `ferry alarm list --json` prints `Vec<ferry_proto::api::Alarm>`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferry_proto::api;

use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs, encode};

#[derive(Debug, Args)]
pub struct AlarmArgs {
    #[command(subcommand)]
    command: AlarmCommand,
}

#[derive(Debug, Subcommand)]
enum AlarmCommand {
    /// Create (or replace) an alarm: it fires while the PromQL expression
    /// returns any sample, as a Prometheus alerting rule does.
    Create {
        name: String,
        /// The PromQL expression, e.g. 'sum(rate(http_errors_total[1m])) > 1'.
        #[arg(long = "expr", value_name = "PROMQL")]
        expression: String,
        /// The Prometheus to ask [default: the server's --prometheus-url].
        #[arg(long, value_name = "URL")]
        prometheus: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List alarms.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Evaluate an alarm now: ALARM, OK or UNKNOWN (and why).
    State {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Delete an alarm.
    Delete {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(args: AlarmArgs) -> ExitCode {
    output::finish(match args.command {
        AlarmCommand::Create { name, expression, prometheus, server } => {
            let request = api::Alarm { name, expression, prometheus_url: prometheus };
            Client::connect(&server).and_then(|c| c.post::<_, api::Alarm>("/api/v1/alarms", &request)).map(|a| {
                output::say!("alarm {} created: {}", a.name, a.expression);
                ExitCode::SUCCESS
            })
        }
        AlarmCommand::List { json, server } => list(json, &server),
        AlarmCommand::State { name, server } => state(&name, &server),
        AlarmCommand::Delete { name, server } => Client::connect(&server)
            .and_then(|c| c.delete::<serde_json::Value>(&format!("/api/v1/alarms/{}", encode(&name))))
            .map(|_| {
                output::say!("alarm {name} deleted");
                ExitCode::SUCCESS
            }),
    })
}

fn list(json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let alarms: Vec<api::Alarm> = Client::connect(server)?.get("/api/v1/alarms", "")?;
    if json {
        output::print_json(&alarms)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&["NAME", "EXPRESSION", "PROMETHEUS"]);
    for a in &alarms {
        table.row(vec![
            a.name.clone(),
            a.expression.clone(),
            a.prometheus_url.clone().unwrap_or_else(|| "(server default)".into()),
        ]);
    }
    table.print();
    Ok(ExitCode::SUCCESS)
}

fn state(name: &str, server: &ServerArgs) -> Result<ExitCode, Error> {
    let answer: serde_json::Value =
        Client::connect(server)?.get(&format!("/api/v1/alarms/{}/state", encode(name)), "")?;
    let word = answer["state"].as_str().unwrap_or("UNKNOWN");
    match answer["reason"].as_str() {
        Some(reason) => output::say!("{name}: {word} ({reason})"),
        None => output::say!("{name}: {word}"),
    }
    Ok(ExitCode::SUCCESS)
}
