//! zip bundles.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zip::result::ZipError;
use zip::{DateTime, ExtraField, System, ZipArchive};

use crate::BundleError;
use crate::extract::{Extractor, io_error, unsafe_entry};
use crate::path::{MAX_LINK_TARGET, sanitize_entry_path};

const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

fn corrupt(e: ZipError) -> BundleError {
    BundleError::Corrupt { kind: "zip", message: e.to_string() }
}

enum Kind {
    Dir,
    File,
    Symlink,
}

pub(crate) fn unpack(bundle: &Path, ext: &mut Extractor) -> Result<(), BundleError> {
    let file = File::open(bundle).map_err(|e| io_error(format!("cannot open {}", bundle.display()), e))?;
    let mut archive = ZipArchive::new(BufReader::with_capacity(64 * 1024, file)).map_err(corrupt)?;
    let limits = ext.limits();
    // Cheap early refusals from the central directory; the real limits are
    // still enforced while extracting (declared sizes are not trusted).
    if archive.len() as u64 > limits.max_entries {
        return Err(BundleError::LimitExceeded { what: "entries", limit: limits.max_entries });
    }
    if archive.decompressed_size().is_some_and(|n| n > u128::from(limits.max_total_bytes)) {
        return Err(BundleError::LimitExceeded { what: "bytes", limit: limits.max_total_bytes });
    }
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).map_err(corrupt)?;
        ext.count_entry()?;
        // Info-ZIP turns `\` into `/` for archives made on Windows; so do we,
        // for every archive, before any check (so `..\x` is a `..`).
        let name = match f.name() {
            Ok(n) => n.replace('\\', "/").into_bytes(),
            Err(_) => return Err(unsafe_entry(f.name_raw(), "name is not valid UTF-8")),
        };
        let rel = sanitize_entry_path(&name).map_err(|e| unsafe_entry(&name, e.0))?;
        let (kind, mode) = kind_and_mode(&f, &name)?;
        let mtime = mtime(&f);
        match kind {
            Kind::Dir => ext.directory(&name, &rel, mode, mtime)?,
            Kind::File => ext.file(&name, &rel, mode, mtime, &mut f)?,
            Kind::Symlink => {
                let mut target = Vec::new();
                (&mut f)
                    .take(MAX_LINK_TARGET as u64 + 1)
                    .read_to_end(&mut target)
                    .map_err(|e| ext.read_error(&name, e))?;
                ext.symlink(&name, &rel, &target)?;
            }
        }
    }
    Ok(())
}

/// Entry kind from the unix mode in the external attributes (and the
/// trailing `/` of directory names); permission bits from the unix mode (the
/// extractor masks them), or 0644/0755 (0444/0555 when read-only) for
/// archives made on DOS/Windows.
fn kind_and_mode<R: Read>(f: &zip::read::ZipFile<'_, R>, name: &[u8]) -> Result<(Kind, u32), BundleError> {
    // The crate's `unix_mode` clears the sticky bit; read it ourselves for
    // unix archives.
    let unix = match f.external_attributes() >> 16 {
        m if m != 0 && f.system() == System::Unix => Some(m),
        _ => f.unix_mode(),
    };
    let kind = match unix.map_or(0, |m| m & S_IFMT) {
        S_IFLNK => Kind::Symlink,
        S_IFDIR => Kind::Dir,
        0 | S_IFREG if name.ends_with(b"/") => Kind::Dir,
        0 | S_IFREG => Kind::File,
        _ => return Err(unsafe_entry(name, "device, fifo or socket")),
    };
    let default = if matches!(kind, Kind::Dir) { 0o755 } else { 0o644 };
    let mode = match unix {
        Some(m) if f.system() == System::Dos => {
            if m & 0o200 == 0 {
                default & !0o222
            } else {
                default
            }
        }
        Some(m) => m & 0o7777,
        None => default,
    };
    Ok((kind, mode))
}

/// The Info-ZIP extended timestamp if present, else the DOS time read as UTC
/// (DOS times carry no zone).
fn mtime<R: Read>(f: &zip::read::ZipFile<'_, R>) -> Option<SystemTime> {
    for field in f.extra_data_fields() {
        if let ExtraField::ExtendedTimestamp(ts) = field
            && let Some(t) = ts.mod_time()
        {
            return Some(UNIX_EPOCH + Duration::from_secs(u64::from(t)));
        }
    }
    let dt = f.last_modified().filter(DateTime::is_valid)?;
    let days = days_from_civil(i64::from(dt.year()), u32::from(dt.month()), u32::from(dt.day()));
    let secs = days * 86_400 + i64::from(dt.hour()) * 3600 + i64::from(dt.minute()) * 60 + i64::from(dt.second());
    UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for z in [-1000, 0, 1, 59, 10_000, 19_000, 50_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
