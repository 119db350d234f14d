//! Walking a directory tree without following symlinks: the `directory`
//! bundle type, and the input of [`crate::pack`].

use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::BundleError;
use crate::extract::{Extractor, io_error, unsafe_entry};

pub(crate) enum Kind {
    Dir,
    File,
    Symlink(Vec<u8>),
}

pub(crate) struct Entry {
    /// Relative to the walked root; never empty.
    pub(crate) rel: PathBuf,
    pub(crate) kind: Kind,
    pub(crate) meta: Metadata,
}

impl Entry {
    pub(crate) fn name(&self) -> &[u8] {
        self.rel.as_os_str().as_bytes()
    }
}

/// (device, inode) of a path, to recognise it while walking.
pub(crate) type FileId = (u64, u64);

pub(crate) fn file_id(meta: &Metadata) -> FileId {
    (meta.dev(), meta.ino())
}

fn sorted_children(root: &Path, rel: &Path) -> Result<Vec<PathBuf>, BundleError> {
    let dir = root.join(rel);
    let read = |e| io_error(format!("cannot read directory {}", dir.display()), e);
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).map_err(read)? {
        names.push(entry.map_err(read)?.file_name());
    }
    names.sort();
    // Reversed: the walk pops from the end.
    Ok(names.into_iter().rev().map(|n| rel.join(n)).collect())
}

/// Visits every entry below `root` (not `root` itself) depth first, parents
/// before children, siblings sorted by name bytes, without following any
/// symlink. `skip` (a file or directory, with everything below it) is left
/// out. Devices, fifos and sockets are refused.
pub(crate) fn walk(
    root: &Path,
    skip: Option<FileId>,
    mut visit: impl FnMut(&Entry) -> Result<(), BundleError>,
) -> Result<(), BundleError> {
    let mut stack = sorted_children(root, Path::new(""))?;
    while let Some(rel) = stack.pop() {
        let path = root.join(&rel);
        let meta = fs::symlink_metadata(&path).map_err(|e| io_error(format!("cannot stat {}", path.display()), e))?;
        if skip == Some(file_id(&meta)) {
            continue;
        }
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else if ft.is_symlink() {
            let target =
                fs::read_link(&path).map_err(|e| io_error(format!("cannot read link {}", path.display()), e))?;
            Kind::Symlink(target.into_os_string().into_vec())
        } else {
            return Err(unsafe_entry(rel.as_os_str().as_bytes(), "not a regular file, directory or symlink"));
        };
        let entry = Entry { rel, kind, meta };
        visit(&entry)?;
        if let Kind::Dir = entry.kind {
            stack.extend(sorted_children(root, &entry.rel)?);
        }
    }
    Ok(())
}

/// Opens a regular file met by [`walk`], refusing it if it was swapped for
/// something else (a symlink, say) since it was looked at.
pub(crate) fn open_walked(root: &Path, entry: &Entry) -> Result<File, BundleError> {
    let path = root.join(&entry.rel);
    let file = File::open(&path).map_err(|e| io_error(format!("cannot open {}", path.display()), e))?;
    let now = file.metadata().map_err(|e| io_error(format!("cannot stat {}", path.display()), e))?;
    if file_id(&now) != file_id(&entry.meta) || !now.is_file() {
        return Err(io_error(
            format!("{} changed while it was being read", path.display()),
            io::Error::other("file changed"),
        ));
    }
    Ok(file)
}

/// The `directory` bundle type: copies the tree at `src` (which may itself
/// be reached through a symlink) applying the same rules as to archives.
pub(crate) fn copy(src: &Path, ext: &mut Extractor, dest_id: FileId) -> Result<(), BundleError> {
    let meta = fs::metadata(src).map_err(|e| io_error(format!("cannot read {}", src.display()), e))?;
    if !meta.is_dir() {
        return Err(io_error(
            format!("{} is not a directory", src.display()),
            io::Error::from(io::ErrorKind::NotADirectory),
        ));
    }
    walk(src, Some(dest_id), |entry| {
        ext.count_entry()?;
        let (name, mode, mtime) = (entry.name(), entry.meta.mode(), entry.meta.modified().ok());
        match &entry.kind {
            Kind::Dir => ext.directory(name, &entry.rel, mode, mtime),
            Kind::File => ext.file(name, &entry.rel, mode, mtime, &mut open_walked(src, entry)?),
            Kind::Symlink(target) => ext.symlink(name, &entry.rel, target),
        }
    })
}
