//! Thin wrappers over the system: `ip`, `/proc`, signals.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::FleetError;

/// Where `ip netns add` puts its namespace handles.
pub(crate) const NETNS_DIR: &str = "/run/netns";

/// How an `ip` invocation failed, when it did not simply succeed.
pub(crate) enum IpFailure {
    /// The object already exists (`File exists`).
    Exists,
    /// The object does not exist (deleting something already gone).
    Missing,
    /// Anything else.
    Other(FleetError),
}

/// Runs `ip <args>`; maps the typical failures to [`IpFailure`].
pub(crate) fn ip(args: &[&str]) -> Result<(), IpFailure> {
    let output = match Command::new("ip").args(args).output() {
        Ok(output) => output,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(IpFailure::Other(FleetError::Prerequisite(
                "the `ip` command (iproute2) is not in PATH; install iproute2".into(),
            )));
        }
        Err(e) => return Err(IpFailure::Other(FleetError::Io { what: "running `ip`".into(), source: e })),
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if stderr.contains("File exists") {
        return Err(IpFailure::Exists);
    }
    if stderr.contains("Cannot find device")
        || stderr.contains("No such file or directory")
        || stderr.contains("does not exist")
    {
        return Err(IpFailure::Missing);
    }
    let command = format!("ip {}", args.join(" "));
    if stderr.contains("Operation not permitted") || stderr.contains("Permission denied") {
        return Err(IpFailure::Other(FleetError::Prerequisite(format!(
            "`{command}` failed: {stderr}. ferry-fleet needs root with CAP_NET_ADMIN and CAP_SYS_ADMIN \
             (an unprivileged container or a user namespace without them cannot create bridges and namespaces)"
        ))));
    }
    Err(IpFailure::Other(FleetError::Command { command, stderr }))
}

/// Runs `ip <args>` and requires success.
pub(crate) fn ip_ok(args: &[&str]) -> Result<(), FleetError> {
    ip(args).map_err(|failure| match failure {
        IpFailure::Other(e) => e,
        IpFailure::Exists => {
            FleetError::Command { command: format!("ip {}", args.join(" ")), stderr: "File exists".into() }
        }
        IpFailure::Missing => {
            FleetError::Command { command: format!("ip {}", args.join(" ")), stderr: "does not exist".into() }
        }
    })
}

/// Runs `ip <args>` to delete something; "already gone" counts as success.
pub(crate) fn ip_delete(args: &[&str]) -> Result<(), FleetError> {
    match ip(args) {
        Ok(()) | Err(IpFailure::Missing) => Ok(()),
        Err(IpFailure::Exists) => Ok(()),
        Err(IpFailure::Other(e)) => Err(e),
    }
}

/// `ip -o -4 addr show to <cidr>` printed something: the subnet is in use on some interface.
pub(crate) fn subnet_in_use(cidr: &str) -> Result<bool, FleetError> {
    let output = Command::new("ip")
        .args(["-o", "-4", "addr", "show", "to", cidr])
        .output()
        .map_err(|e| FleetError::Io { what: "running `ip addr show`".into(), source: e })?;
    Ok(!output.stdout.iter().all(u8::is_ascii_whitespace))
}

/// Names of the entries of a directory (empty if it does not exist).
pub(crate) fn dir_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect()
}

/// Every process whose network namespace is the named one (what `ip netns pids` prints).
pub(crate) fn netns_pids(netns: &str) -> Vec<i32> {
    let Ok(target) = fs::metadata(Path::new(NETNS_DIR).join(netns)) else { return Vec::new() };
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    let own = std::process::id() as i32;
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != own)
        .filter(|pid| {
            // A process that exits meanwhile (or a zombie, which has no namespaces left) fails here.
            fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|m| m.dev() == target.dev() && m.ino() == target.ino())
        })
        .collect()
}

/// Sends `signal` to every process in the namespace. With `until_empty`, repeats until the
/// namespace is empty (so processes forked meanwhile are caught too) or `deadline` passes: for
/// SIGKILL. Returns how many distinct processes were signalled.
pub(crate) fn signal_netns(
    netns: &str,
    signal: Signal,
    until_empty: bool,
    deadline: Instant,
) -> Result<usize, FleetError> {
    let mut signalled = std::collections::BTreeSet::new();
    loop {
        let pids = netns_pids(netns);
        if pids.is_empty() {
            return Ok(signalled.len());
        }
        for pid in pids {
            // ESRCH (already gone) is fine.
            let _ = kill(Pid::from_raw(pid), signal);
            signalled.insert(pid);
        }
        if !until_empty {
            return Ok(signalled.len());
        }
        if Instant::now() >= deadline {
            return Err(FleetError::Timeout(format!(
                "processes in network namespace {netns} survived SIGKILL: {:?}",
                netns_pids(netns)
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The start time of a process (field 22 of `/proc/<pid>/stat`), which together with the pid
/// identifies it across pid reuse. `None` if there is no such process.
pub(crate) fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain anything, ')' included.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // after_comm starts at field 3 (state); starttime is field 22.
    after_comm.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Quotes a string for `sh`.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `s` as UTF-8 or a config error naming `what`.
pub(crate) fn utf8<'a>(s: &'a OsStr, what: &str) -> Result<&'a str, FleetError> {
    s.to_str().ok_or_else(|| FleetError::Config(format!("{what} must be valid UTF-8: {}", s.to_string_lossy())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_sh() {
        assert_eq!(sh_quote("/srv"), "'/srv'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn own_start_time_is_readable() {
        let a = process_start_time(std::process::id()).expect("own /proc/<pid>/stat");
        assert_eq!(Some(a), process_start_time(std::process::id()));
    }
}
