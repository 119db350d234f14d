//! A real ferry cluster for black-box tests: `ferry server` as a process in
//! the root namespace and one `ferry agent` per host of a local fleet
//! (network + mount namespaces), driven through the `ferry` CLI.
//!
//! TLS is on as in production: the server makes its own CA in its data
//! directory, agents enrol with the join token it writes (which carries the
//! CA's fingerprint), the CLI finds the CA beside the credentials file, the
//! AWS CLI gets it as AWS_CA_BUNDLE, and raw requests to the server
//! ([`Cluster::server_request`]) go over TLS trusting it.

#![allow(dead_code)]

pub mod server;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ferry_fleet::{Fleet, FleetConfig, Signal};

pub const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

// Not every test binary that includes this module uses each of them.
#[allow(unused_imports)]
pub use ferry_testkit::{Moto, wait_for};

/// Whether this machine can run fleet tests (root, namespaces, iproute2);
/// when it cannot, the test is reported skipped (`ferry_testkit::skip`,
/// loud, and a failure of `scripts/run-tests.py`) and must return.
pub fn fleet_supported() -> bool {
    if !nix::unistd::geteuid().is_root() {
        ferry_testkit::skip("fleet tests need root (network and mount namespaces)");
        return false;
    }
    true
}

pub struct Cluster {
    pub tmp: tempfile::TempDir,
    pub fleet: Fleet,
    pub port: u16,
    server: Option<Child>,
    pub server_args: Vec<String>,
    pub server_env: Vec<(String, String)>,
    agents: Vec<Option<u32>>,
    pub tags: Vec<Vec<(String, String)>>,
    /// More `ferry agent` arguments for host `i`.
    pub agent_args: fn(usize) -> Vec<String>,
    /// The server serves plain HTTP (`--insecure-http`).
    pub insecure_http: bool,
}

pub struct ClusterOptions {
    pub hosts: usize,
    pub poll_hold_seconds: u64,
    pub lost_after_seconds: u64,
    /// Tags of host `i` (0-based).
    pub tags: fn(usize) -> Vec<(String, String)>,
    /// More `ferry server` arguments, and environment for it.
    pub server_args: Vec<String>,
    pub server_env: Vec<(String, String)>,
    /// Plain HTTP (`ferry server --insecure-http`) instead of TLS.
    pub insecure_http: bool,
    /// More `ferry agent` arguments for host `i` (e.g. `--builds 1`).
    pub agent_args: fn(usize) -> Vec<String>,
    /// How many hosts get their agent started at once (`None`: all); the
    /// others join when a test starts theirs.
    pub start_agents: Option<usize>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            hosts: 3,
            poll_hold_seconds: 5,
            lost_after_seconds: 30,
            tags: |_| vec![("app".into(), "demo".into())],
            server_args: Vec::new(),
            server_env: Vec::new(),
            insecure_http: false,
            agent_args: |_| Vec::new(),
            start_agents: None,
        }
    }
}

impl Cluster {
    pub fn start(options: ClusterOptions) -> Cluster {
        let tmp = tempfile::tempdir().unwrap();
        let fleet = Fleet::create(FleetConfig::new(tmp.path().join("fleet"), options.hosts)).expect("fleet");
        let gateway = fleet.gateway();
        let port = free_port(gateway);
        let data = tmp.path().join("data");
        let server_args = vec![
            "server".to_string(),
            "--data-dir".into(),
            data.display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port},{gateway}:{port}"),
            "--poll-hold-seconds".into(),
            options.poll_hold_seconds.to_string(),
            "--agent-lost-after-seconds".into(),
            options.lost_after_seconds.to_string(),
        ];
        let insecure = options.insecure_http.then(|| "--insecure-http".to_string());
        let server_args = server_args.into_iter().chain(insecure).chain(options.server_args).collect();
        let tags: Vec<_> = (0..options.hosts).map(options.tags).collect();
        let mut cluster = Cluster {
            tmp,
            fleet,
            port,
            server: None,
            server_args,
            server_env: options.server_env,
            agents: vec![None; options.hosts],
            tags,
            agent_args: options.agent_args,
            insecure_http: options.insecure_http,
        };
        cluster.start_server();
        let started = options.start_agents.unwrap_or(options.hosts);
        for i in 0..started {
            cluster.start_agent(i);
        }
        cluster.wait_enrolled(started);
        cluster
    }

    pub fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    /// `https` (or `http` with `insecure_http`).
    pub fn scheme(&self) -> &'static str {
        if self.insecure_http { "http" } else { "https" }
    }

    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.port)
    }

    /// The server's own CA (PEM), made at its first start.
    pub fn ca_file(&self) -> PathBuf {
        self.data_dir().join("tls/ca.pem")
    }

    /// The hex SHA-256 the join token pins the CA by.
    pub fn ca_fingerprint(&self) -> String {
        let token = self.join_token();
        token.rsplit_once(".sha256-").map(|(_, hex)| hex.to_string()).expect("a join token with a CA fingerprint")
    }

    pub fn start_server(&mut self) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.tmp.path().join("server.log")).unwrap();
        let child = Command::new(FERRY)
            .args(&self.server_args)
            .envs(self.server_env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.server = Some(child);
        // Answering (over TLS with the CA it has now) means set up, not just bound.
        wait_for("the server to answer", Duration::from_secs(20), || self.server_get("/metrics", &[]).map(|_| ()));
        wait_for("the join token", Duration::from_secs(5), || {
            self.data_dir().join("join-token").exists().then_some(())
        });
    }

    /// Process ids of the running agents (as seen from the root namespace).
    pub fn agent_pids(&self) -> Vec<u32> {
        self.agents.iter().flatten().copied().collect()
    }

    pub fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().map(|c| c.id())
    }

    /// SIGKILLs the server (a crash) and waits for it to die.
    pub fn kill_server(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERMs the server and waits for a clean exit.
    pub fn stop_server(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let _ = child.wait();
        }
    }

    pub fn join_token(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("join-token")).unwrap().trim().to_string()
    }

    pub fn start_agent(&mut self, host: usize) {
        let gateway = self.fleet.gateway();
        let name = self.fleet.hosts()[host].name.clone();
        let mut args = vec![
            "agent".to_string(),
            "--server".into(),
            format!("{}://{gateway}:{}", self.scheme(), self.port),
            "--join-token".into(),
            self.join_token(),
            "--name".into(),
            name,
            "--root".into(),
            "/opt/ferry".into(),
        ];
        for (k, v) in &self.tags[host] {
            args.push("--tag".into());
            args.push(format!("{k}={v}"));
        }
        args.extend((self.agent_args)(host));
        let log = self.tmp.path().join(format!("agent{host}.log"));
        let env: [(&str, &str); 1] = [("RUST_LOG", "info")];
        let pid = self.fleet.spawn(host, FERRY, &args, &env, &log).expect("spawn agent");
        self.agents[host] = Some(pid);
    }

    /// SIGKILLs the agent of `host` only (its hooks keep running).
    pub fn kill_agent(&mut self, host: usize) {
        if let Some(pid) = self.agents[host].take() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
            wait_for("the agent to die", Duration::from_secs(10), || {
                matches!(self.fleet.try_wait(pid), Ok(Some(_))).then_some(())
            });
        }
    }

    pub fn signal_agent(&self, host: usize, signal: Signal) {
        let pid = self.agents[host].expect("agent running");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    }

    pub fn wait_enrolled(&self, n: usize) {
        wait_for("agents to enrol", Duration::from_secs(30), || {
            let out = self.ferry(&["instances", "--json"]);
            if !out.status.success() {
                return None;
            }
            let list: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            let online = list.as_array()?.iter().filter(|i| i["online"] == true).count();
            (online >= n).then_some(())
        });
    }

    /// Runs the CLI against this cluster.
    pub fn ferry(&self, args: &[&str]) -> Output {
        Command::new(FERRY)
            .args(args)
            .env("FERRY_SERVER", self.url())
            .env("AWS_ACCESS_KEY_ID", "")
            .env("AWS_SECRET_ACCESS_KEY", "")
            .arg("--credentials")
            .arg(self.data_dir().join("credentials"))
            .output()
            .unwrap()
    }

    /// Runs the CLI and returns stdout, panicking with both streams on failure.
    pub fn ferry_ok(&self, args: &[&str]) -> String {
        let out = self.ferry(args);
        assert!(
            out.status.success(),
            "ferry {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs the real AWS CLI against this cluster's CodeDeploy API with the
    /// admin credentials: `Ok(json)` or `Err(stderr)`.
    pub fn aws(&self, args: &[&str]) -> Result<serde_json::Value, String> {
        self.aws_in("deploy", args)
    }

    /// [`Cluster::aws`] for another service (`codepipeline`, `codebuild`).
    pub fn aws_in(&self, service: &str, args: &[&str]) -> Result<serde_json::Value, String> {
        let mut command = Command::new("aws");
        self.trust_aws(&mut command);
        let out = command
            .args(["--endpoint-url", &self.url(), "--output", "json", service])
            .args(args)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_PROFILE")
            .env("AWS_SHARED_CREDENTIALS_FILE", self.data_dir().join("credentials"))
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_PAGER", "")
            .output()
            .expect("the AWS CLI (pip install awscli)");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(if text.trim().is_empty() { serde_json::Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    pub fn aws_ok(&self, args: &[&str]) -> serde_json::Value {
        self.aws(args).unwrap_or_else(|e| panic!("aws deploy {args:?} failed:\n{e}"))
    }

    pub fn get(&self, deployment: &str) -> serde_json::Value {
        serde_json::from_str(&self.ferry_ok(&["get", deployment, "--json"])).unwrap()
    }

    /// Waits until the deployment reaches a terminal status; returns its view.
    pub fn wait_done(&self, deployment: &str, timeout: Duration) -> serde_json::Value {
        wait_for(&format!("deployment {deployment} to finish"), timeout, || {
            let view = self.get(deployment);
            matches!(view["status"].as_str(), Some("Succeeded" | "Failed" | "Stopped")).then_some(view)
        })
    }

    /// A file inside host `i`'s isolated filesystem, seen from the root namespace.
    pub fn host_file(&self, host: usize, path: &str) -> PathBuf {
        self.fleet.host_path(host, path).unwrap().expect("isolated path")
    }

    pub fn logs(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(self.tmp.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "log") {
                text.push_str(&format!("==== {}\n", path.display()));
                text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
        text
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        self.kill_server();
    }
}

fn free_port(gateway: Ipv4Addr) -> u16 {
    // Bound on the gateway address too, so the port is free on both.
    let listener = TcpListener::bind((gateway, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

/// Writes an app revision directory whose every hook appends
/// `<tag> <event> <start-ms> <end-ms>` to `/srv/proof` on the host and sleeps
/// `sleep_ms` in ApplicationStart, so batches overlap observably.
pub fn revision(dir: &Path, tag: &str, sleep_ms: u64, fail_event: Option<&str>) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/index.html"), format!("revision {tag}\n")).unwrap();
    let fail = fail_event.unwrap_or("-");
    let script = format!(
        "#!/bin/sh\nstart=$(date +%s%3N)\necho \"{tag} $LIFECYCLE_EVENT\" >> /srv/begin\nif [ \"$LIFECYCLE_EVENT\" = ApplicationStart ]; then sleep {}; fi\n\
         echo \"{tag} $LIFECYCLE_EVENT $start $(date +%s%3N)\" >> /srv/proof\n\
         if [ \"$LIFECYCLE_EVENT\" = \"{fail}\" ]; then echo failing on purpose; exit 7; fi\n",
        sleep_ms as f64 / 1000.0
    );
    std::fs::write(dir.join("scripts/hook.sh"), script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("scripts/hook.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut appspec =
        "version: 0.0\nos: linux\nfiles:\n  - source: www\n    destination: /srv/app/www\nhooks:\n".to_string();
    for event in ["ApplicationStop", "BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService"] {
        appspec.push_str(&format!("  {event}:\n    - location: scripts/hook.sh\n      timeout: 60\n"));
    }
    std::fs::write(dir.join("appspec.yml"), appspec).unwrap();
    dir.to_path_buf()
}

/// How many times each (tag, event) began on host `i`.
pub fn begins(cluster: &Cluster, host: usize) -> std::collections::BTreeMap<String, usize> {
    let text = std::fs::read_to_string(cluster.host_file(host, "/srv/begin")).unwrap_or_default();
    let mut counts = std::collections::BTreeMap::new();
    for line in text.lines() {
        *counts.entry(line.to_string()).or_insert(0) += 1;
    }
    counts
}

/// Proof lines of host `i`: (tag, event, start ms, end ms).
pub fn proof(cluster: &Cluster, host: usize) -> Vec<(String, String, u64, u64)> {
    let text = std::fs::read_to_string(cluster.host_file(host, "/srv/proof")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            Some((
                parts.first()?.to_string(),
                parts.get(1)?.to_string(),
                parts.get(2)?.parse().ok()?,
                parts.get(3)?.parse().ok()?,
            ))
        })
        .collect()
}

/// How the web app's `/health` answers.
#[derive(Debug, Clone, Copy)]
pub enum Health {
    Healthy,
    /// Always 500.
    Sick,
    /// 200, then 500 from this many seconds after the app started.
    SickAfter(u32),
}

/// A revision of a small HTTP app on port 8080: `/` answers the version,
/// `/health` as `health` says, `/slow` after a second. Its hooks stop the
/// previous app (ApplicationStop), start this one (ApplicationStart) and
/// wait until it listens (ValidateService).
pub fn web_revision(dir: &Path, version: &str, health: Health) -> std::path::PathBuf {
    web_revision_with_errors(dir, version, health, 0.0)
}

/// [`web_revision`] whose `/metrics` (Prometheus text format) reports
/// `app_error_ratio{version="…"} error_ratio`.
pub fn web_revision_with_errors(dir: &Path, version: &str, health: Health, error_ratio: f64) -> std::path::PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::create_dir_all(dir.join("app")).unwrap();
    let sick_after = match health {
        Health::Healthy => "None".to_string(),
        Health::Sick => "0".to_string(),
        Health::SickAfter(s) => s.to_string(),
    };
    let app = format!(
        r#"import http.server, time
SICK_AFTER = {sick_after}
STARTED = time.time()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/health":
            healthy = SICK_AFTER is None or time.time() - STARTED < SICK_AFTER
            code, body = (200, b"ok\n") if healthy else (500, b"sick\n")
        elif self.path == "/metrics":
            code, body = 200, b'# TYPE app_error_ratio gauge\napp_error_ratio{{version="{version}"}} {error_ratio}\n'
        else:
            if self.path == "/slow":
                time.sleep(1.0)
            code, body = 200, b"{version}\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
Server(("0.0.0.0", 8080), Handler).serve_forever()
"#
    );
    std::fs::write(dir.join("app/app.py"), app).unwrap();
    let scripts = [
        (
            "stop.sh",
            "#!/bin/sh\n[ -f /srv/web/pid ] || exit 0\npid=$(cat /srv/web/pid)\nkill $pid 2>/dev/null\n\
             for i in $(seq 1 200); do kill -0 $pid 2>/dev/null || break; sleep 0.02; done\nrm -f /srv/web/pid\n",
        ),
        (
            "start.sh",
            "#!/bin/sh\ncd /srv/web\nsetsid python3 /srv/web/app.py > /srv/web/app.log 2>&1 < /dev/null &\n\
             echo $! > /srv/web/pid\n",
        ),
        (
            "validate.sh",
            "#!/bin/sh\nfor i in $(seq 1 250); do\n  python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 8080), 1)' \
             2>/dev/null && exit 0\n  sleep 0.02\ndone\necho 'the app did not listen on 8080'; exit 1\n",
        ),
    ];
    use std::os::unix::fs::PermissionsExt;
    for (name, text) in scripts {
        std::fs::write(dir.join("scripts").join(name), text).unwrap();
        std::fs::set_permissions(dir.join("scripts").join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(
        dir.join("appspec.yml"),
        "version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: /srv/web\nhooks:\n\
         \x20 ApplicationStop:\n    - location: scripts/stop.sh\n\
         \x20 ApplicationStart:\n    - location: scripts/start.sh\n\
         \x20 ValidateService:\n    - location: scripts/validate.sh\n",
    )
    .unwrap();
    dir.to_path_buf()
}

/// A plain HTTP/1.1 GET with extra headers: `(status, body)`, or `None` if
/// nothing answered.
pub fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    http_request(addr, &request).map(|(status, _, body)| (status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

impl Cluster {
    /// `/metrics` with the metrics token.
    pub fn metrics(&self) -> String {
        let token = std::fs::read_to_string(self.data_dir().join("metrics-token")).unwrap();
        let bearer = format!("Bearer {}", token.trim());
        let (status, body) = self.server_get("/metrics", &[("authorization", &bearer)]).expect("the server answers");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// A raw HTTP/1.1 request to the server on 127.0.0.1 (over TLS trusting
    /// its CA, unless `insecure_http`): `(status, head, body)`.
    pub fn server_request(&self, request: &str) -> Option<(u16, String, String)> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        if self.insecure_http { http_request(addr, request) } else { https_request(addr, &self.ca_file(), request) }
    }

    /// A GET to the server with extra headers: `(status, body)`.
    pub fn server_get(&self, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n", self.port);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        self.server_request(&request).map(|(status, _, body)| (status, body))
    }
}

/// The value of the sample `name{labels}` (exactly as rendered) in a metrics text.
pub fn metric(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(sample).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

/// A raw HTTP/1.1 request: `(status, head, body)`.
pub fn http_request(addr: SocketAddr, request: &str) -> Option<(u16, String, String)> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).ok()?;
    parse_response(&bytes)
}

/// [`http_request`] over TLS, trusting only the CA in `ca` (PEM); the
/// server's certificate must be valid for `addr`'s IP.
pub fn https_request(addr: SocketAddr, ca: &Path, request: &str) -> Option<(u16, String, String)> {
    use rustls::pki_types::pem::PemObject;
    use std::io::{Read, Write};
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).ok()? {
        roots.add(cert.ok()?).ok()?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = rustls::ClientConnection::new(Arc::new(config), addr.ip().into()).ok()?;
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut s = rustls::StreamOwned::new(tls, tcp);
    s.write_all(request.as_bytes()).ok()?;
    let mut bytes = Vec::new();
    // A peer that closes without close_notify ends the answer all the same.
    match s.read_to_end(&mut bytes) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !bytes.is_empty() => {}
        Err(_) => return None,
    }
    parse_response(&bytes)
}

fn parse_response(bytes: &[u8]) -> Option<(u16, String, String)> {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    Some((status, head.to_string(), body))
}

impl Cluster {
    /// Makes a `ferry` command trust this cluster's server (its TLS CA, when it has one).
    pub fn trust(&self, command: &mut Command) {
        if !self.insecure_http {
            command.env("FERRY_CA_FILE", self.ca_file());
        }
    }

    /// Makes an `aws` command trust this cluster's server.
    pub fn trust_aws(&self, command: &mut Command) {
        if !self.insecure_http {
            command.env("AWS_CA_BUNDLE", self.ca_file());
        }
    }

    /// A console page, signed in with the admin key.
    pub fn console_page(&self, path: &str) -> String {
        self.console_page_as(&self.data_dir().join("credentials"), path)
    }

    /// A console page, signed in with the key in `credentials`.
    pub fn console_page_as(&self, credentials: &Path, path: &str) -> String {
        let (status, body) = self.console_get_as(credentials, path);
        assert_eq!(status, 200, "{body}");
        body
    }

    /// A console GET signed in with the key in `credentials`: `(status, body)`.
    pub fn console_get_as(&self, credentials: &Path, path: &str) -> (u16, String) {
        let cookie = self.console_cookie(credentials);
        self.server_get(path, &[("cookie", &cookie)]).expect("the console answers")
    }

    /// POSTs a console form (with the session's CSRF token added) signed in
    /// with the key in `credentials`: `(status, body)`.
    pub fn console_post_as(&self, credentials: &Path, path: &str, form: &str) -> (u16, String) {
        let cookie = self.console_cookie(credentials);
        let (_, page) = self.server_get("/console", &[("cookie", &cookie)]).expect("the console answers");
        let at =
            page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + "name=\"csrf\" value=\"".len();
        let csrf = &page[at..at + page[at..].find('"').unwrap()];
        let body = format!("{form}&csrf={csrf}");
        let addr = self.loopback();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, _, body) = self.server_request(&request).expect("the console answers");
        (status, body)
    }

    fn loopback(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Signs in to the console with the key in `credentials`; returns the session cookie.
    fn console_cookie(&self, credentials: &Path) -> String {
        let text = std::fs::read_to_string(credentials).unwrap();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == name).map(|(_, v)| v.trim().to_string()))
                .unwrap()
        };
        let form = format!(
            "access_key_id={}&secret_access_key={}&next=%2Fconsole",
            field("aws_access_key_id"),
            field("aws_secret_access_key").replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
        );
        let addr = self.loopback();
        let login = format!(
            "POST /console/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
            form.len()
        );
        let (status, head, _) = self.server_request(&login).expect("the console answers");
        assert_eq!(status, 303, "{head}");
        head.lines()
            .find_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_string()
    }
}
