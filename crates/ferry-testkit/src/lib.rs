//! Fixtures for black-box tests (dev-dependency only): [`wait_for`] a
//! condition with a deadline instead of sleeping, [`Moto`], a real S3
//! API (`moto_server`) on a free loopback port, [`skip`], which says
//! loudly that a test did not run, [`git`], the git CLI with a fixed
//! identity and no user configuration, and container fixtures:
//! [`podman_available`] and [`busybox_image`].
//!
//! **Architecture Invariant:** knows nothing of ferry itself; production
//! crates never depend on it.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `git -C dir args…` as a test's fixed committer (no global or system
/// configuration, no signing); returns its trimmed stdout, panicking with
/// git's stderr when it fails.
pub fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=ferry", "-c", "user.email=ferry@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run git ({e}): apt-get install git"));
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Polls `check` until it returns `Some`, backing off from 5 ms to 100 ms;
/// panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// The directory [`skip`] also records skipped tests in, one file each
/// (`scripts/run-tests.py` sets it, counts them and fails the run).
pub const SKIPS_DIR_ENV: &str = "FERRY_TEST_SKIPS_DIR";

/// Reports the running test as skipped because of `reason`; the caller then
/// returns. libtest has no runtime skip, so a test that returns early counts
/// as passed: this makes it say so where nobody can miss it. It writes
/// `SKIPPED <binary>::<test>: <reason>` straight to fd 2 (`eprintln!` would
/// be captured by libtest and shown only for failures) and, when
/// [`SKIPS_DIR_ENV`] names a directory, a file there with the same line.
pub fn skip(reason: &str) {
    let line = format!("SKIPPED {}::{}: {reason}\n", test_binary(), test_name());
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(dir) = std::env::var_os(SKIPS_DIR_ENV) {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = std::path::Path::new(&dir).join(format!("{}-{n}.skip", std::process::id()));
        if let Err(e) = std::fs::write(&file, &line) {
            panic!("cannot record the skip in {}: {e}", file.display());
        }
    }
}

/// The test binary's name without cargo's hash (`fleet-0123456789abcdef` → `fleet`).
fn test_binary() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe.as_deref().and_then(|p| p.file_stem()).map(|s| s.to_string_lossy().into_owned());
    let stem = stem.unwrap_or_else(|| "?".into());
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => name.to_string(),
        _ => stem,
    }
}

/// libtest names each test's thread after the test (`module::test`).
fn test_name() -> String {
    std::thread::current().name().unwrap_or("?").to_string()
}

/// A free TCP port on loopback (free when asked; bind it soon).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

/// A running `moto_server`, killed when dropped.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts `moto_server` (`pip install 'moto[server]'`) and waits until it listens.
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run moto_server ({e}): pip install 'moto[server]'"));
        let mut moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        wait_for("moto_server to listen", Duration::from_secs(60), || {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!(
                    "moto_server exited with {status} before listening; is it installed? pip install 'moto[server]'"
                );
            }
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
        });
        moto
    }
}

/// A constant request rate against an HTTP address, from a few threads
/// with a keep-alive connection each, counting every answer that is not a
/// 2xx and every connection error, until [`Load::stop`].
pub struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<LoadReport>>,
}

/// What a [`Load`] saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub ok: u64,
    /// Answers with a status other than 2xx, by status.
    pub non_2xx: std::collections::BTreeMap<u16, u64>,
    /// Connections refused, reset or closed before an answer.
    pub errors: u64,
    /// The bodies of the answers, counted (what revision answered).
    pub bodies: std::collections::BTreeMap<String, u64>,
    /// The first few failures, for messages.
    pub failures: Vec<String>,
}

impl LoadReport {
    pub fn failed(&self) -> u64 {
        self.non_2xx.values().sum::<u64>() + self.errors
    }

    fn merge(&mut self, other: LoadReport) {
        self.ok += other.ok;
        self.errors += other.errors;
        for (k, v) in other.non_2xx {
            *self.non_2xx.entry(k).or_default() += v;
        }
        for (k, v) in other.bodies {
            *self.bodies.entry(k).or_default() += v;
        }
        self.failures.extend(other.failures);
        self.failures.truncate(10);
    }
}

impl Load {
    /// `GET path` at `rate` requests per second in all, over `connections` connections.
    pub fn start(addr: SocketAddr, path: &str, rate: u32, connections: u32) -> Load {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let interval = Duration::from_secs_f64(f64::from(connections) / f64::from(rate.max(1)));
        let threads = (0..connections)
            .map(|k| {
                let stop = stop.clone();
                let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
                std::thread::spawn(move || {
                    let mut report = LoadReport::default();
                    let mut stream: Option<TcpStream> = None;
                    let mut buf = vec![0u8; 64 * 1024];
                    let start = Instant::now() + interval * k / connections.max(1);
                    let mut i = 0u32;
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let due = start + interval * i;
                        i += 1;
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        if stream.is_none() {
                            match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                                Ok(s) => {
                                    let _ = s.set_nodelay(true);
                                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                                    stream = Some(s);
                                }
                                Err(e) => {
                                    report.errors += 1;
                                    if report.failures.len() < 10 {
                                        report.failures.push(format!("connect: {e}"));
                                    }
                                    continue;
                                }
                            }
                        }
                        let s = stream.as_mut().expect("connected");
                        match one_request(s, request.as_bytes(), &mut buf) {
                            Ok((status, body, keep)) => {
                                if (200..300).contains(&status) {
                                    report.ok += 1;
                                    *report.bodies.entry(body).or_default() += 1;
                                } else {
                                    *report.non_2xx.entry(status).or_default() += 1;
                                    if report.failures.len() < 10 {
                                        report.failures.push(format!("{status}: {body}"));
                                    }
                                }
                                if !keep {
                                    stream = None;
                                }
                            }
                            Err(e) => {
                                report.errors += 1;
                                if report.failures.len() < 10 {
                                    report.failures.push(e);
                                }
                                stream = None;
                            }
                        }
                    }
                    report
                })
            })
            .collect();
        Load { stop, threads }
    }

    pub fn stop(self) -> LoadReport {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut report = LoadReport::default();
        for t in self.threads {
            report.merge(t.join().expect("load thread"));
        }
        report
    }
}

/// One request on a keep-alive connection: (status, body, whether the
/// connection may be used again).
fn one_request(stream: &mut TcpStream, request: &[u8], buf: &mut [u8]) -> Result<(u16, String, bool), String> {
    use std::io::{Read, Write};
    stream.write_all(request).map_err(|e| format!("write: {e}"))?;
    let mut have = 0;
    loop {
        let n = stream.read(&mut buf[have..]).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("the connection closed before an answer".into());
        }
        have += n;
        let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") else {
            if have == buf.len() {
                return Err("answer head too long".into());
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let mut lines = head.lines();
        let status: u16 =
            lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut length = 0usize;
        let mut keep = true;
        for line in lines {
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("connection:") && lower.contains("close") {
                keep = false;
            }
        }
        let total = end + 4 + length;
        if total > buf.len() {
            return Err("answer body too long".into());
        }
        while have < total {
            let n = stream.read(&mut buf[have..]).map_err(|e| format!("read body: {e}"))?;
            if n == 0 {
                return Err("the connection closed in the middle of an answer".into());
            }
            have += n;
        }
        let body = String::from_utf8_lossy(&buf[end + 4..total]).trim().to_string();
        return Ok((status, body, keep));
    }
}

/// Whether container tests can run here: podman runs and this is root
/// (rootless podman is not set up on ferry's build hosts). When not, the
/// test is reported skipped through [`skip`] with what to do; the caller
/// then returns.
pub fn podman_available() -> bool {
    let euid = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(u32::MAX);
    if euid != 0 {
        skip("container tests need root (rootful podman); run them as root");
        return false;
    }
    match Command::new("podman").args(["version", "--format", "{{.Client.Version}}"]).output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            skip(&format!(
                "podman does not work here ({}); scripts/setup-podman.sh installs and configures it",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            false
        }
        Err(e) => {
            skip(&format!("podman is not installed ({e}); scripts/setup-podman.sh installs and configures it"));
            false
        }
    }
}

/// The tag of the image [`busybox_image`] makes.
pub const BUSYBOX_IMAGE: &str = "localhost/ferry-test-busybox:1";

/// A local image holding busybox-static (`/bin/busybox`, a link per applet,
/// `/bin/sh`) and an `/etc/passwd` with `root` and `nobody` (65534), made
/// once per machine with `podman import` (no registry is needed) and found
/// by its tag afterwards. Test binaries running at once take a lock file
/// first, so only one imports. Panics with what to install when it cannot.
pub fn busybox_image() -> String {
    let exists = || Command::new("podman").args(["image", "exists", BUSYBOX_IMAGE]).status().is_ok_and(|s| s.success());
    if exists() {
        return BUSYBOX_IMAGE.to_string();
    }
    let lock_path = std::env::temp_dir().join("ferry-test-busybox-image.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", lock_path.display()));
    lock.lock().unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    if exists() {
        return BUSYBOX_IMAGE.to_string();
    }
    let busybox =
        ["/bin/busybox", "/usr/bin/busybox"].into_iter().map(std::path::Path::new).find(|p| p.exists()).unwrap_or_else(
            || panic!("busybox is not installed: apt-get install busybox-static (scripts/setup-podman.sh)"),
        );
    let dir = std::env::temp_dir().join(format!("ferry-busybox-rootfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let root = dir.join("root");
    for sub in ["bin", "etc", "tmp", "root"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    let list = Command::new(busybox).arg("--list").output().expect("busybox --list");
    assert!(list.status.success(), "busybox --list failed: is {} busybox-static?", busybox.display());
    for applet in String::from_utf8_lossy(&list.stdout).lines().filter(|a| !a.is_empty() && *a != "busybox") {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    let tar = dir.join("rootfs.tar");
    let status = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").status().expect("run tar");
    assert!(status.success(), "tar of the busybox rootfs failed");
    let out = Command::new("podman").arg("import").arg(&tar).arg(BUSYBOX_IMAGE).output().expect("run podman import");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "podman import failed: {}", String::from_utf8_lossy(&out.stderr));
    BUSYBOX_IMAGE.to_string()
}
