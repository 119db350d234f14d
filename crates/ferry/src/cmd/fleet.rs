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
    /// Make every host a build host running up to N builds at once
    /// (`ferry agent --builds N`).
    #[arg(long, default_value_t = 0, value_name = "N")]
    builds: u32,
    /// How many times an agent that failed is restarted within 10 minutes
    /// before it is given up on (as systemd's StartLimitBurst). Restarts
    /// wait 1 s, doubling up to 30 s.
    #[arg(long, default_value_t = 5, value_name = "N")]
    restart_limit: usize,
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
    let agent_args = |host: &ferry_fleet::Host| {
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
        if args.builds > 0 {
            agent_args.push("--builds".into());
            agent_args.push(args.builds.to_string());
        }
        agent_args
    };
    let mut agents = Vec::new();
    for (i, host) in fleet.hosts().iter().enumerate() {
        let log = dir.join(format!("{}.log", host.name));
        let env: [(&str, &str); 0] = [];
        let pid = fleet.spawn(i, &exe, &agent_args(host), &env, &log).map_err(|e| e.to_string())?;
        println!("{:<8} {:<15} agent pid {pid}, log {}", host.name, host.address, log.display());
        agents.push(Agent { state: AgentState::Running { pid }, restarts: Vec::new(), log });
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let outcome = runtime.block_on(async {
        let shutdown = super::shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(SUPERVISE_EVERY) => {}
            }
            for (i, agent) in agents.iter_mut().enumerate() {
                let host = &fleet.hosts()[i];
                let log = agent.log.clone();
                let env: [(&str, &str); 0] = [];
                let spawn = || fleet.spawn(i, &exe, &agent_args(host), &env, &log).map_err(|e| e.to_string());
                agent.supervise(&host.name, args.restart_limit, spawn, |pid| fleet.try_wait(pid).ok().flatten());
            }
            if agents.iter().all(|a| matches!(a.state, AgentState::Gone)) {
                return Err("no agent is left running (see the messages above and the agents' logs)".to_string());
            }
        }
    });
    println!("stopping the fleet");
    // Give agents a moment to finish reporting before the namespaces go.
    for i in 0..fleet.hosts().len() {
        let _ = fleet.kill(i, ferry_fleet::Signal::SIGTERM);
    }
    std::thread::sleep(Duration::from_millis(500));
    fleet.destroy().map_err(|e| e.to_string())?;
    outcome
}

/// How often `ferry fleet run` looks at its agents.
const SUPERVISE_EVERY: Duration = Duration::from_millis(200);
/// Restarts counted against the limit: those of the last 10 minutes.
const RESTART_WINDOW: Duration = Duration::from_secs(600);
const FIRST_RESTART_DELAY: Duration = Duration::from_secs(1);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(30);

/// One host's agent, supervised as systemd's `Restart=on-failure` would:
/// a failed agent is restarted after a delay that doubles with each recent
/// restart, and given up on after `restart_limit` restarts in the window.
/// An agent that exits successfully (it was stopped on purpose) is not
/// restarted.
struct Agent {
    state: AgentState,
    /// When it was restarted, within the window.
    restarts: Vec<std::time::Instant>,
    log: PathBuf,
}

enum AgentState {
    Running { pid: u32 },
    RestartAt(std::time::Instant),
    Gone,
}

impl Agent {
    fn supervise(
        &mut self,
        host: &str,
        restart_limit: usize,
        spawn: impl FnOnce() -> Result<u32, String>,
        exited: impl Fn(u32) -> Option<std::process::ExitStatus>,
    ) {
        let now = std::time::Instant::now();
        self.restarts.retain(|t| now.duration_since(*t) < RESTART_WINDOW);
        match self.state {
            AgentState::Running { pid } => {
                let Some(status) = exited(pid) else { return };
                let reason = exit_reason(status);
                let last = last_log_line(&self.log).map(|l| format!(": {l}")).unwrap_or_default();
                if status.success() {
                    println!("{host}: agent (pid {pid}) {reason}; not restarting it");
                    self.state = AgentState::Gone;
                } else if self.restarts.len() >= restart_limit {
                    println!(
                        "{host}: agent (pid {pid}) {reason}{last}; restarted {} times in {} minutes, giving up (log {})",
                        self.restarts.len(),
                        RESTART_WINDOW.as_secs() / 60,
                        self.log.display()
                    );
                    self.state = AgentState::Gone;
                } else {
                    let delay =
                        FIRST_RESTART_DELAY.saturating_mul(1 << self.restarts.len().min(5)).min(MAX_RESTART_DELAY);
                    println!("{host}: agent (pid {pid}) {reason}{last}; restarting it in {} s", delay.as_secs());
                    self.state = AgentState::RestartAt(now + delay);
                }
            }
            AgentState::RestartAt(at) if now >= at => {
                self.restarts.push(now);
                match spawn() {
                    Ok(pid) => {
                        println!("{host}: agent restarted (pid {pid})");
                        self.state = AgentState::Running { pid };
                    }
                    Err(e) => {
                        println!("{host}: cannot restart the agent: {e}; giving up");
                        self.state = AgentState::Gone;
                    }
                }
            }
            AgentState::RestartAt(_) | AgentState::Gone => {}
        }
    }
}

/// "exited with status 1", "was killed by SIGKILL".
fn exit_reason(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => match ferry_fleet::Signal::try_from(signal) {
            Ok(signal) => format!("was killed by {signal}"),
            Err(_) => format!("was killed by signal {signal}"),
        },
        (None, None) => format!("ended ({status})"),
    }
}

/// The last line the agent wrote (its fatal error, when it failed), shortened.
fn last_log_line(log: &std::path::Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(log).ok()?;
    let size = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(size.saturating_sub(4096))).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    Some(line.chars().take(300).collect())
}
