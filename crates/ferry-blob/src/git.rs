//! Revisions kept in git repositories (CodeDeploy's `gitHubLocation`).
//!
//! ferry runs the `git` command-line client rather than linking a git
//! library: it speaks every transport (https with the operator's credential
//! helpers, ssh with their keys, git://, local paths) exactly as the
//! operator's own `git` does, supports protocol v2 fetches of a single
//! commit, and `git archive` applies the repository's `export-ignore` /
//! `export-subst` attributes the way GitHub's tarballs do. It costs one
//! Debian package (`git`) on the server, nothing at build time.
//!
//! Each repository gets a bare cache under the directory the server names
//! (`<cache>/<sha256 of the URL>.git`); the exact commit is fetched into it
//! (`--depth=1`, kept under `refs/ferry/<commit>` so it is never pruned) and
//! `git archive --format=tar <commit>` is streamed into the blob store.
//!
//! Safety:
//! - Repository strings are accepted in a few forms only (see
//!   [`GitSource::resolve`]); none may start with `-`, contain control
//!   characters or whitespace, or carry a password; the URL is passed after
//!   `--`; `GIT_ALLOW_PROTOCOL` limits git to https, http, git, ssh and file
//!   (so `ext::` and friends are refused by git too).
//! - Credentials are never put on a command line: git finds them itself
//!   (credential helpers, ssh agent or keys). git never prompts
//!   (`GIT_TERMINAL_PROMPT=0`, stdin closed).
//! - Every git process runs in its own process group and is killed, with
//!   its children, when it outlives the timeout (default 5 minutes) or when
//!   the fetch is abandoned.
//! - Commits must be full 40-hex SHA-1s: a branch or tag name could move.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

use crate::{BlobInfo, FetchError, LocalBlobs, hex};

/// Where `owner/repo` shorthands point unless configured otherwise.
pub const DEFAULT_GIT_BASE_URL: &str = "https://github.com/{repository}.git";
/// The environment variable that overrides [`DEFAULT_GIT_BASE_URL`].
pub const GIT_BASE_URL_ENV: &str = "FERRY_GIT_BASE_URL";
/// How long one git process may run.
pub const DEFAULT_GIT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

const SCHEMES: [&str; 5] = ["https", "http", "git", "ssh", "file"];
const ALLOWED_PROTOCOLS: &str = "https:http:git:ssh:file";
/// How much of git's stderr is kept for messages.
const STDERR_TAIL: usize = 4096;

/// Fetches commits of git repositories into the blob store.
#[derive(Debug, Clone)]
pub struct GitSource {
    cache_dir: PathBuf,
    base_url: String,
    timeout: Duration,
    git: PathBuf,
    /// Whether full URLs and absolute paths are accepted, or only `owner/repo`.
    direct: bool,
    /// One lock per cache repository: fetches into one cache take turns.
    locks: Arc<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>>,
}

impl GitSource {
    /// Caches repositories under `cache_dir` (created when first needed);
    /// `owner/repo` maps to GitHub.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            base_url: DEFAULT_GIT_BASE_URL.to_string(),
            timeout: DEFAULT_GIT_TIMEOUT,
            git: PathBuf::from("git"),
            direct: true,
            locks: Arc::default(),
        }
    }

    /// [`GitSource::new`] with the base URL from `FERRY_GIT_BASE_URL` when set.
    pub fn from_env(cache_dir: impl Into<PathBuf>) -> Result<Self, FetchError> {
        let source = Self::new(cache_dir);
        match std::env::var(GIT_BASE_URL_ENV) {
            Ok(template) if !template.is_empty() => source.with_base_url(&template),
            _ => Ok(source),
        }
    }

    /// Where `owner/repo` shorthands point: a URL template containing
    /// `{repository}` (e.g. `https://git.example.com/{repository}.git`,
    /// `file:///srv/git/{repository}`), with one of the accepted schemes.
    pub fn with_base_url(mut self, template: &str) -> Result<Self, FetchError> {
        let probe = template.replace("{repository}", "owner/repo");
        if !template.contains("{repository}") || check_url(&probe).is_err() {
            return Err(FetchError::Invalid(format!(
                "git base URL {template:?} must be an https://, http://, git://, ssh:// or file:/// URL \
                 containing {{repository}}"
            )));
        }
        self.base_url = template.to_string();
        Ok(self)
    }

    /// Bounds each git process (default 5 minutes).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `git` program to run (default: `git` from `PATH`).
    pub fn with_git_program(mut self, git: impl Into<PathBuf>) -> Self {
        self.git = git.into();
        self
    }

    /// Whether users may name repositories by full URL or absolute path
    /// (the default), or only as `owner/repo` through the base URL. A server
    /// whose users should not make it fetch from arbitrary hosts or read
    /// repositories on its own disk turns this off.
    pub fn with_direct_locations(mut self, allowed: bool) -> Self {
        self.direct = allowed;
        self
    }

    /// The URL git is given for a `gitHubLocation.repository`:
    /// - `https://…`, `http://…`, `git://…`, `ssh://…` and `file:///…` URLs
    ///   and absolute local paths, as they are;
    /// - `owner/repo` (letters, digits, `.`, `_`, `-`; a trailing `.git` is
    ///   dropped), through the base URL template.
    ///
    /// Anything else (scp-style `host:path`, relative paths, strings
    /// starting with `-`, passwords in URLs) is refused.
    pub fn resolve(&self, repository: &str) -> Result<String, FetchError> {
        let invalid = |why: &str| {
            FetchError::Invalid(format!(
                "repository {repository:?} {why}; use owner/repo, an https://, http://, git://, ssh:// or \
                 file:/// URL, or an absolute path"
            ))
        };
        if repository.is_empty() || repository.len() > 2048 {
            return Err(invalid("is empty or too long"));
        }
        if repository.starts_with('-') {
            return Err(invalid("must not start with '-'"));
        }
        if repository.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid("must not contain whitespace or control characters"));
        }
        let direct = repository.starts_with('/') || repository.contains("://");
        if direct && !self.direct {
            return Err(FetchError::Invalid(format!(
                "repository {repository:?} must be given as owner/repo on this server"
            )));
        }
        if repository.starts_with('/') {
            return Ok(repository.to_string());
        }
        if repository.contains("://") {
            return check_url(repository).map(|()| repository.to_string()).map_err(invalid);
        }
        let (owner, repo) = repository.split_once('/').ok_or_else(|| invalid("is not an accepted form"))?;
        let repo = repo.strip_suffix(".git").unwrap_or(repo);
        let name_ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        if !name_ok(owner) || !name_ok(repo) {
            return Err(invalid("is not an accepted form"));
        }
        Ok(self.base_url.replace("{repository}", &format!("{owner}/{repo}")))
    }

    /// Fetches `commit` (a full 40-hex SHA-1) of `repository` (see
    /// [`GitSource::resolve`]) and stores `git archive --format=tar` of it,
    /// at most `limit` bytes: a `tar` bundle.
    pub async fn fetch_git(
        &self,
        blobs: &LocalBlobs,
        repository: &str,
        commit: &str,
        limit: u64,
    ) -> Result<BlobInfo, FetchError> {
        let url = self.resolve(repository)?;
        if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FetchError::Invalid(format!(
                "commit id {commit:?} must be a full 40-character hexadecimal SHA-1"
            )));
        }
        let commit = commit.to_ascii_lowercase();
        let cache = self.cache_path(&url);
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(locks.entry(cache.clone()).or_default())
        };
        let _guard = lock.lock().await;

        self.init_cache(&cache).await?;
        if !self.has_commit(&cache, &commit).await? {
            self.fetch_commit(&cache, &url, repository, &commit).await?;
            if !self.has_commit(&cache, &commit).await? {
                return Err(FetchError::NotFound(format!("commit {commit} not found in repository {repository}")));
            }
        }
        self.archive(blobs, &cache, &commit, limit).await
    }

    /// The commit `reference` (a branch or tag name; a branch wins over a
    /// tag of the same name) names in `repository` now, by `git ls-remote`.
    pub async fn head(&self, repository: &str, reference: &str) -> Result<String, FetchError> {
        let url = self.resolve(repository)?;
        if reference.is_empty() || reference.starts_with('-') {
            return Err(FetchError::Invalid(format!("{reference:?} is not a branch or tag name")));
        }
        let mut cmd = self.command(None);
        cmd.args(["ls-remote", "--", &url, reference]);
        let out = self.run(cmd, "git ls-remote").await?;
        if !out.status.success() {
            return Err(FetchError::Unreachable(format!("git ls-remote {repository}: {}", out.stderr.trim())));
        }
        let mut refs: Vec<(&str, &str)> = out.stdout.lines().filter_map(|l| l.split_once('\t')).collect();
        refs.retain(|(_, r)| *r == format!("refs/heads/{reference}") || *r == format!("refs/tags/{reference}"));
        refs.sort_by_key(|(_, r)| !r.starts_with("refs/heads/"));
        refs.first()
            .map(|(sha, _)| sha.to_string())
            .ok_or_else(|| FetchError::NotFound(format!("repository {repository} has no branch or tag {reference}")))
    }

    /// The author, dates and message of `commit`, which
    /// [`GitSource::fetch_git`] fetched from `repository` before.
    pub async fn commit_info(&self, repository: &str, commit: &str) -> Result<CommitInfo, FetchError> {
        let cache = self.cache_path(&self.resolve(repository)?);
        let mut cmd = self.command(Some(&cache));
        cmd.args(["log", "-1", "--no-show-signature", "--format=%an%x00%aI%x00%cI%x00%B", commit, "--"]);
        let out = self.run(cmd, "git log").await?;
        if !out.status.success() {
            return Err(FetchError::NotFound(format!("commit {commit} of {repository}: {}", out.stderr.trim())));
        }
        let mut parts = out.stdout.splitn(4, '\0');
        let mut next = || parts.next().unwrap_or_default().to_string();
        Ok(CommitInfo {
            author: next(),
            author_date: next(),
            committer_date: next(),
            message: next().trim_end().to_string(),
        })
    }

    fn cache_path(&self, url: &str) -> PathBuf {
        self.cache_dir.join(format!("{}.git", &hex(&Sha256::digest(url.as_bytes()))[..32]))
    }

    async fn init_cache(&self, cache: &Path) -> Result<(), FetchError> {
        if cache.join("HEAD").is_file() {
            return Ok(());
        }
        let local = |e: std::io::Error| FetchError::Unreachable(format!("git cache {}: {e}", self.cache_dir.display()));
        tokio::fs::create_dir_all(&self.cache_dir).await.map_err(local)?;
        // Initialise aside and rename, so a half-made cache is never used.
        let tmp = self.cache_dir.join(format!(".init-{}-{}", std::process::id(), crate::unique()));
        let mut cmd = self.command(None);
        cmd.arg("init").arg("--bare").arg("--quiet").arg("--").arg(&tmp);
        let result = self.run(cmd, "git init").await;
        let result = match result {
            Ok(out) if out.status.success() => match tokio::fs::rename(&tmp, cache).await {
                Ok(()) => Ok(()),
                Err(_) if cache.join("HEAD").is_file() => Ok(()),
                Err(e) => Err(local(e)),
            },
            Ok(out) => Err(FetchError::Unreachable(format!("git init failed: {}", out.stderr))),
            Err(e) => Err(e),
        };
        let _ = tokio::fs::remove_dir_all(&tmp).await;
        result
    }

    async fn has_commit(&self, cache: &Path, commit: &str) -> Result<bool, FetchError> {
        let mut cmd = self.command(Some(cache));
        cmd.arg("cat-file").arg("-t").arg(commit);
        let out = self.run(cmd, "git cat-file").await?;
        Ok(out.status.success() && out.stdout.trim() == "commit")
    }

    async fn fetch_commit(&self, cache: &Path, url: &str, repository: &str, commit: &str) -> Result<(), FetchError> {
        let mut cmd = self.command(Some(cache));
        cmd.args(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules", "--depth=1"])
            .arg("--")
            .arg(url)
            .arg(format!("+{commit}:refs/ferry/{commit}"));
        let out = self.run(cmd, "git fetch").await?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = out.stderr;
        let lower = stderr.to_ascii_lowercase();
        if lower.contains("not our ref")
            || lower.contains("no such remote ref")
            || lower.contains("couldn't find remote ref")
        {
            // Protocol v2 servers (git ≥ 2.18, GitHub, GitLab, Gitea) serve any
            // object they have; "not our ref" means the commit is not there.
            return Err(FetchError::NotFound(format!("commit {commit} not found in repository {repository}")));
        }
        if lower.contains("does not appear to be a git repository")
            || lower.contains("repository not found")
            || lower.contains("not found")
        {
            return Err(FetchError::NotFound(format!("repository {repository} not found: {stderr}")));
        }
        Err(FetchError::Unreachable(format!("fetching {commit} from repository {repository} failed: {stderr}")))
    }

    async fn archive(
        &self,
        blobs: &LocalBlobs,
        cache: &Path,
        commit: &str,
        limit: u64,
    ) -> Result<BlobInfo, FetchError> {
        let mut cmd = self.command(Some(cache));
        cmd.args(["archive", "--format=tar", commit, "--"]).stdout(Stdio::piped());
        let mut child = self.spawn(cmd, "git archive")?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (status, stored, stderr) =
            self.supervise(child, "git archive", async move { blobs.put_pending(stdout, limit).await }).await?;
        // A blob error (too large, disk full) explains git's broken pipe.
        let pending = stored?;
        if !status.success() {
            return Err(FetchError::Unreachable(format!("git archive of {commit} failed ({status}): {stderr}")));
        }
        Ok(pending.commit().await?)
    }

    /// A git command with a scrubbed, non-interactive environment.
    fn command(&self, git_dir: Option<&Path>) -> Command {
        let mut cmd = Command::new(&self.git);
        for var in [
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
            "GIT_OBJECT_DIRECTORY",
            "GIT_ALTERNATE_OBJECT_DIRECTORIES",
            "GIT_COMMON_DIR",
            "GIT_NAMESPACE",
            "GIT_CONFIG_PARAMETERS",
            "GIT_CONFIG_COUNT",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ALLOW_PROTOCOL", ALLOWED_PROTOCOLS)
            .env("LC_ALL", "C")
            .env("LANGUAGE", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // No automatic gc or maintenance in the cache, no hooks.
        cmd.args(["-c", "gc.auto=0", "-c", "maintenance.auto=false", "-c", "core.hooksPath=/dev/null"]);
        if let Some(dir) = git_dir {
            let mut arg = OsString::from("--git-dir=");
            arg.push(dir);
            cmd.arg(arg);
        }
        cmd
    }

    fn spawn(&self, mut cmd: Command, what: &str) -> Result<Child, FetchError> {
        cmd.spawn().map_err(|e| {
            FetchError::Unreachable(format!(
                "could not run {what} ({}): {e}; the server needs git installed",
                self.git.display()
            ))
        })
    }

    /// Runs a git command to its end, keeping a little of its stdout.
    async fn run(&self, mut cmd: Command, what: &str) -> Result<Output, FetchError> {
        cmd.stdout(Stdio::piped());
        let mut child = self.spawn(cmd, what)?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (status, stdout, stderr) = self.supervise(child, what, read_tail(stdout, 64 * 1024, false)).await?;
        Ok(Output { status, stdout, stderr })
    }

    /// Waits for `child` while `work` consumes its stdout and its stderr is
    /// collected, killing the process group if it outlives the timeout or
    /// this future is dropped.
    async fn supervise<T>(
        &self,
        mut child: Child,
        what: &str,
        work: impl Future<Output = T>,
    ) -> Result<(ExitStatus, T, String), FetchError> {
        let group = KillGroup(child.id());
        let stderr = child.stderr.take().expect("stderr is piped");
        let all = async {
            let (status, out, err) = tokio::join!(child.wait(), work, read_tail(stderr, STDERR_TAIL, true));
            (status, out, err)
        };
        match tokio::time::timeout(self.timeout, all).await {
            Ok((status, out, err)) => {
                group.disarm();
                let status = status.map_err(|e| FetchError::Unreachable(format!("waiting for {what}: {e}")))?;
                Ok((status, out, err))
            }
            Err(_) => {
                drop(group);
                let _ = child.wait().await;
                Err(FetchError::Unreachable(format!(
                    "{what} did not finish within {} s and was killed",
                    self.timeout.as_secs()
                )))
            }
        }
    }
}

/// What a source action tells about a commit (git's `%an`, `%aI`, `%cI`, `%B`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitInfo {
    pub author: String,
    /// ISO 8601.
    pub author_date: String,
    pub committer_date: String,
    pub message: String,
}

struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Kills a process group when dropped, unless disarmed.
struct KillGroup(Option<u32>);

impl KillGroup {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for KillGroup {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Reads `reader` to its end, keeping its first (or last) `keep` bytes.
async fn read_tail(mut reader: impl AsyncRead + Unpin, keep: usize, tail: bool) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = reader.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > keep {
            if tail {
                kept.drain(..kept.len() - keep);
            } else {
                kept.truncate(keep);
            }
        }
    }
    String::from_utf8_lossy(&kept).trim().to_string()
}

/// A URL of an accepted scheme, with a host (or `file:///`), no password
/// and nothing git could read as an option.
fn check_url(url: &str) -> Result<(), &'static str> {
    let (scheme, rest) = url.split_once("://").ok_or("is not a URL")?;
    if !SCHEMES.contains(&scheme) {
        return Err("has a URL scheme ferry does not accept");
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain whitespace or control characters");
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if scheme == "file" {
        return if authority.is_empty() && !path.is_empty() { Ok(()) } else { Err("must be a file:/// URL") };
    }
    let (userinfo, host) = authority.rsplit_once('@').unwrap_or(("", authority));
    if userinfo.contains(':') {
        return Err("must not carry a password (configure a git credential helper instead)");
    }
    if host.is_empty() || host.starts_with('-') || userinfo.starts_with('-') {
        return Err("has an invalid host");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_forms() {
        let git = GitSource::new("/nonexistent");
        let ok = |r: &str| git.resolve(r).unwrap();
        assert_eq!(ok("acme/web-app"), "https://github.com/acme/web-app.git");
        assert_eq!(ok("acme/web-app.git"), "https://github.com/acme/web-app.git");
        assert_eq!(ok("https://git.example.com/a/b.git"), "https://git.example.com/a/b.git");
        assert_eq!(ok("ssh://git@example.com/a/b.git"), "ssh://git@example.com/a/b.git");
        assert_eq!(ok("git://example.com/a"), "git://example.com/a");
        assert_eq!(ok("file:///srv/git/a"), "file:///srv/git/a");
        assert_eq!(ok("/srv/git/a"), "/srv/git/a");
        for bad in [
            "",
            "-uhttps://x",
            "--upload-pack=touch /tmp/pwned",
            "acme",
            "acme/web/app",
            "../x",
            "./x",
            "acme/..",
            "git@github.com:acme/web.git",
            "ext::sh -c touch% /tmp/pwned",
            "ext::sh",
            "ftp://example.com/x",
            "https://user:token@example.com/x.git",
            "ssh://-oProxyCommand=touch/x",
            "ssh://user@-oProxyCommand=x/y",
            "file://host/x",
            "https://example.com/a b",
            "acme/web\napp",
            "relative/path/x",
        ] {
            assert!(matches!(git.resolve(bad), Err(FetchError::Invalid(_))), "{bad:?} was accepted");
        }
    }

    #[test]
    fn base_url_templates() {
        let git = GitSource::new("/x").with_base_url("file:///srv/git/{repository}").unwrap();
        assert_eq!(git.resolve("a/b").unwrap(), "file:///srv/git/a/b");
        assert!(GitSource::new("/x").with_base_url("https://example.com/").is_err());
        assert!(GitSource::new("/x").with_base_url("ext::{repository}").is_err());
        assert!(GitSource::new("/x").with_base_url("-c{repository}").is_err());
    }

    #[test]
    fn direct_locations_can_be_refused() {
        let git = GitSource::new("/x").with_direct_locations(false);
        assert_eq!(git.resolve("a/b").unwrap(), "https://github.com/a/b.git");
        for direct in ["/srv/git/a", "file:///srv/git/a", "https://example.com/a.git"] {
            assert!(matches!(git.resolve(direct), Err(FetchError::Invalid(m)) if m.contains("owner/repo")), "{direct}");
        }
    }
}
