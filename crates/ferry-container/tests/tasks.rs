//! Service task containers against real podman and the locally imported
//! busybox image (no registry is reachable). They need root (rootful
//! podman) and say so loudly through `ferry_testkit::skip` when they cannot
//! run. Each test uses its own host name, so `list` sees only its own
//! containers, and removes what it started even when it fails.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use ferry_container::Error;
use ferry_container::tasks::{ContainerState, Engine, PortSpec, TaskContainerSpec, TaskNetwork};

/// What a test needs: a runtime to drive the async API from plain test
/// code (so `wait_for` can poll it), the engine, the image, and the names
/// to remove at the end.
struct Fixture {
    rt: tokio::runtime::Runtime,
    engine: Engine,
    image: String,
    test: String,
    host: String,
    started: Vec<String>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for name in &self.started {
            let _ = Command::new("podman").args(["rm", "--force", "--ignore", "--time", "0", name]).output();
        }
    }
}

fn fixture(test: &str) -> Option<Fixture> {
    if !ferry_testkit::podman_available() {
        return None;
    }
    let image = ferry_testkit::busybox_image();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    Some(Fixture {
        rt,
        engine: Engine::default(),
        image,
        test: test.to_string(),
        host: format!("test-host-{test}-{}", std::process::id()),
        started: Vec::new(),
    })
}

impl Fixture {
    /// A spec for container `container` of a task unique to this test run,
    /// registered for removal.
    fn spec(&mut self, container: &str, command: &[&str]) -> TaskContainerSpec {
        let task_id = format!("{}-{}-{}", self.test, std::process::id(), self.started.len());
        let mut spec = TaskContainerSpec::new(task_id, self.host.clone(), container, self.image.clone());
        spec.command = command.iter().map(|s| s.to_string()).collect();
        spec.stop_timeout = Duration::ZERO;
        self.started.push(spec.podman_name());
        spec
    }
}

fn podman(args: &[&str]) -> String {
    let out = Command::new("podman").args(args).output().unwrap();
    assert!(out.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The body of `GET path` on 127.0.0.1:port when it answers 200.
fn http_get(port: u16, path: &str) -> Option<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n")?;
    (head.lines().next()?.split_whitespace().nth(1)? == "200").then(|| body.to_string())
}

#[test]
fn a_service_container_serves_on_its_published_port_and_is_removed() {
    let Some(mut f) = fixture("serve") else { return };
    let secret = format!("s3cret-{}-value", std::process::id());
    let mut spec = f.spec("web", &["sh", "-c", "echo hi > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"]);
    spec.ports = vec![PortSpec { container_port: 8080, host_port: 0, udp: false }];
    spec.env = vec![("FERRY_SECRET".into(), secret.clone()), ("SPACED".into(), "  a b  ".into())];
    spec.labels.insert("app".into(), "demo".into());
    spec.memory_mib = Some(64);
    spec.memory_reservation_mib = Some(32);
    spec.cpu_shares = Some(256);
    spec.stop_timeout = Duration::from_secs(1);
    let name = spec.podman_name();

    let started = f.rt.block_on(f.engine.run(&spec)).unwrap();
    assert_eq!(started.name, name);
    assert_eq!((started.task_id.as_str(), started.container.as_str()), (spec.task_id.as_str(), "web"));
    assert_eq!(started.labels, spec.labels);
    let port = started.host_port(8080, false).expect("a host port for 8080 once started");
    assert_ne!(port, 0);

    let listed = f.rt.block_on(f.engine.list(&f.host)).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].state, ContainerState::Running);
    assert_eq!(listed[0].engine_id, started.engine_id);
    assert_eq!(listed[0].host_port(8080, false), Some(port));
    assert!(listed[0].started_at.is_some() && listed[0].finished_at.is_none(), "{:?}", listed[0]);

    let body = ferry_testkit::wait_for("httpd to answer", Duration::from_secs(20), || http_get(port, "/index.html"));
    assert_eq!(body.trim(), "hi");

    // The values reach the container verbatim…
    let seen = podman(&["exec", &name, "sh", "-c", "printf '%s|%s' \"$FERRY_SECRET\" \"$SPACED\""]);
    assert_eq!(seen, format!("{secret}|  a b  "));
    // …never podman's command line (which podman records), and the env
    // file they came in is gone.
    let create_command = podman(&["inspect", &name, "--format", "{{json .Config.CreateCommand}}"]);
    let create_command: Vec<String> = serde_json::from_str(&create_command).unwrap();
    let env_file = create_command
        .iter()
        .find_map(|a| a.strip_prefix("--env-file="))
        .unwrap_or_else(|| panic!("no --env-file in {create_command:?}"));
    assert!(!std::path::Path::new(env_file).exists(), "{env_file} is still there");
    let args = podman(&["inspect", &name, "--format", "{{json .Path}} {{json .Args}} {{json .Config.Cmd}}"]);
    for text in [create_command.join(" "), args] {
        assert!(!text.contains(&secret), "the secret is in {text}");
    }
    // The limits were applied.
    let limits = podman(&[
        "inspect",
        &name,
        "--format",
        "{{.HostConfig.Memory}} {{.HostConfig.MemoryReservation}} {{.HostConfig.CpuShares}}",
    ]);
    assert_eq!(limits.trim(), format!("{} {} 256", 64 << 20, 32 << 20));

    // httpd ignores SIGTERM: the stop timeout ends it.
    let t = Instant::now();
    f.rt.block_on(f.engine.remove(&name, spec.stop_timeout)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(15), "remove took {:?}", t.elapsed());
    assert!(f.rt.block_on(f.engine.list(&f.host)).unwrap().is_empty());
    // Removing again is harmless.
    f.rt.block_on(f.engine.remove(&name, Duration::ZERO)).unwrap();
}

#[test]
fn an_exited_container_shows_its_exit_code_and_output() {
    let Some(mut f) = fixture("exit") else { return };
    let spec = f.spec("job", &["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"]);
    f.rt.block_on(f.engine.run(&spec)).unwrap();
    let exited = ferry_testkit::wait_for("the container to exit", Duration::from_secs(20), || {
        let listed = f.rt.block_on(f.engine.list(&f.host)).unwrap();
        listed.into_iter().find(|c| matches!(c.state, ContainerState::Exited { .. }))
    });
    assert_eq!(exited.state, ContainerState::Exited { code: 3 });
    assert_eq!(exited.name, spec.podman_name());
    assert!(exited.finished_at.is_some() && exited.started_at.is_some(), "{exited:?}");
    let logs = f.rt.block_on(f.engine.logs_tail(&exited.name, 10));
    assert!(logs.contains("to-stdout") && logs.contains("to-stderr"), "{logs:?}");
    let logs = f.rt.block_on(f.engine.logs_tail(&exited.name, 1));
    assert_eq!(logs.lines().count(), 1, "{logs:?}");
    assert_eq!(f.rt.block_on(f.engine.logs_tail("ferry-no-such-container", 10)), "");
}

#[test]
fn health_checks_pass_fail_and_time_out() {
    let Some(mut f) = fixture("health") else { return };
    let mut spec = f.spec("app", &["sleep", "1000"]);
    spec.network = TaskNetwork::None;
    let name = spec.podman_name();
    f.rt.block_on(f.engine.run(&spec)).unwrap();
    let check = |command: &[&str], timeout: Duration| {
        let command: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        f.rt.block_on(f.engine.check_health(&name, &command, timeout))
    };
    let long = Duration::from_secs(30);
    assert!(check(&["CMD-SHELL", "exit 0"], long).unwrap());
    assert!(!check(&["CMD", "false"], long).unwrap());
    assert!(check(&["CMD", "true"], long).unwrap());
    assert!(!check(&["CMD", "/no/such/program"], long).unwrap());

    let t = Instant::now();
    assert!(!check(&["CMD-SHELL", "sleep 10"], Duration::from_secs(1)).unwrap());
    assert!(t.elapsed() < Duration::from_secs(5), "the timed-out check took {:?}", t.elapsed());
    // The timed-out check was killed in the container, not just its client.
    ferry_testkit::wait_for("the timed-out check to be gone", Duration::from_secs(5), || {
        let ps = podman(&["exec", &name, "ps", "-o", "args"]);
        (!ps.lines().any(|l| l.trim() == "sleep 10")).then_some(())
    });

    let e = check(&["echo", "hi"], long).unwrap_err();
    assert!(matches!(e, Error::InvalidTask { .. }), "{e:?}");
    f.rt.block_on(f.engine.remove(&name, Duration::ZERO)).unwrap();
    let e = check(&["CMD", "true"], long).unwrap_err();
    assert!(matches!(e, Error::ContainerNotRunning { .. }), "{e:?}");
    assert!(e.to_string().contains(&name), "{e}");
}

#[test]
fn a_missing_image_is_an_error_naming_it() {
    let Some(mut f) = fixture("noimage") else { return };
    let mut spec = f.spec("app", &["true"]);
    // `.invalid` never resolves: podman fails at once, with or without a network.
    spec.image = format!("ferry-no-such-registry.invalid/ferry/no-such-image:{}", std::process::id());
    let e = f.rt.block_on(f.engine.run(&spec)).unwrap_err();
    assert!(matches!(e, Error::ImageUnavailable { .. }), "{e:?}");
    let message = e.to_string();
    assert!(message.contains(&spec.image), "{message}");
    assert!(message.lines().count() == 1 && message.len() < 1000, "{message}");
    assert!(f.rt.block_on(f.engine.list(&f.host)).unwrap().is_empty());
}

#[test]
fn a_container_that_cannot_start_is_an_error_and_leaves_nothing() {
    let Some(mut f) = fixture("nostart") else { return };
    let spec = f.spec("app", &["/no/such/program"]);
    let e = f.rt.block_on(f.engine.run(&spec)).unwrap_err();
    let message = e.to_string();
    assert!(message.contains(&spec.podman_name()) && message.contains("/no/such/program"), "{message}");
    assert!(f.rt.block_on(f.engine.list(&f.host)).unwrap().is_empty());

    // The name is free again; a second one with it is refused.
    let mut spec = spec;
    spec.command = vec!["sleep".into(), "1000".into()];
    f.rt.block_on(f.engine.run(&spec)).unwrap();
    let e = f.rt.block_on(f.engine.run(&spec)).unwrap_err();
    assert!(matches!(e, Error::ContainerExists(ref n) if *n == spec.podman_name()), "{e:?}");
    assert_eq!(f.rt.block_on(f.engine.list(&f.host)).unwrap().len(), 1);
}

#[test]
fn values_podman_cannot_carry_are_refused_without_showing_them() {
    let Some(mut f) = fixture("badenv") else { return };
    let mut spec = f.spec("app", &["true"]);
    spec.env = vec![("MULTI".into(), "secret-line-1\nsecret-line-2".into())];
    let e = f.rt.block_on(f.engine.run(&spec)).unwrap_err();
    assert!(matches!(e, Error::InvalidTask { .. }), "{e:?}");
    assert!(e.to_string().contains("MULTI") && !e.to_string().contains("secret-line"), "{e}");
    assert!(f.rt.block_on(f.engine.version()).unwrap().starts_with("podman "));
    let e = f.rt.block_on(Engine::new("/no/such/podman").version()).unwrap_err();
    assert!(matches!(e, Error::EngineMissing(_)), "{e:?}");
}
