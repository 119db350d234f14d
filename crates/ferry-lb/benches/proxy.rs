//! ferry's built-in proxy against HAProxy, on the same machine in one run:
//! the same backend (a minimal hyper app), the same load (wrk, one thread),
//! one worker each (the proxy on a single-threaded runtime, HAProxy with
//! `nbthread 1`; with FERRY_BENCH_PIN set, each pinned to CPU 1 while the
//! backend and the load generators share CPU 0). Prints requests per second under load (wrk, 64
//! connections) and the latency each adds over the backend alone at a
//! moderate fixed rate (2000 requests/s over 8 keep-alive connections,
//! each request timed from its send to the end of its answer): p50 and p99
//! minus the direct run's.
//!
//! Run: `cargo bench -p ferry-lb --bench proxy` (needs `wrk` and `haproxy`).
//! Target: at least 90 % of HAProxy's throughput, under 0.4 ms added p99.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper_util::rt::TokioIo;

use ferry_lb::proxy::Proxy;
use ferry_lb::{AdminState, HealthCheck, Member};

const BODY: &[u8] = b"hello from the backend\n";

/// A minimal HTTP app on its own thread and single-threaded runtime.
fn start_backend() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        pin_to(0);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(BODY))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}

/// The built-in proxy on its own thread and single-threaded runtime.
fn start_builtin(backend: SocketAddr) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        pin_to(1);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let proxy = Proxy::new(HealthCheck { interval: Duration::from_secs(3600), ..HealthCheck::default() });
            proxy.apply(&[Member {
                name: "app".into(),
                addr: backend,
                weight: 1,
                state: AdminState::Ready,
                test: false,
            }]);
            let addr = proxy.listen("127.0.0.1:0".parse().unwrap(), false).await.unwrap();
            tx.send(addr).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

struct HaProxyProcess(std::process::Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for HaProxyProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_haproxy(backend: SocketAddr) -> (SocketAddr, HaProxyProcess) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = format!(
        "global\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    option http-keep-alive\n\nfrontend web\n    bind 127.0.0.1:{port}\n    default_backend app\n\nbackend app\n    balance roundrobin\n    server app {backend}\n"
    );
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let child = pinned(1, "haproxy")
        .args(["-db", "-f"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy (apt-get install haproxy)");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(std::time::Instant::now() < deadline, "haproxy did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (addr, HaProxyProcess(child, dir))
}

/// `program`, under `taskset -c cpu` when pinning is on.
fn pinned(cpu: usize, program: &str) -> Command {
    if std::env::var_os("FERRY_BENCH_PIN").is_none() {
        return Command::new(program);
    }
    let mut command = Command::new("taskset");
    command.args(["-c", &cpu.to_string(), program]);
    command
}

struct Wrk {
    rps: f64,
    errors: bool,
}

fn wrk(addr: SocketAddr, connections: u32, seconds: u32) -> Wrk {
    let out = pinned(0, "wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .arg(format!("http://{addr}/"))
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |prefix: &str| text.lines().map(str::trim).find(|l| l.starts_with(prefix)).map(str::to_string);
    let rps = line("Requests/sec:").and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0.0);
    Wrk { rps, errors: text.contains("Non-2xx") || text.contains("Socket errors") }
}

/// Sends `GET /` at `rate` per second in all for `seconds`, from
/// [`CONNECTIONS`] threads with a keep-alive connection each (so one slow
/// answer delays only its own connection), timing each request from its
/// send to the end of its answer; (p50, p99, failures).
fn paced(addr: SocketAddr, rate: u32, seconds: u32) -> (Duration, Duration, usize) {
    use std::io::Write;
    const CONNECTIONS: u32 = 8;
    let start = std::time::Instant::now() + Duration::from_millis(20);
    let per_connection = Duration::from_secs_f64(f64::from(CONNECTIONS) / f64::from(rate));
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|k| {
            std::thread::spawn(move || {
                pin_to(0);
                let connect = || {
                    let stream = std::net::TcpStream::connect(addr).unwrap();
                    stream.set_nodelay(true).unwrap();
                    stream
                };
                let mut stream = connect();
                let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n");
                let mut buf = vec![0u8; 4096];
                let mut latencies = Vec::new();
                let mut failures = 0;
                let first = start + per_connection * k / CONNECTIONS;
                for i in 0..(rate * seconds / CONNECTIONS) {
                    let due = first + per_connection * i;
                    if let Some(wait) = due.checked_duration_since(std::time::Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let sent = std::time::Instant::now();
                    let ok = stream.write_all(request.as_bytes()).is_ok() && read_response(&mut stream, &mut buf);
                    latencies.push(sent.elapsed());
                    if !ok {
                        failures += 1;
                        stream = connect();
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for t in threads {
        let (l, f) = t.join().unwrap();
        latencies.extend(l);
        failures += f;
    }
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    if std::env::var_os("FERRY_BENCH_DEBUG").is_some() {
        let slow = latencies.iter().filter(|l| **l > Duration::from_millis(5)).count();
        eprintln!("{addr}: p90 {:?} p99 {:?} p99.9 {:?}, {slow} over 5 ms", pick(0.9), pick(0.99), pick(0.999));
    }
    (pick(0.5), pick(0.99), failures)
}

/// Reads one HTTP/1.1 response with a Content-Length body; whether it was a 200.
fn read_response(stream: &mut std::net::TcpStream, buf: &mut [u8]) -> bool {
    use std::io::Read;
    let mut have = 0;
    loop {
        let Ok(n) = stream.read(&mut buf[have..]) else { return false };
        if n == 0 {
            return false;
        }
        have += n;
        let text = &buf[..have];
        if let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&text[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                .unwrap_or(0);
            if have >= end + 4 + length {
                return head.starts_with("http/1.1 200");
            }
        }
        if have == buf.len() {
            return false;
        }
    }
}

/// With FERRY_BENCH_PIN set, pins the calling thread to one CPU. Off by
/// default: on virtual machines an idle vCPU's wake-up (an IPI to the host)
/// costs milliseconds, which pinning across CPUs turns into tail latency.
fn pin_to(cpu: usize) {
    if std::env::var_os("FERRY_BENCH_PIN").is_none() {
        return;
    }
    let mut set = nix::sched::CpuSet::new();
    if set.set(cpu).is_ok() {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn added(with: Duration, without: Duration) -> String {
    ms(with.saturating_sub(without))
}

fn main() {
    let backend = start_backend();
    let builtin = start_builtin(backend);
    let (haproxy, _haproxy) = start_haproxy(backend);
    // Warm up every path (connections, pools).
    for addr in [backend, builtin, haproxy] {
        wrk(addr, 4, 1);
    }
    let seconds = 5;
    let rate = 2000;
    println!(
        "built-in proxy vs HAProxy: one worker each; wrk -t1 -c64 {seconds} s x3; then {rate} req/s for {seconds} s"
    );
    let direct_load = wrk(backend, 64, seconds);
    let (d50, d99, _) = paced(backend, rate, seconds);
    println!("backend alone: {:.0} req/s (wrk); p50 {} p99 {} at {rate} req/s", direct_load.rps, ms(d50), ms(d99));
    // Throughput: three rounds, alternating, the median of each.
    let mut rps: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut errors = [false, false];
    for _ in 0..3 {
        for (i, addr) in [haproxy, builtin].into_iter().enumerate() {
            let run = wrk(addr, 64, seconds);
            rps[i].push(run.rps);
            errors[i] |= run.errors;
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let throughput = [median(&mut rps[0]), median(&mut rps[1])];
    println!("{:<16} {:>14} {:>12} {:>12} {:>8}", "", "req/s (wrk)", "added p50", "added p99", "errors");
    for (i, (name, addr)) in [("HAProxy", haproxy), ("ferry built-in", builtin)].into_iter().enumerate() {
        let (p50, p99, failures) = paced(addr, rate, seconds);
        println!(
            "{name:<16} {:>14.0} {:>12} {:>12} {:>8}",
            throughput[i],
            added(p50, d50),
            added(p99, d99),
            if errors[i] || failures > 0 { "yes" } else { "none" }
        );
    }
    println!(
        "ferry's throughput is {:.0} % of HAProxy's (median of 3; target: at least 90 %; added p99 under 0.4 ms)",
        100.0 * throughput[1] / throughput[0]
    );
}
