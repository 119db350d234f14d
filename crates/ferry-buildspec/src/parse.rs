//! Text to model: every buildspec 0.2 rule (CodeBuild UG, build-spec-ref).
//!
//! The rules, key by key (quoted words are the guide's):
//! - `version` is required and must be `0.2` (number or string). `0.1` is
//!   refused with the difference named: in 0.1 each command ran in its own
//!   shell, and `env`/`variables` were `environment_variables`/`plaintext`.
//! - `run-as` (top level and per phase): a Linux user; the phase's wins.
//! - `env.shell`: `bash` or `/bin/sh` (the Linux shell tags; `powershell.exe`
//!   and `cmd.exe` are Windows-only and refused).
//! - `env.variables`: name → value, taken literally: "`$PATH:/usr/share/ant/bin`"
//!   stays that text. Values are scalars as written (`1.10` stays `1.10`).
//!   "Do not set any environment variable with a name that starts with
//!   `CODEBUILD_`. This prefix is reserved": an error here, for
//!   `parameter-store` and `secrets-manager` names too.
//! - `env.parameter-store`: name → parameter name.
//! - `env.secrets-manager`: name → `secret-id:json-key:version-stage:version-id`;
//!   only the id is required; "If you use version-stage, don't specify
//!   version-id" (an error here). An ARN id keeps its own colons.
//! - `env.exported-variables`: names; "Environment variables that start with
//!   `AWS_`" cannot be exported. ferry also refuses to export a variable the
//!   buildspec itself takes from `secrets-manager` (CodeBuild forbids this for
//!   project-level secrets; ferry never exports a secret).
//! - `env.git-credential-helper`, `proxy.upload-artifacts`, `proxy.logs`,
//!   `discard-paths`, `enable-symlinks`: `yes`/`no` ("no or not specified" is
//!   the default). Any YAML 1.1 boolean is accepted (`yes`, `no`, `true`,
//!   `false`, `on`, `off`, `y`, `n` in any case), quoted or not: CodeBuild's
//!   own examples mix `discard-paths: yes` and `discard-paths: false`.
//! - `phases` is required; each of `install`, `pre_build`, `build`,
//!   `post_build` is optional and takes `run-as`, `on-failure`
//!   (`ABORT`|`CONTINUE`), `commands`, `finally`; `commands` is required in
//!   `pre_build`, `build` and `post_build` when the phase is given; only
//!   `install` takes `runtime-versions` (accepted, warned about: ferry does not
//!   install runtimes, the image must hold them). The `RETRY…` forms of
//!   `on-failure` are recognised and refused (not supported yet).
//! - `artifacts.files` is required, "even when there are only secondary
//!   artifacts defined"; `name`, `discard-paths`, `base-directory`,
//!   `exclude-paths` (a path or a list), `enable-symlinks`, `s3-prefix`,
//!   `secondary-artifacts.<id>` (same keys, `files` required there too).
//!   The 0.1 key `type` is refused as deprecated.
//! - `cache.paths` is required; `key`, `fallback-keys` (at most 5), `action`
//!   (`restore`|`save`) are recognised.
//! - `reports.<name-or-arn>`: `files` (required), `base-directory`,
//!   `discard-paths`, `file-format` (case-insensitive, default `JUNITXML`);
//!   at most 5 groups. Formats ferry cannot parse yet are accepted with a
//!   warning.
//! - `batch` is recognised and refused (batch builds are not supported yet).
//!
//! Where CodeBuild takes "a sequence of scalars" (`commands`, `finally`,
//! `files`, `paths`, `exported-variables`), a single scalar is taken as a
//! one-item list, as CodeBuild does (CDK writes `commands: 'export X=1'`).
//!
//! Divergences, so that mistakes are found before a build runs: unknown keys
//! are errors at every level (with the key probably meant), and so are
//! duplicate keys, a second YAML document, empty commands, and paths in
//! `artifacts`/`reports` that are absolute or climb out with `..`.

pub(crate) use crate::yaml::words::suggestion;
use crate::yaml::words::{child, describe, index, truncate};
use crate::yaml::{self, Key, Node, Resolved, Value};
use crate::{
    ArtifactSpec, Artifacts, Buildspec, BuildspecError, Cache, CacheAction, CommandPhase, Env, MAX_REPORT_GROUPS,
    OnFailure, PhaseSpec, Proxy, ReportFormat, ReportGroup, SecretRef, Selection, Shell,
};

/// Largest buildspec accepted, in bytes (1 MiB). Real ones are a few KiB.
pub const MAX_BUILDSPEC_BYTES: usize = 1 << 20;

const TOP_LEVEL: [&str; 9] = ["version", "run-as", "env", "proxy", "batch", "phases", "reports", "artifacts", "cache"];
const ENV_KEYS: [&str; 6] =
    ["shell", "variables", "parameter-store", "secrets-manager", "exported-variables", "git-credential-helper"];
const PROXY_KEYS: [&str; 2] = ["upload-artifacts", "logs"];
const PHASE_KEYS: [&str; 5] = ["run-as", "on-failure", "runtime-versions", "commands", "finally"];
const ARTIFACT_KEYS: [&str; 8] = [
    "files",
    "name",
    "discard-paths",
    "base-directory",
    "exclude-paths",
    "enable-symlinks",
    "s3-prefix",
    "secondary-artifacts",
];
const CACHE_KEYS: [&str; 4] = ["paths", "key", "fallback-keys", "action"];
const REPORT_KEYS: [&str; 4] = ["files", "base-directory", "discard-paths", "file-format"];
const PHASE_NAMES: [&str; 4] = ["install", "pre_build", "build", "post_build"];

/// Parses and validates a buildspec. `file` names it in errors (a path, or
/// e.g. `buildspec (inline)` for one given in a project or a StartBuild
/// override).
pub fn parse(file: &str, text: &str) -> Result<Buildspec, BuildspecError> {
    let ctx = Ctx { file };
    if text.len() > MAX_BUILDSPEC_BYTES {
        return Err(ctx.err(
            "",
            None,
            format!(
                "the file is {} bytes; ferry accepts buildspecs up to {MAX_BUILDSPEC_BYTES} bytes (1 MiB)",
                text.len()
            ),
        ));
    }
    let root = match yaml::load(text) {
        Ok(Some(root)) if !root.is_null() => root,
        Ok(_) => {
            return Err(ctx.err("", None, "the buildspec is empty; expected at least `version: 0.2` and `phases`"));
        }
        Err(e) => return Err(ctx.err(&e.key, e.line, e.message)),
    };
    let top = Fields::of(&ctx, "", &root, "a mapping of buildspec keys (version, env, phases, artifacts, ...)")?;
    check_version(&ctx, &top)?;
    top.check_known(&ctx, &TOP_LEVEL)?;
    if let Some((key, _)) = top.entry("batch") {
        return Err(ctx.err(
            "batch",
            Some(key.line),
            "batch builds (build-list, build-matrix, build-graph) are not supported by ferry yet; remove `batch`, or make each task a project of its own",
        ));
    }
    let mut spec = Buildspec { run_as: top.opt_string(&ctx, "run-as", "a Linux user name")?, ..Buildspec::default() };
    if let Some(node) = top.get("env") {
        spec.env = env(&ctx, node)?;
    }
    if let Some(node) = top.get("proxy") {
        let f = Fields::of(&ctx, "proxy", node, "a mapping with upload-artifacts and logs")?;
        f.check_known(&ctx, &PROXY_KEYS)?;
        spec.proxy = Proxy { upload_artifacts: f.opt_bool(&ctx, "upload-artifacts")?, logs: f.opt_bool(&ctx, "logs")? };
    }
    let phases = top.require(&ctx, "phases", "a mapping of phases (install, pre_build, build, post_build)")?;
    phases_into(&ctx, phases, &mut spec)?;
    if let Some(node) = top.get("reports") {
        spec.reports = reports(&ctx, node, &mut spec.warnings)?;
    }
    if let Some(node) = top.get("artifacts") {
        spec.artifacts = Some(artifacts(&ctx, node)?);
    }
    if let Some(node) = top.get("cache") {
        spec.cache = Some(cache(&ctx, node)?);
    }
    Ok(spec)
}

/// `version: 0.2`; 0.1 is refused with what changed.
fn check_version(ctx: &Ctx<'_>, top: &Fields<'_>) -> Result<(), BuildspecError> {
    const EXPECTED: &str = "0.2 (the buildspec version ferry runs)";
    let node = top.require(ctx, "version", EXPECTED)?;
    let text = match &node.value {
        Value::Scalar(s) if matches!(s.resolved, Resolved::Float(_) | Resolved::Str) => s.text.trim(),
        _ => return Err(ctx.expected("version", node, EXPECTED)),
    };
    match text {
        "0.2" => Ok(()),
        "0.1" => Err(ctx.at(
            "version",
            node,
            "buildspec version 0.1 is not supported; ferry runs version 0.2, where all commands of a build run in one shell (0.1 ran each command in its own shell, so `cd` and exported variables did not carry over) and `environment_variables`/`plaintext` are spelled `env`/`variables`: change to `version: 0.2` and check commands that relied on a fresh shell",
        )),
        _ => Err(ctx.expected("version", node, EXPECTED)),
    }
}

fn env(ctx: &Ctx<'_>, node: &Node) -> Result<Env, BuildspecError> {
    let f = Fields::of(ctx, "env", node, "a mapping (shell, variables, parameter-store, secrets-manager, ...)")?;
    f.check_known(ctx, &ENV_KEYS)?;
    let mut env = Env::default();
    if let Some(node) = f.get("shell") {
        let path = "env.shell";
        env.shell = Some(match string(ctx, path, node, "bash or /bin/sh")?.as_str() {
            "bash" => Shell::Bash,
            "/bin/sh" => Shell::Sh,
            w @ ("powershell.exe" | "cmd.exe") => {
                return Err(ctx.at(
                    path,
                    node,
                    format!("`{w}` is a Windows shell; ferry builds run on Linux: expected bash or /bin/sh"),
                ));
            }
            _ => return Err(ctx.expected(path, node, "bash or /bin/sh")),
        });
    }
    if let Some(node) = f.get("variables") {
        env.variables = name_values(ctx, "env.variables", node, "a mapping of variable names to values")?;
    }
    if let Some(node) = f.get("parameter-store") {
        env.parameter_store =
            name_values(ctx, "env.parameter-store", node, "a mapping of variable names to parameter names")?;
        for (name, value) in &env.parameter_store {
            if value.is_empty() {
                let path = format!("env.parameter-store.{name}");
                return Err(ctx.err(&path, f.line_of_child(node, name), "expected a parameter name, got nothing"));
            }
        }
    }
    if let Some(node) = f.get("secrets-manager") {
        let refs = name_values(ctx, "env.secrets-manager", node, "a mapping of variable names to secret references")?;
        for (name, text) in refs {
            let path = format!("env.secrets-manager.{name}");
            let secret = secret_ref(&text).map_err(|message| ctx.err(&path, f.line_of_child(node, &name), message))?;
            env.secrets_manager.push((name, secret));
        }
    }
    if let Some(node) = f.get("exported-variables") {
        let path = "env.exported-variables";
        for (i, (name, item)) in strings(ctx, path, node, "a list of variable names")?.into_iter().enumerate() {
            let item_path = index(path, i);
            check_variable_name(ctx, &item_path, item.line, &name)?;
            if name.starts_with("AWS_") {
                return Err(ctx.at(
                    &item_path,
                    item,
                    format!("`{name}` cannot be exported: variables starting with AWS_ are never exported"),
                ));
            }
            if env.secrets_manager.iter().any(|(n, _)| *n == name) {
                return Err(ctx.at(
                    &item_path,
                    item,
                    format!("`{name}` comes from secrets-manager and cannot be exported (exported variables are visible to the pipeline)"),
                ));
            }
            env.exported_variables.push(name);
        }
    }
    env.git_credential_helper = f.opt_bool(ctx, "git-credential-helper")?;
    Ok(env)
}

/// `secret-id[:json-key[:version-stage[:version-id]]]`; an ARN secret id
/// (`arn:partition:secretsmanager:region:account:secret:name`) keeps its
/// seven colon-separated parts.
pub(crate) fn secret_ref(text: &str) -> Result<SecretRef, String> {
    const EXPECTED: &str = "expected `secret-id[:json-key[:version-stage[:version-id]]]`";
    let parts: Vec<&str> = text.split(':').collect();
    let (id, rest) = if text.starts_with("arn:") {
        if parts.len() < 7 {
            return Err(format!("{EXPECTED}; {text:?} is a secret ARN with too few parts"));
        }
        (parts[..7].join(":"), &parts[7..])
    } else {
        (parts[0].to_owned(), &parts[1..])
    };
    if id.trim().is_empty() {
        return Err(format!("{EXPECTED}, got {text:?} (the secret id is required)"));
    }
    if rest.len() > 3 {
        return Err(format!("{EXPECTED}, got {text:?} (too many `:` parts)"));
    }
    let part = |i: usize| rest.get(i).filter(|p| !p.is_empty()).map(|p| (*p).to_owned());
    let secret = SecretRef { secret_id: id, json_key: part(0), version_stage: part(1), version_id: part(2) };
    if secret.version_stage.is_some() && secret.version_id.is_some() {
        return Err(format!(
            "{text:?} gives both a version stage and a version id; give one or the other (neither means {})",
            SecretRef::DEFAULT_STAGE
        ));
    }
    Ok(secret)
}

fn phases_into(ctx: &Ctx<'_>, node: &Node, spec: &mut Buildspec) -> Result<(), BuildspecError> {
    let f = Fields::of(ctx, "phases", node, "a mapping of phases (install, pre_build, build, post_build)")?;
    f.check_known(ctx, &PHASE_NAMES)?;
    for phase in CommandPhase::ALL {
        let Some(node) = f.get(phase.key()) else { continue };
        let path = f.path_of(phase.key());
        let p = Fields::of(ctx, &path, node, "a mapping with commands (and run-as, on-failure, finally)")?;
        p.check_known(ctx, &PHASE_KEYS)?;
        let mut out = PhaseSpec { run_as: p.opt_string(ctx, "run-as", "a Linux user name")?, ..PhaseSpec::default() };
        if let Some(node) = p.get("on-failure") {
            out.on_failure = Some(on_failure(ctx, &p.path_of("on-failure"), node)?);
        }
        match p.get("commands") {
            Some(node) => out.commands = commands(ctx, &p.path_of("commands"), node)?,
            None if phase != CommandPhase::Install => {
                p.require(ctx, "commands", "a list of commands")?;
            }
            None => {}
        }
        if let Some(node) = p.get("finally") {
            out.finally = commands(ctx, &p.path_of("finally"), node)?;
        }
        if let Some((key, node)) = p.entry("runtime-versions") {
            let rv_path = p.path_of("runtime-versions");
            if phase != CommandPhase::Install {
                return Err(ctx.err(&rv_path, Some(key.line), "runtime-versions is only allowed in the install phase"));
            }
            out.runtime_versions = name_values(ctx, &rv_path, node, "a mapping of runtimes to versions")?;
            if out.runtime_versions.is_empty() {
                return Err(ctx.at(&rv_path, node, "expected at least one runtime (`nodejs: 18`), got nothing"));
            }
            spec.warnings.push(format!(
                "{}: {rv_path}: ferry does not install runtimes; the build image must already hold {} (line {})",
                ctx.file,
                out.runtime_versions.iter().map(|(r, v)| format!("{r} {v}")).collect::<Vec<_>>().join(", "),
                key.line
            ));
        }
        *spec.phases.get_mut(phase) = Some(out);
    }
    Ok(())
}

fn on_failure(ctx: &Ctx<'_>, path: &str, node: &Node) -> Result<OnFailure, BuildspecError> {
    let text = string(ctx, path, node, "ABORT or CONTINUE")?;
    match text.as_str() {
        "ABORT" => Ok(OnFailure::Abort),
        "CONTINUE" => Ok(OnFailure::Continue),
        t if t.to_ascii_uppercase().starts_with("RETRY") => Err(ctx.at(
            path,
            node,
            format!("`{t}`: retrying a failed build is not supported by ferry yet; expected ABORT or CONTINUE"),
        )),
        t if t.eq_ignore_ascii_case("abort") || t.eq_ignore_ascii_case("continue") => Err(ctx.at(
            path,
            node,
            format!("expected ABORT or CONTINUE (upper case), got {t:?} (did you mean `{}`?)", t.to_ascii_uppercase()),
        )),
        _ => Err(ctx.expected(path, node, "ABORT or CONTINUE")),
    }
}

fn commands(ctx: &Ctx<'_>, path: &str, node: &Node) -> Result<Vec<String>, BuildspecError> {
    let items = strings(ctx, path, node, "a list of commands")?;
    Ok(items.into_iter().map(|(text, _)| text).collect())
}

fn reports(ctx: &Ctx<'_>, node: &Node, warnings: &mut Vec<String>) -> Result<Vec<ReportGroup>, BuildspecError> {
    let f = Fields::of(ctx, "reports", node, "a mapping of report group names (or ARNs) to report settings")?;
    let mut groups = Vec::new();
    for (key, node) in f.entries {
        let path = f.path_of(&key.text);
        if key.text.trim().is_empty() {
            return Err(ctx.err(&path, Some(key.line), "expected a report group name or ARN, got an empty key"));
        }
        if groups.len() == MAX_REPORT_GROUPS {
            return Err(ctx.err(
                &path,
                Some(key.line),
                format!("a project has at most {MAX_REPORT_GROUPS} report groups; this is the sixth"),
            ));
        }
        let g = Fields::of(ctx, &path, node, "a mapping with files (and base-directory, discard-paths, file-format)")?;
        g.check_known(ctx, &REPORT_KEYS)?;
        let files = relative_paths(ctx, &g, "files", true)?;
        let base_directory = g.opt_relative_path(ctx, "base-directory")?;
        let file_format = match g.get("file-format") {
            None => ReportFormat::JunitXml,
            Some(node) => {
                let fpath = g.path_of("file-format");
                let names: Vec<&str> = ReportFormat::ALL.iter().map(|f| f.name()).collect();
                let expected = format!("one of {}", names.join(", "));
                let text = string(ctx, &fpath, node, &expected)?;
                let Some(format) = ReportFormat::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(text.trim()))
                else {
                    return Err(ctx.expected(&fpath, node, &expected));
                };
                if !format.is_supported() {
                    warnings.push(format!(
                        "{}: {fpath}: ferry does not read {} reports yet; the files are kept but no test cases are recorded (line {})",
                        ctx.file,
                        format.name(),
                        node.line
                    ));
                }
                format
            }
        };
        groups.push(ReportGroup {
            name: key.text.clone(),
            files,
            base_directory,
            discard_paths: g.opt_bool(ctx, "discard-paths")?,
            file_format,
        });
    }
    Ok(groups)
}

fn artifacts(ctx: &Ctx<'_>, node: &Node) -> Result<Artifacts, BuildspecError> {
    let primary = artifact(ctx, "artifacts", node, true)?;
    let f = Fields::of(ctx, "artifacts", node, "")?;
    let mut secondary = Vec::new();
    if let Some(node) = f.get("secondary-artifacts") {
        let s =
            Fields::of(ctx, "artifacts.secondary-artifacts", node, "a mapping of artifact identifiers to artifacts")?;
        for (key, node) in s.entries {
            let path = s.path_of(&key.text);
            if key.text.trim().is_empty() {
                return Err(ctx.err(&path, Some(key.line), "expected an artifact identifier, got an empty key"));
            }
            secondary.push((key.text.clone(), artifact(ctx, &path, node, false)?));
        }
    }
    Ok(Artifacts { primary, secondary })
}

fn artifact(ctx: &Ctx<'_>, path: &str, node: &Node, primary: bool) -> Result<ArtifactSpec, BuildspecError> {
    let f = Fields::of(ctx, path, node, "a mapping with files (and name, base-directory, discard-paths, ...)")?;
    if let Some((key, _)) = f.entry("type") {
        return Err(ctx.err(
            &f.path_of("type"),
            Some(key.line),
            "`type` was deprecated with buildspec 0.2: the project's artifacts settings choose the type; remove it",
        ));
    }
    let known: &[&str] = if primary { &ARTIFACT_KEYS } else { &ARTIFACT_KEYS[..7] };
    f.check_known(ctx, known)?;
    let exclude_paths = match f.get("exclude-paths") {
        None => Vec::new(),
        Some(node) => {
            let epath = f.path_of("exclude-paths");
            let mut out = Vec::new();
            for (i, (p, item)) in
                strings(ctx, &epath, node, "a path pattern or a list of them")?.into_iter().enumerate()
            {
                check_relative(ctx, &index(&epath, i), item, &p)?;
                out.push(p);
            }
            out
        }
    };
    Ok(ArtifactSpec {
        selection: Selection {
            files: relative_paths(ctx, &f, "files", true)?,
            base_directory: f.opt_relative_path(ctx, "base-directory")?,
            discard_paths: f.opt_bool(ctx, "discard-paths")?,
            exclude_paths,
        },
        name: f.opt_string(ctx, "name", "an artifact name")?,
        enable_symlinks: f.opt_bool(ctx, "enable-symlinks")?,
        s3_prefix: f.opt_string(ctx, "s3-prefix", "an S3 key prefix")?,
    })
}

fn cache(ctx: &Ctx<'_>, node: &Node) -> Result<Cache, BuildspecError> {
    let f = Fields::of(ctx, "cache", node, "a mapping with paths (and key, fallback-keys, action)")?;
    f.check_known(ctx, &CACHE_KEYS)?;
    let node = f.require(ctx, "paths", "a list of paths to cache")?;
    let mut paths = Vec::new();
    for (i, (p, item)) in strings(ctx, "cache.paths", node, "a list of paths to cache")?.into_iter().enumerate() {
        // Absolute paths are allowed here (CodeBuild's own example caches
        // '/root/.m2/**/*'); `..` is not.
        if p.split('/').any(|c| c == "..") {
            return Err(ctx.at(&index("cache.paths", i), item, format!("expected a path without `..`, got {p:?}")));
        }
        paths.push(p);
    }
    let fallback_keys = match f.get("fallback-keys") {
        None => Vec::new(),
        Some(node) => {
            let keys = strings(ctx, "cache.fallback-keys", node, "a list of cache key prefixes")?;
            if keys.len() > 5 {
                return Err(ctx.at(
                    "cache.fallback-keys",
                    node,
                    format!("at most 5 fallback keys, got {}", keys.len()),
                ));
            }
            keys.into_iter().map(|(k, _)| k).collect()
        }
    };
    let action = match f.get("action") {
        None => None,
        Some(node) => Some(match string(ctx, "cache.action", node, "restore or save")?.as_str() {
            "restore" => CacheAction::Restore,
            "save" => CacheAction::Save,
            _ => return Err(ctx.expected("cache.action", node, "restore or save")),
        }),
    };
    Ok(Cache { paths, key: f.opt_string(ctx, "key", "a cache key")?, fallback_keys, action })
}

// ------------------------------------------------------------------ helpers

/// Attaches the file name to errors.
pub(crate) struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, key: &str, line: Option<usize>, message: impl Into<String>) -> BuildspecError {
        let mut message = truncate(&message.into(), 1000);
        if let Some(line) = line {
            message.push_str(&format!(" (line {line})"));
        }
        BuildspecError { file: self.file.to_owned(), key: truncate(key, 200), message }
    }

    fn at(&self, key: &str, node: &Node, message: impl Into<String>) -> BuildspecError {
        self.err(key, Some(node.line), message)
    }

    fn expected(&self, key: &str, node: &Node, expected: &str) -> BuildspecError {
        self.at(key, node, format!("expected {expected}, got {}", describe(node)))
    }
}

/// A mapping being validated, with its key path.
struct Fields<'n> {
    path: String,
    line: usize,
    entries: &'n [(Key, Node)],
}

impl<'n> Fields<'n> {
    fn of(ctx: &Ctx<'_>, path: &str, node: &'n Node, expected: &str) -> Result<Self, BuildspecError> {
        match &node.value {
            Value::Map(entries) => Ok(Self { path: path.to_owned(), line: node.line, entries }),
            _ => Err(ctx.expected(path, node, expected)),
        }
    }

    fn path_of(&self, name: &str) -> String {
        child(&self.path, name)
    }

    fn check_known(&self, ctx: &Ctx<'_>, known: &[&str]) -> Result<(), BuildspecError> {
        for (key, _) in self.entries {
            if known.contains(&key.text.as_str()) {
                continue;
            }
            let hint = suggestion(&key.text, known).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
            let what = if self.path.is_empty() { "top-level key" } else { "key" };
            return Err(ctx.err(
                &self.path_of(&key.text),
                Some(key.line),
                format!("unknown {what} `{}`{hint}; expected one of: {}", key.text, known.join(", ")),
            ));
        }
        Ok(())
    }

    fn entry(&self, name: &str) -> Option<(&'n Key, &'n Node)> {
        self.entries.iter().find(|(k, _)| k.text == name).map(|(k, v)| (k, v))
    }

    /// The value of `name`; a null value counts as absent.
    fn get(&self, name: &str) -> Option<&'n Node> {
        self.entry(name).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    /// The line of `name` inside the child mapping `node`.
    fn line_of_child(&self, node: &Node, name: &str) -> Option<usize> {
        match &node.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.text == name).map(|(k, _)| k.line),
            _ => Some(node.line),
        }
    }

    fn require(&self, ctx: &Ctx<'_>, name: &str, expected: &str) -> Result<&'n Node, BuildspecError> {
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

    fn opt_string(&self, ctx: &Ctx<'_>, name: &str, expected: &str) -> Result<Option<String>, BuildspecError> {
        self.get(name).map(|n| string(ctx, &self.path_of(name), n, expected)).transpose()
    }

    fn opt_bool(&self, ctx: &Ctx<'_>, name: &str) -> Result<bool, BuildspecError> {
        match self.get(name) {
            None => Ok(false),
            Some(node) => yes_no(ctx, &self.path_of(name), node),
        }
    }

    fn opt_relative_path(&self, ctx: &Ctx<'_>, name: &str) -> Result<Option<String>, BuildspecError> {
        let Some(node) = self.get(name) else { return Ok(None) };
        let path = self.path_of(name);
        let text = string(ctx, &path, node, "a relative directory path")?;
        check_relative(ctx, &path, node, &text)?;
        Ok(Some(text))
    }
}

/// The list `name` of relative path patterns (required or not).
fn relative_paths(ctx: &Ctx<'_>, f: &Fields<'_>, name: &str, required: bool) -> Result<Vec<String>, BuildspecError> {
    const EXPECTED: &str = "a list of path patterns (such as '**/*')";
    let node = match f.get(name) {
        Some(node) => node,
        None if required => f.require(ctx, name, EXPECTED)?,
        None => return Ok(Vec::new()),
    };
    let path = f.path_of(name);
    let mut out = Vec::new();
    for (i, (p, item)) in strings(ctx, &path, node, EXPECTED)?.into_iter().enumerate() {
        check_relative(ctx, &index(&path, i), item, &p)?;
        out.push(p);
    }
    Ok(out)
}

/// Paths in `artifacts` and `reports` are relative to the source directory
/// (or the base directory) and may not leave it.
fn check_relative(ctx: &Ctx<'_>, path: &str, node: &Node, text: &str) -> Result<(), BuildspecError> {
    if text.starts_with('/') {
        return Err(ctx.at(path, node, format!("expected a path relative to the source directory, got {text:?}")));
    }
    if text.split('/').any(|c| c == "..") {
        return Err(ctx.at(path, node, format!("expected a path inside the source directory (no `..`), got {text:?}")));
    }
    Ok(())
}

/// A scalar's text as written; numbers are fine (`run-as: 1000`); booleans,
/// nulls, lists and mappings are errors, and so is blank or NUL-holding text.
fn string(ctx: &Ctx<'_>, path: &str, node: &Node, expected: &str) -> Result<String, BuildspecError> {
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

/// A list of scalars (or one scalar, as a one-item list), each as written
/// (a command `true` is the text `true`). Empty items are errors.
fn strings<'n>(
    ctx: &Ctx<'_>,
    path: &str,
    node: &'n Node,
    expected: &str,
) -> Result<Vec<(String, &'n Node)>, BuildspecError> {
    let items: Vec<(String, &Node)> = match &node.value {
        Value::Seq(items) => items.iter().enumerate().map(|(i, n)| (index(path, i), n)).collect(),
        Value::Scalar(_) => vec![(path.to_owned(), node)],
        Value::Map(_) => return Err(ctx.expected(path, node, expected)),
    };
    let mut out = Vec::with_capacity(items.len());
    for (item_path, item) in items {
        match &item.value {
            Value::Scalar(s) if s.resolved != Resolved::Null && !s.text.trim().is_empty() => {
                if s.text.contains('\0') {
                    return Err(ctx.at(&item_path, item, "expected text without a NUL character"));
                }
                out.push((s.text.clone(), item));
            }
            Value::Map(_) => {
                return Err(ctx.at(
                    &item_path,
                    item,
                    format!(
                        "expected text, got a mapping; a `: ` inside an unquoted item makes YAML read a mapping, so quote the item (\"{}\")",
                        first_key(item).unwrap_or("…")
                    ),
                ));
            }
            _ => return Err(ctx.at(&item_path, item, format!("expected text, got {}", describe(item)))),
        }
    }
    Ok(out)
}

fn first_key(node: &Node) -> Option<&str> {
    match &node.value {
        Value::Map(entries) => entries.first().map(|(k, _)| k.text.as_str()),
        _ => None,
    }
}

/// CodeBuild's `yes`/`no`: any YAML 1.1 boolean spelling, quoted or not.
fn yes_no(ctx: &Ctx<'_>, path: &str, node: &Node) -> Result<bool, BuildspecError> {
    if let Value::Scalar(s) = &node.value {
        match s.text.trim().to_ascii_lowercase().as_str() {
            "yes" | "y" | "true" | "on" => return Ok(true),
            "no" | "n" | "false" | "off" => return Ok(false),
            _ => {}
        }
    }
    Err(ctx.expected(path, node, "yes or no"))
}

/// A mapping of names to scalar values (as written; `""` is an empty value).
fn name_values(
    ctx: &Ctx<'_>,
    path: &str,
    node: &Node,
    expected: &str,
) -> Result<Vec<(String, String)>, BuildspecError> {
    let f = Fields::of(ctx, path, node, expected)?;
    let mut out = Vec::new();
    for (key, value) in f.entries {
        let item_path = f.path_of(&key.text);
        check_variable_name(ctx, &item_path, key.line, &key.text)?;
        let text = match &value.value {
            Value::Scalar(s) if s.resolved == Resolved::Null && s.text.is_empty() => {
                return Err(ctx.at(&item_path, value, "expected a value, got nothing (write \"\" for an empty value)"));
            }
            Value::Scalar(s) if s.text.contains('\0') => {
                return Err(ctx.at(&item_path, value, "expected text without a NUL character"));
            }
            Value::Scalar(s) => s.text.clone(),
            _ => return Err(ctx.expected(&item_path, value, "a single value")),
        };
        out.push((key.text.clone(), text));
    }
    Ok(out)
}

/// A variable name the runner can put in an environment, outside CodeBuild's
/// reserved `CODEBUILD_` prefix.
fn check_variable_name(ctx: &Ctx<'_>, path: &str, line: usize, name: &str) -> Result<(), BuildspecError> {
    if let Err(message) = crate::vars::check_user_variable_name(name) {
        return Err(ctx.err(path, Some(line), message));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
