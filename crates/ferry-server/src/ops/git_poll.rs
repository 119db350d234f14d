//! Git polling (issue #13: builds from git without any forge): projects
//! with a git source and `poll_seconds` have their branch's head read with
//! `git ls-remote` that often; a head that changed starts a build of the
//! new commit (initiator `git-poll`). The first look only records the head,
//! so turning polling on does not build what is already there. The last
//! head seen is kept in the store (`git_poll/<project>`), so a restarted
//! server does not build a commit twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ferry_core::build::{BuildSource, Initiator};

use super::OpError;
use super::builds::{self, StartBuild};
use crate::AppState;

/// How long one `git ls-remote` may take.
const LS_REMOTE_TIMEOUT: Duration = Duration::from_secs(60);

fn setting(project: &str) -> String {
    format!("git_poll/{project}")
}

/// The commit `reference` (a branch or tag; `None`: the default branch)
/// names in the repository at `url`.
pub async fn head(url: &str, reference: Option<&str>) -> Result<String, String> {
    let wanted = reference.unwrap_or("HEAD");
    let mut command = tokio::process::Command::new("git");
    command.args(["ls-remote", "--", url, wanted]).env("GIT_TERMINAL_PROMPT", "0").kill_on_drop(true);
    let out = tokio::time::timeout(LS_REMOTE_TIMEOUT, command.output())
        .await
        .map_err(|_| format!("git ls-remote {url} took longer than {} s", LS_REMOTE_TIMEOUT.as_secs()))?
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!("git ls-remote {url}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // A branch name can match refs/heads/x and refs/tags/x: prefer the branch.
    let mut lines: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once('\t')).collect();
    lines.sort_by_key(|(_, r)| !r.starts_with("refs/heads/"));
    lines.first().map(|(sha, _)| sha.to_string()).ok_or_else(|| format!("{url} has no {wanted}"))
}

/// Polls every project that is due; returns the builds it started.
pub async fn poll_once(state: &AppState, last_poll: &mut HashMap<String, Instant>) -> Result<Vec<String>, OpError> {
    let mut started = Vec::new();
    for project in builds::list_projects(state).await? {
        let (Some(every), BuildSource::Git { url, version }) = (project.poll_seconds, &project.source) else {
            continue;
        };
        let due = last_poll.get(&project.name).is_none_or(|t| t.elapsed() >= Duration::from_secs(u64::from(every)));
        if !due {
            continue;
        }
        last_poll.insert(project.name.clone(), Instant::now());
        let commit = match head(url, version.as_deref()).await {
            Ok(commit) => commit,
            Err(e) => {
                tracing::warn!(project = %project.name, error = %e, "cannot poll the project's git source");
                continue;
            }
        };
        let key = setting(&project.name);
        let seen = state.store.get_setting(&key).await?;
        if seen.as_deref() == Some(commit.as_str()) {
            continue;
        }
        state.store.put_setting(&key, &commit).await?;
        if seen.is_none() {
            tracing::info!(project = %project.name, %commit, "polling the project's git source from this commit on");
            continue;
        }
        let request = StartBuild { source_version: Some(commit.clone()), ..StartBuild::by(Initiator::Poll) };
        match builds::start(state, &project.name, request, |_| {}).await {
            Ok(b) => {
                tracing::info!(project = %project.name, %commit, build = %b.id, "new commit: build started");
                started.push(b.id);
            }
            Err(e) => tracing::warn!(project = %project.name, error = %e, "cannot start the build of a new commit"),
        }
    }
    Ok(started)
}

/// Polls until `stop`, checking every few seconds which projects are due.
pub async fn poll_forever(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut last_poll = HashMap::new();
    let mut last_pipeline_poll = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(e) = poll_once(&state, &mut last_poll).await {
            tracing::warn!(error = %e, "cannot poll git sources");
        }
        if let Err(e) = super::pipeline_triggers::poll_once(&state, &mut last_pipeline_poll).await {
            tracing::warn!(error = %e, "cannot poll pipelines' git sources");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::build::{BuildProject, BuildStatus};

    fn git(dir: &std::path::Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git").args(args).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn commit(dir: &std::path::Path, text: &str) -> String {
        std::fs::write(dir.join("file.txt"), text).unwrap();
        git(dir, &["add", "."]);
        git(dir, &["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", text]);
        git(dir, &["rev-parse", "HEAD"])
    }

    #[tokio::test]
    async fn a_new_commit_on_the_polled_branch_starts_one_build() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "--quiet", "--initial-branch=main"]);
        let first = commit(&repo, "one");
        let state = AppState::for_tests(dir.path()).await;
        let project = BuildProject {
            id: "p".into(),
            name: "polled".into(),
            source: BuildSource::Git { url: repo.display().to_string(), version: Some("main".into()) },
            timeout_minutes: 60,
            queued_timeout_minutes: 60,
            poll_seconds: Some(30),
            ..BuildProject::default()
        };
        builds::create_project(&state, project).await.unwrap();
        assert_eq!(head(&repo.display().to_string(), Some("main")).await.unwrap(), first);

        // Every poll is due (an empty map): the first only records the head.
        assert!(poll_once(&state, &mut HashMap::new()).await.unwrap().is_empty());
        assert!(poll_once(&state, &mut HashMap::new()).await.unwrap().is_empty(), "no change, no build");
        let second = commit(&repo, "two");
        let started = poll_once(&state, &mut HashMap::new()).await.unwrap();
        let [id] = started.as_slice() else { panic!("one build: {started:?}") };
        let b = builds::get(&state, id).await.unwrap();
        assert_eq!((b.source_version.as_deref(), b.status), (Some(second.as_str()), BuildStatus::Queued));
        assert_eq!(b.initiator, Initiator::Poll);
        assert!(poll_once(&state, &mut HashMap::new()).await.unwrap().is_empty(), "built once");
        // Not due yet: nothing is read.
        let mut recent = HashMap::from([("polled".to_string(), Instant::now())]);
        commit(&repo, "three");
        assert!(poll_once(&state, &mut recent).await.unwrap().is_empty());
        let bad = head(&dir.path().join("nothing").display().to_string(), None).await.unwrap_err();
        assert!(bad.contains("git ls-remote"), "{bad}");
    }
}
