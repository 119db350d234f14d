//! Pruning old revisions of a deployment group, as CodeDeploy's agent does at
//! the start of DownloadBundle.

use std::path::Path;

/// Keeps at most `max_revisions` deployment directories in `group_dir`
/// (counting the current one, `keep_current`, which is never removed), oldest
/// removed first by modification time. The last successful deployment's
/// directory, `keep_last_successful`, is never removed either. Other groups'
/// directories are never touched: retention is per group.
pub fn prune_old_revisions(
    group_dir: &Path,
    keep_current: &Path,
    keep_last_successful: Option<&Path>,
    max_revisions: u32,
) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut candidates = Vec::new();
    let mut count: u64 = 0;
    let entries = match std::fs::read_dir(group_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if path == keep_current || !entry.file_type()?.is_dir() {
            continue;
        }
        count += 1;
        if Some(path.as_path()) == keep_last_successful {
            continue;
        }
        let modified = entry.metadata()?.modified()?;
        candidates.push((modified, path));
    }
    // CodeDeploy: extra = count - max_revisions + 1 (the +1 makes room for
    // the deployment being downloaded now).
    let extra = (count + 1).saturating_sub(u64::from(max_revisions));
    candidates.sort();
    let mut removed = Vec::new();
    for (_, path) in candidates.into_iter().take(extra as usize) {
        std::fs::remove_dir_all(&path)?;
        removed.push(path);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn make(dir: &Path, name: &str, age_secs: u64) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(&path).unwrap();
        let time = SystemTime::now() - Duration::from_secs(age_secs);
        std::fs::File::open(&path).unwrap().set_modified(time).unwrap();
        path
    }

    #[test]
    fn keeps_newest_and_last_successful() {
        let tmp = tempfile::tempdir().unwrap();
        let g = tmp.path();
        let oldest = make(g, "d-1", 400);
        let _old = make(g, "d-2", 300);
        let _mid = make(g, "d-3", 200);
        let _new = make(g, "d-4", 100);
        let current = g.join("d-5");
        // max 3: the current one plus two more, and d-1 (last successful,
        // the oldest) must be one of them.
        let removed = prune_old_revisions(g, &current, Some(&oldest), 3).unwrap();
        let mut left: Vec<_> = std::fs::read_dir(g).unwrap().map(|e| e.unwrap().file_name()).collect();
        left.sort();
        assert_eq!(left, ["d-1", "d-4"]);
        assert_eq!(removed.len(), 2);
    }

    #[test]
    fn nothing_to_do_under_the_limit() {
        let tmp = tempfile::tempdir().unwrap();
        make(tmp.path(), "d-1", 10);
        let removed = prune_old_revisions(tmp.path(), &tmp.path().join("d-2"), None, 5).unwrap();
        assert!(removed.is_empty());
        assert!(prune_old_revisions(&tmp.path().join("none"), tmp.path(), None, 1).unwrap().is_empty());
    }
}
