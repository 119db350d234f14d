//! `ferry get` (one deployment in detail) and `ferry list` (deployments, newest first).
//!
//! JSON output, a stable documented format: `ferry get --json` prints the
//! API's [`ferry_proto::api::DeploymentView`] and `ferry list --json` a
//! `Vec<`[`ferry_proto::api::DeploymentSummary`]`>`, both as the server sent
//! them, pretty-printed. Field names are those of the `ferry_proto::api` types
//! and are stable (fields may be added, never renamed or removed).

use std::process::ExitCode;

use clap::Args;
use ferry_proto::api::{self, DeploymentView};

use super::deploy::{self, deployment_path};
use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs, query};

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The deployment's id (d-…).
    deployment_id: String,
    /// Print the API's `DeploymentView` as JSON (a stable format).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only deployments of this application.
    #[arg(long, value_name = "APP")]
    application: Option<String>,
    /// Only deployments to this group (of --application).
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// Only deployments in these statuses, comma-separated (Created, Queued,
    /// InProgress, Succeeded, Failed, Stopped, …).
    #[arg(long, value_name = "STATUS")]
    status: Option<String>,
    /// Print the API's `Vec<DeploymentSummary>` as JSON (a stable format).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run_get(args: GetArgs) -> ExitCode {
    output::finish(get(args))
}

pub fn run_list(args: ListArgs) -> ExitCode {
    output::finish(list(args))
}

fn get(args: GetArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(&args.server)?;
    let view: DeploymentView = client.get(&deployment_path(&args.deployment_id), "")?;
    if args.json {
        output::print_json(&view)?;
    } else {
        for line in describe(&view, output::now_millis()) {
            output::say!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The human view of a deployment: a header, then instances × events.
fn describe(v: &DeploymentView, now: u64) -> Vec<String> {
    let at = |ms: u64| format!("{} ({})", output::utc(ms), output::ago(now, ms));
    let mut header = Table::headless(2);
    let mut field = |name: &str, value: String| header.row(vec![name.to_string(), value]);
    field("deployment", v.id.clone());
    field("application", v.application_name.clone());
    field("group", v.group_name.clone());
    field("config", v.deployment_config_name.clone());
    let revision = match &v.previous_revision_id {
        Some(previous) => format!("{} (previous {previous})", v.revision_id),
        None => v.revision_id.clone(),
    };
    field("revision", revision);
    field("status", v.status.clone());
    field("creator", v.creator.clone());
    if let Some(d) = v.description.as_deref().filter(|d| !d.is_empty()) {
        field("description", d.to_string());
    }
    field("created", at(v.create_time));
    if let Some(t) = v.start_time {
        field("started", at(t));
    }
    if let Some(t) = v.complete_time {
        let took = t.saturating_sub(v.start_time.unwrap_or(v.create_time));
        field("completed", format!("{}, took {}", at(t), output::duration(took)));
    }
    if let Some(e) = &v.error {
        field("error", format!("{} ({})", e.message, e.code));
    }
    if let Some(id) = &v.rollback_deployment_id {
        field("rolled back by", id.clone());
    }
    if let Some(id) = &v.rollback_triggering_deployment_id {
        field("rollback of", id.clone());
    }
    if let Some(m) = v.rollback_message.as_deref().filter(|m| !m.is_empty()) {
        field("rollback", m.to_string());
    }
    field("instances", deploy::overview(&v.overview));
    if let Some(fetching) = &v.fetching {
        field("revision copy", format!("{}, since {}", fetching.describe(), at(fetching.since)));
    }
    if let Some(bg) = &v.blue_green {
        let mut text = format!("{}, {}% of traffic on green, {}", bg.phase, bg.green_share, bg.routing);
        if let Some(deadline) = bg.deadline {
            text.push_str(&format!(", wait ends {}", output::utc(deadline)));
        }
        if bg.traffic_only {
            text.push_str(" (moves traffic back)");
        }
        field("blue/green", text);
        for r in &bg.retired {
            let what = if r.terminated {
                "terminated by the terminate command, deregistered"
            } else {
                "left the group (still registered and running)"
            };
            field("retired", format!("{} at {}: {what}", r.instance, output::utc(r.time)));
        }
    }
    let mut lines = header.lines();
    if v.instances.is_empty() {
        return lines;
    }
    lines.push(String::new());
    let mut events = Table::new(&["INSTANCE", "STATUS", "EVENT", "EVENT STATUS", "DURATION", "ERROR"]).right(4);
    for target in &v.instances {
        let mut first = true;
        let mut instance_cells = || {
            let name = match &target.label {
                Some(label) => format!("{} ({})", target.instance, label.to_lowercase()),
                None => target.instance.clone(),
            };
            let cells = if first { (name, target.status.clone()) } else { Default::default() };
            first = false;
            cells
        };
        if target.events.is_empty() {
            let (name, status) = instance_cells();
            events.row(vec![name, status, "-".into()]);
        }
        for e in &target.events {
            let (name, status) = instance_cells();
            let took = deploy::event_elapsed(e, now).map(|ms| format!("{ms} ms")).unwrap_or_default();
            let error = e
                .diagnostics
                .as_ref()
                .filter(|d| !d.error_code.is_empty() && d.error_code != "Success")
                .map(|d| d.error_code.clone())
                .unwrap_or_default();
            events.row(vec![name, status, e.name.clone(), e.status.clone(), took, error]);
        }
    }
    lines.extend(events.lines());
    for tg in &v.target_groups {
        lines.push(String::new());
        lines.push(format!("target group {} (traffic now)", tg.name));
        lines.extend(super::lb::members_table(tg).lines().into_iter().map(|l| format!("  {l}")));
    }
    let failures = deploy::failures(v);
    if !failures.is_empty() {
        lines.push(String::new());
        lines.extend(failures);
    }
    lines
}

fn list(args: ListArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(&args.server)?;
    let q = query(&[
        ("application", args.application.as_deref()),
        ("group", args.group.as_deref()),
        ("status", args.status.as_deref()),
    ]);
    let mut deployments: Vec<api::DeploymentSummary> = client.get("/api/v1/deployments", &q)?;
    // Newest first, whatever order the server keeps (the sort is stable).
    deployments.sort_by_key(|d| std::cmp::Reverse(d.create_time));
    if args.json {
        output::print_json(&deployments)?;
    } else if deployments.is_empty() {
        eprintln!("no deployments");
    } else {
        list_table(&deployments, output::now_millis()).print();
    }
    Ok(ExitCode::SUCCESS)
}

fn list_table(deployments: &[api::DeploymentSummary], now: u64) -> Table {
    let mut t = Table::new(&["ID", "APPLICATION", "GROUP", "STATUS", "CREATOR", "CREATED", "DURATION"]).right(6);
    for d in deployments {
        let took = match d.complete_time {
            Some(end) => output::duration(end.saturating_sub(d.create_time)),
            None if deploy::is_final(&d.status) => "-".into(),
            None => format!("{} so far", output::duration(now.saturating_sub(d.create_time))),
        };
        t.row(vec![
            d.id.clone(),
            d.application_name.clone(),
            d.group_name.clone(),
            d.status.clone(),
            d.creator.clone(),
            output::ago(now, d.create_time),
            took,
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::super::deploy::tests::{FAILED, IN_PROGRESS, view};
    use super::*;

    #[test]
    fn describes_a_failed_deployment() {
        let now = 1_006_500 + 120_000;
        let lines = describe(&view(FAILED), now);
        assert_eq!(
            lines,
            vec![
                "deployment      d-ABC123",
                "application     web",
                "group           prod",
                "config          CodeDeployDefault.OneAtATime",
                "revision        r-1 (previous r-0)",
                "status          Failed",
                "creator         user",
                "description     release 42",
                "created         1970-01-01 00:16:40 UTC (2 min ago)",
                "started         1970-01-01 00:16:40 UTC (2 min ago)",
                "completed       1970-01-01 00:16:46 UTC (2 min ago), took 6.0 s",
                "error           too many individual instances failed deployment (HOOK_EXECUTION_FAILURE)",
                "rolled back by  d-RB0001",
                "instances       1 succeeded, 1 failed, 0 in progress, 0 pending, 1 skipped",
                "",
                "INSTANCE  STATUS     EVENT             EVENT STATUS  DURATION  ERROR",
                "web-1     Succeeded  ApplicationStop   Succeeded        12 ms",
                "                     DownloadBundle    Succeeded       230 ms",
                "                     ValidateService   Succeeded       100 ms",
                "web-2     Failed     ApplicationStop   Succeeded        10 ms",
                "                     ApplicationStart  Failed         2000 ms  ScriptFailed",
                "                     ValidateService   Skipped",
                "web-3     Skipped    ApplicationStop   Skipped",
                "",
                "instance web-2 failed in ApplicationStart: ScriptFailed",
                "  script: scripts/start.sh",
                "  message: Script at specified location: scripts/start.sh failed with exit code 3",
                "  log tail:",
                "    [stdout]starting",
                "    [stderr]port 80 in use",
            ]
        );
    }

    #[test]
    fn describes_a_running_deployment() {
        let lines = describe(&view(IN_PROGRESS), 1_005_000);
        assert!(lines.contains(&"status       InProgress".to_string()), "{lines:#?}");
        assert!(!lines.iter().any(|l| l.starts_with("completed")));
        assert!(
            lines.contains(&"                      ApplicationStart  InProgress     1000 ms".to_string()),
            "{lines:#?}"
        );
    }

    #[test]
    fn lists_deployments() {
        let d = |id: &str, status: &str, create: u64, complete: Option<u64>| api::DeploymentSummary {
            id: id.into(),
            application_name: "web".into(),
            group_name: "prod".into(),
            status: status.into(),
            creator: "user".into(),
            create_time: create,
            complete_time: complete,
        };
        let rows = [d("d-2", "InProgress", 990_000, None), d("d-1", "Succeeded", 400_000, Some(412_300))];
        assert_eq!(
            list_table(&rows, 1_000_000).lines(),
            vec![
                "ID   APPLICATION  GROUP  STATUS      CREATOR  CREATED          DURATION",
                "d-2  web          prod   InProgress  user     10 s ago    10.0 s so far",
                "d-1  web          prod   Succeeded   user     10 min ago         12.3 s",
            ]
        );
    }
}
