//! The one place that writes into the destination directory.
//!
//! Every format reader turns its entries into calls on [`Extractor`], which
//! keeps a table of everything it has created under the destination. The
//! destination starts empty and nobody else writes there, so the table is the
//! truth about what is on disk, and it is what decides whether a path is safe:
//!
//! - a parent directory must be a directory *we* created; an entry below a
//!   symlink (or below a file) is refused, so nothing is ever written through
//!   a link;
//! - symlinks are only recorded while the bundle is read and are created in
//!   [`Extractor::finish`], after every file and directory exists, so even a
//!   reader bug could not write through one;
//! - files are created with `O_CREAT|O_EXCL` (never opened when they exist,
//!   and never through a symlink at the last component); a duplicate entry
//!   unlinks the earlier file first instead of writing into it, so a hard link
//!   made earlier is never written through either;
//! - an unexpected "already exists" from the filesystem (a name that the
//!   table does not know, as on a case-insensitive filesystem) is refused.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, DirBuilder, File, FileTimes, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::path::{check_symlink_target, display, sanitize_entry_path};
use crate::{BundleError, Limits, UnpackStats};

/// Permission bits kept for files: rwx for user, group and other. setuid,
/// setgid and sticky are dropped.
pub(crate) const FILE_MODE_MASK: u32 = 0o777;
/// Permission bits kept for directories: rwx plus sticky (meaningful for
/// shared directories); setuid and setgid are dropped.
pub(crate) const DIR_MODE_MASK: u32 = 0o1777;

pub(crate) const COPY_BUF: usize = 256 * 1024;

enum Node {
    Dir,
    File,
    /// A symlink to create at the end, with its target.
    Link(Vec<u8>),
}

pub(crate) struct Extractor {
    root: PathBuf,
    kind: &'static str,
    limits: Limits,
    nodes: HashMap<PathBuf, Node>,
    dir_meta: HashMap<PathBuf, (u32, Option<SystemTime>)>,
    entries: u64,
    stats: UnpackStats,
    buf: Vec<u8>,
}

pub(crate) fn unsafe_entry(name: &[u8], reason: impl Into<String>) -> BundleError {
    BundleError::UnsafeEntry { entry: display(name), reason: reason.into() }
}

pub(crate) fn io_error(context: impl Into<String>, source: io::Error) -> BundleError {
    BundleError::Io { context: context.into(), source }
}

impl Extractor {
    pub(crate) fn new(root: &Path, kind: &'static str, limits: Limits) -> Self {
        Self {
            root: root.to_path_buf(),
            kind,
            limits,
            nodes: HashMap::new(),
            dir_meta: HashMap::new(),
            entries: 0,
            stats: UnpackStats::default(),
            buf: vec![0; COPY_BUF],
        }
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    pub(crate) fn kind(&self) -> &'static str {
        self.kind
    }

    /// Counts one bundle entry against `max_entries`.
    pub(crate) fn count_entry(&mut self) -> Result<(), BundleError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(BundleError::LimitExceeded { what: "entries", limit: self.limits.max_entries });
        }
        Ok(())
    }

    /// A read error from the bundle: damage in an archive, I/O otherwise.
    pub(crate) fn read_error(&self, name: &[u8], e: io::Error) -> BundleError {
        use io::ErrorKind::*;
        match e.kind() {
            InvalidData | InvalidInput | UnexpectedEof | Other if self.kind != "directory" => {
                BundleError::Corrupt { kind: self.kind, message: format!("{}: {e}", display(name)) }
            }
            _ => io_error(format!("cannot read {}", display(name)), e),
        }
    }

    fn create_error(&self, name: &[u8], path: &Path, e: io::Error) -> BundleError {
        if e.kind() == io::ErrorKind::AlreadyExists {
            unsafe_entry(name, "collides with a name already on disk (case-insensitive filesystem?)")
        } else {
            io_error(format!("cannot create {}", path.display()), e)
        }
    }

    /// Makes sure every parent of `rel` is a directory that we created,
    /// creating missing ones.
    fn prepare_parent(&mut self, name: &[u8], rel: &Path) -> Result<(), BundleError> {
        let Some(parent) = rel.parent() else { return Ok(()) };
        if parent.as_os_str().is_empty() || matches!(self.nodes.get(parent), Some(Node::Dir)) {
            return Ok(());
        }
        let mut cur = PathBuf::new();
        for comp in parent.components() {
            cur.push(comp);
            match self.nodes.get(&cur) {
                Some(Node::Dir) => {}
                Some(Node::File) => {
                    return Err(unsafe_entry(name, format!("its parent {} is not a directory", cur.display())));
                }
                Some(Node::Link(_)) => {
                    return Err(unsafe_entry(name, format!("would be written through the symlink {}", cur.display())));
                }
                None => self.mkdir(name, &cur)?,
            }
        }
        Ok(())
    }

    fn mkdir(&mut self, name: &[u8], rel: &Path) -> Result<(), BundleError> {
        let path = self.root.join(rel);
        match DirBuilder::new().mode(0o755).create(&path) {
            Ok(()) => self.stats.directories += 1,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Not in the table but on disk: the filesystem folded this name
                // onto one we made. Harmless only if that is a real directory.
                let meta =
                    fs::symlink_metadata(&path).map_err(|e| io_error(format!("cannot stat {}", path.display()), e))?;
                if !meta.file_type().is_dir() {
                    return Err(self.create_error(name, &path, e));
                }
            }
            Err(e) => return Err(io_error(format!("cannot create directory {}", path.display()), e)),
        }
        self.nodes.insert(rel.to_path_buf(), Node::Dir);
        Ok(())
    }

    /// Clears the way for a non-directory entry at `rel`: parents exist, and
    /// an earlier file or link at the same name is gone (later entries win).
    fn prepare_leaf(&mut self, name: &[u8], rel: &Path) -> Result<(), BundleError> {
        if rel.as_os_str().is_empty() {
            return Err(unsafe_entry(name, "a non-directory entry names the bundle root"));
        }
        self.prepare_parent(name, rel)?;
        match self.nodes.get(rel) {
            None => {}
            Some(Node::Dir) => return Err(unsafe_entry(name, "would replace a directory")),
            Some(Node::File) => {
                self.remove_file(rel)?;
                self.nodes.remove(rel);
            }
            Some(Node::Link(_)) => {
                self.nodes.remove(rel);
            }
        }
        Ok(())
    }

    fn remove_file(&mut self, rel: &Path) -> Result<(), BundleError> {
        let path = self.root.join(rel);
        fs::remove_file(&path).map_err(|e| io_error(format!("cannot replace {}", path.display()), e))?;
        self.stats.files -= 1;
        Ok(())
    }

    /// A directory entry. The root itself (empty `rel`) is accepted and
    /// ignored: its mode is not applied to the destination.
    pub(crate) fn directory(
        &mut self,
        name: &[u8],
        rel: &Path,
        mode: u32,
        mtime: Option<SystemTime>,
    ) -> Result<(), BundleError> {
        if rel.as_os_str().is_empty() {
            return Ok(());
        }
        self.prepare_parent(name, rel)?;
        match self.nodes.get(rel) {
            Some(Node::Dir) => {}
            Some(Node::File) => {
                self.remove_file(rel)?;
                self.nodes.remove(rel);
                self.mkdir(name, rel)?;
            }
            Some(Node::Link(_)) => {
                self.nodes.remove(rel);
                self.mkdir(name, rel)?;
            }
            None => self.mkdir(name, rel)?,
        }
        self.dir_meta.insert(rel.to_path_buf(), (mode & DIR_MODE_MASK, mtime));
        Ok(())
    }

    /// A regular file whose content is read from `data`.
    pub(crate) fn file(
        &mut self,
        name: &[u8],
        rel: &Path,
        mode: u32,
        mtime: Option<SystemTime>,
        data: &mut dyn Read,
    ) -> Result<(), BundleError> {
        self.prepare_leaf(name, rel)?;
        let path = self.root.join(rel);
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| self.create_error(name, &path, e))?;
        self.nodes.insert(rel.to_path_buf(), Node::File);
        self.stats.files += 1;
        self.copy(name, data, Some((&mut out, &path)))?;
        if let Some(t) = mtime {
            out.set_times(FileTimes::new().set_modified(t))
                .map_err(|e| io_error(format!("cannot set the times of {}", path.display()), e))?;
        }
        out.set_permissions(Permissions::from_mode(mode & FILE_MODE_MASK))
            .map_err(|e| io_error(format!("cannot set the mode of {}", path.display()), e))?;
        Ok(())
    }

    /// Reads `data` to its end, writing it to `out` if given, and counts every
    /// byte against `max_total_bytes` before writing it.
    pub(crate) fn copy(
        &mut self,
        name: &[u8],
        data: &mut dyn Read,
        mut out: Option<(&mut File, &Path)>,
    ) -> Result<(), BundleError> {
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(name, e)),
            };
            self.stats.bytes += n as u64;
            if self.stats.bytes > self.limits.max_total_bytes {
                return Err(BundleError::LimitExceeded { what: "bytes", limit: self.limits.max_total_bytes });
            }
            if let Some((file, path)) = out.as_mut() {
                file.write_all(&self.buf[..n]).map_err(|e| io_error(format!("cannot write {}", path.display()), e))?;
            }
        }
    }

    /// A symlink; created in [`Extractor::finish`].
    pub(crate) fn symlink(&mut self, name: &[u8], rel: &Path, target: &[u8]) -> Result<(), BundleError> {
        check_symlink_target(rel, target).map_err(|e| unsafe_entry(name, e.0))?;
        self.prepare_leaf(name, rel)?;
        self.nodes.insert(rel.to_path_buf(), Node::Link(target.to_vec()));
        Ok(())
    }

    /// A hard link to `target`, a name relative to the bundle root that must
    /// be a regular file extracted earlier.
    pub(crate) fn hard_link(&mut self, name: &[u8], rel: &Path, target: &[u8]) -> Result<(), BundleError> {
        let target_rel =
            sanitize_entry_path(target).map_err(|e| unsafe_entry(name, format!("hard link target: {e}")))?;
        match self.nodes.get(&target_rel) {
            Some(Node::File) => {}
            Some(Node::Dir) => return Err(unsafe_entry(name, "hard link to a directory")),
            Some(Node::Link(_)) => return Err(unsafe_entry(name, "hard link to a symlink")),
            None => return Err(unsafe_entry(name, "hard link to a file not extracted before it")),
        }
        if target_rel == rel {
            return Ok(());
        }
        self.prepare_leaf(name, rel)?;
        let (from, to) = (self.root.join(&target_rel), self.root.join(rel));
        fs::hard_link(&from, &to).map_err(|e| self.create_error(name, &to, e))?;
        self.nodes.insert(rel.to_path_buf(), Node::File);
        self.stats.files += 1;
        Ok(())
    }

    /// Creates the symlinks, then applies directory modes and times (deepest
    /// first, so a read-only directory does not block its children).
    pub(crate) fn finish(mut self) -> Result<UnpackStats, BundleError> {
        let mut links: Vec<(&PathBuf, &Vec<u8>)> = self
            .nodes
            .iter()
            .filter_map(|(p, n)| match n {
                Node::Link(t) => Some((p, t)),
                _ => None,
            })
            .collect();
        links.sort();
        for (rel, target) in links {
            let path = self.root.join(rel);
            std::os::unix::fs::symlink(OsStr::from_bytes(target), &path)
                .map_err(|e| self.create_error(rel.as_os_str().as_bytes(), &path, e))?;
            self.stats.symlinks += 1;
        }
        let mut dirs: Vec<_> = self.dir_meta.drain().collect();
        dirs.sort_by_key(|(p, _)| Reverse(p.components().count()));
        for (rel, (mode, mtime)) in dirs {
            let path = self.root.join(&rel);
            let dir = File::open(&path).map_err(|e| io_error(format!("cannot open {}", path.display()), e))?;
            if let Some(t) = mtime {
                dir.set_times(FileTimes::new().set_modified(t))
                    .map_err(|e| io_error(format!("cannot set the times of {}", path.display()), e))?;
            }
            dir.set_permissions(Permissions::from_mode(mode))
                .map_err(|e| io_error(format!("cannot set the mode of {}", path.display()), e))?;
        }
        Ok(self.stats)
    }
}
