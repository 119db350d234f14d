//! Revision bundles: zip, tar, tgz and plain directories.
//!
//! Unpacking is written in Rust (no `tar`/`unzip` processes) and treats every
//! archive as hostile: absolute paths, `..`, links that leave the archive
//! root, device files and decompression bombs are refused before anything is
//! written outside the destination directory. This crate knows nothing of
//! appspec semantics.
//!
//! # What [`unpack`] guarantees
//!
//! Nothing is created, written, removed or chmod-ed outside `dest`, whatever
//! the bundle holds. A refused bundle makes the whole call fail, but what was
//! extracted before the bad entry stays in `dest`: **the caller removes `dest`
//! on error.** The guarantee assumes nobody else writes below `dest` while it
//! runs (dest is created by `unpack` or must be empty, and directories are
//! created 0755 minus umask until the end).
//!
//! Refused with [`BundleError::UnsafeEntry`] (the whole bundle):
//! - names that are empty, absolute, contain NUL or any `..` component
//!   ([`sanitize_entry_path`]); empty and `.` components are dropped;
//! - symlinks whose target is absolute, empty, has more leading `..` than the
//!   link is deep, or has a `..` after a normal component
//!   ([`check_symlink_target`]);
//! - entries below a symlink or below a file of the same bundle (nothing is
//!   ever written through a symlink: symlinks are only created once every
//!   file and directory is in place);
//! - hard links (tar) to anything but a regular file extracted earlier from
//!   the same bundle; they are made as hard links;
//! - devices, fifos, sockets and any tar entry type other than file,
//!   directory, symlink, hard link (pax global headers are skipped);
//! - a file or link that would replace a directory. Otherwise duplicate
//!   names are allowed and the later entry wins (the earlier file is unlinked,
//!   never written into).
//!
//! Limits ([`Limits`], refused with [`BundleError::LimitExceeded`]):
//! `max_total_bytes` counts bytes actually produced while copying (headers
//! are not trusted) and stops the copy before the chunk that crosses it;
//! `max_entries` counts entries of every kind. tar metadata (long names, pax
//! records) is bounded separately, since the `tar` crate holds it in memory.
//!
//! # Modes and times
//!
//! Files keep their `0o777` permission bits and directories their `0o1777`
//! bits, exactly (no umask); setuid and setgid are dropped, as is sticky on
//! files. Entries without a mode (zip from DOS/Windows) get 0644/0755, or
//! 0444/0555 when read-only. Modification times are kept for files and
//! directories, not for symlinks. Owners are never changed. The mode and time
//! of a root entry (tar's `./`) are not applied to `dest`.
//!
//! # Format notes
//!
//! - zip: `\` in names is turned into `/` before the checks (as Info-ZIP
//!   does for archives made on Windows), so `..\x` is refused like `../x`.
//!   Only stored and deflated entries; encrypted entries are refused as
//!   corrupt. A unix mode with `S_IFLNK` makes a symlink whose target is the
//!   entry's content.
//! - tar: `\` is an ordinary character. GNU long names and pax path/linkpath
//!   records are honoured; GNU sparse files become regular files. tgz is
//!   inflated on a second thread (like `tar -z` piping through `gzip`);
//!   concatenated gzip members are read.
//! - directory: the tree is walked without following symlinks (only the
//!   bundle path itself may be a symlink) and the same rules apply to it.

use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::Path;

mod extract;
mod pack;
mod path;
mod tarball;
mod tree;
mod zipball;

pub use path::{MAX_LINK_TARGET, UnsafePath, check_symlink_target, sanitize_entry_path};
/// The calendar date of a day count since 1970-01-01 (zip timestamps, log lines).
pub use zipball::civil_from_days;

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

/// What a pack wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PackStats {
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    /// Bytes of file content.
    pub bytes: u64,
    /// Size of the archive written (for `Directory`, the bytes copied).
    pub archive_bytes: u64,
}

/// Unpacks `bundle` of type `kind` into `dest`, which must not exist yet or be
/// an empty directory (not a symlink); missing parents of `dest` are created.
/// Nothing is ever written outside `dest`; on error, partial content may be
/// left inside it and the caller should remove it. See the crate docs for the
/// rules.
pub fn unpack(bundle: &Path, kind: BundleType, dest: &Path, limits: &Limits) -> Result<UnpackStats, BundleError> {
    let dest_id = prepare_dest(dest)?;
    let mut ext = extract::Extractor::new(dest, kind.as_str(), *limits);
    let open = || File::open(bundle).map_err(|e| extract::io_error(format!("cannot open {}", bundle.display()), e));
    match kind {
        BundleType::Zip => zipball::unpack(bundle, &mut ext)?,
        BundleType::Tar => tarball::unpack(BufReader::with_capacity(extract::COPY_BUF, open()?), &mut ext)?,
        BundleType::Tgz => tarball::unpack_gz(open()?, &mut ext)?,
        BundleType::Directory => tree::copy(bundle, &mut ext, dest_id)?,
    }
    ext.finish()
}

/// Writes the tree at `dir` as a bundle of type `kind` at `out` (replaced if
/// it exists). Entries are named relative to `dir`, sorted, parents first;
/// directories (empty ones too), files with their modes and times, and
/// symlinks as symlinks. Owners are recorded as 0. Symlinks that [`unpack`]
/// would refuse, devices, fifos and sockets make the pack fail, as do
/// non-UTF-8 names for zip. If `out` lies inside `dir` it is left out.
///
/// zip entries are deflated; tgz uses gzip level 6. For
/// [`BundleType::Directory`], `out` is a copy of the tree, made like
/// [`unpack`] makes it (so `out` must not exist or be empty).
pub fn pack(dir: &Path, kind: BundleType, out: &Path) -> Result<PackStats, BundleError> {
    pack::pack(dir, kind, out)
}

/// Creates `dest` (or accepts it empty) and returns its identity.
fn prepare_dest(dest: &Path) -> Result<tree::FileId, BundleError> {
    let err = |what: &str, e: io::Error| extract::io_error(format!("{what} {}", dest.display()), e);
    match fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => {
            if fs::read_dir(dest).map_err(|e| err("cannot read", e))?.next().is_some() {
                return Err(err("cannot unpack into", io::Error::from(io::ErrorKind::DirectoryNotEmpty)));
            }
            Ok(tree::file_id(&meta))
        }
        Ok(_) => Err(err("cannot unpack into", io::Error::from(io::ErrorKind::AlreadyExists))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(|e| err("cannot create the parent of", e))?;
            }
            fs::create_dir(dest).map_err(|e| err("cannot create", e))?;
            let meta = fs::symlink_metadata(dest).map_err(|e| err("cannot stat", e))?;
            Ok(tree::file_id(&meta))
        }
        Err(e) => Err(err("cannot stat", e)),
    }
}
