//! Reading a script's stdout/stderr into lines for `scripts.log` and the tail.

use std::sync::Mutex;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::tail::LogTail;
use crate::scripts_log::ScriptsLog;

/// Longest line kept as one entry, in bytes; the rest of a longer line (or of
/// output with no newline at all, like binary data) continues in further
/// entries of at most this size.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Where the lines of an event's scripts go: `scripts.log` and the tail.
pub(super) struct Sink<'a> {
    log: &'a ScriptsLog,
    tail: Mutex<LogTail>,
}

impl<'a> Sink<'a> {
    pub(super) fn new(log: &'a ScriptsLog) -> Self {
        Self { log, tail: Mutex::new(LogTail::new()) }
    }

    /// Writes a line of the runner's own (`Script - …`) to `scripts.log` only.
    pub(super) fn line(&self, text: &str) {
        self.log.line(text);
    }

    fn emit(&self, tag: &str, bytes: &[u8]) {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let entry = format!("{tag}{}", String::from_utf8_lossy(bytes));
        self.log.line(&entry);
        self.tail.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
    }

    pub(super) fn tail(&self) -> String {
        self.tail.lock().unwrap_or_else(|p| p.into_inner()).contents()
    }
}

/// Splits one stream into lines. It outlives the reading future, so that a
/// partial last line is still logged when reading is abandoned.
pub(super) struct Lines {
    tag: &'static str,
    pending: Vec<u8>,
}

impl Lines {
    pub(super) fn new(tag: &'static str) -> Self {
        Self { tag, pending: Vec::new() }
    }

    fn feed(&mut self, mut chunk: &[u8], sink: &Sink<'_>) {
        while let Some(newline) = chunk.iter().position(|&b| b == b'\n') {
            if self.pending.is_empty() {
                self.emit_capped(&chunk[..newline], sink);
            } else {
                self.pending.extend_from_slice(&chunk[..newline]);
                self.emit_capped(&self.pending, sink);
                self.pending.clear();
            }
            chunk = &chunk[newline + 1..];
        }
        self.pending.extend_from_slice(chunk);
        while self.pending.len() >= MAX_LINE_BYTES {
            let cut = utf8_cut(&self.pending[..MAX_LINE_BYTES]);
            sink.emit(self.tag, &self.pending[..cut]);
            self.pending.drain(..cut);
        }
    }

    fn emit_capped(&self, mut line: &[u8], sink: &Sink<'_>) {
        while line.len() > MAX_LINE_BYTES {
            let cut = utf8_cut(&line[..MAX_LINE_BYTES]);
            sink.emit(self.tag, &line[..cut]);
            line = &line[cut..];
        }
        sink.emit(self.tag, line);
    }

    /// Logs an unterminated last line, if any.
    pub(super) fn finish(&mut self, sink: &Sink<'_>) {
        if !self.pending.is_empty() {
            self.emit_capped(&self.pending, sink);
            self.pending.clear();
        }
    }
}

/// Where to split `bytes` (a full-size piece of a long line) so as not to cut
/// a UTF-8 character in two: before an incomplete character at its end.
fn utf8_cut(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => e.valid_up_to(),
        _ => bytes.len(),
    }
}

/// Reads `reader` to its end (or first error), feeding `lines`.
pub(super) async fn pump<R: AsyncRead + Unpin>(mut reader: R, lines: &mut Lines, sink: &Sink<'_>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => lines.feed(&buf[..n], sink),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    lines.finish(sink);
}
