//! `ferry server`: the control plane.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use ferry_server::{AdminCredentials, ServerConfig};

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Where state, revisions, `credentials` and `join-token` live.
    #[arg(long, env = "FERRY_DATA_DIR", default_value = "./ferry-data", value_name = "DIR")]
    data_dir: PathBuf,
    /// Address to listen on; repeat for several.
    #[arg(long, env = "FERRY_LISTEN", value_delimiter = ',', default_value = "127.0.0.1:7800", value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// The admin access key id (generated on first start when absent).
    #[arg(long, env = "FERRY_ADMIN_ACCESS_KEY_ID", requires = "admin_secret_access_key", value_name = "ID")]
    admin_access_key_id: Option<String>,
    /// The admin secret access key.
    #[arg(long, env = "FERRY_ADMIN_SECRET_ACCESS_KEY", hide_env_values = true, value_name = "SECRET")]
    admin_secret_access_key: Option<String>,
    /// The token agents enrol with (generated into DIR/join-token when absent).
    #[arg(long, env = "FERRY_JOIN_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    join_token: Option<String>,
    /// How long an agent's poll is held when there is no work.
    #[arg(long, default_value_t = 20, value_name = "SECONDS")]
    poll_hold_seconds: u64,
    /// A host not heard from for this long is lost: its in-flight event fails.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    agent_lost_after_seconds: u64,
}

pub fn run(args: ServerArgs) -> ExitCode {
    super::init_logging();
    let mut config = ServerConfig::new(args.data_dir);
    config.listen = args.listen;
    config.admin = match (args.admin_access_key_id, args.admin_secret_access_key) {
        (Some(access_key_id), Some(secret_access_key)) => Some(AdminCredentials { access_key_id, secret_access_key }),
        (None, Some(_)) => {
            eprintln!("ferry server: --admin-secret-access-key needs --admin-access-key-id");
            return ExitCode::from(2);
        }
        _ => None,
    };
    config.join_token = args.join_token;
    config.poll_hold = Duration::from_secs(args.poll_hold_seconds.max(1));
    config.agent_lost_after = Duration::from_secs(args.agent_lost_after_seconds.max(2));
    if config.agent_lost_after <= config.poll_hold {
        eprintln!("ferry server: --agent-lost-after-seconds must exceed --poll-hold-seconds");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ferry server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let data_dir = config.data_dir.clone();
    let listen = config.listen.clone();
    match runtime.block_on(ferry_server::run(config, super::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry server: {e}");
            tracing::error!(data_dir = %data_dir.display(), ?listen, "server failed: {e}");
            ExitCode::FAILURE
        }
    }
}
