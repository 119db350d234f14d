//! Supervising one command's process: its output as lines, its exit, its timeout.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;
use tokio::time::Instant;

use crate::{MAX_LINE_BYTES, OutputLine, Stream};

/// How long output is still read after the command exited: a background
/// process it started may hold the pipes open for good, so reading stops
/// then (the background process keeps running).
pub(crate) const OUTPUTS_GRACE: Duration = Duration::from_millis(500);

/// How a supervised process ended.
pub(crate) enum Ended {
    Exited(ExitStatus),
    TimedOut,
}

/// Reads `child`'s stdout and stderr into `output` line by line until it
/// exits (and its outputs close, or [`OUTPUTS_GRACE`] passes), or until
/// `timeout`, when `kill` is called (it must kill the command and everything
/// it started) and the child itself is killed and reaped.
pub(crate) async fn supervise(
    child: &mut Child,
    timeout: Option<Duration>,
    output: &mut (dyn FnMut(OutputLine) + Send),
    kill: &(dyn Fn() + Sync),
) -> io::Result<Ended> {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut out_lines = Lines::new(Stream::Stdout);
    let mut err_lines = Lines::new(Stream::Stderr);
    let (mut out_buf, mut err_buf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut ended: Option<Ended> = None;
    let mut reading_until = Instant::now();
    while stdout.is_some() || stderr.is_some() || ended.is_none() {
        tokio::select! {
            read = read_some(&mut stdout, &mut out_buf) => match read {
                Ok(0) | Err(_) => { stdout = None; out_lines.finish(output); }
                Ok(n) => out_lines.feed(&out_buf[..n], output),
            },
            read = read_some(&mut stderr, &mut err_buf) => match read {
                Ok(0) | Err(_) => { stderr = None; err_lines.finish(output); }
                Ok(n) => err_lines.feed(&err_buf[..n], output),
            },
            status = child.wait(), if ended.is_none() => {
                ended = Some(Ended::Exited(status?));
                reading_until = Instant::now() + OUTPUTS_GRACE;
            }
            _ = sleep_until(deadline), if ended.is_none() => {
                kill();
                let _ = child.start_kill();
                child.wait().await?;
                ended = Some(Ended::TimedOut);
                reading_until = Instant::now() + OUTPUTS_GRACE;
            }
            _ = tokio::time::sleep_until(reading_until), if ended.is_some() => break,
        }
    }
    out_lines.finish(output);
    err_lines.finish(output);
    Ok(ended.expect("the loop ends only after the child ended"))
}

async fn read_some<R: AsyncRead + Unpin>(reader: &mut Option<R>, buf: &mut [u8]) -> io::Result<usize> {
    match reader {
        Some(reader) => reader.read(buf).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Splits one stream into lines of at most [`MAX_LINE_BYTES`].
struct Lines {
    stream: Stream,
    pending: Vec<u8>,
}

impl Lines {
    fn new(stream: Stream) -> Self {
        Self { stream, pending: Vec::new() }
    }

    fn feed(&mut self, chunk: &[u8], output: &mut (dyn FnMut(OutputLine) + Send)) {
        for piece in chunk.split_inclusive(|&b| b == b'\n') {
            let (body, complete) = match piece.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (piece, false),
            };
            self.pending.extend_from_slice(body);
            while self.pending.len() > MAX_LINE_BYTES {
                let rest = self.pending.split_off(utf8_cut(&self.pending[..MAX_LINE_BYTES]));
                self.emit(output);
                self.pending = rest;
            }
            if complete {
                self.emit(output);
            }
        }
    }

    /// Delivers a last line that had no newline.
    fn finish(&mut self, output: &mut (dyn FnMut(OutputLine) + Send)) {
        if !self.pending.is_empty() {
            self.emit(output);
        }
    }

    fn emit(&mut self, output: &mut (dyn FnMut(OutputLine) + Send)) {
        let line = std::mem::take(&mut self.pending);
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        output(OutputLine { stream: self.stream, text: String::from_utf8_lossy(line).into_owned() });
    }
}

/// The longest prefix of `bytes` that does not split a UTF-8 character
/// (all of it when it is not UTF-8 near the end anyway).
fn utf8_cut(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..4.min(len) {
        let b = bytes[len - back];
        if b & 0xC0 != 0x80 {
            // `b` starts a character (or is ASCII): cut before it if it is incomplete.
            let need = if b >= 0xF0 {
                4
            } else if b >= 0xE0 {
                3
            } else if b >= 0xC0 {
                2
            } else {
                1
            };
            return if need > back { len - back } else { len };
        }
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(chunks: &[&[u8]]) -> Vec<String> {
        let mut got = Vec::new();
        let mut sink = |line: OutputLine| got.push(line.text);
        let mut lines = Lines::new(Stream::Stdout);
        for chunk in chunks {
            lines.feed(chunk, &mut sink);
        }
        lines.finish(&mut sink);
        got
    }

    #[test]
    fn lines_join_chunks_and_keep_a_last_line_without_newline() {
        assert_eq!(lines_of(&[b"a\nb", b"c\r\n", b"d"]), ["a", "bc", "d"]);
    }

    #[test]
    fn a_long_line_is_cut_at_the_limit_without_splitting_a_character() {
        let mut long = vec![b'x'; MAX_LINE_BYTES - 1];
        long.extend_from_slice("é".as_bytes());
        long.extend_from_slice(b"tail\n");
        let got = lines_of(&[&long]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_LINE_BYTES - 1);
        assert_eq!(got[1], "étail");
    }
}
