//! Revision bundles: zip, tar, tgz and plain directories.
//!
//! Unpacking is written in Rust (no `tar`/`unzip` processes) and treats every
//! archive as hostile: absolute paths, `..`, links that leave the archive
//! root, device files and decompression bombs are refused before anything is
//! written outside the destination directory. This crate knows nothing of
//! appspec semantics.

use std::path::Path;

/// The bundle formats CodeDeploy knows for the Server platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleType {
    Zip,
    Tar,
    Tgz,
    Directory,
}

impl BundleType {
    /// CodeDeploy's spelling: `zip`, `tar`, `tgz`, `directory`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zip => "zip",
            Self::Tar => "tar",
            Self::Tgz => "tgz",
            Self::Directory => "directory",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "zip" => Some(Self::Zip),
            "tar" => Some(Self::Tar),
            "tgz" | "tar.gz" => Some(Self::Tgz),
            "directory" | "dir" => Some(Self::Directory),
            _ => None,
        }
    }

    /// Infers the type from a path: a directory, or a file name ending in
    /// `.zip`, `.tar`, `.tgz` or `.tar.gz`.
    pub fn infer(path: &Path) -> Option<Self> {
        if path.is_dir() {
            return Some(Self::Directory);
        }
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".zip") {
            Some(Self::Zip)
        } else if name.ends_with(".tgz") || name.ends_with(".tar.gz") {
            Some(Self::Tgz)
        } else if name.ends_with(".tar") {
            Some(Self::Tar)
        } else {
            None
        }
    }
}

/// Bounds on what one bundle may expand to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of file content written (default 4 GiB).
    pub max_total_bytes: u64,
    /// Number of entries of any kind (default 200 000).
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_total_bytes: 4 << 30, max_entries: 200_000 }
    }
}

/// What an unpack produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    pub bytes: u64,
}

/// Why a bundle could not be unpacked or packed.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("bundle entry {entry:?} is unsafe: {reason}")]
    UnsafeEntry { entry: String, reason: String },
    #[error("bundle exceeds the limit of {limit} {what}")]
    LimitExceeded { what: &'static str, limit: u64 },
    #[error("bundle is not a valid {kind} archive: {message}")]
    Corrupt { kind: &'static str, message: String },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

/// Unpacks `bundle` of type `kind` into `dest`, which must not exist yet or be
/// an empty directory. Nothing is ever written outside `dest`.
pub fn unpack(bundle: &Path, kind: BundleType, dest: &Path, limits: &Limits) -> Result<UnpackStats, BundleError> {
    let _ = (bundle, kind, dest, limits);
    Err(BundleError::Corrupt { kind: "any", message: "not yet implemented".into() })
}
