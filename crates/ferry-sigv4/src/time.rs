//! Timestamps: SigV4's ISO 8601 basic format (`20150830T123600Z`) and the
//! HTTP `Date` format (`Sun, 30 Aug 2015 12:36:00 GMT`), to and from seconds
//! since the Unix epoch. Hand-written civil-calendar arithmetic (proleptic
//! Gregorian, UTC, no leap seconds).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (negative before it).
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            // Round towards negative infinity so that sub-second times before
            // the epoch land in the right second.
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() > 0 { -secs - 1 } else { -secs }
        }
    }
}

/// `20150830T123600Z` for the given Unix time.
pub(crate) fn format_amz(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

pub(crate) fn format_amz_time(time: SystemTime) -> String {
    format_amz(unix_seconds(time))
}

/// Parses `YYYYMMDD'T'HHMMSS'Z'`, strictly.
pub(crate) fn parse_amz(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let days = parse_yyyymmdd(&s[..8])?;
    let (h, mi, se) = (digits(&b[9..11])?, digits(&b[11..13])?, digits(&b[13..15])?);
    if h > 23 || mi > 59 || se > 59 {
        return None;
    }
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

/// Parses an 8-digit `YYYYMMDD` into days since the epoch, rejecting
/// impossible dates.
pub(crate) fn parse_yyyymmdd(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 8 {
        return None;
    }
    let (y, m, d) = (digits(&b[..4])?, digits(&b[4..6])?, digits(&b[6..8])?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Parses the HTTP IMF-fixdate form, `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let mut it = s.split_ascii_whitespace();
    let weekday = it.next()?;
    if !weekday.ends_with(',') {
        return None;
    }
    let day = it.next()?;
    let month = it.next()?;
    let year = it.next()?;
    let hms = it.next()?;
    if it.next()? != "GMT" || it.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let m = MONTHS.iter().position(|&name| name == month)? as i64 + 1;
    if day.len() != 2 || year.len() != 4 {
        return None;
    }
    let (y, d) = (digits(year.as_bytes())?, digits(day.as_bytes())?);
    if d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let hb = hms.as_bytes();
    if hb.len() != 8 || hb[2] != b':' || hb[5] != b':' {
        return None;
    }
    let (h, mi, se) = (digits(&hb[..2])?, digits(&hb[3..5])?, digits(&hb[6..])?);
    if h > 23 || mi > 59 || se > 59 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// `15 min.` (AWS's wording) or `N sec.` when not a whole number of minutes.
pub(crate) fn describe_skew(skew: Duration) -> String {
    let secs = skew.as_secs();
    if secs.is_multiple_of(60) { format!("{} min.", secs / 60) } else { format!("{secs} sec.") }
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |acc, &c| acc * 10 + i64::from(c - b'0')))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_amz_dates() {
        assert_eq!(format_amz(0), "19700101T000000Z");
        assert_eq!(format_amz(1_440_938_160), "20150830T123600Z");
        assert_eq!(parse_amz("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(format_amz(951_782_400), "20000229T000000Z");
        assert_eq!(parse_amz("20000229T000000Z"), Some(951_782_400));
        for bad in
            ["", "20150830T123600", "20150830 123600Z", "20150230T000000Z", "20151330T000000Z", "2015083OT123600Z"]
        {
            assert_eq!(parse_amz(bad), None, "{bad}");
        }
        assert_eq!(parse_amz("20150830T246000Z"), None);
        assert_eq!(parse_amz("2015-08-30T12:36:00Z"), None);
        assert_eq!(parse_amz("２０15083T123600Z"), None);
    }

    #[test]
    fn round_trips_many_days() {
        let mut secs = -86_400 * 800;
        while secs < 4_102_444_800 {
            assert_eq!(parse_amz(&format_amz(secs)), Some(secs), "{secs}");
            secs += 86_400 * 13 + 3_601;
        }
    }

    #[test]
    fn parses_http_dates() {
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"), Some(1_440_938_160));
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 UTC"), None);
        assert_eq!(parse_http_date("Sun, 31 Sep 2015 12:36:00 GMT"), None);
        assert_eq!(parse_http_date("30 Aug 2015 12:36:00 GMT"), None);
    }

    #[test]
    fn system_time_before_epoch() {
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_millis(1500)), -2);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(2)), -2);
        assert_eq!(format_amz(-1), "19691231T235959Z");
    }
}
