//! Helpers shared by the integration tests: low-level archive writers that
//! can say anything (the crates' builders refuse `..` and friends), tree
//! snapshots, and the "nothing outside dest" check.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder};

// ---------------------------------------------------------------- tar ----

/// Writes octal `v` into a NUL-terminated numeric header field.
pub fn octal(field: &mut [u8], v: u64) {
    let s = format!("{v:0width$o}", width = field.len() - 1);
    assert!(s.len() < field.len(), "{v} does not fit");
    field[..s.len()].copy_from_slice(s.as_bytes());
    field[s.len()] = 0;
}

/// A ustar header with raw name and link name bytes.
pub fn tar_header(kind: u8, name: &[u8], link: &[u8], size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    {
        let b = h.as_mut_bytes();
        b[..name.len()].copy_from_slice(name);
        b[157..157 + link.len()].copy_from_slice(link);
    }
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_600_000_000);
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_cksum();
    h
}

#[derive(Default)]
pub struct RawTar {
    pub buf: Vec<u8>,
}

impl RawTar {
    pub fn header(&mut self, h: &tar::Header) -> &mut Self {
        self.buf.extend_from_slice(h.as_bytes());
        self
    }

    pub fn data(&mut self, data: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn entry(&mut self, kind: u8, name: &[u8], link: &[u8], data: &[u8], mode: u32) -> &mut Self {
        let h = tar_header(kind, name, link, data.len() as u64, mode);
        self.header(&h).data(data)
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(b'0', name.as_bytes(), b"", data, 0o644)
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(b'5', name.as_bytes(), b"", b"", 0o755)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(b'2', name.as_bytes(), target.as_bytes(), b"", 0o777)
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(b'1', name.as_bytes(), target.as_bytes(), b"", 0o644)
    }

    /// A GNU long-name entry naming the next entry.
    pub fn long_name(&mut self, name: &[u8]) -> &mut Self {
        let mut data = name.to_vec();
        data.push(0);
        self.entry(b'L', b"././@LongLink", b"", &data, 0o644)
    }

    /// A pax extended header for the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let body = [k.as_bytes(), b"=", v, b"\n"].concat();
            let mut len = body.len() + 2;
            while format!("{len} ").len() + body.len() != len {
                len += 1;
            }
            data.extend_from_slice(format!("{len} ").as_bytes());
            data.extend_from_slice(&body);
        }
        self.entry(b'x', b"PaxHeader", b"", &data, 0o644)
    }

    pub fn finish(&mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&[0u8; 1024]);
        std::mem::take(&mut self.buf)
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// A gzip member holding 16 MiB of zeros; members concatenate, so `n` of
/// them make `n * 16 MiB` of zeros for little work.
pub fn gzip_zeros_16m() -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&vec![0u8; 16 << 20]).unwrap();
    gz.finish().unwrap()
}

// ---------------------------------------------------------------- zip ----

/// A zip writer that writes whatever name, mode and sizes it is given.
#[derive(Default)]
pub struct RawZip {
    out: Vec<u8>,
    central: Vec<u8>,
    count: u16,
}

pub struct ZipEntry<'a> {
    pub name: &'a [u8],
    /// Full unix mode (type and permission bits); `None` writes a DOS entry.
    pub unix_mode: Option<u32>,
    /// 0 stored, 8 deflated.
    pub method: u16,
    pub data: &'a [u8],
    pub crc: u32,
    pub size: u32,
}

impl RawZip {
    pub fn add(&mut self, e: ZipEntry<'_>) -> &mut Self {
        let offset = self.out.len() as u32;
        let made_by: u16 = if e.unix_mode.is_some() { (3 << 8) | 20 } else { 20 };
        let external = e.unix_mode.map_or(0, |m| m << 16);
        let (date, time) = (0x21u16, 0u16);
        // local header
        let o = &mut self.out;
        o.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        o.extend_from_slice(&20u16.to_le_bytes());
        o.extend_from_slice(&0x800u16.to_le_bytes());
        o.extend_from_slice(&e.method.to_le_bytes());
        o.extend_from_slice(&time.to_le_bytes());
        o.extend_from_slice(&date.to_le_bytes());
        o.extend_from_slice(&e.crc.to_le_bytes());
        o.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        o.extend_from_slice(&e.size.to_le_bytes());
        o.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        o.extend_from_slice(&0u16.to_le_bytes());
        o.extend_from_slice(e.name);
        o.extend_from_slice(e.data);
        // central directory record
        let c = &mut self.central;
        c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        c.extend_from_slice(&made_by.to_le_bytes());
        c.extend_from_slice(&20u16.to_le_bytes());
        c.extend_from_slice(&0x800u16.to_le_bytes());
        c.extend_from_slice(&e.method.to_le_bytes());
        c.extend_from_slice(&time.to_le_bytes());
        c.extend_from_slice(&date.to_le_bytes());
        c.extend_from_slice(&e.crc.to_le_bytes());
        c.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        c.extend_from_slice(&e.size.to_le_bytes());
        c.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        c.extend_from_slice(&[0u8; 8]); // extra len, comment len, disk, internal attrs
        c.extend_from_slice(&external.to_le_bytes());
        c.extend_from_slice(&offset.to_le_bytes());
        c.extend_from_slice(e.name);
        self.count += 1;
        self
    }

    pub fn stored(&mut self, name: &str, unix_mode: Option<u32>, content: &[u8]) -> &mut Self {
        let name = name.as_bytes();
        self.add(ZipEntry { name, unix_mode, method: 0, data: content, crc: crc(content), size: content.len() as u32 })
    }

    pub fn deflated(&mut self, name: &str, unix_mode: Option<u32>, content: &[u8]) -> &mut Self {
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(content).unwrap();
        let data = enc.finish().unwrap();
        let name = name.as_bytes();
        self.add(ZipEntry { name, unix_mode, method: 8, data: &data, crc: crc(content), size: content.len() as u32 })
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let cd_offset = self.out.len() as u32;
        let cd_size = self.central.len() as u32;
        let mut out = std::mem::take(&mut self.out);
        out.extend_from_slice(&self.central);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0u8; 4]);
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&cd_size.to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }
}

pub fn crc(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

/// A raw deflate stream of `copies * 16 MiB` zeros, made by repeating one
/// fully flushed (history-free) segment.
pub fn deflate_zeros(copies: usize) -> Vec<u8> {
    use flate2::{Compress, FlushCompress, Status};
    // Feeds `input` with `flush` until it is all in and the output buffer
    // was not filled up (zlib's "avail_out != 0" means done).
    fn run(c: &mut Compress, input: &[u8], out: &mut Vec<u8>, flush: FlushCompress) {
        let start = c.total_in();
        loop {
            out.reserve(1 << 20);
            let consumed = (c.total_in() - start) as usize;
            let status = c.compress_vec(&input[consumed..], out, flush).unwrap();
            let all_in = (c.total_in() - start) as usize == input.len();
            if status == Status::StreamEnd || (all_in && out.len() < out.capacity()) {
                return;
            }
        }
    }
    let mut c = Compress::new(Compression::best(), false);
    let mut seg = Vec::new();
    run(&mut c, &vec![0u8; 16 << 20], &mut seg, FlushCompress::Full);
    let mut out = seg.repeat(copies);
    run(&mut c, &[], &mut out, FlushCompress::Finish);
    out
}

// ------------------------------------------------------------- checks ----

#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    Dir(u32),
    File(u32, Vec<u8>),
    Link(PathBuf),
}

/// Everything below `root`, symlinks not followed, modes with 0o7777.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Item> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Item>) {
        for e in fs::read_dir(root.join(rel)).unwrap() {
            let e = e.unwrap();
            let rel = rel.join(e.file_name());
            let path = root.join(&rel);
            let meta = fs::symlink_metadata(&path).unwrap();
            let mode = meta.mode() & 0o7777;
            if meta.file_type().is_symlink() {
                out.insert(rel, Item::Link(fs::read_link(&path).unwrap()));
            } else if meta.is_dir() {
                out.insert(rel.clone(), Item::Dir(mode));
                walk(root, &rel, out);
            } else {
                out.insert(rel, Item::File(mode, fs::read(&path).unwrap()));
            }
        }
    }
    walk(root, Path::new(""), &mut out);
    out
}

/// Asserts that below `parent` there is nothing but `dest`, its ancestors
/// and what lies inside it.
pub fn assert_nothing_outside(parent: &Path, dest: &Path) {
    fn walk(dir: &Path, dest: &Path) {
        for e in fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path == dest {
                continue;
            }
            assert!(dest.starts_with(&path), "{} was created outside {}", path.display(), dest.display());
            walk(&path, dest);
        }
    }
    walk(parent, dest);
}

/// A fresh place to unpack: `parent/a/b/dest` (dest not created), so that
/// `..` and `../..` from dest still land inside `parent` where they can be
/// seen.
pub struct Sandbox {
    pub parent: tempfile::TempDir,
    pub dest: PathBuf,
    pub bundles: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("a/b/dest");
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        Self { parent, dest, bundles: tempfile::tempdir().unwrap() }
    }

    pub fn bundle(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.bundles.path().join(name);
        fs::write(&p, bytes).unwrap();
        p
    }

    pub fn assert_clean(&self) {
        assert_nothing_outside(self.parent.path(), &self.dest);
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}
