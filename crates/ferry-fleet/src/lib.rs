//! A local fleet of isolated "hosts" on one Linux machine, for ferry's demo and black-box tests.
//!
//! ferry deploys one revision to many hosts, each running a `ferry agent`. To show and test that
//! on one machine, every host needs (a) its own view of the paths a revision installs to
//! (`/srv/hello/www`, `/var/www/app`, `/opt/...`), so the same absolute path holds different
//! files on different hosts, and (b) its own network address and port space, so the web server
//! each host runs on port 8080 answers at that host's own address. The agent must not know about
//! any of this: it runs unmodified, as it would on a real machine.
//!
//! # How
//!
//! * One Linux **bridge** per fleet in the root network namespace, `fbr<N>` with address
//!   `10.77.<N>.1/24` (the [gateway](Fleet::gateway): a ferry server in the root namespace listens
//!   there). N is claimed by creating the bridge; parallel test processes never collide.
//! * Per host `k` (1-based; index `k - 1` in [`Fleet::hosts`]): a **network namespace**
//!   `ferry-<N>-h<k>`, a veth pair `fv<N>h<k>` (root end, on the bridge) / `eth0` (in the
//!   namespace) with address `10.77.<N>.<10+k>/24`, `lo` up and a default route via the gateway.
//!   The root namespace reaches each host at its address; hosts reach each other across the
//!   bridge. The 10.77 addresses exist only inside this machine: nothing is NATed, forwarding is
//!   switched off on the bridge, so no packet from a host leaves the machine.
//! * Per host a **directory** `<fleet dir>/<host name>/` holding the host's copy of every
//!   isolated path (default [`DEFAULT_ISOLATED_PATHS`]: `/srv`, `/var/www`, `/opt`,
//!   `/etc/ferry-apps`). Every process of a host runs as
//!   `nsenter --net=/run/netns/<ns> unshare --mount --propagation unchanged --uts -- sh -c '<set
//!   hostname>; <make the mounts under the bind targets slaves>; <bind mounts>; exec "$@"' sh
//!   PROGRAM ARGS...`. The bind mounts of `<host dir>/srv` onto `/srv` etc. are seen by that
//!   process and its children only, never the root namespace (the mounts they land on are made
//!   slaves first); `unshare --uts` gives it its own hostname (the host's name). Everything else
//!   (users, `/tmp`, `/usr`, the ferry binaries, `/sys` with its cgroup mounts) is shared with
//!   the machine, and `/run/netns` keeps propagating both ways: podman on one host bind-mounts
//!   each container's network namespace there, and podman on every other host (and the
//!   machine) must see that mount, or `podman ps` fails for all of them. (Not `ip netns exec`:
//!   it mounts a fresh `/sys` without the cgroup hierarchies, where container engines cannot
//!   start containers, and makes every mount a slave.)
//! * **Names**: each host's `/etc/hosts` (bind-mounted from `<host dir>/.fleet/hosts`) lists
//!   every host's name and address and `fleet-gateway`, so hooks can `curl http://web2:8080`.
//!   Its `/etc/resolv.conf` names no reachable server (`127.0.0.1`): the machine's name server is
//!   out of the hosts' reach (nothing is forwarded), and without this every lookup of an unknown
//!   name would hang until the resolver's timeout (Python's `http.server` does one at startup:
//!   10 s).
//! * Processes are tracked by network namespace (every process whose `/proc/<pid>/ns/net` is the
//!   host's, what `ip netns pids` lists), which reaches hook scripts the agent started, daemons
//!   that left their process group, and commands started with [`Fleet::command`].
//!
//! # What it needs
//!
//! * **root**, or rather the capabilities root has: CAP_NET_ADMIN (bridge, veths, addresses) and
//!   CAP_SYS_ADMIN (network and mount namespaces, bind mounts). An unprivileged container does not
//!   have them; [`Fleet::create`] then fails with [`FleetError::Prerequisite`] saying so.
//! * **iproute2** (`ip`), **util-linux** (`unshare`, `mount`) and `sh`.
//! * A kernel with network namespaces, veth and bridge support (any distribution kernel).
//!
//! # Side effects outside the fleet directory
//!
//! * A mountpoint of an isolated path that does not exist in the root filesystem (e.g. `/var/www`)
//!   is created there as an empty directory, and left in place (other fleets may be using it).
//! * `/run/ferry-fleet/` holds a lock file and one registry entry per live fleet (`fbr<N>`: the
//!   owner's pid and start time). [`cleanup_stale`] (also run by [`Fleet::create`]) removes the
//!   bridge, namespaces and veths of entries whose owner is dead, so crashed test runs do not
//!   exhaust the 256 subnets. It only touches names of exactly the patterns above that a registry
//!   entry claims.
//! * `/run/netns/ferry-*` (by `ip netns add`) while the fleet lives.
//!
//! The fleet directory itself, with each host's files and the logs, is left for the caller to
//! inspect or delete.
//!
//! # Example
//!
//! ```no_run
//! use ferry_fleet::{Fleet, FleetConfig, Signal};
//!
//! let fleet = Fleet::create(FleetConfig::new("/tmp/fleet", 3))?;
//! let web1 = &fleet.hosts()[0];
//! let out = fleet.run(0, "sh", &["-c", "echo hello > /srv/x; cat /srv/x; hostname"])?;
//! assert_eq!(out.stdout, b"hello\nhost1\n");
//! fleet.spawn(0, "python3", &["-m", "http.server", "8080", "--directory", "/srv"], &[] as &[(&str, &str)],
//!     std::path::Path::new("/tmp/fleet/web1.log"))?;
//! println!("http://{}:8080/x", web1.address);
//! fleet.kill(0, Signal::SIGKILL)?; // the host "crashes"
//! fleet.destroy()?;
//! # Ok::<(), ferry_fleet::FleetError>(())
//! ```

mod registry;
mod sys;

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::killpg;
use nix::unistd::Pid;

pub use nix::sys::signal::Signal;

/// The paths each host gets its own copy of unless configured otherwise.
pub const DEFAULT_ISOLATED_PATHS: [&str; 4] = ["/srv", "/var/www", "/opt", "/etc/ferry-apps"];

/// The most hosts a fleet can have (addresses `10.77.<N>.11` to `10.77.<N>.254`).
pub const MAX_HOSTS: usize = 244;

/// A host's `/etc/hosts` and `/etc/resolv.conf`, relative to its directory.
const HOSTS_FILE: &str = ".fleet/hosts";
const RESOLV_CONF_FILE: &str = ".fleet/resolv.conf";

/// What [`Fleet::create`] builds.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Where the hosts' directories go (`<dir>/<host name>/`); created if missing. Must not be
    /// inside an isolated path.
    pub dir: PathBuf,
    /// How many hosts, 1 to [`MAX_HOSTS`].
    pub hosts: usize,
    /// Host names are `<prefix>1`, `<prefix>2`, ...: letters, digits and `-`.
    pub name_prefix: String,
    /// Absolute paths each host gets its own copy of (bind-mounted from its directory).
    pub isolated_paths: Vec<PathBuf>,
}

impl FleetConfig {
    /// `hosts` hosts named `host1`.. with the [`DEFAULT_ISOLATED_PATHS`].
    pub fn new(dir: impl Into<PathBuf>, hosts: usize) -> FleetConfig {
        FleetConfig {
            dir: dir.into(),
            hosts,
            name_prefix: "host".into(),
            isolated_paths: DEFAULT_ISOLATED_PATHS.iter().map(PathBuf::from).collect(),
        }
    }
}

/// One host of a fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// `<prefix><k>`; also the hostname its processes see.
    pub name: String,
    /// The network namespace, `ferry-<N>-h<k>`.
    pub netns: String,
    /// `10.77.<N>.<10+k>`: reachable from the root namespace and from the other hosts.
    pub address: Ipv4Addr,
    /// `<fleet dir>/<name>`: the host's isolated paths live below it, e.g. its `/srv` is `<dir>/srv`.
    pub dir: PathBuf,
}

/// Why a fleet operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The machine lacks something a fleet needs (root, iproute2, namespace support).
    #[error("ferry-fleet cannot run here: {0}")]
    Prerequisite(String),
    /// The [`FleetConfig`] is unusable.
    #[error("invalid fleet config: {0}")]
    Config(String),
    /// No host with that index.
    #[error("no host {index}: the fleet has {hosts} hosts (indexes 0..{hosts})")]
    NoSuchHost { index: usize, hosts: usize },
    /// [`Fleet::try_wait`] on a pid that [`Fleet::spawn`] did not return.
    #[error("process {0} was not spawned by this fleet")]
    NotSpawned(u32),
    /// All 256 bridge names / subnets are taken.
    #[error("no free bridge: fbr0..fbr255 (10.77.0-255.0/24) are all in use; run ferry_fleet::cleanup_stale()")]
    Exhausted,
    /// A system command failed.
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Processes did not go away in time.
    #[error("timed out: {0}")]
    Timeout(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> FleetError {
    let what = what.into();
    move |source| FleetError::Io { what, source }
}

#[derive(Debug)]
struct Tracked {
    host: usize,
    child: Child,
    status: Option<ExitStatus>,
}

impl Tracked {
    fn reap(&mut self) {
        if self.status.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.status = Some(status);
        }
    }
}

/// A fleet of isolated hosts. Owns the bridge, the namespaces and every process it spawned;
/// [`destroy`](Fleet::destroy) (or drop) removes them all.
#[derive(Debug)]
pub struct Fleet {
    subnet: u8,
    bridge: String,
    hosts: Vec<Host>,
    isolated_paths: Vec<PathBuf>,
    processes: Mutex<Vec<Tracked>>,
    torn_down: bool,
}

impl Fleet {
    /// Builds the bridge, the hosts' namespaces and directories. Fails with
    /// [`FleetError::Prerequisite`] saying what is missing when not root, without iproute2 or
    /// without namespace support. First removes what crashed fleets left behind ([`cleanup_stale`]).
    pub fn create(config: FleetConfig) -> Result<Fleet, FleetError> {
        preflight()?;
        let isolated_paths = validate(&config)?;
        fs::create_dir_all(&config.dir).map_err(io_err(format!("creating {}", config.dir.display())))?;
        let dir = fs::canonicalize(&config.dir).map_err(io_err(format!("resolving {}", config.dir.display())))?;
        sys::utf8(dir.as_os_str(), "the fleet directory")?;
        if let Some(p) = isolated_paths.iter().find(|p| dir.starts_with(p)) {
            return Err(FleetError::Config(format!(
                "the fleet directory {} is inside the isolated path {}: hosts would not see it",
                dir.display(),
                p.display()
            )));
        }
        for path in &isolated_paths {
            fs::create_dir_all(path).map_err(io_err(format!("creating the mountpoint {}", path.display())))?;
        }

        let subnet = claim_subnet(&dir)?;
        // From here on, dropping `fleet` undoes whatever part was built.
        let mut fleet = Fleet {
            subnet,
            bridge: registry::bridge_name(subnet),
            hosts: Vec::new(),
            isolated_paths,
            processes: Mutex::new(Vec::new()),
            torn_down: false,
        };
        fleet.set_up_bridge()?;
        for k in 1..=config.hosts {
            fleet.add_host(k, &dir, &config.name_prefix)?;
        }
        fleet.write_name_files()?;
        Ok(fleet)
    }

    /// The hosts, in order: index `i` is host `<prefix><i+1>`.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The host at `index`.
    pub fn host(&self, index: usize) -> Result<&Host, FleetError> {
        self.hosts.get(index).ok_or(FleetError::NoSuchHost { index, hosts: self.hosts.len() })
    }

    /// The bridge's address, `10.77.<N>.1`: how hosts reach a server in the root namespace (listen
    /// on `<gateway>:<port>`, or on `0.0.0.0`).
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.subnet, 1)
    }

    /// The bridge's name, `fbr<N>`.
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// Where `path` (an absolute path as the host sees it, under one of the isolated paths) lives
    /// in the root namespace, e.g. `/srv/x` of host 0 → `<fleet dir>/host1/srv/x`. `None` if
    /// `path` is not under an isolated path (the host shares it with the machine).
    pub fn host_path(&self, index: usize, path: impl AsRef<Path>) -> Result<Option<PathBuf>, FleetError> {
        let host = self.host(index)?;
        let path = path.as_ref();
        let normal = path.components().skip(1).all(|c| matches!(c, Component::Normal(_)));
        if !normal || !self.isolated_paths.iter().any(|p| path.starts_with(p)) {
            return Ok(None);
        }
        Ok(path.strip_prefix("/").ok().map(|rel| host.dir.join(rel)))
    }

    /// A command that runs `program args` inside the host (its network namespace, hostname and
    /// isolated paths), with the working directory `/` and this process's environment. It is
    /// not tracked like [`spawn`](Fleet::spawn)'s, but [`kill`](Fleet::kill) and
    /// [`destroy`](Fleet::destroy) still reach it through the namespace.
    pub fn command<S: AsRef<OsStr>>(
        &self,
        index: usize,
        program: impl AsRef<OsStr>,
        args: &[S],
    ) -> Result<Command, FleetError> {
        let host = self.host(index)?;
        let mut script = String::from("set -e\n");
        script.push_str(&format!("printf %s {} > /proc/sys/kernel/hostname\n", sys::sh_quote(&host.name)));
        // The mounts the bind mounts below land on stop propagating to the
        // machine (the rest, /run/netns among them, keep their propagation).
        let targets: Vec<String> = self
            .isolated_paths
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .chain(["/etc/hosts".to_string(), "/etc/resolv.conf".to_string()])
            .collect();
        script.push_str(&format!(
            "for t in {}; do if [ -e \"$t\" ]; then mount --make-slave \"$(findmnt -n -o TARGET --target \"$t\")\"; fi; done\n",
            targets.iter().map(|t| sys::sh_quote(t)).collect::<Vec<_>>().join(" ")
        ));
        for path in &self.isolated_paths {
            // Both are valid UTF-8: checked by `create`.
            let target = path.to_string_lossy();
            let source = host.dir.join(path.strip_prefix("/").unwrap_or(path));
            script.push_str(&format!(
                "mount --bind {} {}\n",
                sys::sh_quote(&source.to_string_lossy()),
                sys::sh_quote(&target)
            ));
        }
        for (file, target) in [(HOSTS_FILE, "/etc/hosts"), (RESOLV_CONF_FILE, "/etc/resolv.conf")] {
            let source = host.dir.join(file);
            script.push_str(&format!(
                "if [ -e {target} ]; then mount --bind {} {target}; fi\n",
                sys::sh_quote(&source.to_string_lossy())
            ));
        }
        script.push_str("exec \"$@\"\n");
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net={}/{}", sys::NETNS_DIR, host.netns))
            .args(["unshare", "--mount", "--propagation", "unchanged", "--uts", "--", "sh", "-c", &script, "sh"])
            .arg(program)
            .args(args)
            .current_dir("/");
        Ok(command)
    }

    /// Starts `program args` inside the host, in the background, in a process group of its own,
    /// with `env` added to this process's environment, stdin from /dev/null and stdout and stderr
    /// appended to `log`. Returns its pid (the program's own: the wrappers `exec`).
    pub fn spawn<S, K, V>(
        &self,
        index: usize,
        program: impl AsRef<OsStr>,
        args: &[S],
        env: &[(K, V)],
        log: &Path,
    ) -> Result<u32, FleetError>
    where
        S: AsRef<OsStr>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let mut command = self.command(index, program.as_ref(), args)?;
        let log_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(io_err(format!("opening the log {}", log.display())))?;
        let log_err = log_file.try_clone().map_err(io_err(format!("opening the log {}", log.display())))?;
        command
            .envs(env.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .process_group(0);
        let child = command.spawn().map_err(io_err(format!(
            "starting {} on {}",
            program.as_ref().to_string_lossy(),
            self.hosts[index].name
        )))?;
        let pid = child.id();
        self.processes().push(Tracked { host: index, child, status: None });
        Ok(pid)
    }

    /// Runs `program args` inside the host and waits for it; stdout and stderr are captured.
    /// A non-zero exit is not an error: look at `status`.
    pub fn run<S: AsRef<OsStr>>(
        &self,
        index: usize,
        program: impl AsRef<OsStr>,
        args: &[S],
    ) -> Result<Output, FleetError> {
        let name = program.as_ref().to_string_lossy().into_owned();
        self.command(index, program, args)?
            .output()
            .map_err(io_err(format!("running {name} on {}", self.hosts[index].name)))
    }

    /// Sends `signal` to every process of the host: every process in its network namespace, and
    /// the process groups of what [`spawn`](Fleet::spawn) started there. `SIGKILL` simulates a
    /// crash and returns once no process is left in the namespace (repeating the signal for
    /// processes forked meanwhile); `SIGSTOP` a host gone silent, `SIGCONT` its recovery.
    /// Returns how many processes in the namespace were signalled.
    pub fn kill(&self, index: usize, signal: Signal) -> Result<usize, FleetError> {
        let host = self.host(index)?;
        let deadline = Instant::now() + registry::KILL_DEADLINE;
        let count = sys::signal_netns(&host.netns, signal, false, deadline)?;
        {
            // Also the process groups: they reach a process still on its way into the namespace.
            let mut processes = self.processes();
            for tracked in processes.iter_mut().filter(|t| t.host == index) {
                tracked.reap();
                if tracked.status.is_none() {
                    // Still our unreaped child, so its pid (= its process group id) is not reused.
                    let _ = killpg(Pid::from_raw(tracked.child.id() as i32), signal);
                }
            }
        }
        if signal == Signal::SIGKILL {
            sys::signal_netns(&host.netns, signal, true, deadline)?;
            self.reap_until(Some(index), deadline);
        }
        Ok(count)
    }

    /// The pids of every process running in the host's network namespace.
    pub fn pids(&self, index: usize) -> Result<Vec<u32>, FleetError> {
        let host = self.host(index)?;
        Ok(sys::netns_pids(&host.netns).into_iter().map(|pid| pid as u32).collect())
    }

    /// The exit status of a process [`spawn`](Fleet::spawn) started, `None` while it runs.
    pub fn try_wait(&self, pid: u32) -> Result<Option<ExitStatus>, FleetError> {
        let mut processes = self.processes();
        let tracked = processes.iter_mut().find(|t| t.child.id() == pid).ok_or(FleetError::NotSpawned(pid))?;
        tracked.reap();
        Ok(tracked.status)
    }

    /// Kills every process of every host and deletes the namespaces, veths and bridge. Dropping
    /// the fleet does the same, printing errors instead of returning them.
    pub fn destroy(mut self) -> Result<(), FleetError> {
        self.teardown()
    }

    fn processes(&self) -> MutexGuard<'_, Vec<Tracked>> {
        self.processes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reaps spawned processes (of one host, or all) until all have exited or `deadline` passes.
    fn reap_until(&self, host: Option<usize>, deadline: Instant) {
        loop {
            let mut processes = self.processes();
            let mut running = false;
            for tracked in processes.iter_mut().filter(|t| host.is_none_or(|h| t.host == h)) {
                tracked.reap();
                running |= tracked.status.is_none();
            }
            drop(processes);
            if !running || Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn set_up_bridge(&self) -> Result<(), FleetError> {
        let cidr = format!("{}/24", self.gateway());
        sys::ip_ok(&["addr", "add", &cidr, "dev", &self.bridge])?;
        // Never route a host's packets anywhere: with forwarding off on the bridge, packets to
        // addresses other than the root namespace's own are dropped even if the machine has
        // net.ipv4.ip_forward=1. (Host-to-host traffic is switched by the bridge, not routed.)
        let forwarding = format!("/proc/sys/net/ipv4/conf/{}/forwarding", self.bridge);
        if let Err(e) = fs::write(&forwarding, "0") {
            let global = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
            if global.trim() != "0" {
                return Err(io_err(format!("writing {forwarding}"))(e));
            }
        }
        sys::ip_ok(&["link", "set", "dev", &self.bridge, "up"])
    }

    fn add_host(&mut self, k: usize, dir: &Path, prefix: &str) -> Result<(), FleetError> {
        let n = self.subnet;
        let name = format!("{prefix}{k}");
        let host = Host {
            dir: dir.join(&name),
            name,
            netns: registry::netns_name(n, k),
            address: Ipv4Addr::new(10, 77, n, 10 + k as u8),
        };
        let veth = registry::veth_name(n, k);
        let ns = host.netns.as_str();
        let cidr = format!("{}/24", host.address);
        let gateway = self.gateway().to_string();
        self.hosts.push(host.clone());
        sys::ip_ok(&["netns", "add", ns])?;
        sys::ip_ok(&["link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", ns])?;
        sys::ip_ok(&["link", "set", "dev", &veth, "master", &self.bridge, "up"])?;
        sys::ip_ok(&["-n", ns, "addr", "add", &cidr, "dev", "eth0"])?;
        sys::ip_ok(&["-n", ns, "link", "set", "dev", "eth0", "up"])?;
        sys::ip_ok(&["-n", ns, "link", "set", "dev", "lo", "up"])?;
        sys::ip_ok(&["-n", ns, "route", "add", "default", "via", &gateway])?;
        for path in &self.isolated_paths {
            let own = host.dir.join(path.strip_prefix("/").unwrap_or(path));
            fs::create_dir_all(&own).map_err(io_err(format!("creating {}", own.display())))?;
        }
        Ok(())
    }

    /// Each host's `/etc/hosts` (every host's name, and `fleet-gateway`) and `/etc/resolv.conf`
    /// (no reachable name server: lookups fail at once instead of timing out, since the
    /// machine's name server is out of the hosts' reach).
    fn write_name_files(&self) -> Result<(), FleetError> {
        let mut hosts =
            String::from("# written by ferry-fleet\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        hosts.push_str(&format!("{}\tfleet-gateway\n", self.gateway()));
        for host in &self.hosts {
            hosts.push_str(&format!("{}\t{}\n", host.address, host.name));
        }
        let resolv =
            "# written by ferry-fleet: hosts reach no name server; names are in /etc/hosts\nnameserver 127.0.0.1\n";
        for host in &self.hosts {
            for (file, content) in [(HOSTS_FILE, hosts.as_str()), (RESOLV_CONF_FILE, resolv)] {
                let path = host.dir.join(file);
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
                }
                fs::write(&path, content).map_err(io_err(format!("writing {}", path.display())))?;
            }
        }
        Ok(())
    }

    fn teardown(&mut self) -> Result<(), FleetError> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        for tracked in self.processes().iter_mut() {
            tracked.reap();
            if tracked.status.is_none() {
                let _ = killpg(Pid::from_raw(tracked.child.id() as i32), Signal::SIGKILL);
            }
        }
        let (_, err) = registry::remove_subnet(self.subnet);
        self.reap_until(None, Instant::now() + Duration::from_secs(5));
        match err {
            // The registry entry stays; cleanup_stale retries once this process is gone.
            Some(e) => Err(e),
            None => {
                registry::release_entry(self.subnet);
                Ok(())
            }
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("ferry-fleet: tearing down {}: {e}", self.bridge);
        }
    }
}

/// Removes the bridges, namespaces and veths of fleets whose owning process is dead (a test run
/// that crashed or was killed). Safe to call any time, from any process: live fleets, and
/// anything not registered under `/run/ferry-fleet/`, are left alone. Returns the names of the
/// removed network objects.
pub fn cleanup_stale() -> Result<Vec<String>, FleetError> {
    preflight()?;
    let lock = registry::lock()?;
    registry::cleanup_stale_locked(&lock)
}

/// Claims a subnet N: registers this process as its owner and creates bridge `fbr<N>`.
fn claim_subnet(dir: &Path) -> Result<u8, FleetError> {
    let lock = registry::lock()?;
    if let Err(e) = registry::cleanup_stale_locked(&lock) {
        eprintln!("ferry-fleet: cleaning up stale fleets: {e}");
    }
    for n in 0..=u8::MAX {
        if !registry::claim_entry(&lock, n, dir)? {
            continue;
        }
        let bridge = registry::bridge_name(n);
        let attempt = sys::subnet_in_use(&format!("10.77.{n}.0/24")).and_then(|in_use| {
            if in_use {
                return Ok(false);
            }
            match sys::ip(&["link", "add", &bridge, "type", "bridge"]) {
                Ok(()) => Ok(true),
                // Not ours (not registered): leave it alone, try the next name.
                Err(sys::IpFailure::Exists) => Ok(false),
                Err(sys::IpFailure::Missing) => {
                    Err(FleetError::Command { command: format!("ip link add {bridge} type bridge"), stderr: "".into() })
                }
                Err(sys::IpFailure::Other(e)) => Err(e),
            }
        });
        match attempt {
            Ok(true) => return Ok(n),
            Ok(false) => registry::release_entry(n),
            Err(e) => {
                registry::release_entry(n);
                return Err(e);
            }
        }
    }
    Err(FleetError::Exhausted)
}

fn preflight() -> Result<(), FleetError> {
    if !nix::unistd::geteuid().is_root() {
        return Err(FleetError::Prerequisite(
            "it must run as root: it creates a bridge, network namespaces and bind mounts, which need \
             CAP_NET_ADMIN and CAP_SYS_ADMIN"
                .into(),
        ));
    }
    if !Path::new("/proc/self/ns/net").exists() {
        return Err(FleetError::Prerequisite("the kernel has no network namespaces (CONFIG_NET_NS)".into()));
    }
    for (tool, package) in [
        ("ip", "iproute2"),
        ("unshare", "util-linux"),
        ("nsenter", "util-linux"),
        ("mount", "util-linux"),
        ("findmnt", "util-linux"),
        ("sh", "a shell"),
    ] {
        if !in_path(tool) {
            return Err(FleetError::Prerequisite(format!("`{tool}` is not in PATH; install {package}")));
        }
    }
    Ok(())
}

fn in_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// Checks the config; returns the isolated paths sorted (parents before children) and deduplicated.
fn validate(config: &FleetConfig) -> Result<Vec<PathBuf>, FleetError> {
    if config.hosts == 0 || config.hosts > MAX_HOSTS {
        return Err(FleetError::Config(format!("hosts must be 1 to {MAX_HOSTS}, not {}", config.hosts)));
    }
    let prefix = &config.name_prefix;
    if prefix.is_empty() || prefix.len() > 60 || !prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(FleetError::Config(format!(
            "name_prefix must be 1 to 60 letters, digits or '-' (it makes hostnames), not {prefix:?}"
        )));
    }
    let mut paths = Vec::new();
    for path in &config.isolated_paths {
        sys::utf8(path.as_os_str(), "an isolated path")?;
        let mut components = path.components();
        let absolute = components.next() == Some(Component::RootDir);
        let normal: Vec<_> = components.collect();
        if !absolute || normal.is_empty() || !normal.iter().all(|c| matches!(c, Component::Normal(_))) {
            return Err(FleetError::Config(format!(
                "isolated paths must be absolute, normalized and not /: {}",
                path.display()
            )));
        }
        paths.push(normal.iter().fold(PathBuf::from("/"), |p, c| p.join(c)));
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_can_be_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Fleet>();
    }

    #[test]
    fn validates_config() {
        let ok = FleetConfig::new("/tmp/f", 2);
        assert_eq!(validate(&ok).unwrap(), ["/etc/ferry-apps", "/opt", "/srv", "/var/www"].map(PathBuf::from).to_vec());
        let bad = |f: fn(&mut FleetConfig)| {
            let mut config = FleetConfig::new("/tmp/f", 2);
            f(&mut config);
            assert!(matches!(validate(&config), Err(FleetError::Config(_))), "{config:?}");
        };
        bad(|c| c.hosts = 0);
        bad(|c| c.hosts = MAX_HOSTS + 1);
        bad(|c| c.name_prefix = String::new());
        bad(|c| c.name_prefix = "a b".into());
        bad(|c| c.isolated_paths = vec!["srv".into()]);
        bad(|c| c.isolated_paths = vec!["/".into()]);
        bad(|c| c.isolated_paths = vec!["/srv/../etc".into()]);
        let mut nested = FleetConfig::new("/tmp/f", 1);
        nested.isolated_paths = vec!["/var/www/".into(), "/var".into(), "/var/www".into()];
        assert_eq!(validate(&nested).unwrap(), ["/var", "/var/www"].map(PathBuf::from).to_vec());
    }
}
