//! The Install event: cleanup of the previous install, instruction
//! generation, and execution. (Being written.)

use std::path::{Path, PathBuf};

use ferry_appspec::{FileExistsBehavior, ServerAppSpec};

/// One step of an install, as recorded in `<gid>-install.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Instruction {
    Copy { source: PathBuf, destination: PathBuf },
    Mkdir { directory: PathBuf },
    Chmod { file: PathBuf, mode: String },
    Chown { file: PathBuf, owner: Option<String>, group: Option<String> },
    Setfacl { file: PathBuf, acl: Vec<String> },
    Semanage { file: PathBuf, context: String },
}

/// Why an install failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("The deployment failed because a specified file already exists at this location: {0}")]
    FileExists(PathBuf),
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
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
    let _ = (spec, archive, behavior, records);
    Err(InstallError::Invalid("install not yet implemented".into()))
}
