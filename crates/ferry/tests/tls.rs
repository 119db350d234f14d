//! TLS everywhere: the server's own CA, the join token's fingerprint,
//! agents that pin the CA and refuse any other server, a CLI that fails
//! clearly without the CA, plain HTTP refused on the TLS port and served
//! only with `--insecure-http`.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sha2::{Digest, Sha256};
use support::*;

const WAIT: Duration = Duration::from_secs(30);

fn fingerprint_of(pem_file: &Path) -> String {
    let der = CertificateDer::from_pem_file(pem_file).unwrap();
    Sha256::digest(der.as_ref()).iter().map(|b| format!("{b:02x}")).collect()
}

fn log(c: &Cluster, name: &str) -> String {
    std::fs::read_to_string(c.tmp.path().join(name)).unwrap_or_default()
}

/// `ferry agent` in the root namespace with its own root, until it exits.
fn agent_once(c: &Cluster, name: &str, token: &str, extra: &[&str]) -> std::process::Output {
    Command::new(FERRY)
        .args(["agent", "--server", &c.url(), "--join-token", token, "--name", name])
        .arg("--root")
        .arg(c.tmp.path().join(name))
        .args(extra)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn agents_enrol_by_the_join_tokens_fingerprint_and_pin_the_ca() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions { hosts: 1, ..Default::default() });
    // The token carries the SHA-256 of the CA's DER; the CA key is private.
    let token = c.join_token();
    let fingerprint = fingerprint_of(&c.ca_file());
    assert!(token.starts_with("ferry-join-") && token.ends_with(&format!(".sha256-{fingerprint}")), "{token}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(c.data_dir().join("tls/ca-key.pem")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // The enrolled agent keeps that CA beside its credentials.
    // (The instance is listed once enrolled; the agent writes the CA right
    // after its enrolment is answered.)
    let pinned = c.host_file(0, "/opt/ferry/state/ca.pem");
    wait_for("the agent to keep the CA", WAIT, || {
        (pinned.exists() && log(&c, "agent0.log").contains("pinned the server's CA")).then_some(())
    });
    assert_eq!(fingerprint_of(&pinned), fingerprint);

    // A token naming another CA: refused before anything is sent, both fingerprints named.
    let secret = token.rsplit_once(".sha256-").unwrap().0.to_string();
    let other = "0".repeat(64);
    let out = agent_once(&c, "intruder", &format!("{secret}.sha256-{other}"), &[]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("not enrolling")
            && stderr.contains(&format!("expected CA sha256-{other}"))
            && stderr.contains(&format!("sha256-{fingerprint}")),
        "{stderr}"
    );
    assert!(!c.tmp.path().join("intruder/state/credentials").exists());
    // A token without a fingerprint over https: refused, saying what to do.
    let out = agent_once(&c, "intruder", &secret, &[]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no CA fingerprint") && stderr.contains("--ca-file"), "{stderr}");
    // ...unless the agent is given the CA.
    let ca = c.ca_file();
    let root = c.tmp.path().join("with-ca-file");
    let mut agent = Command::new(FERRY)
        .args(["agent", "--server", &c.url(), "--join-token", &secret, "--name", "with-ca-file", "--ca-file"])
        .arg(&ca)
        .arg("--root")
        .arg(&root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the agent given --ca-file to enrol", WAIT, || root.join("state/credentials").exists().then_some(()));
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(fingerprint_of(&root.join("state/ca.pem")), fingerprint);
    let instances = c.ferry_ok(&["instances", "--json"]);
    assert!(instances.contains("with-ca-file") && !instances.contains("intruder"), "{instances}");
    assert!(!log(&c, "server.log").contains("wrong join token"), "no token reached the server");

    // The CLI: without the CA it fails with a clear TLS error; with it, it works.
    let elsewhere = c.tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(c.data_dir().join("credentials"), elsewhere.join("credentials")).unwrap();
    let cli = |extra: &[&str]| {
        Command::new(FERRY)
            .args(["instances", "--server", &c.url(), "--credentials"])
            .arg(elsewhere.join("credentials"))
            .args(extra)
            .current_dir(&elsewhere)
            .env_remove("FERRY_CA_FILE")
            .env("AWS_ACCESS_KEY_ID", "")
            .output()
            .unwrap()
    };
    let out = cli(&[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("TLS") && stderr.contains("certificate") && stderr.contains("--ca-file"), "{stderr}");
    let out = cli(&["--ca-file", ca.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("host1"));

    // Plain HTTP on the TLS port is answered, in plain HTTP, with what to do.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], c.port));
    let (status, body) = http_get(addr, "/api/v1/instances", &[]).expect("an answer");
    assert_eq!(status, 400);
    assert!(body.contains("HTTPS only") && body.contains("https://"), "{body}");
    let out = Command::new(FERRY)
        .args(["instances", "--server", &format!("http://127.0.0.1:{}", c.port), "--credentials"])
        .arg(c.data_dir().join("credentials"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("HTTPS only"), "{}", text(&out.stderr));
}

#[test]
fn an_enrolled_agent_refuses_a_server_with_another_ca_and_sends_it_nothing() {
    if !fleet_supported() {
        return;
    }
    let mut c = Cluster::start(ClusterOptions { hosts: 1, poll_hold_seconds: 1, ..Default::default() });
    let first = fingerprint_of(&c.ca_file());
    // The same server, restarted with a CA and certificate of its own making.
    c.stop_server();
    std::fs::rename(c.data_dir().join("tls"), c.data_dir().join("tls-first")).unwrap();
    c.start_server();
    let second = fingerprint_of(&c.ca_file());
    assert_ne!(first, second);
    assert!(c.join_token().ends_with(&second), "the join token follows the CA");
    let why = wait_for("the agent to refuse the new server", WAIT, || {
        let log = log(&c, "agent0.log");
        log.lines().find(|l| l.contains("does not chain to the CA this agent trusts")).map(str::to_string)
    });
    assert!(why.contains(&format!("expected CA sha256-{first}")) && why.contains(&format!("sha256-{second}")), "{why}");
    // Still running (a server may come back), and not one request reached this server.
    assert!(c.agent_pids().iter().all(|&pid| matches!(c.fleet.try_wait(pid), Ok(None))));
    let metrics = c.metrics();
    assert!(
        !metrics.lines().any(|l| l.starts_with("ferry_api_request_duration_seconds_count{api=\"agent\"")),
        "{metrics}"
    );
    let instances: serde_json::Value = serde_json::from_str(&c.ferry_ok(&["instances", "--json"])).unwrap();
    assert_eq!(instances[0]["name"], "host1");

    // The first CA back: the agent carries on with its credential, no new enrolment.
    c.stop_server();
    std::fs::remove_dir_all(c.data_dir().join("tls")).unwrap();
    std::fs::rename(c.data_dir().join("tls-first"), c.data_dir().join("tls")).unwrap();
    c.start_server();
    c.wait_enrolled(1);
    assert_eq!(log(&c, "agent0.log").matches("enrolling").count(), 1, "{}", log(&c, "agent0.log"));
}

#[test]
fn given_certificate_files_are_served_and_their_last_certificate_pinned() {
    if !fleet_supported() {
        return;
    }
    let mut c = Cluster::start(ClusterOptions { hosts: 1, poll_hold_seconds: 1, ..Default::default() });
    let ca = fingerprint_of(&c.ca_file());
    // Restarted with certificate files: here the leaf the server made, alone.
    c.stop_server();
    let (cert, key) = (c.data_dir().join("tls/server.pem"), c.data_dir().join("tls/server-key.pem"));
    c.server_args.extend([
        "--tls-cert".into(),
        cert.display().to_string(),
        "--tls-key".into(),
        key.display().to_string(),
    ]);
    c.start_server();
    let leaf = fingerprint_of(&cert);
    assert!(c.join_token().ends_with(&format!(".sha256-{leaf}")), "the token pins the file's last certificate");
    // The enrolled agent still trusts it: the leaf chains to the CA it pinned.
    wait_for("the agent to poll the restarted server", WAIT, || {
        c.metrics()
            .lines()
            .any(|l| l.starts_with("ferry_api_request_duration_seconds_count{api=\"agent\""))
            .then_some(())
    });
    assert_eq!(fingerprint_of(&c.host_file(0, "/opt/ferry/state/ca.pem")), ca);
    // A new agent pins that very certificate.
    let root = c.tmp.path().join("given");
    let mut agent = Command::new(FERRY)
        .args(["agent", "--server", &c.url(), "--join-token", &c.join_token(), "--name", "given", "--root"])
        .arg(&root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the new agent to enrol", WAIT, || root.join("state/credentials").exists().then_some(()));
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(fingerprint_of(&root.join("state/ca.pem")), leaf);
}

#[test]
fn plain_http_only_with_insecure_http_which_warns() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions { hosts: 1, insecure_http: true, ..Default::default() });
    let server_log = log(&c, "server.log");
    assert!(server_log.contains("WARNING: --insecure-http") && server_log.contains("PLAIN HTTP"), "{server_log}");
    assert!(!c.join_token().contains(".sha256-"), "no CA, no fingerprint: {}", c.join_token());
    assert!(!c.data_dir().join("tls").exists());
    // Agents enrolled over plain HTTP (and said what that means).
    assert!(log(&c, "agent0.log").contains("plain HTTP"), "{}", log(&c, "agent0.log"));
    let out = Command::new(FERRY)
        .args(["instances", "--server", &format!("https://127.0.0.1:{}", c.port), "--credentials"])
        .arg(c.data_dir().join("credentials"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("TLS") && stderr.contains("--insecure-http"), "{stderr}");
    let rev = revision(&c.tmp.path().join("rev"), "v1", 0, None);
    c.ferry_ok(&["app", "create", "shop"]);
    c.ferry_ok(&["group", "create", "shop", "web", "--tag", "app=demo"]);
    c.ferry_ok(&["push", "shop", rev.to_str().unwrap()]);
    let id = c.ferry_ok(&["deploy", "shop", "web"]).lines().last().unwrap().trim().to_string();
    assert_eq!(c.wait_done(&id, Duration::from_secs(120))["status"], "Succeeded");
}

/// `ferry instances revoke NAME` while the agent runs: it is refused at its
/// next request (over TLS, as every request) and stops; started again with
/// the same credential it is refused at once.
#[test]
fn an_agent_whose_credential_is_revoked_is_refused_mid_run() {
    if !fleet_supported() {
        return;
    }
    let mut c = Cluster::start(ClusterOptions { hosts: 1, poll_hold_seconds: 2, ..Default::default() });
    c.ferry_ok(&["instances", "revoke", "host1"]);
    let pid = c.agent_pids()[0];
    wait_for("the agent to stop", WAIT, || matches!(c.fleet.try_wait(pid), Ok(Some(_))).then_some(()));
    let agent_log = log(&c, "agent0.log");
    assert!(agent_log.contains("rejected this host's credential"), "{agent_log}");
    // Started again with the same (revoked) credential: refused at once, over TLS as ever.
    std::fs::remove_file(c.tmp.path().join("agent0.log")).unwrap();
    c.start_agent(0);
    wait_for("the restarted agent to be refused", WAIT, || {
        log(&c, "agent0.log").contains("rejected this host's credential").then_some(())
    });
}

/// A server listening on every interface, reached on a local address that
/// its certificate did not name at start (127.0.0.2 stands in for a bridge
/// that appeared later): the certificate is issued again, from the same
/// CA, before that connection's handshake, so the CLI (or an agent) that
/// trusts the CA connects without a restart.
#[test]
fn a_local_address_the_certificate_lacks_is_added_when_a_connection_arrives_on_it() {
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = std::net::TcpListener::bind("0.0.0.0:0").unwrap().local_addr().unwrap().port();
    let log = std::fs::File::create(tmp.path().join("server.log")).unwrap();
    let _server = Killed(
        Command::new(FERRY)
            .args(["server", "--data-dir"])
            .arg(&data)
            .args(["--listen", &format!("0.0.0.0:{port}")])
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let names = || std::fs::read_to_string(data.join("tls/server.names")).unwrap_or_default();
    let list = |host: &str| {
        Command::new(FERRY)
            .args(["app", "list", "--server", &format!("https://{host}:{port}"), "--credentials"])
            .arg(data.join("credentials"))
            .output()
            .unwrap()
    };
    wait_for("the server to answer on 127.0.0.1", WAIT, || list("127.0.0.1").status.success().then_some(()));
    assert!(!names().lines().any(|l| l == "127.0.0.2"), "{}", names());
    let out = list("127.0.0.2");
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stderr),
        std::fs::read_to_string(tmp.path().join("server.log")).unwrap_or_default()
    );
    assert!(names().lines().any(|l| l == "127.0.0.2"), "{}", names());
    // The CA did not change: what agents pinned still holds.
    assert!(list("127.0.0.1").status.success());
}
