//! `ferry config`: deployment configs (how many hosts may be down at once).
//!
//! `ferry config list --json` prints `Vec<ferry_proto::api::DeploymentConfig>`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferry_proto::api;

use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Create a custom deployment config.
    Create {
        /// The config's name (the CodeDeployDefault. prefix is reserved).
        name: String,
        /// HOST_COUNT:N (at least N hosts stay healthy) or FLEET_PERCENT:P (P% of the fleet, 0–99);
        /// with --traffic it may be left out (HOST_COUNT:0: the replacement fleet installs at once).
        #[arg(long, value_name = "TYPE:VALUE", value_parser = parse_minimum, required_unless_present = "traffic")]
        minimum_healthy_hosts: Option<api::MinimumHealthyHosts>,
        /// How blue/green deployments move traffic: all-at-once,
        /// canary:PERCENT:INTERVAL (PERCENT first, the rest after INTERVAL) or
        /// linear:PERCENT:INTERVAL (PERCENT more every INTERVAL); INTERVAL
        /// like 30s, 5m.
        #[arg(long, value_name = "ROUTING", value_parser = parse_routing)]
        traffic: Option<api::TrafficRouting>,
        /// Server, or ECS (for ECS deployments: --traffic only).
        #[arg(long, value_name = "PLATFORM", default_value = "Server", value_parser = ["Server", "ECS"])]
        compute_platform: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List built-in and custom deployment configs.
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

fn parse_minimum(text: &str) -> Result<api::MinimumHealthyHosts, String> {
    let (kind, value) = text.split_once(':').ok_or("expected HOST_COUNT:N or FLEET_PERCENT:P")?;
    let kind = kind.to_ascii_uppercase();
    if kind != "HOST_COUNT" && kind != "FLEET_PERCENT" {
        return Err(format!("{kind} is not HOST_COUNT or FLEET_PERCENT"));
    }
    let value = parse_count(&kind, value.trim())?;
    Ok(api::MinimumHealthyHosts { kind, value })
}

/// The value of HOST_COUNT:N or FLEET_PERCENT:P, with a message that says
/// what is wrong with it (a sign, the range, or not a number at all).
fn parse_count(kind: &str, value: &str) -> Result<u32, String> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    if value.starts_with('-') && value.len() > 1 && value[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{kind}:{value}: the value must be 0 or more"));
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{kind}:{value}: {value:?} is not a whole number"));
    }
    let max = if kind == "FLEET_PERCENT" { 99 } else { u64::from(u32::MAX) };
    match digits.parse::<u64>() {
        Ok(n) if n <= max => Ok(n as u32),
        _ if kind == "FLEET_PERCENT" => Err(format!("FLEET_PERCENT:{value}: a percentage must be between 0 and 99")),
        _ => Err(format!("HOST_COUNT:{value} is out of range: at most {max} hosts")),
    }
}

fn parse_routing(text: &str) -> Result<api::TrafficRouting, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let kind = match parts[0].to_ascii_lowercase().as_str() {
        "all-at-once" | "allatonce" if parts.len() == 1 => {
            return Ok(api::TrafficRouting { kind: "AllAtOnce".into(), percentage: 100, interval_seconds: 0 });
        }
        "canary" => "TimeBasedCanary",
        "linear" => "TimeBasedLinear",
        _ => return Err("expected all-at-once, canary:PERCENT:INTERVAL or linear:PERCENT:INTERVAL".into()),
    };
    let [_, percentage, interval] = parts[..] else {
        return Err(format!("expected {}:PERCENT:INTERVAL", parts[0]));
    };
    let percentage =
        percentage.trim_end_matches('%').parse().map_err(|_| format!("{percentage:?} is not a percentage"))?;
    let ms = output::parse_duration_ms(interval)?;
    Ok(api::TrafficRouting { kind: kind.into(), percentage, interval_seconds: (ms / 1000).max(1) as u32 })
}

pub fn run(args: ConfigArgs) -> ExitCode {
    output::finish(match args.command {
        ConfigCommand::Create { name, minimum_healthy_hosts, traffic, compute_platform, server } => {
            let minimum = minimum_healthy_hosts
                .unwrap_or_else(|| api::MinimumHealthyHosts { kind: "HOST_COUNT".into(), value: 0 });
            create(name, &compute_platform, minimum, traffic, &server)
        }
        ConfigCommand::List { json, server } => list(json, &server),
    })
}

fn create(
    name: String,
    compute_platform: &str,
    minimum_healthy_hosts: api::MinimumHealthyHosts,
    traffic_routing: Option<api::TrafficRouting>,
    server: &ServerArgs,
) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let config: api::DeploymentConfig = client.post(
        "/api/v1/configs",
        &api::CreateConfig {
            name,
            compute_platform: Some(compute_platform.to_string()),
            minimum_healthy_hosts,
            traffic_routing,
        },
    )?;
    output::say!("created deployment config {}", config.name);
    Ok(ExitCode::SUCCESS)
}

fn list(json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let configs: Vec<api::DeploymentConfig> = client.get("/api/v1/configs", "")?;
    if json {
        output::print_json(&configs)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["NAME", "PLATFORM", "MINIMUM HEALTHY HOSTS", "TRAFFIC"]);
    for c in &configs {
        let min = c.minimum_healthy_hosts.as_ref().map(|m| format!("{} {}", m.kind, m.value)).unwrap_or_default();
        let traffic = c
            .traffic_routing
            .as_ref()
            .map(|r| match r.kind.as_str() {
                "TimeBasedCanary" => format!("canary {}% then all after {} s", r.percentage, r.interval_seconds),
                "TimeBasedLinear" => format!("linear {}% every {} s", r.percentage, r.interval_seconds),
                other => other.to_string(),
            })
            .unwrap_or_default();
        t.row(vec![c.name.clone(), c.compute_platform.clone(), min, traffic]);
    }
    t.print();
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn minimum_parsing() {
        let m = super::parse_minimum("host_count:2").unwrap();
        assert_eq!((m.kind.as_str(), m.value), ("HOST_COUNT", 2));
        assert!(super::parse_minimum("PERCENT:5").is_err());
        assert!(super::parse_minimum("HOST_COUNT").is_err());
        let message = |text: &str| super::parse_minimum(text).unwrap_err();
        assert_eq!(
            message("HOST_COUNT:99999999999"),
            "HOST_COUNT:99999999999 is out of range: at most 4294967295 hosts"
        );
        assert_eq!(message("HOST_COUNT:-1"), "HOST_COUNT:-1: the value must be 0 or more");
        assert_eq!(message("HOST_COUNT:two"), "HOST_COUNT:two: \"two\" is not a whole number");
        assert_eq!(message("FLEET_PERCENT:100"), "FLEET_PERCENT:100: a percentage must be between 0 and 99");
        assert_eq!(super::parse_minimum("HOST_COUNT:4294967295").unwrap().value, u32::MAX);
        assert!(super::parse_minimum("FLEET_PERCENT:x").is_err());
    }

    #[test]
    fn routing_parsing() {
        let r = super::parse_routing("canary:10:30s").unwrap();
        assert_eq!((r.kind.as_str(), r.percentage, r.interval_seconds), ("TimeBasedCanary", 10, 30));
        let r = super::parse_routing("linear:25%:2m").unwrap();
        assert_eq!((r.kind.as_str(), r.percentage, r.interval_seconds), ("TimeBasedLinear", 25, 120));
        assert_eq!(super::parse_routing("all-at-once").unwrap().kind, "AllAtOnce");
        assert!(super::parse_routing("canary:10").is_err());
        assert!(super::parse_routing("random").is_err());
    }
}
