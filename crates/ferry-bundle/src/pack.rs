//! Writing bundles from a directory tree.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::SystemTime;

use flate2::Compression;
use flate2::write::GzEncoder;
use zip::write::{FullFileOptions, SimpleFileOptions};
use zip::{CompressionMethod, DateTime, System, ZIP64_BYTES_THR, ZipWriter};

use crate::extract::{COPY_BUF, io_error, unsafe_entry};
use crate::path::check_symlink_target;
use crate::tarball::epoch_secs;
use crate::tree::{self, Entry, FileId, Kind, file_id};
use crate::zipball::civil_from_days;
use crate::{BundleError, BundleType, Limits, PackStats, unpack};

pub(crate) fn pack(dir: &Path, kind: BundleType, out: &Path) -> Result<PackStats, BundleError> {
    let meta = fs::metadata(dir).map_err(|e| io_error(format!("cannot read {}", dir.display()), e))?;
    if !meta.is_dir() {
        return Err(io_error(
            format!("{} is not a directory", dir.display()),
            io::Error::from(io::ErrorKind::NotADirectory),
        ));
    }
    if kind == BundleType::Directory {
        let s = unpack(dir, kind, out, &Limits { max_total_bytes: u64::MAX, max_entries: u64::MAX })?;
        return Ok(PackStats {
            files: s.files,
            directories: s.directories,
            symlinks: s.symlinks,
            bytes: s.bytes,
            archive_bytes: s.bytes,
        });
    }
    let file = File::create(out).map_err(|e| io_error(format!("cannot create {}", out.display()), e))?;
    let out_meta = file.metadata().map_err(|e| io_error(format!("cannot stat {}", out.display()), e))?;
    let skip = Some(file_id(&out_meta));
    let writer = BufWriter::with_capacity(COPY_BUF, file);
    let werr = |e: io::Error| io_error(format!("cannot write {}", out.display()), e);
    let (writer, mut stats) = match kind {
        BundleType::Tar => pack_tar(dir, skip, writer, out)?,
        BundleType::Tgz => {
            let (gz, stats) = pack_tar(dir, skip, GzEncoder::new(writer, Compression::default()), out)?;
            (gz.finish().map_err(werr)?, stats)
        }
        BundleType::Zip => pack_zip(dir, skip, writer, out)?,
        BundleType::Directory => unreachable!("handled above"),
    };
    let file = writer.into_inner().map_err(|e| werr(e.into_error()))?;
    stats.archive_bytes = file.metadata().map_err(werr)?.len();
    Ok(stats)
}

fn count(stats: &mut PackStats, entry: &Entry) -> Result<(), BundleError> {
    match &entry.kind {
        Kind::Dir => stats.directories += 1,
        Kind::File => {
            stats.files += 1;
            stats.bytes += entry.meta.len();
        }
        Kind::Symlink(target) => {
            // Refuse now what unpack would refuse later.
            check_symlink_target(&entry.rel, target).map_err(|e| unsafe_entry(entry.name(), e.0))?;
            stats.symlinks += 1;
        }
    }
    Ok(())
}

/// The first `len` bytes of a file, failing if it has fewer (it shrank
/// after it was looked at), so an archive's sizes always match its data.
struct Exactly {
    inner: io::Take<File>,
}

impl Read for Exactly {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && self.inner.limit() > 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while it was packed"));
        }
        Ok(n)
    }
}

fn pack_tar<W: Write>(dir: &Path, skip: Option<FileId>, w: W, out: &Path) -> Result<(W, PackStats), BundleError> {
    let mut builder = tar::Builder::new(w);
    let mut stats = PackStats::default();
    let werr = |e: io::Error| io_error(format!("cannot write {}", out.display()), e);
    tree::walk(dir, skip, |entry| {
        count(&mut stats, entry)?;
        let mut h = tar::Header::new_gnu();
        h.set_mode(entry.meta.mode() & 0o7777);
        h.set_mtime(entry.meta.modified().map_or(0, epoch_secs));
        h.set_uid(0);
        h.set_gid(0);
        match &entry.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                builder.append_data(&mut h, &entry.rel, io::empty()).map_err(werr)
            }
            Kind::File => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(entry.meta.len());
                let data = Exactly { inner: tree::open_walked(dir, entry)?.take(entry.meta.len()) };
                builder.append_data(&mut h, &entry.rel, data).map_err(werr)
            }
            Kind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                builder.append_link(&mut h, &entry.rel, OsStr::from_bytes(target)).map_err(werr)
            }
        }
    })?;
    Ok((builder.into_inner().map_err(werr)?, stats))
}

/// A DOS date and time (as UTC), clamped to what zip can store.
fn dos_time(t: SystemTime) -> DateTime {
    let secs = i64::try_from(epoch_secs(t)).unwrap_or(0);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let (hh, mm, ss) = ((s / 3600) as u8, (s / 60 % 60) as u8, (s % 60) as u8);
    u16::try_from(y)
        .ok()
        .and_then(|y| DateTime::from_date_and_time(y, m as u8, d as u8, hh, mm, ss).ok())
        .unwrap_or_default()
}

fn pack_zip<W: Write + io::Seek>(
    dir: &Path,
    skip: Option<FileId>,
    w: W,
    out: &Path,
) -> Result<(W, PackStats), BundleError> {
    let mut zw = ZipWriter::new(w);
    let mut stats = PackStats::default();
    let mut buf = vec![0u8; COPY_BUF];
    let zerr = |e: zip::result::ZipError| io_error(format!("cannot write {}", out.display()), e.into());
    tree::walk(dir, skip, |entry| {
        count(&mut stats, entry)?;
        let Some(name) = entry.rel.to_str() else {
            return Err(unsafe_entry(entry.name(), "zip entry names must be UTF-8"));
        };
        let mtime = entry.meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        // The whole unix mode (type, permissions, sticky) in the high half of
        // the external attributes, as Info-ZIP does.
        let file_type = match entry.kind {
            Kind::Dir => 0o040_000,
            Kind::File => 0o100_000,
            Kind::Symlink(_) => 0o120_000,
        };
        let mut opts: FullFileOptions<'_, '_> = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .system(System::Unix)
            .external_attributes((file_type | (entry.meta.mode() & 0o7777)) << 16)
            .last_modified_time(dos_time(mtime))
            .into_full_options();
        if let Ok(secs) = u32::try_from(epoch_secs(mtime)) {
            opts = opts.with_extended_timestamp(Some(secs), None, None).map_err(zerr)?;
        }
        match &entry.kind {
            Kind::Dir => zw.add_directory(name, opts).map_err(zerr),
            Kind::Symlink(target) => {
                let Ok(target) = std::str::from_utf8(target) else {
                    return Err(unsafe_entry(entry.name(), "zip symlink targets must be UTF-8"));
                };
                zw.add_symlink(name, target, opts).map_err(zerr)
            }
            Kind::File => {
                let len = entry.meta.len();
                zw.start_file(name, opts.large_file(len >= ZIP64_BYTES_THR)).map_err(zerr)?;
                let mut data = Exactly { inner: tree::open_walked(dir, entry)?.take(len) };
                let path = dir.join(&entry.rel);
                loop {
                    let n = match data.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(io_error(format!("cannot read {}", path.display()), e)),
                    };
                    zw.write_all(&buf[..n]).map_err(|e| io_error(format!("cannot write {}", out.display()), e))?;
                }
                Ok(())
            }
        }
    })?;
    Ok((zw.finish().map_err(zerr)?, stats))
}
