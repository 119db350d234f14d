//! `ferry proxy`'s core: a proxy process driven over its control socket,
//! serving again from its state file after a restart, before anyone
//! reconnects to it.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ferry_lb::control::RemoteProxy;
use ferry_lb::daemon::{ProxyDaemon, bind_control_socket};
use ferry_lb::{AdminState, Backend, Health, HealthCheck, Member};

fn fast_checks() -> HealthCheck {
    HealthCheck {
        path: "/health".into(),
        interval: Duration::from_millis(50),
        timeout: Duration::from_millis(200),
        healthy_threshold: 2,
        unhealthy_threshold: 2,
    }
}

fn member(app: &App, weight: u32) -> Member {
    Member { name: app.name.clone(), addr: app.addr, weight, state: AdminState::Ready, test: false }
}

/// A daemon serving its control socket until the returned sender is dropped.
async fn start(dir: &std::path::Path) -> (Arc<ProxyDaemon>, tokio::sync::oneshot::Sender<()>) {
    let daemon = ProxyDaemon::open(dir.join("state.json")).await.unwrap();
    let listener = bind_control_socket(&dir.join("control.sock")).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(daemon.clone().serve(listener, async move {
        let _ = stopped.await;
    }));
    (daemon, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_proxy_serves_its_saved_table_before_the_server_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (App::start("a").await, App::start("b").await);
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], ferry_testkit::free_port()));
    let (daemon, stop) = start(dir.path()).await;
    let mode = std::fs::metadata(dir.path().join("control.sock")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the control socket is the owner's only");

    let remote = Backend::Remote(RemoteProxy {
        socket: dir.path().join("control.sock"),
        group: "tg".into(),
        listen,
        test_listen: None,
        check: fast_checks(),
    });
    remote.apply(&[member(&a, 1), member(&b, 0)]).await.unwrap();
    until("a to be healthy", Duration::from_secs(5), async || {
        remote.status().await.unwrap().iter().any(|m| m.name == "a" && m.health == Health::Healthy)
    })
    .await;
    // The same state again (what a restarted server sends) changes nothing.
    remote.apply(&[member(&a, 1), member(&b, 0)]).await.unwrap();
    assert!(remote.status().await.unwrap().iter().any(|m| m.name == "a" && m.health == Health::Healthy));
    assert_eq!(get(&client(), listen, "/").await.unwrap(), (200, "a".to_string()));

    // The proxy process ends (its listener closes) and starts again with
    // nobody to tell it anything: it serves the last table.
    drop(stop);
    daemon.shutdown().await;
    drop(daemon);
    assert!(get(&client(), listen, "/").await.is_err(), "nothing listens while the proxy is down");
    let (_daemon, _stop) = start(dir.path()).await;
    let (status, body) = get(&client(), listen, "/").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "a"), "served from the state file");

    // And it still takes orders: weights move to b.
    remote.apply(&[member(&a, 0), member(&b, 1)]).await.unwrap();
    assert_eq!(get(&client(), listen, "/").await.unwrap(), (200, "b".to_string()));
    let status = remote.status().await.unwrap();
    assert_eq!(status.iter().map(|m| (m.name.as_str(), m.weight)).collect::<Vec<_>>(), [("a", 0), ("b", 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_proxy_is_a_clear_error_and_bad_orders_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let remote = RemoteProxy {
        socket: dir.path().join("control.sock"),
        group: "tg".into(),
        listen: "127.0.0.1:1".parse().unwrap(),
        test_listen: None,
        check: fast_checks(),
    };
    let e = remote.apply(&[]).await.unwrap_err().to_string();
    assert!(e.contains("is `ferry proxy` running?"), "{e}");

    let (_daemon, _stop) = start(dir.path()).await;
    let app = App::start("a").await;
    let twice = [member(&app, 1), member(&app, 1)];
    let e = remote.apply(&twice).await.unwrap_err().to_string();
    assert!(e.contains("listed twice"), "{e}");
    // A port that cannot be bound is refused, not saved.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = RemoteProxy { listen: taken.local_addr().unwrap(), ..remote.clone() };
    let e = busy.apply(&[member(&app, 1)]).await.unwrap_err().to_string();
    assert!(e.contains("cannot listen on"), "{e}");
    let saved = std::fs::read_to_string(dir.path().join("state.json")).unwrap_or_default();
    assert!(!saved.contains("\"tg\""), "{saved}");
}
