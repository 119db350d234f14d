//! Test report files to test cases (CodeBuild UG `test-report-file-format`,
//! the API's `TestCase`: `prefix`, `name`, `status`, `durationInNanoSeconds`,
//! `message`).
//!
//! Formats read: JUnit XML (`JUNITXML`, the default), TestNG XML
//! (`TESTNGXML`) and Cucumber JSON (`CUCUMBERJSON`). Statuses are CodeBuild's:
//! SUCCEEDED, FAILED, ERROR, SKIPPED, UNKNOWN.
//! - JUnit: every `<testcase>` under `<testsuites>`/`<testsuite>` (nested
//!   suites too); a `<failure>` child makes it FAILED, `<error>` ERROR,
//!   `<skipped>` SKIPPED; `time` is seconds (`1,234.5` accepted); the prefix
//!   is `classname`; the message is the child's `message` attribute, else its
//!   text.
//! - TestNG: every `<test-method>` that is not `is-config="true"`; `status`
//!   PASS/FAIL/SKIP; `duration-ms`; the prefix is the enclosing `<class name>`;
//!   the message is `<exception><message>`.
//! - Cucumber: every scenario (not backgrounds) of every feature; FAILED if a
//!   step or hook failed, SKIPPED if any was skipped, pending, undefined or
//!   ambiguous, else SUCCEEDED; the duration is the sum of the step durations
//!   (nanoseconds); the suite and prefix are the feature's name and `uri`.
//!
//! Bounds: a file is at most [`MAX_REPORT_BYTES`], holds at most
//! [`MAX_CASES`] cases and nests at most [`MAX_XML_DEPTH`] elements; messages
//! are cut to [`MAX_MESSAGE_CHARS`]. A malformed file is an error naming the
//! file, the line and what was expected.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::ReportFormat;

/// Largest report file read (32 MiB).
pub const MAX_REPORT_BYTES: u64 = 32 << 20;
/// Most test cases one file may hold.
pub const MAX_CASES: usize = 100_000;
/// Deepest XML element nesting accepted.
pub const MAX_XML_DEPTH: usize = 64;
/// Longest message kept, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// A test case's result (`TestCase.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CaseStatus {
    Succeeded,
    Failed,
    Error,
    Skipped,
    Unknown,
}

impl CaseStatus {
    pub fn name(self) -> &'static str {
        match self {
            CaseStatus::Succeeded => "SUCCEEDED",
            CaseStatus::Failed => "FAILED",
            CaseStatus::Error => "ERROR",
            CaseStatus::Skipped => "SKIPPED",
            CaseStatus::Unknown => "UNKNOWN",
        }
    }
}

/// One test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// The suite (JUnit `testsuite@name`, TestNG `suite@name`, Cucumber feature).
    pub suite: String,
    /// CodeBuild's `prefix`: the class (JUnit `classname`), or the feature's uri.
    pub prefix: String,
    pub name: String,
    pub status: CaseStatus,
    pub duration: Option<Duration>,
    pub message: Option<String>,
}

/// Counts over a set of test cases (`TestReportSummary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub total: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub error: usize,
    pub skipped: usize,
    pub unknown: usize,
    /// The sum of the known durations.
    pub duration: Duration,
}

impl Summary {
    pub fn of(cases: &[TestCase]) -> Self {
        let mut s = Summary { total: cases.len(), ..Summary::default() };
        for case in cases {
            match case.status {
                CaseStatus::Succeeded => s.succeeded += 1,
                CaseStatus::Failed => s.failed += 1,
                CaseStatus::Error => s.error += 1,
                CaseStatus::Skipped => s.skipped += 1,
                CaseStatus::Unknown => s.unknown += 1,
            }
            s.duration = s.duration.saturating_add(case.duration.unwrap_or_default());
        }
        s
    }

    /// Succeeded cases as a percentage of all cases (what CodeBuild's console
    /// shows as the pass rate); `None` without cases.
    pub fn pass_rate(&self) -> Option<f64> {
        (self.total > 0).then(|| self.succeeded as f64 * 100.0 / self.total as f64)
    }

    /// The report's status: FAILED when any case failed or errored.
    pub fn succeeded(&self) -> bool {
        self.failed == 0 && self.error == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("{file}: the report is {size} bytes; ferry reads report files up to {MAX_REPORT_BYTES} bytes")]
    TooLarge { file: String, size: u64 },
    #[error("{file}: {message}{}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Malformed { file: String, line: Option<usize>, message: String },
    #[error("{file}: ferry does not read {format} reports yet (it reads JUNITXML, TESTNGXML and CUCUMBERJSON)")]
    Unsupported { file: String, format: &'static str },
    #[error("{file}: {message}")]
    Io { file: String, message: String },
}

/// Reads and parses one report file, refusing files over [`MAX_REPORT_BYTES`].
pub fn read_report(path: &Path, format: ReportFormat) -> Result<Vec<TestCase>, ReportError> {
    let file = path.display().to_string();
    let io = |e: std::io::Error| ReportError::Io { file: file.clone(), message: e.to_string() };
    let handle = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    handle.take(MAX_REPORT_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_REPORT_BYTES {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(bytes.len() as u64);
        return Err(ReportError::TooLarge { file, size });
    }
    let text = String::from_utf8(bytes).map_err(|e| ReportError::Malformed {
        file: file.clone(),
        line: None,
        message: format!("the file is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
    })?;
    parse_report(&file, format, &text)
}

/// Parses report text of `format`; `file` names it in errors.
pub fn parse_report(file: &str, format: ReportFormat, text: &str) -> Result<Vec<TestCase>, ReportError> {
    if text.len() as u64 > MAX_REPORT_BYTES {
        return Err(ReportError::TooLarge { file: file.to_owned(), size: text.len() as u64 });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        ReportFormat::JunitXml => Xml::new(file, text).junit(),
        ReportFormat::TestNgXml => Xml::new(file, text).testng(),
        ReportFormat::CucumberJson => cucumber(file, text),
        other => Err(ReportError::Unsupported { file: file.to_owned(), format: other.name() }),
    }
}

// ---------------------------------------------------------------- XML

struct Xml<'a> {
    file: &'a str,
    text: &'a str,
    reader: Reader<&'a [u8]>,
    depth: usize,
}

/// What an XML walk saw: an element opened (with its attributes and whether it
/// is also closed at once), text, or an element closed.
enum Item {
    Open { name: String, attrs: HashMap<String, String>, empty: bool },
    Text(String),
    Close(String),
}

impl<'a> Xml<'a> {
    fn new(file: &'a str, text: &'a str) -> Self {
        Self { file, text, reader: Reader::from_str(text), depth: 0 }
    }

    fn line_at(&self, offset: u64) -> usize {
        let end = usize::try_from(offset).unwrap_or(usize::MAX).min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|b| **b == b'\n').count() + 1
    }

    fn malformed(&self, message: impl Into<String>) -> ReportError {
        ReportError::Malformed {
            file: self.file.to_owned(),
            line: Some(self.line_at(self.reader.buffer_position())),
            message: message.into(),
        }
    }

    /// The next item, `None` at the end of the document.
    fn next(&mut self) -> Result<Option<Item>, ReportError> {
        loop {
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(e) => {
                    let line = self.line_at(self.reader.error_position());
                    return Err(ReportError::Malformed {
                        file: self.file.to_owned(),
                        line: Some(line),
                        message: format!("invalid XML: {e}"),
                    });
                }
            };
            return Ok(Some(match event {
                Event::Eof => {
                    if self.depth > 0 {
                        return Err(self.malformed("invalid XML: the document ends inside an element"));
                    }
                    return Ok(None);
                }
                Event::Start(e) | Event::Empty(e) if self.depth >= MAX_XML_DEPTH => {
                    let _ = e;
                    return Err(self.malformed(format!("the XML nests deeper than {MAX_XML_DEPTH} elements")));
                }
                Event::Start(e) => {
                    self.depth += 1;
                    let (name, attrs) = self.element(&e)?;
                    Item::Open { name, attrs, empty: false }
                }
                Event::Empty(e) => {
                    let (name, attrs) = self.element(&e)?;
                    Item::Open { name, attrs, empty: true }
                }
                Event::End(e) => {
                    self.depth = self.depth.saturating_sub(1);
                    Item::Close(String::from_utf8_lossy(e.local_name().as_ref()).into_owned())
                }
                Event::Text(t) => {
                    let text = t.decode().map_err(|e| self.malformed(format!("invalid text: {e}")))?;
                    Item::Text(text.into_owned())
                }
                Event::CData(t) => Item::Text(String::from_utf8_lossy(&t.into_inner()).into_owned()),
                Event::GeneralRef(r) => {
                    let text: Cow<'_, str> = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string().into(),
                        Ok(None) => match r.decode().map_err(|e| self.malformed(e.to_string()))?.as_ref() {
                            "lt" => "<".into(),
                            "gt" => ">".into(),
                            "amp" => "&".into(),
                            "quot" => "\"".into(),
                            "apos" => "'".into(),
                            other => return Err(self.malformed(format!("unknown XML entity &{other};"))),
                        },
                        Err(e) => return Err(self.malformed(format!("invalid character reference: {e}"))),
                    };
                    Item::Text(text.into_owned())
                }
                Event::DocType(_) => return Err(self.malformed("a DOCTYPE is not accepted in a test report")),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) => continue,
            }));
        }
    }

    fn element(&self, e: &BytesStart<'_>) -> Result<(String, HashMap<String, String>), ReportError> {
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let mut attrs = HashMap::new();
        for attr in e.attributes() {
            let attr = attr.map_err(|err| self.malformed(format!("invalid attribute in <{name}>: {err}")))?;
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|err| self.malformed(format!("invalid attribute in <{name}>: {err}")))?;
            attrs.insert(String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned(), value.into_owned());
        }
        Ok((name, attrs))
    }

    /// The root element's name, after checking it is one of `roots`.
    fn root(&mut self, roots: &[&str], what: &str) -> Result<Option<Item>, ReportError> {
        loop {
            match self.next()? {
                None => return Err(self.malformed(format!("expected {what}, got an empty document"))),
                Some(Item::Text(t)) if t.trim().is_empty() => continue,
                Some(Item::Open { name, attrs, empty }) if roots.contains(&name.as_str()) => {
                    return Ok(Some(Item::Open { name, attrs, empty }));
                }
                Some(Item::Open { name, .. }) => return Err(self.malformed(format!("expected {what}, got <{name}>"))),
                Some(_) => return Err(self.malformed(format!("expected {what}, got text before the root element"))),
            }
        }
    }

    fn junit(mut self) -> Result<Vec<TestCase>, ReportError> {
        let root = self.root(&["testsuites", "testsuite"], "a JUnit XML report (<testsuites> or <testsuite>)")?;
        let mut suites: Vec<String> = Vec::new();
        let mut cases = Vec::new();
        let mut current: Option<TestCase> = None;
        // Inside a <failure>/<error>/<skipped> without a message attribute: collect its text.
        let mut collecting: Option<String> = None;
        let mut item = root;
        while let Some(it) = item.take().map_or_else(|| self.next(), |i| Ok(Some(i)))? {
            match it {
                Item::Open { name, attrs, empty } => match name.as_str() {
                    "testsuite" | "testsuites" if current.is_none() && !empty => {
                        let parent = suites.last().cloned().unwrap_or_default();
                        suites.push(attrs.get("name").cloned().unwrap_or(parent));
                    }
                    "testcase" if current.is_none() => {
                        let case = TestCase {
                            suite: suites.last().cloned().unwrap_or_default(),
                            prefix: attrs.get("classname").cloned().unwrap_or_default(),
                            name: attrs.get("name").cloned().unwrap_or_default(),
                            status: CaseStatus::Succeeded,
                            duration: attrs.get("time").and_then(|t| seconds(t)),
                            message: None,
                        };
                        if empty {
                            push(&mut cases, case, &self)?;
                        } else {
                            current = Some(case);
                        }
                    }
                    "failure" | "error" | "skipped" if current.is_some() => {
                        let Some(case) = current.as_mut() else { continue };
                        let status = match name.as_str() {
                            "failure" => CaseStatus::Failed,
                            "error" => CaseStatus::Error,
                            _ => CaseStatus::Skipped,
                        };
                        // A failure or error outweighs a skip.
                        if case.status == CaseStatus::Succeeded || status != CaseStatus::Skipped {
                            case.status = status;
                            case.message = attrs.get("message").map(|m| cut(m));
                            if case.message.is_none() && !empty {
                                collecting = Some(String::new());
                            }
                        }
                    }
                    _ => {}
                },
                Item::Text(text) => {
                    if let Some(buf) = collecting.as_mut()
                        && buf.len() < MAX_MESSAGE_CHARS * 4
                    {
                        buf.push_str(&text);
                    }
                }
                Item::Close(name) => match name.as_str() {
                    "testsuite" | "testsuites" if current.is_none() => {
                        suites.pop();
                    }
                    "testcase" => {
                        if let Some(case) = current.take() {
                            push(&mut cases, case, &self)?;
                        }
                    }
                    "failure" | "error" | "skipped" => {
                        if let (Some(buf), Some(case)) = (collecting.take(), current.as_mut()) {
                            let text = buf.trim();
                            case.message = (!text.is_empty()).then(|| cut(text));
                        }
                    }
                    _ => {}
                },
            }
        }
        Ok(cases)
    }

    fn testng(mut self) -> Result<Vec<TestCase>, ReportError> {
        let mut item = self.root(&["testng-results"], "a TestNG XML report (<testng-results>)")?;
        let mut suite = String::new();
        let mut class = String::new();
        let mut cases = Vec::new();
        let mut current: Option<TestCase> = None;
        let mut in_message: Option<String> = None;
        while let Some(it) = item.take().map_or_else(|| self.next(), |i| Ok(Some(i)))? {
            match it {
                Item::Open { name, attrs, empty } => match name.as_str() {
                    "suite" => suite = attrs.get("name").cloned().unwrap_or_default(),
                    "class" => class = attrs.get("name").cloned().unwrap_or_default(),
                    "test-method" if current.is_none() => {
                        if attrs.get("is-config").is_some_and(|v| v == "true") {
                            if !empty {
                                // Skipped whole: read to its end.
                                self.skip_to_end("test-method")?;
                            }
                            continue;
                        }
                        let status = match attrs.get("status").map(String::as_str) {
                            Some("PASS") => CaseStatus::Succeeded,
                            Some("FAIL") => CaseStatus::Failed,
                            Some("SKIP") => CaseStatus::Skipped,
                            _ => CaseStatus::Unknown,
                        };
                        let case = TestCase {
                            suite: suite.clone(),
                            prefix: class.clone(),
                            name: attrs.get("name").cloned().unwrap_or_default(),
                            status,
                            duration: attrs
                                .get("duration-ms")
                                .and_then(|d| d.trim().parse::<u64>().ok())
                                .map(Duration::from_millis),
                            message: None,
                        };
                        if empty {
                            push(&mut cases, case, &self)?;
                        } else {
                            current = Some(case);
                        }
                    }
                    "message" if current.is_some() && !empty => in_message = Some(String::new()),
                    _ => {}
                },
                Item::Text(text) => {
                    if let Some(buf) = in_message.as_mut()
                        && buf.len() < MAX_MESSAGE_CHARS * 4
                    {
                        buf.push_str(&text);
                    }
                }
                Item::Close(name) => match name.as_str() {
                    "message" => {
                        if let (Some(buf), Some(case)) = (in_message.take(), current.as_mut()) {
                            let text = buf.trim();
                            if case.message.is_none() && !text.is_empty() {
                                case.message = Some(cut(text));
                            }
                        }
                    }
                    "test-method" => {
                        if let Some(case) = current.take() {
                            push(&mut cases, case, &self)?;
                        }
                    }
                    _ => {}
                },
            }
        }
        Ok(cases)
    }

    fn skip_to_end(&mut self, element: &str) -> Result<(), ReportError> {
        let mut depth = 1usize;
        while depth > 0 {
            match self.next()? {
                None => return Err(self.malformed(format!("invalid XML: <{element}> is not closed"))),
                Some(Item::Open { empty: false, .. }) => depth += 1,
                Some(Item::Close(_)) => depth -= 1,
                Some(_) => {}
            }
        }
        Ok(())
    }
}

fn push(cases: &mut Vec<TestCase>, case: TestCase, xml: &Xml<'_>) -> Result<(), ReportError> {
    if cases.len() >= MAX_CASES {
        return Err(xml.malformed(format!("more than {MAX_CASES} test cases in one file")));
    }
    cases.push(case);
    Ok(())
}

/// JUnit `time`: seconds, possibly with thousands separators (`1,234.5`).
fn seconds(text: &str) -> Option<Duration> {
    let cleaned: String = text.trim().chars().filter(|c| *c != ',').collect();
    let secs: f64 = cleaned.parse().ok()?;
    (0.0..1.0e12).contains(&secs).then(|| Duration::from_secs_f64(secs))
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

// ---------------------------------------------------------------- Cucumber JSON

fn cucumber(file: &str, text: &str) -> Result<Vec<TestCase>, ReportError> {
    use serde_json::Value;
    let malformed =
        |line: Option<usize>, message: String| ReportError::Malformed { file: file.to_owned(), line, message };
    // serde_json stops at 128 levels of nesting, so this cannot overflow the stack.
    let root: Value =
        serde_json::from_str(text).map_err(|e| malformed(Some(e.line()), format!("invalid JSON: {e}")))?;
    let Value::Array(features) = root else {
        return Err(malformed(None, "expected a Cucumber JSON report (a list of features)".to_owned()));
    };
    let mut cases = Vec::new();
    for (i, feature) in features.iter().enumerate() {
        let Some(feature) = feature.as_object() else {
            return Err(malformed(None, format!("feature [{i}]: expected an object")));
        };
        let suite = feature.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
        let prefix = feature.get("uri").and_then(Value::as_str).unwrap_or_default().to_owned();
        let elements = match feature.get("elements") {
            None | Some(Value::Null) => continue,
            Some(Value::Array(elements)) => elements,
            Some(_) => return Err(malformed(None, format!("feature [{i}].elements: expected a list"))),
        };
        for element in elements {
            if element.get("type").and_then(Value::as_str) == Some("background") {
                continue;
            }
            let mut status = CaseStatus::Succeeded;
            let mut nanos: u64 = 0;
            let mut message = None;
            let steps = ["before", "steps", "after"]
                .into_iter()
                .filter_map(|k| element.get(k).and_then(Value::as_array))
                .flatten();
            for step in steps {
                let Some(result) = step.get("result") else { continue };
                nanos = nanos.saturating_add(result.get("duration").and_then(Value::as_u64).unwrap_or(0));
                match result.get("status").and_then(Value::as_str).unwrap_or("") {
                    "passed" => {}
                    "failed" => {
                        if status != CaseStatus::Failed {
                            message = result.get("error_message").and_then(Value::as_str).map(cut);
                        }
                        status = CaseStatus::Failed;
                    }
                    "skipped" | "pending" | "undefined" | "ambiguous" if status == CaseStatus::Succeeded => {
                        status = CaseStatus::Skipped;
                    }
                    _ => {}
                }
            }
            if cases.len() >= MAX_CASES {
                return Err(malformed(None, format!("more than {MAX_CASES} test cases in one file")));
            }
            cases.push(TestCase {
                suite: suite.clone(),
                prefix: prefix.clone(),
                name: element.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                status,
                duration: Some(Duration::from_nanos(nanos)),
                message,
            });
        }
    }
    Ok(cases)
}

#[cfg(test)]
mod tests;
