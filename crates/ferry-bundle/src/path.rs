//! Lexical checks on entry names and symlink targets. Nothing here touches the
//! filesystem.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Why an entry name or a symlink target was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnsafePath(pub &'static str);

/// Longest symlink target accepted (Linux's `PATH_MAX`).
pub const MAX_LINK_TARGET: usize = 4096;

/// Turns a raw archive entry name into a relative path made only of
/// [`Component::Normal`] components.
///
/// `/` is the only separator (a `\` is an ordinary byte here; the zip reader
/// converts it before calling this). Empty and `.` components are dropped, so
/// `./a//b/` becomes `a/b`. Refused: an empty name, a NUL byte, a leading `/`
/// and any `..` component, even one that would stay inside (`a/../b`).
///
/// A name made only of `.` and `/` (tar's `./`) yields an empty path, which
/// stands for the archive root.
pub fn sanitize_entry_path(raw: &[u8]) -> Result<PathBuf, UnsafePath> {
    if raw.is_empty() {
        return Err(UnsafePath("empty name"));
    }
    if raw.contains(&0) {
        return Err(UnsafePath("name contains a NUL byte"));
    }
    if raw[0] == b'/' {
        return Err(UnsafePath("absolute path"));
    }
    let mut out = PathBuf::new();
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => return Err(UnsafePath("path contains a `..` component")),
            c => out.push(OsStr::from_bytes(c)),
        }
    }
    debug_assert!(out.components().all(|c| matches!(c, Component::Normal(_))));
    Ok(out)
}

/// Checks a symlink target for a link at `link` (a path relative to the
/// archive root, as returned by [`sanitize_entry_path`]).
///
/// Accepted targets are relative, free of NUL, and of the form
/// `../../x/y`: any `..` components must all come first, and there may be no
/// more of them than the link's directory is deep, so the target resolves to
/// the root or below it. A `..` after a normal component is refused even when
/// it looks harmless lexically: `up/../x` where `up` is itself a link to `..`
/// climbs out of the root once the kernel resolves it.
///
/// Because every entry's parent directories are real directories (entries
/// below a symlink are refused), a tree whose links all pass this check
/// cannot be used to reach outside its root through its own links.
pub fn check_symlink_target(link: &Path, target: &[u8]) -> Result<(), UnsafePath> {
    if target.is_empty() {
        return Err(UnsafePath("symlink target is empty"));
    }
    if target.len() > MAX_LINK_TARGET {
        return Err(UnsafePath("symlink target is too long"));
    }
    if target.contains(&0) {
        return Err(UnsafePath("symlink target contains a NUL byte"));
    }
    if target[0] == b'/' {
        return Err(UnsafePath("symlink target is absolute"));
    }
    let depth = link.parent().map_or(0, |p| p.components().count());
    let mut ups = 0usize;
    let mut seen_normal = false;
    for comp in target.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." if seen_normal => {
                return Err(UnsafePath("symlink target has a `..` after a normal component"));
            }
            b".." => {
                ups += 1;
                if ups > depth {
                    return Err(UnsafePath("symlink target leaves the bundle root"));
                }
            }
            _ => seen_normal = true,
        }
    }
    Ok(())
}

/// The name as it would appear in a message.
pub(crate) fn display(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize() {
        assert_eq!(sanitize_entry_path(b"a/b/c").unwrap(), PathBuf::from("a/b/c"));
        assert_eq!(sanitize_entry_path(b"./a//b/").unwrap(), PathBuf::from("a/b"));
        assert_eq!(sanitize_entry_path(b"./").unwrap(), PathBuf::new());
        assert_eq!(sanitize_entry_path(b"a\\..\\b").unwrap(), PathBuf::from("a\\..\\b"));
        assert_eq!(sanitize_entry_path(b"...").unwrap(), PathBuf::from("..."));
        for bad in [&b""[..], b"/etc/x", b"../x", b"a/../b", b"a/..", b"a\0b", b"//x"] {
            assert!(sanitize_entry_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn link_targets() {
        let l = Path::new("a/b/link");
        for ok in [&b"x"[..], b"../x", b"../../x/y", b"../..", b".", b"./../x", b"../x/./y/", b"..."] {
            assert_eq!(check_symlink_target(l, ok), Ok(()), "{:?}", display(ok));
        }
        for bad in [&b""[..], b"/x", b"../../..", b"../../../x", b"x/../y", b"x/../../..", b"a\0"] {
            assert!(check_symlink_target(l, bad).is_err(), "{:?}", display(bad));
        }
        assert!(check_symlink_target(Path::new("top"), b"..").is_err());
        assert!(check_symlink_target(Path::new("top"), b"sub").is_ok());
    }
}
