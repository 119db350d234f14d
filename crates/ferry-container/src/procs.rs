//! Finding and killing processes by a marker in their environment
//! (`NAME=value`, see [`crate::ENV_ID_VAR`]), on the host's `/proc`. This
//! reaches processes that left their process group or session (`setsid`,
//! daemons) and processes inside containers, which are host processes too.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The host pids of live processes whose environment holds `name=value`.
pub fn marked(name: &str, value: &str) -> Vec<i32> {
    let needle = format!("{name}={value}");
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let own = std::process::id() as i32;
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != own)
        .filter(|&pid| match std::fs::read(format!("/proc/{pid}/environ")) {
            Ok(environ) => environ.split(|&b| b == 0).any(|var| var == needle.as_bytes()),
            Err(_) => false,
        })
        .collect()
}

/// SIGKILLs every process marked `name=value`, again until none is left
/// (a process may fork while we scan). Zombies are gone from the scan (their
/// environ reads empty), so this returns once nothing marked can run.
pub fn kill_marked(name: &str, value: &str) {
    for _ in 0..50 {
        let pids = marked(name, value);
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}
