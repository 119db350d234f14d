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
    /// Start an agent named NAME on a spare host of the `ferry fleet run
    /// --spare N` running in DIR (what a scaling group's local provider runs).
    Launch(LaunchArgs),
    /// Stop the host running NAME in the fleet in DIR: every process of it
    /// is killed and its files wiped, and it becomes a spare host again.
    Terminate(TerminateArgs),
}

#[derive(Debug, Args)]
struct LaunchArgs {
    /// The fleet's directory (as given to `ferry fleet run --dir`).
    #[arg(long, default_value = "./ferry-fleet", value_name = "DIR")]
    dir: PathBuf,
    /// The instance name the agent enrols with.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// A tag for the instance; repeat for several.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<String>,
}

#[derive(Debug, Args)]
struct TerminateArgs {
    /// The fleet's directory (as given to `ferry fleet run --dir`).
    #[arg(long, default_value = "./ferry-fleet", value_name = "DIR")]
    dir: PathBuf,
    /// The instance name given to `ferry fleet launch`.
    #[arg(long, value_name = "NAME")]
    name: String,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// How many hosts (each running an agent from the start).
    #[arg(long, default_value_t = 3)]
    hosts: usize,
    /// How many more hosts to keep idle for `ferry fleet launch` (a
    /// scaling group's local provider) to start agents on.
    #[arg(long, default_value_t = 0, value_name = "N")]
    spare: usize,
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
    let outcome = match args.command {
        FleetCommand::Run(args) => run_fleet(args),
        FleetCommand::Launch(args) => control::launch(&args.dir, &args.name, &args.tags),
        FleetCommand::Terminate(args) => control::terminate(&args.dir, &args.name),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ferry fleet: {message}");
            ExitCode::FAILURE
        }
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
    if args.hosts + args.spare == 0 {
        return Err("a fleet needs at least one host (--hosts or --spare)".into());
    }
    let mut config = FleetConfig::new(&dir, args.hosts + args.spare);
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
    let agent_args = |name: &str, tags: &[String]| {
        let mut agent_args = vec![
            "agent".to_string(),
            "--server".into(),
            server.clone(),
            "--join-token".into(),
            join_token.clone(),
            "--name".into(),
            name.to_string(),
        ];
        for tag in tags {
            agent_args.push("--tag".into());
            agent_args.push(tag.clone());
        }
        if args.builds > 0 {
            agent_args.push("--builds".into());
            agent_args.push(args.builds.to_string());
        }
        agent_args
    };
    // Each host: who runs on it (the fleet's own name, or what `ferry
    // fleet launch` asked for) and its supervised agent.
    let mut slots: Vec<Slot> = Vec::new();
    for (i, host) in fleet.hosts().iter().enumerate() {
        if i >= args.hosts {
            println!("{:<8} {:<15} spare (for `ferry fleet launch`)", host.name, host.address);
            slots.push(Slot { name: None, tags: Vec::new(), agent: None });
            continue;
        }
        let log = dir.join(format!("{}.log", host.name));
        let env: [(&str, &str); 0] = [];
        let pid = fleet.spawn(i, &exe, &agent_args(&host.name, &args.tags), &env, &log).map_err(|e| e.to_string())?;
        println!("{:<8} {:<15} agent pid {pid}, log {}", host.name, host.address, log.display());
        let agent = Agent { state: AgentState::Running { pid }, restarts: Vec::new(), log };
        slots.push(Slot { name: Some(host.name.clone()), tags: args.tags.clone(), agent: Some(agent) });
    }
    let control = control::Dir::open(&dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let outcome = runtime.block_on(async {
        let shutdown = super::shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(SUPERVISE_EVERY) => {}
            }
            control.serve(&fleet, &mut slots, |i, name, tags| {
                let log = dir.join(format!("{name}.log"));
                let env: [(&str, &str); 0] = [];
                let pid = fleet.spawn(i, &exe, &agent_args(name, tags), &env, &log).map_err(|e| e.to_string())?;
                Ok(Agent { state: AgentState::Running { pid }, restarts: Vec::new(), log })
            });
            for (i, slot) in slots.iter_mut().enumerate() {
                let (Some(name), Some(agent)) = (&slot.name, &mut slot.agent) else { continue };
                let log = agent.log.clone();
                let env: [(&str, &str); 0] = [];
                let spawn =
                    || fleet.spawn(i, &exe, &agent_args(name, &slot.tags), &env, &log).map_err(|e| e.to_string());
                agent.supervise(name, args.restart_limit, spawn, |pid| fleet.try_wait(pid).ok().flatten());
            }
            let agents: Vec<&Agent> = slots.iter().filter_map(|s| s.agent.as_ref()).collect();
            if args.spare == 0 && agents.iter().all(|a| matches!(a.state, AgentState::Gone)) {
                return Err("no agent is left running (see the messages above and the agents' logs)".to_string());
            }
        }
    });
    println!("stopping the fleet");
    control.close();
    // Give agents a moment to finish reporting before the namespaces go.
    for i in 0..fleet.hosts().len() {
        let _ = fleet.kill(i, ferry_fleet::Signal::SIGTERM);
    }
    std::thread::sleep(Duration::from_millis(500));
    fleet.destroy().map_err(|e| e.to_string())?;
    outcome
}

/// A host of the fleet: the instance name its agent runs as (`None`: a
/// spare host), its tags and the agent.
struct Slot {
    name: Option<String>,
    tags: Vec<String>,
    agent: Option<Agent>,
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

/// `ferry fleet launch|terminate` talk to `ferry fleet run` through files in
/// `DIR/control`: a request (`NAME.launch` holding the tags, one per line,
/// or `NAME.terminate`) is written whole and renamed into place; the fleet
/// answers with `NAME.slot` (the host it runs on), `NAME.terminated` or
/// `NAME.error`. `DIR/control/pid` names the running fleet.
mod control {
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use ferry_fleet::Fleet;

    use super::{Agent, Slot};

    /// How long `launch` and `terminate` wait for the fleet's answer.
    const WAIT: Duration = Duration::from_secs(60);

    pub struct Dir {
        path: PathBuf,
    }

    impl Dir {
        /// Takes `FLEET_DIR/control` for this run (requests left by an
        /// earlier run are void).
        pub fn open(fleet_dir: &Path) -> Result<Dir, String> {
            let path = fleet_dir.join("control");
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            std::fs::write(path.join("pid"), format!("{}\n", std::process::id()))
                .map_err(|e| format!("cannot write {}: {e}", path.join("pid").display()))?;
            Ok(Dir { path })
        }

        pub fn close(&self) {
            let _ = std::fs::remove_file(self.path.join("pid"));
        }

        /// Answers the requests waiting; `start` starts an agent on host
        /// `i` as instance `name` with `tags`.
        pub fn serve(
            &self,
            fleet: &Fleet,
            slots: &mut [Slot],
            mut start: impl FnMut(usize, &str, &[String]) -> Result<Agent, String>,
        ) {
            let Ok(entries) = std::fs::read_dir(&self.path) else { return };
            let mut files: Vec<String> = entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
            files.sort();
            for file in files {
                let request = self.path.join(&file);
                if let Some(name) = file.strip_suffix(".launch") {
                    let tags: Vec<String> = std::fs::read_to_string(&request)
                        .unwrap_or_default()
                        .lines()
                        .filter(|l| !l.is_empty())
                        .map(str::to_string)
                        .collect();
                    match launch_on(fleet, slots, name, &tags, &mut start) {
                        Ok(host) => {
                            println!("{name}: launched on {host}");
                            answer(&self.path, name, "slot", &host);
                        }
                        Err(e) => {
                            println!("{name}: cannot launch: {e}");
                            answer(&self.path, name, "error", &e);
                        }
                    }
                } else if let Some(name) = file.strip_suffix(".terminate") {
                    match terminate_on(fleet, slots, name) {
                        Ok(()) => {
                            println!("{name}: terminated");
                            let _ = std::fs::remove_file(self.path.join(format!("{name}.slot")));
                            answer(&self.path, name, "terminated", "");
                        }
                        Err(e) => answer(&self.path, name, "error", &e),
                    }
                } else {
                    continue;
                }
                let _ = std::fs::remove_file(&request);
            }
        }
    }

    fn answer(dir: &Path, name: &str, kind: &str, text: &str) {
        let _ = write_whole(&dir.join(format!("{name}.{kind}")), text);
    }

    /// Writes `path` so that a reader sees all of it or nothing.
    fn write_whole(path: &Path, text: &str) -> Result<(), String> {
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("answer");
        let tmp = path.with_file_name(format!(".{file}.tmp"));
        std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    fn launch_on(
        fleet: &Fleet,
        slots: &mut [Slot],
        name: &str,
        tags: &[String],
        start: &mut impl FnMut(usize, &str, &[String]) -> Result<Agent, String>,
    ) -> Result<String, String> {
        let describe = |i: usize| format!("{} {}", fleet.hosts()[i].name, fleet.hosts()[i].address);
        if let Some(i) = slots.iter().position(|s| s.name.as_deref() == Some(name)) {
            return Ok(describe(i));
        }
        let spare = slots.iter().filter(|s| s.agent.is_none() || s.name.is_none()).count();
        let Some(i) = slots.iter().position(|s| s.name.is_none() && s.agent.is_none()) else {
            return Err(format!(
                "no spare host left: every host of the fleet runs an instance ({spare} spare; start the fleet with a \
                 larger --spare)"
            ));
        };
        wipe(fleet, i);
        let agent = start(i, name, tags)?;
        slots[i] = Slot { name: Some(name.to_string()), tags: tags.to_vec(), agent: Some(agent) };
        Ok(describe(i))
    }

    fn terminate_on(fleet: &Fleet, slots: &mut [Slot], name: &str) -> Result<(), String> {
        let Some(i) = slots.iter().position(|s| s.name.as_deref() == Some(name)) else { return Ok(()) };
        let _ = fleet.kill(i, ferry_fleet::Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(10);
        while fleet.pids(i).is_ok_and(|p| !p.is_empty()) {
            if Instant::now() >= deadline {
                return Err(format!("the processes of {} did not end", fleet.hosts()[i].name));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(super::AgentState::Running { pid }) = slots[i].agent.as_ref().map(|a| &a.state) {
            let _ = fleet.try_wait(*pid);
        }
        wipe(fleet, i);
        slots[i] = Slot { name: None, tags: Vec::new(), agent: None };
        Ok(())
    }

    /// A host's isolated paths emptied: the next instance on it starts as
    /// on a fresh machine (no agent state, no installed revisions).
    fn wipe(fleet: &Fleet, i: usize) {
        let host = &fleet.hosts()[i];
        for path in ferry_fleet::DEFAULT_ISOLATED_PATHS {
            let dir = host.dir.join(path.trim_start_matches('/'));
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::create_dir_all(&dir);
        }
    }

    /// The control directory of the fleet running in `dir`.
    fn running(dir: &Path) -> Result<PathBuf, String> {
        let dir = std::path::absolute(dir).map_err(|e| format!("bad --dir: {e}"))?;
        let control = dir.join("control");
        let pid = std::fs::read_to_string(control.join("pid")).ok().and_then(|p| p.trim().parse::<u32>().ok());
        match pid {
            Some(pid) if Path::new(&format!("/proc/{pid}")).exists() => Ok(control),
            _ => Err(format!("no `ferry fleet run` is running in {} (start one there with --spare N)", dir.display())),
        }
    }

    fn check_name(name: &str) -> Result<(), String> {
        let ok = !name.is_empty()
            && name.len() <= 100
            && !name.starts_with('.')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if ok { Ok(()) } else { Err(format!("{name:?} is not a host name (letters, digits, - _ .)")) }
    }

    /// Waits for `NAME.<one of kinds>`; returns which and its text.
    fn wait_answer(control: &Path, name: &str, kinds: &[&str]) -> Result<(String, String), String> {
        let deadline = Instant::now() + WAIT;
        loop {
            for kind in kinds {
                if let Ok(text) = std::fs::read_to_string(control.join(format!("{name}.{kind}"))) {
                    return Ok((kind.to_string(), text));
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("the fleet did not answer within {} s", WAIT.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn launch(dir: &Path, name: &str, tags: &[String]) -> Result<(), String> {
        check_name(name)?;
        if let Some(bad) = tags.iter().find(|t| !t.contains('=') || t.contains('\n')) {
            return Err(format!("{bad:?} is not KEY=VALUE"));
        }
        let control = running(dir)?;
        let _ = std::fs::remove_file(control.join(format!("{name}.error")));
        if let Ok(host) = std::fs::read_to_string(control.join(format!("{name}.slot"))) {
            println!("{name} runs on {host}");
            return Ok(());
        }
        write_whole(&control.join(format!("{name}.launch")), &tags.join("\n"))?;
        match wait_answer(&control, name, &["slot", "error"])? {
            (kind, host) if kind == "slot" => {
                println!("{name} runs on {host}");
                Ok(())
            }
            (_, error) => {
                let _ = std::fs::remove_file(control.join(format!("{name}.error")));
                Err(error)
            }
        }
    }

    pub fn terminate(dir: &Path, name: &str) -> Result<(), String> {
        check_name(name)?;
        let control = running(dir)?;
        let _ = std::fs::remove_file(control.join(format!("{name}.terminated")));
        let _ = std::fs::remove_file(control.join(format!("{name}.error")));
        write_whole(&control.join(format!("{name}.terminate")), "")?;
        let (kind, text) = wait_answer(&control, name, &["terminated", "error"])?;
        let _ = std::fs::remove_file(control.join(format!("{name}.{kind}")));
        if kind == "terminated" {
            println!("{name} terminated");
            Ok(())
        } else {
            Err(text)
        }
    }
}
