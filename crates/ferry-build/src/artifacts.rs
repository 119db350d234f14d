//! UPLOAD_ARTIFACTS and reports: files selected with
//! `ferry_buildspec::Selection` over `walk` of the source directory, staged
//! into a private directory and zipped with `ferry_bundle::pack`.

use std::io::Read;
use std::path::{Path, PathBuf};

use ferry_buildspec::reports::{self, Summary, TestCase};
use ferry_buildspec::{ArtifactSpec, Entry, EntryKind, ReportGroup, Selected};
use ferry_bundle::BundleType;
use sha2::{Digest, Sha256};

/// A zipped artifact in the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactResult {
    /// `None` for the primary artifact; the `secondary-artifacts` identifier otherwise.
    pub identifier: Option<String>,
    /// The zip file written.
    pub path: PathBuf,
    /// Hex SHA-256 of the zip.
    pub sha256: String,
    /// Size of the zip in bytes.
    pub size: u64,
    /// Paths inside the zip, sorted.
    pub files: Vec<String>,
}

/// A report group's parsed files.
#[derive(Debug, Clone)]
pub struct ReportResult {
    /// The report group's name as the buildspec gives it.
    pub name: String,
    pub format: &'static str,
    /// Report files read, relative to the source directory.
    pub files: Vec<String>,
    pub cases: Vec<TestCase>,
    pub summary: Summary,
    /// Files that could not be read or parsed, and unsupported formats.
    pub errors: Vec<String>,
}

/// Zips one artifact: `selected` paths are relative to `src`.
pub(crate) fn write_artifact(
    src: &Path,
    spec: &ArtifactSpec,
    identifier: Option<&str>,
    entries: &[Entry],
    out_dir: &Path,
) -> Result<ArtifactResult, String> {
    let selected = spec.selection.select_required(entries).map_err(|e| format!("CLIENT_ERROR: {e}"))?;
    let name = file_name(spec.name.as_deref().or(identifier).unwrap_or("artifacts"));
    write_selected(src, &selected, &name, identifier, spec.enable_symlinks, out_dir)
}

/// Zips `selected` (paths relative to `src`) as `out_dir/<name>.zip`.
pub(crate) fn write_selected(
    src: &Path,
    selected: &[Selected],
    name: &str,
    identifier: Option<&str>,
    keep_links: bool,
    out_dir: &Path,
) -> Result<ArtifactResult, String> {
    std::fs::create_dir_all(out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(out_dir)
        .map_err(|e| format!("cannot stage the artifact in {}: {e}", out_dir.display()))?;
    let root = staging.path().join("root");
    std::fs::create_dir(&root).map_err(|e| format!("cannot stage the artifact: {e}"))?;
    let canonical_src = src.canonicalize().map_err(|e| format!("cannot read {}: {e}", src.display()))?;
    for file in selected {
        stage(&canonical_src, file, &root, keep_links)?;
    }
    let zip = out_dir.join(format!("{name}.zip"));
    let _ = std::fs::remove_file(&zip);
    ferry_bundle::pack(&root, BundleType::Zip, &zip).map_err(|e| format!("cannot zip the artifact {name}: {e}"))?;
    let (sha256, size) = digest(&zip).map_err(|e| format!("cannot read {}: {e}", zip.display()))?;
    let mut files: Vec<String> = selected.iter().filter(|s| s.kind != EntryKind::Dir).map(|s| s.dest.clone()).collect();
    files.sort();
    Ok(ArtifactResult { identifier: identifier.map(str::to_owned), path: zip, sha256, size, files })
}

/// Copies one selected file into the staging tree. A symbolic link is kept as
/// a link with `enable-symlinks`; otherwise its target is copied, but only if
/// it lies inside the source directory (a build must not smuggle the host's
/// files into an artifact through a link).
fn stage(src: &Path, file: &Selected, root: &Path, keep_links: bool) -> Result<(), String> {
    let from = src.join(&file.source);
    let to = root.join(&file.dest);
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot stage {}: {e}", file.dest))?;
    }
    match file.kind {
        EntryKind::Dir => Ok(()),
        EntryKind::Symlink if keep_links => {
            let target = std::fs::read_link(&from).map_err(|e| format!("cannot read link {}: {e}", file.source))?;
            std::os::unix::fs::symlink(target, &to).map_err(|e| format!("cannot stage {}: {e}", file.dest))
        }
        EntryKind::Symlink | EntryKind::File => {
            let real = from.canonicalize().map_err(|e| format!("cannot read {}: {e}", file.source))?;
            if !real.starts_with(src) {
                return Err(format!(
                    "{} is a link to {}, outside the source directory; set enable-symlinks to keep it as a link",
                    file.source,
                    real.display()
                ));
            }
            if !real.is_file() {
                return Err(format!("{} is not a regular file", file.source));
            }
            std::fs::copy(&real, &to).map(drop).map_err(|e| format!("cannot copy {}: {e}", file.source))
        }
    }
}

/// A zip file name from an artifact name: path separators and leading dots
/// cannot make it land outside the output directory.
fn file_name(name: &str) -> String {
    let cleaned: String = name.chars().map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c }).collect();
    let cleaned = cleaned.trim_start_matches('.').to_owned();
    if cleaned.is_empty() { "artifacts".to_owned() } else { cleaned }
}

fn digest(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hasher.finalize().iter().map(|b| format!("{b:02x}")).collect(), size))
}

/// Reads a report group's files (relative to `src`).
pub(crate) fn read_reports(src: &Path, group: &ReportGroup, entries: &[Entry]) -> ReportResult {
    let mut result = ReportResult {
        name: group.name.clone(),
        format: group.file_format.name(),
        files: Vec::new(),
        cases: Vec::new(),
        summary: Summary::of(&[]),
        errors: Vec::new(),
    };
    if !group.file_format.is_supported() {
        result.errors.push(format!("report format {} is not supported by ferry", group.file_format.name()));
        return result;
    }
    match group.selection().select(entries) {
        Err(e) => result.errors.push(e.to_string()),
        Ok(selected) => {
            for file in selected.into_iter().filter(|s| s.kind == EntryKind::File) {
                match reports::read_report(&src.join(&file.source), group.file_format) {
                    Ok(cases) => result.cases.extend(cases),
                    Err(e) => result.errors.push(format!("{}: {e}", file.source)),
                }
                result.files.push(file.source);
            }
            if result.files.is_empty() {
                result.errors.push(format!("no report files matched {}", group.files.join(", ")));
            }
        }
    }
    result.summary = Summary::of(&result.cases);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_names_stay_in_the_output_directory() {
        assert_eq!(file_name("../../etc/x"), "_.._etc_x");
        assert_eq!(file_name("..."), "artifacts");
        assert_eq!(file_name("web-1.2"), "web-1.2");
    }
}
