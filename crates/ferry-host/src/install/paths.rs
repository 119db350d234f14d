//! Path helpers shared by the install steps.

use std::io;
use std::path::{Component, Path, PathBuf};

use super::InstallError;

/// Lexical normalisation, as Ruby's `File.expand_path`: relative paths are
/// taken from the current directory, `.` is dropped and `..` removes the
/// previous component (never going above `/`). Symlinks are not resolved.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let absolute;
    let path = if path.is_absolute() {
        path
    } else {
        absolute = std::env::current_dir().map(|cwd| cwd.join(path)).unwrap_or_else(|_| path.to_path_buf());
        &absolute
    };
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Prefix(prefix) => out.push(prefix.as_os_str()),
            Component::RootDir => out.push("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
        }
    }
    out
}

/// Refuses a path that cannot be written to the cleanup file (one path per
/// line) and `install.json` (UTF-8 text).
pub(crate) fn check_recordable(path: &Path) -> Result<(), InstallError> {
    let Some(text) = path.to_str() else {
        return Err(InstallError::Invalid(format!(
            "cannot install {}: the path is not valid UTF-8, and ferry records install paths as UTF-8 text",
            path.display()
        )));
    };
    if text.contains('\n') {
        return Err(InstallError::Invalid(format!(
            "cannot install {text:?}: the path contains a newline, which the cleanup file (one path per line) cannot record"
        )));
    }
    Ok(())
}

/// `NotFound`, or `ENOTDIR` (a component of the path is not a directory):
/// either way, nothing exists at the path.
pub(crate) fn is_absent(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound || error.kind() == io::ErrorKind::NotADirectory
}

/// Looks `name` up in `PATH`, then in the usual system directories (where
/// `semanage`, `restorecon` and `setfacl` live even when `PATH` lacks them).
pub(crate) fn find_tool(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let from_env = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    let fallback = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from);
    from_env.into_iter().chain(fallback).filter(|dir| dir.is_absolute()).map(|dir| dir.join(name)).find(|candidate| {
        std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lexically() {
        assert_eq!(normalize(Path::new("/a/./b/../c/")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/../..")), PathBuf::from("/"));
        assert_eq!(normalize(Path::new("/a//b")), PathBuf::from("/a/b"));
    }

    #[test]
    fn refuses_newlines() {
        assert!(check_recordable(Path::new("/a\nb")).is_err());
        assert!(check_recordable(Path::new("/a b")).is_ok());
    }
}
