//! The command journal: one file per command under `state/commands/`, an
//! append-only log of the command's record, one JSON line per durable step
//! (append, then fdatasync; the directory is fsynced once, when the file is
//! created). The last complete line is the record: a line torn by a crash is
//! ignored, leaving the step before it. Appending costs one fsync and no
//! new inode per step, where replacing the file (write, fsync, rename, fsync
//! the directory) cost two and a new inode. See the crate documentation for
//! what the journal guarantees.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_proto::agent;
use serde::{Deserialize, Serialize};

use ferry_sigv4::hex;

/// Journal files untouched for this long are deleted.
pub(crate) const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

const SUFFIX: &str = ".json";
/// Ids longer than this are named by their hash (file names are limited to 255 bytes).
const MAX_PLAIN_NAME: usize = 150;

/// What the agent knows about one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CommandRecord {
    pub command_id: String,
    pub deployment_id: String,
    pub attempt: u32,
    /// Every event of the command, in order.
    pub events: Vec<String>,
    /// Unix seconds.
    pub received_at: u64,
    pub updated_at: u64,
    /// No more events of this command will run (all ran, one failed, the
    /// server refused or cancelled, or one was interrupted by a crash).
    #[serde(default)]
    pub done: bool,
    /// One per event that was started, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Step {
    pub event: String,
    pub state: StepState,
    pub started_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StepState {
    /// About to be reported `Started`, or running.
    Started,
    /// The server answered `proceed: false` (or refused the report): not run.
    Refused,
    /// Ran (or was settled as failed after a restart); report not yet acknowledged.
    Finished,
    /// Finished and acknowledged by the server (or refused by it for good).
    Reported,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Outcome {
    pub succeeded: bool,
    pub diagnostics: agent::Diagnostics,
    pub finished_at: u64,
}

impl CommandRecord {
    pub fn new(command: &agent::Command) -> Self {
        let now = unix_now();
        Self {
            command_id: command.id.clone(),
            deployment_id: command.spec.deployment_id.clone(),
            attempt: command.attempt,
            events: command.events.clone(),
            received_at: now,
            updated_at: now,
            done: false,
            steps: Vec::new(),
        }
    }

    /// True when some finished event has not been acknowledged by the server.
    pub fn has_unreported(&self) -> bool {
        self.steps.iter().any(|s| s.state == StepState::Finished)
    }

    /// Settles events interrupted by a crash (started, never finished) as
    /// failed; returns their names. The command is then done.
    pub fn fail_interrupted(&mut self, diagnostics: &agent::Diagnostics) -> Vec<String> {
        let mut interrupted = Vec::new();
        let now = unix_now();
        for step in &mut self.steps {
            if step.state == StepState::Started {
                step.state = StepState::Finished;
                step.outcome = Some(Outcome { succeeded: false, diagnostics: diagnostics.clone(), finished_at: now });
                interrupted.push(step.event.clone());
            }
        }
        if !interrupted.is_empty() {
            self.done = true;
        }
        interrupted
    }

    /// The report of a finished step.
    pub fn finished_report(&self, index: usize) -> Option<agent::EventReport> {
        let step = self.steps.get(index)?;
        let outcome = step.outcome.as_ref()?;
        Some(agent::EventReport {
            command_id: self.command_id.clone(),
            deployment_id: self.deployment_id.clone(),
            attempt: self.attempt,
            event: step.event.clone(),
            phase: agent::Phase::Finished,
            succeeded: outcome.succeeded,
            diagnostics: Some(outcome.diagnostics.clone()),
        })
    }
}

/// The journal directory.
#[derive(Debug, Clone)]
pub(crate) struct Journal {
    dir: PathBuf,
}

/// What [`Journal::load`] found.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub records: Vec<CommandRecord>,
    /// Ids of journal files that exist but cannot be read: never run them.
    pub unreadable: Vec<String>,
    /// How many expired files were deleted.
    pub pruned: usize,
}

impl Journal {
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, command_id: &str) -> PathBuf {
        self.dir.join(file_name(command_id))
    }

    /// Writes `record` durably (stamping `updated_at`), off the async threads.
    pub async fn save(&self, record: &mut CommandRecord) -> std::io::Result<()> {
        record.updated_at = unix_now();
        let path = self.path_of(&record.command_id);
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        tokio::task::spawn_blocking(move || append_durably(&path, &line)).await.map_err(std::io::Error::other)?
    }

    /// Reads every journal file, deleting those untouched for [`RETENTION`]
    /// (interrupted commands among them are dropped unreported, as
    /// CodeDeploy does: the server gave up on them long ago).
    pub fn load(&self, now: SystemTime) -> std::io::Result<Loaded> {
        let mut loaded = Loaded::default();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            if name.ends_with(".tmp") {
                // A write torn by a crash: the rename never happened, the old file stands.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let Some(stem) = name.strip_suffix(SUFFIX) else { continue };
            let record = std::fs::read(&path).map_err(|e| e.to_string()).and_then(|text| last_record(&text));
            let expired = |updated: SystemTime| now.duration_since(updated).is_ok_and(|age| age > RETENTION);
            match record {
                Ok(record) => {
                    if expired(UNIX_EPOCH + Duration::from_secs(record.updated_at)) {
                        tracing::info!(command = %record.command_id, "dropping a journal entry older than 24 h");
                        let _ = std::fs::remove_file(&path);
                        loaded.pruned += 1;
                    } else {
                        loaded.records.push(record);
                    }
                }
                Err(error) => {
                    let modified = entry.metadata().and_then(|m| m.modified()).unwrap_or(now);
                    if expired(modified) {
                        let _ = std::fs::remove_file(&path);
                        loaded.pruned += 1;
                        continue;
                    }
                    tracing::error!(file = %path.display(), %error, "unreadable journal file: its command will not be run");
                    if let Some(id) = unescape(stem) {
                        loaded.unreadable.push(id);
                    }
                }
            }
        }
        loaded.records.sort_by(|a, b| (a.received_at, &a.command_id).cmp(&(b.received_at, &b.command_id)));
        Ok(loaded)
    }

    /// Deletes journal files untouched for [`RETENTION`], except those of
    /// `active` commands; returns the ids deleted.
    pub fn prune(&self, now: SystemTime, active: &HashSet<String>) -> Vec<String> {
        let mut pruned = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return pruned };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else { continue };
            let id = unescape(stem);
            if id.as_ref().is_some_and(|id| active.contains(id)) {
                continue;
            }
            let modified = entry.metadata().and_then(|m| m.modified()).unwrap_or(now);
            if now.duration_since(modified).is_ok_and(|age| age > RETENTION)
                && std::fs::remove_file(entry.path()).is_ok()
            {
                pruned.extend(id);
            }
        }
        pruned
    }
}

/// Appends `line` to `path` (created mode 0600 if missing) and makes it durable.
fn append_durably(path: &Path, line: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    let created = !path.exists();
    let mut file = std::fs::OpenOptions::new().read(true).append(true).create(true).mode(0o600).open(path)?;
    // After a crash mid-append the file ends in a torn line: end it, so the
    // new record starts a line of its own.
    let len = file.metadata()?.len();
    let mut last = [0u8; 1];
    if len > 0 && file.read_at(&mut last, len - 1)? == 1 && last[0] != b'\n' {
        file.write_all(b"\n")?;
    }
    file.write_all(line)?;
    file.sync_data()?;
    if created {
        // The new name must survive a crash too.
        std::fs::File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()?;
    }
    Ok(())
}

/// The newest record of a journal file: its last complete, parseable line.
/// (A file of one pretty-printed record, as earlier agents wrote, parses whole.)
fn last_record(text: &[u8]) -> Result<CommandRecord, String> {
    if let Ok(record) = serde_json::from_slice::<CommandRecord>(text) {
        return Ok(record);
    }
    let mut last_error = "empty journal file".to_string();
    // Only newline-terminated lines are complete; a torn tail is skipped.
    let complete = match text.iter().rposition(|&b| b == b'\n') {
        Some(end) => &text[..end],
        None => &[][..],
    };
    for line in complete.split(|&b| b == b'\n').rev().filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<CommandRecord>(line) {
            Ok(record) => return Ok(record),
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(last_error)
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A file name for a command id: unreserved characters kept, the rest `%XX`
/// (so names are reversible, never hidden, never `..`); very long ids are
/// named `#<sha256>`.
fn file_name(command_id: &str) -> String {
    let mut name = String::new();
    for byte in command_id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            name.push(byte as char);
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    if name.is_empty() || name.len() > MAX_PLAIN_NAME {
        use sha2::Digest;
        name = format!("#{}", hex(&sha2::Sha256::digest(command_id.as_bytes())));
    }
    name + SUFFIX
}

fn unescape(stem: &str) -> Option<String> {
    if stem.starts_with('#') {
        return None;
    }
    let bytes = stem.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = stem.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> CommandRecord {
        CommandRecord {
            command_id: id.into(),
            deployment_id: "d-1".into(),
            attempt: 1,
            events: vec!["Install".into()],
            received_at: unix_now(),
            updated_at: 0,
            done: false,
            steps: vec![Step {
                event: "Install".into(),
                state: StepState::Started,
                started_at: unix_now(),
                outcome: None,
            }],
        }
    }

    #[test]
    fn file_names_are_safe_and_reversible() {
        for id in ["c-1", "a/b", "..", ".hidden", "x%y", "ünï"] {
            let name = file_name(id);
            assert!(!name.contains('/') && !name.starts_with('.'), "{name}");
            assert_eq!(unescape(name.strip_suffix(SUFFIX).unwrap()).as_deref(), Some(id));
        }
        let long = "x".repeat(400);
        let name = file_name(&long);
        assert!(name.starts_with('#') && name.len() < 100);
        assert_eq!(unescape(name.strip_suffix(SUFFIX).unwrap()), None);
    }

    #[tokio::test]
    async fn records_round_trip_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path().join("commands")).unwrap();
        let mut r = record("c/1");
        journal.save(&mut r).await.unwrap();
        assert!(r.updated_at > 0);
        std::fs::write(journal.dir().join("broken.json"), "{").unwrap();
        std::fs::write(journal.dir().join("c-2.json.tmp"), "{").unwrap();

        let loaded = journal.load(SystemTime::now()).unwrap();
        assert_eq!(loaded.records, vec![r.clone()]);
        assert_eq!(loaded.unreadable, vec!["broken".to_string()]);
        assert!(!journal.dir().join("c-2.json.tmp").exists());

        let later = SystemTime::now() + RETENTION + Duration::from_secs(60);
        let loaded = journal.load(later).unwrap();
        assert!(loaded.records.is_empty() && loaded.unreadable.is_empty());
        assert_eq!(loaded.pruned, 2);
        assert_eq!(std::fs::read_dir(journal.dir()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn the_last_complete_line_wins_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        let mut r = record("c");
        journal.save(&mut r).await.unwrap();
        r.steps[0].state = StepState::Finished;
        journal.save(&mut r).await.unwrap();
        let path = journal.path_of("c");
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
        assert_eq!(journal.load(SystemTime::now()).unwrap().records, vec![r.clone()]);

        // A crash in the middle of the third append.
        let mut torn = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut torn, br#"{"command_id":"c","deploy"#).unwrap();
        assert_eq!(journal.load(SystemTime::now()).unwrap().records, vec![r.clone()]);
        // The next step after the crash is not glued to the torn line.
        r.steps[0].state = StepState::Reported;
        journal.save(&mut r).await.unwrap();
        assert_eq!(journal.load(SystemTime::now()).unwrap().records, vec![r.clone()]);

        // A record written whole by an earlier agent, pretty-printed.
        std::fs::write(&path, serde_json::to_vec_pretty(&r).unwrap()).unwrap();
        assert_eq!(journal.load(SystemTime::now()).unwrap().records, vec![r]);
    }

    #[tokio::test]
    async fn prune_spares_active_commands() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        for id in ["a", "b"] {
            journal.save(&mut record(id)).await.unwrap();
        }
        let active: HashSet<String> = ["a".to_string()].into();
        assert!(journal.prune(SystemTime::now(), &active).is_empty());
        let pruned = journal.prune(SystemTime::now() + RETENTION * 2, &active);
        assert_eq!(pruned, vec!["b".to_string()]);
        assert_eq!(journal.load(SystemTime::now()).unwrap().records.len(), 1);
    }

    #[test]
    fn interrupted_events_fail_and_end_the_command() {
        let mut r = record("c");
        let diagnostics = crate::convert::to_proto_diagnostics(&ferry_host::Diagnostics::failed_after_restart());
        assert_eq!(r.fail_interrupted(&diagnostics), vec!["Install".to_string()]);
        assert!(r.done && r.has_unreported());
        let report = r.finished_report(0).unwrap();
        assert!(!report.succeeded);
        assert_eq!(report.diagnostics.unwrap().error_code, "FailedAfterRestart");
        assert!(r.fail_interrupted(&diagnostics).is_empty());
    }
}
