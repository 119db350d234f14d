//! Which files an artifact, a cache or a report group takes, as CodeBuild
//! picks them (UG build-spec-ref, `artifacts`, `cache`, `reports`).
//!
//! Pure over a list of [`Entry`] (relative `/`-separated paths, each a file, a
//! directory or a symbolic link); [`walk`] makes that list from a directory.
//!
//! Rules:
//! - `files` are paths relative to the source directory, or to
//!   `base-directory` when set: "a single file", "a single file in a
//!   subdirectory", `'**/*'` "all files recursively", `d/*` "all files in a
//!   subdirectory named d", `d/**/*` "all files recursively starting from" d.
//!   `*` matches within one name (`?` one character, `[a-z]`/`[!a]` a class),
//!   `**` any number of whole names, zero included. Names starting with `.`
//!   are matched like any other (CodeBuild's own `exclude-paths` examples
//!   exclude dot files explicitly). A pattern selects files and symbolic
//!   links, never a directory by itself: write `dist/**/*`, not `dist`.
//! - `base-directory`: "one or more top-level directories" — a directory path,
//!   or a glob such as `'my-build*'` — and "Matching top-level directories are
//!   not included in the build output artifact, only their files and
//!   subdirectories": paths in the artifact are relative to the matching
//!   directory.
//! - `discard-paths: yes`: each file goes to the artifact's root under its own
//!   name (`com/app/Hello.java` → `Hello.java`).
//! - `exclude-paths`: patterns "relative to base-directory"; a file matching
//!   any of them is left out (`**/.*` drops dot files).
//! - An artifact that matches nothing fails the upload: CodeBuild says
//!   "no matching artifact paths found" ([`SelectionError::NoMatch`]).
//! - `cache.paths` may also be absolute (`/root/.m2/**/*`): [`split_pattern`]
//!   gives the directory to walk and the pattern within it.
//!
//! Divergence: two files that would land on the same artifact path (with
//! `discard-paths`, or two base directories) are an error naming both
//! ([`SelectionError::Collision`]) rather than one silently replacing the other.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// One path in a tree, relative to its root, `/`-separated, no `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub path: String,
    pub kind: EntryKind,
}

impl Entry {
    pub fn new(path: impl Into<String>, kind: EntryKind) -> Self {
        Self { path: path.into(), kind }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    File,
    Dir,
    /// A symbolic link (never followed; with `enable-symlinks` the artifact
    /// keeps it as a link, else the packer must resolve it inside the tree).
    Symlink,
}

/// A file picked for an artifact, cache or report group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// Where it is, relative to the walked root.
    pub source: String,
    /// Where it goes in the artifact.
    pub dest: String,
    pub kind: EntryKind,
}

/// What to pick: the `files`, `base-directory`, `discard-paths` and
/// `exclude-paths` of an artifact (reports have no `exclude-paths`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    pub files: Vec<String>,
    pub base_directory: Option<String>,
    pub discard_paths: bool,
    pub exclude_paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    /// CodeBuild's `CLIENT_ERROR: no matching artifact paths found`.
    #[error("no matching artifact paths found (files: {files}{base})", base = base_directory.as_ref().map(|b| format!("; base-directory: {b}")).unwrap_or_default())]
    NoMatch { files: String, base_directory: Option<String> },
    #[error("both {first} and {second} would be stored as {dest}; rename one, or drop discard-paths")]
    Collision { dest: String, first: String, second: String },
}

impl Selection {
    /// The files of `entries` this selection takes, sorted by `dest`; empty
    /// when nothing matches (see [`Selection::select_required`]).
    pub fn select(&self, entries: &[Entry]) -> Result<Vec<Selected>, SelectionError> {
        let files: Vec<Pattern> = self.files.iter().map(|f| Pattern::new(f)).collect();
        let excludes: Vec<Pattern> = self.exclude_paths.iter().map(|f| Pattern::new(f)).collect();
        let bases: Vec<&str> = match &self.base_directory {
            None => vec![""],
            Some(base) => {
                let base = Pattern::new(base);
                entries
                    .iter()
                    .filter(|e| e.kind == EntryKind::Dir && base.matches(&e.path))
                    .map(|e| e.path.as_str())
                    .collect()
            }
        };
        let mut out: BTreeMap<String, Selected> = BTreeMap::new();
        for base in bases {
            for entry in entries.iter().filter(|e| e.kind != EntryKind::Dir) {
                let rel = if base.is_empty() {
                    entry.path.as_str()
                } else {
                    match entry.path.strip_prefix(base).and_then(|r| r.strip_prefix('/')) {
                        Some(rel) => rel,
                        None => continue,
                    }
                };
                if !files.iter().any(|p| p.matches(rel)) || excludes.iter().any(|p| p.matches(rel)) {
                    continue;
                }
                let dest = if self.discard_paths { rel.rsplit('/').next().unwrap_or(rel) } else { rel };
                match out.get(dest) {
                    Some(prev) if prev.source == entry.path => {}
                    Some(prev) => {
                        return Err(SelectionError::Collision {
                            dest: dest.to_owned(),
                            first: prev.source.clone(),
                            second: entry.path.clone(),
                        });
                    }
                    None => {
                        out.insert(
                            dest.to_owned(),
                            Selected { source: entry.path.clone(), dest: dest.to_owned(), kind: entry.kind },
                        );
                    }
                }
            }
        }
        Ok(out.into_values().collect())
    }

    /// [`Selection::select`] for an artifact: matching nothing is an error,
    /// as CodeBuild fails UPLOAD_ARTIFACTS then.
    pub fn select_required(&self, entries: &[Entry]) -> Result<Vec<Selected>, SelectionError> {
        let selected = self.select(entries)?;
        if selected.is_empty() {
            return Err(SelectionError::NoMatch {
                files: self.files.join(", "),
                base_directory: self.base_directory.clone(),
            });
        }
        Ok(selected)
    }
}

/// A cache path as a directory to walk and a pattern within it: the leading
/// names without glob characters form the directory (`/root/.m2/**/*` →
/// (`/root/.m2`, `**/*`); `node_modules/**/*` → (`node_modules`, `**/*`);
/// `a/b.txt` → (`a`, `b.txt`)). The directory is absolute when the path is,
/// else relative to the source directory; empty means the source directory.
pub fn split_pattern(pattern: &str) -> (&str, &str) {
    let pattern = pattern.strip_prefix("./").unwrap_or(pattern);
    // Where the pattern part starts: the name holding the first glob
    // character, or the last name when there is none.
    let before = match pattern.find(['*', '?', '[']) {
        Some(glob) => &pattern[..glob],
        None => pattern,
    };
    let cut = before.rfind('/').map_or(0, |i| i + 1);
    let dir = pattern[..cut].trim_end_matches('/');
    let dir = if dir.is_empty() && pattern.starts_with('/') { "/" } else { dir };
    (dir, &pattern[cut..])
}

/// Whether `path` (relative, `/`-separated) matches `pattern` under the rules
/// above.
pub fn matches(pattern: &str, path: &str) -> bool {
    Pattern::new(pattern).matches(path)
}

/// A compiled pattern: its names, `**` kept as a name of its own.
struct Pattern {
    names: Vec<Name>,
}

enum Name {
    /// `**`
    Any,
    Glob(Vec<Token>),
}

enum Token {
    Char(char),
    One,
    Star,
    Class { ranges: Vec<(char, char)>, negated: bool },
}

impl Pattern {
    fn new(pattern: &str) -> Self {
        let pattern = pattern.trim();
        let pattern = pattern.strip_prefix("./").unwrap_or(pattern);
        let names = pattern
            .split('/')
            .filter(|n| !n.is_empty() && *n != ".")
            .map(|n| if n == "**" { Name::Any } else { Name::Glob(tokens(n)) })
            .collect();
        Self { names }
    }

    fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|n| !n.is_empty()).collect();
        if self.names.is_empty() || parts.is_empty() {
            return false;
        }
        // can[i][j]: names[i..] matches parts[j..]; filled from the end, so
        // `**` costs O(names × parts) whatever the pattern.
        let (n, m) = (self.names.len(), parts.len());
        let mut can = vec![vec![false; m + 1]; n + 1];
        can[n][m] = true;
        for i in (0..n).rev() {
            for j in (0..=m).rev() {
                can[i][j] = match &self.names[i] {
                    Name::Any => can[i + 1][j] || (j < m && can[i][j + 1]),
                    Name::Glob(tokens) => j < m && name_matches(tokens, parts[j]) && can[i + 1][j + 1],
                };
            }
        }
        can[0][0]
    }
}

fn tokens(name: &str) -> Vec<Token> {
    let chars: Vec<char> = name.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                if !matches!(out.last(), Some(Token::Star)) {
                    out.push(Token::Star);
                }
            }
            '?' => out.push(Token::One),
            '[' => {
                if let Some((class, end)) = class(&chars, i) {
                    out.push(class);
                    i = end;
                } else {
                    out.push(Token::Char('['));
                }
            }
            '\\' if i + 1 < chars.len() => {
                i += 1;
                out.push(Token::Char(chars[i]));
            }
            c => out.push(Token::Char(c)),
        }
        i += 1;
    }
    out
}

/// `[...]` starting at `start`: the class and the index of its `]`.
fn class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start + 1;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let first = i;
    while i < chars.len() {
        let c = chars[i];
        if c == ']' && i > first {
            return Some((Token::Class { ranges, negated }, i));
        }
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|e| *e != ']') {
            ranges.push((c, chars[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    None
}

/// Glob matching of one name, linear-ish: the classic backtrack to the last `*`.
fn name_matches(tokens: &[Token], name: &str) -> bool {
    let chars: Vec<char> = name.chars().collect();
    let (mut t, mut c) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while c < chars.len() {
        let ok = match tokens.get(t) {
            Some(Token::Char(x)) => *x == chars[c],
            Some(Token::One) => true,
            Some(Token::Class { ranges, negated }) => {
                ranges.iter().any(|(lo, hi)| *lo <= chars[c] && chars[c] <= *hi) != *negated
            }
            Some(Token::Star) => {
                star = Some((t, c));
                t += 1;
                continue;
            }
            None => false,
        };
        if ok {
            t += 1;
            c += 1;
        } else if let Some((st, sc)) = star {
            t = st + 1;
            c = sc + 1;
            star = Some((st, sc + 1));
        } else {
            return false;
        }
    }
    tokens[t..].iter().all(|tok| matches!(tok, Token::Star))
}

/// Most entries [`walk`] lists before giving up.
pub const MAX_WALK_ENTRIES: usize = 1_000_000;
/// Deepest directory nesting [`walk`] descends.
pub const MAX_WALK_DEPTH: usize = 256;

/// Lists the tree under `root`, sorted by path: files, directories and
/// symbolic links. Links are listed, never followed (a link to a directory is
/// not descended), so nothing outside `root` is ever listed. A missing root
/// is an empty tree (a cache path that does not exist yet). Names that are not
/// UTF-8, more than [`MAX_WALK_ENTRIES`] entries, or nesting deeper than
/// [`MAX_WALK_DEPTH`] are errors.
pub fn walk(root: &Path) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    match std::fs::symlink_metadata(root) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    walk_dir(root, "", 0, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk_dir(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<Entry>) -> io::Result<()> {
    if depth > MAX_WALK_DEPTH {
        return Err(io::Error::other(format!("{}: nested deeper than {MAX_WALK_DEPTH} directories", dir.display())));
    }
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let name = item.file_name();
        let Some(name) = name.to_str() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: a file name that is not UTF-8", item.path().display()),
            ));
        };
        let path = if prefix.is_empty() { name.to_owned() } else { format!("{prefix}/{name}") };
        // file_type() does not follow links.
        let file_type = item.file_type()?;
        let kind = if file_type.is_symlink() {
            EntryKind::Symlink
        } else if file_type.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::File
        };
        if out.len() >= MAX_WALK_ENTRIES {
            return Err(io::Error::other(format!("{}: more than {MAX_WALK_ENTRIES} entries", dir.display())));
        }
        out.push(Entry { path: path.clone(), kind });
        if kind == EntryKind::Dir {
            walk_dir(&item.path(), &path, depth + 1, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
