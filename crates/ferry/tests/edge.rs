//! The server's network edge, black-box (issue 21, items 2, 4 and 7's 413):
//! a flood of slow, large unauthenticated uploads keeps the server's memory
//! bounded while signed calls go on; partial headers, idle connections and
//! stalled handshakes are closed; SIGTERM with such connections open exits
//! within the shutdown timeout; connections per address are limited; an
//! oversized body is 413 (in AWS's shape on the AWS API) before it is read,
//! while signed large bodies and bundle uploads still work.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use support::{FERRY, https_request, wait_for};

/// A `ferry server` on a free loopback port, with its own data directory.
struct Server {
    tmp: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::fs::File::create(tmp.path().join("server.log")).unwrap();
        let child = Command::new(FERRY)
            .args(["server", "--data-dir"])
            .arg(tmp.path().join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let server = Server { tmp, child: Some(child), port };
        wait_for("the server to answer", Duration::from_secs(20), || {
            server.request("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        });
        server
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// A raw request over TLS: `(status, head, body)`.
    fn request(&self, request: &str) -> Option<(u16, String, String)> {
        https_request(self.addr(), &self.data().join("tls/ca.pem"), request)
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("server.log")).unwrap_or_default()
    }

    /// The server's resident memory (`VmRSS`) or its peak (`VmHWM`), in MiB.
    fn memory_mib(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
            .unwrap();
        kib / 1024.0
    }

    fn ferry(&self, args: &[&str]) -> Output {
        Command::new(FERRY)
            .args(args)
            .env("FERRY_SERVER", format!("https://127.0.0.1:{}", self.port))
            .env("FERRY_CA_FILE", self.data().join("tls/ca.pem"))
            .env("AWS_ACCESS_KEY_ID", "")
            .env("AWS_SECRET_ACCESS_KEY", "")
            .arg("--credentials")
            .arg(self.data().join("credentials"))
            .output()
            .unwrap()
    }

    fn ferry_ok(&self, args: &[&str]) -> String {
        let out = self.ferry(args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "ferry {args:?}: {text}\n{}", String::from_utf8_lossy(&out.stderr));
        text
    }

    /// The admin key: (id, secret).
    fn admin(&self) -> (String, String) {
        let text = std::fs::read_to_string(self.data().join("credentials")).unwrap();
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == name).map(|(_, v)| v.trim().to_string()))
        };
        (value("aws_access_key_id").unwrap(), value("aws_secret_access_key").unwrap())
    }

    /// A TLS client that trusts this server's CA.
    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(self.data().join("tls/ca.pem")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        Arc::new(config)
    }

    /// A connection whose TLS handshake is complete.
    fn connect(&self, config: &Arc<rustls::ClientConfig>) -> std::io::Result<Tls> {
        let tcp = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(2))?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        let tls =
            rustls::ClientConnection::new(config.clone(), self.addr().ip().into()).map_err(std::io::Error::other)?;
        let mut stream = rustls::StreamOwned::new(tls, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(stream)
    }

    /// SIGTERM, then how long the server took to exit (`None`: not within `limit`; it is killed).
    fn terminate(&mut self, limit: Duration) -> Option<Duration> {
        let mut child = self.child.take().unwrap();
        let asked = Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
            .unwrap();
        while asked.elapsed() < limit {
            if child.try_wait().unwrap().is_some() {
                return Some(asked.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// How long until the server closes `stream` (reading nothing meanwhile), up to `limit`.
fn closed_after(stream: &mut impl Read, started: Instant, limit: Duration) -> Option<Duration> {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if started.elapsed() >= limit {
                    return None;
                }
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
}

/// A request signed with `(id, secret)` for the AWS API: the raw HTTP text.
fn signed_aws_request(server: &Server, (id, secret): &(String, String), target: &str, body: &[u8]) -> Vec<u8> {
    let host = format!("127.0.0.1:{}", server.port);
    let headers = vec![
        ("host".to_string(), host.clone()),
        ("content-type".to_string(), "application/x-amz-json-1.1".to_string()),
        ("x-amz-target".to_string(), format!("CodeDeploy_20141006.{target}")),
    ];
    let parts = ferry_sigv4::RequestParts { method: "POST", path: "/", query: "", headers: &headers, body };
    let creds = ferry_sigv4::Credentials::new(id.clone(), secret.clone());
    let signed = ferry_sigv4::sign(&parts, &creds, "codedeploy", "us-east-1", SystemTime::now());
    let mut text = "POST / HTTP/1.1\r\n".to_string();
    for (name, value) in headers.iter().chain(&signed) {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Sends raw bytes over TLS and reads the answer: `(status, head, body)`.
/// The server may answer (and close) before the whole body is sent, so the
/// answer is looked for between pieces.
fn exchange(server: &Server, config: &Arc<rustls::ClientConfig>, bytes: &[u8]) -> (u16, String, String) {
    let mut stream = server.connect(config).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 << 10];
    stream.sock.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    for piece in bytes.chunks(64 << 10) {
        if let Ok(n) = stream.read(&mut buf) {
            answer.extend_from_slice(&buf[..n]);
            break;
        }
        if stream.write_all(piece).and_then(|_| stream.flush()).is_err() {
            break;
        }
    }
    stream.sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    loop {
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => answer.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_string(), body.to_string())
}

/// A forged SigV4 `authorization` value naming a real key id (well formed,
/// wrong signature), followed by the `x-amz-date` header line it needs.
fn forged_authorization(key_id: &str) -> String {
    let date = ferry_sigv4::format_amz_date(SystemTime::now());
    format!(
        "AWS4-HMAC-SHA256 Credential={key_id}/{}/us-east-1/codedeploy/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature={}\r\nx-amz-date: {date}",
        &date[..8],
        "0".repeat(64)
    )
}

#[test]
fn a_flood_of_large_slow_unauthenticated_uploads_keeps_memory_bounded() {
    // Many addresses are modelled by one with a high per-address limit, so
    // that what holds memory down here is the body budget, not the connection limit.
    let server = Server::start(&["--max-connections-per-address", "2000"]);
    let config = server.client_config();
    let (key_id, _) = server.admin();
    server.ferry_ok(&["app", "create", "shop"]);
    // Settle, then the baseline.
    for _ in 0..3 {
        server.ferry_ok(&["app", "list"]);
    }
    let baseline = server.memory_mib("VmRSS");

    const CONNECTIONS: usize = 300;
    const BODY: usize = 2_000_000;
    let flood_ends = Instant::now() + Duration::from_secs(4);
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|i| {
            let config = config.clone();
            let addr = server.addr();
            let key_id = key_id.clone();
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
                    tcp.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
                    let tls = rustls::ClientConnection::new(config, addr.ip().into()).ok()?;
                    let mut stream = rustls::StreamOwned::new(tls, tcp);
                    // A third send no credentials, a third forge a signature of a
                    // real key, a third forge one and send no length.
                    let (auth, length) = match i % 3 {
                        0 => (String::new(), format!("content-length: {BODY}\r\n")),
                        1 => (
                            format!("authorization: {}\r\n", forged_authorization(&key_id)),
                            format!("content-length: {BODY}\r\n"),
                        ),
                        _ => (
                            format!("authorization: {}\r\n", forged_authorization(&key_id)),
                            "transfer-encoding: chunked\r\n".to_string(),
                        ),
                    };
                    let head = format!(
                        "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-amz-json-1.1\r\n\
                         x-amz-target: CodeDeploy_20141006.ListApplications\r\n{auth}{length}\r\n"
                    );
                    stream.write_all(head.as_bytes()).ok()?;
                    // Slowly: 64 KiB every 40 ms, until all is sent, the
                    // server answers or the flood ends.
                    let status = |bytes: &[u8]| {
                        String::from_utf8_lossy(bytes).split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok())
                    };
                    let mut answer = [0u8; 512];
                    let chunk = vec![b'x'; 64 << 10];
                    let mut sent = 0;
                    stream.sock.set_read_timeout(Some(Duration::from_millis(1))).ok()?;
                    while sent < BODY && Instant::now() < flood_ends {
                        if let Ok(n) = stream.read(&mut answer) {
                            return status(&answer[..n]);
                        }
                        let n = chunk.len().min(BODY - sent);
                        let wrote = if i % 3 == 2 {
                            stream
                                .write_all(format!("{n:x}\r\n").as_bytes())
                                .and_then(|_| stream.write_all(&chunk[..n]))
                                .and_then(|_| stream.write_all(b"\r\n"))
                        } else {
                            stream.write_all(&chunk[..n])
                        };
                        if wrote.is_err() {
                            break;
                        }
                        sent += n;
                        std::thread::sleep(Duration::from_millis(40));
                    }
                    if i % 3 == 2 {
                        let _ = stream.write_all(b"0\r\n\r\n");
                    }
                    stream.sock.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
                    let n = stream.read(&mut answer).ok()?;
                    status(&answer[..n])
                })
                .unwrap()
        })
        .collect();

    // Signed calls go on during the flood.
    let mut signed_calls = 0;
    let mut peak = baseline;
    while Instant::now() < flood_ends {
        let out = server.ferry(&["app", "list"]);
        assert!(out.status.success(), "a signed call during the flood: {}", String::from_utf8_lossy(&out.stderr));
        signed_calls += 1;
        peak = peak.max(server.memory_mib("VmRSS"));
    }
    let statuses: Vec<Option<u16>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let peak = peak.max(server.memory_mib("VmHWM"));
    let count = |s: u16| statuses.iter().filter(|&&x| x == Some(s)).count();
    eprintln!(
        "RSS baseline {baseline:.1} MiB, peak {peak:.1} MiB; {signed_calls} signed calls during the flood; \
         answers: 413 {}, 503 {}, 400/403 {}, other {}",
        count(413),
        count(503),
        count(400) + count(403),
        statuses.len() - count(413) - count(503) - count(400) - count(403)
    );
    assert!(signed_calls >= 2, "signed calls kept working during the flood");
    assert!(count(413) >= CONNECTIONS / 3, "unauthenticated bodies were refused unread: {statuses:?}");
    assert!(count(503) > 0, "the body budget ran out and said so: {statuses:?}");
    // 300 × 2 MB would be ~600 MiB; the budget is 64 MiB, connections cost little.
    let bound = baseline + 64.0 + 60.0;
    assert!(peak < bound, "peak RSS {peak:.1} MiB over the bound {bound:.1} MiB (baseline {baseline:.1} MiB)");

    // Afterwards the memory comes back near the baseline.
    let settled = baseline + 40.0;
    wait_for("RSS to come back near the baseline", Duration::from_secs(10), || {
        server.ferry_ok(&["app", "list"]);
        (server.memory_mib("VmRSS") < settled).then_some(())
    });
    eprintln!("RSS after the flood {:.1} MiB", server.memory_mib("VmRSS"));
}

#[test]
fn partial_headers_idle_connections_and_stalled_handshakes_are_closed() {
    let server =
        Server::start(&["--header-read-timeout", "1s", "--idle-timeout", "2s", "--tls-handshake-timeout", "1s"]);
    let config = server.client_config();

    // Partial headers: closed after the header timeout, not the idle one.
    let mut partial = server.connect(&config).unwrap();
    let started = Instant::now();
    partial.write_all(b"POST /api/v1/applications HTTP/1.1\r\nHost: x\r\n").unwrap();
    let took = closed_after(&mut partial, started, Duration::from_secs(10)).expect("partial headers closed");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(1900), "{took:?}");

    // Idle after the handshake: closed after the idle timeout.
    let mut idle = server.connect(&config).unwrap();
    let started = Instant::now();
    let took = closed_after(&mut idle, started, Duration::from_secs(10)).expect("an idle connection closed");
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(4), "{took:?}");

    // No handshake at all: closed after the handshake timeout.
    let mut silent = TcpStream::connect(server.addr()).unwrap();
    silent.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let started = Instant::now();
    let took = closed_after(&mut silent, started, Duration::from_secs(10)).expect("a stalled handshake closed");
    assert!(took < Duration::from_secs(3), "{took:?}");

    // Keep-alive still works: a connection idle for longer than the header
    // timeout (but not the idle one) between requests serves the next.
    let mut kept = server.connect(&config).unwrap();
    let ask = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    let read_answer = |stream: &mut Tls| {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "closed early");
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got).into_owned();
        let length: usize = text
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
            .unwrap();
        let head_len = text.find("\r\n\r\n").unwrap() + 4;
        while got.len() < head_len + length {
            let n = stream.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        text.split_whitespace().nth(1).unwrap().to_string()
    };
    kept.write_all(ask).unwrap();
    assert_eq!(read_answer(&mut kept), "403");
    // Quiet on purpose: longer than the header timeout, shorter than the idle one.
    std::thread::sleep(Duration::from_millis(1300));
    kept.write_all(ask).unwrap();
    assert_eq!(read_answer(&mut kept), "403", "the kept-alive connection answered again");
}

#[test]
fn sigterm_with_idle_partial_and_slow_connections_open_exits_within_the_shutdown_timeout() {
    // Long per-connection timeouts: only the shutdown deadline may close these.
    let mut server = Server::start(&[
        "--header-read-timeout",
        "120s",
        "--idle-timeout",
        "120s",
        "--body-read-timeout",
        "120s",
        "--tls-handshake-timeout",
        "120s",
        "--shutdown-timeout",
        "2s",
    ]);
    let config = server.client_config();
    let (key_id, _) = server.admin();
    let mut open = Vec::new();
    for _ in 0..5 {
        open.push(server.connect(&config).unwrap());
    }
    for _ in 0..5 {
        let mut partial = server.connect(&config).unwrap();
        partial.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").unwrap();
        open.push(partial);
    }
    // A body in flight, half sent (it passes the signature's shape check, so it is being read).
    let mut slow = server.connect(&config).unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nhost: x\r\nx-amz-target: CodeDeploy_20141006.ListApplications\r\nauthorization: {}\r\n\
         content-length: 100000\r\n\r\n",
        forged_authorization(&key_id)
    );
    slow.write_all(head.as_bytes()).unwrap();
    slow.write_all(&[b'x'; 50_000]).unwrap();
    open.push(slow);
    let _stalled: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(server.addr()).unwrap()).collect();
    let took = server.terminate(Duration::from_secs(15));
    let logs = server.logs();
    let took = took.unwrap_or_else(|| panic!("the server did not exit within 15 s of SIGTERM:\n{logs}"));
    assert!(took < Duration::from_secs(5), "exited {took:?} after SIGTERM (shutdown timeout 2 s):\n{logs}");
    assert!(logs.contains("closing connections still open after the shutdown timeout"), "{logs}");
    drop(open);
}

#[test]
fn connections_beyond_the_per_address_limit_are_closed() {
    let server = Server::start(&["--max-connections-per-address", "4"]);
    let config = server.client_config();
    let mut held: Vec<Tls> = (0..4).map(|_| server.connect(&config).unwrap()).collect();
    // The fifth is closed before its handshake completes.
    assert!(server.connect(&config).is_err(), "a fifth connection from one address was served");
    // One given back, one more may come.
    held.pop();
    wait_for("a slot to be given back", Duration::from_secs(5), || server.connect(&config).ok().map(|c| held.push(c)));
    assert!(server.logs().contains("--max-connections-per-address reached"), "{}", server.logs());
    drop(held);
    server.ferry_ok(&["app", "list"]);
}

#[test]
fn oversized_bodies_are_413_before_they_are_read_and_signed_large_ones_still_work() {
    let server = Server::start(&[]);
    let config = server.client_config();
    let admin = server.admin();

    // The AWS API, signed, beyond its 2 MiB: 413 in AWS's shape.
    let big = format!("{{\"applicationName\":\"{}\"}}", "a".repeat(3 << 20));
    let (status, head, body) =
        exchange(&server, &config, &signed_aws_request(&server, &admin, "CreateApplication", big.as_bytes()));
    assert_eq!(status, 413, "{head}\n{body}");
    assert!(head.to_ascii_lowercase().contains("x-amzn-errortype: requestentitytoolargeexception"), "{head}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["__type"], "RequestEntityTooLargeException", "{body}");

    // Signed, large but within the limit: read and answered by the operation.
    let large = format!("{{\"applicationName\":\"{}\"}}", "a".repeat(1 << 20));
    let (status, _, body) =
        exchange(&server, &config, &signed_aws_request(&server, &admin, "CreateApplication", large.as_bytes()));
    assert_ne!(status, 413, "{body}");
    assert!(!body.contains("Signature"), "the signature of the large body was verified: {body}");
    assert!(
        body.contains("applicationName") || body.contains("ValidationException") || body.contains("Invalid"),
        "{body}"
    );

    // Unauthenticated, 100 KB, on each API: 413 without waiting for the body.
    let pad = "x".repeat(100_000);
    for (path, content_type, api) in [
        ("/", "application/x-amz-json-1.1", "aws"),
        ("/api/v1/applications", "application/json", "native"),
        ("/agent/v1/enrol", "application/json", "enrol"),
        ("/console/login", "application/x-www-form-urlencoded", "console"),
    ] {
        let started = Instant::now();
        let mut stream = server.connect(&config).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\norigin: https://127.0.0.1:{}\r\ncontent-type: {content_type}\r\n\
             x-amz-target: CodeDeploy_20141006.CreateApplication\r\ncontent-length: {}\r\n\r\n",
            server.port,
            server.port,
            pad.len()
        );
        // Only the head: the answer comes without the body.
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = [0u8; 2048];
        let n = stream.read(&mut answer).unwrap();
        let text = String::from_utf8_lossy(&answer[..n]).into_owned();
        assert!(text.starts_with("HTTP/1.1 413"), "{api}: {text}");
        assert!(started.elapsed() < Duration::from_secs(5), "{api}");
        if api == "aws" {
            assert!(text.contains("RequestEntityTooLargeException"), "{text}");
        }
        // The same without a declared length (chunked): refused once 16 KiB have come.
        let (status, _, body) = exchange(
            &server,
            &config,
            format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n\r\n\
                 {:x}\r\n{pad}\r\n0\r\n\r\n",
                pad.len()
            )
            .as_bytes(),
        );
        assert_eq!(status, 413, "{api} chunked: {body}");
    }

    // A bundle upload (authenticated, streamed) larger than any buffered body still works.
    server.ferry_ok(&["app", "create", "shop"]);
    let dir = server.tmp.path().join("rev");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("appspec.yml"), "version: 0.0\nos: linux\n").unwrap();
    let noise: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(dir.join("blob.bin"), noise).unwrap();
    let pushed = server.ferry_ok(&["push", "shop", dir.to_str().unwrap()]);
    assert!(pushed.contains("r-"), "{pushed}");
    assert!(stored_blobs(&server.data()) >= 1, "the pushed bundle is stored");
}

fn stored_blobs(data: &Path) -> usize {
    std::fs::read_dir(data.join("blobs/sha256")).map(|d| d.count()).unwrap_or(0)
}
