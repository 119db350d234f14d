//! `logs/scripts.log` in CodeDeploy's format. (Being written.)

use std::path::Path;

/// An append-only `scripts.log`, shared by the scripts of a deployment.
/// Lines are `YYYY-MM-DD HH:MM:SS <text>` in local time, flushed per line.
#[derive(Debug)]
pub struct ScriptsLog {
    _private: (),
}

impl ScriptsLog {
    /// Opens (creating parents and the file if needed) the log at `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let _ = path;
        Ok(Self { _private: () })
    }

    /// Appends one line (a timestamp is prepended).
    pub fn line(&self, text: &str) {
        let _ = text;
    }
}
