//! The Install event: cleanup of the previous install, instruction
//! generation and execution, against real files in temporary directories.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use ferry_appspec::{Ace, AceKind, FileExistsBehavior, FileMapping, ObjectType, Os, Permission, ServerAppSpec};
use ferry_host::install::{
    InstallError, InstallRecords, Instruction, cleanup_previous, generate_instructions, install,
};
use tempfile::TempDir;

use FileExistsBehavior::{Disallow, Overwrite, Retain};

/// A revision directory, a destination root and the records, all in one
/// temporary directory.
struct Fixture {
    _tmp: TempDir,
    archive: PathBuf,
    dest: PathBuf,
    records: InstallRecords,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let archive = root.join("deployment-archive");
        let dest = root.join("host");
        fs::create_dir_all(&archive).unwrap();
        fs::create_dir_all(&dest).unwrap();
        let instructions = root.join("deployment-root/deployment-instructions");
        let records = InstallRecords {
            cleanup_file: instructions.join("gid-cleanup"),
            install_json: instructions.join("gid-install.json"),
        };
        Self { _tmp: tmp, archive, dest, records }
    }

    /// Writes a file (creating its directories) in the revision.
    fn rev_file(&self, rel: &str, contents: &str) -> PathBuf {
        write(&self.archive.join(rel), contents)
    }

    /// Replaces the revision with an empty one.
    fn new_revision(&self) {
        fs::remove_dir_all(&self.archive).unwrap();
        fs::create_dir_all(&self.archive).unwrap();
    }

    fn d(&self, rel: &str) -> PathBuf {
        self.dest.join(rel)
    }

    fn install(&self, spec: &ServerAppSpec, behavior: FileExistsBehavior) -> Result<Vec<Instruction>, InstallError> {
        install(spec, &self.archive, behavior, &self.records)
    }

    fn cleanup_lines(&self) -> Vec<String> {
        fs::read_to_string(&self.records.cleanup_file).unwrap().lines().map(str::to_owned).collect()
    }
}

fn write(path: &Path, contents: &str) -> PathBuf {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
    path.to_path_buf()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn spec(files: &[(&str, &Path)], permissions: Vec<Permission>) -> ServerAppSpec {
    ServerAppSpec {
        os: Os::Linux,
        files: files
            .iter()
            .map(|(source, destination)| FileMapping {
                source: (*source).to_owned(),
                destination: destination.to_str().unwrap().to_owned(),
            })
            .collect(),
        permissions,
        hooks: Vec::new(),
        file_exists_behavior: None,
    }
}

/// A permission with CodeDeploy's defaults: pattern `**`, both types.
fn perm(object: &Path) -> Permission {
    Permission {
        object: object.to_str().unwrap().to_owned(),
        pattern: "**".into(),
        except: Vec::new(),
        types: vec![ObjectType::File, ObjectType::Directory],
        owner: None,
        group: None,
        mode: None,
        acls: Vec::new(),
        context: None,
    }
}

fn invalid(result: Result<Vec<Instruction>, InstallError>) -> String {
    match result {
        Err(InstallError::Invalid(message)) => message,
        other => panic!("expected InstallError::Invalid, got {other:?}"),
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

// ---------------------------------------------------------------- files

#[test]
fn directory_source_installs_the_tree_with_dotfiles_symlinks_and_modes() {
    let f = Fixture::new();
    f.rev_file("appspec.yml", "version: 0.0\n");
    f.rev_file("app/index.html", "<html>");
    f.rev_file("app/.env", "SECRET=1");
    f.rev_file("app/lib/deep/nested/mod.txt", "nested");
    let script = f.rev_file("app/bin/start.sh", "#!/bin/sh\n");
    set_mode(&script, 0o750);
    let stamp = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::File::options().write(true).open(&script).unwrap().set_modified(stamp).unwrap();
    fs::create_dir_all(f.archive.join("app/releases/v1")).unwrap();
    f.rev_file("app/releases/v1/version", "1");
    symlink("releases/v1", f.archive.join("app/current")).unwrap();
    symlink("index.html", f.archive.join("app/home.html")).unwrap();
    symlink("/nonexistent/target", f.archive.join("app/dangling")).unwrap();
    fs::create_dir_all(f.archive.join("app/empty")).unwrap();

    let target = f.d("srv/www/app");
    let instructions = f.install(&spec(&[("app", &target)], vec![]), Disallow).unwrap();

    assert_eq!(read(&target.join("index.html")), "<html>");
    assert_eq!(read(&target.join(".env")), "SECRET=1");
    assert_eq!(read(&target.join("lib/deep/nested/mod.txt")), "nested");
    assert!(target.join("empty").is_dir());
    // Symlinks are kept as symlinks, with the same (relative) target.
    let current = target.join("current");
    assert!(fs::symlink_metadata(&current).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_link(&current).unwrap(), PathBuf::from("releases/v1"));
    assert_eq!(read(&current.join("version")), "1");
    assert_eq!(fs::read_link(target.join("home.html")).unwrap(), PathBuf::from("index.html"));
    assert_eq!(fs::read_link(target.join("dangling")).unwrap(), PathBuf::from("/nonexistent/target"));
    // Mode and mtime preserved.
    assert_eq!(mode(&target.join("bin/start.sh")), 0o750);
    assert_eq!(fs::metadata(target.join("bin/start.sh")).unwrap().modified().unwrap(), stamp);
    // No temporary files left behind.
    let leftovers: Vec<_> = fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".ferry-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Missing ancestors first, then the destination, then the tree in name order.
    assert_eq!(
        &instructions[..3],
        &[
            Instruction::Mkdir { directory: f.d("srv") },
            Instruction::Mkdir { directory: f.d("srv/www") },
            Instruction::Mkdir { directory: target.clone() },
        ]
    );
    assert!(
        instructions.contains(&Instruction::Copy {
            source: f.archive.join("app/current"),
            destination: target.join("current")
        })
    );
    // The symlink to a directory was not traversed.
    assert!(
        !instructions
            .iter()
            .any(|i| matches!(i, Instruction::Copy { source, .. } if source.ends_with("current/version")))
    );

    // Every created path is recorded; directories after creation, copies before.
    let lines = f.cleanup_lines();
    assert_eq!(lines[0], f.d("srv").to_str().unwrap());
    assert!(lines.contains(&target.join(".env").to_str().unwrap().to_owned()));
    assert!(lines.contains(&target.join("current").to_str().unwrap().to_owned()));
    assert!(!lines.contains(&f.dest.to_str().unwrap().to_owned()), "the existing root is not recorded");
}

#[test]
fn file_source_installs_under_the_destination_directory() {
    let f = Fixture::new();
    f.rev_file("config/app.conf", "port=80");
    let etc = f.d("etc/myapp");
    let instructions = f.install(&spec(&[("config/app.conf", &etc)], vec![]), Disallow).unwrap();
    assert_eq!(read(&etc.join("app.conf")), "port=80");
    assert_eq!(
        instructions,
        vec![
            Instruction::Mkdir { directory: f.d("etc") },
            Instruction::Mkdir { directory: etc.clone() },
            Instruction::Copy { source: f.archive.join("config/app.conf"), destination: etc.join("app.conf") },
        ]
    );
    // A leading slash in the source is revision-relative too.
    let f = Fixture::new();
    f.rev_file("config/app.conf", "port=80");
    f.install(&spec(&[("/config/app.conf", &f.dest)], vec![]), Disallow).unwrap();
    assert_eq!(read(&f.d("app.conf")), "port=80");
}

#[test]
fn source_slash_installs_the_whole_revision() {
    let f = Fixture::new();
    f.rev_file("appspec.yml", "version: 0.0\n");
    f.rev_file("scripts/start.sh", "#!/bin/sh\n");
    f.rev_file(".hidden", "h");
    let target = f.d("opt/app");
    f.install(&spec(&[("/", &target)], vec![]), Disallow).unwrap();
    assert_eq!(read(&target.join("appspec.yml")), "version: 0.0\n");
    assert!(target.join("scripts/start.sh").is_file());
    assert_eq!(read(&target.join(".hidden")), "h");
}

#[test]
fn a_symlink_source_is_installed_as_a_symlink() {
    let f = Fixture::new();
    fs::create_dir_all(f.archive.join("real")).unwrap();
    symlink("real", f.archive.join("link")).unwrap();
    f.install(&spec(&[("link", &f.dest)], vec![]), Disallow).unwrap();
    assert_eq!(fs::read_link(f.d("link")).unwrap(), PathBuf::from("real"));
}

#[test]
fn bad_sources_fail_before_anything_is_written() {
    let f = Fixture::new();
    let message = invalid(f.install(&spec(&[("missing.txt", &f.dest)], vec![]), Disallow));
    assert!(message.contains("missing.txt") && message.contains("does not exist"), "{message}");

    let message = invalid(f.install(&spec(&[("../../etc/passwd", &f.dest)], vec![]), Disallow));
    assert!(message.contains("outside the revision"), "{message}");

    f.rev_file("dir/bad\nname", "x");
    let message = invalid(f.install(&spec(&[("dir", &f.d("app"))], vec![]), Disallow));
    assert!(message.contains("newline"), "{message}");
    assert!(!f.d("app").exists());
    assert!(!f.records.install_json.exists());
    assert!(!f.records.cleanup_file.exists());
}

#[test]
fn generate_instructions_changes_nothing() {
    let f = Fixture::new();
    f.rev_file("app/a.txt", "a");
    let target = f.d("x/y");
    let instructions = generate_instructions(&spec(&[("app", &target)], vec![]), &f.archive, Disallow).unwrap();
    assert_eq!(instructions.len(), 3);
    assert!(!f.d("x").exists());
}

// ---------------------------------------------------------------- cleanup

#[test]
fn second_install_removes_what_the_first_created() {
    let f = Fixture::new();
    f.rev_file("app/keep.txt", "v1");
    f.rev_file("app/old.txt", "old");
    f.rev_file("app/olddir/inner.txt", "inner");
    f.rev_file("app/data/seed.txt", "seed");
    symlink("keep.txt", f.archive.join("app/oldlink")).unwrap();
    let target = f.d("srv/app");
    let files = [("app", target.as_path())];
    f.install(&spec(&files, vec![]), Disallow).unwrap();
    // The user drops a file of their own into an installed directory.
    write(&target.join("data/user.txt"), "mine");

    f.new_revision();
    f.rev_file("app/keep.txt", "v2");
    // With DISALLOW: the previous install's files were removed first, so they do not collide.
    f.install(&spec(&files, vec![]), Disallow).unwrap();

    assert_eq!(read(&target.join("keep.txt")), "v2");
    assert!(!target.join("old.txt").exists());
    assert!(!target.join("olddir").exists());
    assert!(fs::symlink_metadata(target.join("oldlink")).is_err());
    assert!(!target.join("data/seed.txt").exists());
    // The non-empty directory survives with the user's file.
    assert_eq!(read(&target.join("data/user.txt")), "mine");
    // It is no longer ours: not recorded.
    let lines = f.cleanup_lines();
    assert!(!lines.contains(&target.join("data").to_str().unwrap().to_owned()));
    assert!(lines.contains(&target.join("keep.txt").to_str().unwrap().to_owned()));
}

#[test]
fn cleanup_tolerates_a_torn_line_missing_paths_and_never_follows_links() {
    let f = Fixture::new();
    let gone = write(&f.d("gone.txt"), "x");
    let torn = write(&f.d("torn.txt"), "kept: its line was torn");
    let outside = write(&f.d("outside/target.txt"), "link target");
    let link = f.d("link");
    symlink(&outside, &link).unwrap();
    let dir_link = f.d("dirlink");
    symlink(f.d("outside"), &dir_link).unwrap();
    let full = f.d("full");
    write(&full.join("user.txt"), "u");
    let empty = f.d("empty");
    fs::create_dir(&empty).unwrap();
    let contents = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\nrelative/path\n\n{}",
        empty.display(),
        full.display(),
        gone.display(),
        link.display(),
        dir_link.display(),
        f.d("never-existed").display(),
        torn.display(),
    );
    write(&f.records.cleanup_file, &contents);

    cleanup_previous(&f.records.cleanup_file).unwrap();

    assert!(!f.records.cleanup_file.exists());
    assert!(!gone.exists());
    assert!(!empty.exists());
    assert!(fs::symlink_metadata(&link).is_err());
    assert!(fs::symlink_metadata(&dir_link).is_err());
    assert_eq!(read(&outside), "link target");
    assert_eq!(read(&full.join("user.txt")), "u");
    assert_eq!(read(&torn), "kept: its line was torn");
    // No cleanup file at all is fine too.
    cleanup_previous(&f.records.cleanup_file).unwrap();
}

#[test]
fn cleanup_runs_in_reverse_so_directories_empty_first() {
    let f = Fixture::new();
    let dir = f.d("a");
    let file = write(&dir.join("b.txt"), "b");
    write(&f.records.cleanup_file, &format!("{}\n{}\n", dir.display(), file.display()));
    cleanup_previous(&f.records.cleanup_file).unwrap();
    assert!(!dir.exists());
}

#[test]
fn a_cleanup_error_names_the_path_and_the_cleanup_file() {
    let f = Fixture::new();
    // A component longer than NAME_MAX: lstat fails with ENAMETOOLONG.
    let bad = f.d(&"n".repeat(300));
    write(&f.records.cleanup_file, &format!("{}\n", bad.display()));
    let err = cleanup_previous(&f.records.cleanup_file).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(bad.to_str().unwrap()), "{message}");
    assert!(message.contains(f.records.cleanup_file.to_str().unwrap()), "{message}");
    assert!(f.records.cleanup_file.exists(), "kept for a retry");
}

// ---------------------------------------------------------------- existing files

fn existing_file_fixture() -> (Fixture, ServerAppSpec, PathBuf) {
    let f = Fixture::new();
    f.rev_file("site/index.html", "new");
    f.rev_file("site/other.html", "other");
    let target = f.d("www");
    let existing = write(&target.join("index.html"), "original");
    let spec = spec(&[("site", &target)], vec![]);
    (f, spec, existing)
}

#[test]
fn disallow_fails_with_codedeploys_message_and_writes_nothing() {
    let (f, spec, existing) = existing_file_fixture();
    let err = f.install(&spec, Disallow).unwrap_err();
    assert!(matches!(err, InstallError::FileExists(ref p) if *p == existing));
    assert_eq!(
        err.to_string(),
        format!(
            "The deployment failed because a specified file already exists at this location: {}",
            existing.display()
        )
    );
    assert_eq!(read(&existing), "original");
    assert!(!f.d("www/other.html").exists());
    assert!(!f.records.install_json.exists());
    assert!(!f.records.cleanup_file.exists());

    // A dangling symlink exists too.
    let (f, spec, existing) = existing_file_fixture();
    fs::remove_file(&existing).unwrap();
    symlink("/nonexistent", &existing).unwrap();
    assert!(matches!(f.install(&spec, Disallow), Err(InstallError::FileExists(_))));
}

#[test]
fn overwrite_replaces_the_existing_file() {
    let (f, spec, existing) = existing_file_fixture();
    f.install(&spec, Overwrite).unwrap();
    assert_eq!(read(&existing), "new");
    assert!(f.cleanup_lines().contains(&existing.to_str().unwrap().to_owned()));
}

#[test]
fn retain_keeps_the_existing_file_and_does_not_record_it() {
    let (f, spec, existing) = existing_file_fixture();
    f.install(&spec, Retain).unwrap();
    assert_eq!(read(&existing), "original");
    assert_eq!(read(&f.d("www/other.html")), "other");
    let lines = f.cleanup_lines();
    assert!(!lines.contains(&existing.to_str().unwrap().to_owned()));
    assert!(lines.contains(&f.d("www/other.html").to_str().unwrap().to_owned()));
    // Next install: the retained file survives the cleanup.
    f.install(&spec, Retain).unwrap();
    assert_eq!(read(&existing), "original");
}

#[test]
fn overwrite_replaces_an_existing_symlink_without_writing_through_it() {
    let (f, spec, existing) = existing_file_fixture();
    let elsewhere = write(&f.d("elsewhere.html"), "not to be touched");
    fs::remove_file(&existing).unwrap();
    symlink(&elsewhere, &existing).unwrap();
    f.install(&spec, Overwrite).unwrap();
    assert!(!fs::symlink_metadata(&existing).unwrap().file_type().is_symlink());
    assert_eq!(read(&existing), "new");
    assert_eq!(read(&elsewhere), "not to be touched");

    // A symlink in the revision over an existing symlink (CodeDeploy: EEXIST).
    let f = Fixture::new();
    symlink("v2", f.archive.join("current")).unwrap();
    symlink("v1", f.d("current")).unwrap();
    f.install(&spec_for(&f, "current"), Overwrite).unwrap();
    assert_eq!(fs::read_link(f.d("current")).unwrap(), PathBuf::from("v2"));
}

fn spec_for(f: &Fixture, source: &str) -> ServerAppSpec {
    spec(&[(source, &f.dest)], vec![])
}

#[test]
fn a_file_and_a_directory_never_replace_each_other() {
    // A directory where the revision has a file.
    for behavior in [Overwrite, Retain] {
        let f = Fixture::new();
        f.rev_file("conf", "file");
        write(&f.d("conf/user.txt"), "u");
        let message = invalid(f.install(&spec_for(&f, "conf"), behavior));
        assert!(message.contains("directory exists"), "{message}");
        assert_eq!(read(&f.d("conf/user.txt")), "u");
    }
    // A file where the revision has a directory.
    for behavior in [Disallow, Overwrite, Retain] {
        let f = Fixture::new();
        f.rev_file("app/sub/a.txt", "a");
        write(&f.d("app/sub"), "a file");
        let message = invalid(f.install(&spec(&[("app", &f.d("app"))], vec![]), behavior));
        assert!(message.contains("a file already exists"), "{message}");
        assert_eq!(read(&f.d("app/sub")), "a file");
        assert!(!f.records.cleanup_file.exists());
    }
    // A file where a destination directory's ancestor should be.
    let f = Fixture::new();
    f.rev_file("a.txt", "a");
    write(&f.d("blocker"), "x");
    let message = invalid(f.install(&spec(&[("a.txt", &f.d("blocker/sub"))], vec![]), Overwrite));
    assert!(message.contains("is not a directory"), "{message}");
}

// ---------------------------------------------------------------- collisions

#[test]
fn two_copies_to_the_same_destination() {
    let f = Fixture::new();
    f.rev_file("a/x.txt", "1");
    f.rev_file("b/x.txt", "2");
    let message = invalid(f.install(&spec(&[("a/x.txt", &f.dest), ("b/x.txt", &f.dest)], vec![]), Disallow));
    assert!(message.contains("two source files"), "{message}");
    assert!(message.contains(f.d("x.txt").to_str().unwrap()), "{message}");
    assert!(!f.d("x.txt").exists());
}

#[test]
fn a_copy_onto_a_mkdir_target() {
    let f = Fixture::new();
    f.rev_file("tree/x/inner.txt", "1");
    f.rev_file("files/x", "2");
    let message = invalid(f.install(&spec(&[("tree", &f.dest), ("files/x", &f.dest)], vec![]), Disallow));
    assert!(message.contains("creates a directory"), "{message}");
}

#[test]
fn a_mkdir_onto_a_copy_target() {
    let f = Fixture::new();
    f.rev_file("tree/x/inner.txt", "1");
    f.rev_file("files/x", "2");
    let message = invalid(f.install(&spec(&[("files/x", &f.dest), ("tree", &f.dest)], vec![]), Disallow));
    assert!(message.contains("creating the directory"), "{message}");
}

#[test]
fn the_same_path_given_permissions_twice() {
    let f = Fixture::new();
    f.rev_file("app/sub/a.txt", "a");
    let target = f.d("app");
    let mut outer = perm(&target);
    outer.mode = Some(0o644);
    let mut inner = perm(&target.join("sub"));
    inner.mode = Some(0o600);
    let message = invalid(f.install(&spec(&[("app", &target)], vec![outer, inner]), Disallow));
    assert!(message.contains("more than once"), "{message}");
    assert!(message.contains(target.join("sub/a.txt").to_str().unwrap()), "{message}");
}

#[test]
fn the_same_object_for_files_and_for_directories_is_fine() {
    let f = Fixture::new();
    f.rev_file("app/sub/a.txt", "a");
    let target = f.d("app");
    let mut files = perm(&target);
    files.types = vec![ObjectType::File];
    files.mode = Some(0o640);
    let mut dirs = perm(&target);
    dirs.types = vec![ObjectType::Directory];
    dirs.mode = Some(0o750);
    f.install(&spec(&[("app", &target)], vec![files, dirs]), Disallow).unwrap();
    assert_eq!(mode(&target.join("sub/a.txt")), 0o640);
    assert_eq!(mode(&target.join("sub")), 0o750);
}

// ---------------------------------------------------------------- permissions

/// `app/{run.sh, README, lib/x.sh, conf/app.conf}`, every file 0644.
fn permission_fixture() -> (Fixture, PathBuf) {
    let f = Fixture::new();
    for rel in ["app/run.sh", "app/README", "app/lib/x.sh", "app/conf/app.conf"] {
        set_mode(&f.rev_file(rel, rel), 0o644);
    }
    let target = f.d("app");
    (f, target)
}

#[test]
fn a_pattern_matches_direct_children_only() {
    let (f, target) = permission_fixture();
    let mut p = perm(&target);
    p.pattern = "*.sh".into();
    p.mode = Some(0o700);
    f.install(&spec(&[("app", &target)], vec![p]), Disallow).unwrap();
    assert_eq!(mode(&target.join("run.sh")), 0o700);
    assert_eq!(mode(&target.join("lib/x.sh")), 0o644);
    assert_eq!(mode(&target.join("README")), 0o644);
}

#[test]
fn double_star_matches_everything_below_except_excepts() {
    let (f, target) = permission_fixture();
    let mut p = perm(&target);
    p.except = vec!["READ*".into()];
    p.types = vec![ObjectType::File];
    p.mode = Some(0o600);
    let instructions = f.install(&spec(&[("app", &target)], vec![p]), Disallow).unwrap();
    assert_eq!(mode(&target.join("run.sh")), 0o600);
    assert_eq!(mode(&target.join("lib/x.sh")), 0o600);
    assert_eq!(mode(&target.join("conf/app.conf")), 0o600);
    assert_eq!(mode(&target.join("README")), 0o644);
    // Files only: directories keep their mode.
    assert_ne!(mode(&target.join("lib")), 0o600);
    assert!(instructions.contains(&Instruction::Chmod { file: target.join("run.sh"), mode: "600".into() }));
}

#[test]
fn a_type_filter_of_directories() {
    let (f, target) = permission_fixture();
    let mut p = perm(&target);
    p.types = vec![ObjectType::Directory];
    p.mode = Some(0o711);
    let root_mode = {
        f.install(&spec(&[("app", &target)], vec![p]), Disallow).unwrap();
        mode(&target)
    };
    assert_eq!(mode(&target.join("lib")), 0o711);
    assert_eq!(mode(&target.join("conf")), 0o711);
    assert_eq!(mode(&target.join("run.sh")), 0o644);
    assert_ne!(root_mode, 0o711, "the object itself is not matched");
}

#[test]
fn object_is_a_copied_file() {
    let (f, target) = permission_fixture();
    let mut p = perm(&target.join("run.sh"));
    p.mode = Some(0o755);
    f.install(&spec(&[("app", &target)], vec![p.clone()]), Disallow).unwrap();
    assert_eq!(mode(&target.join("run.sh")), 0o755);

    let mut bad = p.clone();
    bad.pattern = "*.sh".into();
    assert!(invalid(f.install(&spec(&[("app", &target)], vec![bad]), Disallow)).contains("invalid pattern"));
    let mut bad = p.clone();
    bad.except = vec!["x".into()];
    assert!(invalid(f.install(&spec(&[("app", &target)], vec![bad]), Disallow)).contains("except"));
    let mut bad = p;
    bad.acls = vec![Ace { default: true, kind: AceKind::User, name: "root".into(), perms: "rwx".into() }];
    assert!(invalid(f.install(&spec(&[("app", &target)], vec![bad]), Disallow)).contains("directories only"));
}

#[test]
fn permissions_apply_only_to_what_this_install_creates() {
    let (f, _) = permission_fixture();
    // An existing directory holding a file of the user's.
    let target = f.d("existing");
    let user_file = write(&target.join("user.txt"), "mine");
    set_mode(&user_file, 0o644);
    let mut p = perm(&target);
    p.mode = Some(0o600);
    f.install(&spec(&[("app", &target)], vec![p]), Disallow).unwrap();
    assert_eq!(mode(&target.join("run.sh")), 0o600);
    assert_eq!(mode(&user_file), 0o644);
    // An object the install does not touch is ignored, as CodeDeploy does.
    let mut elsewhere = perm(&f.d("nowhere"));
    elsewhere.mode = Some(0o600);
    let (f, target) = permission_fixture();
    f.install(&spec(&[("app", &target)], vec![elsewhere]), Disallow).unwrap();
}

#[test]
fn symlinks_are_never_given_permissions() {
    let f = Fixture::new();
    let outside = write(&f.d("outside.txt"), "x");
    set_mode(&outside, 0o644);
    symlink(&outside, f.archive.join("link")).unwrap();
    f.rev_file("file.txt", "f");
    let mut p = perm(&f.d("app"));
    p.mode = Some(0o600);
    f.install(&spec(&[("/", &f.d("app"))], vec![p]), Disallow).unwrap();
    assert_eq!(mode(&outside), 0o644);
    assert_eq!(mode(&f.d("app/file.txt")), 0o600);

    let mut p = perm(&f.d("app/link"));
    p.mode = Some(0o600);
    let message = invalid(f.install(&spec(&[("/", &f.d("app"))], vec![p]), Disallow));
    assert!(message.contains("symbolic link"), "{message}");
}

/// A user and a group of the same name, created for one test and deleted after.
struct TestUser(String);

impl TestUser {
    fn create() -> Option<Self> {
        if !is_root() {
            ferry_testkit::skip("chown needs root");
            return None;
        }
        let name = format!("ferryt{}", std::process::id());
        let status = Command::new("useradd").args(["--no-create-home", "--user-group", &name]).status();
        match status {
            Ok(s) if s.success() => Some(Self(name)),
            other => {
                ferry_testkit::skip(&format!("useradd failed: {other:?}"));
                None
            }
        }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).status();
        let _ = Command::new("groupdel").arg(&self.0).status();
    }
}

#[test]
fn owner_and_group_are_changed_to_named_users() {
    let Some(user) = TestUser::create() else { return };
    let (f, target) = permission_fixture();
    let mut p = perm(&target);
    p.owner = Some(user.0.clone());
    p.group = Some(user.0.clone());
    p.mode = Some(0o640);
    let instructions = f.install(&spec(&[("app", &target)], vec![p]), Disallow).unwrap();
    let uid = nix::unistd::User::from_name(&user.0).unwrap().unwrap().uid.as_raw();
    let gid = nix::unistd::Group::from_name(&user.0).unwrap().unwrap().gid.as_raw();
    for rel in ["run.sh", "lib", "lib/x.sh"] {
        let meta = fs::metadata(target.join(rel)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (uid, gid), "{rel}");
        assert_eq!(meta.mode() & 0o777, 0o640, "{rel}");
    }
    // chmod comes before chown for each path.
    let position = |want: fn(&Instruction) -> bool| instructions.iter().position(want).unwrap();
    assert!(
        position(|i| matches!(i, Instruction::Chmod { file, .. } if file.ends_with("app/run.sh")))
            < position(|i| matches!(i, Instruction::Chown { file, .. } if file.ends_with("app/run.sh")))
    );
}

#[test]
fn an_unknown_owner_fails_before_anything_is_copied() {
    let (f, target) = permission_fixture();
    let mut p = perm(&target);
    p.owner = Some("no-such-user-ferry".into());
    let message = invalid(f.install(&spec(&[("app", &target)], vec![p]), Disallow));
    assert!(message.contains("no-such-user-ferry") && message.contains("does not exist"), "{message}");
    assert!(!target.exists());
    let mut p = perm(&target);
    p.group = Some("no-such-group-ferry".into());
    let message = invalid(f.install(&spec(&[("app", &target)], vec![p]), Disallow));
    assert!(message.contains("no-such-group-ferry"), "{message}");
}

#[test]
fn acls_are_set_with_setfacl() {
    if Command::new("setfacl").arg("--version").output().is_err() {
        ferry_testkit::skip("setfacl is not installed (Debian package `acl`)");
        return;
    }
    let (f, target) = permission_fixture();
    let mut files = perm(&target);
    files.types = vec![ObjectType::File];
    files.acls = vec![Ace { default: false, kind: AceKind::User, name: "root".into(), perms: "rw-".into() }];
    let mut dirs = perm(&target);
    dirs.types = vec![ObjectType::Directory];
    dirs.acls = vec![Ace { default: true, kind: AceKind::Group, name: "root".into(), perms: "r-x".into() }];
    let instructions = f.install(&spec(&[("app", &target)], vec![files, dirs]), Disallow).unwrap();
    assert!(
        instructions.contains(&Instruction::Setfacl { file: target.join("run.sh"), acl: vec!["u:root:rw-".into()] })
    );
    let acl =
        |path: &Path| String::from_utf8(Command::new("getfacl").arg("-p").arg(path).output().unwrap().stdout).unwrap();
    assert!(acl(&target.join("lib/x.sh")).contains("user:root:rw-"), "{}", acl(&target.join("lib/x.sh")));
    assert!(acl(&target.join("lib")).contains("default:group:root:r-x"), "{}", acl(&target.join("lib")));
}

#[test]
fn a_missing_selinux_tool_is_a_clear_error() {
    if ["semanage", "restorecon"].iter().any(|t| Command::new(t).arg("-h").output().is_ok()) {
        ferry_testkit::skip("SELinux tools are installed here, so their absence cannot be tested");
        return;
    }
    let (f, target) = permission_fixture();
    let mut p = perm(&target);
    p.context = Some(ferry_appspec::SeLinuxContext { user: None, type_: "httpd_sys_content_t".into(), range: None });
    let err = f.install(&spec(&[("app", &target)], vec![p]), Disallow).unwrap_err();
    assert!(matches!(err, InstallError::MissingTool { tool: "semanage", key: "context", .. }), "{err:?}");
    assert!(err.to_string().contains("`semanage` command is not installed"), "{err}");
    assert!(!target.exists(), "nothing is copied");
}

// ---------------------------------------------------------------- install.json

#[test]
fn install_json_has_codedeploys_shape() {
    let (f, target) = permission_fixture();
    let mut p = perm(&target.join("run.sh"));
    p.mode = Some(0o4755);
    p.owner = Some("root".into());
    let instructions = f.install(&spec(&[("app", &target)], vec![p]), Disallow).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&f.records.install_json).unwrap()).unwrap();
    let list = json["instructions"].as_array().unwrap();
    assert_eq!(list.len(), instructions.len());
    assert_eq!(list[0], serde_json::json!({"type": "mkdir", "directory": target.to_str().unwrap()}));
    assert!(list.contains(&serde_json::json!({
        "type": "copy",
        "source": f.archive.join("app/run.sh").to_str().unwrap(),
        "destination": target.join("run.sh").to_str().unwrap(),
    })));
    let run = target.join("run.sh");
    let tail: Vec<_> = list[list.len() - 2..].to_vec();
    assert_eq!(
        tail,
        vec![
            serde_json::json!({"type": "chmod", "file": run.to_str().unwrap(), "mode": "4755"}),
            serde_json::json!({"type": "chown", "file": run.to_str().unwrap(), "owner": "root", "group": null}),
        ]
    );
    assert_eq!(mode(&run), 0o4755);
    // And it reads back into the same instructions.
    let back: ferry_host::install::InstallJson = serde_json::from_value(json).unwrap();
    assert_eq!(back.instructions, instructions);
}
