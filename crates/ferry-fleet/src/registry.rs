//! Who owns which subnet: `/run/ferry-fleet/fbr<N>` names the owning process of bridge `fbr<N>`,
//! its namespaces `ferry-<N>-h<k>` and veths `fv<N>h<k>`. `/run` is a tmpfs, so the registry
//! vanishes on reboot together with the bridges and namespaces it describes.
//!
//! Claiming a subnet, and cleaning up after dead owners, happen under an exclusive `flock` on
//! `/run/ferry-fleet/lock`, so two processes never both claim N, and a cleaner never deletes a
//! bridge that another process has just created.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::FleetError;
use crate::sys::{self, NETNS_DIR};

pub(crate) const REGISTRY_DIR: &str = "/run/ferry-fleet";

/// How long to wait for SIGKILLed processes to leave a namespace.
pub(crate) const KILL_DEADLINE: Duration = Duration::from_secs(10);

/// The registry lock; released on drop.
pub(crate) struct Lock {
    _file: File,
}

pub(crate) fn lock() -> Result<Lock, FleetError> {
    let io_err = |what: &str| {
        let what = what.to_string();
        move |source| FleetError::Io { what, source }
    };
    fs::create_dir_all(REGISTRY_DIR).map_err(io_err(&format!("creating {REGISTRY_DIR}")))?;
    let path = Path::new(REGISTRY_DIR).join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&format!("opening {}", path.display())))?;
    file.lock().map_err(io_err(&format!("locking {}", path.display())))?;
    Ok(Lock { _file: file })
}

pub(crate) fn bridge_name(n: u8) -> String {
    format!("fbr{n}")
}

pub(crate) fn netns_name(n: u8, k: usize) -> String {
    format!("ferry-{n}-h{k}")
}

pub(crate) fn veth_name(n: u8, k: usize) -> String {
    format!("fv{n}h{k}")
}

fn entry_path(n: u8) -> PathBuf {
    Path::new(REGISTRY_DIR).join(bridge_name(n))
}

/// Records this process as the owner of subnet `n`. `Ok(false)` if `n` is already owned.
pub(crate) fn claim_entry(_lock: &Lock, n: u8, fleet_dir: &Path) -> Result<bool, FleetError> {
    let path = entry_path(n);
    let pid = std::process::id();
    let start = sys::process_start_time(pid).unwrap_or(0);
    let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(source) => return Err(FleetError::Io { what: format!("creating {}", path.display()), source }),
    };
    writeln!(file, "pid {pid}\nstart {start}\ndir {}", fleet_dir.display())
        .map_err(|source| FleetError::Io { what: format!("writing {}", path.display()), source })?;
    Ok(true)
}

pub(crate) fn release_entry(n: u8) {
    let _ = fs::remove_file(entry_path(n));
}

/// Whether the owner recorded in an entry is still running. An unreadable entry has no live owner.
fn owner_alive(path: &Path) -> bool {
    let Ok(text) = fs::read_to_string(path) else { return false };
    let field = |name: &str| {
        text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<u64>().ok())
    };
    let (Some(pid), Some(start)) = (field("pid"), field("start")) else { return false };
    let Ok(pid) = u32::try_from(pid) else { return false };
    sys::process_start_time(pid) == Some(start)
}

/// `name` is `<prefix><digits>`.
fn is_numbered(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// Kills every process in subnet `n`'s namespaces and deletes the namespaces, the veths and the
/// bridge. Only names of exactly our patterns are touched. Returns what was removed; keeps going
/// after errors and returns the first one.
pub(crate) fn remove_subnet(n: u8) -> (Vec<String>, Option<FleetError>) {
    let mut removed = Vec::new();
    let mut first_err = None;
    let deadline = Instant::now() + KILL_DEADLINE;
    let netns_prefix = format!("ferry-{n}-h");
    let namespaces: Vec<String> =
        sys::dir_names(Path::new(NETNS_DIR)).into_iter().filter(|name| is_numbered(name, &netns_prefix)).collect();
    for netns in &namespaces {
        if let Err(e) = sys::signal_netns(netns, Signal::SIGKILL, true, deadline) {
            first_err.get_or_insert(e);
        }
    }
    let veth_prefix = format!("fv{n}h");
    for veth in sys::dir_names(Path::new("/sys/class/net")).into_iter().filter(|name| is_numbered(name, &veth_prefix)) {
        match sys::ip_delete(&["link", "del", &veth]) {
            Ok(()) => removed.push(veth),
            Err(e) => _ = first_err.get_or_insert(e),
        }
    }
    for netns in namespaces {
        match sys::ip_delete(&["netns", "del", &netns]) {
            Ok(()) => removed.push(netns),
            Err(e) => _ = first_err.get_or_insert(e),
        }
    }
    let bridge = bridge_name(n);
    if Path::new("/sys/class/net").join(&bridge).exists() {
        match sys::ip_delete(&["link", "del", &bridge]) {
            Ok(()) => removed.push(bridge),
            Err(e) => _ = first_err.get_or_insert(e),
        }
    }
    (removed, first_err)
}

/// Removes the subnets whose registered owner is dead. Returns what was removed.
pub(crate) fn cleanup_stale_locked(lock: &Lock) -> Result<Vec<String>, FleetError> {
    let _ = lock;
    let mut removed = Vec::new();
    let mut first_err = None;
    for name in sys::dir_names(Path::new(REGISTRY_DIR)) {
        let Some(n) = name.strip_prefix("fbr").and_then(|rest| rest.parse::<u8>().ok()) else { continue };
        if name != bridge_name(n) || owner_alive(&entry_path(n)) {
            continue;
        }
        let (gone, err) = remove_subnet(n);
        removed.extend(gone);
        match err {
            // Keep the entry so that a later cleanup tries again.
            Some(e) => _ = first_err.get_or_insert(e),
            None => release_entry(n),
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names() {
        assert!(is_numbered("ferry-1-h2", "ferry-1-h"));
        assert!(!is_numbered("ferry-12-h2", "ferry-1-h"));
        assert!(!is_numbered("ferry-1-h", "ferry-1-h"));
        assert!(!is_numbered("ferry-1-h2x", "ferry-1-h"));
        assert!(is_numbered("fv3h10", "fv3h"));
        assert!(!is_numbered("fv31h0", "fv3h"));
    }
}
