//! Human output shared by the operator commands: aligned tables, durations,
//! timestamps, JSON, and the error-to-exit-code edge.
//!
//! Exit codes of the operator commands: 0 success; 1 the server refused the
//! request (an `ErrorBody`) or the deployment did not succeed; 2 the command
//! could not be carried out (usage, credentials, server unreachable, a bad
//! bundle directory).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::client::Error;

/// Prints `error: …` for a failed command and turns the outcome into the exit code.
pub fn finish(outcome: Result<ExitCode, Error>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", clean(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}

/// Whether `c` must not reach a terminal as it is: C0 controls (ESC, CR,
/// BEL, …), DEL, C1 controls (CSI, OSC, …), the line and paragraph
/// separators, and the bidirectional overrides that reorder what is shown.
fn unsafe_for_terminal(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn neutralise(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| unsafe_for_terminal(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_for_terminal(c) && !keep(c) {
            let _ = write!(out, "{}", c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Text the server sent (names, descriptions, messages, hook output), safe
/// to print: every control character is shown escaped (`\u{1b}`, `\r`),
/// so nothing a caller or a script wrote can move the cursor, clear the
/// screen or forge a line, but newlines and tabs stay (multi-line output).
/// Everything the CLI prints from the server goes through this or
/// [`clean_line`] ([`say!`], [`Table`], [`finish`]).
pub fn clean(text: &str) -> Cow<'_, str> {
    neutralise(text, |c| c == '\n' || c == '\t')
}

/// [`clean`] for one line or a table cell: newlines are escaped too.
pub fn clean_line(text: &str) -> Cow<'_, str> {
    neutralise(text, |_| false)
}

/// `println!` of one line holding server-provided text, through [`clean_line`].
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", $crate::cmd::output::clean_line(&format!($($arg)*)))
    };
}
pub(crate) use say;

/// [`say!`] on stderr.
macro_rules! say_err {
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::cmd::output::clean_line(&format!($($arg)*)))
    };
}
pub(crate) use say_err;

/// Prints `value` as pretty JSON on stdout (the `--json` output of every command).
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Other(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// Milliseconds since the Unix epoch, as the API's times.
pub fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A column's alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A plain-text table: a header row and rows, columns separated by two spaces,
/// padded to the widest cell (counted in characters). Trailing spaces are trimmed.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| h.to_string()).collect(),
            align: vec![Align::Left; header.len()],
            rows: Vec::new(),
        }
    }

    /// A table without a header row (for blocks such as the live progress).
    pub fn headless(columns: usize) -> Self {
        Self { header: Vec::new(), align: vec![Align::Left; columns], rows: Vec::new() }
    }

    /// Right-aligns column `index` (numbers, durations).
    pub fn right(mut self, index: usize) -> Self {
        if let Some(a) = self.align.get_mut(index) {
            *a = Align::Right;
        }
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The rendered lines, header first (cells through [`clean_line`]).
    pub fn lines(&self) -> Vec<String> {
        let cleaned: Vec<Vec<String>> =
            self.rows.iter().map(|row| row.iter().map(|cell| clean_line(cell).into_owned()).collect()).collect();
        let columns = self.align.len();
        let mut widths = vec![0usize; columns];
        let all = std::iter::once(&self.header).filter(|h| !h.is_empty()).chain(cleaned.iter());
        for row in all.clone() {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        all.map(|row| {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).map(String::as_str).unwrap_or("");
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = width - cell.chars().count().min(*width);
                match self.align[i] {
                    Align::Left => {
                        line.push_str(cell);
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                }
            }
            line.trim_end().to_string()
        })
        .collect()
    }

    pub fn print(&self) {
        for line in self.lines() {
            println!("{line}");
        }
    }
}

/// A duration for humans: `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`.
/// `500ms`, `30s`, `5m`, `2h` (a bare number is seconds) as milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 500ms, 30s, 5m or 2h"))?;
    let factor = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("{text:?} is not a duration like 500ms, 30s, 5m or 2h")),
    };
    Ok(value * factor)
}

pub fn duration(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{} min {:02} s", ms / 60_000, ms / 1000 % 60)
    } else {
        format!("{} h {:02} min", ms / 3_600_000, ms / 60_000 % 60)
    }
}

/// How long ago `then` was, seen from `now` (both ms since the epoch):
/// `just now`, `12 s ago`, `5 min ago`, `3 h ago`, `4 d ago`.
pub fn ago(now: u64, then: u64) -> String {
    let secs = now.saturating_sub(then) / 1000;
    if secs < 1 {
        "just now".into()
    } else if secs < 60 {
        format!("{secs} s ago")
    } else if secs < 3600 {
        format!("{} min ago", secs / 60)
    } else if secs < 48 * 3600 {
        format!("{} h ago", secs / 3600)
    } else {
        format!("{} d ago", secs / 86_400)
    }
}

/// An absolute UTC time: `2025-06-01 12:34:56 UTC`.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = ferry_bundle::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `-` for an absent value.
pub fn or_dash(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => v.to_string(),
        _ => "-".into(),
    }
}

/// Cuts `line` to `width` characters, ending in `…` when it was longer.
pub fn truncate(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let mut out: String = line.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_trims() {
        let mut t = Table::new(&["NAME", "STATUS", "TIME"]).right(2);
        t.row(vec!["web-1".into(), "Succeeded".into(), "12 ms".into()]);
        t.row(vec!["database-primary".into(), "Failed".into(), "1234 ms".into()]);
        t.row(vec!["x".into(), "".into(), "".into()]);
        assert_eq!(
            t.lines(),
            vec![
                "NAME              STATUS        TIME",
                "web-1             Succeeded    12 ms",
                "database-primary  Failed     1234 ms",
                "x",
            ]
        );
    }

    #[test]
    fn table_counts_characters_not_bytes() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["héllo".into(), "x".into()]);
        t.row(vec!["ab".into(), "y".into()]);
        assert_eq!(t.lines(), vec!["A      B", "héllo  x", "ab     y"]);
    }

    #[test]
    fn headless_table_has_no_header_and_short_rows_pad() {
        let mut t = Table::headless(3);
        t.row(vec!["a".into(), "bb".into(), "c".into()]);
        t.row(vec!["aaa".into()]);
        assert_eq!(t.lines(), vec!["a    bb  c", "aaa"]);
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0 ms");
        assert_eq!(duration(999), "999 ms");
        assert_eq!(duration(1_000), "1.0 s");
        assert_eq!(duration(12_345), "12.3 s");
        assert_eq!(duration(245_000), "4 min 05 s");
        assert_eq!(duration(7_380_000), "2 h 03 min");
    }

    #[test]
    fn relative_times() {
        let now = 1_000_000_000;
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now, now + 5_000), "just now", "a server clock ahead of ours is not the future");
        assert_eq!(ago(now, now - 12_000), "12 s ago");
        assert_eq!(ago(now, now - 300_000), "5 min ago");
        assert_eq!(ago(now, now - 3 * 3_600_000), "3 h ago");
        assert_eq!(ago(now, now - 4 * 86_400_000), "4 d ago");
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_709_210_096_789), "2024-02-29 12:34:56 UTC");
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        let hostile = "ok\u{1b}[2J\u{1b}]0;title\u{7}\rdone\u{9b}31m\u{202e}x";
        assert_eq!(clean(hostile), "ok\\u{1b}[2J\\u{1b}]0;title\\u{7}\\rdone\\u{9b}31m\\u{202e}x");
        assert_eq!(clean("line 1\n\tline 2"), "line 1\n\tline 2", "newlines and tabs stay");
        assert_eq!(clean_line("a\nstatus  Succeeded"), "a\\nstatus  Succeeded");
        assert!(matches!(clean("plain text, é ✓"), Cow::Borrowed(_)));
        assert_eq!(clean(&clean(hostile)), clean(hostile), "idempotent");
        let mut t = Table::new(&["KEY", "RESULT"]);
        t.row(vec!["\u{1b}[2Jx".into(), "401".into()]);
        assert_eq!(t.lines(), vec!["KEY         RESULT", "\\u{1b}[2Jx  401"]);
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdefg", 6), "abcde…");
        assert_eq!(or_dash(None), "-");
        assert_eq!(or_dash(Some("")), "-");
        assert_eq!(or_dash(Some("v")), "v");
    }
}
