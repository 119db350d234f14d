//! `ferry fleet run`: a local fleet of isolated hosts on this machine, each
//! running a `ferry agent`, for the demo and for trying ferry out. Needs root
//! (network and mount namespaces) and iproute2; see the ferry-fleet crate.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use ferry_fleet::{Fleet, FleetConfig};

#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(subcommand)]
    command: FleetCommand,
}

#[derive(Debug, Subcommand)]
enum FleetCommand {
    /// Create the hosts, start an agent on each, and keep them until interrupted.
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// How many hosts.
    #[arg(long, default_value_t = 3)]
    hosts: usize,
    /// Where the hosts' files and logs go.
    #[arg(long, default_value = "./ferry-fleet", value_name = "DIR")]
    dir: PathBuf,
    /// Host names are PREFIX1, PREFIX2, ...
    #[arg(long, default_value = "host", value_name = "PREFIX")]
    name_prefix: String,
    /// The server's port: agents reach it on the fleet's gateway address,
    /// so the server must listen there too (the gateway is written to DIR/gateway).
    #[arg(long, default_value_t = 7800, value_name = "PORT")]
    server_port: u16,
    /// The join token agents enrol with, as the server wrote it (with its CA fingerprint).
    #[arg(
        long,
        env = "FERRY_JOIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        required_unless_present = "join_token_file"
    )]
    join_token: Option<String>,
    /// Read the join token from FILE (the server's DATA_DIR/join-token), waiting
    /// until the server has written it: the fleet's gateway (DIR/gateway) is
    /// written first, so the server can be started to listen on it.
    #[arg(long, conflicts_with = "join_token", value_name = "FILE")]
    join_token_file: Option<PathBuf>,
    /// The server serves plain HTTP (`ferry server --insecure-http`).
    #[arg(long)]
    insecure_http: bool,
    /// A tag for every host's instance; repeat for several.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<String>,
}

pub fn run(args: FleetArgs) -> ExitCode {
    match args.command {
        FleetCommand::Run(args) => match run_fleet(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("ferry fleet: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

/// The token in `file` once the server has written it (it checks every 100 ms, for up to 5 minutes).
fn wait_for_token(file: &std::path::Path) -> Result<String, String> {
    println!("waiting for the join token in {} (written by `ferry server` when it starts)", file.display());
    for _ in 0..3000 {
        if let Ok(text) = std::fs::read_to_string(file)
            && !text.trim().is_empty()
        {
            return Ok(text.trim().to_string());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("no join token in {} after 5 minutes: is `ferry server` running?", file.display()))
}

fn run_fleet(args: RunArgs) -> Result<(), String> {
    let dir = std::path::absolute(&args.dir).map_err(|e| format!("bad --dir: {e}"))?;
    let mut config = FleetConfig::new(&dir, args.hosts);
    config.name_prefix = args.name_prefix;
    let fleet = Fleet::create(config).map_err(|e| e.to_string())?;
    let gateway = fleet.gateway();
    let scheme = if args.insecure_http { "http" } else { "https" };
    let server = format!("{scheme}://{gateway}:{}", args.server_port);
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the ferry binary: {e}"))?;
    std::fs::write(dir.join("gateway"), format!("{gateway}\n")).map_err(|e| format!("cannot write gateway: {e}"))?;
    println!("gateway {gateway}: the server must listen on {gateway}:{}", args.server_port);
    let join_token = match (args.join_token, &args.join_token_file) {
        (Some(token), _) => token,
        (None, Some(file)) => wait_for_token(file)?,
        (None, None) => return Err("pass --join-token or --join-token-file".into()),
    };
    for (i, host) in fleet.hosts().iter().enumerate() {
        let mut agent_args = vec![
            "agent".to_string(),
            "--server".into(),
            server.clone(),
            "--join-token".into(),
            join_token.clone(),
            "--name".into(),
            host.name.clone(),
        ];
        for tag in &args.tags {
            agent_args.push("--tag".into());
            agent_args.push(tag.clone());
        }
        let log = dir.join(format!("{}.log", host.name));
        let env: [(&str, &str); 0] = [];
        fleet.spawn(i, &exe, &agent_args, &env, &log).map_err(|e| e.to_string())?;
        println!("{:<8} {:<15} agent log {}", host.name, host.address, log.display());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(super::shutdown_signal());
    println!("stopping the fleet");
    // Give agents a moment to finish reporting before the namespaces go.
    for i in 0..fleet.hosts().len() {
        let _ = fleet.kill(i, ferry_fleet::Signal::SIGTERM);
    }
    std::thread::sleep(Duration::from_millis(500));
    fleet.destroy().map_err(|e| e.to_string())
}
