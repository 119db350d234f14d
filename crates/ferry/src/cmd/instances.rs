//! `ferry instances`: the fleet as the server sees it.
//!
//! `--json` prints the API's `Vec<ferry_proto::api::InstanceView>` (field names stable).

use std::process::ExitCode;

use clap::Args;
use ferry_proto::api;

use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InstancesArgs {
    #[command(subcommand)]
    command: Option<InstancesCommand>,
    /// Print the API's `Vec<InstanceView>` as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, clap::Subcommand)]
enum InstancesCommand {
    /// Revoke an instance's agent credential (admin only): its agent is
    /// refused from its next request on, until it enrols again.
    Revoke {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(args: InstancesArgs) -> ExitCode {
    match args.command {
        Some(InstancesCommand::Revoke { name, server }) => output::finish(revoke(&name, &server)),
        None => output::finish(instances(args)),
    }
}

fn revoke(name: &str, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let path = format!("/api/v1/instances/{}/revoke", crate::client::encode(name));
    let key: api::KeyView = client.post(&path, &serde_json::json!({}))?;
    output::say!("revoked the agent credential {} of {name}; its agent must enrol again", key.access_key_id);
    Ok(ExitCode::SUCCESS)
}

fn instances(args: InstancesArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(&args.server)?;
    let list: Vec<api::InstanceView> = client.get("/api/v1/instances", "")?;
    if args.json {
        output::print_json(&list)?;
    } else if list.is_empty() {
        eprintln!("no instances yet (start `ferry agent` on a host to enrol it)");
    } else {
        table(&list, output::now_millis()).print();
    }
    Ok(ExitCode::SUCCESS)
}

fn table(list: &[api::InstanceView], now: u64) -> Table {
    let mut t = Table::new(&["NAME", "TAGS", "ENROLLED", "ONLINE", "AGENT", "CONTAINERS", "LAST SEEN"]);
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    for i in list {
        let tags: Vec<String> = i
            .tags
            .iter()
            .map(|t| if t.value.is_empty() { t.key.clone() } else { format!("{}={}", t.key, t.value) })
            .collect();
        t.row(vec![
            i.name.clone(),
            if tags.is_empty() { "-".into() } else { tags.join(",") },
            yes_no(i.enrolled),
            yes_no(i.online),
            output::or_dash(i.agent_version.as_deref()),
            output::or_dash(i.container_engine.as_deref()),
            i.last_seen.map(|t| output::ago(now, t)).unwrap_or_else(|| "never".into()),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use ferry_proto::Tag;

    use super::*;

    #[test]
    fn lists_instances() {
        let list = vec![
            api::InstanceView {
                name: "web-1".into(),
                tags: vec![Tag::parse("role=web").unwrap(), Tag::parse("canary").unwrap()],
                register_time: 0,
                enrolled: true,
                agent_version: Some("0.1.0".into()),
                last_seen: Some(999_000),
                online: true,
                container_engine: Some("podman 4.3.1".into()),
            },
            api::InstanceView {
                name: "db-1".into(),
                tags: vec![],
                register_time: 0,
                enrolled: false,
                agent_version: None,
                last_seen: None,
                online: false,
                container_engine: None,
            },
        ];
        assert_eq!(
            table(&list, 1_000_000).lines(),
            vec![
                "NAME   TAGS             ENROLLED  ONLINE  AGENT  CONTAINERS    LAST SEEN",
                "web-1  role=web,canary  yes       yes     0.1.0  podman 4.3.1  1 s ago",
                "db-1   -                no        no      -      -             never",
            ]
        );
    }
}
