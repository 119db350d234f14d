//! Latency of ferry's CodeDeploy API at a fixed request rate, SigV4 on.
//!
//! Starts a real `ferry server` (SQLite in a temporary directory), then for
//! each operation sends requests on a fixed schedule (open loop: a request
//! is due every 1/rate seconds whether or not earlier ones have answered, so
//! a slow server cannot hide its queueing) and reports p50, p99 and max,
//! measured from when each request was due. Each request is signed with
//! SigV4 and verified by the server. The baseline, measured in the same
//! run, is a request the server refuses before any work (no signature):
//! HTTP, routing and the client, nothing else.
//!
//! - CreateDeployment: to a group whose instances are all gone, so each
//!   deployment is created, started, fails NO_INSTANCES and is finalized
//!   (three store transactions, as for any deployment's first and last step).
//! - GetDeployment: one of those deployments.
//! - ListDeployments: the application's deployments (first page of 100).
//!
//! The server speaks HTTPS with its own CA, as by default; the client keeps
//! its connections (one TLS handshake per connection, not per request).
//! FERRY_BENCH_INSECURE=1 runs it against `--insecure-http` instead.
//!
//! Run: `cargo bench -p ferry --bench api` (FERRY_BENCH_RATE, default 100
//! requests/s; FERRY_BENCH_SECONDS per operation, default 5).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

struct Server {
    child: Child,
    url: String,
    host: String,
    credentials: ferry_sigv4::Credentials,
    /// The server's CA (`None`: plain HTTP).
    ca: Option<reqwest::Certificate>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(insecure: bool) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(FERRY)
        .args(["server", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(insecure.then_some("--insecure-http"))
        // The whole load comes from one address; at high rates it needs more
        // connections than one client normally may open.
        .args(["--max-connections-per-address", "4096"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    let credentials_file = dir.path().join("data/credentials");
    while TcpStream::connect(addr).is_err() || !credentials_file.exists() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&credentials_file).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == name).map(|(_, v)| v.trim().to_string()))
    };
    let credentials = ferry_sigv4::Credentials {
        access_key_id: field("aws_access_key_id").unwrap(),
        secret_access_key: field("aws_secret_access_key").unwrap(),
        session_token: None,
    };
    let ca = (!insecure)
        .then(|| reqwest::Certificate::from_pem(&std::fs::read(dir.path().join("data/tls/ca.pem")).unwrap()).unwrap());
    let scheme = if insecure { "http" } else { "https" };
    Server {
        child,
        ca,
        url: format!("{scheme}://127.0.0.1:{port}/"),
        host: format!("127.0.0.1:{port}"),
        credentials,
        _dir: dir,
    }
}

/// One signed CodeDeploy call; returns the HTTP status and body.
async fn call(http: &reqwest::Client, server: &Server, operation: &str, body: &str, sign: bool) -> (u16, String) {
    let target = format!("CodeDeploy_20141006.{operation}");
    let mut headers = vec![
        ("host".to_string(), server.host.clone()),
        ("content-type".to_string(), "application/x-amz-json-1.1".to_string()),
        ("x-amz-target".to_string(), target),
    ];
    if sign {
        let parts = ferry_sigv4::RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: body.as_bytes(),
        };
        let added = ferry_sigv4::sign(&parts, &server.credentials, "codedeploy", "us-east-1", SystemTime::now());
        headers.extend(added);
    }
    let mut request = http.post(&server.url).body(body.to_string());
    for (name, value) in &headers {
        if name != "host" {
            request = request.header(name.as_str(), value.as_str());
        }
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

struct Figures {
    p50: Duration,
    p99: Duration,
    max: Duration,
    achieved: f64,
    errors: usize,
}

/// One operation's load: `body` sent `rate` times a second for `seconds`.
struct Load {
    operation: &'static str,
    body: String,
    /// The status every answer should have.
    expect: u16,
    sign: bool,
    rate: u32,
    seconds: u32,
}

/// Sends the load open loop and measures it.
async fn load(http: &reqwest::Client, server: &Arc<Server>, run: Load) -> Figures {
    let Load { operation, body, expect, sign, rate, seconds } = run;
    let total = (rate * seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let due = start + interval * i as u32;
        let body = body.clone();
        let http = http.clone();
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(due).await;
            let (status, text) = call(&http, &server, operation, &body, sign).await;
            (due.elapsed(), status == expect, status, text)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        let (latency, ok, status, text) = task.await.unwrap();
        latencies.push(latency);
        if !ok {
            errors += 1;
            first_error.get_or_insert((status, text));
        }
    }
    if let Some((status, text)) = first_error {
        eprintln!("{operation}: {errors} unexpected answers, first: {status} {text}");
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Figures {
        p50: pick(0.50),
        p99: pick(0.99),
        max: *latencies.last().unwrap(),
        achieved: total as f64 / elapsed.as_secs_f64(),
        errors,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let rate: u32 = std::env::var("FERRY_BENCH_RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let seconds: u32 = std::env::var("FERRY_BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let insecure = std::env::var("FERRY_BENCH_INSECURE").is_ok_and(|v| v == "1");
    let server = Arc::new(start_server(insecure));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let mut http = reqwest::Client::builder().pool_max_idle_per_host(256);
        if let Some(ca) = &server.ca {
            http = http.tls_certs_only([ca.clone()]);
        }
        let http = http.build().unwrap();
        let setup = |op: &'static str, body: &'static str| {
            let http = http.clone();
            let server = server.clone();
            async move {
                let (status, text) = call(&http, &server, op, body, true).await;
                assert_eq!(status, 200, "{op}: {text}");
                text
            }
        };
        setup("CreateApplication", r#"{"applicationName":"bench"}"#).await;
        setup(
            "CreateDeploymentGroup",
            r#"{"applicationName":"bench","deploymentGroupName":"empty","serviceRoleArn":"arn:aws:iam::1:role/r",
                "onPremisesInstanceTagFilters":[{"Key":"nobody","Value":"here","Type":"KEY_AND_VALUE"}]}"#,
        )
        .await;
        let create = r#"{"applicationName":"bench","deploymentGroupName":"empty","revision":{"revisionType":"AppSpecContent","appSpecContent":{"content":"version: 0.0\nos: linux\n"}}}"#;
        let first = setup("CreateDeployment", create).await;
        let id: String = serde_json::from_str::<serde_json::Value>(&first).unwrap()["deploymentId"]
            .as_str()
            .unwrap()
            .to_string();

        let transport = if insecure { "plain HTTP (--insecure-http)" } else { "HTTPS" };
        println!("ferry CodeDeploy API, {rate} requests/s for {seconds} s each, open loop, SigV4 verified, {transport}");
        println!("{:<36} {:>10} {:>10} {:>10} {:>12} {:>7}", "operation", "p50", "p99", "max", "achieved/s", "errors");
        let get = format!(r#"{{"deploymentId":"{id}"}}"#);
        let runs: [(&'static str, &str, u16, bool, String); 4] = [
            ("baseline: unsigned, refused", "ListApplications", 403, false, "{}".into()),
            ("CreateDeployment", "CreateDeployment", 200, true, create.into()),
            ("GetDeployment", "GetDeployment", 200, true, get),
            ("ListDeployments", "ListDeployments", 200, true, r#"{"applicationName":"bench"}"#.into()),
        ];
        let mut baseline = None;
        for (label, op, expect, sign, body) in runs {
            let f = load(&http, &server, Load { operation: op, body, expect, sign, rate, seconds }).await;
            let ratio = match baseline {
                None => {
                    baseline = Some(f.p50);
                    String::new()
                }
                Some(b) => format!("  ({:.1}x the baseline's p50)", f.p50.as_secs_f64() / b.as_secs_f64()),
            };
            println!(
                "{label:<36} {:>10} {:>10} {:>10} {:>12.1} {:>7}{ratio}",
                ms(f.p50),
                ms(f.p99),
                ms(f.max),
                f.achieved,
                f.errors
            );
        }
    });
}
