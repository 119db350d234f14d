//! pack -> unpack gives back the same tree, for every bundle type; and
//! archives made by the system's tar and zip unpack to the same tree.

mod common;

use std::fs::{self, File, FileTimes};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Item, Sandbox, set_mode, snapshot};
use ferry_bundle::{BundleType, Limits, pack, unpack};

const MTIME: u64 = 1_500_000_000;

/// A tree with a bit of everything a deployment bundle may hold.
fn make_tree(root: &Path) {
    let w = |rel: &str, data: &[u8], mode: u32| {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, data).unwrap();
        set_mode(&p, mode);
    };
    w("appspec.yml", b"version: 0.0\nos: linux\n", 0o644);
    w("scripts/start.sh", b"#!/bin/sh\necho start\n", 0o755);
    w("scripts/secret.env", b"TOKEN=1\n", 0o600);
    w("config/readonly.conf", b"ro\n", 0o444);
    w("empty-file", b"", 0o644);
    // Bigger than one copy buffer, and not trivially compressible.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    w("data/big.bin", &big, 0o640);
    let long_dir = "d".repeat(90);
    w(&format!("{long_dir}/{}", "f".repeat(120)), b"long name\n", 0o644);
    w("données/été.txt", "non-ASCII ✓\n".as_bytes(), 0o644);
    fs::create_dir_all(root.join("empty/nested")).unwrap();
    fs::create_dir_all(root.join("private")).unwrap();
    set_mode(&root.join("private"), 0o700);
    fs::create_dir_all(root.join("shared")).unwrap();
    set_mode(&root.join("shared"), 0o1777);
    w("ro-dir/inside.txt", b"x\n", 0o644);
    set_mode(&root.join("ro-dir"), 0o555);
    fs::create_dir_all(root.join("lib")).unwrap();
    w("lib/libfoo.so.1", b"ELF\n", 0o755);
    symlink("libfoo.so.1", root.join("lib/libfoo.so")).unwrap();
    symlink("../lib/libfoo.so.1", root.join("scripts/foo")).unwrap();
    symlink("lib", root.join("lib-link")).unwrap();
    symlink("does-not-exist", root.join("dangling")).unwrap();
    symlink(format!("{long_dir}/{}", "f".repeat(120)), root.join("long-target")).unwrap();
    let t = FileTimes::new().set_modified(UNIX_EPOCH + Duration::from_secs(MTIME));
    File::options().write(true).open(root.join("scripts/start.sh")).unwrap().set_times(t).unwrap();
}

fn mtime(p: &Path) -> SystemTime {
    fs::symlink_metadata(p).unwrap().modified().unwrap()
}

fn round_trip(kind: BundleType, file_name: &str) {
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    let sb = Sandbox::new();
    let bundle = sb.bundles.path().join(file_name);
    let packed = pack(src.path(), kind, &bundle).unwrap();
    assert_eq!(packed.symlinks, 5);
    let stats = unpack(&bundle, kind, &sb.dest, &Limits::default()).unwrap();
    let (want, got) = (snapshot(src.path()), snapshot(&sb.dest));
    assert_eq!(want.keys().collect::<Vec<_>>(), got.keys().collect::<Vec<_>>(), "{kind:?}: names differ");
    for (k, v) in &want {
        assert!(got[k] == *v, "{kind:?}: {} differs", k.display());
    }
    let files = want.values().filter(|i| matches!(i, Item::File(..))).count() as u64;
    assert_eq!((stats.files, stats.symlinks, packed.files), (files, 5, files));
    assert_eq!(stats.bytes, packed.bytes);
    assert_eq!(mtime(&sb.dest.join("scripts/start.sh")), UNIX_EPOCH + Duration::from_secs(MTIME), "{kind:?}");
    sb.assert_clean();
}

#[test]
fn round_trip_tar() {
    round_trip(BundleType::Tar, "b.tar");
}

#[test]
fn round_trip_tgz() {
    round_trip(BundleType::Tgz, "b.tgz");
}

#[test]
fn round_trip_zip() {
    round_trip(BundleType::Zip, "b.zip");
}

#[test]
fn round_trip_directory() {
    round_trip(BundleType::Directory, "copy");
}

#[test]
fn packing_is_deterministic_and_skips_its_own_output() {
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    let out = tempfile::tempdir().unwrap();
    for (kind, name) in [(BundleType::Tar, "x.tar"), (BundleType::Zip, "x.zip"), (BundleType::Tgz, "x.tgz")] {
        let a = out.path().join(format!("a-{name}"));
        let b = out.path().join(format!("b-{name}"));
        pack(src.path(), kind, &a).unwrap();
        pack(src.path(), kind, &b).unwrap();
        assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap(), "{kind:?}");
        // Packing into the tree itself leaves the archive out of the archive.
        let inside = src.path().join(name);
        let stats = pack(src.path(), kind, &inside).unwrap();
        fs::remove_file(&inside).unwrap();
        assert_eq!(stats, pack(src.path(), kind, &a).unwrap(), "{kind:?}");
    }
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--help").output().is_ok()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn system_tar_and_zip_archives_unpack_the_same() {
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    let want = snapshot(src.path());
    let out = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    if have("tar") {
        let tgz = out.path().join("sys.tgz");
        run(Command::new("tar").arg("-czf").arg(&tgz).arg("-C").arg(src.path()).arg("."));
        cases.push((BundleType::Tgz, tgz));
        let tar = out.path().join("sys.tar");
        run(Command::new("tar").args(["--format=pax", "-cf"]).arg(&tar).arg("-C").arg(src.path()).arg("."));
        cases.push((BundleType::Tar, tar));
    }
    if have("zip") {
        let zip = out.path().join("sys.zip");
        run(Command::new("zip").args(["-qry"]).arg(&zip).arg(".").current_dir(src.path()));
        cases.push((BundleType::Zip, zip));
    }
    if cases.is_empty() {
        ferry_testkit::skip("neither tar nor zip is installed");
        return;
    }
    for (kind, bundle) in cases {
        let sb = Sandbox::new();
        unpack(&bundle, kind, &sb.dest, &Limits::default()).unwrap();
        let got = snapshot(&sb.dest);
        for (k, v) in &want {
            assert!(got.get(k) == Some(v), "{kind:?}: {} differs", k.display());
        }
        assert_eq!(want.len(), got.len(), "{kind:?}");
        sb.assert_clean();
    }
}

#[test]
fn ferry_archives_unpack_with_system_tools() {
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    let want = snapshot(src.path());
    let out = tempfile::tempdir().unwrap();
    if have("tar") {
        let tgz = out.path().join("f.tgz");
        pack(src.path(), BundleType::Tgz, &tgz).unwrap();
        let dest = out.path().join("tar-out");
        fs::create_dir(&dest).unwrap();
        run(Command::new("tar").arg("-xzpf").arg(&tgz).arg("-C").arg(&dest));
        assert_eq!(snapshot(&dest), want);
    }
    if have("unzip") {
        let zip = out.path().join("f.zip");
        pack(src.path(), BundleType::Zip, &zip).unwrap();
        let dest = out.path().join("zip-out");
        run(Command::new("unzip").arg("-q").arg(&zip).arg("-d").arg(&dest));
        let got = snapshot(&dest);
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
        assert_eq!(got[Path::new("lib/libfoo.so")], want[Path::new("lib/libfoo.so")]);
        assert_eq!(got[Path::new("data/big.bin")], want[Path::new("data/big.bin")]);
    }
}

#[test]
fn dest_rules() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("f"), b"x").unwrap();
    let sb = Sandbox::new();
    let bundle = sb.bundles.path().join("b.tar");
    pack(src.path(), BundleType::Tar, &bundle).unwrap();
    // Missing parents are created.
    let deep = sb.dest.join("x/y");
    unpack(&bundle, BundleType::Tar, &deep, &Limits::default()).unwrap();
    assert_eq!(fs::read(deep.join("f")).unwrap(), b"x");
    // Not empty: refused.
    assert!(unpack(&bundle, BundleType::Tar, &deep, &Limits::default()).is_err());
    // Empty: fine.
    let empty = sb.dest.join("empty");
    fs::create_dir(&empty).unwrap();
    unpack(&bundle, BundleType::Tar, &empty, &Limits::default()).unwrap();
    // A symlink to an empty directory: refused.
    let target = sb.dest.join("target");
    fs::create_dir(&target).unwrap();
    symlink(&target, sb.dest.join("link")).unwrap();
    assert!(unpack(&bundle, BundleType::Tar, &sb.dest.join("link"), &Limits::default()).is_err());
    assert!(fs::read_dir(&target).unwrap().next().is_none());
}

#[test]
fn infer_and_from_name() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(BundleType::infer(dir.path()), Some(BundleType::Directory));
    for (name, want) in [
        ("app.zip", Some(BundleType::Zip)),
        ("APP.ZIP", Some(BundleType::Zip)),
        ("app.tar", Some(BundleType::Tar)),
        ("app.tgz", Some(BundleType::Tgz)),
        ("app.tar.gz", Some(BundleType::Tgz)),
        ("App.Tar.Gz", Some(BundleType::Tgz)),
        ("app.gz", None),
        ("app.txt", None),
        ("zip", None),
    ] {
        assert_eq!(BundleType::infer(Path::new(name)), want, "{name}");
    }
    for kind in [BundleType::Zip, BundleType::Tar, BundleType::Tgz, BundleType::Directory] {
        assert_eq!(BundleType::from_name(kind.as_str()), Some(kind));
    }
    assert_eq!(BundleType::from_name("TAR.GZ"), Some(BundleType::Tgz));
    assert_eq!(BundleType::from_name("rar"), None);
}
