//! `ferry stop`: stop a deployment (optionally rolling back).
//!
//! `--json` prints the API's `ferry_proto::api::StopResult` (field names stable).

use std::process::ExitCode;

use clap::Args;
use ferry_proto::api;

use super::deploy::deployment_path;
use super::output;
use crate::client::{Client, Error, ServerArgs};

#[derive(Debug, Args)]
pub struct StopArgs {
    /// The deployment's id (d-…).
    deployment_id: String,
    /// Once stopped, roll back to the group's last successful revision.
    #[arg(long)]
    rollback: bool,
    /// Print the API's `StopResult` as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(args: StopArgs) -> ExitCode {
    output::finish(stop(args))
}

fn stop(args: StopArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(&args.server)?;
    let result: api::StopResult = client.post(
        &format!("{}/stop", deployment_path(&args.deployment_id)),
        &api::StopDeployment { rollback: args.rollback },
    )?;
    if args.json {
        output::print_json(&result)?;
    } else {
        output::say!("{}", describe(&args.deployment_id, &result));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(id: &str, r: &api::StopResult) -> String {
    let what = match r.status.as_str() {
        "Succeeded" => "stopped",
        "Pending" => "stopping",
        other => other,
    };
    format!("{id}: {what} ({}): {}", r.status, r.message)
}

#[cfg(test)]
mod tests {
    #[test]
    fn describes_the_result() {
        let r = ferry_proto::api::StopResult { status: "Pending".into(), message: "No more commands.".into() };
        assert_eq!(super::describe("d-1", &r), "d-1: stopping (Pending): No more commands.");
    }
}

/// `ferry continue`: move a blue/green deployment's traffic now (it waits
/// in the Ready state), or terminate its original instances without
/// waiting longer.
#[derive(Debug, Args)]
pub struct ContinueArgs {
    /// The deployment's id (d-…).
    deployment_id: String,
    /// Skip the wait before the original instances are terminated, instead
    /// of ending the Ready wait.
    #[arg(long)]
    termination: bool,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run_continue(args: ContinueArgs) -> ExitCode {
    output::finish((|| {
        let client = Client::connect(&args.server)?;
        let wait = if args.termination { "termination" } else { "ready" };
        let view: api::DeploymentView = client.post(
            &format!("{}/continue", deployment_path(&args.deployment_id)),
            &serde_json::json!({ "wait": wait }),
        )?;
        let phase = view.blue_green.as_ref().map(|bg| bg.phase.as_str()).unwrap_or("-");
        output::say!("{}: continued ({}, phase {phase})", view.id, view.status);
        Ok(ExitCode::SUCCESS)
    })())
}
