//! `ferry deploy`: start a deployment and, with `--wait`, follow it to its end.
//!
//! Output: the deployment id alone on the first stdout line. With `--wait`,
//! progress follows: on a terminal, a compact block redrawn in place; otherwise
//! one line per change. The exit code is 0 only if the deployment Succeeded.
//!
//! `--json`: without `--wait`, `ferry_proto::api::CreatedDeployment`; with it,
//! the final `ferry_proto::api::DeploymentView` (progress then goes to stderr).
//! Field names are stable.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use ferry_proto::api::{self, DeploymentView, InstanceTarget, LifecycleEvent};

use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs, encode};

const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How long `--wait` keeps polling through a server it cannot reach.
const UNREACHABLE_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The application.
    app: String,
    /// The deployment group.
    group: String,
    /// The revision to deploy [default: the application's newest].
    #[arg(long, value_name = "ID")]
    revision: Option<String>,
    /// Deploy the primary artifact of this build (it must have succeeded and
    /// hold an appspec.yml at its root) instead of a pushed revision.
    #[arg(long, value_name = "BUILD_ID", conflicts_with = "revision")]
    from_build: Option<String>,
    /// The deployment configuration [default: the group's].
    #[arg(long, value_name = "NAME")]
    config: Option<String>,
    /// A description kept with the deployment.
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// What to do with files at install destinations that earlier deployments of
    /// the group did not create (the appspec's own setting wins).
    #[arg(long, value_enum, value_name = "BEHAVIOR")]
    file_exists_behavior: Option<FileExists>,
    /// Carry on when ApplicationStop (of the previous revision) fails.
    #[arg(long)]
    ignore_application_stop_failures: bool,
    /// Blue/green: the replacement fleet, instances with this tag KEY=VALUE
    /// (repeatable; any of them) [default: the group's instances taking no traffic].
    #[arg(long = "green-tag", value_name = "KEY=VALUE", value_parser = ferry_proto::Tag::parse)]
    green_tags: Vec<ferry_proto::Tag>,
    /// Follow the deployment to its end; exit 0 only if it succeeds.
    #[arg(long)]
    wait: bool,
    /// Print the API's JSON instead (see the module docs).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
enum FileExists {
    Disallow,
    Overwrite,
    Retain,
}

pub fn run(args: DeployArgs) -> ExitCode {
    output::finish(deploy(args))
}

fn deploy(args: DeployArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(&args.server)?;
    let request = api::CreateDeployment {
        application_name: args.app,
        group_name: args.group,
        revision_id: args.revision,
        from_build: args.from_build,
        deployment_config_name: args.config,
        description: args.description,
        file_exists_behavior: args.file_exists_behavior.map(|b| {
            match b {
                FileExists::Disallow => "DISALLOW",
                FileExists::Overwrite => "OVERWRITE",
                FileExists::Retain => "RETAIN",
            }
            .to_string()
        }),
        ignore_application_stop_failures: args.ignore_application_stop_failures,
        auto_rollback: None,
        green_tag_filters: args.green_tags.iter().map(api::TagFilter::key_and_value).collect(),
    };
    let created: api::CreatedDeployment = client.post("/api/v1/deployments", &request)?;
    if !args.wait {
        if args.json {
            output::print_json(&created)?;
        } else {
            output::say!("{}", created.deployment_id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json {
        output::say!("{}", created.deployment_id);
    }
    // With --json, stdout carries only the final view; progress goes to stderr, line by line.
    let mode = if args.json {
        Mode::Lines { to_stderr: true }
    } else if std::io::stdout().is_terminal() {
        Mode::Redraw
    } else {
        Mode::Lines { to_stderr: false }
    };
    let view = watch(&client, &created.deployment_id, mode)?;
    let lines = summary(&view);
    if args.json {
        for line in &lines {
            output::say_err!("{line}");
        }
        output::print_json(&view)?;
    } else {
        for line in &lines {
            output::say!("{line}");
        }
    }
    Ok(if view.status == "Succeeded" { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// How progress is shown.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Redraw a block in place on stdout (a terminal).
    Redraw,
    /// One line per change.
    Lines { to_stderr: bool },
}

/// The API path of a deployment.
pub fn deployment_path(id: &str) -> String {
    format!("/api/v1/deployments/{}", encode(id))
}

/// Polls the deployment until it ends, showing progress; returns the final view.
fn watch(client: &Client, id: &str, mode: Mode) -> Result<DeploymentView, Error> {
    let path = deployment_path(id);
    let mut previous: Option<DeploymentView> = None;
    let mut drawn = 0usize;
    let mut unreachable_since: Option<std::time::Instant> = None;
    loop {
        let view: DeploymentView = match client.get(&path, "") {
            Ok(view) => {
                unreachable_since = None;
                view
            }
            Err(e @ (Error::Unreachable { .. } | Error::Other(_))) => {
                // A restarting server or a dropped connection: keep trying for a while.
                let since = *unreachable_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > UNREACHABLE_GRACE {
                    return Err(e);
                }
                std::thread::sleep(POLL_INTERVAL);
                continue;
            }
            Err(e) => return Err(e),
        };
        match mode {
            Mode::Redraw => {
                let (width, height) = terminal_size();
                let lines = block(&view, output::now_millis(), height.saturating_sub(2).max(4));
                let mut out = std::io::stdout().lock();
                let mut text = String::new();
                if drawn > 0 {
                    // Back to the block's first line, and clear from there down.
                    text.push_str(&format!("\x1b[{drawn}A\r\x1b[J"));
                }
                for line in &lines {
                    text.push_str(&output::truncate(&output::clean_line(line), width.saturating_sub(1).max(20)));
                    text.push('\n');
                }
                let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
                drawn = lines.len();
            }
            Mode::Lines { to_stderr } => {
                for line in changes(previous.as_ref(), &view) {
                    if to_stderr {
                        output::say_err!("{line}");
                    } else {
                        output::say!("{line}");
                    }
                }
            }
        }
        if is_final(&view.status) {
            return Ok(view);
        }
        previous = Some(view);
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Succeeded, Failed and Stopped are final.
pub fn is_final(status: &str) -> bool {
    matches!(status, "Succeeded" | "Failed" | "Stopped")
}

/// Whether an instance or event status is final.
fn is_done(status: &str) -> bool {
    matches!(status, "Succeeded" | "Failed" | "Skipped" | "Unknown")
}

/// The terminal's columns and rows (or 100 × 40 when unknown).
fn terminal_size() -> (usize, usize) {
    match rustix::termios::tcgetwinsize(std::io::stdout()) {
        Ok(size) if size.ws_col > 0 && size.ws_row > 0 => (size.ws_col as usize, size.ws_row as usize),
        _ => (100, 40),
    }
}

/// The event an instance is at: the InProgress one, else the one that
/// failed, else the last one that finished.
pub fn current_event(target: &InstanceTarget) -> Option<&LifecycleEvent> {
    let events = &target.events;
    events
        .iter()
        .find(|e| e.status == "InProgress")
        .or_else(|| events.iter().find(|e| e.status == "Failed"))
        .or_else(|| events.iter().rev().find(|e| e.end_time.is_some()))
}

/// How long an event ran (or has been running, at `now`).
pub fn event_elapsed(event: &LifecycleEvent, now: u64) -> Option<u64> {
    let start = event.start_time?;
    let end = event.end_time.unwrap_or(if event.status == "InProgress" { now } else { start });
    Some(end.saturating_sub(start))
}

/// How long an instance has been deployed to: from its first event's start
/// to its last event's end (or `now` while it is not done).
fn instance_elapsed(target: &InstanceTarget, now: u64) -> Option<u64> {
    let start = target.events.iter().filter_map(|e| e.start_time).min()?;
    let end = if is_done(&target.status) {
        target.events.iter().filter_map(|e| e.end_time.or(e.start_time)).max().unwrap_or(start)
    } else {
        now
    };
    Some(end.saturating_sub(start))
}

/// How long the deployment has run (or ran).
fn deployment_elapsed(view: &DeploymentView, now: u64) -> u64 {
    let start = view.start_time.unwrap_or(view.create_time);
    view.complete_time.unwrap_or(now).saturating_sub(start)
}

/// The overview counts, as one line.
pub fn overview(o: &api::Overview) -> String {
    let mut text = format!(
        "{} succeeded, {} failed, {} in progress, {} pending, {} skipped",
        o.succeeded, o.failed, o.in_progress, o.pending, o.skipped
    );
    if o.ready > 0 {
        text.push_str(&format!(", {} ready", o.ready));
    }
    text
}

/// The live progress block: the deployment's status, its overview, and one
/// line per instance (at most `max_lines` lines in all).
fn block(view: &DeploymentView, now: u64, max_lines: usize) -> Vec<String> {
    let mut lines = vec![
        format!(
            "deployment {}  {}/{}  {}  {}",
            view.id,
            view.application_name,
            view.group_name,
            view.status,
            output::duration(deployment_elapsed(view, now))
        ),
        format!("  {}", overview(&view.overview)),
    ];
    if let Some(fetching) = &view.fetching {
        lines.push(format!("  {}", fetching.describe()));
    }
    if let Some(bg) = &view.blue_green {
        lines.push(format!("  blue/green {}: {}% of traffic on green ({})", bg.phase, bg.green_share, bg.routing));
    }
    let mut table = Table::headless(6).right(4).right(5);
    for target in &view.instances {
        let (event, status, took) = match current_event(target) {
            Some(e) => {
                (e.name.clone(), e.status.clone(), event_elapsed(e, now).map(output::duration).unwrap_or_default())
            }
            None => ("-".into(), String::new(), String::new()),
        };
        let total = instance_elapsed(target, now).map(|ms| format!("total {}", output::duration(ms)));
        let label = target.label.as_ref().map(|l| format!(" ({})", l.to_lowercase())).unwrap_or_default();
        table.row(vec![
            format!("  {}{label}", target.instance),
            target.status.clone(),
            event,
            status,
            took,
            total.unwrap_or_default(),
        ]);
    }
    let mut rows = table.lines();
    let traffic = traffic_lines(view);
    let room = max_lines.saturating_sub(lines.len() + traffic.len());
    if rows.len() > room {
        let hidden = rows.len() - room.saturating_sub(1);
        rows.truncate(room.saturating_sub(1));
        rows.push(format!("  … and {hidden} more instances"));
    }
    lines.extend(rows);
    lines.extend(traffic);
    lines
}

/// One line per target group: each member's state, traffic share and health.
pub fn traffic_lines(view: &DeploymentView) -> Vec<String> {
    view.target_groups
        .iter()
        .map(|tg| {
            let members: Vec<String> = tg
                .members
                .iter()
                .map(|m| match m.state.as_str() {
                    "ready" => format!("{} {}% {}", m.instance, m.traffic_percent, m.health),
                    state => format!("{} {state}", m.instance),
                })
                .collect();
            let members = if members.is_empty() { "no members".to_string() } else { members.join(", ") };
            format!("  traffic {}: {members}", tg.name)
        })
        .collect()
}

/// The lines worth printing between two polls (everything so far when
/// `previous` is `None`): events that started or finished, instances that
/// finished, and a change of the deployment's status.
fn changes(previous: Option<&DeploymentView>, current: &DeploymentView) -> Vec<String> {
    let mut lines = Vec::new();
    for target in &current.instances {
        let before = previous.and_then(|p| p.instances.iter().find(|t| t.instance == target.instance));
        let mut skipped = Vec::new();
        for event in &target.events {
            let was = before
                .and_then(|b| b.events.iter().find(|e| e.name == event.name))
                .map(|e| e.status.as_str())
                .unwrap_or("Pending");
            if was == event.status {
                continue;
            }
            let name = &target.instance;
            match event.status.as_str() {
                "InProgress" => lines.push(format!("instance {name}: {} started", event.name)),
                "Skipped" => skipped.push(event.name.as_str()),
                "Succeeded" | "Failed" => match (event.start_time, event.end_time) {
                    (Some(start), Some(end)) => lines.push(format!(
                        "instance {name}: {} {} in {}",
                        event.name,
                        event.status,
                        output::duration(end.saturating_sub(start))
                    )),
                    _ => lines.push(format!("instance {name}: {} {}", event.name, event.status)),
                },
                other => lines.push(format!("instance {name}: {} {other}", event.name)),
            }
        }
        if !skipped.is_empty() {
            lines.push(format!("instance {}: skipped {}", target.instance, skipped.join(", ")));
        }
        let was = before.map(|b| b.status.as_str()).unwrap_or("Pending");
        if was != target.status && is_done(&target.status) {
            let took = instance_elapsed(target, 0).map(|ms| format!(" after {}", output::duration(ms)));
            lines.push(format!("instance {}: {}{}", target.instance, target.status, took.unwrap_or_default()));
        }
    }
    if previous.is_none_or(|p| p.status != current.status) {
        lines.push(format!("deployment {}: {}", current.id, current.status));
    }
    lines
}

/// The closing report: how the deployment ended, why it failed (with each
/// failed instance's diagnostics), and any rollback.
fn summary(view: &DeploymentView) -> Vec<String> {
    let took = output::duration(deployment_elapsed(view, output::now_millis()));
    let mut lines = Vec::new();
    if view.status == "Succeeded" {
        let o = &view.overview;
        let mut text = format!("deployment {} Succeeded in {took}: {} instance(s) succeeded", view.id, o.succeeded);
        if o.skipped > 0 {
            text.push_str(&format!(", {} skipped", o.skipped));
        }
        lines.push(text);
    } else {
        let mut text = format!("deployment {} {} after {took}", view.id, view.status);
        if let Some(e) = &view.error {
            text.push_str(&format!(": {} ({})", e.message, e.code));
        }
        lines.push(text);
        lines.extend(failures(view));
    }
    lines.extend(rollback_lines(view));
    lines
}

/// For each failed instance: the failed event's diagnostics, log tail indented.
pub fn failures(view: &DeploymentView) -> Vec<String> {
    let mut lines = Vec::new();
    for target in view.instances.iter().filter(|t| t.status == "Failed") {
        let failed: Vec<&LifecycleEvent> = target.events.iter().filter(|e| e.status == "Failed").collect();
        if failed.is_empty() {
            lines.push(format!("instance {} Failed (no lifecycle event reported a failure)", target.instance));
        }
        for event in failed {
            match &event.diagnostics {
                Some(d) => {
                    lines.push(format!("instance {} failed in {}: {}", target.instance, event.name, d.error_code));
                    lines.extend(diagnostics(d, "  "));
                }
                None => lines.push(format!("instance {} failed in {}", target.instance, event.name)),
            }
        }
    }
    lines
}

/// A diagnostics record: script, message, and the log tail, each line under `indent`.
pub fn diagnostics(d: &ferry_proto::agent::Diagnostics, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    if !d.script_name.is_empty() {
        lines.push(format!("{indent}script: {}", d.script_name));
    }
    if !d.message.is_empty() {
        lines.push(format!("{indent}message: {}", d.message.trim_end()));
    }
    if !d.log_tail.trim().is_empty() {
        lines.push(format!("{indent}log tail:"));
        lines.extend(d.log_tail.trim_end().lines().map(|l| format!("{indent}  {l}")));
    }
    lines
}

/// What is known of rollbacks: the one this deployment started, or the one it is.
pub fn rollback_lines(view: &DeploymentView) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(id) = &view.rollback_deployment_id {
        lines.push(format!("rollback started as deployment {id} (follow it with `ferry get {id}`)"));
    }
    if let Some(id) = &view.rollback_triggering_deployment_id {
        lines.push(format!("this deployment rolls back {id}"));
    }
    // The message mostly restates the rollback's id; it matters when there is none
    // (e.g. no earlier successful revision to roll back to).
    if view.rollback_deployment_id.is_none()
        && let Some(message) = view.rollback_message.as_deref().filter(|m| !m.is_empty())
    {
        lines.push(format!("rollback: {message}"));
    }
    lines
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A deployment of three instances, mid-way: web-1 done, web-2 in
    /// ApplicationStart, web-3 not started. Times are ms since the epoch.
    pub const IN_PROGRESS: &str = r#"{
      "id": "d-ABC123", "application_name": "web", "group_name": "prod",
      "deployment_config_name": "CodeDeployDefault.OneAtATime", "revision_id": "r-1",
      "previous_revision_id": null, "creator": "user", "description": null,
      "status": "InProgress", "error": null,
      "create_time": 1000000, "start_time": 1000500, "complete_time": null,
      "overview": {"pending": 1, "in_progress": 1, "succeeded": 1, "failed": 0, "skipped": 0, "ready": 0},
      "rollback_deployment_id": null, "rollback_triggering_deployment_id": null, "rollback_message": null,
      "instances": [
        {"instance": "web-1", "status": "Succeeded", "last_updated": 1003000, "events": [
          {"name": "ApplicationStop", "status": "Succeeded", "start_time": 1001000, "end_time": 1001012, "diagnostics": null},
          {"name": "DownloadBundle", "status": "Succeeded", "start_time": 1001020, "end_time": 1001250, "diagnostics": null},
          {"name": "ValidateService", "status": "Succeeded", "start_time": 1002900, "end_time": 1003000, "diagnostics": null}
        ]},
        {"instance": "web-2", "status": "InProgress", "last_updated": 1004000, "events": [
          {"name": "ApplicationStop", "status": "Succeeded", "start_time": 1003100, "end_time": 1003110, "diagnostics": null},
          {"name": "ApplicationStart", "status": "InProgress", "start_time": 1004000, "end_time": null, "diagnostics": null},
          {"name": "ValidateService", "status": "Pending", "start_time": null, "end_time": null, "diagnostics": null}
        ]},
        {"instance": "web-3", "status": "Pending", "last_updated": 1000000, "events": [
          {"name": "ApplicationStop", "status": "Pending", "start_time": null, "end_time": null, "diagnostics": null}
        ]}
      ]
    }"#;

    /// The same deployment, failed on web-2 with an automatic rollback.
    pub const FAILED: &str = r#"{
      "id": "d-ABC123", "application_name": "web", "group_name": "prod",
      "deployment_config_name": "CodeDeployDefault.OneAtATime", "revision_id": "r-1",
      "previous_revision_id": "r-0", "creator": "user", "description": "release 42",
      "status": "Failed",
      "error": {"code": "HOOK_EXECUTION_FAILURE", "message": "too many individual instances failed deployment"},
      "create_time": 1000000, "start_time": 1000500, "complete_time": 1006500,
      "overview": {"pending": 0, "in_progress": 0, "succeeded": 1, "failed": 1, "skipped": 1, "ready": 0},
      "rollback_deployment_id": "d-RB0001", "rollback_triggering_deployment_id": null, "rollback_message": null,
      "instances": [
        {"instance": "web-1", "status": "Succeeded", "last_updated": 1003000, "events": [
          {"name": "ApplicationStop", "status": "Succeeded", "start_time": 1001000, "end_time": 1001012, "diagnostics": null},
          {"name": "DownloadBundle", "status": "Succeeded", "start_time": 1001020, "end_time": 1001250, "diagnostics": null},
          {"name": "ValidateService", "status": "Succeeded", "start_time": 1002900, "end_time": 1003000, "diagnostics": null}
        ]},
        {"instance": "web-2", "status": "Failed", "last_updated": 1006000, "events": [
          {"name": "ApplicationStop", "status": "Succeeded", "start_time": 1003100, "end_time": 1003110, "diagnostics": null},
          {"name": "ApplicationStart", "status": "Failed", "start_time": 1004000, "end_time": 1006000, "diagnostics":
            {"error_code": "ScriptFailed", "script_name": "scripts/start.sh",
             "message": "Script at specified location: scripts/start.sh failed with exit code 3",
             "log_tail": "[stdout]starting\n[stderr]port 80 in use\n"}},
          {"name": "ValidateService", "status": "Skipped", "start_time": null, "end_time": null, "diagnostics": null}
        ]},
        {"instance": "web-3", "status": "Skipped", "last_updated": 1006100, "events": [
          {"name": "ApplicationStop", "status": "Skipped", "start_time": null, "end_time": null, "diagnostics": null}
        ]}
      ]
    }"#;

    pub fn view(json: &str) -> DeploymentView {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn renders_the_progress_block() {
        let v = view(IN_PROGRESS);
        assert_eq!(
            block(&v, 1_005_234, 40),
            vec![
                "deployment d-ABC123  web/prod  InProgress  4.7 s",
                "  1 succeeded, 0 failed, 1 in progress, 1 pending, 0 skipped",
                "  web-1  Succeeded   ValidateService   Succeeded   100 ms  total 2.0 s",
                "  web-2  InProgress  ApplicationStart  InProgress   1.2 s  total 2.1 s",
                "  web-3  Pending     -",
            ]
        );
    }

    #[test]
    fn the_block_fits_the_screen() {
        let v = view(IN_PROGRESS);
        let lines = block(&v, 1_005_234, 4);
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[2], "  web-1  Succeeded   ValidateService   Succeeded   100 ms  total 2.0 s");
        assert_eq!(lines[3], "  … and 2 more instances");
    }

    #[test]
    fn the_block_shows_the_failed_event_rather_than_skipped_ones() {
        let v = view(FAILED);
        let lines = block(&v, 9_999_999, 40);
        assert_eq!(lines[0], "deployment d-ABC123  web/prod  Failed  6.0 s");
        assert_eq!(lines[3], "  web-2  Failed     ApplicationStart  Failed      2.0 s  total 2.9 s");
        assert_eq!(lines[4], "  web-3  Skipped    -");
    }

    #[test]
    fn prints_everything_on_the_first_poll() {
        let v = view(IN_PROGRESS);
        assert_eq!(
            changes(None, &v),
            vec![
                "instance web-1: ApplicationStop Succeeded in 12 ms",
                "instance web-1: DownloadBundle Succeeded in 230 ms",
                "instance web-1: ValidateService Succeeded in 100 ms",
                "instance web-1: Succeeded after 2.0 s",
                "instance web-2: ApplicationStop Succeeded in 10 ms",
                "instance web-2: ApplicationStart started",
                "deployment d-ABC123: InProgress",
            ]
        );
    }

    #[test]
    fn prints_only_what_changed() {
        let (a, b) = (view(IN_PROGRESS), view(FAILED));
        assert!(changes(Some(&a), &a).is_empty(), "no change, no line");
        assert_eq!(
            changes(Some(&a), &b),
            vec![
                "instance web-2: ApplicationStart Failed in 2.0 s",
                "instance web-2: skipped ValidateService",
                "instance web-2: Failed after 2.9 s",
                "instance web-3: skipped ApplicationStop",
                "instance web-3: Skipped",
                "deployment d-ABC123: Failed",
            ]
        );
    }

    #[test]
    fn summarises_a_failure_with_diagnostics_and_rollback() {
        let v = view(FAILED);
        assert_eq!(
            summary(&v),
            vec![
                "deployment d-ABC123 Failed after 6.0 s: too many individual instances failed deployment (HOOK_EXECUTION_FAILURE)",
                "instance web-2 failed in ApplicationStart: ScriptFailed",
                "  script: scripts/start.sh",
                "  message: Script at specified location: scripts/start.sh failed with exit code 3",
                "  log tail:",
                "    [stdout]starting",
                "    [stderr]port 80 in use",
                "rollback started as deployment d-RB0001 (follow it with `ferry get d-RB0001`)",
            ]
        );
    }

    #[test]
    fn summarises_a_success() {
        let mut v = view(IN_PROGRESS);
        v.status = "Succeeded".into();
        v.complete_time = Some(1_010_500);
        v.overview = api::Overview { succeeded: 3, ..Default::default() };
        assert_eq!(summary(&v), vec!["deployment d-ABC123 Succeeded in 10.0 s: 3 instance(s) succeeded"]);
    }

    #[test]
    fn a_rollback_that_could_not_happen_is_explained() {
        let mut v = view(FAILED);
        v.rollback_message = Some("Deployment d-RB0001 is triggered to roll back deployment d-ABC123.".into());
        assert_eq!(
            rollback_lines(&v),
            vec!["rollback started as deployment d-RB0001 (follow it with `ferry get d-RB0001`)"]
        );
        v.rollback_deployment_id = None;
        v.rollback_message = Some("no previous successful revision".into());
        assert_eq!(rollback_lines(&v), vec!["rollback: no previous successful revision"]);
        v.rollback_triggering_deployment_id = Some("d-X".into());
        assert_eq!(rollback_lines(&v)[0], "this deployment rolls back d-X");
    }

    #[test]
    fn an_instance_failed_without_an_event() {
        let mut v = view(FAILED);
        v.instances[1].events.clear();
        assert_eq!(failures(&v), vec!["instance web-2 Failed (no lifecycle event reported a failure)"]);
    }
}
