//! `logs/scripts.log` in CodeDeploy's format.
//!
//! Every line is `YYYY-MM-DD HH:MM:SS <text>`: the local wall-clock time with
//! no UTC offset, as the CodeDeploy agent writes it. The texts the hook runner
//! writes are `LifecycleEvent - <event>`, `Script - <location>`,
//! `[stdout]<line>` and `[stderr]<line>`.
//!
//! # Local time
//! The time zone comes from [`jiff`] (`tz-system` + `tzdb-zoneinfo`, no bundled
//! database): `TZ` if set, else `/etc/localtime`, with names looked up in
//! `/usr/share/zoneinfo`. jiff caches the zone, so a line costs no file access.
//! When no zone can be found (a stripped-down container), times are UTC. This
//! avoids libc's `localtime_r`, which reads `TZ` through `getenv` and is not
//! safe against concurrent `setenv`.
//!
//! # Concurrency
//! The file is opened with `O_APPEND` and every line is written with a single
//! `write` under a mutex, straight to the file (no user-space buffer, so each
//! line is on disk, as far as the kernel is concerned, when `line` returns).
//! Several `ScriptsLog`s on the same file therefore never interleave within a
//! line.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

/// An append-only `scripts.log`, shared by the scripts of a deployment.
/// Lines are `YYYY-MM-DD HH:MM:SS <text>` in local time, flushed per line.
#[derive(Debug)]
pub struct ScriptsLog {
    file: Mutex<File>,
}

impl ScriptsLog {
    /// Opens (creating parents and the file if needed) the log at `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self { file: Mutex::new(file) })
    }

    /// Appends one line (a timestamp is prepended).
    ///
    /// Logging is best effort: a write error (disk full) is ignored rather
    /// than failing the script whose output it is.
    pub fn line(&self, text: &str) {
        let mut line = String::with_capacity(TIMESTAMP_LEN + 2 + text.len());
        push_timestamp(&mut line);
        line.push(' ');
        line.push_str(text);
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = file.write_all(line.as_bytes());
    }
}

/// Length of `YYYY-MM-DD HH:MM:SS`.
const TIMESTAMP_LEN: usize = 19;

/// Appends the current local time as `YYYY-MM-DD HH:MM:SS`.
fn push_timestamp(out: &mut String) {
    let now = jiff::Zoned::now().datetime();
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        now.year(),
        now.month(),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
}
