//! The deployment root on disk, in the CodeDeploy agent's layout:
//!
//! ```text
//! <root>/<group-id>/<deployment-id>/bundle.tar            the bundle as fetched
//! <root>/<group-id>/<deployment-id>/deployment-archive/   the unpacked revision
//! <root>/<group-id>/<deployment-id>/logs/scripts.log      hook output
//! <root>/deployment-instructions/<gid>-cleanup            paths the last Install created
//! <root>/deployment-instructions/<gid>-install.json       the last instruction set
//! <root>/deployment-instructions/<gid>_last_successful_install
//! <root>/deployment-instructions/<gid>_most_recent_install
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::install::InstallRecords;

/// Paths under one deployment root. Pure path arithmetic plus the two
/// pointer files; creating directories is the caller's business.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<gid>`: every deployment of one group.
    pub fn group_dir(&self, group_id: &str) -> PathBuf {
        self.root.join(group_id)
    }

    /// `<root>/<gid>/<did>`. A deployment id given as an ARN keeps only the
    /// part after `deployment/`, as CodeDeploy's agent does.
    pub fn deployment_dir(&self, group_id: &str, deployment_id: &str) -> PathBuf {
        self.group_dir(group_id).join(short_deployment_id(deployment_id))
    }

    pub fn instructions_dir(&self) -> PathBuf {
        self.root.join("deployment-instructions")
    }

    pub fn install_records(&self, group_id: &str) -> InstallRecords {
        let dir = self.instructions_dir();
        InstallRecords {
            cleanup_file: dir.join(format!("{group_id}-cleanup")),
            install_json: dir.join(format!("{group_id}-install.json")),
        }
    }

    fn pointer_file(&self, group_id: &str, which: Pointer) -> PathBuf {
        let suffix = match which {
            Pointer::LastSuccessful => "last_successful_install",
            Pointer::MostRecent => "most_recent_install",
        };
        self.instructions_dir().join(format!("{group_id}_{suffix}"))
    }

    /// The deployment directory a pointer names, if the pointer exists and
    /// names an existing directory.
    pub fn read_pointer(&self, group_id: &str, which: Pointer) -> Option<PathBuf> {
        let text = std::fs::read_to_string(self.pointer_file(group_id, which)).ok()?;
        let path = PathBuf::from(text.trim_end_matches('\n'));
        path.is_dir().then_some(path)
    }

    /// Points `which` at `deployment_dir`, atomically (write + rename), so a
    /// crash never leaves a torn pointer.
    pub fn write_pointer(&self, group_id: &str, which: Pointer, deployment_dir: &Path) -> std::io::Result<()> {
        let path = self.pointer_file(group_id, which);
        std::fs::create_dir_all(self.instructions_dir())?;
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(deployment_dir.as_os_str().as_encoded_bytes())?;
        file.sync_all()?;
        std::fs::rename(tmp, path)
    }
}

/// The two per-group pointers to deployment directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pointer {
    /// Written when Install succeeds; its scripts run the next deployment's
    /// ApplicationStop / Before- and AfterBlockTraffic.
    LastSuccessful,
    /// Written at the end of DownloadBundle.
    MostRecent,
}

/// `arn:…:deployment/d-X` → `d-X`; anything else unchanged.
pub fn short_deployment_id(deployment_id: &str) -> &str {
    match deployment_id.rfind("deployment/") {
        Some(at) => &deployment_id[at + "deployment/".len()..],
        None => deployment_id,
    }
}

/// Files and directories inside one deployment directory.
pub trait DeploymentDir {
    fn archive(&self) -> PathBuf;
    fn bundle_file(&self) -> PathBuf;
    fn scripts_log(&self) -> PathBuf;
}

impl DeploymentDir for Path {
    fn archive(&self) -> PathBuf {
        self.join("deployment-archive")
    }
    fn bundle_file(&self) -> PathBuf {
        self.join("bundle.tar")
    }
    fn scripts_log(&self) -> PathBuf {
        self.join("logs").join("scripts.log")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_deployment_ids_are_shortened() {
        assert_eq!(short_deployment_id("arn:aws:codedeploy:us-east-1:1:deployment/d-ABC"), "d-ABC");
        assert_eq!(short_deployment_id("d-ABC"), "d-ABC");
    }

    #[test]
    fn pointers_round_trip_and_ignore_missing_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path());
        let dir = layout.deployment_dir("g", "d-1");
        assert_eq!(layout.read_pointer("g", Pointer::LastSuccessful), None);
        layout.write_pointer("g", Pointer::LastSuccessful, &dir).unwrap();
        assert_eq!(layout.read_pointer("g", Pointer::LastSuccessful), None, "dir does not exist yet");
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(layout.read_pointer("g", Pointer::LastSuccessful), Some(dir));
        assert_eq!(layout.read_pointer("g", Pointer::MostRecent), None);
    }
}
