//! Permission patterns (`linux_permission_info.rb`).

use std::path::Path;

/// Matches one file name against a `permissions` `pattern`/`except` entry,
/// as CodeDeploy's `matches_simple_glob`: `*` matches any run of characters
/// (including none), every other character matches itself, and a name
/// containing `/` never matches. ferry also accepts `?` for any one
/// character (CodeDeploy takes `?` literally).
pub fn matches_simple_glob(name: &str, pattern: &str) -> bool {
    if name.contains('/') {
        return false;
    }
    let name: Vec<char> = name.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    // Classic wildcard matching with backtracking to the last `*`.
    let (mut n, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == '?' || (pattern[p] != '*' && pattern[p] == name[n])) {
            n += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, n));
            p += 1;
        } else if let Some((star_p, star_n)) = star {
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// The part of `path` below `object`, if `path` is strictly under it.
fn relative<'a>(path: &'a Path, object: &Path) -> Option<&'a str> {
    let rel = path.strip_prefix(object).ok()?;
    let rel = rel.to_str()?;
    (!rel.is_empty()).then_some(rel)
}

/// `matches_pattern?`: `path` is strictly under `object` and either the
/// pattern is `**` (any depth) or `path` is a direct child whose name
/// matches the pattern.
pub(crate) fn matches_pattern(path: &Path, object: &Path, pattern: &str) -> bool {
    match relative(path, object) {
        Some(_) if pattern == "**" => true,
        Some(rel) => matches_simple_glob(rel, pattern),
        None => false,
    }
}

/// `matches_except?`: `path` is a direct child of `object` whose name matches
/// one of the `except` patterns (these are simple globs, so deeper paths are
/// never excepted).
pub(crate) fn matches_except(path: &Path, object: &Path, except: &[String]) -> bool {
    relative(path, object).is_some_and(|rel| except.iter().any(|e| matches_simple_glob(rel, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_globs() {
        assert!(matches_simple_glob("app.conf", "*.conf"));
        assert!(matches_simple_glob("app.conf", "*"));
        assert!(matches_simple_glob("app.conf", "app.conf"));
        assert!(matches_simple_glob("app.conf", "a*p*f"));
        assert!(matches_simple_glob("app.conf", "app.con?"));
        assert!(matches_simple_glob("abcbcd", "a*bcd"));
        assert!(matches_simple_glob("x", "**"));
        assert!(!matches_simple_glob("app.conf", "*.txt"));
        assert!(!matches_simple_glob("app.conf", "app"));
        assert!(!matches_simple_glob("app", "app.conf"));
        assert!(!matches_simple_glob("a/b", "*"));
        assert!(!matches_simple_glob("ab", "a?b"));
        assert!(!matches_simple_glob("x", ""));
    }

    #[test]
    fn patterns_and_excepts() {
        let obj = Path::new("/opt/app");
        assert!(matches_pattern(Path::new("/opt/app/a/b"), obj, "**"));
        assert!(!matches_pattern(Path::new("/opt/app"), obj, "**"));
        assert!(!matches_pattern(Path::new("/opt/application"), obj, "**"));
        assert!(matches_pattern(Path::new("/opt/app/a.sh"), obj, "*.sh"));
        assert!(!matches_pattern(Path::new("/opt/app/bin/a.sh"), obj, "*.sh"));
        assert!(matches_pattern(Path::new("/x"), Path::new("/"), "x"));
        assert!(matches_except(Path::new("/opt/app/a.sh"), obj, &["*.sh".into()]));
        assert!(!matches_except(Path::new("/opt/app/bin/a.sh"), obj, &["*.sh".into()]));
    }
}
