//! Black-box tests of `ferry local`: the CodeDeploy agent's local scenarios,
//! run through the real binary against temporary deployment roots.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ALL_HOOKS: [&str; 9] = [
    "BeforeBlockTraffic",
    "AfterBlockTraffic",
    "ApplicationStop",
    "BeforeInstall",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
    "BeforeAllowTraffic",
    "AfterAllowTraffic",
];

/// A scratch area: a deployment root, an install destination and a proof
/// file that hook scripts append to.
struct Fixture {
    tmp: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self { tmp: tempfile::tempdir().unwrap() }
    }
    fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }
    fn dest(&self) -> PathBuf {
        self.tmp.path().join("dest")
    }
    fn proof(&self) -> PathBuf {
        self.tmp.path().join("proof")
    }
    fn proof_lines(&self) -> Vec<String> {
        fs::read_to_string(self.proof()).unwrap_or_default().lines().map(str::to_string).collect()
    }

    /// A revision directory whose every hook appends `<tag>:<event>` to the
    /// proof file, and which installs `files` under the destination.
    fn revision(&self, name: &str, tag: &str, files: &[(&str, &str)], extra_appspec: &str) -> PathBuf {
        let dir = self.tmp.path().join(name);
        fs::create_dir_all(dir.join("scripts")).unwrap();
        let script = format!("#!/bin/sh\necho \"{tag}:$LIFECYCLE_EVENT\" >> {}\n", self.proof().display());
        write_exec(&dir.join("scripts/hook.sh"), &script);
        let mut appspec = format!(
            "version: 0.0\nos: linux\nfiles:\n  - source: content\n    destination: {}\nhooks:\n",
            self.dest().display()
        );
        for event in ALL_HOOKS {
            appspec.push_str(&format!("  {event}:\n    - location: scripts/hook.sh\n      timeout: 30\n"));
        }
        appspec.push_str(extra_appspec);
        fs::write(dir.join("appspec.yml"), appspec).unwrap();
        fs::create_dir_all(dir.join("content")).unwrap();
        for (path, content) in files {
            let path = dir.join("content").join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
        dir
    }

    fn ferry_local(&self, bundle: &Path, extra: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.arg("local").arg("--bundle-location").arg(bundle).arg("--root").arg(self.root()).args(extra);
        cmd.output().unwrap()
    }

    fn deploy_ok(&self, bundle: &Path, extra: &[&str]) -> String {
        let out = self.ferry_local(bundle, extra);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "ferry local failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        stdout
    }

    fn deploy_err(&self, bundle: &Path, extra: &[&str]) -> String {
        let out = self.ferry_local(bundle, extra);
        assert!(!out.status.success(), "ferry local unexpectedly succeeded:\n{}", String::from_utf8_lossy(&out.stdout));
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }

    fn group_dirs(&self, group: &str) -> Vec<String> {
        list(&self.root().join(format!("local-{group}")))
    }
}

fn write_exec(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

fn sh(cmd: &str) {
    let status = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(status.success(), "{cmd} failed");
}

fn tagged(tag: &str, events: &[&str]) -> Vec<String> {
    events.iter().map(|e| format!("{tag}:{e}")).collect()
}

const INSTALL_SIDE: [&str; 6] =
    ["BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService", "BeforeAllowTraffic", "AfterAllowTraffic"];
const STOP_SIDE: [&str; 3] = ["BeforeBlockTraffic", "AfterBlockTraffic", "ApplicationStop"];

#[test]
fn first_deployment_skips_stop_side_hooks() {
    let fx = Fixture::new();
    let rev = fx.revision("rev1", "v1", &[("index.html", "one")], "");
    let stdout = fx.deploy_ok(&rev, &[]);
    assert_eq!(fx.proof_lines(), tagged("v1", &INSTALL_SIDE));
    assert!(stdout.contains("ApplicationStop") && stdout.contains("(no scripts)"), "{stdout}");
    assert_eq!(fs::read_to_string(fx.dest().join("index.html")).unwrap(), "one");
    assert_eq!(list(&fx.root()), ["deployment-instructions", "local-LocalFleet"]);
    let deployments = fx.group_dirs("LocalFleet");
    assert_eq!(deployments.len(), 1);
    let ddir = fx.root().join("local-LocalFleet").join(&deployments[0]);
    assert!(deployments[0].starts_with("d-") && deployments[0].len() == 11, "{deployments:?}");
    assert_eq!(list(&ddir), ["deployment-archive", "logs"]);
    let log = fs::read_to_string(ddir.join("logs/scripts.log")).unwrap();
    assert!(log.contains("LifecycleEvent - BeforeInstall") && log.contains("Script - scripts/hook.sh"), "{log}");
}

#[test]
fn second_deployment_runs_the_previous_revisions_stop_side_hooks() {
    let fx = Fixture::new();
    let rev1 = fx.revision("rev1", "v1", &[("index.html", "one")], "");
    let rev2 = fx.revision("rev2", "v2", &[("index.html", "two")], "");
    fx.deploy_ok(&rev1, &[]);
    fx.deploy_ok(&rev2, &[]);
    let mut expected = tagged("v1", &INSTALL_SIDE);
    expected.extend(tagged("v1", &STOP_SIDE));
    expected.extend(tagged("v2", &INSTALL_SIDE));
    assert_eq!(fx.proof_lines(), expected);
    assert_eq!(fx.group_dirs("LocalFleet").len(), 2);
    // The file written by revision 1 was removed by cleanup and reinstalled.
    assert_eq!(fs::read_to_string(fx.dest().join("index.html")).unwrap(), "two");
}

#[test]
fn cleanup_removes_files_dropped_between_revisions() {
    let fx = Fixture::new();
    let rev1 = fx.revision("rev1", "v1", &[("keep.txt", "k"), ("old/gone.txt", "g")], "");
    let rev2 = fx.revision("rev2", "v2", &[("keep.txt", "k2")], "");
    fx.deploy_ok(&rev1, &[]);
    // A file the user put in an installed directory keeps that directory alive.
    fs::write(fx.dest().join("old/user.txt"), "mine").unwrap();
    fx.deploy_ok(&rev2, &[]);
    assert!(!fx.dest().join("old/gone.txt").exists());
    assert!(fx.dest().join("old/user.txt").exists());
    assert_eq!(fs::read_to_string(fx.dest().join("keep.txt")).unwrap(), "k2");
}

#[test]
fn cleanup_file_with_torn_last_line_is_tolerated() {
    let fx = Fixture::new();
    let rev1 = fx.revision("rev1", "v1", &[("a.txt", "a")], "");
    fx.deploy_ok(&rev1, &[]);
    let cleanup = fx.root().join("deployment-instructions/local-LocalFleet-cleanup");
    let mut text = fs::read_to_string(&cleanup).unwrap();
    text.push_str(&fx.dest().join("a.txt").display().to_string()[..5]);
    fs::write(&cleanup, text).unwrap();
    fx.deploy_ok(&rev1, &[]);
    assert!(fx.dest().join("a.txt").exists());
}

#[test]
fn file_exists_matrix() {
    for (flag, appspec, expect) in [
        (None, "", Err(())),
        (Some("DISALLOW"), "", Err(())),
        (Some("OVERWRITE"), "", Ok("new")),
        (Some("RETAIN"), "", Ok("original")),
        // The appspec's setting beats the deployment's.
        (Some("OVERWRITE"), "file_exists_behavior: RETAIN\n", Ok("original")),
        (Some("DISALLOW"), "file_exists_behavior: OVERWRITE\n", Ok("new")),
    ] {
        let fx = Fixture::new();
        fs::create_dir_all(fx.dest()).unwrap();
        fs::write(fx.dest().join("index.html"), "original").unwrap();
        let rev = fx.revision("rev", "v1", &[("index.html", "new")], appspec);
        let args: Vec<&str> = flag.map(|f| vec!["--file-exists-behavior", f]).unwrap_or_default();
        match expect {
            Ok(content) => {
                fx.deploy_ok(&rev, &args);
                assert_eq!(fs::read_to_string(fx.dest().join("index.html")).unwrap(), content, "{flag:?} {appspec}");
            }
            Err(()) => {
                let out = fx.deploy_err(&rev, &args);
                let message = format!(
                    "The deployment failed because a specified file already exists at this location: {}",
                    fx.dest().join("index.html").display()
                );
                assert!(out.contains(&message), "{out}");
                assert_eq!(fs::read_to_string(fx.dest().join("index.html")).unwrap(), "original");
            }
        }
    }
}

#[test]
fn every_bundle_format_installs_the_same_tree() {
    let fx = Fixture::new();
    let rev = fx.revision("rev", "v1", &[("index.html", "hi"), ("static/app.js", "js"), (".hidden", "h")], "");
    write_exec(&rev.join("content/run.sh"), "#!/bin/sh\n");
    fs::create_dir_all(rev.join("content/empty")).unwrap();
    std::os::unix::fs::symlink("index.html", rev.join("content/link.html")).unwrap();
    let t = fx.tmp.path();
    let r = rev.display();
    sh(&format!("cd {r} && tar -cf {}/b.tar . && tar -czf {}/b.tgz .", t.display(), t.display()));
    sh(&format!("cd {r} && zip -qry {}/b.zip .", t.display()));
    // A zip whose single top-level folder holds the appspec.
    sh(&format!("cd {} && zip -qry {}/nested.zip rev", t.display(), t.display()));
    let mut trees = Vec::new();
    for bundle in ["rev", "b.tar", "b.tgz", "b.zip", "nested.zip"] {
        let _ = fs::remove_dir_all(fx.dest());
        let _ = fs::remove_dir_all(fx.root());
        fx.deploy_ok(&t.join(bundle), &[]);
        trees.push((bundle, snapshot(&fx.dest())));
    }
    let (first_name, first) = &trees[0];
    assert!(first.iter().any(|(p, kind)| p == "link.html" && kind == "link:index.html"), "{first:?}");
    assert!(first.iter().any(|(p, kind)| p == "run.sh" && kind.starts_with("file:755")), "{first:?}");
    assert!(first.iter().any(|(p, kind)| p == "empty" && kind == "dir"), "{first:?}");
    for (name, tree) in &trees[1..] {
        assert_eq!(tree, first, "{name} differs from {first_name}");
    }
}

/// (relative path, kind) for every entry under `dir`, sorted.
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(base).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.push((rel, format!("link:{}", fs::read_link(&path).unwrap().display())));
            } else if meta.is_dir() {
                out.push((rel, "dir".into()));
                walk(base, &path, out);
            } else {
                let mode = meta.permissions().mode() & 0o777;
                out.push((rel, format!("file:{mode:o}:{}", fs::read_to_string(&path).unwrap())));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn custom_appspec_filename() {
    let fx = Fixture::new();
    let rev = fx.revision("rev", "v1", &[("index.html", "hi")], "");
    fs::rename(rev.join("appspec.yml"), rev.join("deploy-spec.yml")).unwrap();
    fx.deploy_ok(&rev, &["--appspec-filename", "deploy-spec.yml"]);
    assert!(fx.dest().join("index.html").exists());
    let out = fx.deploy_err(&rev, &["--appspec-filename", "missing.yml"]);
    assert!(out.contains("missing.yml"), "{out}");
}

#[test]
fn appspec_yaml_is_the_fallback_name() {
    let fx = Fixture::new();
    let rev = fx.revision("rev", "v1", &[("index.html", "hi")], "");
    fs::rename(rev.join("appspec.yml"), rev.join("appspec.yaml")).unwrap();
    fx.deploy_ok(&rev, &[]);
    assert!(fx.dest().join("index.html").exists());
}

#[test]
fn script_failures_report_code_script_and_message() {
    let fx = Fixture::new();
    let rev = fx.revision("rev", "v1", &[], "");
    fs::write(
        rev.join("appspec.yml"),
        "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: scripts/fail.sh\n",
    )
    .unwrap();
    write_exec(&rev.join("scripts/fail.sh"), "#!/bin/sh\necho about to fail\nexit 3\n");
    let out = fx.deploy_err(&rev, &[]);
    assert!(out.contains("ScriptFailed"), "{out}");
    assert!(out.contains("scripts/fail.sh"), "{out}");
    assert!(out.contains("failed with exit code 3"), "{out}");
    assert!(out.contains("[stdout]about to fail"), "{out}");

    fs::write(
        rev.join("appspec.yml"),
        "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: scripts/nope.sh\n",
    )
    .unwrap();
    let out = fx.deploy_err(&rev, &[]);
    assert!(out.contains("ScriptMissing") && out.contains("Script does not exist at specified location"), "{out}");
}

#[test]
fn malformed_appspec_names_the_key() {
    let fx = Fixture::new();
    let rev = fx.revision("rev", "v1", &[], "");
    fs::write(
        rev.join("appspec.yml"),
        "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: scripts/hook.sh\n      timeout: soon\n",
    )
    .unwrap();
    let out = fx.deploy_err(&rev, &[]);
    assert!(out.contains("appspec.yml") && out.contains("hooks.AfterInstall[0].timeout"), "{out}");
}

#[test]
fn retention_keeps_max_revisions_and_the_last_successful() {
    let fx = Fixture::new();
    let good = fx.revision("good", "v1", &[("index.html", "ok")], "");
    for _ in 0..4 {
        fx.deploy_ok(&good, &["--max-revisions", "2"]);
    }
    assert_eq!(fx.group_dirs("LocalFleet").len(), 2);

    // A failing deployment does not become last-successful: its Install
    // never ran, so the last good one must survive retention.
    let bad = fx.revision("bad", "v2", &[("index.html", "bad")], "");
    write_exec(&bad.join("scripts/hook.sh"), "#!/bin/sh\nexit 1\n");
    let last_good =
        fs::read_to_string(fx.root().join("deployment-instructions/local-LocalFleet_last_successful_install")).unwrap();
    for _ in 0..3 {
        fx.deploy_err(&bad, &["--max-revisions", "2"]);
    }
    assert!(Path::new(last_good.trim()).is_dir(), "last successful deployment was pruned");
    let out = fx.deploy_err(&good, &["--max-revisions", "0"]);
    assert!(out.contains("max_revisions"), "{out}");
}

#[test]
fn hostile_archive_is_rejected_and_nothing_lands_outside() {
    let fx = Fixture::new();
    let t = fx.tmp.path();
    // GNU tar refuses to write `..` members, so build the archive with python.
    let script = format!(
        "import tarfile, io\n\
         with tarfile.open('{t}/evil.tar', 'w') as tar:\n\
         \x20   data = b'version: 0.0\\nos: linux\\n'\n\
         \x20   info = tarfile.TarInfo('appspec.yml'); info.size = len(data); tar.addfile(info, io.BytesIO(data))\n\
         \x20   info = tarfile.TarInfo('../../escaped.txt'); info.size = 4; tar.addfile(info, io.BytesIO(b'evil'))\n",
        t = t.display()
    );
    let status = Command::new("python3").arg("-c").arg(script).status().unwrap();
    assert!(status.success());
    let out = fx.deploy_err(&t.join("evil.tar"), &[]);
    // Refused when the appspec is read, before any event runs.
    assert!(out.contains("nothing was run") && out.contains("escaped.txt"), "{out}");
    assert!(!t.join("escaped.txt").exists() && !t.parent().unwrap().join("escaped.txt").exists());
}

#[test]
fn permissions_apply_modes_by_pattern() {
    let fx = Fixture::new();
    let extra = format!(
        "permissions:\n  - object: {}\n    pattern: \"*.sh\"\n    mode: 750\n    type: [file]\n  - object: {}/conf\n    mode: 600\n    type: [file]\n",
        fx.dest().display(),
        fx.dest().display()
    );
    let rev = fx.revision("rev", "v1", &[("start.sh", "x"), ("conf/app.ini", "a"), ("conf/deep/x.ini", "b")], &extra);
    fx.deploy_ok(&rev, &[]);
    let mode = |p: &str| fs::metadata(fx.dest().join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("start.sh"), 0o750);
    assert_eq!(mode("conf/app.ini"), 0o600);
    assert_eq!(mode("conf/deep/x.ini"), 0o600);
    assert_ne!(mode("conf/deep"), 0o600, "type: [file] must leave directories alone");
}

#[test]
fn events_flag_runs_only_the_listed_events() {
    let fx = Fixture::new();
    let rev = fx.revision("rev", "v1", &[("index.html", "hi")], "");
    fx.deploy_ok(&rev, &["--events", "DownloadBundle,Install,AfterInstall"]);
    assert_eq!(fx.proof_lines(), tagged("v1", &["AfterInstall"]));
    assert!(fx.dest().join("index.html").exists());
}

#[test]
fn unknown_bundle_type_is_a_clear_error() {
    let fx = Fixture::new();
    let path = fx.tmp.path().join("bundle.rar");
    fs::write(&path, "x").unwrap();
    let out = fx.ferry_local(&path, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--type"));
}

/// Issue 22.6: a hook on a misspelt event, a misspelt key and a misspelt
/// `--events` name are refused before any event runs (they used to fail at
/// Install, after the previous revision's ApplicationStop and BeforeInstall
/// had run), with what was probably meant.
#[test]
fn appspec_and_event_typos_are_refused_before_any_event_runs() {
    let fx = Fixture::new();
    let v1 = fx.revision("v1", "v1", &[("index.html", "v1")], "");
    fx.deploy_ok(&v1, &[]);
    let ran = fx.proof_lines();

    let typo = fx.revision("typo", "v2", &[("index.html", "v2")], "  AfterInstal:\n    - location: scripts/hook.sh\n");
    let out = fx.ferry_local(&typo, &[]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("hooks.AfterInstal: `AfterInstal` is not a lifecycle event")
            && text.contains("did you mean `AfterInstall`?"),
        "{text}"
    );
    assert_eq!(fx.proof_lines(), ran, "no hook may run: {text}");

    let events = fx.deploy_err(&v1, &["--events", "DownloadBundle,Instal,AfterInstall"]);
    assert!(
        events.contains("--events: `Instal` is not a lifecycle event") && events.contains("did you mean `Install`?"),
        "{events}"
    );
    assert_eq!(fx.proof_lines(), ran, "no hook may run: {events}");

    let key = fx.tmp.path().join("key");
    fs::create_dir_all(key.join("scripts")).unwrap();
    write_exec(
        &key.join("scripts/hook.sh"),
        &format!("#!/bin/sh\necho \"key:$LIFECYCLE_EVENT\" >> {}\n", fx.proof().display()),
    );
    fs::write(
        key.join("appspec.yml"),
        "version: 0.0\nos: linux\nfiles:\n  - source: scripts\n    destinaton: /tmp/x\nhooks:\n  ApplicationStop:\n    - location: scripts/hook.sh\n",
    )
    .unwrap();
    let keys = fx.deploy_err(&key, &[]);
    assert!(keys.contains("unknown key `destinaton`") && keys.contains("did you mean `destination`?"), "{keys}");
    assert_eq!(fx.proof_lines(), ran, "no hook may run: {keys}");

    // A custom event the appspec hooks still runs.
    let custom = fx.revision("custom", "v3", &[("index.html", "v3")], "  Smoke:\n    - location: scripts/hook.sh\n");
    fx.deploy_ok(&custom, &["--events", "DownloadBundle,Install,Smoke"]);
    assert_eq!(fx.proof_lines().last().map(String::as_str), Some("v3:Smoke"));
}

/// `ferry local` warns where CodeDeploy's own agent would refuse an appspec
/// that ferry accepts: a quoted version.
#[test]
fn a_quoted_version_runs_with_a_codedeploy_warning() {
    let fx = Fixture::new();
    let rev = fx.revision("rev", "v1", &[("index.html", "v1")], "");
    let appspec = fs::read_to_string(rev.join("appspec.yml")).unwrap().replace("version: 0.0", "version: \"0.0\"");
    fs::write(rev.join("appspec.yml"), appspec).unwrap();
    let out = fx.ferry_local(&rev, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning: appspec.yml: version") && stderr.contains("CodeDeploy's agent"), "{stderr}");
}
