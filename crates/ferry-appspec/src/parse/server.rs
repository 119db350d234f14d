//! The Server (EC2/on-premises) platform: `os`, `files`, `permissions`,
//! `hooks` and `file_exists_behavior`, with the rules of CodeDeploy's agent
//! (`application_specification/*.rb`) and ferry's stricter checks.

use std::time::Duration;

use super::yaml::{Node, Value};
use super::{Ctx, Fields, boolean, check_version, child, index, list, string, whole_number};
use crate::{
    Ace, AceKind, AppSpecError, FileExistsBehavior, FileMapping, HookScript, MAX_HOOK_TIMEOUT, ObjectType, Os,
    Permission, RESERVED_EVENTS, SERVER_LIFECYCLE_EVENTS, SeLinuxContext, ServerAppSpec,
};

const TOP_LEVEL_KEYS: [&str; 6] = ["version", "os", "files", "permissions", "hooks", "file_exists_behavior"];

pub(super) fn parse(ctx: &Ctx<'_>, root: &Fields<'_>, linux_only: bool) -> Result<ServerAppSpec, AppSpecError> {
    root.check_known(ctx, &TOP_LEVEL_KEYS)?;
    check_version(ctx, root)?;
    let os = parse_os(ctx, root, linux_only)?;
    let files = match root.get("files") {
        None => Vec::new(),
        Some(node) => parse_files(ctx, node, os)?,
    };
    let permissions = match root.get("permissions") {
        None => Vec::new(),
        Some(node) => parse_permissions(ctx, node, os)?,
    };
    let hooks = match root.get("hooks") {
        None => Vec::new(),
        Some(node) => parse_hooks(ctx, node, os)?,
    };
    let file_exists_behavior = match root.get("file_exists_behavior") {
        None => None,
        Some(node) => Some(parse_file_exists_behavior(ctx, node)?),
    };
    Ok(ServerAppSpec { os, files, permissions, hooks, file_exists_behavior })
}

fn parse_os(ctx: &Ctx<'_>, root: &Fields<'_>, linux_only: bool) -> Result<Os, AppSpecError> {
    let expected = if linux_only { "linux" } else { "linux or windows" };
    let node = root.require(ctx, "os", expected)?;
    let name = match &node.value {
        Value::Scalar(s) => s.text.as_str(),
        _ => return Err(ctx.expected("os", node, expected)),
    };
    match name {
        "linux" => Ok(Os::Linux),
        "windows" if linux_only => {
            Err(ctx.at("os", node, "this appspec targets windows, but ferry hosts run linux; expected os: linux"))
        }
        "windows" => Ok(Os::Windows),
        _ => Err(ctx.expected("os", node, expected)),
    }
}

fn parse_files(ctx: &Ctx<'_>, node: &Node, os: Os) -> Result<Vec<FileMapping>, AppSpecError> {
    const SOURCE: &str = "a revision-relative source path (/ for the whole revision)";
    const DESTINATION: &str = "an absolute destination directory";
    let items = list(ctx, "files", node, "a list of {source, destination} entries")?;
    let mut files = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = index("files", i);
        let entry = Fields::of(ctx, &path, item, "a {source, destination} mapping")?;
        entry.check_known(ctx, &["source", "destination"])?;
        let source = entry.req_string(ctx, "source", SOURCE)?;
        if escapes_root(os, &source) {
            return Err(ctx.err(
                &entry.path_of("source"),
                Some(entry.require(ctx, "source", SOURCE)?.line),
                format!("expected {SOURCE}, got {source:?}, which climbs out of the revision with .."),
            ));
        }
        let destination = entry.req_string(ctx, "destination", DESTINATION)?;
        if !is_absolute(os, &destination) {
            return Err(ctx.err(
                &entry.path_of("destination"),
                Some(entry.require(ctx, "destination", DESTINATION)?.line),
                format!(
                    "expected {DESTINATION}, got the relative path {destination:?}; ferry does not resolve relative destinations against its working directory"
                ),
            ));
        }
        files.push(FileMapping { source, destination });
    }
    Ok(files)
}

fn parse_hooks(ctx: &Ctx<'_>, node: &Node, os: Os) -> Result<Vec<(String, Vec<HookScript>)>, AppSpecError> {
    let events = Fields::of(ctx, "hooks", node, "a mapping of lifecycle event names to lists of scripts")?;
    let mut hooks = Vec::with_capacity(events.entries.len());
    for (key, value) in events.entries {
        let event = key.text.as_str();
        let path = child("hooks", event);
        if event.trim().is_empty() {
            return Err(ctx.err(&path, Some(key.line), "expected a lifecycle event name, got an empty key"));
        }
        if !SERVER_LIFECYCLE_EVENTS.contains(&event)
            && !ctx.custom_events.iter().any(|c| c == event || c == super::ANY_EVENT)
        {
            return Err(ctx.err(&path, Some(key.line), unknown_event_message(event, ctx.custom_events)));
        }
        if value.is_null() {
            continue;
        }
        let items = list(ctx, &path, value, "a list of scripts, each a mapping with a location")?;
        if RESERVED_EVENTS.contains(&event) {
            if items.is_empty() {
                continue;
            }
            return Err(ctx.err(
                &path,
                Some(key.line),
                format!(
                    "`{event}` is run by ferry itself and takes no scripts (reserved events: {}); expected scripts on another event such as BeforeInstall or AfterInstall",
                    RESERVED_EVENTS.join(", ")
                ),
            ));
        }
        let mut scripts = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            scripts.push(parse_script(ctx, &index(&path, i), item, os)?);
        }
        hooks.push((event.to_owned(), scripts));
    }
    Ok(hooks)
}

/// Why `event` is not a lifecycle event, with the one it probably meant.
pub(crate) fn unknown_event_message(event: &str, custom_events: &[String]) -> String {
    let mut known: Vec<&str> = SERVER_LIFECYCLE_EVENTS.to_vec();
    known.extend(custom_events.iter().map(String::as_str));
    let hint = match super::suggestion(event, &known) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("expected one of {}", SERVER_LIFECYCLE_EVENTS.join(", ")),
    };
    format!("`{event}` is not a lifecycle event of a Server deployment, so its scripts would never run ({hint})")
}

fn parse_script(ctx: &Ctx<'_>, path: &str, node: &Node, os: Os) -> Result<HookScript, AppSpecError> {
    const LOCATION: &str = "the revision-relative path of the script";
    const TIMEOUT: &str = "a whole number of seconds greater than 0";
    let script = Fields::of(ctx, path, node, "a script mapping with location (and optionally timeout, runas, sudo)")?;
    script.check_known(ctx, &["location", "timeout", "runas", "sudo"])?;

    let location_node = script.require(ctx, "location", LOCATION)?;
    let location = string(ctx, &script.path_of("location"), location_node, LOCATION)?.trim().to_owned();
    if escapes_root(os, &location) {
        return Err(ctx.at(
            &script.path_of("location"),
            location_node,
            format!("expected {LOCATION}, got {location:?}, which climbs out of the revision with .."),
        ));
    }

    let timeout = match script.get("timeout") {
        None => crate::DEFAULT_HOOK_TIMEOUT,
        Some(node) => {
            let key = script.path_of("timeout");
            let secs = whole_number(node).ok_or_else(|| ctx.expected(&key, node, TIMEOUT))?;
            if secs <= 0 {
                return Err(ctx.expected(&key, node, TIMEOUT));
            }
            let max = MAX_HOOK_TIMEOUT.as_secs();
            let secs = secs.unsigned_abs();
            if secs > max {
                return Err(ctx.at(
                    &key,
                    node,
                    format!("expected at most {max} seconds (48 hours, ferry's limit for one script), got {secs}"),
                ));
            }
            Duration::from_secs(secs)
        }
    };

    let runas =
        script.opt_string(ctx, "runas", "the name of the user to run the script as")?.map(|r| r.trim().to_owned());
    let sudo = match script.get("sudo") {
        None => false,
        Some(node) => boolean(ctx, &script.path_of("sudo"), node)?,
    };
    Ok(HookScript { location, timeout, runas, sudo })
}

fn parse_file_exists_behavior(ctx: &Ctx<'_>, node: &Node) -> Result<FileExistsBehavior, AppSpecError> {
    const EXPECTED: &str = "DISALLOW, OVERWRITE or RETAIN (upper case)";
    match &node.value {
        Value::Scalar(s) => {
            FileExistsBehavior::from_name(&s.text).ok_or_else(|| ctx.expected("file_exists_behavior", node, EXPECTED))
        }
        _ => Err(ctx.expected("file_exists_behavior", node, EXPECTED)),
    }
}

fn parse_permissions(ctx: &Ctx<'_>, node: &Node, os: Os) -> Result<Vec<Permission>, AppSpecError> {
    let items = list(ctx, "permissions", node, "a list of permission entries, each with an object")?;
    if os == Os::Windows
        && let Some(first) = items.first()
    {
        return Err(ctx.at(
            &index("permissions", 0),
            first,
            "permissions are supported only for os: linux; remove the permissions section or target linux",
        ));
    }
    items.iter().enumerate().map(|(i, item)| parse_permission(ctx, &index("permissions", i), item)).collect()
}

const PERMISSION_KEYS: [&str; 9] = ["object", "pattern", "except", "type", "owner", "group", "mode", "acls", "context"];

fn parse_permission(ctx: &Ctx<'_>, path: &str, node: &Node) -> Result<Permission, AppSpecError> {
    const OBJECT: &str = "the absolute path of an installed file or directory";
    let entry = Fields::of(ctx, path, node, "a permission mapping with an object")?;
    entry.check_known(ctx, &PERMISSION_KEYS)?;

    let object_node = entry.require(ctx, "object", OBJECT)?;
    let object = string(ctx, &entry.path_of("object"), object_node, OBJECT)?.trim().to_owned();
    if !object.starts_with('/') {
        return Err(ctx.at(
            &entry.path_of("object"),
            object_node,
            format!("expected {OBJECT}, got the relative path {object:?}"),
        ));
    }

    let pattern = match entry.get("pattern") {
        None => "**".to_owned(),
        Some(n) => glob(ctx, &entry.path_of("pattern"), n)?,
    };
    let except = match entry.get("except") {
        None => Vec::new(),
        Some(n) => {
            let key = entry.path_of("except");
            let items = list(ctx, &key, n, "a list of globs")?;
            items.iter().enumerate().map(|(i, g)| glob(ctx, &index(&key, i), g)).collect::<Result<_, _>>()?
        }
    };
    let types = match entry.get("type") {
        None => vec![ObjectType::File, ObjectType::Directory],
        Some(n) => object_types(ctx, &entry.path_of("type"), n)?,
    };
    let owner = entry.opt_string(ctx, "owner", "a user name")?.map(|s| s.trim().to_owned());
    let group = entry.opt_string(ctx, "group", "a group name")?.map(|s| s.trim().to_owned());
    let mode = entry.get("mode").map(|n| mode(ctx, &entry.path_of("mode"), n)).transpose()?;
    let acls = match entry.get("acls") {
        None => Vec::new(),
        Some(n) => {
            let key = entry.path_of("acls");
            let items = list(ctx, &key, n, "a list of ACL entries such as u:alice:rw")?;
            let mut acls = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let key = index(&key, i);
                let text = string(ctx, &key, item, "an ACL entry such as u:alice:rw")?;
                acls.push(ace(&text).map_err(|why| ctx.at(&key, item, format!("invalid ACL entry {text:?}: {why}")))?);
            }
            acls
        }
    };
    let context = entry.get("context").map(|n| context(ctx, &entry.path_of("context"), n)).transpose()?;
    Ok(Permission { object, pattern, except, types, owner, group, mode, acls, context })
}

/// A permission glob: matched against names directly under the object, so it
/// cannot contain `/` (`**` alone matches everything below).
fn glob(ctx: &Ctx<'_>, path: &str, node: &Node) -> Result<String, AppSpecError> {
    const GLOB: &str = "a file-name glob such as *.sh (or ** for everything)";
    let text = string(ctx, path, node, GLOB)?;
    if text != "**" && text.contains('/') {
        return Err(ctx.at(
            path,
            node,
            format!("expected {GLOB}, got {text:?}; globs match names directly under the object and cannot contain /"),
        ));
    }
    Ok(text)
}

fn object_types(ctx: &Ctx<'_>, path: &str, node: &Node) -> Result<Vec<ObjectType>, AppSpecError> {
    const TYPE: &str = "file or directory";
    let items = list(ctx, path, node, "a list of object types (file, directory)")?;
    if items.is_empty() {
        return Err(ctx.expected(path, node, "a list with file, directory or both"));
    }
    let mut types = Vec::with_capacity(2);
    for (i, item) in items.iter().enumerate() {
        let key = index(path, i);
        let t = match &item.value {
            Value::Scalar(s) if s.text == "file" => ObjectType::File,
            Value::Scalar(s) if s.text == "directory" => ObjectType::Directory,
            _ => return Err(ctx.expected(&key, item, TYPE)),
        };
        if !types.contains(&t) {
            types.push(t);
        }
    }
    Ok(types)
}

/// `mode`: one to four octal digits, left-padded with zeros.
///
/// YAML reads `mode: 644` as the integer 644; its decimal digits are the octal
/// digits the author meant, so the raw text is used for every form (`644`,
/// `0644`, `"644"`, `'0644'`, and the YAML 1.2 octal `0o644`) and means 0o644.
fn mode(ctx: &Ctx<'_>, path: &str, node: &Node) -> Result<u32, AppSpecError> {
    const MODE: &str = "1 to 4 octal digits such as 644 or 2755";
    let Value::Scalar(s) = &node.value else { return Err(ctx.expected(path, node, MODE)) };
    let text = s.text.trim();
    let digits = text.strip_prefix("0o").unwrap_or(text);
    if digits.is_empty() || digits.chars().count() > 4 {
        return Err(ctx.expected(path, node, MODE));
    }
    if let Some(bad) = digits.chars().find(|c| !('0'..='7').contains(c)) {
        return Err(ctx.at(path, node, format!("expected {MODE}, got {text:?}, whose {bad:?} is not an octal digit")));
    }
    u32::from_str_radix(digits, 8).map_err(|_| ctx.expected(path, node, MODE))
}

/// One ACL entry, `[d[efault]:][u[ser]|g[roup]|m[ask]|o[ther]]:[name]:perms`,
/// as CodeDeploy's `ace_info.rb` reads it: 2 to 4 colon-separated parts read
/// from the right; perms are letters from `rwx-` or a single octal digit.
fn ace(text: &str) -> Result<Ace, String> {
    let parts: Vec<&str> = text.split(':').rev().collect();
    if !(2..=4).contains(&parts.len()) {
        return Err(format!("expected 2 to 4 colon-separated parts, got {}", parts.len()));
    }
    let mut default = false;
    let mut kind: Option<AceKind> = None;
    let mut name = String::new();
    if parts.len() == 4 {
        if !matches!(parts[3], "d" | "default") {
            return Err(format!("the first of four parts must be d or default, got {:?}", parts[3]));
        }
        default = true;
    }
    if parts.len() >= 3 {
        match parts[2] {
            "d" | "default" if default => return Err("default is given twice".to_owned()),
            "d" | "default" => default = true,
            "u" | "user" => kind = Some(AceKind::User),
            "g" | "group" => kind = Some(AceKind::Group),
            "m" | "mask" => kind = Some(AceKind::Mask),
            "o" | "other" => kind = Some(AceKind::Other),
            other => return Err(format!("expected u, g, m, o (or user, group, mask, other), got {other:?}")),
        }
    }
    match (parts[1], kind) {
        ("m" | "mask", None) => kind = Some(AceKind::Mask),
        ("o" | "other", None) => kind = Some(AceKind::Other),
        (n, None) => {
            kind = Some(AceKind::User);
            name = n.to_owned();
        }
        (n, Some(_)) => name = n.to_owned(),
    }
    let kind = kind.unwrap_or(AceKind::User);
    if matches!(kind, AceKind::Mask | AceKind::Other) && !name.is_empty() {
        return Err("mask and other entries take no name".to_owned());
    }
    if !default && kind != AceKind::Mask && name.is_empty() {
        return Err("an entry for the owner, owning group or other needs no ACL; use mode for it".to_owned());
    }
    let perms = parts[0];
    let (mut r, mut w, mut x) = (false, false, false);
    let mut chars = perms.chars();
    match (chars.next(), chars.next()) {
        (Some(d @ '0'..='7'), None) => {
            let bits = d as u32 - '0' as u32;
            (r, w, x) = (bits & 4 != 0, bits & 2 != 0, bits & 1 != 0);
        }
        _ => {
            for c in perms.chars() {
                match c {
                    'r' => r = true,
                    'w' => w = true,
                    'x' => x = true,
                    '-' => {}
                    other => return Err(format!("permissions take r, w, x and -, got {other:?}")),
                }
            }
        }
    }
    let perms: String = [(r, 'r'), (w, 'w'), (x, 'x')].iter().map(|&(on, c)| if on { c } else { '-' }).collect();
    Ok(Ace { default, kind, name, perms })
}

fn context(ctx: &Ctx<'_>, path: &str, node: &Node) -> Result<SeLinuxContext, AppSpecError> {
    let fields = Fields::of(ctx, path, node, "an SELinux context mapping {name, type, range}")?;
    if let Some((key, _)) = fields.entry("role") {
        return Err(ctx.err(
            &fields.path_of("role"),
            Some(key.line),
            "an SELinux role cannot be set (CodeDeploy does not support it either); expected only name, type and range",
        ));
    }
    fields.check_known(ctx, &["name", "type", "range"])?;
    let user = fields.opt_string(ctx, "name", "an SELinux user name")?;
    let type_ = fields.req_string(ctx, "type", "an SELinux type such as httpd_sys_content_t")?;
    let range = match fields.get("range") {
        None => None,
        Some(n) => {
            let key = fields.path_of("range");
            let text = string(ctx, &key, n, "an MLS range such as s0-s1:c0.c5")?;
            Some(
                selinux_range(text.trim())
                    .map_err(|why| ctx.at(&key, n, format!("invalid SELinux range {text:?}: {why}")))?,
            )
        }
    };
    Ok(SeLinuxContext { user, type_, range })
}

/// Highest SELinux category number.
const MAX_CATEGORY: usize = 1023;

/// Validates `sN[-sM][:cX[.cY],…]` (as `range_info.rb`) and returns it in
/// canonical form: categories sorted, runs written as `cX.cY`.
fn selinux_range(text: &str) -> Result<String, String> {
    let (levels, categories) = split_once_nonempty(text, ':')?;
    let (low, high) = split_once_nonempty(levels, '-')?;
    let low = level(low, 's', "sensitivity")?;
    let high = match high {
        Some(h) => level(h, 's', "sensitivity")?,
        None => low,
    };
    if high < low {
        return Err(format!("the high sensitivity s{high} is below the low one s{low}"));
    }
    let mut out = if low == high { format!("s{low}") } else { format!("s{low}-s{high}") };
    let Some(categories) = categories else { return Ok(out) };
    let mut set = [false; MAX_CATEGORY + 1];
    for part in categories.split(',') {
        let (first, last) = split_once_nonempty(part, '.')?;
        let first = category(first)?;
        let last = match last {
            Some(l) => category(l)?,
            None => first,
        };
        if last < first {
            return Err(format!("the category range c{first}.c{last} runs backwards"));
        }
        for (c, seen) in set.iter_mut().enumerate().take(last + 1).skip(first) {
            if std::mem::replace(seen, true) {
                return Err(format!("category c{c} is given more than once"));
            }
        }
    }
    // Write the categories back in order, runs of consecutive ones as cX.cY.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for c in (0..=MAX_CATEGORY).filter(|&c| set[c]) {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == c => *end = c,
            _ => runs.push((c, c)),
        }
    }
    let runs: Vec<String> =
        runs.iter().map(|&(a, b)| if a == b { format!("c{a}") } else { format!("c{a}.c{b}") }).collect();
    out.push(':');
    out.push_str(&runs.join(","));
    Ok(out)
}

/// Splits at the first `sep`; both sides must be non-empty.
fn split_once_nonempty(text: &str, sep: char) -> Result<(&str, Option<&str>), String> {
    let (a, b) = match text.split_once(sep) {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    if a.is_empty() || b.is_some_and(str::is_empty) {
        return Err(format!("{text:?} has an empty part around {sep:?}"));
    }
    Ok((a, b))
}

/// `s0`, `c12`: the letter then decimal digits.
fn level(text: &str, letter: char, what: &str) -> Result<usize, String> {
    let digits = text.strip_prefix(letter).unwrap_or("");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected a {what} such as {letter}0, got {text:?}"));
    }
    digits.parse().map_err(|_| format!("the {what} {text:?} is too large"))
}

fn category(text: &str) -> Result<usize, String> {
    let c = level(text, 'c', "category")?;
    if c > MAX_CATEGORY {
        return Err(format!("category {text} is above c{MAX_CATEGORY}"));
    }
    Ok(c)
}

/// Whether `path` is absolute for `os`.
fn is_absolute(os: Os, path: &str) -> bool {
    match os {
        Os::Linux => path.starts_with('/'),
        Os::Windows => {
            let b = path.as_bytes();
            let drive = b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && matches!(b[2], b'\\' | b'/');
            drive || path.starts_with('\\') || path.starts_with('/')
        }
    }
}

/// Whether a revision-relative `path` climbs above the revision root with `..`.
fn escapes_root(os: Os, path: &str) -> bool {
    let separators: &[char] = match os {
        Os::Linux => &['/'],
        Os::Windows => &['/', '\\'],
    };
    let mut depth = 0usize;
    for part in path.split(separators) {
        match part {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return true,
            },
            _ => depth += 1,
        }
    }
    false
}
