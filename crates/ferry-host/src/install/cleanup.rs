//! Step 1: removing what the previous install of the group created, and the
//! writer that records what this install creates.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::InstallError;
use super::paths::{check_recordable, find_tool, is_absent};

/// The prefix of a cleanup line that records an SELinux file-context rule.
const SEMANAGE_PREFIX: &[u8] = b"semanage\0";

/// Removes every path listed in `cleanup_file` (the previous install of this
/// deployment group), newest first, then deletes `cleanup_file`. Does nothing
/// if the file does not exist.
///
/// - A last line without its `\n` (a write torn by a crash) is dropped.
/// - A symlink is removed, never followed; a directory is removed with
///   `rmdir`, and left alone if it is not empty; a file is removed; a path
///   that no longer exists is skipped; a relative path is ignored.
/// - `semanage\0<path>` removes that file-context rule with
///   `semanage fcontext -d <path>`; its outcome, and a host without
///   `semanage`, are ignored.
///
/// Any other failure (say `EACCES`) stops the cleanup with an error naming the
/// path and the cleanup file; the cleanup file is then kept.
pub fn cleanup_previous(cleanup_file: &Path) -> Result<(), InstallError> {
    let contents = match fs::read(cleanup_file) {
        Ok(contents) => contents,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(InstallError::io(format!("cannot read the cleanup file {}", cleanup_file.display()), e));
        }
    };
    // Only newline-terminated lines count: the last one may be torn.
    if let Some(end) = contents.iter().rposition(|&b| b == b'\n') {
        for line in contents[..end].split(|&b| b == b'\n').rev() {
            if let Some(path) = line.strip_prefix(SEMANAGE_PREFIX) {
                remove_context(Path::new(OsStr::from_bytes(path)));
            } else {
                remove_path(Path::new(OsStr::from_bytes(line)), cleanup_file)?;
            }
        }
    }
    fs::remove_file(cleanup_file)
        .or_else(|e| if e.kind() == io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
        .map_err(|e| InstallError::io(format!("cannot delete the cleanup file {}", cleanup_file.display()), e))
}

fn remove_path(path: &Path, cleanup_file: &Path) -> Result<(), InstallError> {
    if !path.is_absolute() {
        return Ok(());
    }
    let fail = |what: &str, e: io::Error| {
        InstallError::io(
            format!(
                "cannot {what} {} (created by the previous install, listed in {})",
                path.display(),
                cleanup_file.display()
            ),
            e,
        )
    };
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if is_absent(&e) => return Ok(()),
        Err(e) => return Err(fail("inspect", e)),
    };
    if meta.is_dir() {
        match fs::remove_dir(path) {
            Ok(()) => Ok(()),
            // Not empty: someone put files there; leave it.
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty || e.raw_os_error() == Some(nix::libc::EEXIST) => {
                Ok(())
            }
            Err(e) if is_absent(&e) => Ok(()),
            Err(e) => Err(fail("remove the directory", e)),
        }
    } else {
        // Files and symlinks alike: unlink never follows a link.
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if is_absent(&e) => Ok(()),
            Err(e) => Err(fail("remove", e)),
        }
    }
}

fn remove_context(path: &Path) {
    if let Some(semanage) = find_tool("semanage") {
        // As CodeDeploy: the outcome is ignored (the rule may already be gone).
        let _ = Command::new(semanage)
            .args(["fcontext", "-d"])
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Appends lines to the cleanup file, each with one `write` so that a line
/// reaches the file (the OS) as soon as it is recorded, not at the end.
pub(crate) struct CleanupWriter {
    file: File,
    path: PathBuf,
}

impl CleanupWriter {
    /// Opens `path` for appending, creating it and its directory if needed.
    /// (After [`cleanup_previous`] the file does not exist; appending rather
    /// than truncating means a leftover file's records are never lost.)
    pub(crate) fn open(path: &Path) -> Result<Self, InstallError> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| InstallError::io(format!("cannot create the directory {}", parent.display()), e))?;
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| InstallError::io(format!("cannot open the cleanup file {}", path.display()), e))?;
        Ok(Self { file, path: path.to_path_buf() })
    }

    /// Records a created path.
    pub(crate) fn record(&mut self, created: &Path) -> Result<(), InstallError> {
        self.write_line(b"", created)
    }

    /// Records an SELinux file-context rule added for `file`.
    pub(crate) fn record_context(&mut self, file: &Path) -> Result<(), InstallError> {
        self.write_line(SEMANAGE_PREFIX, file)
    }

    fn write_line(&mut self, prefix: &[u8], path: &Path) -> Result<(), InstallError> {
        if !path.is_absolute() {
            return Err(InstallError::Invalid(format!(
                "cannot record {} in the cleanup file {}: the path is not absolute",
                path.display(),
                self.path.display()
            )));
        }
        check_recordable(path)?;
        let mut line = Vec::with_capacity(prefix.len() + path.as_os_str().len() + 1);
        line.extend_from_slice(prefix);
        line.extend_from_slice(path.as_os_str().as_bytes());
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| InstallError::io(format!("cannot write to the cleanup file {}", self.path.display()), e))
    }
}
