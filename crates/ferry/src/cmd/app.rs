//! `ferry app`: create and list applications.
//!
//! `ferry app list --json` prints `Vec<ferry_proto::api::Application>` (field names stable).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferry_proto::api;

use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs, encode};

#[derive(Debug, Args)]
pub struct AppArgs {
    #[command(subcommand)]
    command: AppCommand,
}

#[derive(Debug, Subcommand)]
enum AppCommand {
    /// Create an application.
    Create {
        /// The application's name.
        name: String,
        /// Server (deploys to hosts) or ECS (deploys to a container service).
        #[arg(long, value_name = "PLATFORM", default_value = "Server", value_parser = ["Server", "ECS"])]
        compute_platform: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the applications.
    List {
        /// Print the API's JSON (`Vec<ferry_proto::api::Application>`).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(args: AppArgs) -> ExitCode {
    output::finish(match args.command {
        AppCommand::Create { name, compute_platform, server } => create(&name, &compute_platform, &server),
        AppCommand::List { json, server } => list(json, &server),
    })
}

fn create(name: &str, compute_platform: &str, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let app: api::Application = client.post(
        "/api/v1/applications",
        &api::CreateApplication { name: name.to_string(), compute_platform: Some(compute_platform.to_string()) },
    )?;
    output::say!("created application {} ({}, id {})", app.name, app.compute_platform, app.id);
    Ok(ExitCode::SUCCESS)
}

fn list(json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let apps: Vec<api::Application> = client.get("/api/v1/applications", "")?;
    if json {
        output::print_json(&apps)?;
    } else if apps.is_empty() {
        eprintln!("no applications yet (create one with `ferry app create NAME`)");
    } else {
        table(&apps, output::now_millis()).print();
    }
    Ok(ExitCode::SUCCESS)
}

fn table(apps: &[api::Application], now: u64) -> Table {
    let mut t = Table::new(&["NAME", "PLATFORM", "CREATED"]);
    for a in apps {
        t.row(vec![a.name.clone(), a.compute_platform.clone(), output::ago(now, a.create_time)]);
    }
    t
}

/// The API path of an application.
pub fn app_path(app: &str) -> String {
    format!("/api/v1/applications/{}", encode(app))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_applications() {
        let apps = vec![
            api::Application { id: "1".into(), name: "web".into(), compute_platform: "Server".into(), create_time: 0 },
            api::Application {
                id: "2".into(),
                name: "billing-api".into(),
                compute_platform: "Server".into(),
                create_time: 940_000,
            },
        ];
        assert_eq!(
            table(&apps, 1_000_000).lines(),
            vec![
                "NAME         PLATFORM  CREATED",
                "web          Server    16 min ago",
                "billing-api  Server    1 min ago"
            ]
        );
        assert_eq!(app_path("my app"), "/api/v1/applications/my%20app");
    }
}
