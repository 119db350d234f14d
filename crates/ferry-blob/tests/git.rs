//! `GitSource` against real repositories made with the `git` CLI
//! (`apt-get install git`).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferry_blob::{BlobError, BlobInfo, FetchError, GitSource, LocalBlobs};
use ferry_bundle::{BundleType, Limits};
use ferry_testkit::git;

/// What a tree holds: path → file content (with "x" for executables), or
/// "-> target" for symlinks. Directories are implied by their entries.
type Tree = BTreeMap<String, String>;

fn write_tree(root: &Path, tree: &Tree) {
    for (path, what) in tree {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&full);
        if let Some(target) = what.strip_prefix("-> ") {
            std::os::unix::fs::symlink(target, &full).unwrap();
        } else if let Some(content) = what.strip_prefix("x ") {
            std::fs::write(&full, content).unwrap();
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o755)).unwrap();
        } else {
            std::fs::write(&full, what).unwrap();
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

fn read_tree(root: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(rel, format!("-> {}", std::fs::read_link(&path).unwrap().display()));
            } else if meta.is_dir() {
                walk(root, &path, out);
            } else {
                let content = std::fs::read_to_string(&path).unwrap();
                let exec = meta.permissions().mode() & 0o111 != 0;
                out.insert(rel, if exec { format!("x {content}") } else { content });
            }
        }
    }
    let mut out = Tree::new();
    walk(root, root, &mut out);
    out
}

fn tree(entries: &[(&str, &str)]) -> Tree {
    entries.iter().map(|(p, c)| (p.to_string(), c.to_string())).collect()
}

/// A repository at `dir` with one commit per tree; returns the commit ids.
fn make_repo(dir: &Path, trees: &[Tree]) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "--quiet", "--initial-branch=main"]);
    let mut commits = Vec::new();
    for (i, t) in trees.iter().enumerate() {
        // Replace the work tree's content with this tree.
        git(dir, &["rm", "-r", "-q", "--ignore-unmatch", "--cached", "."]);
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name() != ".git" {
                let p = entry.path();
                if p.is_dir() && !p.is_symlink() {
                    std::fs::remove_dir_all(p).unwrap();
                } else {
                    std::fs::remove_file(p).unwrap();
                }
            }
        }
        write_tree(dir, t);
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "--quiet", "-m", &format!("commit {i}")]);
        commits.push(git(dir, &["rev-parse", "HEAD"]));
    }
    commits
}

async fn unpacked(blobs: &LocalBlobs, info: &BlobInfo, dest: &Path) -> Tree {
    let bundle = blobs.dir().join(&info.key);
    ferry_bundle::unpack(&bundle, BundleType::Tar, dest, &Limits::default()).expect("the bundle unpacks");
    read_tree(dest)
}

struct Fixture {
    tmp: tempfile::TempDir,
    blobs: LocalBlobs,
    repo: PathBuf,
    commits: Vec<String>,
    trees: Vec<Tree>,
}

impl Fixture {
    async fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(tmp.path().join("blobs")).await.unwrap();
        let repo = tmp.path().join("repos/acme/web-app");
        let trees = vec![
            tree(&[
                ("appspec.yml", "version: 0.0\nos: linux\n"),
                ("scripts/start.sh", "x #!/bin/sh\necho start\n"),
                ("site/index.html", "<h1>one</h1>\n"),
                ("site/current", "-> index.html"),
                ("deep/a/b/c.txt", "c\n"),
            ]),
            tree(&[
                ("appspec.yml", "version: 0.0\nos: linux\n"),
                ("scripts/start.sh", "x #!/bin/sh\necho start two\n"),
                ("site/index.html", "<h1>two</h1>\n"),
            ]),
        ];
        let commits = make_repo(&repo, &trees);
        Self { tmp, blobs, repo, commits, trees }
    }

    fn source(&self) -> GitSource {
        GitSource::new(self.tmp.path().join("git-cache"))
    }

    fn dest(&self, name: &str) -> PathBuf {
        self.tmp.path().join("unpacked").join(name)
    }

    fn leftovers(&self) -> usize {
        std::fs::read_dir(self.blobs.dir().join("tmp")).unwrap().count()
    }
}

#[tokio::test]
async fn fetches_a_commit_by_file_url_and_by_path_as_exactly_its_tree() {
    let f = Fixture::new().await;
    let git = f.source();
    let url = format!("file://{}", f.repo.display());

    let first = git.fetch_git(&f.blobs, &url, &f.commits[0], 10 << 20).await.unwrap();
    assert_eq!(unpacked(&f.blobs, &first, &f.dest("first")).await, f.trees[0]);
    let (_, size) = f.blobs.open_blob(&first.key).await.unwrap();
    assert_eq!(size, first.size);

    // By absolute path, the older commit though HEAD moved on; upper-case ids are fine.
    let path = f.repo.to_str().unwrap();
    let second = git.fetch_git(&f.blobs, path, &f.commits[1].to_ascii_uppercase(), 10 << 20).await.unwrap();
    assert_eq!(unpacked(&f.blobs, &second, &f.dest("second")).await, f.trees[1]);

    // Cached: the same bytes again, even with the repository gone.
    std::fs::rename(&f.repo, f.tmp.path().join("moved")).unwrap();
    let again = git.fetch_git(&f.blobs, &url, &f.commits[0], 10 << 20).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(f.leftovers(), 0);
}

#[tokio::test]
async fn maps_owner_repo_through_the_base_url_template() {
    let f = Fixture::new().await;
    let template = format!("file://{}/repos/{{repository}}", f.tmp.path().display());
    let git = f.source().with_base_url(&template).unwrap();
    assert_eq!(git.resolve("acme/web-app").unwrap(), format!("file://{}", f.repo.display()));
    let info = git.fetch_git(&f.blobs, "acme/web-app", &f.commits[1], 10 << 20).await.unwrap();
    assert_eq!(unpacked(&f.blobs, &info, &f.dest("templated")).await, f.trees[1]);
    let err = git.fetch_git(&f.blobs, "acme/nope", &f.commits[1], 10 << 20).await.unwrap_err();
    assert!(matches!(err, FetchError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn refuses_short_and_unknown_commits() {
    let f = Fixture::new().await;
    let git = f.source();
    let path = f.repo.to_str().unwrap();
    for bad in [&f.commits[0][..7], &f.commits[0][..39], "main", "HEAD", "--all", ""] {
        let err = git.fetch_git(&f.blobs, path, bad, 10 << 20).await.unwrap_err();
        assert!(matches!(&err, FetchError::Invalid(m) if m.contains("full 40-character")), "{bad}: {err:?}");
    }
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let err = git.fetch_git(&f.blobs, path, unknown, 10 << 20).await.unwrap_err();
    match err {
        FetchError::NotFound(m) => assert_eq!(m, format!("commit {unknown} not found in repository {path}")),
        other => panic!("{other:?}"),
    }
    // A tree id is not a commit.
    let tree_id = git_tree_id(&f.repo, &f.commits[0]);
    let err = git.fetch_git(&f.blobs, path, &tree_id, 10 << 20).await.unwrap_err();
    assert!(matches!(err, FetchError::NotFound(_)), "{err:?}");
    assert_eq!(f.leftovers(), 0);
}

fn git_tree_id(repo: &Path, commit: &str) -> String {
    git(repo, &["rev-parse", &format!("{commit}^{{tree}}")])
}

#[tokio::test]
async fn missing_repositories_are_not_found() {
    let f = Fixture::new().await;
    let missing = f.tmp.path().join("no-such-repo");
    let err = f.source().fetch_git(&f.blobs, missing.to_str().unwrap(), &f.commits[0], 1 << 20).await.unwrap_err();
    assert!(matches!(&err, FetchError::NotFound(m) if m.contains("no-such-repo")), "{err:?}");
}

#[tokio::test]
async fn refuses_repository_strings_that_could_inject_options() {
    let f = Fixture::new().await;
    let marker = f.tmp.path().join("pwned");
    let m = marker.display();
    for evil in [
        format!("--upload-pack=touch {m}"),
        format!("--upload-pack=touch${{IFS}}{m}"),
        "-oProxyCommand=x".to_string(),
        format!("ext::sh -c touch% {m}"),
        format!("ext::touch${{IFS}}{m}"),
        format!("ssh://-oProxyCommand=touch${{IFS}}{m}/x"),
        "git@github.com:acme/web-app.git".to_string(),
        "https://user:hunter2@example.com/acme/web-app.git".to_string(),
        "relative/dir/repo".to_string(),
    ] {
        let err = f.source().fetch_git(&f.blobs, &evil, &f.commits[0], 1 << 20).await.unwrap_err();
        assert!(matches!(err, FetchError::Invalid(_)), "{evil:?}: {err:?}");
    }
    assert!(!marker.exists());
    // Nothing was even started: no cache was made.
    assert!(!f.tmp.path().join("git-cache").exists());
}

#[tokio::test]
async fn stops_at_the_size_limit_and_keeps_nothing() {
    let f = Fixture::new().await;
    let err = f.source().fetch_git(&f.blobs, f.repo.to_str().unwrap(), &f.commits[0], 1000).await.unwrap_err();
    assert!(matches!(err, FetchError::Blob(BlobError::TooLarge(1000))), "{err:?}");
    assert_eq!(f.leftovers(), 0);
    assert_eq!(std::fs::read_dir(f.blobs.dir().join("sha256")).unwrap().count(), 0);
}

#[tokio::test]
async fn kills_git_and_its_children_at_the_timeout() {
    let f = Fixture::new().await;
    let pid_file = f.tmp.path().join("child.pid");
    let fake = f.tmp.path().join("slow-git");
    std::fs::write(&fake, format!("#!/bin/sh\nsleep 60 &\necho $! > {}\nwait\n", pid_file.display())).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let git = f.source().with_git_program(&fake).with_timeout(Duration::from_secs(1));
    let started = Instant::now();
    let err = git.fetch_git(&f.blobs, f.repo.to_str().unwrap(), &f.commits[0], 1 << 20).await.unwrap_err();
    assert!(matches!(&err, FetchError::Unreachable(m) if m.contains("did not finish within 1 s")), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
    let gone = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
            .unwrap_or(true)
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gone(&pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone(&pid), "the sleep started by git (pid {pid}) outlived the timeout");
}

#[tokio::test]
async fn a_missing_git_program_is_reported() {
    let f = Fixture::new().await;
    let git = f.source().with_git_program("/nonexistent/git");
    let err = git.fetch_git(&f.blobs, f.repo.to_str().unwrap(), &f.commits[0], 1 << 20).await.unwrap_err();
    assert!(matches!(&err, FetchError::Unreachable(m) if m.contains("needs git installed")), "{err:?}");
}

#[tokio::test]
async fn names_a_branch_head_and_describes_a_fetched_commit() {
    let f = Fixture::new().await;
    let source = f.source();
    let url = format!("file://{}", f.repo.display());
    assert_eq!(source.head(&url, "main").await.unwrap(), f.commits[1]);
    git(&f.repo, &["tag", "v1", &f.commits[0]]);
    let git = source;
    assert_eq!(git.head(&url, "v1").await.unwrap(), f.commits[0]);
    assert!(matches!(git.head(&url, "nope").await, Err(FetchError::NotFound(_))));
    assert!(matches!(git.head(&url, "--upload-pack=x").await, Err(FetchError::Invalid(_))));

    git.fetch_git(&f.blobs, &url, &f.commits[1], 10 << 20).await.unwrap();
    let info = git.commit_info(&url, &f.commits[1]).await.unwrap();
    assert_eq!((info.author.as_str(), info.message.as_str()), ("ferry", "commit 1"));
    assert!(info.author_date.len() >= 20 && info.author_date.contains('T'), "{}", info.author_date);
}
