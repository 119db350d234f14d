//! Text to model: YAML/JSON parsing, platform detection and every appspec rule.
//!
//! The text is first loaded into a small bounded tree ([`yaml`]), then walked
//! by the platform validators ([`server`], [`cloud`]). Every error names the
//! file, the dotted key path, what was expected and what was found, and the
//! line when the tree knows it.

mod cloud;
mod server;
#[cfg(test)]
mod tests;
pub(crate) use ferry_yaml as yaml;

use crate::{AppSpec, AppSpecError, ServerAppSpec};
pub(crate) use yaml::words::suggestion;
use yaml::words::{child, describe, index, truncate};
use yaml::{Key, Node, Resolved, Value};

/// Largest appspec file accepted, in bytes (1 MiB). Real appspecs are a few KiB.
pub const MAX_APPSPEC_BYTES: usize = 1 << 20;

/// Parses any appspec (YAML or JSON), detecting the platform from its keys:
/// a top-level `Resources` makes it a Lambda or ECS appspec (by the resource's
/// `Type`), anything else is a Server appspec.
///
/// Deliberate divergences from CodeDeploy's agent. ferry accepts a superset of
/// the valid spellings, and rejects what CodeDeploy would accept but then
/// silently ignore or mishandle:
/// - `version` may be the number `0.0` (or `0`) *or* the string `"0.0"`;
///   CodeDeploy's agent rejects the quoted form.
/// - `mode: 0644` means 0o644. CodeDeploy's YAML 1.1 parser reads an unquoted
///   `0644` as the octal number 420 and applies mode 0420.
/// - Unknown keys are errors at every level (CodeDeploy ignores them below the
///   top level, so a typo such as `runAs:` silently does nothing there), and
///   so are duplicate keys and a second YAML document.
/// - `files[].destination` and `permissions[].object` must be absolute
///   (CodeDeploy resolves relative ones against its working directory);
///   `files[].source` and `hooks.*[].location` may not climb out of the
///   revision with `..`.
/// - A hook `timeout` must be a whole number of seconds from 1 to 172800
///   (48 hours); CodeDeploy truncates `"300s"` to 300 and sets no upper bound.
///   `sudo` must be a boolean (CodeDeploy treats the string `"false"` as true).
/// - Scripts on `DownloadBundle`, `Install`, `BlockTraffic` and `AllowTraffic`
///   are rejected; permission `pattern`/`except` globs may not contain `/`
///   (CodeDeploy accepts both and never uses them).
pub fn parse(file: &str, text: &str) -> Result<AppSpec, AppSpecError> {
    parse_with(file, text, false, &[])
}

/// Parses a Server-platform appspec for a Linux host: as [`parse`], but a
/// Lambda or ECS appspec and `os: windows` are errors.
///
/// A hook on anything but a Server lifecycle event
/// ([`SERVER_LIFECYCLE_EVENTS`](crate::SERVER_LIFECYCLE_EVENTS)) is an error,
/// with the event it probably meant (`AfterInstal` → `AfterInstall`): a
/// deployment through a server never runs such a hook, and CodeDeploy's agent
/// fails the deployment at Install when told every event (as
/// `codedeploy-local` does). This is the one rule `ferry push`, the server at
/// deployment creation, `ferry local` and the agent apply.
pub fn parse_server(file: &str, text: &str) -> Result<ServerAppSpec, AppSpecError> {
    parse_server_with_events(file, text, &[])
}

/// [`parse_server`] for the appspec of a revision an earlier deployment
/// installed, whose ApplicationStop or BlockTraffic hooks run now: hooks on
/// unknown events are left in (they never run), so a revision installed
/// before the rule above still stops cleanly.
pub fn parse_installed_server(file: &str, text: &str) -> Result<ServerAppSpec, AppSpecError> {
    match parse_with(file, text, true, &[ANY_EVENT.to_string()])? {
        AppSpec::Server(s) => Ok(s),
        other => Err(Ctx { file, custom_events: &[] }.err(
            "Resources",
            None,
            format!("expected a Server-platform appspec, got {}", platform_name(&other)),
        )),
    }
}

/// As a custom event: every hook name is allowed.
pub(crate) const ANY_EVENT: &str = "*";

/// [`parse_server`] for a deployment that also runs `custom_events` (as
/// `ferry local --events` may ask): hooks on them are allowed too.
pub fn parse_server_with_events(
    file: &str,
    text: &str,
    custom_events: &[String],
) -> Result<ServerAppSpec, AppSpecError> {
    match parse_with(file, text, true, custom_events)? {
        AppSpec::Server(s) => Ok(s),
        // parse_with reports other platforms itself when linux_only is set.
        other => Err(Ctx { file, custom_events }.err(
            "Resources",
            None,
            format!("expected a Server-platform appspec, got {}", platform_name(&other)),
        )),
    }
}

fn platform_name(spec: &AppSpec) -> &'static str {
    match spec {
        AppSpec::Server(_) => "a Server appspec",
        AppSpec::Lambda(_) => "a Lambda appspec",
        AppSpec::Ecs(_) => "an ECS appspec",
    }
}

fn parse_with(
    file: &str,
    text: &str,
    linux_server_only: bool,
    custom_events: &[String],
) -> Result<AppSpec, AppSpecError> {
    let ctx = Ctx { file, custom_events };
    if text.len() > MAX_APPSPEC_BYTES {
        return Err(ctx.err(
            "",
            None,
            format!(
                "the file is {} bytes; ferry accepts appspec files up to {MAX_APPSPEC_BYTES} bytes (1 MiB)",
                text.len()
            ),
        ));
    }
    let root = match yaml::load(text) {
        Ok(Some(root)) if !root.is_null() => root,
        Ok(_) => return Err(ctx.err("", None, "the application specification file is empty")),
        Err(e) => return Err(ctx.err(&e.key, e.line, e.message)),
    };
    let fields = Fields::of(&ctx, "", &root, "a mapping of appspec keys (version, os, files, hooks, ...)")?;
    if let Some((key, resources)) = fields.entry("Resources") {
        if linux_server_only {
            return Err(ctx.err(
                "Resources",
                Some(key.line),
                "expected a Server-platform appspec (os, files, hooks); `Resources` makes this a Lambda or ECS appspec",
            ));
        }
        return cloud::parse(&ctx, &fields, resources);
    }
    server::parse(&ctx, &fields, linux_server_only).map(AppSpec::Server)
}

/// Where CodeDeploy's own agent would refuse an appspec that ferry accepts,
/// one message each (empty for an appspec that is not valid anyway): for
/// `ferry local`, which people use to try appspecs meant for CodeDeploy.
pub fn codedeploy_warnings(file: &str, text: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    let Ok(Some(root)) = yaml::load(text) else { return warnings };
    let ctx = Ctx { file, custom_events: &[] };
    let Ok(fields) = Fields::of(&ctx, "", &root, "a mapping") else { return warnings };
    if let Some(node) = fields.get("version")
        && let Value::Scalar(s) = &node.value
        && matches!(s.resolved, Resolved::Str)
    {
        let line = node.line;
        warnings.push(format!(
            "{file}: version: the string {:?} (line {line}) is accepted by ferry, but CodeDeploy's agent compares the version with the number 0.0 and refuses a string: write `version: 0.0` without quotes",
            s.text
        ));
    }
    warnings
}

/// The `version` rule, shared by all platforms.
///
/// Divergence: CodeDeploy accepts only the YAML number 0.0 (`[0.0].include?`),
/// so a quoted `"0.0"` fails there. ferry also accepts the string `"0.0"`.
fn check_version(ctx: &Ctx<'_>, fields: &Fields<'_>) -> Result<(), AppSpecError> {
    const EXPECTED: &str = "0.0 (the only appspec version)";
    let node = fields.require(ctx, "version", EXPECTED)?;
    let ok = match &node.value {
        Value::Scalar(s) => match s.resolved {
            Resolved::Float(f) => f == 0.0,
            Resolved::Int(i) => i == 0,
            Resolved::Str => s.text.trim() == "0.0",
            Resolved::Null | Resolved::Bool(_) => false,
        },
        _ => false,
    };
    if ok { Ok(()) } else { Err(ctx.expected("version", node, EXPECTED)) }
}

/// Attaches the file name to errors; carries the custom lifecycle events
/// hooks may name besides the standard ones.
pub(crate) struct Ctx<'a> {
    file: &'a str,
    custom_events: &'a [String],
}

impl Ctx<'_> {
    fn err(&self, key: &str, line: Option<usize>, message: impl Into<String>) -> AppSpecError {
        // Keys and messages quote the document; keep them readable whatever it holds.
        let mut message = truncate(&message.into(), 1000);
        if let Some(line) = line {
            message.push_str(&format!(" (line {line})"));
        }
        AppSpecError { file: self.file.to_owned(), key: truncate(key, 200), message }
    }

    /// An error about `node`, at its line.
    fn at(&self, key: &str, node: &Node, message: impl Into<String>) -> AppSpecError {
        self.err(key, Some(node.line), message)
    }

    /// "expected X, got Y", at `node`'s line.
    fn expected(&self, key: &str, node: &Node, expected: &str) -> AppSpecError {
        self.at(key, node, format!("expected {expected}, got {}", describe(node)))
    }
}

/// A mapping being validated, with its key path.
pub(crate) struct Fields<'n> {
    path: String,
    line: usize,
    entries: &'n [(Key, Node)],
}

impl<'n> Fields<'n> {
    /// `node` as a mapping, or an "expected {expected}" error.
    fn of(ctx: &Ctx<'_>, path: &str, node: &'n Node, expected: &str) -> Result<Self, AppSpecError> {
        match &node.value {
            Value::Map(entries) => Ok(Self { path: path.to_owned(), line: node.line, entries }),
            _ => Err(ctx.expected(path, node, expected)),
        }
    }

    fn path_of(&self, name: &str) -> String {
        child(&self.path, name)
    }

    /// Rejects keys outside `known`, naming the key and listing the known ones.
    fn check_known(&self, ctx: &Ctx<'_>, known: &[&str]) -> Result<(), AppSpecError> {
        for (key, _) in self.entries {
            if known.contains(&key.text.as_str()) {
                continue;
            }
            let hint = suggestion(&key.text, known).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
            let what = if self.path.is_empty() { "top-level key".to_owned() } else { "key".to_owned() };
            return Err(ctx.err(
                &self.path_of(&key.text),
                Some(key.line),
                format!("unknown {what} `{}`{hint}; expected one of: {}", key.text, known.join(", ")),
            ));
        }
        Ok(())
    }

    /// The key and value of `name`, even if the value is null.
    fn entry(&self, name: &str) -> Option<(&'n Key, &'n Node)> {
        self.entries.iter().find(|(k, _)| k.text == name).map(|(k, v)| (k, v))
    }

    /// The value of `name`; a null value counts as absent.
    fn get(&self, name: &str) -> Option<&'n Node> {
        self.entry(name).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    /// The value of `name`, or a "missing" error saying what was expected.
    fn require(&self, ctx: &Ctx<'_>, name: &str, expected: &str) -> Result<&'n Node, AppSpecError> {
        match self.entry(name) {
            Some((_, v)) if !v.is_null() => Ok(v),
            Some((k, v)) => {
                Err(ctx.err(&self.path_of(name), Some(k.line), format!("expected {expected}, got {}", describe(v))))
            }
            None => Err(ctx.err(
                &self.path_of(name),
                Some(self.line),
                format!("missing required key `{name}`; expected {expected}"),
            )),
        }
    }

    /// The optional string `name` (whitespace kept), non-empty.
    fn opt_string(&self, ctx: &Ctx<'_>, name: &str, expected: &str) -> Result<Option<String>, AppSpecError> {
        self.get(name).map(|n| string(ctx, &self.path_of(name), n, expected)).transpose()
    }

    /// The required string `name`, non-empty.
    fn req_string(&self, ctx: &Ctx<'_>, name: &str, expected: &str) -> Result<String, AppSpecError> {
        let node = self.require(ctx, name, expected)?;
        string(ctx, &self.path_of(name), node, expected)
    }
}

/// `node` as a list, or an "expected {expected}" error.
fn list<'n>(ctx: &Ctx<'_>, path: &str, node: &'n Node, expected: &str) -> Result<&'n [Node], AppSpecError> {
    match &node.value {
        Value::Seq(items) => Ok(items),
        _ => Err(ctx.expected(path, node, expected)),
    }
}

/// A scalar's text, for keys that take a name or a path. Numbers are taken as
/// written (`owner: 1000`); booleans, nulls, lists and mappings are errors, and
/// so is text that is empty after trimming.
fn string(ctx: &Ctx<'_>, path: &str, node: &Node, expected: &str) -> Result<String, AppSpecError> {
    match &node.value {
        Value::Scalar(s) if matches!(s.resolved, Resolved::Str | Resolved::Int(_) | Resolved::Float(_)) => {
            if s.text.trim().is_empty() {
                Err(ctx.expected(path, node, expected))
            } else if s.text.contains('\0') {
                Err(ctx.at(path, node, format!("expected {expected}, got text containing a NUL character")))
            } else {
                Ok(s.text.clone())
            }
        }
        _ => Err(ctx.expected(path, node, expected)),
    }
}

/// A YAML boolean (`true`/`false`).
fn boolean(ctx: &Ctx<'_>, path: &str, node: &Node) -> Result<bool, AppSpecError> {
    match &node.value {
        Value::Scalar(s) => match s.resolved {
            Resolved::Bool(b) => Ok(b),
            _ => Err(ctx.expected(path, node, "true or false")),
        },
        _ => Err(ctx.expected(path, node, "true or false")),
    }
}

/// A whole number: a YAML integer, an integral float (`300.0`), or a string of
/// decimal digits (`"300"`). `None` for anything else.
fn whole_number(node: &Node) -> Option<i64> {
    let Value::Scalar(s) = &node.value else { return None };
    match s.resolved {
        Resolved::Int(i) => Some(i),
        Resolved::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
        Resolved::Str => {
            let t = s.text.trim();
            let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) { t.parse().ok() } else { None }
        }
        _ => None,
    }
}
