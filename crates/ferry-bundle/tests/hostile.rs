//! Hostile bundles, written byte by byte: each must be refused as a whole
//! with the right error, and nothing may appear outside dest.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;

use common::{RawTar, RawZip, Sandbox, ZipEntry, deflate_zeros, gzip, gzip_zeros_16m, tar_header};
use ferry_bundle::{BundleError, BundleType, Limits, UnpackStats, unpack};

fn small_limits() -> Limits {
    Limits { max_total_bytes: 10 << 20, max_entries: 1000 }
}

fn unpack_tar(sb: &Sandbox, tar: &[u8]) -> Result<UnpackStats, BundleError> {
    let b = sb.bundle("b.tar", tar);
    unpack(&b, BundleType::Tar, &sb.dest, &small_limits())
}

fn unpack_zip(sb: &Sandbox, zip: &[u8]) -> Result<UnpackStats, BundleError> {
    let b = sb.bundle("b.zip", zip);
    unpack(&b, BundleType::Zip, &sb.dest, &small_limits())
}

#[track_caller]
fn assert_unsafe(r: Result<UnpackStats, BundleError>, entry_has: &str, reason_has: &str) {
    match r {
        Err(BundleError::UnsafeEntry { entry, reason }) => {
            assert!(entry.contains(entry_has), "entry {entry:?} should contain {entry_has:?}");
            assert!(reason.contains(reason_has), "reason {reason:?} should contain {reason_has:?}");
        }
        other => panic!("expected UnsafeEntry({entry_has}), got {other:?}"),
    }
}

#[track_caller]
fn assert_limit(r: Result<UnpackStats, BundleError>, what_is: &str) {
    match r {
        Err(BundleError::LimitExceeded { what, .. }) => assert_eq!(what, what_is),
        other => panic!("expected LimitExceeded({what_is}), got {other:?}"),
    }
}

/// Where `../evil` from dest would land.
fn above(sb: &Sandbox, rel: &str) -> std::path::PathBuf {
    sb.dest.join(rel)
}

// ---------------------------------------------------------------- names ----

#[test]
fn tar_parent_dir_components() {
    for name in ["../evil", "../../evil", "ok/../../evil", "a/../b"] {
        let sb = Sandbox::new();
        let tar = RawTar::default().file("fine", b"1").file(name, b"pwned").finish();
        assert_unsafe(unpack_tar(&sb, &tar), name, "..");
        sb.assert_clean();
        assert!(!above(&sb, "../evil").exists() && !above(&sb, "../../evil").exists());
    }
}

#[test]
fn tar_absolute_paths() {
    let sb = Sandbox::new();
    let target = sb.parent.path().join("abs-evil");
    let name = target.to_str().unwrap();
    assert!(name.len() < 100);
    let tar = RawTar::default().file(name, b"pwned").finish();
    assert_unsafe(unpack_tar(&sb, &tar), "abs-evil", "absolute");
    assert!(!target.exists());
    sb.assert_clean();

    // Same through a GNU long name and a pax path record.
    let sb = Sandbox::new();
    let long = format!("{}/{}", sb.parent.path().display(), "x".repeat(150));
    let tar = RawTar::default().long_name(long.as_bytes()).file("short", b"pwned").finish();
    assert_unsafe(unpack_tar(&sb, &tar), "xxx", "absolute");
    sb.assert_clean();
    let sb = Sandbox::new();
    let tar = RawTar::default().pax(&[("path", b"../../pax-evil")]).file("short", b"pwned").finish();
    assert_unsafe(unpack_tar(&sb, &tar), "pax-evil", "..");
    sb.assert_clean();
}

#[test]
fn tar_nul_in_name() {
    let sb = Sandbox::new();
    let tar = RawTar::default().pax(&[("path", b"a\0/../../x")]).file("short", b"pwned").finish();
    assert_unsafe(unpack_tar(&sb, &tar), "a", "NUL");
    sb.assert_clean();
}

#[test]
fn tar_file_naming_the_root() {
    let sb = Sandbox::new();
    let tar = RawTar::default().dir("./").file(".", b"x").finish();
    assert_unsafe(unpack_tar(&sb, &tar), ".", "root");
    sb.assert_clean();
}

// ------------------------------------------------------------- symlinks ----

#[test]
fn tar_symlinks_leaving_the_root() {
    for (name, target) in [
        ("l", "../../outside"),
        ("l", ".."),
        ("sub/l", "../.."),
        ("l", "/etc/passwd"),
        ("l", "x/../../.."),
        ("l", "sub/../.."),
        ("l", ""),
    ] {
        let sb = Sandbox::new();
        let tar = RawTar::default().dir("sub/").symlink(name, target).file("after", b"x").finish();
        assert_unsafe(unpack_tar(&sb, &tar), name, "symlink target");
        sb.assert_clean();
        // Symlinks are only made at the very end: nothing of it on disk.
        assert!(fs::symlink_metadata(sb.dest.join(name)).is_err(), "{name} -> {target}");
    }
}

#[test]
fn tar_symlink_dotdot_after_a_link_is_refused() {
    // `sub/up -> ..` is the root and fine; `sub/e -> up/../x` looks like
    // `sub/x` lexically but the kernel resolves it above the root.
    let sb = Sandbox::new();
    let tar = RawTar::default().dir("sub/").symlink("sub/up", "..").symlink("sub/e", "up/../x").finish();
    assert_unsafe(unpack_tar(&sb, &tar), "sub/e", "`..` after");
    sb.assert_clean();
}

#[test]
fn tar_write_through_symlink() {
    for (link, target) in [("link", "sub"), ("link", "."), ("sub/up", "..")] {
        let sb = Sandbox::new();
        let through = format!("{link}/file");
        let tar = RawTar::default().dir("sub/").symlink(link, target).file(&through, b"pwned").finish();
        assert_unsafe(unpack_tar(&sb, &tar), &through, "through the symlink");
        assert!(!sb.dest.join("sub/file").exists());
        assert!(!sb.dest.join("file").exists());
        sb.assert_clean();
    }
    // A directory entry through a symlink, then a file below it.
    let sb = Sandbox::new();
    let tar = RawTar::default().dir("sub/").symlink("link", "sub").dir("link/d/").file("link/d/f", b"x").finish();
    assert_unsafe(unpack_tar(&sb, &tar), "link/d", "through the symlink");
    assert!(!sb.dest.join("sub/d").exists());
    sb.assert_clean();
}

#[test]
fn tar_later_entries_replace_links_without_following_them() {
    let sb = Sandbox::new();
    let tar = RawTar::default()
        .file("target", b"original")
        .symlink("a", "target")
        .file("a", b"replaced")
        .file("f", b"f-original")
        .hardlink("h", "f")
        .file("h", b"h-new")
        .finish();
    let stats = unpack_tar(&sb, &tar).unwrap();
    assert_eq!(fs::read(sb.dest.join("target")).unwrap(), b"original");
    assert!(fs::symlink_metadata(sb.dest.join("a")).unwrap().is_file());
    assert_eq!(fs::read(sb.dest.join("a")).unwrap(), b"replaced");
    assert_eq!(fs::read(sb.dest.join("f")).unwrap(), b"f-original");
    assert_eq!(fs::read(sb.dest.join("h")).unwrap(), b"h-new");
    assert_eq!((stats.files, stats.symlinks), (4, 0));
    sb.assert_clean();
}

#[test]
fn tar_file_replacing_a_directory_is_refused() {
    let sb = Sandbox::new();
    let tar = RawTar::default().file("d/x", b"x").file("d", b"file").finish();
    assert_unsafe(unpack_tar(&sb, &tar), "d", "replace a directory");
    sb.assert_clean();
    let sb = Sandbox::new();
    let tar = RawTar::default().file("d", b"x").file("d/x", b"x").finish();
    assert_unsafe(unpack_tar(&sb, &tar), "d/x", "not a directory");
    sb.assert_clean();
}

// ----------------------------------------------------------- hard links ----

#[test]
fn tar_hard_links() {
    let sb = Sandbox::new();
    let tar = RawTar::default().file("f", b"data").hardlink("h", "f").hardlink("sub/h2", "./f").finish();
    let stats = unpack_tar(&sb, &tar).unwrap();
    let (f, h) = (fs::metadata(sb.dest.join("f")).unwrap(), fs::metadata(sb.dest.join("h")).unwrap());
    assert_eq!(f.ino(), h.ino());
    assert_eq!(fs::read(sb.dest.join("sub/h2")).unwrap(), b"data");
    assert_eq!(stats.files, 3);

    for (target, why) in [
        ("/etc/passwd", "absolute"),
        ("../../outside", ".."),
        ("later", "not extracted before"),
        ("sub", "directory"),
        ("link", "symlink"),
        ("", "empty"),
    ] {
        let sb = Sandbox::new();
        let tar =
            RawTar::default().dir("sub/").symlink("link", "sub").hardlink("h", target).file("later", b"x").finish();
        assert_unsafe(unpack_tar(&sb, &tar), "h", why);
        sb.assert_clean();
    }
}

// ------------------------------------------------------ special entries ----

#[test]
fn tar_devices_fifos_and_unknown_types() {
    for (kind, why) in [(b'3', "device"), (b'4', "device"), (b'6', "fifo"), (b'V', "type"), (b'Z', "type")] {
        let sb = Sandbox::new();
        let tar = RawTar::default().file("ok", b"x").entry(kind, b"dev", b"", b"", 0o644).finish();
        assert_unsafe(unpack_tar(&sb, &tar), "dev", why);
        assert!(fs::symlink_metadata(sb.dest.join("dev")).is_err());
        sb.assert_clean();
    }
}

#[test]
fn tar_pax_global_header_is_skipped() {
    let sb = Sandbox::new();
    let tar = RawTar::default().entry(b'g', b"pax_global_header", b"", b"11 a=bcdef\n", 0o644).file("f", b"x").finish();
    let stats = unpack_tar(&sb, &tar).unwrap();
    assert_eq!(stats.files, 1);
    assert!(!sb.dest.join("pax_global_header").exists());
}

// --------------------------------------------------------------- limits ----

#[test]
fn tgz_bomb_stops_at_the_byte_limit() {
    let sb = Sandbox::new();
    let mut tgz = gzip(tar_header(b'0', b"zeros", b"", 1 << 30, 0o644).as_bytes());
    let member = gzip_zeros_16m();
    for _ in 0..64 {
        tgz.extend_from_slice(&member);
    }
    tgz.extend_from_slice(&gzip(&[0u8; 1024]));
    assert!(tgz.len() < 4 << 20, "the bundle itself is small: {}", tgz.len());
    let b = sb.bundle("bomb.tgz", &tgz);
    assert_limit(unpack(&b, BundleType::Tgz, &sb.dest, &small_limits()), "bytes");
    let written = fs::metadata(sb.dest.join("zeros")).unwrap().len();
    assert!(written <= small_limits().max_total_bytes, "{written}");
    sb.assert_clean();
}

#[test]
fn tar_sparse_bomb_stops_at_the_byte_limit() {
    // A GNU sparse file: 512 stored bytes, 1 GiB real size.
    let mut h = tar_header(b'S', b"sparse", b"", 512, 0o644);
    {
        let gnu = h.as_gnu_mut().unwrap();
        common::octal(&mut gnu.sparse[0].offset, (1 << 30) - 512);
        common::octal(&mut gnu.sparse[0].numbytes, 512);
        common::octal(&mut gnu.realsize, 1 << 30);
    }
    h.set_cksum();
    let tar = RawTar::default().header(&h).data(&[7u8; 512]).finish();
    let sb = Sandbox::new();
    assert_limit(unpack_tar(&sb, &tar), "bytes");
    assert!(fs::metadata(sb.dest.join("sparse")).unwrap().len() <= small_limits().max_total_bytes);
    sb.assert_clean();
}

#[test]
fn tgz_pax_header_bomb_is_bounded() {
    // A 64 MiB pax record would be read into memory by the tar reader.
    let sb = Sandbox::new();
    let mut tgz = gzip(tar_header(b'x', b"PaxHeader", b"", 64 << 20, 0o644).as_bytes());
    let member = gzip_zeros_16m();
    for _ in 0..4 {
        tgz.extend_from_slice(&member);
    }
    tgz.extend_from_slice(&gzip(RawTar::default().file("f", b"x").finish().as_slice()));
    let b = sb.bundle("pax.tgz", &tgz);
    assert_limit(unpack(&b, BundleType::Tgz, &sb.dest, &small_limits()), "bytes of tar metadata");
    sb.assert_clean();
}

#[test]
fn tar_too_many_entries() {
    let sb = Sandbox::new();
    let mut t = RawTar::default();
    for i in 0..20 {
        t.file(&format!("f{i}"), b"x");
    }
    let b = sb.bundle("many.tar", &t.finish());
    let limits = Limits { max_total_bytes: 1 << 20, max_entries: 10 };
    assert_limit(unpack(&b, BundleType::Tar, &sb.dest, &limits), "entries");
    assert!(fs::read_dir(&sb.dest).unwrap().count() <= 10);
    sb.assert_clean();
}

#[test]
fn corrupt_archives() {
    let sb = Sandbox::new();
    let mut tar = RawTar::default().file("f", b"x").finish();
    tar[100] ^= 0x55; // breaks the checksum
    assert!(matches!(unpack_tar(&sb, &tar), Err(BundleError::Corrupt { .. })));
    let sb = Sandbox::new();
    assert!(matches!(unpack_zip(&sb, b"PK\x03\x04 not really"), Err(BundleError::Corrupt { .. })));
    let sb = Sandbox::new();
    let b = sb.bundle("x.tgz", b"\x1f\x8b\x08\x00garbage");
    assert!(matches!(unpack(&b, BundleType::Tgz, &sb.dest, &small_limits()), Err(BundleError::Corrupt { .. })));
}

// ------------------------------------------------------------------ zip ----

const REG: u32 = 0o100_644;
const LNK: u32 = 0o120_777;
const DIR: u32 = 0o040_755;

#[test]
fn zip_bad_names() {
    for name in ["../evil", "..\\evil", "ok\\..\\..\\evil", "/tmp/ferry-zip-abs-evil", "a/../b"] {
        let sb = Sandbox::new();
        let zip = RawZip::default().stored("fine", Some(REG), b"1").stored(name, Some(REG), b"pwned").finish();
        let r = unpack_zip(&sb, &zip);
        assert!(matches!(r, Err(BundleError::UnsafeEntry { .. })), "{name}: {r:?}");
        assert!(!Path::new("/tmp/ferry-zip-abs-evil").exists());
        sb.assert_clean();
    }
    let sb = Sandbox::new();
    let zip = RawZip::default()
        .add(ZipEntry { name: b"a\0b", unix_mode: Some(REG), method: 0, data: b"", crc: 0, size: 0 })
        .finish();
    assert!(unpack_zip(&sb, &zip).is_err());
    sb.assert_clean();
}

#[test]
fn zip_backslashes_are_separators() {
    let sb = Sandbox::new();
    let zip = RawZip::default().deflated("dir\\file.txt", None, b"hello").finish();
    unpack_zip(&sb, &zip).unwrap();
    assert_eq!(fs::read(sb.dest.join("dir/file.txt")).unwrap(), b"hello");
    assert_eq!(fs::metadata(sb.dest.join("dir/file.txt")).unwrap().mode() & 0o777, 0o644);
}

#[test]
fn zip_symlinks() {
    let sb = Sandbox::new();
    let zip = RawZip::default().stored("l", Some(LNK), b"../../outside").finish();
    assert_unsafe(unpack_zip(&sb, &zip), "l", "leaves the bundle root");
    sb.assert_clean();

    let sb = Sandbox::new();
    let zip = RawZip::default()
        .stored("sub/", Some(DIR), b"")
        .stored("link", Some(LNK), b"sub")
        .stored("link/file", Some(REG), b"pwned")
        .finish();
    assert_unsafe(unpack_zip(&sb, &zip), "link/file", "through the symlink");
    assert!(!sb.dest.join("sub/file").exists());
    sb.assert_clean();

    let sb = Sandbox::new();
    let zip = RawZip::default().stored("t", Some(REG), b"t").stored("sub/l", Some(LNK), b"../t").finish();
    let stats = unpack_zip(&sb, &zip).unwrap();
    assert_eq!(fs::read_link(sb.dest.join("sub/l")).unwrap(), Path::new("../t"));
    assert_eq!(stats.symlinks, 1);
}

#[test]
fn zip_duplicate_names_never_follow_a_link() {
    let sb = Sandbox::new();
    let zip = RawZip::default()
        .stored("t", Some(REG), b"original")
        .stored("a", Some(LNK), b"t")
        .stored("a", Some(REG), b"replaced")
        .finish();
    // Whichever duplicate wins, `t` is untouched.
    let _ = unpack_zip(&sb, &zip);
    assert_eq!(fs::read(sb.dest.join("t")).unwrap(), b"original");
    sb.assert_clean();
}

#[test]
fn zip_special_files() {
    for mode in [0o020_644, 0o060_644, 0o010_644, 0o140_644] {
        let sb = Sandbox::new();
        let zip = RawZip::default().stored("special", Some(mode), b"").finish();
        assert_unsafe(unpack_zip(&sb, &zip), "special", "device, fifo or socket");
        sb.assert_clean();
    }
}

#[test]
fn zip_bombs() {
    let data = deflate_zeros(64); // 1 GiB of zeros
    assert!(data.len() < 4 << 20);
    // Honest sizes: refused before anything is written.
    let sb = Sandbox::new();
    let zip = RawZip::default()
        .add(ZipEntry { name: b"zeros", unix_mode: Some(REG), method: 8, data: &data, crc: 0, size: u32::MAX })
        .finish();
    assert_limit(unpack_zip(&sb, &zip), "bytes");
    assert!(fs::read_dir(&sb.dest).unwrap().next().is_none());
    sb.assert_clean();
    // Lying sizes: stopped while copying.
    let sb = Sandbox::new();
    let zip = RawZip::default()
        .add(ZipEntry { name: b"zeros", unix_mode: Some(REG), method: 8, data: &data, crc: 0, size: 1024 })
        .finish();
    let r = unpack_zip(&sb, &zip);
    assert!(matches!(r, Err(BundleError::LimitExceeded { .. } | BundleError::Corrupt { .. })), "{r:?}");
    if let Ok(m) = fs::metadata(sb.dest.join("zeros")) {
        assert!(m.len() <= small_limits().max_total_bytes);
    }
    sb.assert_clean();
}

#[test]
fn zip_too_many_entries() {
    let sb = Sandbox::new();
    let mut z = RawZip::default();
    for i in 0..20 {
        z.stored(&format!("f{i}"), Some(REG), b"x");
    }
    let b = sb.bundle("many.zip", &z.finish());
    let limits = Limits { max_total_bytes: 1 << 20, max_entries: 10 };
    assert_limit(unpack(&b, BundleType::Zip, &sb.dest, &limits), "entries");
    assert!(fs::read_dir(&sb.dest).unwrap().next().is_none());
}

// ------------------------------------------------------------ directory ----

#[test]
fn directory_with_links_out_of_the_tree() {
    for target in ["../outside", "/etc", "a/../../x"] {
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("f"), b"x").unwrap();
        symlink(target, src.path().join("evil")).unwrap();
        let sb = Sandbox::new();
        let r = unpack(src.path(), BundleType::Directory, &sb.dest, &small_limits());
        assert_unsafe(r, "evil", "symlink target");
        sb.assert_clean();
    }
}

#[test]
fn directory_copies_links_as_links() {
    let src = tempfile::tempdir().unwrap();
    fs::create_dir(src.path().join("real")).unwrap();
    fs::write(src.path().join("real/f"), b"x").unwrap();
    symlink("real", src.path().join("alias")).unwrap();
    let sb = Sandbox::new();
    let stats = unpack(src.path(), BundleType::Directory, &sb.dest, &small_limits()).unwrap();
    assert_eq!(fs::read_link(sb.dest.join("alias")).unwrap(), Path::new("real"));
    assert_eq!((stats.files, stats.directories, stats.symlinks), (1, 1, 1));
}

#[test]
fn directory_with_a_fifo() {
    let src = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("mkfifo").arg(src.path().join("pipe")).status().is_ok_and(|s| s.success());
    if !ok {
        ferry_testkit::skip("mkfifo is unavailable");
        return;
    }
    let sb = Sandbox::new();
    let r = unpack(src.path(), BundleType::Directory, &sb.dest, &small_limits());
    assert_unsafe(r, "pipe", "not a regular file");
    sb.assert_clean();
}

#[test]
fn directory_limits() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("big"), vec![1u8; 2 << 20]).unwrap();
    let sb = Sandbox::new();
    let r = unpack(src.path(), BundleType::Directory, &sb.dest, &Limits { max_total_bytes: 1 << 20, max_entries: 10 });
    assert_limit(r, "bytes");
    assert!(fs::metadata(sb.dest.join("big")).unwrap().len() <= 1 << 20);
}
