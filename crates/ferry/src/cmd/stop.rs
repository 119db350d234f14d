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
        println!("{}", describe(&args.deployment_id, &result));
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
