//! ferry's unpack against `tar -xzf` / `tar -xf` / `unzip -q` on the same
//! ~100 MB bundle. Run with `cargo bench -p ferry-bundle --bench unpack`.
//!
//! The tree: 4 files of 20 MB of word-like text (compresses ~3x, not
//! trivially) and 2000 files of 1-19 KB in 40 directories. ferry and the
//! system tool take turns, each run into a fresh directory after a `sync`
//! (not timed, so one run's writeback does not slow the next); the best time
//! counts. `FERRY_BENCH_DIR` picks where to work (default: the temp dir; a
//! tmpfs such as /dev/shm takes the disk out of the comparison).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ferry_bundle::{BundleType, Limits, pack, unpack};

const RUNS: usize = 3;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn text(rng: &mut Rng, words: &[Vec<u8>], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        let r = rng.next();
        match r % 16 {
            0 => out.extend_from_slice(format!("{} ", r >> 40).as_bytes()),
            1 => out.push(b'\n'),
            _ => {
                out.extend_from_slice(&words[(r >> 8) as usize % words.len()]);
                out.push(b' ');
            }
        }
    }
    out.truncate(len);
    out
}

fn make_tree(root: &Path) -> u64 {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let words: Vec<Vec<u8>> = (0..2000)
        .map(|_| {
            let n = 3 + rng.next() % 8;
            (0..n).map(|_| b'a' + (rng.next() % 26) as u8).collect()
        })
        .collect();
    let mut total = 0u64;
    for i in 0..4 {
        let data = text(&mut rng, &words, 20_000_000);
        total += data.len() as u64;
        fs::write(root.join(format!("big-{i}.dat")), data).unwrap();
    }
    for d in 0..40 {
        let dir = root.join(format!("src/module-{d:02}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..50 {
            let len = 1000 + (rng.next() % 18_000) as usize;
            let data = text(&mut rng, &words, len);
            total += data.len() as u64;
            fs::write(dir.join(format!("file-{f:02}.txt")), data).unwrap();
        }
    }
    total
}

fn fresh(dir: &Path) -> PathBuf {
    let _ = fs::remove_dir_all(dir);
    dir.to_path_buf()
}

/// One run into a fresh `out` (removal and sync not timed).
fn timed(out: &Path, f: &mut impl FnMut(&Path)) -> Duration {
    let dest = fresh(out);
    let _ = Command::new("sync").status();
    let t = Instant::now();
    f(&dest);
    t.elapsed()
}

/// Best of RUNS for each of `a` and `b`, taking turns.
fn race(out: &Path, mut a: impl FnMut(&Path), mut b: impl FnMut(&Path)) -> (Duration, Duration) {
    let (mut best_a, mut best_b) = (Duration::MAX, Duration::MAX);
    for _ in 0..RUNS {
        best_a = best_a.min(timed(out, &mut a));
        best_b = best_b.min(timed(out, &mut b));
    }
    (best_a, best_b)
}

fn system(cmd: &mut Command) {
    let st = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(st.success(), "{cmd:?} failed");
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let base = std::env::var_os("FERRY_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let work = tempfile::Builder::new().prefix("ferry-bench-").tempdir_in(&base).unwrap();
    println!("working in {}", base.display());
    let tree = work.path().join("tree");
    fs::create_dir(&tree).unwrap();
    let t = Instant::now();
    let bytes = make_tree(&tree);
    println!("tree: {:.1} MB in 2004 files, made in {:.2?}", bytes as f64 / 1e6, t.elapsed());

    let out = work.path().join("out");
    let limits = Limits::default();
    let mut rows = Vec::new();
    for (kind, name, sys) in [
        (BundleType::Tgz, "bundle.tgz", "tar -xzf"),
        (BundleType::Tar, "bundle.tar", "tar -xf"),
        (BundleType::Zip, "bundle.zip", "unzip -q"),
    ] {
        let bundle = work.path().join(name);
        let t = Instant::now();
        let packed = pack(&tree, kind, &bundle).unwrap();
        println!(
            "pack {:<4} {:>7.1} MB -> {:>6.1} MB in {:>8.2?} ({:.0} MB/s)",
            kind.as_str(),
            bytes as f64 / 1e6,
            packed.archive_bytes as f64 / 1e6,
            t.elapsed(),
            mbps(bytes, t.elapsed())
        );
        let ferry = |dest: &Path| {
            let s = unpack(&bundle, kind, dest, &limits).unwrap();
            assert_eq!(s.bytes, bytes);
        };
        let theirs = |dest: &Path| {
            fs::create_dir(dest).unwrap();
            let mut cmd = match kind {
                BundleType::Zip => {
                    let mut c = Command::new("unzip");
                    c.arg("-q").arg(&bundle).arg("-d").arg(dest);
                    c
                }
                _ => {
                    let mut c = Command::new("tar");
                    c.arg(if kind == BundleType::Tgz { "-xzf" } else { "-xf" }).arg(&bundle).arg("-C").arg(dest);
                    c
                }
            };
            system(&mut cmd);
        };
        let (ferry, theirs) = race(&out, ferry, theirs);
        rows.push((kind, sys, ferry, theirs));
    }
    println!();
    println!("unpack (best of {RUNS}, {:.1} MB of content):", bytes as f64 / 1e6);
    for (kind, sys, ferry, theirs) in rows {
        println!(
            "  {:<4} ferry {:>8.2?} {:>6.0} MB/s | {:<9} {:>8.2?} {:>6.0} MB/s | ferry/system speed {:.2}x",
            kind.as_str(),
            ferry,
            mbps(bytes, ferry),
            sys,
            theirs,
            mbps(bytes, theirs),
            theirs.as_secs_f64() / ferry.as_secs_f64()
        );
    }
}
