//! YAML (and JSON) text to a small, bounded document tree.
//!
//! The tree is built from `saphyr-parser` events rather than with saphyr's own
//! loader so that ferry controls every limit: nesting depth and node count are
//! checked *before* anything is built, which keeps every later walk (including
//! `Drop` and `Clone`) shallow; anchors are expanded against the same budget;
//! every node keeps its line; and scalars keep their raw text next to their
//! core-schema reading, which the appspec and buildspec rules need
//! (`mode: 0644` is the text `0644`, not the integer 644; a quoted `"0.0"` is
//! a string; `version: 0.2` is the text `0.2`).
//!
//! Shared by `ferry-appspec` and `ferry-buildspec`: each walks the tree with
//! its own rules and messages; this crate knows neither file.

use std::collections::{HashMap, HashSet};

use saphyr::Scalar;
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};

/// Deepest nesting of lists and mappings accepted. Real appspecs and buildspecs need about 8.
pub const MAX_DEPTH: usize = 32;
/// Most nodes a document may hold, counting every copy made by an alias.
pub const MAX_NODES: usize = 250_000;

/// One node of the document, with the 1-based line it starts on.
#[derive(Debug, Clone)]
pub struct Node {
    pub line: usize,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub enum Value {
    Scalar(ScalarNode),
    Seq(Vec<Node>),
    /// Entries in file order; keys are unique.
    Map(Vec<(Key, Node)>),
}

/// A mapping key: always a scalar, kept as its text.
#[derive(Debug, Clone)]
pub struct Key {
    pub text: String,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct ScalarNode {
    /// The scalar's content as written (escapes and folding applied, no quotes).
    pub text: String,
    /// What the YAML 1.2 core schema makes of it.
    pub resolved: Resolved,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str,
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s) if s.resolved == Resolved::Null)
    }
}

/// A document problem, before the file name is attached.
#[derive(Debug)]
pub struct LoadError {
    /// Dotted path of the node where the problem was found (may be empty);
    /// relative to the node being built until `Builder::on_event` returns.
    pub key: String,
    pub message: String,
    pub line: Option<usize>,
}

impl LoadError {
    fn at(line: usize, message: impl Into<String>) -> Self {
        Self { key: String::new(), message: message.into(), line: Some(line) }
    }
}

impl From<ScanError> for LoadError {
    fn from(e: ScanError) -> Self {
        let m = e.marker();
        Self {
            key: String::new(),
            message: format!("invalid YAML: {} at column {}", e.info(), m.col() + 1),
            line: Some(m.line()),
        }
    }
}

/// Parses `text` and returns its first document, or `None` when the stream
/// holds no document at all (empty text, only comments).
pub fn load(text: &str) -> Result<Option<Node>, LoadError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        let (event, span) = event?;
        if builder.on_event(event, span)? {
            break;
        }
    }
    Ok(builder.docs.into_iter().next())
}

enum Frame {
    Seq {
        line: usize,
        anchor: usize,
        items: Vec<Node>,
        height: usize,
    },
    Map {
        line: usize,
        anchor: usize,
        entries: Vec<(Key, Node)>,
        /// Key text to the line it was first given on.
        seen: HashMap<String, usize>,
        pending_key: Option<Key>,
        merges: Vec<Node>,
        height: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    /// Anchor id to (node, height, node count).
    anchors: HashMap<usize, (Node, usize, usize)>,
    nodes: usize,
}

impl Builder {
    /// Handles one event; returns `true` when the stream is finished.
    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<bool, LoadError> {
        self.on_event_inner(event, span).map_err(|mut e| {
            let path = self.path();
            e.key = match (path.is_empty(), e.key.is_empty()) {
                (_, true) => path,
                (true, false) => e.key,
                (false, false) => format!("{path}.{}", e.key),
            };
            e
        })
    }

    /// The dotted path of the node being built (`hooks.AfterInstall[0]`).
    fn path(&self) -> String {
        let mut path = String::new();
        for frame in &self.stack {
            match frame {
                Frame::Seq { items, .. } => path.push_str(&format!("[{}]", items.len())),
                Frame::Map { pending_key: Some(key), .. } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&key.text);
                }
                Frame::Map { pending_key: None, .. } => break,
            }
        }
        path
    }

    fn on_event_inner(&mut self, event: Event<'_>, span: Span) -> Result<bool, LoadError> {
        let line = span.start.line();
        match event {
            Event::StreamEnd => return Ok(true),
            Event::Nothing | Event::StreamStart | Event::DocumentStart(_) | Event::DocumentEnd => {}
            Event::Alias(id) => {
                let Some(&(_, height, count)) = self.anchors.get(&id) else {
                    return Err(LoadError::at(line, "invalid YAML: alias to an unknown anchor"));
                };
                if self.stack.len() + height > MAX_DEPTH {
                    return Err(LoadError::at(line, format!("the document nests deeper than {MAX_DEPTH} levels")));
                }
                self.count(count, line)?;
                let Some((node, _, _)) = self.anchors.get(&id) else {
                    return Err(LoadError::at(line, "invalid YAML: alias to an unknown anchor"));
                };
                let mut node = node.clone();
                node.line = line;
                self.add(node, height, 0)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, line)?;
                let scalar = scalar(text.into_owned(), style, tag.as_deref(), line)?;
                self.add(Node { line, value: Value::Scalar(scalar) }, 0, anchor)?;
            }
            Event::SequenceStart(anchor, tag) => {
                self.open(line, tag.as_deref())?;
                self.stack.push(Frame::Seq { line, anchor, items: Vec::new(), height: 0 });
            }
            Event::MappingStart(anchor, tag) => {
                self.open(line, tag.as_deref())?;
                self.stack.push(Frame::Map {
                    line,
                    anchor,
                    entries: Vec::new(),
                    seen: HashMap::new(),
                    pending_key: None,
                    merges: Vec::new(),
                    height: 0,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err(LoadError::at(line, "invalid YAML: unbalanced end of collection"));
                };
                let (node, height, anchor) = match frame {
                    Frame::Seq { line, anchor, items, height } => {
                        (Node { line, value: Value::Seq(items) }, height, anchor)
                    }
                    Frame::Map { line, anchor, entries, pending_key, merges, height, .. } => {
                        if let Some(key) = pending_key {
                            return Err(LoadError::at(key.line, "invalid YAML: mapping key without a value"));
                        }
                        let entries = merge(entries, merges)?;
                        (Node { line, value: Value::Map(entries) }, height, anchor)
                    }
                };
                self.add(node, height + 1, anchor)?;
            }
        }
        Ok(false)
    }

    /// Checks the limits before a list or mapping is opened.
    fn open(&mut self, line: usize, tag: Option<&Tag>) -> Result<(), LoadError> {
        if let Some(tag) = tag
            && !tag.is_yaml_core_schema()
        {
            return Err(LoadError::at(line, format!("unsupported YAML tag {tag}")));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(LoadError::at(line, format!("the document nests deeper than {MAX_DEPTH} levels")));
        }
        self.count(1, line)
    }

    fn count(&mut self, n: usize, line: usize) -> Result<(), LoadError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(LoadError::at(
                line,
                format!("the document has more than {MAX_NODES} values (aliases included)"),
            ));
        }
        Ok(())
    }

    /// Adds a finished node (of the given height) to its parent, or as a document.
    fn add(&mut self, node: Node, height: usize, anchor: usize) -> Result<(), LoadError> {
        if anchor > 0 {
            // The copy kept for aliases counts against the budget too, so
            // nested anchors cannot multiply the work.
            let count = node_count(&node);
            self.count(count, node.line)?;
            self.anchors.insert(anchor, (node.clone(), height, count));
        }
        match self.stack.last_mut() {
            None => {
                if !self.docs.is_empty() && !node.is_null() {
                    return Err(LoadError::at(
                        node.line,
                        "a second YAML document starts here; the file must hold exactly one document",
                    ));
                }
                self.docs.push(node);
            }
            Some(Frame::Seq { items, height: h, .. }) => {
                *h = (*h).max(height);
                items.push(node);
            }
            Some(Frame::Map { entries, seen, pending_key, merges, height: h, .. }) => {
                *h = (*h).max(height);
                match pending_key.take() {
                    None => {
                        let Value::Scalar(s) = node.value else {
                            return Err(LoadError::at(
                                node.line,
                                "a list or mapping used as a mapping key; keys must be plain names",
                            ));
                        };
                        *pending_key = Some(Key { text: s.text, line: node.line });
                    }
                    Some(key) if key.text == "<<" => merges.push(node),
                    Some(key) => {
                        if let Some(first) = seen.get(&key.text) {
                            let message = format!("duplicate key `{}`, first given on line {first}", key.text);
                            let mut e = LoadError::at(key.line, message);
                            e.key = key.text.clone();
                            return Err(e);
                        }
                        seen.insert(key.text.clone(), key.line);
                        entries.push((key, node));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Applies YAML merge keys (`<<: *defaults`): keys written in the mapping win,
/// then the merged mappings in order.
fn merge(mut entries: Vec<(Key, Node)>, merges: Vec<Node>) -> Result<Vec<(Key, Node)>, LoadError> {
    if merges.is_empty() {
        return Ok(entries);
    }
    let mut present: HashSet<String> = entries.iter().map(|(k, _)| k.text.clone()).collect();
    for source in merges {
        let line = source.line;
        let maps = match source.value {
            Value::Map(m) => vec![m],
            Value::Seq(items) => {
                let mut maps = Vec::with_capacity(items.len());
                for item in items {
                    match item.value {
                        Value::Map(m) => maps.push(m),
                        _ => {
                            return Err(LoadError::at(
                                item.line,
                                "a merge key (<<) takes a mapping or a list of mappings",
                            ));
                        }
                    }
                }
                maps
            }
            Value::Scalar(_) => {
                return Err(LoadError::at(line, "a merge key (<<) takes a mapping or a list of mappings"));
            }
        };
        for map in maps {
            for (key, value) in map {
                if present.insert(key.text.clone()) {
                    entries.push((key, value));
                }
            }
        }
    }
    Ok(entries)
}

fn node_count(node: &Node) -> usize {
    match &node.value {
        Value::Scalar(_) => 1,
        Value::Seq(items) => 1 + items.iter().map(node_count).sum::<usize>(),
        Value::Map(entries) => 1 + entries.iter().map(|(_, v)| 1 + node_count(v)).sum::<usize>(),
    }
}

fn scalar(text: String, style: ScalarStyle, tag: Option<&Tag>, line: usize) -> Result<ScalarNode, LoadError> {
    if let Some(tag) = tag
        && !tag.is_yaml_core_schema()
    {
        return Err(LoadError::at(line, format!("unsupported YAML tag {tag}")));
    }
    let tag = tag.map(|t| std::borrow::Cow::Owned(t.clone()));
    let resolved = match Scalar::parse_from_cow_and_metadata(text.as_str().into(), style, tag.as_ref()) {
        None => {
            let tag = tag.map(|t| t.to_string()).unwrap_or_default();
            return Err(LoadError::at(line, format!("the value {text:?} does not fit its tag {tag}")));
        }
        Some(Scalar::Null) => Resolved::Null,
        Some(Scalar::Boolean(b)) => Resolved::Bool(b),
        Some(Scalar::Integer(i)) => Resolved::Int(i),
        Some(Scalar::FloatingPoint(f)) => Resolved::Float(f.0),
        Some(Scalar::String(_)) => Resolved::Str,
    };
    Ok(ScalarNode { text, resolved })
}

/// Helpers for walking a tree with messages that name what was found:
/// key paths, short renderings of values and "did you mean" hints.
pub mod words {
    use super::{Node, Resolved, Value};

    /// `text` cut to at most `max` characters, marked with `…` when cut.
    pub fn truncate(text: &str, max: usize) -> String {
        match text.char_indices().nth(max) {
            None => text.to_owned(),
            Some((end, _)) => format!("{}…", &text[..end]),
        }
    }

    /// `parent.name`, or `name` at the top level.
    pub fn child(parent: &str, name: &str) -> String {
        if parent.is_empty() { name.to_owned() } else { format!("{parent}.{name}") }
    }

    /// `parent[i]`.
    pub fn index(parent: &str, i: usize) -> String {
        format!("{parent}[{i}]")
    }

    /// A short rendering of what was found, for "got ..." messages.
    pub fn describe(node: &Node) -> String {
        match &node.value {
            Value::Seq(_) => "a list".to_owned(),
            Value::Map(_) => "a mapping".to_owned(),
            Value::Scalar(s) if s.resolved == Resolved::Null && s.text.is_empty() => "nothing".to_owned(),
            Value::Scalar(s) => {
                let text = truncate(&s.text, 60);
                if s.resolved == Resolved::Str { format!("{text:?}") } else { text }
            }
        }
    }

    /// A known key close to `key`: the same name in another case or with
    /// `_` for `-`, or one typo away (two for keys longer than 4
    /// characters; none for very long keys).
    pub fn suggestion<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
        let norm = |s: &str| s.to_ascii_lowercase().replace('_', "-");
        let wanted = norm(key);
        known.iter().copied().find(|k| norm(k) == wanted).or_else(|| {
            let max = if key.chars().count() <= 4 { 1 } else { 2 };
            known.iter().copied().find(|k| key.len() < 64 && edit_distance(&wanted, &norm(k)) <= max)
        })
    }

    /// Edit distance counting an insertion, deletion, substitution or swap
    /// of two neighbouring characters as one edit (optimal string alignment).
    pub fn edit_distance(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        // d[i][j]: distance between a[..i] and b[..j].
        let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for (i, row) in d.iter_mut().enumerate() {
            row[0] = i;
        }
        for (j, cell) in d[0].iter_mut().enumerate() {
            *cell = j;
        }
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[i - 2][j - 2] + 1);
                }
                d[i][j] = best;
            }
        }
        d[a.len()][b.len()]
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn suggestions() {
            let known = ["files", "hooks", "file-exists-behavior", "AfterInstall"];
            assert_eq!(suggestion("fiels", &known), Some("files"));
            assert_eq!(suggestion("file_exists_behavior", &known), Some("file-exists-behavior"));
            assert_eq!(suggestion("afterinstal", &known), Some("AfterInstall"));
            assert_eq!(suggestion("zz", &known), None);
            assert_eq!(edit_distance("ab", "ba"), 1);
            assert_eq!(truncate("abcdef", 3), "abc…");
            assert_eq!((child("", "a"), child("a", "b"), index("a.b", 2)), ("a".into(), "a.b".into(), "a.b[2]".into()));
        }
    }
}
