//! The Install event, as the CodeDeploy agent runs it (`installer.rb`,
//! `install_instruction.rb`), in three steps:
//!
//! 1. [`cleanup_previous`]: remove what the previous install of this
//!    deployment group created, as listed in `<gid>-cleanup`.
//! 2. [`generate_instructions`]: turn the appspec's `files` and
//!    `permissions` into a flat list of [`Instruction`]s, checking collisions
//!    and existing files. Nothing is changed on disk yet.
//! 3. [`execute`]: write `<gid>-install.json`, then run the instructions,
//!    recording every created path in `<gid>-cleanup`.
//!
//! [`install`] runs all three.
//!
//! # Where ferry differs from the CodeDeploy agent
//! - **Symlinks** (issues #152, #143): a symlink in the revision is always
//!   recreated as a symlink with the same target, never followed, including a
//!   symlink to a directory and a `files` source that is itself a symlink. Only
//!   `source: /` (the unpacked revision itself) is followed. With OVERWRITE an
//!   existing file or symlink at the target is *replaced* (a temporary link
//!   renamed over it), instead of failing with `EEXIST`; an existing symlink
//!   is never written through.
//! - **Atomic copies**: a regular file is written to a temporary file in the
//!   target's directory (`.<name>.ferry-<pid>-<n>`) and renamed over the
//!   target, so a running application never sees a half-written file. Mode,
//!   owner (when permitted) and times are set before the rename. There is no
//!   fsync; a crash in the middle of a copy may leave such a temporary file.
//! - **Existing targets** are detected with `lstat`, so a dangling symlink
//!   counts as existing. A file that would replace a directory, or a directory
//!   that would replace a file, is refused before anything is changed.
//! - **Cleanup** (issue #14, #185, #322): `rmdir` of a directory that is not
//!   empty (the user put files in it) is ignored; symlinks are removed, never
//!   followed; lines are taken byte for byte (CodeDeploy strips whitespace,
//!   mangling names with trailing blanks); other errors fail the install with
//!   the path and the cleanup file named.
//! - **Checked up front**: a missing source, a source outside the revision
//!   (`..`), a path containing a newline (it would corrupt the cleanup file)
//!   or invalid UTF-8 (it cannot be written to `install.json`), an unknown
//!   owner or group, and a missing `setfacl`/`semanage`/`restorecon` all fail
//!   before any file is touched.
//! - **Permissions never go through symlinks**: a copied symlink is not
//!   matched by a directory `object`'s pattern, and naming one as `object` is
//!   an error (CodeDeploy's `chmod`/`chown` would change the link's target,
//!   possibly outside the deployment).
//! - **ACLs** are applied with `setfacl -m` (CodeDeploy computes the base
//!   entries from the mode and uses `setfacl --set`; the result is the same on
//!   a freshly created file, while `-m` also keeps inherited default entries).
//! - **Set-id bits survive `chown`**: the kernel clears them on `chown`,
//!   which runs last, so a `mode: 4755` with an `owner` lost its set-uid bit
//!   under CodeDeploy; ferry restores the mode after the `chown`.
//! - **Patterns**: besides `*`, `?` matches any one character (CodeDeploy
//!   treats `?` literally). See [`matches_simple_glob`].
//! - Entries of a source directory are visited in name order, so the
//!   instruction list is deterministic.

use std::path::{Path, PathBuf};

use ferry_appspec::{FileExistsBehavior, ServerAppSpec};

mod cleanup;
mod execute;
mod generate;
mod glob;
mod paths;

pub use cleanup::cleanup_previous;
pub use execute::execute;
pub use generate::generate_instructions;
pub use glob::matches_simple_glob;

/// One step of an install, as recorded in `<gid>-install.json`
/// (`{"instructions":[{"type":"copy","source":…,"destination":…},…]}`, the
/// CodeDeploy agent's shape).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Instruction {
    /// Copy a regular file or recreate a symlink. `destination` is recorded in
    /// the cleanup file before the copy.
    Copy {
        source: PathBuf,
        destination: PathBuf,
    },
    /// Create one directory (its parent exists by then). Recorded after it is
    /// created.
    Mkdir {
        directory: PathBuf,
    },
    /// `mode` is octal text, at least 3 digits (`"644"`, `"4755"`).
    Chmod {
        file: PathBuf,
        mode: String,
    },
    Chown {
        file: PathBuf,
        owner: Option<String>,
        group: Option<String>,
    },
    /// ACL entries in `setfacl` form (`u:alice:rw-`, `d:g:ops:r-x`).
    Setfacl {
        file: PathBuf,
        acl: Vec<String>,
    },
    /// `semanage fcontext -a` then `restorecon -v`.
    Semanage {
        file: PathBuf,
        context: SeContext,
    },
}

/// An SELinux file context as written to `install.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeContext {
    pub user: Option<String>,
    #[serde(rename = "type")]
    pub type_: String,
    pub range: Option<String>,
}

/// The whole of `<gid>-install.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstallJson {
    pub instructions: Vec<Instruction>,
}

/// Why an install failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("The deployment failed because a specified file already exists at this location: {0}")]
    FileExists(PathBuf),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "cannot apply `{key}` from the appspec's permissions to {}: the `{tool}` command is not installed on this host",
        path.display()
    )]
    MissingTool { tool: &'static str, key: &'static str, path: PathBuf },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

impl InstallError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}

/// Where an install of one deployment group keeps its records.
#[derive(Debug, Clone)]
pub struct InstallRecords {
    /// `<root>/deployment-instructions/<gid>-cleanup`
    pub cleanup_file: PathBuf,
    /// `<root>/deployment-instructions/<gid>-install.json`
    pub install_json: PathBuf,
}

/// Runs a whole Install: removes what the previous install of this group
/// created, generates instructions from `spec` for the revision unpacked at
/// `archive`, writes them to `install_json`, then executes them, recording
/// every created path in `cleanup_file` before (copies) or after (mkdirs) it
/// is created.
pub fn install(
    spec: &ServerAppSpec,
    archive: &Path,
    behavior: FileExistsBehavior,
    records: &InstallRecords,
) -> Result<Vec<Instruction>, InstallError> {
    cleanup_previous(&records.cleanup_file)?;
    let instructions = generate_instructions(spec, archive, behavior)?;
    execute(&instructions, records)?;
    Ok(instructions)
}
