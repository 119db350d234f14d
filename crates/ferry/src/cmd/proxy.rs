//! `ferry proxy`: the built-in load balancer as a process of its own.
//!
//! The server (`ferry server --proxy-socket PATH`) gives it each target
//! group's listeners, health check and members over the control socket; it
//! keeps the last of them in its state file, so it serves them through
//! restarts and crashes of the server and through its own restarts.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// The control socket the server drives this proxy through: created mode
    /// 0600, and only this user and root are answered on it.
    #[arg(long, env = "FERRY_PROXY_SOCKET", default_value = "/run/ferry-proxy/control.sock", value_name = "PATH")]
    socket: PathBuf,
    /// Where the last routing table the server gave is kept, to serve it again after a restart.
    #[arg(
        long,
        env = "FERRY_PROXY_STATE_FILE",
        default_value = "/var/lib/ferry-proxy/state.json",
        value_name = "FILE"
    )]
    state_file: PathBuf,
}

pub fn run(args: ProxyArgs) -> ExitCode {
    super::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ferry proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ProxyArgs) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(dir) = args.state_file.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    // The saved groups are served before the control socket exists, so a
    // server never sees a proxy without its routing table.
    let daemon = ferry_lb::daemon::ProxyDaemon::open(args.state_file.clone()).await.map_err(|e| e.to_string())?;
    let listener = ferry_lb::daemon::bind_control_socket(&args.socket).map_err(|e| e.to_string())?;
    tracing::info!(socket = %args.socket.display(), state_file = %args.state_file.display(), "ferry proxy ready");
    daemon.serve(listener, super::shutdown_signal()).await;
    tracing::info!("ferry proxy stopping");
    let _ = std::fs::remove_file(&args.socket);
    Ok(())
}
