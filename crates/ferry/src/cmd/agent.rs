//! `ferry agent`: enrol once, then long-poll the server and carry out
//! deployments on this host.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ferry_agent::AgentConfig;
use ferry_proto::Tag;

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The server, e.g. https://10.0.0.5:7800 (http:// only for `ferry server --insecure-http`).
    #[arg(long, env = "FERRY_SERVER", value_name = "URL")]
    server: String,
    /// The fleet's join token (only needed until this host has enrolled).
    #[arg(long, env = "FERRY_JOIN_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    join_token: Option<String>,
    /// This host's instance name [default: the host name].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// A tag for this instance, sent at enrolment; repeat for several.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = Tag::parse)]
    tags: Vec<Tag>,
    /// The agent's root: deployment-root/ and state/ (the host credential, the journal).
    #[arg(long, default_value = ferry_agent::DEFAULT_ROOT, value_name = "DIR")]
    root: PathBuf,
    /// Deployment directories kept per deployment group (at least 1).
    #[arg(long, default_value_t = 5, value_name = "N")]
    max_revisions: u32,
    /// The CA (PEM) the server's certificate must chain to [default: the one the join
    /// token's fingerprint pinned at enrolment, kept in ROOT/state/ca.pem].
    #[arg(long, env = "FERRY_CA_FILE", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Make this host a build host running up to N builds at once (0: none):
    /// in podman containers of the projects' images when podman works here,
    /// else in workspaces as --build-user.
    #[arg(long, default_value_t = 0, value_name = "N")]
    builds: u32,
    /// Who build commands run as in a workspace (an unprivileged user).
    #[arg(long, default_value = "nobody", value_name = "USER")]
    build_user: String,
    /// Run service tasks (containers) here: `auto` when podman works on this
    /// host, `off` never.
    #[arg(long, default_value = "auto", value_name = "MODE", value_parser = ["auto", "off"])]
    containers: String,
    /// Enrol (unless enrolled already) and exit instead of polling: `ferry agent install` runs this.
    #[arg(long, hide = true)]
    enrol_only: bool,
}

pub fn run(args: AgentArgs) -> ExitCode {
    super::init_logging();
    if args.max_revisions < 1 {
        eprintln!("ferry agent: --max-revisions must be at least 1");
        return ExitCode::from(2);
    }
    let name = match args.name.or_else(host_name) {
        Some(name) => name,
        None => {
            eprintln!("ferry agent: cannot read this host's name: pass --name");
            return ExitCode::from(2);
        }
    };
    let mut config = AgentConfig::new(args.server, name);
    config.join_token = args.join_token;
    config.ca_file = args.ca_file;
    config.tags = args.tags;
    config.root = args.root;
    config.max_revisions = args.max_revisions;
    config.builds = args.builds;
    config.build_user = args.build_user;
    config.containers =
        if args.containers == "off" { ferry_agent::ContainerMode::Off } else { ferry_agent::ContainerMode::Auto };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ferry agent: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.enrol_only {
        // The agent's own start-up, stopped as soon as the host key is saved.
        let credentials = config.credentials_file();
        let enrolled = {
            let credentials = credentials.clone();
            async move {
                while !credentials.exists() {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        };
        return match runtime.block_on(ferry_agent::run(config, enrolled)) {
            Ok(()) => {
                println!("enrolled; the host key is in {}", credentials.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ferry agent: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match runtime.block_on(ferry_agent::run(config, super::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry agent: {e}");
            ExitCode::FAILURE
        }
    }
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}
