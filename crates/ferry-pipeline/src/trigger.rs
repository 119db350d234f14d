//! Which git events start a pipeline: V2 trigger filters (CodePipeline UG
//! "Filter triggers on code push or pull requests", "Trigger filtering in
//! the pipeline JSON").
//!
//! - A trigger's filters are alternatives (OR); the criteria inside one
//!   filter must all hold (AND).
//! - A push filter on `branches` matches branch pushes, one on `tags` tag
//!   pushes; `filePaths` (with `branches`) needs a changed file that
//!   matches.
//! - A pull-request filter matches the events it lists (all of OPEN,
//!   UPDATED, CLOSED when it lists none) on pull requests *into* a branch
//!   its `branches` match (the destination branch), with `filePaths` as for
//!   pushes. CodePipeline runs the source branch's commit.
//! - A criterion holds for a name that matches an include (or any name when
//!   there are no includes) and no exclude: excludes win.
//! - Patterns are globs: `*` any characters but `/`, `**` any characters
//!   including `/`, `?` one character but `/`, `[abc]`, `[a-z]`, `[!a]`
//!   classes, `{a,b}` alternatives, `\` escapes the next character.
//! - A filter on something the event does not carry (file paths of an event
//!   that lists none) matches nothing, as in `ferry-webhook`.

use crate::model::{GitConfiguration, IncludeExclude, PullRequestEvent};

/// A git event, as the server reads it from a forge's webhook or a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitEvent {
    /// A push of a branch (`refs/heads/<branch>`) or a tag (`refs/tags/<tag>`).
    Push { reference: GitRef, changed_files: Option<Vec<String>> },
    PullRequest {
        event: PullRequestEvent,
        source_branch: String,
        destination_branch: String,
        changed_files: Option<Vec<String>>,
    },
}

/// What a push updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    Branch(String),
    Tag(String),
}

/// Whether `event` starts the pipeline through this trigger.
pub fn matches(trigger: &GitConfiguration, event: &GitEvent) -> bool {
    match event {
        GitEvent::Push { reference, changed_files } => trigger.push.iter().any(|f| {
            let name_ok = match (reference, &f.branches, &f.tags) {
                (GitRef::Branch(b), Some(c), _) => holds(c, b),
                (GitRef::Tag(t), _, Some(c)) => holds(c, t),
                _ => false,
            };
            name_ok && files_hold(f.file_paths.as_ref(), changed_files.as_deref())
        }),
        GitEvent::PullRequest { event, destination_branch, changed_files, .. } => {
            trigger.pull_request.iter().any(|f| {
                (f.events.is_empty() || f.events.contains(event))
                    && f.branches.as_ref().is_some_and(|c| holds(c, destination_branch))
                    && files_hold(f.file_paths.as_ref(), changed_files.as_deref())
            })
        }
    }
}

/// Includes (any, or none given) and no exclude.
fn holds(c: &IncludeExclude, name: &str) -> bool {
    (c.includes.is_empty() || c.includes.iter().any(|p| glob(p, name))) && !c.excludes.iter().any(|p| glob(p, name))
}

fn files_hold(c: Option<&IncludeExclude>, files: Option<&[String]>) -> bool {
    match (c, files) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(c), Some(files)) => files.iter().any(|f| holds(c, f)),
    }
}

/// Most alternatives one pattern may expand to through `{…}`.
pub const MAX_ALTERNATIVES: usize = 64;

/// Why a pattern is not a glob ferry can match, if it is not.
pub fn check_glob(pattern: &str) -> Result<(), String> {
    let mut chars = pattern.chars();
    let mut depth = 0usize;
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            // The guard steps over the escaped character.
            '\\' if chars.next().is_none() => return Err("ends with an unescaped `\\`".into()),
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '{' if !in_class => depth += 1,
            '}' if !in_class => depth = depth.checked_sub(1).ok_or("has a `}` without its `{`")?,
            _ => {}
        }
    }
    if in_class {
        return Err("has a `[` without its `]`".into());
    }
    if depth > 0 {
        return Err("has a `{` without its `}`".into());
    }
    if expand(pattern).len() > MAX_ALTERNATIVES {
        return Err(format!("expands to more than {MAX_ALTERNATIVES} alternatives"));
    }
    Ok(())
}

/// Longest text matched (longer never matches): a bound on the matcher's
/// memory and recursion depth for forge-sent paths.
pub const MAX_TEXT: usize = 4096;

/// Whether `text` matches the glob `pattern`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    if text.len() > MAX_TEXT || pattern.chars().count() > 1024 {
        return false;
    }
    let alternatives = expand(pattern);
    alternatives.len() <= MAX_ALTERNATIVES
        && alternatives.iter().any(|p| {
            let p: Vec<char> = p.chars().collect();
            let mut memo = vec![None; (p.len() + 1) * (text.len() + 1)];
            match_at(&p, &text, 0, 0, &mut memo)
        })
}

/// `{a,b}` alternatives expanded (innermost braces included), bounded.
fn expand(pattern: &str) -> Vec<String> {
    let chars: Vec<char> = pattern.chars().collect();
    // Find the first top-level `{` outside a class or an escape.
    let (mut i, mut in_class) = (0, false);
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '{' if !in_class => break,
            _ => {}
        }
        i += 1;
    }
    if i >= chars.len() {
        return vec![pattern.to_owned()];
    }
    // Its matching `}` and the top-level commas between.
    let (mut depth, mut j, mut commas) = (0usize, i, Vec::new());
    while j < chars.len() {
        match chars[j] {
            '\\' => j += 1,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => commas.push(j),
            _ => {}
        }
        j += 1;
    }
    if j >= chars.len() {
        return vec![pattern.to_owned()];
    }
    let prefix: String = chars[..i].iter().collect();
    let suffix: String = chars[j + 1..].iter().collect();
    let mut bounds = vec![i];
    bounds.extend(&commas);
    bounds.push(j);
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let middle: String = chars[w[0] + 1..w[1]].iter().collect();
        for expanded in expand(&format!("{prefix}{middle}{suffix}")) {
            out.push(expanded);
            if out.len() > MAX_ALTERNATIVES {
                return out;
            }
        }
    }
    out
}

/// Memoised matcher (`memo[pi][ti]`): each state is decided once from a
/// constant number of others, so time is linear in pattern × text.
fn match_at(p: &[char], t: &[char], pi: usize, ti: usize, memo: &mut [Option<bool>]) -> bool {
    let key = pi * (t.len() + 1) + ti;
    if let Some(known) = memo[key] {
        return known;
    }
    let result = if pi == p.len() {
        ti == t.len()
    } else {
        match p[pi] {
            '*' if p.get(pi + 1) == Some(&'*') => {
                // `**` matches nothing, or one more character and stays; `**/`
                // may also match zero directories.
                let next = pi + 2;
                (p.get(next) == Some(&'/') && match_at(p, t, next + 1, ti, memo))
                    || match_at(p, t, next, ti, memo)
                    || (ti < t.len() && match_at(p, t, pi, ti + 1, memo))
            }
            '*' => {
                match_at(p, t, pi + 1, ti, memo) || (ti < t.len() && t[ti] != '/' && match_at(p, t, pi, ti + 1, memo))
            }
            '?' => ti < t.len() && t[ti] != '/' && match_at(p, t, pi + 1, ti + 1, memo),
            '[' => match class(p, pi) {
                Some((set_matches, end)) => {
                    ti < t.len() && t[ti] != '/' && set_matches(t[ti]) && match_at(p, t, end, ti + 1, memo)
                }
                None => ti < t.len() && t[ti] == '[' && match_at(p, t, pi + 1, ti + 1, memo),
            },
            '\\' if pi + 1 < p.len() => ti < t.len() && t[ti] == p[pi + 1] && match_at(p, t, pi + 2, ti + 1, memo),
            c => ti < t.len() && t[ti] == c && match_at(p, t, pi + 1, ti + 1, memo),
        }
    };
    memo[key] = Some(result);
    result
}

/// The class starting at `p[start] == '['`: a predicate and the index
/// after its `]`.
#[allow(clippy::type_complexity)]
fn class(p: &[char], start: usize) -> Option<(Box<dyn Fn(char) -> bool + '_>, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let first = i;
    while i < p.len() && (p[i] != ']' || i == first) {
        i += 1;
    }
    if i >= p.len() {
        return None;
    }
    let body = &p[first..i];
    let f = move |c: char| {
        let mut k = 0;
        let mut hit = false;
        while k < body.len() {
            if k + 2 < body.len() && body[k + 1] == '-' {
                hit |= body[k] <= c && c <= body[k + 2];
                k += 3;
            } else {
                hit |= body[k] == c;
                k += 1;
            }
        }
        hit != negate
    };
    Some((Box::new(f), i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GitPullRequestFilter, GitPushFilter};

    fn criteria(includes: &[&str], excludes: &[&str]) -> Option<IncludeExclude> {
        Some(IncludeExclude {
            includes: includes.iter().map(|s| s.to_string()).collect(),
            excludes: excludes.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn globs() {
        let cases: &[(&str, &str, bool)] = &[
            ("main", "main", true),
            ("main", "mainline", false),
            ("feature/*", "feature/login", true),
            ("feature/*", "feature/a/b", false),
            ("feature/**", "feature/a/b", true),
            ("release-v?", "release-v1", true),
            ("release-v?", "release-v10", false),
            ("**/README.md", "README.md", true),
            ("**/README.md", "docs/README.md", true),
            ("common/**/*.js", "common/a/b/x.js", true),
            ("common/**/*.js", "common/x.js", true),
            ("common/**/*.js", "common/x.ts", false),
            ("{*.txt,*.md}", "notes.md", true),
            ("{*.txt,*.md}", "notes.rs", false),
            ("src/{a,b{c,d}}/x", "src/bd/x", true),
            ("v[0-9].*", "v1.2", true),
            ("v[!0-9]*", "v1", false),
            ("v[!0-9]*", "vx", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("[", "[", true),
            ("*", "", true),
            ("**", "a/b/c", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob(p, t), *want, "{p} vs {t}");
        }
        // Linear time on adversarial input.
        let long = "a".repeat(200);
        assert!(!glob("*a*a*a*a*a*a*a*a*a*a*a*a*b", &long));
        assert!(!glob("**a**a**a**a**a**a**a**b", &long));
        let path = "a/".repeat(MAX_TEXT / 2 - 1) + "b";
        assert!(glob("**/b", &path));
        assert!(!glob("**", &(path + "/x/y")), "longer than MAX_TEXT");
    }

    #[test]
    fn glob_syntax() {
        assert!(check_glob("feature/**").is_ok());
        assert!(check_glob("{a,b}").is_ok());
        assert_eq!(check_glob("[abc").unwrap_err(), "has a `[` without its `]`");
        assert_eq!(check_glob("{a,b").unwrap_err(), "has a `{` without its `}`");
        assert_eq!(check_glob("a}").unwrap_err(), "has a `}` without its `{`");
        assert_eq!(check_glob("a\\").unwrap_err(), "ends with an unescaped `\\`");
        assert!(check_glob(&"{a,b}".repeat(7)).unwrap_err().contains("more than 64"));
    }

    #[test]
    fn push_and_pull_request_filters() {
        let trigger = GitConfiguration {
            source_action_name: "Source".into(),
            push: vec![
                GitPushFilter {
                    branches: criteria(&["main", "release/**"], &["release/old"]),
                    file_paths: criteria(&["src/**"], &["**/*.md"]),
                    tags: None,
                },
                GitPushFilter { tags: criteria(&["v*"], &[]), ..Default::default() },
            ],
            pull_request: vec![GitPullRequestFilter {
                events: vec![PullRequestEvent::Open, PullRequestEvent::Updated],
                branches: criteria(&["main"], &[]),
                file_paths: None,
            }],
        };
        let push = |r: GitRef, files: Option<&[&str]>| GitEvent::Push {
            reference: r,
            changed_files: files.map(|f| f.iter().map(|s| s.to_string()).collect()),
        };
        let branch = |b: &str| GitRef::Branch(b.into());
        let cases: &[(&str, GitEvent, bool)] = &[
            ("main, a source file", push(branch("main"), Some(&["src/lib.rs"])), true),
            ("main, only docs", push(branch("main"), Some(&["src/README.md", "docs/x"])), false),
            ("release branch", push(branch("release/2.0"), Some(&["src/a.rs"])), true),
            ("excluded branch", push(branch("release/old"), Some(&["src/a.rs"])), false),
            ("other branch", push(branch("dev"), Some(&["src/a.rs"])), false),
            ("no file list", push(branch("main"), None), false),
            ("tag", push(GitRef::Tag("v1.0".into()), None), true),
            ("other tag", push(GitRef::Tag("nightly".into()), None), false),
            (
                "pull request into main",
                GitEvent::PullRequest {
                    event: PullRequestEvent::Open,
                    source_branch: "feature/x".into(),
                    destination_branch: "main".into(),
                    changed_files: None,
                },
                true,
            ),
            (
                "closed pull request",
                GitEvent::PullRequest {
                    event: PullRequestEvent::Closed,
                    source_branch: "feature/x".into(),
                    destination_branch: "main".into(),
                    changed_files: None,
                },
                false,
            ),
            (
                "pull request into dev",
                GitEvent::PullRequest {
                    event: PullRequestEvent::Updated,
                    source_branch: "main".into(),
                    destination_branch: "dev".into(),
                    changed_files: None,
                },
                false,
            ),
        ];
        for (what, event, want) in cases {
            assert_eq!(matches(&trigger, event), *want, "{what}");
        }
    }
}
