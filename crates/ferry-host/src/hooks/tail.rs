//! The output tail sent back in [`Diagnostics::log`](crate::Diagnostics::log).

use std::collections::VecDeque;

use crate::diagnostics::LOG_TAIL_LIMIT;

/// The newest output entries of a lifecycle event (`[stdout]…` / `[stderr]…`),
/// joined with newlines, within a character limit.
///
/// Like CodeDeploy's `ScriptLog#append_to_log`, whole entries are kept, oldest
/// dropped first. Unlike it, an entry longer than the limit on its own does not
/// empty the buffer: its last `limit` characters are kept, so the diagnostics
/// still show how the output ended.
#[derive(Debug, Clone)]
pub struct LogTail {
    /// Entries with their length in characters.
    entries: VecDeque<(String, usize)>,
    /// Characters of the joined text: entries plus one separator between each two.
    chars: usize,
    limit: usize,
}

impl Default for LogTail {
    fn default() -> Self {
        Self::new()
    }
}

impl LogTail {
    /// A tail of at most [`LOG_TAIL_LIMIT`] characters.
    pub fn new() -> Self {
        Self::with_limit(LOG_TAIL_LIMIT)
    }

    /// A tail of at most `limit` characters.
    pub fn with_limit(limit: usize) -> Self {
        Self { entries: VecDeque::new(), chars: 0, limit }
    }

    /// Adds the newest entry, dropping the oldest ones that no longer fit.
    pub fn push(&mut self, entry: impl Into<String>) {
        let mut entry = entry.into();
        let mut len = entry.chars().count();
        if len >= self.limit {
            // Nothing else fits beside it: keep its end only.
            if len > self.limit {
                let start = entry.char_indices().rev().nth(self.limit.wrapping_sub(1)).map_or(entry.len(), |(i, _)| i);
                entry.drain(..start);
                len = self.limit;
            }
            self.entries.clear();
            self.chars = len;
            if len > 0 || self.limit > 0 {
                self.entries.push_back((entry, len));
            }
            return;
        }
        self.chars += len + usize::from(!self.entries.is_empty());
        self.entries.push_back((entry, len));
        while self.chars > self.limit {
            let (_, dropped) = self.entries.pop_front().expect("the newest entry fits on its own");
            self.chars -= dropped + 1;
        }
    }

    /// The kept entries joined with `\n` (no trailing newline).
    pub fn contents(&self) -> String {
        let mut out = String::with_capacity(self.chars);
        for (i, (entry, _)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(entry);
        }
        out
    }

    /// Length of [`contents`](Self::contents) in characters.
    pub fn len_chars(&self) -> usize {
        self.chars
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
