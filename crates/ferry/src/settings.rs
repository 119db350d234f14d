//! Config files for the long-running commands (`ferry server`, `ferry agent`),
//! driven entirely by clap introspection: every visible long option of the
//! command is a setting, its key the long flag name (`data-dir`; `data_dir` is
//! accepted too), so a flag added to the command is a config key at once.
//!
//! - **Precedence**: command-line flag > environment variable > config file >
//!   built-in default. The file's values become the arguments' *defaults*
//!   ([`apply`]), so clap itself applies the first two rules; those that are
//!   not overridden are then given to clap as flags ([`parse`]), so its rules
//!   between arguments (`requires`, `conflicts_with`) hold for them too.
//! - **Validation** ([`load`]): every problem of a file is collected, each with
//!   its line: TOML syntax, unknown keys (with the nearest known key), wrong
//!   types, values the argument's own value parser refuses (clap's message),
//!   and paths that do not exist (for path-typed settings: a `DIR` may be
//!   created if its parent exists, any other path must exist).
//! - **Environment**: [`with_env`] gives every setting without an `env`
//!   attribute the variable `FERRY_<KEY>` (dashes as underscores, upper case),
//!   the convention the explicit ones follow.
//! - **Reference** ([`reference`]): a complete TOML file documenting every
//!   setting (help text, environment variable, default).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::ops::Range;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, ValueHint};
use toml::de::{DeTable, DeValue};

/// The id of the argument naming the config file (never a setting itself).
pub const CONFIG_ARG: &str = "config";
/// The id of `--check-config`.
pub const CHECK_ARG: &str = "check_config";

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the file, when the problem has one.
    pub line: Option<usize>,
    pub message: String,
}

/// A config file, read and checked against a command.
#[derive(Debug, Default)]
pub struct Loaded {
    pub path: PathBuf,
    /// Valid settings: argument id → its values as text (flags: `true`/`false`).
    pub values: Vec<(String, Vec<String>)>,
    /// Ids of every setting the file names, valid or not.
    pub named: Vec<String>,
    pub problems: Vec<Problem>,
    /// Worth saying but not wrong (a directory that will be created, a
    /// secret-bearing file others can read).
    pub notes: Vec<String>,
}

impl Loaded {
    /// `path:line: message`, one per problem, in line order.
    pub fn problem_lines(&self) -> Vec<String> {
        self.problems
            .iter()
            .map(|p| match p.line {
                Some(line) => format!("{}:{line}: {}", self.path.display(), p.message),
                None => format!("{}: {}", self.path.display(), p.message),
            })
            .collect()
    }
}

/// How a setting takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A switch (`--insecure-http`): a TOML boolean.
    Flag,
    /// A counted flag (`-vvv`): an integer.
    Count,
    One,
    /// Repeatable or multi-valued: an array (or one value).
    Many,
}

fn kind(arg: &Arg) -> Kind {
    match arg.get_action() {
        ArgAction::SetTrue | ArgAction::SetFalse => Kind::Flag,
        ArgAction::Count => Kind::Count,
        ArgAction::Append => Kind::Many,
        _ if arg.get_num_args().is_some_and(|n| n.max_values() > 1) => Kind::Many,
        _ => Kind::One,
    }
}

/// The settings of `cmd`: its visible long options but the config mechanism's own.
pub fn settings(cmd: &Command) -> Vec<&Arg> {
    cmd.get_arguments()
        .filter(|a| a.get_long().is_some() && !a.is_hide_set() && !a.is_positional())
        .filter(|a| !matches!(a.get_id().as_str(), CONFIG_ARG | CHECK_ARG | "help" | "version"))
        .collect()
}

fn key(arg: &Arg) -> &str {
    arg.get_long().unwrap_or_default()
}

/// `FERRY_<KEY>`: the environment variable of a setting that names none itself.
pub fn env_name(key: &str) -> String {
    format!("FERRY_{}", key.replace('-', "_").to_ascii_uppercase())
}

/// Gives every setting of `cmd` without an environment variable `FERRY_<KEY>`.
pub fn with_env(cmd: Command) -> Command {
    let missing: Vec<String> =
        settings(&cmd).into_iter().filter(|a| a.get_env().is_none()).map(|a| a.get_id().to_string()).collect();
    // `mut_args` keeps the arguments' order (`mut_arg` moves one to the end).
    cmd.mut_args(|a| {
        if missing.iter().any(|id| id == a.get_id().as_str()) {
            let env = env_name(key(&a));
            a.env(env)
        } else {
            a
        }
    })
}

/// Makes the file's valid values the defaults of their arguments (so flags
/// and environment variables still win), and every setting the file names no
/// longer required (so a missing value is reported once, as the file's problem).
pub fn apply(cmd: Command, loaded: &Loaded) -> Command {
    cmd.mut_args(|a| {
        let id = a.get_id().to_string();
        let a = if loaded.named.contains(&id) { a.required(false) } else { a };
        match loaded.values.iter().find(|(v, _)| *v == id) {
            Some((_, values)) => a.default_values(values.clone()),
            None => a,
        }
    })
}

/// Why [`parse`] failed.
#[derive(Debug)]
pub enum ParseError {
    /// As it would without the file (help and version requests among them).
    Plain(clap::Error),
    /// Only with the file's values as flags: a conflict or a requirement
    /// between settings (`requires`, `conflicts_with`).
    WithFile(clap::Error),
}

/// Parses `argv` with `root` (or its subcommand `service`) reading `loaded`.
///
/// Two passes: with the file's values as defaults, which tells for each
/// whether a flag or an environment variable overrides it; then with the
/// file's values that stand as explicit flags appended to `argv`, so that
/// clap's rules between arguments (`requires`, `conflicts_with`) hold for
/// settings as they do for flags.
pub fn parse(
    root: &Command,
    service: Option<&str>,
    loaded: &Loaded,
    argv: &[OsString],
) -> Result<ArgMatches, ParseError> {
    let applied = match service {
        Some(name) => root.clone().mut_subcommand(name, |c| apply(c, loaded)),
        None => apply(root.clone(), loaded),
    };
    let first = applied.try_get_matches_from(argv).map_err(ParseError::Plain)?;
    let (cmd, matches) = match service {
        Some(name) => match (root.find_subcommand(name), first.subcommand_matches(name)) {
            (Some(cmd), Some(matches)) => (cmd, matches),
            _ => return Ok(first),
        },
        None => (root, &first),
    };
    let cmd = built(cmd);
    let mut argv = argv.to_vec();
    for (id, values) in &loaded.values {
        if matches.value_source(id) != Some(ValueSource::DefaultValue) {
            continue;
        }
        let Some(arg) = cmd.get_arguments().find(|a| a.get_id() == id.as_str()) else { continue };
        let flag = format!("--{}", key(arg));
        match kind(arg) {
            Kind::Flag => {
                let default = arg.get_default_values().first().map(|d| d.to_string_lossy().into_owned());
                if default.as_deref() != values.first().map(String::as_str) {
                    argv.push(flag.into());
                }
            }
            Kind::Count => {
                let times: usize = values.first().and_then(|v| v.parse().ok()).unwrap_or(0);
                argv.extend(std::iter::repeat_n(OsString::from(&flag), times));
            }
            Kind::One | Kind::Many => argv.extend(values.iter().map(|v| OsString::from(format!("{flag}={v}")))),
        }
    }
    root.clone().try_get_matches_from(argv).map_err(ParseError::WithFile)
}

/// A built copy of `cmd`, so that actions, value counts and flag defaults are final.
fn built(cmd: &Command) -> Command {
    let mut cmd = cmd.clone();
    cmd.build();
    cmd
}

/// Reads and checks the config file `path` against `cmd`.
pub fn load(cmd: &Command, path: &Path) -> Loaded {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut loaded = load_str(cmd, &text, path);
            note_exposed_secrets(cmd, path, &mut loaded);
            loaded
        }
        Err(e) => Loaded {
            path: path.to_path_buf(),
            problems: vec![Problem { line: None, message: format!("cannot read the config file: {e}") }],
            ..Loaded::default()
        },
    }
}

/// Checks config file text (`path` names it in messages and notes). Relative
/// paths in it are taken from the working directory, as a flag's would be.
pub fn load_str(cmd: &Command, text: &str, path: &Path) -> Loaded {
    let cmd = built(cmd);
    let known = settings(&cmd);
    let mut loaded = Loaded { path: path.to_path_buf(), ..Loaded::default() };
    let (table, errors) = DeTable::parse_recoverable(text);
    for error in &errors {
        loaded.problems.push(Problem {
            line: error.span().map(|s| line_of(text, s.start)),
            message: format!("not valid TOML: {}", error.message()),
        });
    }
    // What the parser recovered on a line with a syntax error is not checked further.
    let broken: Vec<usize> = loaded.problems.iter().filter_map(|p| p.line).collect();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in table.get_ref() {
        let line = Some(line_of(text, name.span().start));
        let name = name.get_ref().as_ref();
        let arg = match lookup(&known, name) {
            Ok(arg) => arg,
            Err(mut message) => {
                if matches!(value.get_ref(), DeValue::Table(_)) {
                    message.push_str(" (settings are top-level keys, not tables)");
                }
                loaded.problems.push(Problem { line, message });
                continue;
            }
        };
        let id = arg.get_id().to_string();
        if let Some(first) = seen.insert(id.clone(), name.to_string()) {
            loaded.problems.push(Problem { line, message: format!("`{name}` is set twice (also as `{first}`)") });
            continue;
        }
        loaded.named.push(id.clone());
        if broken.contains(&line_of(text, value.span().start)) {
            continue;
        }
        let values = match to_texts(arg, value) {
            Ok(values) => values,
            Err(message) => {
                loaded.problems.push(Problem { line, message: format!("{name}: {message}") });
                continue;
            }
        };
        let mut ok = Vec::new();
        let mut valid = true;
        for (value, span) in values {
            let line = Some(line_of(text, span.start));
            if let Err(message) = check_value(&cmd, arg, &value) {
                loaded.problems.push(Problem { line, message: format!("{name}: {message}") });
                valid = false;
            } else if let Some(message) = check_path(arg, &value, &mut loaded.notes) {
                loaded.problems.push(Problem { line, message: format!("{name}: {message}") });
                valid = false;
            }
            ok.push(value);
        }
        if valid {
            loaded.values.push((id, ok));
        }
    }
    loaded.problems.sort_by_key(|p| p.line);
    loaded
}

/// Checks settings given as text (`ferry … install --set KEY=VALUE`): the
/// same lookup and value checks as a file's, without line numbers or paths.
pub fn check_texts(cmd: &Command, values: &[(String, Vec<String>)]) -> Vec<String> {
    let cmd = built(cmd);
    let known = settings(&cmd);
    let mut problems = Vec::new();
    for (name, texts) in values {
        let arg = match lookup(&known, name) {
            Ok(arg) => arg,
            Err(message) => {
                problems.push(message);
                continue;
            }
        };
        match kind(arg) {
            Kind::One | Kind::Count | Kind::Flag if texts.len() > 1 => {
                problems.push(format!("{name}: takes one value, given {}", texts.len()));
                continue;
            }
            _ => {}
        }
        for text in texts {
            let checked = match kind(arg) {
                Kind::Flag if text != "true" && text != "false" => {
                    Err(format!("expected true or false, found `{text}`"))
                }
                Kind::Flag => Ok(()),
                _ => check_value(&cmd, arg, text),
            };
            if let Err(message) = checked {
                problems.push(format!("{name}: {message}"));
            }
        }
    }
    problems
}

/// The canonical key (long flag name) of `name`, if it is a setting of `cmd`.
pub fn canonical_key(cmd: &Command, name: &str) -> Option<String> {
    let cmd = built(cmd);
    lookup(&settings(&cmd), name).ok().map(|a| key(a).to_string())
}

/// Whether the setting `name` of `cmd` is a path (relative ones are refused by `install`).
pub fn is_path(cmd: &Command, name: &str) -> bool {
    let cmd = built(cmd);
    lookup(&settings(&cmd), name).is_ok_and(|a| path_hint(a).is_some())
}

/// The built-in default of the setting `name` of `cmd`, as text.
pub fn default_of(cmd: &Command, name: &str) -> Vec<String> {
    let cmd = built(cmd);
    lookup(&settings(&cmd), name)
        .map(|a| a.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

fn lookup<'a>(known: &[&'a Arg], name: &str) -> Result<&'a Arg, String> {
    let wanted = name.replace('_', "-");
    if let Some(arg) = known.iter().find(|a| key(a) == wanted) {
        return Ok(arg);
    }
    let nearest = known
        .iter()
        .map(|a| (distance(&wanted, key(a)), key(a)))
        .filter(|(d, k)| *d <= 3.max(k.len() / 3) && *d < wanted.len().max(1))
        .min();
    Err(match nearest {
        Some((_, k)) => format!("unknown key `{name}`; did you mean `{k}`?"),
        None => format!("unknown key `{name}`"),
    })
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// The value(s) of a TOML entry as the text clap would get on a command line.
fn to_texts(arg: &Arg, value: &toml::Spanned<DeValue<'_>>) -> Result<Vec<(String, Range<usize>)>, String> {
    let kind = kind(arg);
    if kind == Kind::Flag {
        return match value.get_ref() {
            DeValue::Boolean(b) => Ok(vec![(b.to_string(), value.span())]),
            other => Err(format!("expected true or false, found {}", type_name(other))),
        };
    }
    match value.get_ref() {
        DeValue::Array(items) if kind == Kind::Many => {
            let mut texts = Vec::new();
            for item in items {
                texts.push((scalar(arg, item.get_ref())?, item.span()));
            }
            Ok(texts)
        }
        DeValue::Array(_) => Err("takes one value, found an array".into()),
        scalar_value => {
            let text = scalar(arg, scalar_value)?;
            // One string for a comma-separated setting (`listen = "a,b"`) means what the flag would.
            match (kind, arg.get_value_delimiter()) {
                (Kind::Many, Some(delimiter)) => {
                    Ok(text.split(delimiter).map(|part| (part.to_string(), value.span())).collect())
                }
                _ => Ok(vec![(text, value.span())]),
            }
        }
    }
}

fn scalar(arg: &Arg, value: &DeValue<'_>) -> Result<String, String> {
    match value {
        DeValue::String(s) => Ok(s.to_string()),
        DeValue::Integer(i) => i128::from_str_radix(&i.as_str().replace('_', ""), i.radix())
            .map(|n| n.to_string())
            .map_err(|_| format!("integer {i} is out of range")),
        DeValue::Float(f) => Ok(f.as_str().to_string()),
        DeValue::Boolean(b) if is_type::<bool>(arg) => Ok(b.to_string()),
        other => Err(format!("expected {}, found {}", expected(arg), type_name(other))),
    }
}

fn expected(arg: &Arg) -> &'static str {
    if is_number(arg) { "a number" } else { "a string" }
}

fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table (settings are top-level keys)",
    }
}

fn is_type<T: 'static>(arg: &Arg) -> bool {
    arg.get_value_parser().type_id() == std::any::TypeId::of::<T>()
}

fn is_number(arg: &Arg) -> bool {
    is_type::<u8>(arg)
        || is_type::<u16>(arg)
        || is_type::<u32>(arg)
        || is_type::<u64>(arg)
        || is_type::<usize>(arg)
        || is_type::<i8>(arg)
        || is_type::<i16>(arg)
        || is_type::<i32>(arg)
        || is_type::<i64>(arg)
        || is_type::<isize>(arg)
        || is_type::<f32>(arg)
        || is_type::<f64>(arg)
}

/// Runs `text` through the argument's own value parser; the error is clap's message.
fn check_value(cmd: &Command, arg: &Arg, text: &str) -> Result<(), String> {
    if kind(arg) == Kind::Flag {
        return Ok(());
    }
    let mut single = Arg::new(arg.get_id().clone())
        .long(key(arg).to_string())
        .value_parser(arg.get_value_parser().clone())
        .action(ArgAction::Set);
    if let Some(names) = arg.get_value_names() {
        single = single.value_names(names.to_vec());
    }
    Command::new(cmd.get_name().to_string())
        .no_binary_name(true)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(single)
        .try_get_matches_from([format!("--{}={text}", key(arg))])
        .map(|_| ())
        .map_err(|e| clap_message(&e))
}

/// A clap error's first paragraph on one line, without `error: `.
pub fn clap_message(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let paragraph: Vec<&str> = rendered.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
    let text = paragraph.join(" ");
    text.strip_prefix("error: ").unwrap_or(&text).to_string()
}

/// `Some(true)` for a directory setting, `Some(false)` for another path, `None` for no path.
fn path_hint(arg: &Arg) -> Option<bool> {
    let dir_name = arg.get_value_names().is_some_and(|names| names.iter().any(|n| n.as_str() == "DIR"));
    match arg.get_value_hint() {
        ValueHint::DirPath => Some(true),
        ValueHint::AnyPath | ValueHint::FilePath | ValueHint::ExecutablePath => Some(dir_name),
        _ => None,
    }
}

/// A problem with the path `value` of a path-typed setting, if any.
fn check_path(arg: &Arg, value: &str, notes: &mut Vec<String>) -> Option<String> {
    let dir = path_hint(arg)?;
    let path = Path::new(value);
    if dir {
        if path.is_dir() {
            return None;
        }
        if path.exists() {
            return Some(format!("{value} is not a directory"));
        }
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if parent.is_dir() {
            notes.push(format!("{}: {value} does not exist yet; it will be created", key(arg)));
            None
        } else {
            Some(format!("neither {value} nor its parent directory exists"))
        }
    } else if !path.exists() {
        Some(format!("{value} does not exist"))
    } else if arg.get_value_hint() == ValueHint::FilePath && path.is_dir() {
        Some(format!("{value} is a directory, not a file"))
    } else {
        None
    }
}

/// A note when the file sets a secret (a setting whose environment value
/// clap hides) and group or others may read it.
fn note_exposed_secrets(cmd: &Command, path: &Path, loaded: &mut Loaded) {
    let cmd = built(cmd);
    let secrets: Vec<&str> = settings(&cmd)
        .into_iter()
        .filter(|a| a.is_hide_env_values_set() && loaded.named.iter().any(|id| id == a.get_id().as_str()))
        .map(key)
        .collect();
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
    if !secrets.is_empty() && mode & 0o077 != 0 {
        loaded.notes.push(format!(
            "{} holds {} and is readable by other users (mode {mode:o}): chmod 600 it",
            path.display(),
            secrets.join(", ")
        ));
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

/// A complete config file for `cmd` (`ferry <name>`): a header, then every
/// setting with its help text, environment variable and default, commented
/// out, except those in `set` (key → values as text), which are written out.
pub fn reference(cmd: &Command, set: &BTreeMap<String, Vec<String>>) -> String {
    let cmd = built(cmd);
    let name = format!("ferry {}", cmd.get_name());
    let example = settings(&cmd).into_iter().map(key).find(|k| k.contains('-')).unwrap_or("key").to_string();
    let mut out = String::new();
    for line in [
        format!("# Settings of `{name}`: `{name} --config FILE` reads them."),
        "#".to_string(),
        format!("# Every key is the long name of a `{name}` flag (`{name} --help`),"),
        format!("# with dashes or underscores (`{example}` or `{}`). A flag on", example.replace('-', "_")),
        "# the command line wins over the setting's environment variable, which wins".to_string(),
        "# over this file, which wins over the built-in default (shown commented out).".to_string(),
        "#".to_string(),
        "# Check a file without starting anything:".to_string(),
        format!("#   {name} --config FILE --check-config"),
        format!("# This reference is printed by `{name} print-config`."),
    ] {
        out.push_str(&line);
        out.push('\n');
    }
    for arg in settings(&cmd) {
        out.push('\n');
        let mut help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
        // clap drops the full stop of a one-sentence doc comment.
        if !help.is_empty() && !help.trim_end().ends_with(['.', ']', ')', '!', '?', ':']) {
            help = format!("{}.", help.trim_end());
        }
        for line in wrap(&help, 78) {
            let _ = writeln!(out, "# {line}");
        }
        let possible: Vec<String> =
            arg.get_possible_values().iter().filter(|p| !p.is_hide_set()).map(|p| p.get_name().to_string()).collect();
        if !possible.is_empty() && kind(arg) != Kind::Flag {
            let _ = writeln!(out, "# One of: {}.", possible.join(", "));
        }
        if let Some(env) = arg.get_env() {
            let _ = writeln!(out, "# Environment: {}", env.to_string_lossy());
        }
        match set.get(key(arg)) {
            Some(values) => {
                let _ = writeln!(out, "{} = {}", key(arg), literal(arg, values));
            }
            None => {
                let defaults: Vec<String> =
                    arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
                let shown = if defaults.is_empty() { placeholder(arg) } else { literal(arg, &defaults) };
                let _ = writeln!(out, "#{} = {shown}", key(arg));
            }
        }
    }
    out
}

/// The TOML form of a setting's values.
fn literal(arg: &Arg, values: &[String]) -> String {
    let one = |v: &str| -> String {
        let bare = match kind(arg) {
            Kind::Flag | Kind::Count => true,
            _ if is_type::<bool>(arg) => v == "true" || v == "false",
            _ if is_number(arg) => v.parse::<i64>().is_ok() || (v.parse::<f64>().is_ok() && v.contains('.')),
            _ => false,
        };
        if bare { v.to_string() } else { quote(v) }
    };
    match kind(arg) {
        Kind::Many => format!("[{}]", values.iter().map(|v| one(v)).collect::<Vec<_>>().join(", ")),
        _ => values.first().map(|v| one(v)).unwrap_or_default(),
    }
}

/// What a setting without a default looks like in the reference: not valid
/// TOML on purpose, so that uncommenting it without filling it in is reported.
fn placeholder(arg: &Arg) -> String {
    let name = arg.get_value_names().and_then(|n| n.first()).map(|n| n.to_string()).unwrap_or("VALUE".into());
    match kind(arg) {
        Kind::Many => format!("[<{name}>]"),
        _ => format!("<{name}>"),
    }
}

/// A TOML basic string.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    /// A stand-in for `ferry server`'s arguments.
    #[derive(Debug, Parser)]
    #[command(name = "svc")]
    struct Svc {
        /// Port to listen on.
        #[arg(long, default_value_t = 7800, value_name = "PORT")]
        port: u16,
        /// Set in the environment of every `cargo test` run (to "ferry").
        #[arg(long, env = "CARGO_PKG_NAME", value_name = "NAME")]
        package: Option<String>,
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "a", value_name = "ADDR")]
        listen: Vec<String>,
        #[arg(long)]
        verbose: bool,
        #[arg(long, value_name = "FILE")]
        cert: Option<PathBuf>,
        #[arg(long, value_name = "DIR", default_value = "./data")]
        data_dir: PathBuf,
        #[arg(long, value_name = "SECRET", env = "SVC_TEST_SECRET_UNSET", hide_env_values = true)]
        secret: Option<String>,
        #[arg(long, required = true, value_name = "URL")]
        server: String,
        #[arg(long, requires = "package", conflicts_with = "verbose", value_name = "MODE")]
        mode: Option<String>,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    }

    fn check(text: &str) -> Loaded {
        load_str(&Svc::command(), text, Path::new("svc.toml"))
    }

    fn try_parse(text: &str, argv: &[&str]) -> Result<Svc, ParseError> {
        let loaded = check(text);
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        let argv: Vec<OsString> = std::iter::once("svc").chain(argv.iter().copied()).map(OsString::from).collect();
        super::parse(&Svc::command(), None, &loaded, &argv).map(|m| Svc::from_arg_matches(&m).unwrap())
    }

    fn parse(text: &str, argv: &[&str]) -> Svc {
        try_parse(text, argv).unwrap()
    }

    #[test]
    fn flag_beats_environment_beats_file_beats_default() {
        // Default.
        let svc = parse("server = \"s\"", &[]);
        assert_eq!((svc.port, svc.listen.clone(), svc.verbose), (7800, vec!["a".to_string()], false));
        // File over default; flag over file.
        let svc = parse("server = \"s\"\nport = 1\nlisten = [\"b\", \"c\"]\nverbose = true\ndata_dir = \"/\"", &[]);
        assert_eq!(
            (svc.port, svc.listen.clone(), svc.verbose, svc.data_dir.clone()),
            (1, vec!["b".into(), "c".into()], true, "/".into())
        );
        let svc = parse("server = \"s\"\nport = 1\nlisten = \"b,c\"", &["--port", "2", "--server", "flag"]);
        assert_eq!((svc.port, svc.server.as_str(), svc.listen.len()), (2, "flag", 2));
        // The environment (CARGO_PKG_NAME=ferry under cargo test) over the file, the flag over both.
        let svc = parse("server = \"s\"\npackage = \"file\"", &[]);
        assert_eq!(svc.package.as_deref(), Some("ferry"));
        let svc = parse("server = \"s\"\npackage = \"file\"", &["--package", "flag"]);
        assert_eq!(svc.package.as_deref(), Some("flag"));
        // Repeatable settings take arrays; a flag replaces the file's list.
        let svc = parse("server = \"s\"\ntag = [\"x\", \"y\"]", &[]);
        assert_eq!(svc.tags, ["x", "y"]);
        let svc = parse("server = \"s\"\ntag = [\"x\", \"y\"]", &["--tag", "z"]);
        assert_eq!(svc.tags, ["z"]);
        // A required flag can come from the file alone.
        let svc = parse("server = \"from-file\"", &[]);
        assert_eq!(svc.server, "from-file");
    }

    #[test]
    fn rules_between_arguments_hold_for_settings() {
        // `mode` conflicts with `verbose`: in the file, or one in the file and one as a flag.
        let e = try_parse("server = \"s\"\nmode = \"m\"\nverbose = true", &[]).unwrap_err();
        assert!(matches!(&e, ParseError::WithFile(e) if e.kind() == clap::error::ErrorKind::ArgumentConflict), "{e:?}");
        let e = try_parse("server = \"s\"\nmode = \"m\"", &["--verbose"]).unwrap_err();
        assert!(matches!(&e, ParseError::WithFile(e) if e.kind() == clap::error::ErrorKind::ArgumentConflict), "{e:?}");
        // `mode` requires `package`, which the environment gives (CARGO_PKG_NAME).
        assert_eq!(parse("server = \"s\"\nmode = \"m\"", &[]).mode.as_deref(), Some("m"));
        // A flag that overrides the file's value takes its place in the rules.
        let e = try_parse("server = \"s\"\nverbose = false", &["--mode", "m", "--verbose"]).unwrap_err();
        assert!(matches!(e, ParseError::Plain(_)), "{e:?}");
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "server = \"s\"\nprot = 80\nport = \"high\"\nverbose = \"yes\"\ncert = \"{missing}\"\nlisten = [\"a\", 3, true]\n\
             [section]\nx = 1\n",
            missing = dir.path().join("nope.pem").display()
        );
        let loaded = check(&text);
        let lines = loaded.problem_lines();
        assert_eq!(lines.len(), 6, "{lines:#?}");
        assert_eq!(lines[0], "svc.toml:2: unknown key `prot`; did you mean `port`?");
        assert!(lines[1].starts_with("svc.toml:3: port: invalid value 'high' for '--port <PORT>'"), "{}", lines[1]);
        assert_eq!(lines[2], "svc.toml:4: verbose: expected true or false, found a string");
        assert!(
            lines[3].starts_with("svc.toml:5: cert: ") && lines[3].ends_with("nope.pem does not exist"),
            "{}",
            lines[3]
        );
        assert_eq!(lines[4], "svc.toml:6: listen: expected a string, found a boolean");
        assert_eq!(lines[5], "svc.toml:7: unknown key `section` (settings are top-level keys, not tables)");
        // Integers are text to a string setting; the valid ones are kept.
        assert_eq!(loaded.values.iter().find(|(id, _)| id == "server").unwrap().1, ["s"]);
    }

    #[test]
    fn syntax_errors_types_and_duplicates() {
        let loaded = check("port = [1, 2]\nserver = \nverbose = true\n");
        let lines = loaded.problem_lines();
        assert!(lines.iter().any(|l| l.starts_with("svc.toml:1: port: takes one value, found an array")), "{lines:#?}");
        assert!(lines.iter().any(|l| l.starts_with("svc.toml:2: not valid TOML")), "{lines:#?}");
        assert_eq!(lines.len(), 2, "nothing more about the broken line: {lines:#?}");
        let loaded = check("data-dir = \"/\"\ndata_dir = \"/tmp\"\n");
        assert_eq!(loaded.problem_lines().len(), 1, "{:?}", loaded.problems);
        assert!(loaded.problems[0].message.contains("set twice"), "{:?}", loaded.problems);
    }

    #[test]
    fn directories_may_be_created_if_their_parent_exists() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh");
        let loaded = check(&format!("data-dir = \"{}\"", fresh.display()));
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        assert!(loaded.notes[0].contains("will be created"), "{:?}", loaded.notes);
        let loaded = check(&format!("data-dir = \"{}\"", fresh.join("deeper").display()));
        assert!(loaded.problems[0].message.contains("nor its parent directory exists"), "{:?}", loaded.problems);
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let loaded = check(&format!("data-dir = \"{}\"", file.display()));
        assert!(loaded.problems[0].message.ends_with("is not a directory"), "{:?}", loaded.problems);
    }

    #[test]
    fn a_readable_file_with_a_secret_is_noted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.toml");
        std::fs::write(&path, "secret = \"s3cr3t\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let loaded = load(&Svc::command(), &path);
        assert!(loaded.problems.is_empty());
        assert!(loaded.notes.iter().any(|n| n.contains("secret") && n.contains("chmod 600")), "{:?}", loaded.notes);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&Svc::command(), &path).notes.is_empty());
        let missing = load(&Svc::command(), &dir.path().join("missing.toml"));
        assert!(missing.problem_lines()[0].contains("cannot read the config file"), "{:?}", missing.problems);
    }

    #[test]
    fn the_reference_documents_every_setting_and_reads_back_clean() {
        let text = reference(&with_env(Svc::command()), &BTreeMap::new());
        assert!(text.contains("# Port to listen on.\n# Environment: FERRY_PORT\n#port = 7800\n"), "{text}");
        assert!(text.contains("#listen = [\"a\"]\n"), "{text}");
        assert!(text.contains("#verbose = false\n"), "{text}");
        assert!(text.contains("#cert = <FILE>\n"), "{text}");
        assert!(text.contains("# Environment: CARGO_PKG_NAME\n"), "{text}");
        assert!(!text.contains("#config") && !text.contains("#check-config"), "{text}");
        assert!(check(&text).problems.is_empty());
        // Written-out values read back as they were given.
        let set = BTreeMap::from([
            ("port".to_string(), vec!["9".to_string()]),
            ("tag".to_string(), vec!["a \"b\"".to_string(), "c\\d".to_string()]),
            ("verbose".to_string(), vec!["true".to_string()]),
            ("server".to_string(), vec!["s".to_string()]),
        ]);
        let svc = parse(&reference(&Svc::command(), &set), &[]);
        assert_eq!(
            (svc.port, svc.tags.clone(), svc.verbose),
            (9, vec!["a \"b\"".to_string(), "c\\d".to_string()], true)
        );
    }

    #[test]
    fn texts_are_checked_like_a_file() {
        let cmd = Svc::command();
        let problems = check_texts(
            &cmd,
            &[
                ("port".into(), vec!["x".into()]),
                ("lissten".into(), vec!["a".into()]),
                ("verbose".into(), vec!["maybe".into()]),
                ("tag".into(), vec!["a".into(), "b".into()]),
            ],
        );
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[1].contains("did you mean `listen`"), "{problems:#?}");
        assert_eq!(canonical_key(&cmd, "data_dir").as_deref(), Some("data-dir"));
        assert!(is_path(&cmd, "cert") && !is_path(&cmd, "port"));
        assert_eq!(default_of(&cmd, "data-dir"), ["./data"]);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
