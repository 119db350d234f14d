#![no_main]
//! ferry-bundle against hostile input.
//!
//! Every input first goes through the path checks on their own
//! (`sanitize_entry_path`, `check_symlink_target`), then is unpacked, with
//! tight limits, into `<fresh>/p/a/dest` as one of:
//! - the raw bytes as a tar or a zip;
//! - a tar or zip built from the bytes by a small structured encoding that
//!   always yields well-formed headers, with names drawn mostly from
//!   `a b . / \` so that `..`, `//`, links and write-through tricks come up.
//!
//! Asserted: nothing but `a` and `a/dest` ever appears under `p`, and after
//! a successful unpack every path inside dest that resolves at all resolves
//! inside dest.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_bundle::{BundleType, Limits, check_symlink_target, sanitize_entry_path, unpack};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_paths(data);
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 4 {
        0 => run(rest, BundleType::Tar),
        1 => run(rest, BundleType::Zip),
        2 => run(&structured(rest, Format::Tar), BundleType::Tar),
        _ => run(&structured(rest, Format::Zip), BundleType::Zip),
    }
});

/// The lexical contracts of the two path checks.
fn check_paths(data: &[u8]) {
    let sane = sanitize_entry_path(data);
    let must_refuse = data.is_empty()
        || data.contains(&0)
        || data[0] == b'/'
        || data.split(|b| *b == b'/').any(|c| c == b"..");
    assert_eq!(sane.is_err(), must_refuse, "{data:?}");
    if let Ok(p) = &sane {
        assert!(p.is_relative());
        assert!(p.components().all(|c| matches!(c, Component::Normal(_))), "{p:?}");
    }
    // link <0xff> target
    let Some(split) = data.iter().position(|b| *b == 0xff) else { return };
    let (link, target) = (&data[..split], &data[split + 1..]);
    let Ok(link) = sanitize_entry_path(link) else { return };
    if check_symlink_target(&link, target).is_ok() {
        // Resolving the target lexically from the link's directory never
        // climbs above the root, and it has no `..` after a name.
        let mut depth = link.parent().map_or(0, |p| p.components().count());
        let mut seen_name = false;
        for c in target.split(|b| *b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => {
                    assert!(depth > 0 && !seen_name, "{link:?} -> {target:?} accepted");
                    depth -= 1;
                }
                _ => {
                    seen_name = true;
                    depth += 1;
                }
            }
        }
        assert!(!target.is_empty() && target[0] != b'/' && !target.contains(&0));
    }
}

#[derive(Clone, Copy)]
enum Format {
    Tar,
    Zip,
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, rest) = self.0.split_at(n);
        self.0 = rest;
        a.to_vec()
    }

    /// A short name over a small alphabet (0xff gives a NUL).
    fn name(&mut self) -> Vec<u8> {
        const ALPHA: &[u8] = b"ab./././A\\";
        let n = self.byte().unwrap_or(0) as usize % 24;
        self.bytes(n).into_iter().map(|b| if b == 0xff { 0 } else { ALPHA[b as usize % ALPHA.len()] }).collect()
    }
}

/// Entries: kind byte, name, link name, a few bytes of data.
fn structured(data: &[u8], format: Format) -> Vec<u8> {
    let mut input = Input(data);
    let mut tar = Vec::new();
    let mut zip = Zip::default();
    while let Some(kind) = input.byte() {
        let name = input.name();
        let link = input.name();
        let len = input.byte().unwrap_or(0) as usize % 16;
        let content = input.bytes(len);
        match format {
            Format::Tar => {
                let flag = match kind % 8 {
                    0 | 1 => b'0',
                    2 => b'5',
                    3 | 4 => b'2',
                    5 => b'1',
                    6 => b'6',
                    _ => input.byte().unwrap_or(b'0'),
                };
                tar_entry(&mut tar, flag, &name, &link, &content);
            }
            Format::Zip => {
                let (mode, body) = match kind % 6 {
                    0 | 1 => (0o100_644, content),
                    2 => (0o040_755, Vec::new()),
                    3 | 4 => (0o120_777, link),
                    _ => (u32::from(input.byte().unwrap_or(0)) << 12 | 0o644, content),
                };
                zip.add(&name, mode, &body);
            }
        }
    }
    match format {
        Format::Tar => {
            tar.extend_from_slice(&[0u8; 1024]);
            tar
        }
        Format::Zip => zip.finish(),
    }
}

fn octal(field: &mut [u8], v: u64) {
    let s = format!("{v:0width$o}", width = field.len() - 1);
    field[..s.len()].copy_from_slice(s.as_bytes());
}

fn tar_entry(out: &mut Vec<u8>, flag: u8, name: &[u8], link: &[u8], data: &[u8]) {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], 0o755);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], data.len() as u64);
    octal(&mut h[136..148], 1_600_000_000);
    h[156] = flag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

#[derive(Default)]
struct Zip {
    out: Vec<u8>,
    central: Vec<u8>,
    count: u16,
}

impl Zip {
    /// A stored entry made on unix with the given mode.
    fn add(&mut self, name: &[u8], mode: u32, data: &[u8]) {
        let (crc, len, offset) = (crc32(data), data.len() as u32, self.out.len() as u32);
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0x800u16.to_le_bytes()); // UTF-8 names
            v.extend_from_slice(&0u16.to_le_bytes()); // stored
            v.extend_from_slice(&0u16.to_le_bytes()); // time
            v.extend_from_slice(&0x21u16.to_le_bytes()); // date
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
        };
        self.out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut self.out);
        self.out.extend_from_slice(&0u16.to_le_bytes());
        self.out.extend_from_slice(name);
        self.out.extend_from_slice(data);
        self.central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        self.central.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes());
        common(&mut self.central);
        self.central.extend_from_slice(&[0u8; 8]);
        self.central.extend_from_slice(&(mode << 16).to_le_bytes());
        self.central.extend_from_slice(&offset.to_le_bytes());
        self.central.extend_from_slice(name);
        self.count += 1;
    }

    fn finish(mut self) -> Vec<u8> {
        let (cd_offset, cd_size) = (self.out.len() as u32, self.central.len() as u32);
        self.out.extend_from_slice(&self.central);
        self.out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        self.out.extend_from_slice(&[0u8; 4]);
        self.out.extend_from_slice(&self.count.to_le_bytes());
        self.out.extend_from_slice(&self.count.to_le_bytes());
        self.out.extend_from_slice(&cd_size.to_le_bytes());
        self.out.extend_from_slice(&cd_offset.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        self.out
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

static RUN: AtomicU64 = AtomicU64::new(0);

fn run(bundle_bytes: &[u8], kind: BundleType) {
    let base = std::env::temp_dir().join(format!("ferry-fuzz-{}-{}", std::process::id(), RUN.fetch_add(1, Ordering::Relaxed)));
    let parent = base.join("p");
    let dest = parent.join("a/dest");
    fs::create_dir_all(parent.join("a")).unwrap();
    let bundle = base.join("bundle");
    fs::write(&bundle, bundle_bytes).unwrap();
    let limits = Limits { max_total_bytes: 1 << 20, max_entries: 256 };
    let result = unpack(&bundle, kind, &dest, &limits);
    let names: Vec<_> = fs::read_dir(&parent).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["a"], "something appeared next to a/: {result:?}");
    let names: Vec<_> = fs::read_dir(parent.join("a")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["dest"], "something appeared next to dest: {result:?}");
    if result.is_ok() {
        let root = fs::canonicalize(&dest).unwrap();
        assert_resolves_inside(&root, &dest);
    }
    remove(&base);
}

/// Every path below `dir` that resolves, resolves inside `root`.
fn assert_resolves_inside(root: &Path, dir: &Path) {
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if let Ok(real) = fs::canonicalize(&path) {
            assert!(real.starts_with(root), "{} resolves to {}", path.display(), real.display());
        }
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            assert_resolves_inside(root, &path);
        }
    }
}

/// Removes a tree even where the bundle made directories read-only.
fn remove(base: &Path) {
    if fs::remove_dir_all(base).is_ok() {
        return;
    }
    fn open_up(dir: &Path) {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        if let Ok(rd) = fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    open_up(&e.path());
                }
            }
        }
    }
    open_up(base);
    let _ = fs::remove_dir_all(base);
}
