//! `ferry lb`: load balancers' target groups (ferry's built-in proxy or an
//! HAProxy backend) that deployment groups move traffic in.
//!
//! `ferry lb list --json` prints `Vec<ferry_proto::api::TargetGroupView>`;
//! `ferry lb show NAME --json` prints one `TargetGroupView`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferry_proto::api;

use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs, encode};

#[derive(Debug, Args)]
pub struct LbArgs {
    #[command(subcommand)]
    command: LbCommand,
}

#[derive(Debug, Subcommand)]
enum LbCommand {
    /// Create a target group: ferry's proxy listening on --listen, or an
    /// HAProxy backend through --haproxy-socket and --haproxy-backend.
    Create {
        name: String,
        /// The port on each instance that takes the traffic.
        #[arg(long)]
        port: u16,
        /// The built-in proxy's address for production traffic (ip:port).
        #[arg(long, value_name = "ADDR", conflicts_with_all = ["haproxy_socket", "haproxy_backend"])]
        listen: Option<String>,
        /// The built-in proxy's address for test traffic (test members only).
        #[arg(long, value_name = "ADDR", requires = "listen")]
        test_listen: Option<String>,
        /// HAProxy's runtime API: /path, unix:/path or ip:port (level admin).
        #[arg(long, value_name = "SOCKET", requires = "haproxy_backend")]
        haproxy_socket: Option<String>,
        /// The HAProxy backend of the group (see `ferry lb haproxy-config`).
        #[arg(long, value_name = "NAME", requires = "haproxy_socket")]
        haproxy_backend: Option<String>,
        /// The health check: GET PATH must answer 200-399.
        #[arg(long, default_value = "/")]
        health_path: String,
        #[arg(long, default_value_t = 5000, value_name = "MS")]
        health_interval_ms: u64,
        #[arg(long, default_value_t = 2000, value_name = "MS")]
        health_timeout_ms: u64,
        /// Checks passed in a row to become healthy.
        #[arg(long, default_value_t = 3)]
        healthy_threshold: u32,
        /// Checks failed in a row to become unhealthy.
        #[arg(long, default_value_t = 2)]
        unhealthy_threshold: u32,
        /// BlockTraffic waits at most this long for requests in flight.
        #[arg(long, default_value_t = 30_000, value_name = "MS")]
        deregistration_delay_ms: u64,
        /// AllowTraffic fails an instance not healthy after this long.
        #[arg(long, default_value_t = 300_000, value_name = "MS")]
        healthy_timeout_ms: u64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List target groups and their members.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// One target group: members, traffic shares, health as the load balancer sees it.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Delete a target group no deployment group uses.
    Delete {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print the HAProxy backend section a target group needs (dynamic
    /// servers and its health check).
    HaproxyConfig {
        /// The backend's name.
        backend: String,
        #[arg(long, default_value = "/")]
        health_path: String,
        #[arg(long, default_value_t = 2000, value_name = "MS")]
        health_timeout_ms: u64,
    },
}

pub fn run(args: LbArgs) -> ExitCode {
    output::finish(match args.command {
        LbCommand::Create {
            name,
            port,
            listen,
            test_listen,
            haproxy_socket,
            haproxy_backend,
            health_path,
            health_interval_ms,
            health_timeout_ms,
            healthy_threshold,
            unhealthy_threshold,
            deregistration_delay_ms,
            healthy_timeout_ms,
            json,
            server,
        } => {
            let request = api::CreateTargetGroup {
                name,
                port,
                listen,
                test_listen,
                haproxy_socket,
                haproxy_backend,
                health_path,
                health_interval_ms,
                health_timeout_ms,
                healthy_threshold,
                unhealthy_threshold,
                deregistration_delay_ms,
                healthy_timeout_ms,
            };
            create(&request, json, &server)
        }
        LbCommand::List { json, server } => list(json, &server),
        LbCommand::Show { name, json, server } => show(&name, json, &server),
        LbCommand::Delete { name, server } => delete(&name, &server),
        LbCommand::HaproxyConfig { backend, health_path, health_timeout_ms } => {
            let check = ferry_lb::HealthCheck {
                path: health_path,
                timeout: std::time::Duration::from_millis(health_timeout_ms),
                ..Default::default()
            };
            print!("{}", ferry_lb::haproxy::backend_config(&backend, &check));
            Ok(ExitCode::SUCCESS)
        }
    })
}

fn create(request: &api::CreateTargetGroup, json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let tg: api::TargetGroupView = client.post("/api/v1/target-groups", request)?;
    if json {
        output::print_json(&tg)?;
    } else {
        output::say!("created target group {} ({})", tg.name, balancer(&tg));
    }
    Ok(ExitCode::SUCCESS)
}

fn balancer(tg: &api::TargetGroupView) -> String {
    match (&tg.listen, &tg.haproxy_socket) {
        (Some(listen), _) => {
            let test = tg.test_listen.as_ref().map(|t| format!(", test traffic on {t}")).unwrap_or_default();
            format!("built-in proxy on {listen}{test}, instances' port {}", tg.port)
        }
        (None, Some(socket)) => format!(
            "HAProxy backend {} via {socket}, instances' port {}",
            tg.haproxy_backend.as_deref().unwrap_or("?"),
            tg.port
        ),
        _ => tg.balancer.clone(),
    }
}

/// The member lines of a target group's table (also used by `ferry get`).
pub fn members_table(tg: &api::TargetGroupView) -> Table {
    let mut t = Table::new(&["INSTANCE", "ADDRESS", "STATE", "HEALTH", "WEIGHT", "TRAFFIC", "IN FLIGHT"])
        .right(4)
        .right(5)
        .right(6);
    for m in &tg.members {
        let state = if m.test { format!("{} (test)", m.state) } else { m.state.clone() };
        t.row(vec![
            m.instance.clone(),
            m.address.clone(),
            state,
            m.health.clone(),
            m.weight.to_string(),
            format!("{}%", m.traffic_percent),
            m.in_flight.to_string(),
        ]);
    }
    t
}

fn list(json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let groups: Vec<api::TargetGroupView> = client.get("/api/v1/target-groups", "")?;
    if json {
        output::print_json(&groups)?;
        return Ok(ExitCode::SUCCESS);
    }
    if groups.is_empty() {
        eprintln!("no target groups yet (create one with `ferry lb create NAME --port P --listen ADDR`)");
    }
    for tg in &groups {
        print_group(tg);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_group(tg: &api::TargetGroupView) {
    output::say!("{}: {}", tg.name, balancer(tg));
    output::say!(
        "  health: GET {} every {} ms, {} to pass, {} to fail; drain up to {} ms",
        tg.health_path,
        tg.health_interval_ms,
        tg.healthy_threshold,
        tg.unhealthy_threshold,
        tg.deregistration_delay_ms
    );
    if let Some(e) = &tg.balancer_error {
        output::say!("  load balancer not reachable: {e}");
    }
    if tg.members.is_empty() {
        output::say!("  no members yet (instances join on their group's first deployment)");
    } else {
        for line in members_table(tg).lines() {
            output::say!("  {line}");
        }
    }
}

fn show(name: &str, json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let tg: api::TargetGroupView = client.get(&format!("/api/v1/target-groups/{}", encode(name)), "")?;
    if json {
        output::print_json(&tg)?;
    } else {
        print_group(&tg);
    }
    Ok(ExitCode::SUCCESS)
}

fn delete(name: &str, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    client.delete::<serde_json::Value>(&format!("/api/v1/target-groups/{}", encode(name)))?;
    output::say!("deleted target group {name}");
    Ok(ExitCode::SUCCESS)
}
