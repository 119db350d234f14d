//! `ferry server`: the control plane.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use ferry_server::{AdminCredentials, ServerConfig, TlsMode};

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
    /// The S3-compatible endpoint S3 revisions are fetched from (default:
    /// AWS itself); credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
    #[arg(long, env = "FERRY_S3_ENDPOINT", value_name = "URL")]
    s3_endpoint: Option<String>,
    /// A bucket (at --s3-endpoint) pipelines' artifacts are copied to, so
    /// job workers can fetch and upload them (default: the blob store only).
    #[arg(long, env = "FERRY_ARTIFACT_BUCKET", value_name = "BUCKET")]
    artifact_bucket: Option<String>,
    /// Where `owner/repo` git revisions point: a URL template with {repository}.
    #[arg(long, env = "FERRY_GIT_BASE_URL", default_value = "https://github.com/{repository}.git", value_name = "URL")]
    git_base_url: String,
    /// The region in the ARNs the AWS API returns.
    #[arg(long, env = "FERRY_AWS_REGION", default_value = "us-east-1", value_name = "REGION")]
    aws_region: String,
    /// The account id in the ARNs the AWS API returns.
    #[arg(long, env = "FERRY_AWS_ACCOUNT_ID", default_value = "000000000000", value_name = "ID")]
    aws_account_id: String,
    /// A shell command run for each original instance a blue/green deployment
    /// terminates (FERRY_INSTANCE, FERRY_INSTANCE_ADDRESS, FERRY_DEPLOYMENT_ID
    /// are set); then the instance is deregistered.
    #[arg(long, env = "FERRY_TERMINATE_COMMAND", value_name = "COMMAND")]
    terminate_command: Option<String>,
    /// The Prometheus alarms are evaluated against (alarms may name their own).
    #[arg(long, env = "FERRY_PROMETHEUS_URL", value_name = "URL")]
    prometheus_url: Option<String>,
    /// How often running deployments' alarms are evaluated.
    #[arg(long, env = "FERRY_ALARM_INTERVAL", value_name = "DURATION", default_value = "5s", value_parser = super::output::parse_duration_ms)]
    alarm_interval: u64,
    /// The key trigger webhooks are signed with (HMAC-SHA256) [default: DATA_DIR/webhook-secret, created on first start].
    #[arg(long, env = "FERRY_WEBHOOK_SECRET", value_name = "SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// Finished deployments older than this many days are deleted with their
    /// events (never a group's last successful or last attempted one); 0 keeps all.
    #[arg(long, env = "FERRY_RETENTION_DAYS", value_name = "DAYS", default_value_t = 90)]
    retention_days: u64,
    /// Audit entries older than this many days are deleted; 0 keeps all.
    #[arg(long, env = "FERRY_AUDIT_RETENTION_DAYS", value_name = "DAYS", default_value_t = 365)]
    audit_retention_days: u64,
    /// The control socket of the `ferry proxy` that serves the built-in load
    /// balancer's target groups, so that their traffic survives restarts and
    /// crashes of the server [default: none: the server serves them itself,
    /// and their traffic stops whenever it does].
    // Not checked for existence: the proxy may start after the server.
    #[arg(long, env = "FERRY_PROXY_SOCKET", value_name = "PATH", value_hint = clap::ValueHint::Other)]
    proxy_socket: Option<PathBuf>,
    /// The TLS certificate chain (PEM), leaf first; agents pin its last certificate
    /// [default: DATA_DIR/tls/server.pem, issued by the server's own CA DATA_DIR/tls/ca.pem].
    #[arg(long, env = "FERRY_TLS_CERT", requires = "tls_key", conflicts_with = "insecure_http", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The TLS certificate's private key (PEM).
    #[arg(long, env = "FERRY_TLS_KEY", requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Another name (DNS name or IP address) for the server's own certificate,
    /// besides the listen addresses, localhost and the host name; repeat for several.
    #[arg(long = "tls-san", env = "FERRY_TLS_SAN", value_delimiter = ',', conflicts_with_all = ["tls_cert", "insecure_http"], value_name = "NAME")]
    tls_sans: Vec<String>,
    /// Serve plain HTTP instead of HTTPS: for local development only.
    #[arg(long, env = "FERRY_INSECURE_HTTP")]
    insecure_http: bool,
    /// Open connections in all; beyond it new connections are closed at once
    /// (each agent keeps one open).
    #[arg(long, default_value_t = 4096, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Open connections from one IP address (raise it for many agents behind one NAT address).
    #[arg(long, default_value_t = 128, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections_per_address: u64,
    /// Time a client has to complete its TLS handshake.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = super::output::parse_duration_ms)]
    tls_handshake_timeout: u64,
    /// Time from the first byte of a request to the end of its headers.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = super::output::parse_duration_ms)]
    header_read_timeout: u64,
    /// Time to receive a request body (for a bundle upload: the longest pause in it).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = super::output::parse_duration_ms)]
    body_read_timeout: u64,
    /// A connection with no request in flight is closed after this long.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = super::output::parse_duration_ms)]
    idle_timeout: u64,
    /// On SIGTERM, requests in flight get this long to finish before their
    /// connections are closed (keep it below systemd's TimeoutStopSec).
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = super::output::parse_duration_ms)]
    shutdown_timeout: u64,
    /// Memory all request bodies being read may take together (beyond 16 KiB
    /// each); a request that finds it taken is answered 503 with Retry-After.
    #[arg(long, value_name = "BYTES", default_value = "64MiB", value_parser = parse_bytes)]
    max_body_memory: u64,
    /// The key access keys' secrets are sealed with in the database (64 hex
    /// digits, mode 0600); back it up apart from the database
    /// [default: DATA_DIR/secret.key, created on first start].
    #[arg(long, env = "FERRY_SECRETS_KEY_FILE", value_name = "FILE")]
    secrets_key_file: Option<PathBuf>,
    /// Start even if the data directory (or a file in it, or the secrets key)
    /// is open to other users, which is refused by default.
    #[arg(long, env = "FERRY_ALLOW_OPEN_DATA_DIR")]
    allow_open_data_dir: bool,
}

/// `65536`, `64KiB`, `64MiB` or `1GiB`.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || format!("{text:?} is not a size like 65536, 64KiB, 64MiB or 1GiB");
    let value: u64 = number.parse().map_err(|_| bad())?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(bad()),
    };
    value.checked_mul(factor).ok_or_else(bad)
}

pub fn run(args: ServerArgs) -> ExitCode {
    // Everything the server creates (database, WAL, blobs, keys, the git
    // cache) is its own alone, whatever umask it was started with (the
    // systemd unit sets the same).
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
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
    config.tls = match (args.tls_cert, args.tls_key) {
        _ if args.insecure_http => {
            eprintln!(
                "ferry server: WARNING: --insecure-http: serving PLAIN HTTP. The join token, request \
                 signatures, console sessions and bundles cross the network unencrypted, and agents \
                 cannot tell this server from an impostor. Use it for local development only."
            );
            TlsMode::Off
        }
        (Some(cert), Some(key)) => TlsMode::Files { cert, key },
        _ => TlsMode::Auto { extra_names: args.tls_sans },
    };
    config.s3_endpoint = args.s3_endpoint.filter(|e| !e.is_empty());
    config.artifact_bucket = args.artifact_bucket.filter(|b| !b.is_empty());
    config.git_base_url = args.git_base_url;
    config.aws_region = args.aws_region;
    config.aws_account_id = args.aws_account_id;
    config.terminate_command = args.terminate_command.filter(|c| !c.trim().is_empty());
    config.prometheus_url = args.prometheus_url.filter(|u| !u.trim().is_empty());
    config.alarm_interval = Duration::from_millis(args.alarm_interval.max(100));
    let days = |d: u64| (d > 0).then(|| Duration::from_secs(d * 24 * 3600));
    config.retention = days(args.retention_days);
    config.audit_retention = days(args.audit_retention_days);
    config.webhook_secret = args.webhook_secret;
    config.limits = ferry_server::Limits {
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        max_connections_per_address: usize::try_from(args.max_connections_per_address).unwrap_or(usize::MAX),
        handshake_timeout: Duration::from_millis(args.tls_handshake_timeout.max(100)),
        header_read_timeout: Duration::from_millis(args.header_read_timeout.max(100)),
        body_read_timeout: Duration::from_millis(args.body_read_timeout.max(100)),
        idle_timeout: Duration::from_millis(args.idle_timeout.max(100)),
        shutdown_timeout: Duration::from_millis(args.shutdown_timeout),
        body_memory: usize::try_from(args.max_body_memory).unwrap_or(usize::MAX),
        ..ferry_server::Limits::default()
    };
    config.secrets_key_file = args.secrets_key_file;
    config.allow_open_data_dir = args.allow_open_data_dir;
    config.proxy_socket = args.proxy_socket.filter(|p| !p.as_os_str().is_empty());
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

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes_in_bytes_or_binary_units() {
        assert_eq!(parse_bytes("65536"), Ok(65536));
        assert_eq!(parse_bytes("16KiB"), Ok(16 << 10));
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert!(parse_bytes("64MB").is_err());
        assert!(parse_bytes("MiB").is_err());
        assert!(parse_bytes("99999999999999999999GiB").is_err());
    }
}
