//! The build log: output lines as the commands wrote them, the runner's own
//! lines in CodeBuild's format (`[Container] 2026/12/03 12:00:00.123456
//! Running command make`), every secret value replaced by `***`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Where the build's log lines go (a terminal, a file, a server's log store).
pub trait LogSink: Send {
    /// One line, without its newline, already masked.
    fn line(&mut self, line: &str);

    /// A phase began (for live views; the result lists every phase anyway).
    fn phase_started(&mut self, _phase: ferry_buildspec::Phase, _start_ms: u64) {}

    /// A phase ended.
    fn phase_ended(&mut self, _record: &crate::PhaseRecord) {}
}

/// Collects the lines (tests, and callers that keep the whole log).
impl LogSink for Vec<String> {
    fn line(&mut self, line: &str) {
        self.push(line.to_owned());
    }
}

/// Replaces secret values in lines before they reach a [`LogSink`].
///
/// A secret that holds several lines is masked line by line (each piece of
/// at least [`MIN_MASKED_PIECE`] characters), since output arrives one line
/// at a time. Not masked: a secret split across the pieces of a line longer
/// than `ferry_container::MAX_LINE_BYTES`, or transformed by the command
/// (base64, reversed…), as in CodeBuild.
pub(crate) struct Masker {
    /// Longest first, so that a secret containing another is masked whole.
    pieces: Vec<String>,
}

/// Shorter pieces of a multi-line secret are left alone: masking every `}`
/// or empty line of a PEM key would destroy the log and protect nothing.
pub const MIN_MASKED_PIECE: usize = 4;

impl Masker {
    pub(crate) fn new(secrets: &[String]) -> Self {
        let mut pieces: Vec<String> = Vec::new();
        for secret in secrets {
            let lines: Vec<&str> = secret.lines().collect();
            if lines.len() <= 1 {
                if !secret.is_empty() {
                    pieces.push(secret.clone());
                }
            } else {
                pieces.extend(lines.into_iter().filter(|l| l.trim().len() >= MIN_MASKED_PIECE).map(str::to_owned));
            }
        }
        pieces.sort_by_key(|p| std::cmp::Reverse(p.len()));
        pieces.dedup();
        Self { pieces }
    }

    pub(crate) fn mask(&self, line: &str) -> String {
        let mut out = line.to_owned();
        for piece in &self.pieces {
            if out.contains(piece.as_str()) {
                out = out.replace(piece.as_str(), "***");
            }
        }
        out
    }
}

/// `2026/12/03 12:00:00.123456` (UTC), CodeBuild's log time stamp.
pub(crate) fn timestamp(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, m, d) = ferry_bundle::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}/{m:02}/{d:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_in_codebuild_format() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(timestamp(t), "2023/11/14 22:13:20.123456");
        assert_eq!(timestamp(UNIX_EPOCH), "1970/01/01 00:00:00.000000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&timestamp(leap)[..10], "2000/02/29");
    }

    #[test]
    fn masks_secrets_longest_first_and_multi_line_ones_by_line() {
        let m = Masker::new(&["hunter2".into(), "hunter2-long".into(), String::new(), "line-one\n}\nline-two".into()]);
        assert_eq!(m.mask("pw=hunter2-long and hunter2"), "pw=*** and ***");
        assert_eq!(m.mask("line-one"), "***");
        assert_eq!(m.mask("}"), "}");
        assert_eq!(m.mask("x line-two y"), "x *** y");
        assert_eq!(m.mask("nothing here"), "nothing here");
    }
}
