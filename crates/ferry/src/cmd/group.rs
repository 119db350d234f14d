//! `ferry group`: create, list and show deployment groups.
//!
//! `ferry group list APP --json` prints `Vec<ferry_proto::api::DeploymentGroup>`;
//! `ferry group create … --json` and `ferry group show … --json` print the
//! `DeploymentGroup` (field names stable).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferry_proto::{Tag, api};

use super::app::app_path;
use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs};

#[derive(Debug, Args)]
pub struct GroupArgs {
    #[command(subcommand)]
    command: GroupCommand,
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// Create a deployment group: the instances carrying ANY of the given tags.
    Create {
        /// The application.
        app: String,
        /// The group's name.
        group: String,
        /// An instance tag to target, KEY=VALUE (repeatable; an instance with any of them is a target).
        #[arg(long = "tag", value_name = "KEY=VALUE", required = true, value_parser = Tag::parse)]
        tags: Vec<Tag>,
        /// The deployment configuration [default: the server's, CodeDeployDefault.OneAtATime].
        #[arg(long, value_name = "NAME")]
        config: Option<String>,
        /// Roll back to the last successful revision when a deployment fails or is stopped.
        #[arg(long)]
        auto_rollback: bool,
        /// A target group (see `ferry lb`) whose traffic deployments move:
        /// instances leave it before they are touched and rejoin once healthy (repeatable).
        #[arg(long = "target-group", value_name = "NAME")]
        target_groups: Vec<String>,
        /// Deploy blue/green: install on replacement instances, move the
        /// traffic to them, then retire the originals (needs --target-group).
        #[arg(long, requires = "target_groups")]
        blue_green: bool,
        /// Blue/green: wait up to this long for `ferry continue` before moving
        /// traffic (the deployment stops if nobody continues) [default: move at once].
        #[arg(long, value_name = "DURATION", requires = "blue_green", value_parser = output::parse_duration_ms)]
        ready_wait: Option<u64>,
        /// Blue/green: terminate the original instances this long after the
        /// traffic left them [default: keep them, out of the load balancer].
        #[arg(long, value_name = "DURATION", requires = "blue_green", value_parser = output::parse_duration_ms)]
        terminate_after: Option<u64>,
        /// A webhook told of the group's events, NAME=URL (repeatable; see
        /// --trigger-events). Requests are signed with the server's webhook secret.
        #[arg(long = "trigger", value_name = "NAME=URL", value_parser = parse_trigger)]
        triggers: Vec<(String, String)>,
        /// The events the triggers are told of, comma-separated [default: all ten:
        /// DeploymentStart, DeploymentSuccess, DeploymentFailure, DeploymentStop,
        /// DeploymentRollback, DeploymentReady, InstanceStart, InstanceSuccess,
        /// InstanceFailure, InstanceReady].
        #[arg(long, value_name = "EVENTS", value_delimiter = ',', requires = "triggers")]
        trigger_events: Vec<String>,
        /// An alarm (see `ferry alarm`) that stops the group's deployments
        /// while it fires (repeatable).
        #[arg(long = "alarm", value_name = "NAME")]
        alarms: Vec<String>,
        /// Go on when an alarm cannot be evaluated (Prometheus down) instead of stopping.
        #[arg(long, requires = "alarms")]
        ignore_poll_alarm_failure: bool,
        /// Keep watching the alarms this long after the last instance
        /// succeeded; the deployment is Baking meanwhile [default: 0].
        #[arg(long, value_name = "DURATION", requires = "alarms", value_parser = output::parse_duration_ms)]
        bake_time: Option<u64>,
        /// Roll back when an alarm stops a deployment (DEPLOYMENT_STOP_ON_ALARM).
        #[arg(long, requires = "alarms")]
        rollback_on_alarm: bool,
        /// The Prometheus the group's alarms are evaluated against, unless an
        /// alarm names its own [default: the server's --prometheus-url].
        #[arg(long, value_name = "URL", requires = "alarms")]
        prometheus: Option<String>,
        /// Leave instances that join the group (enrol with its tags later)
        /// waiting for the next deployment, instead of giving them the
        /// group's last successful revision at once.
        #[arg(long)]
        no_update_new_instances: bool,
        /// Instances that join while a deployment runs get, once it ends:
        /// `update`, the group's newest good revision; `ignore`, the one it
        /// had when they joined (CodeDeploy's outdatedInstancesStrategy).
        #[arg(long, value_name = "update|ignore", default_value = "update", value_parser = ["update", "ignore"])]
        outdated_instances: String,
        /// When a scaling group terminates one of its hosts on purpose
        /// (scale in), run this group's BeforeBlockTraffic, BlockTraffic,
        /// AfterBlockTraffic and ApplicationStop there first.
        #[arg(long)]
        termination_hooks: bool,
        /// Print the API's JSON (a DeploymentGroup object).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show a deployment group: its settings and how each of its instances
    /// stands (current, joining, outdated, failed).
    Show {
        /// The application.
        app: String,
        /// The group.
        group: String,
        /// Print the API's JSON (a DeploymentGroup object).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List an application's deployment groups.
    List {
        /// The application.
        app: String,
        /// Print the API's JSON (`Vec<ferry_proto::api::DeploymentGroup>`).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(args: GroupArgs) -> ExitCode {
    output::finish(match args.command {
        GroupCommand::Create {
            app,
            group,
            tags,
            config,
            auto_rollback,
            target_groups,
            blue_green,
            ready_wait,
            terminate_after,
            triggers,
            trigger_events,
            alarms,
            ignore_poll_alarm_failure,
            bake_time,
            rollback_on_alarm,
            prometheus,
            no_update_new_instances,
            outdated_instances,
            termination_hooks,
            json,
            server,
        } => {
            let mut request = create_request(group, &tags, config, auto_rollback);
            if no_update_new_instances {
                request.update_new_instances = Some(false);
            }
            if termination_hooks {
                request.termination_hooks = Some(true);
            }
            if outdated_instances != "update" {
                request.outdated_instances_strategy = Some(outdated_instances.to_ascii_uppercase());
            }
            if rollback_on_alarm {
                let rollback = request
                    .auto_rollback
                    .get_or_insert_with(|| api::AutoRollbackConfig { enabled: true, events: Vec::new() });
                rollback.events.push("DEPLOYMENT_STOP_ON_ALARM".into());
            }
            let events = if trigger_events.is_empty() {
                ferry_core::notices::TRIGGER_EVENT_NAMES.iter().map(|e| e.to_string()).collect()
            } else {
                trigger_events
            };
            request.triggers = triggers
                .into_iter()
                .map(|(name, url)| api::TriggerConfig { name, url, events: events.clone() })
                .collect();
            request.alarms = (!alarms.is_empty()).then(|| api::AlarmSettings {
                alarms,
                ignore_poll_alarm_failure,
                bake_time_ms: bake_time.unwrap_or(0),
                prometheus_url: prometheus,
            });
            request.target_groups = target_groups;
            request.blue_green = blue_green
                .then_some(api::BlueGreenSettings { ready_wait_ms: ready_wait, terminate_after_ms: terminate_after });
            create(&app, &request, json, &server)
        }
        GroupCommand::Show { app, group, json, server } => show(&app, &group, json, &server),
        GroupCommand::List { app, json, server } => list(&app, json, &server),
    })
}

fn parse_trigger(text: &str) -> Result<(String, String), String> {
    let (name, url) = text.split_once('=').ok_or_else(|| format!("{text:?} is not NAME=URL"))?;
    if name.is_empty() || url.is_empty() {
        return Err(format!("{text:?} is not NAME=URL"));
    }
    Ok((name.to_string(), url.to_string()))
}

fn create_request(name: String, tags: &[Tag], config: Option<String>, auto_rollback: bool) -> api::CreateGroup {
    api::CreateGroup {
        name,
        tag_filters: tags.iter().map(api::TagFilter::key_and_value).collect(),
        tag_set: Vec::new(),
        deployment_config_name: config,
        auto_rollback: auto_rollback.then(|| api::AutoRollbackConfig {
            enabled: true,
            events: vec!["DEPLOYMENT_FAILURE".into(), "DEPLOYMENT_STOP_ON_REQUEST".into()],
        }),
        target_groups: Vec::new(),
        blue_green: None,
        triggers: Vec::new(),
        alarms: None,
        update_new_instances: None,
        outdated_instances_strategy: None,
        termination_hooks: None,
    }
}

fn create(app: &str, request: &api::CreateGroup, json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let group: api::DeploymentGroup = client.post(&format!("{}/groups", app_path(app)), request)?;
    if json {
        output::print_json(&group)?;
    } else {
        for line in describe(&group) {
            output::say!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(app: &str, group: &str, json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let g: api::DeploymentGroup = client.get(&format!("{}/groups/{}", app_path(app), group), "")?;
    if json {
        output::print_json(&g)?;
    } else {
        for line in details(&g) {
            output::say!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `group show` prints: the settings, then the instances by standing
/// (counts, and those that are not current by name, at most 20 of each).
fn details(g: &api::DeploymentGroup) -> Vec<String> {
    let mut lines = settings(g);
    lines[0] = format!("deployment group {} of {}", g.name, g.application_name);
    lines.push(format!(
        "  last success   {}",
        match (&g.last_successful_deployment_id, &g.last_successful_revision_id) {
            (Some(d), Some(r)) => format!("{d} (revision {r})"),
            _ => "none yet".into(),
        }
    ));
    lines.push(format!(
        "  new instances  {}",
        if g.update_new_instances {
            format!(
                "get the last successful revision before they take traffic; joining during a deployment: {}",
                g.outdated_instances_strategy.to_ascii_lowercase()
            )
        } else {
            "wait for the next deployment".into()
        }
    ));
    if g.termination_hooks {
        lines.push(
            "  leaving hosts  run BeforeBlockTraffic … ApplicationStop before a scaling group terminates them".into(),
        );
    }
    if g.instances.is_empty() {
        lines.push("  instances      none (instances enrolling later with a matching tag join it)".into());
        return lines;
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    for s in &g.instance_states {
        match counts.iter_mut().find(|(k, _)| *k == s.standing) {
            Some((_, n)) => *n += 1,
            None => counts.push((s.standing.clone(), 1)),
        }
    }
    let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    lines.push(format!("  instances      {} ({})", g.instances.len(), summary.join(", ")));
    for standing in ["failed", "joining", "outdated"] {
        let of: Vec<&api::GroupInstanceState> = g.instance_states.iter().filter(|s| s.standing == standing).collect();
        for s in of.iter().take(20) {
            let by = s.deployment_id.as_deref().map(|d| format!(", by {d}")).unwrap_or_default();
            let revision = s.revision_id.as_deref().map(|r| format!("revision {r}")).unwrap_or("no revision".into());
            lines.push(format!("    {:<9} {}  {revision}{by}", standing, s.instance));
        }
        if of.len() > 20 {
            lines.push(format!("    … and {} more {standing}", of.len() - 20));
        }
    }
    lines
}

/// What `group create` prints: the group and the instances it targets now.
fn describe(g: &api::DeploymentGroup) -> Vec<String> {
    let mut lines = settings(g);
    if g.instances.is_empty() {
        lines.push("  instances      none yet (instances enrolling later with a matching tag are targeted)".into());
    } else {
        lines.push(format!("  instances      {} now:", g.instances.len()));
        lines.extend(g.instances.iter().take(20).map(|i| format!("    {i}")));
        if g.instances.len() > 20 {
            lines.push(format!("    … and {} more (`ferry group show` has them all)", g.instances.len() - 20));
        }
    }
    lines
}

/// The group's settings, under a heading line.
fn settings(g: &api::DeploymentGroup) -> Vec<String> {
    let mut lines = vec![
        format!("created deployment group {} of {}", g.name, g.application_name),
        format!("  targets        {}", selector(g)),
        format!("  config         {}", g.deployment_config_name),
        format!("  auto-rollback  {}", rollback(&g.auto_rollback)),
    ];
    if !g.target_groups.is_empty() {
        let style = match &g.blue_green {
            Some(bg) => {
                let ready =
                    bg.ready_wait_ms.map(|ms| format!("wait up to {} for `ferry continue`", output::duration(ms)));
                let blue = bg
                    .terminate_after_ms
                    .map(|ms| format!("terminate originals after {}", output::duration(ms)))
                    .unwrap_or_else(|| "keep originals".into());
                format!("blue/green: {}{blue}", ready.map(|r| format!("{r}, ")).unwrap_or_default())
            }
            None => "in place, with traffic control".into(),
        };
        lines.push(format!("  traffic        {} ({style})", g.target_groups.join(", ")));
    }
    for t in &g.triggers {
        lines.push(format!("  trigger        {} → {} ({})", t.name, t.url, t.events.join(", ")));
    }
    if let Some(a) = &g.alarms {
        let mut text = a.alarms.join(", ");
        if a.bake_time_ms > 0 {
            text.push_str(&format!(", bake {}", output::duration(a.bake_time_ms)));
        }
        if a.ignore_poll_alarm_failure {
            text.push_str(", unreadable alarms ignored");
        }
        if let Some(url) = &a.prometheus_url {
            text.push_str(&format!(", Prometheus {url}"));
        }
        lines.push(format!("  alarms         {text}"));
    }
    lines
}

fn list(app: &str, json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let groups: Vec<api::DeploymentGroup> = client.get(&format!("{}/groups", app_path(app)), "")?;
    if json {
        output::print_json(&groups)?;
    } else if groups.is_empty() {
        eprintln!(
            "{app} has no deployment groups yet (create one with `ferry group create {app} GROUP --tag KEY=VALUE`)"
        );
    } else {
        table(&groups).print();
    }
    Ok(ExitCode::SUCCESS)
}

fn table(groups: &[api::DeploymentGroup]) -> Table {
    let mut t = Table::new(&["NAME", "TARGETS", "CONFIG", "AUTO-ROLLBACK", "INSTANCES", "LAST SUCCESS"]).right(4);
    for g in groups {
        t.row(vec![
            g.name.clone(),
            selector(g),
            g.deployment_config_name.clone(),
            rollback(&g.auto_rollback),
            g.instances.len().to_string(),
            output::or_dash(g.last_successful_deployment_id.as_deref()),
        ]);
    }
    t
}

/// The group's tag filters: `role=web | role=api`, or a tag set `(a | b) & (c)`.
fn selector(g: &api::DeploymentGroup) -> String {
    let any = |filters: &[api::TagFilter]| filters.iter().map(filter).collect::<Vec<_>>().join(" | ");
    if !g.tag_set.is_empty() {
        g.tag_set.iter().map(|set| format!("({})", any(set))).collect::<Vec<_>>().join(" & ")
    } else if g.tag_filters.is_empty() {
        "-".into()
    } else {
        any(&g.tag_filters)
    }
}

fn filter(f: &api::TagFilter) -> String {
    match f.kind.as_str() {
        "KEY_ONLY" => f.key.clone(),
        "VALUE_ONLY" => format!("*={}", f.value),
        _ => format!("{}={}", f.key, f.value),
    }
}

fn rollback(a: &api::AutoRollbackConfig) -> String {
    if !a.enabled {
        return "off".into();
    }
    let events: Vec<&str> = a
        .events
        .iter()
        .map(|e| match e.as_str() {
            "DEPLOYMENT_FAILURE" => "on failure",
            "DEPLOYMENT_STOP_ON_REQUEST" => "on stop",
            "DEPLOYMENT_STOP_ON_ALARM" => "on alarm",
            other => other,
        })
        .collect();
    if events.is_empty() { "on".into() } else { events.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, filters: &[(&str, &str, &str)], instances: &[&str]) -> api::DeploymentGroup {
        api::DeploymentGroup {
            id: "g".into(),
            application_name: "web".into(),
            name: name.into(),
            target_groups: Vec::new(),
            blue_green: None,
            triggers: Vec::new(),
            alarms: None,
            tag_filters: filters
                .iter()
                .map(|(k, v, t)| api::TagFilter { key: k.to_string(), value: v.to_string(), kind: t.to_string() })
                .collect(),
            tag_set: Vec::new(),
            deployment_config_name: "CodeDeployDefault.OneAtATime".into(),
            auto_rollback: Default::default(),
            last_successful_deployment_id: None,
            last_successful_revision_id: None,
            instances: instances.iter().map(|s| s.to_string()).collect(),
            update_new_instances: true,
            outdated_instances_strategy: "UPDATE".into(),
            termination_hooks: false,
            instance_states: Vec::new(),
        }
    }

    #[test]
    fn builds_the_create_request() {
        let tags = vec![Tag::parse("role=web").unwrap(), Tag::parse("env=prod").unwrap()];
        let r = create_request("prod".into(), &tags, Some("CodeDeployDefault.AllAtOnce".into()), true);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "name": "prod",
                "tag_filters": [
                    {"key": "role", "value": "web", "type": "KEY_AND_VALUE"},
                    {"key": "env", "value": "prod", "type": "KEY_AND_VALUE"}
                ],
                "tag_set": [],
                "deployment_config_name": "CodeDeployDefault.AllAtOnce",
                "auto_rollback": {"enabled": true, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"]},
                "target_groups": [],
                "blue_green": null,
                "triggers": [],
                "alarms": null,
                "update_new_instances": null,
                "outdated_instances_strategy": null,
                "termination_hooks": null
            })
        );
        let r = create_request("g".into(), &tags[..1], None, false);
        assert_eq!(r.auto_rollback, None);
        assert_eq!(r.deployment_config_name, None);
    }

    #[test]
    fn describes_a_new_group() {
        let mut g = group("prod", &[("role", "web", "KEY_AND_VALUE"), ("canary", "", "KEY_ONLY")], &["web-1", "web-2"]);
        g.auto_rollback = api::AutoRollbackConfig {
            enabled: true,
            events: vec!["DEPLOYMENT_FAILURE".into(), "DEPLOYMENT_STOP_ON_REQUEST".into()],
        };
        assert_eq!(
            describe(&g),
            vec![
                "created deployment group prod of web",
                "  targets        role=web | canary",
                "  config         CodeDeployDefault.OneAtATime",
                "  auto-rollback  on failure, on stop",
                "  instances      2 now:",
                "    web-1",
                "    web-2",
            ]
        );
        let g = group("empty", &[("role", "db", "KEY_AND_VALUE")], &[]);
        assert!(describe(&g).last().unwrap().contains("none yet"));
    }

    #[test]
    fn shows_how_each_instance_stands() {
        let mut g = group("prod", &[("role", "web", "KEY_AND_VALUE")], &["a", "b", "c"]);
        g.last_successful_deployment_id = Some("d-1".into());
        g.last_successful_revision_id = Some("r1".into());
        let state = |name: &str, standing: &str, revision: Option<&str>, by: Option<&str>| api::GroupInstanceState {
            instance: name.into(),
            standing: standing.into(),
            revision_id: revision.map(str::to_string),
            deployment_id: by.map(str::to_string),
            joined: 0,
        };
        g.instance_states = vec![
            state("a", "current", Some("r1"), Some("d-1")),
            state("b", "current", Some("r1"), Some("d-1")),
            state("c", "joining", None, Some("d-2")),
        ];
        assert_eq!(
            details(&g),
            vec![
                "deployment group prod of web",
                "  targets        role=web",
                "  config         CodeDeployDefault.OneAtATime",
                "  auto-rollback  off",
                "  last success   d-1 (revision r1)",
                "  new instances  get the last successful revision before they take traffic; joining during a \
                 deployment: update",
                "  instances      3 (2 current, 1 joining)",
                "    joining   c  no revision, by d-2",
            ]
        );
        g.update_new_instances = false;
        assert!(details(&g)[5].ends_with("wait for the next deployment"));
    }

    #[test]
    fn lists_groups() {
        let mut a = group("prod", &[("role", "web", "KEY_AND_VALUE")], &["a", "b", "c"]);
        a.last_successful_deployment_id = Some("d-ABC".into());
        let mut b = group("staging", &[], &[]);
        b.tag_set = vec![
            vec![api::TagFilter { key: "role".into(), value: "web".into(), kind: "KEY_AND_VALUE".into() }],
            vec![api::TagFilter { key: "".into(), value: "eu".into(), kind: "VALUE_ONLY".into() }],
        ];
        assert_eq!(
            table(&[a, b]).lines(),
            vec![
                "NAME     TARGETS              CONFIG                        AUTO-ROLLBACK  INSTANCES  LAST SUCCESS",
                "prod     role=web             CodeDeployDefault.OneAtATime  off                    3  d-ABC",
                "staging  (role=web) & (*=eu)  CodeDeployDefault.OneAtATime  off                    0  -",
            ]
        );
    }
}
