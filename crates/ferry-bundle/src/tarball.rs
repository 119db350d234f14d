//! tar and tgz bundles.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tar::EntryType;

use crate::BundleError;
use crate::extract::{COPY_BUF, Extractor, unsafe_entry};
use crate::path::{display, sanitize_entry_path};

/// Bytes of tar metadata (headers, long names, pax records, padding) allowed
/// between two entries. The `tar` crate reads long names and pax records
/// into memory whole, so without this a compressed bundle could make it
/// allocate gigabytes.
const META_PER_ENTRY: u64 = 16 << 20;
/// Floor of the metadata budget for a whole bundle; the budget is the larger
/// of this and `max_total_bytes`.
const META_TOTAL_FLOOR: u64 = 64 << 20;

/// Counts what the `tar` crate reads outside entry content.
struct Budget {
    in_content: Cell<bool>,
    since_entry: Cell<u64>,
    total: Cell<u64>,
    total_limit: u64,
    /// The limit that was exceeded, once one was.
    tripped: Cell<Option<u64>>,
    kind: &'static str,
}

impl Budget {
    fn leave_content(&self) {
        self.in_content.set(false);
        self.since_entry.set(0);
    }

    /// An error from the tar reader, reported as a limit if the budget
    /// caused it.
    fn error(&self, e: io::Error) -> BundleError {
        self.fix(BundleError::Corrupt { kind: self.kind, message: e.to_string() })
    }

    fn fix(&self, e: BundleError) -> BundleError {
        match (e, self.tripped.get()) {
            (BundleError::Corrupt { .. }, Some(limit)) => {
                BundleError::LimitExceeded { what: "bytes of tar metadata", limit }
            }
            (e, _) => e,
        }
    }
}

struct Guarded<R> {
    inner: R,
    budget: Rc<Budget>,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let b = &*self.budget;
        if b.tripped.get().is_some() {
            return Err(io::Error::other("tar metadata limit exceeded"));
        }
        let n = self.inner.read(buf)?;
        if !b.in_content.get() {
            b.since_entry.set(b.since_entry.get() + n as u64);
            b.total.set(b.total.get() + n as u64);
            let over = if b.since_entry.get() > META_PER_ENTRY {
                Some(META_PER_ENTRY)
            } else if b.total.get() > b.total_limit {
                Some(b.total_limit)
            } else {
                None
            };
            if over.is_some() {
                b.tripped.set(over);
                return Err(io::Error::other("tar metadata limit exceeded"));
            }
        }
        Ok(n)
    }
}

/// Reads a tar stream (already decompressed) into `ext`.
pub(crate) fn unpack<R: Read>(reader: R, ext: &mut Extractor) -> Result<(), BundleError> {
    let budget = Rc::new(Budget {
        in_content: Cell::new(false),
        since_entry: Cell::new(0),
        total: Cell::new(0),
        total_limit: ext.limits().max_total_bytes.max(META_TOTAL_FLOOR),
        tripped: Cell::new(None),
        kind: ext.kind(),
    });
    let mut archive = tar::Archive::new(Guarded { inner: reader, budget: budget.clone() });
    let entries = archive.entries().map_err(|e| budget.error(e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| budget.error(e))?;
        budget.in_content.set(true);
        let result = ext.count_entry().and_then(|()| one_entry(&mut entry, ext));
        budget.leave_content();
        result.map_err(|e| budget.fix(e))?;
    }
    Ok(())
}

fn one_entry<R: Read>(entry: &mut tar::Entry<'_, R>, ext: &mut Extractor) -> Result<(), BundleError> {
    let raw = entry.path_bytes().into_owned();
    let header = entry.header();
    let kind = header.entry_type();
    let corrupt = |what: &str, e: io::Error| BundleError::Corrupt {
        kind: ext.kind(),
        message: format!("{}: bad {what}: {e}", display(&raw)),
    };
    let mode = header.mode().map_err(|e| corrupt("mode", e))?;
    let mtime = header.mtime().ok().and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)));
    let rel = || sanitize_entry_path(&raw).map_err(|e| unsafe_entry(&raw, e.0));
    match kind {
        // Old archives mark directories as regular files with a trailing slash.
        EntryType::Regular if raw.ends_with(b"/") => ext.directory(&raw, &rel()?, mode, mtime)?,
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            ext.file(&raw, &rel()?, mode, mtime, entry)?;
            return Ok(());
        }
        EntryType::Directory => ext.directory(&raw, &rel()?, mode, mtime)?,
        EntryType::Symlink => {
            let target = link_name(entry, &raw, "symlink")?;
            ext.symlink(&raw, &rel()?, &target)?;
        }
        EntryType::Link => {
            let target = link_name(entry, &raw, "hard link")?;
            ext.hard_link(&raw, &rel()?, &target)?;
        }
        EntryType::XGlobalHeader => {}
        EntryType::Char | EntryType::Block => return Err(unsafe_entry(&raw, "device file")),
        EntryType::Fifo => return Err(unsafe_entry(&raw, "fifo")),
        other => {
            return Err(unsafe_entry(&raw, format!("unsupported tar entry type {:?}", char::from(other.as_byte()))));
        }
    }
    // Whatever data a non-file entry carries is read (and counted) here
    // rather than skipped unseen by the tar reader.
    ext.copy(&raw, entry, None)
}

/// The target of a link entry; the `tar` crate reports an empty one as none.
fn link_name<R: Read>(entry: &tar::Entry<'_, R>, raw: &[u8], what: &str) -> Result<Vec<u8>, BundleError> {
    match entry.link_name_bytes() {
        Some(t) => Ok(t.into_owned()),
        None => Err(unsafe_entry(raw, format!("{what} target is empty"))),
    }
}

/// Seconds since the epoch, for headers.
pub(crate) fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Reads a gzip-compressed tar stream (concatenated gzip members allowed).
/// Decompression runs on a second thread, a few MiB ahead of extraction, the
/// way `tar -z` pipes through `gzip`; the thread ends (and is joined) when the
/// unpack ends, whichever way it ends.
pub(crate) fn unpack_gz(file: std::fs::File, ext: &mut Extractor) -> Result<(), BundleError> {
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
    let (back_tx, back_rx) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|s| {
        s.spawn(move || inflate_into(file, &tx, &back_rx));
        unpack(Chunks { rx, back: back_tx, cur: Vec::new(), pos: 0 }, ext)
    })
}

const CHUNK: usize = 1 << 20;

fn inflate_into(file: std::fs::File, tx: &SyncSender<io::Result<Vec<u8>>>, back: &Receiver<Vec<u8>>) {
    let mut gz = flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(COPY_BUF, file));
    loop {
        let mut buf = back.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        let mut filled = 0;
        let eof = loop {
            match gz.read(&mut buf[filled..]) {
                Ok(0) => break true,
                Ok(n) => {
                    filled += n;
                    if filled == CHUNK {
                        break false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        };
        buf.truncate(filled);
        // A failed send means the reader is gone: stop.
        if (filled > 0 && tx.send(Ok(buf)).is_err()) || eof {
            return;
        }
    }
}

/// The reading end of [`inflate_into`].
struct Chunks {
    rx: Receiver<io::Result<Vec<u8>>>,
    back: Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.cur.len() {
            let next = match self.rx.recv() {
                Ok(chunk) => chunk?,
                Err(_) => return Ok(0), // the inflater finished
            };
            let used = std::mem::replace(&mut self.cur, next);
            let _ = self.back.send(used);
            self.pos = 0;
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
