//! The build cache (`cache.paths`, CodeBuild's local/S3 cache): the files
//! under the source directory that match the paths, zipped after a build and
//! unpacked into the next build's source before its commands run.
//!
//! Only paths inside the source directory are cached: a container's other
//! directories (`/root/.m2`) are gone when the build host packs the cache.
//! Absolute paths are reported, not silently dropped.

use std::path::Path;

use ferry_buildspec::{Cache, EntryKind, Selection, walk};

use crate::artifacts::{ArtifactResult, write_selected};

/// What [`save`] did.
#[derive(Debug, Clone)]
pub struct SavedCache {
    /// `None` when no file matched.
    pub zip: Option<ArtifactResult>,
    /// Paths that were not cached, with why.
    pub skipped: Vec<String>,
}

/// Zips the files of `src` matching `cache.paths` into `out_dir/cache.zip`.
pub fn save(src: &Path, cache: &Cache, out_dir: &Path) -> Result<SavedCache, String> {
    let mut skipped = Vec::new();
    let mut files = Vec::new();
    for path in &cache.paths {
        if path.starts_with('/') {
            skipped.push(format!("{path}: only paths inside the source directory are cached"));
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        return Ok(SavedCache { zip: None, skipped });
    }
    let entries = walk(src).map_err(|e| format!("cannot read {}: {e}", src.display()))?;
    let selection = Selection { files, ..Selection::default() };
    let selected = selection.select(&entries).map_err(|e| e.to_string())?;
    if selected.iter().all(|s| s.kind == EntryKind::Dir) {
        return Ok(SavedCache { zip: None, skipped });
    }
    let zip = write_selected(src, &selected, "cache", None, false, out_dir)?;
    Ok(SavedCache { zip: Some(zip), skipped })
}

/// Unpacks a saved cache into `src`; files the source already has are kept
/// (the source wins over the cache). Returns how many files came from the cache.
pub fn restore(zip: &Path, src: &Path, limits: &ferry_bundle::Limits) -> Result<usize, String> {
    let parent = src.parent().unwrap_or(src);
    let staging = tempfile::Builder::new()
        .prefix(".cache-")
        .tempdir_in(parent)
        .map_err(|e| format!("cannot stage the cache: {e}"))?;
    let root = staging.path().join("root");
    ferry_bundle::unpack(zip, ferry_bundle::BundleType::Zip, &root, limits)
        .map_err(|e| format!("cannot unpack the cache: {e}"))?;
    let mut restored = 0;
    merge(&root, src, &mut restored).map_err(|e| format!("cannot restore the cache: {e}"))?;
    Ok(restored)
}

fn merge(from: &Path, into: &Path, restored: &mut usize) -> std::io::Result<()> {
    std::fs::create_dir_all(into)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = into.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if std::fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
                continue;
            }
            merge(&entry.path(), &target, restored)?;
        } else if std::fs::symlink_metadata(&target).is_err() {
            std::fs::rename(entry.path(), &target)?;
            *restored += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_round_trip_keeps_matching_files_and_never_overwrites_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("deps/lib")).unwrap();
        std::fs::write(src.join("deps/lib/a.jar"), "cached a").unwrap();
        std::fs::write(src.join("deps/b.jar"), "cached b").unwrap();
        std::fs::write(src.join("main.c"), "source").unwrap();
        let cache = Cache {
            paths: vec!["deps/**/*".into(), "/root/.m2/**/*".into()],
            key: None,
            fallback_keys: Vec::new(),
            action: None,
        };
        let saved = save(&src, &cache, &dir.path().join("out")).unwrap();
        let zip = saved.zip.expect("files matched");
        assert_eq!(zip.files, ["deps/b.jar", "deps/lib/a.jar"]);
        assert_eq!(saved.skipped.len(), 1, "{:?}", saved.skipped);
        assert!(saved.skipped[0].starts_with("/root/.m2/**/*"));

        let next = dir.path().join("next/src");
        std::fs::create_dir_all(next.join("deps")).unwrap();
        std::fs::write(next.join("deps/b.jar"), "from the source").unwrap();
        let restored = restore(&zip.path, &next, &ferry_bundle::Limits::default()).unwrap();
        assert_eq!(restored, 1);
        assert_eq!(std::fs::read_to_string(next.join("deps/lib/a.jar")).unwrap(), "cached a");
        assert_eq!(std::fs::read_to_string(next.join("deps/b.jar")).unwrap(), "from the source");

        let nothing = Cache { paths: vec!["none/**/*".into()], ..cache };
        assert!(save(&src, &nothing, &dir.path().join("out2")).unwrap().zip.is_none());
    }
}
