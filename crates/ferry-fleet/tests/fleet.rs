//! Real fleets: bridges, network namespaces, bind mounts. These need root; without it each test
//! prints why it is skipped and passes.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use ferry_fleet::{Fleet, FleetConfig, Signal};

const NO_ENV: &[(&str, &str)] = &[];
const NO_ARGS: &[&str] = &[];

/// A fleet and its directory; the fleet is torn down before the directory is removed.
struct TestFleet {
    fleet: Fleet,
    dir: tempfile::TempDir,
}

impl Deref for TestFleet {
    type Target = Fleet;
    fn deref(&self) -> &Fleet {
        &self.fleet
    }
}

fn is_root() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        ferry_testkit::skip("ferry-fleet needs root (network namespaces, a bridge, bind mounts)");
    }
    root
}

fn fleet(hosts: usize) -> TestFleet {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = FleetConfig::new(dir.path(), hosts);
    config.name_prefix = "web".into();
    let fleet = Fleet::create(config).expect("creating the fleet");
    TestFleet { fleet, dir }
}

fn run_ok<S: AsRef<OsStr>>(fleet: &Fleet, host: usize, program: &str, args: &[S]) -> String {
    let out = fleet.run(host, program, args).expect("running a command in a host");
    assert!(
        out.status.success(),
        "{program} on host {host}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Mount points in this (the root) mount namespace.
fn mount_points() -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let mut points: Vec<String> = info.lines().filter_map(|l| l.split(' ').nth(4).map(str::to_string)).collect();
    points.sort();
    points
}

fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| io::Error::other("no HTTP header"))?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(io::Error::other(format!("not 200: {head}")));
    }
    Ok(body.to_string())
}

/// Waits until `http://addr/path` answers with 200 and returns the body.
fn wait_for_http(addr: SocketAddr, path: &str, log: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match http_get(addr, path, Duration::from_secs(2)) {
            Ok(body) => return body,
            Err(e) if Instant::now() >= deadline => {
                let log = std::fs::read_to_string(log).unwrap_or_default();
                panic!("http://{addr}{path} never answered: {e}\nserver log:\n{log}");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Starts `python3 -m http.server 8080` serving the host's /srv; returns its pid and log.
fn start_web_server(fleet: &TestFleet, host: usize) -> (u32, PathBuf) {
    let log = fleet.dir.path().join(format!("http-{host}.log"));
    // A background child too, to show that kill reaches the whole host, not just one process.
    let script = "sleep 1000 & exec python3 -m http.server 8080 --bind 0.0.0.0 --directory /srv";
    let pid = fleet.spawn(host, "sh", &["-c", script], NO_ENV, &log).expect("spawning the web server");
    (pid, log)
}

fn netns_list() -> String {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn link_exists(name: &str) -> bool {
    Command::new("ip").args(["link", "show", name]).output().expect("ip link show").status.success()
}

#[test]
fn each_host_has_its_own_files_and_hostname() {
    if !is_root() {
        return;
    }
    let before = mount_points();
    let fleet = fleet(3);
    assert_eq!(fleet.hosts().len(), 3);
    for (i, host) in fleet.hosts().iter().enumerate() {
        assert_eq!(host.name, format!("web{}", i + 1));
        let content = format!("I am {}", host.name);
        run_ok(&fleet, i, "sh", &["-c", "printf %s \"$1\" > /srv/x && mkdir -p /var/www/app", "sh", &content]);
    }
    for (i, host) in fleet.hosts().iter().enumerate() {
        let content = format!("I am {}", host.name);
        assert_eq!(run_ok(&fleet, i, "cat", &["/srv/x"]), content);
        assert_eq!(run_ok(&fleet, i, "hostname", NO_ARGS).trim(), host.name);
        let on_disk = fleet.host_path(i, "/srv/x").unwrap().expect("/srv is isolated");
        assert_eq!(on_disk, host.dir.join("srv/x"));
        assert_eq!(std::fs::read_to_string(on_disk).unwrap(), content);
        assert!(host.dir.join("var/www/app").is_dir());
    }
    assert_eq!(fleet.host_path(0, "/usr/bin").unwrap(), None);
    assert_eq!(fleet.host_path(0, "/srv/../etc/passwd").unwrap(), None);
    assert_eq!(fleet.host_path(0, "srv/x").unwrap(), None);
    assert!(!Path::new("/srv/x").exists(), "the root namespace's /srv must not see the hosts' files");
    assert!(!Path::new("/var/www/app").exists());

    // A long-running host process holds its bind mounts; none of them shows in the root namespace.
    let log = fleet.dir.path().join("sleep.log");
    let pid = fleet.spawn(0, "sleep", &["1000"], NO_ENV, &log).unwrap();
    // The process enters the namespace first, then bind-mounts, then execs sleep.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim() != "sleep" {
        assert!(Instant::now() < deadline, "sleep never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(fleet.pids(0).unwrap().contains(&pid));
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert!(mounts.lines().any(|l| l.split(' ').nth(4) == Some("/srv")), "the host process has /srv bound");
    let after = mount_points();
    for path in ["/srv", "/var/www", "/opt", "/etc/ferry-apps"] {
        let count = |points: &[String]| points.iter().filter(|p| p.as_str() == path).count();
        assert_eq!(count(&before), count(&after), "a host's mount of {path} leaked into the root namespace");
    }
    assert!(Path::new("/var/www").is_dir(), "missing mountpoints are created");
    assert_eq!(fleet.try_wait(pid).unwrap(), None);
}

#[test]
fn each_host_serves_its_own_files_at_its_own_address() {
    if !is_root() {
        return;
    }
    let fleet = fleet(2);
    let mut logs = Vec::new();
    for (i, host) in fleet.hosts().iter().enumerate() {
        run_ok(&fleet, i, "sh", &["-c", "printf %s \"$1\" > /srv/who.txt", "sh", &host.name]);
        logs.push(start_web_server(&fleet, i).1);
    }
    // Both listen on port 8080 of their own address: no conflict.
    for (i, host) in fleet.hosts().iter().enumerate() {
        let body = wait_for_http(SocketAddr::from((host.address, 8080)), "/who.txt", &logs[i]);
        assert_eq!(body, host.name);
    }
    // Hosts reach each other too, by name (the fleet's /etc/hosts).
    let code =
        "import urllib.request; print(urllib.request.urlopen('http://web2:8080/who.txt', timeout=10).read().decode())";
    assert_eq!(run_ok(&fleet, 0, "python3", &["-c", code]).trim(), "web2");
}

#[test]
fn hosts_reach_a_server_on_the_gateway() {
    if !is_root() {
        return;
    }
    let fleet = fleet(1);
    let listener = TcpListener::bind((fleet.gateway(), 0)).expect("listening on the gateway");
    let port = listener.local_addr().unwrap().port();
    let code = format!(
        "import socket; s = socket.create_connection(('fleet-gateway', {port}), timeout=10); s.sendall(b'hello from ' + socket.gethostname().encode()); s.close()"
    );
    // The connection completes in the listener's backlog, so the client finishes before accept.
    run_ok(&fleet, 0, "python3", &["-c", &code]);
    let (mut stream, peer) = listener.accept().unwrap();
    assert_eq!(peer.ip(), fleet.hosts()[0].address, "the host connects from its own address");
    let mut got = String::new();
    stream.read_to_string(&mut got).unwrap();
    assert_eq!(got, "hello from web1");
}

#[test]
fn kill_stops_a_host_and_destroy_removes_everything() {
    if !is_root() {
        return;
    }
    let fleet = fleet(2);
    let mut servers = Vec::new();
    for (i, host) in fleet.hosts().iter().enumerate() {
        run_ok(&fleet, i, "sh", &["-c", "echo ok > /srv/ok"]);
        let (pid, log) = start_web_server(&fleet, i);
        wait_for_http(SocketAddr::from((host.address, 8080)), "/ok", &log);
        servers.push((pid, log));
    }
    let addr0 = SocketAddr::from((fleet.hosts()[0].address, 8080));
    let addr1 = SocketAddr::from((fleet.hosts()[1].address, 8080));

    // SIGSTOP: host 1 goes silent (connections are accepted by the kernel, nothing answers); SIGCONT revives it.
    assert!(fleet.kill(1, Signal::SIGSTOP).unwrap() >= 2, "the server and its background child");
    assert!(http_get(addr1, "/ok", Duration::from_millis(500)).is_err(), "a stopped host must not answer");
    fleet.kill(1, Signal::SIGCONT).unwrap();
    wait_for_http(addr1, "/ok", &servers[1].1);

    // SIGKILL: host 0 crashes; every process in it is gone once kill returns.
    assert!(fleet.kill(0, Signal::SIGKILL).unwrap() >= 2, "the server and its background child");
    assert_eq!(fleet.pids(0).unwrap(), Vec::<u32>::new());
    let status = fleet.try_wait(servers[0].0).unwrap().expect("the server was reaped");
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
    let err = TcpStream::connect_timeout(&addr0, Duration::from_secs(2)).expect_err("host 0's port must be closed");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(http_get(addr1, "/ok", Duration::from_secs(5)).unwrap(), "ok\n", "host 1 is unaffected");
    assert_eq!(fleet.try_wait(servers[1].0).unwrap(), None);

    let bridge = fleet.bridge().to_string();
    let namespaces: Vec<String> = fleet.hosts().iter().map(|h| h.netns.clone()).collect();
    let pid1 = servers[1].0;
    let TestFleet { fleet, dir } = fleet;
    assert!(link_exists(&bridge));
    fleet.destroy().expect("destroy");
    let list = netns_list();
    for netns in &namespaces {
        assert!(!list.lines().any(|l| l.split_whitespace().next() == Some(netns)), "{netns} left in:\n{list}");
    }
    assert!(!link_exists(&bridge), "bridge {bridge} left behind");
    assert!(!Path::new("/run/ferry-fleet").join(&bridge).exists(), "registry entry left behind");
    assert!(!Path::new(&format!("/proc/{pid1}")).exists(), "host 1's server outlived destroy");
    drop(dir);
}

#[test]
fn parallel_fleets_get_distinct_bridges() {
    if !is_root() {
        return;
    }
    let barrier = Barrier::new(2);
    let (a, b) = std::thread::scope(|scope| {
        let make = || {
            let fleet = fleet(1);
            let seen = (fleet.bridge().to_string(), fleet.gateway(), fleet.hosts()[0].clone());
            assert_eq!(run_ok(&fleet, 0, "cat", &["/proc/sys/kernel/hostname"]).trim(), "web1");
            // Both fleets exist at the same time.
            barrier.wait();
            seen
        };
        let a = scope.spawn(make);
        let b = scope.spawn(make);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.0, b.0, "bridges");
    assert_ne!(a.1, b.1, "gateways");
    assert_ne!(a.2.netns, b.2.netns, "namespaces");
    assert_ne!(a.2.address, b.2.address, "addresses");
}

const HELPER_ENV: &str = "FERRY_FLEET_TEST_ABANDON";

/// Run by `cleanup_stale_removes_what_dead_owners_left`: creates a fleet with a running process
/// and dies without tearing it down.
#[test]
fn helper_abandon_fleet() {
    let Some(dir) = std::env::var_os(HELPER_ENV) else { return };
    let fleet = Fleet::create(FleetConfig::new(&dir, 1)).expect("creating the fleet");
    let pid = fleet.spawn(0, "sleep", &["1000"], NO_ENV, &Path::new(&dir).join("sleep.log")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fleet.pids(0).unwrap().contains(&pid) {
        assert!(Instant::now() < deadline, "sleep never entered the namespace");
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("ABANDONED {} {} {pid}", fleet.bridge(), fleet.hosts()[0].netns);
    io::stdout().flush().unwrap();
    std::process::abort();
}

#[test]
fn cleanup_stale_removes_what_dead_owners_left() {
    if !is_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["helper_abandon_fleet", "--exact", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find_map(|l| l.split_once("ABANDONED ").map(|(_, rest)| rest)).unwrap_or_else(|| {
        panic!("the helper did not abandon a fleet:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr))
    });
    let [bridge, netns, pid] = line.split(' ').collect::<Vec<_>>()[..] else { panic!("bad line {line}") };
    // A concurrent Fleet::create (another test) may already have cleaned it up.
    let was_there = link_exists(bridge);
    let removed = ferry_fleet::cleanup_stale().expect("cleanup_stale");
    if was_there {
        assert!(removed.iter().any(|r| r == bridge), "{bridge} not in {removed:?}");
        assert!(removed.iter().any(|r| r == netns), "{netns} not in {removed:?}");
    }
    assert!(!link_exists(bridge), "bridge {bridge} left behind");
    assert!(!netns_list().lines().any(|l| l.split_whitespace().next() == Some(netns)), "{netns} left behind");
    assert!(!Path::new("/run/ferry-fleet").join(bridge).exists(), "registry entry left behind");
    // The abandoned process was in the namespace: killed (and reaped by init) — allow it a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "the abandoned host's process {pid} survived cleanup");
        std::thread::sleep(Duration::from_millis(10));
    }
}
