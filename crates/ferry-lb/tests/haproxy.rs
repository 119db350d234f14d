//! The HAProxy backend against a real HAProxy (Debian's `haproxy`), started
//! with a runtime API socket and an empty backend that ferry fills.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use ferry_lb::haproxy::{HaProxy, Socket, backend_config};
use ferry_lb::{AdminState, Backend, Health, HealthCheck, Member};

struct Running {
    child: Child,
    _dir: tempfile::TempDir,
    frontend: SocketAddr,
    lb: HaProxy,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn checks() -> HealthCheck {
    HealthCheck {
        path: "/health".into(),
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(500),
        healthy_threshold: 2,
        unhealthy_threshold: 2,
    }
}

async fn start_haproxy() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let port = ferry_testkit::free_port();
    let socket = dir.path().join("admin.sock");
    let config = format!(
        "global\n    stats socket {} mode 600 level admin\n\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\nfrontend web\n    bind 127.0.0.1:{port}\n    default_backend app\n\n{}",
        socket.display(),
        backend_config("app", &checks())
    );
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run haproxy ({e}): apt-get install haproxy"));
    let lb = HaProxy { socket: Socket::Unix(socket), backend: "app".into(), check: checks() };
    let running = Running { child, _dir: dir, frontend: SocketAddr::from(([127, 0, 0, 1], port)), lb };
    until("haproxy's runtime API", Duration::from_secs(10), async || running.lb.servers().await.is_ok()).await;
    running
}

fn member(app: &App, weight: u32, state: AdminState) -> Member {
    Member { name: app.name.clone(), addr: app.addr, weight, state, test: false }
}

async fn healthy(backend: &Backend, n: usize) {
    until("servers to be healthy in haproxy", Duration::from_secs(10), async || {
        backend.status().await.unwrap().iter().filter(|m| m.health == Health::Healthy).count() == n
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_servers_follow_the_wanted_state() {
    let h = start_haproxy().await;
    let backend = Backend::HaProxy(h.lb.clone());
    let (a, b) = (App::start("a").await, App::start("b").await);
    backend.apply(&[member(&a, 50, AdminState::Ready), member(&b, 50, AdminState::Ready)]).await.unwrap();
    healthy(&backend, 2).await;
    let c = client();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let (status, body) = get(&c, h.frontend, "/").await.unwrap();
        assert_eq!(status, 200);
        seen.insert(body);
    }
    assert_eq!(seen.len(), 2, "both servers take traffic");

    // Drain b: HAProxy sends it nothing new; its slow request finishes.
    let c2 = client();
    let frontend = h.frontend;
    backend.apply(&[member(&a, 50, AdminState::Drain), member(&b, 50, AdminState::Ready)]).await.unwrap();
    let slow = tokio::spawn(async move { get(&c2, frontend, "/slow").await });
    until("b's session", Duration::from_secs(3), async || {
        backend.status().await.unwrap().iter().any(|m| m.name == "b" && m.in_flight == 1)
    })
    .await;
    backend.apply(&[member(&a, 50, AdminState::Ready), member(&b, 50, AdminState::Drain)]).await.unwrap();
    let status = backend.status().await.unwrap();
    assert_eq!(status.iter().find(|m| m.name == "b").unwrap().state, AdminState::Drain);
    let before = b.served();
    for _ in 0..20 {
        assert_eq!(get(&c, h.frontend, "/").await.unwrap(), (200, "a".into()));
    }
    assert_eq!(b.served(), before);
    assert_eq!(slow.await.unwrap().unwrap(), (200, "b".into()));

    // Weights, health, removal.
    backend.apply(&[member(&a, 0, AdminState::Ready), member(&b, 10, AdminState::Ready)]).await.unwrap();
    for _ in 0..10 {
        assert_eq!(get(&c, h.frontend, "/").await.unwrap(), (200, "b".into()));
    }
    b.health.store(503, std::sync::atomic::Ordering::SeqCst);
    until("b to fail its checks", Duration::from_secs(5), async || {
        backend.status().await.unwrap().iter().any(|m| m.name == "b" && m.health == Health::Unhealthy)
    })
    .await;
    backend.apply(&[member(&a, 10, AdminState::Ready)]).await.unwrap();
    until("b to be deleted", Duration::from_secs(5), async || {
        backend.apply(&[member(&a, 10, AdminState::Ready)]).await.unwrap();
        backend.status().await.unwrap().iter().all(|m| m.name != "b")
    })
    .await;
    // Applying the same state again changes nothing and fails nothing.
    backend.apply(&[member(&a, 10, AdminState::Ready)]).await.unwrap();
    assert_eq!(get(&c, h.frontend, "/").await.unwrap(), (200, "a".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_refusals_are_reported() {
    let h = start_haproxy().await;
    let wrong = HaProxy { backend: "no-such-backend".into(), ..h.lb.clone() };
    let err = wrong.servers().await.unwrap_err();
    assert!(err.to_string().contains("HAProxy"), "{err}");
    let gone = HaProxy { socket: Socket::Unix("/nonexistent/sock".into()), ..h.lb.clone() };
    assert!(gone.status().await.is_err());
}
