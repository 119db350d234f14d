//! Variables (CodePipeline UG, "Variables reference").
//!
//! - A reference is `#{namespace.name}` inside an action's configuration
//!   value. Namespaces: `codepipeline` (reserved: `PipelineExecutionId`),
//!   `variables` (V2 pipeline-level variables, declared with defaults and
//!   overridable at StartPipelineExecution), and the `namespace` of an
//!   action whose output variables (a source's CommitId, BranchName…; a
//!   build's exported variables) become known when it succeeds.
//! - Namespace and name characters are `[A-Za-z0-9@\-_]`; text such as
//!   `#{not a reference}` or a `#{` never closed is left as written.
//! - Resolution is one pass over the text: a value put in is never read
//!   again for references, so a variable's value (a commit message, say)
//!   cannot pull other variables in.
//! - A reference to a namespace or name not known when the action starts
//!   is an error naming it; CodePipeline fails the action the same way.

use std::collections::BTreeMap;

/// The namespace CodePipeline reserves for the execution's own variables.
pub const CODEPIPELINE: &str = "codepipeline";
/// The namespace of V2 pipeline-level variables.
pub const PIPELINE_VARIABLES: &str = "variables";
/// `#{codepipeline.PipelineExecutionId}`.
pub const PIPELINE_EXECUTION_ID: &str = "PipelineExecutionId";

/// Variables known so far: namespace → name → value.
pub type Known = BTreeMap<String, BTreeMap<String, String>>;

/// One `#{namespace.name}` in a text, with its byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub start: usize,
    pub end: usize,
}

impl std::fmt::Display for Reference<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{{{}.{}}}", self.namespace, self.name)
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '@' | '-' | '_')
}

/// Every reference in `text`, in order.
pub fn references(text: &str) -> Vec<Reference<'_>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("#{") {
        let start = from + at;
        let body_start = start + 2;
        let Some(len) = text[body_start..].find('}') else { break };
        let body = &text[body_start..body_start + len];
        if let Some((namespace, name)) = body.split_once('.')
            && !namespace.is_empty()
            && !name.is_empty()
            && namespace.chars().all(is_name_char)
            && name.chars().all(is_name_char)
        {
            let end = body_start + len + 1;
            out.push(Reference { namespace, name, start, end });
            from = end;
        } else {
            from = body_start;
        }
    }
    out
}

/// A reference that could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// `#{namespace.name}`.
    pub reference: String,
    pub message: String,
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Unresolved {}

/// `text` with every reference replaced by its value.
pub fn resolve(text: &str, known: &Known) -> Result<String, Unresolved> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for r in references(text) {
        out.push_str(&text[last..r.start]);
        let Some(space) = known.get(r.namespace) else {
            let mut names: Vec<&str> = known.keys().map(String::as_str).collect();
            names.retain(|n| !n.is_empty());
            return Err(Unresolved {
                reference: r.to_string(),
                message: format!(
                    "cannot resolve {r}: no namespace `{}` is known at this point (known: {})",
                    r.namespace,
                    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
                ),
            });
        };
        let Some(value) = space.get(r.name) else {
            let names: Vec<&str> = space.keys().map(String::as_str).collect();
            return Err(Unresolved {
                reference: r.to_string(),
                message: format!(
                    "cannot resolve {r}: namespace `{}` has no variable `{}` (it has: {})",
                    r.namespace,
                    r.name,
                    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
                ),
            });
        };
        out.push_str(value);
        last = r.end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

/// A configuration map with every value resolved; the error names the key.
pub fn resolve_configuration(
    configuration: &BTreeMap<String, String>,
    known: &Known,
) -> Result<BTreeMap<String, String>, Unresolved> {
    configuration
        .iter()
        .map(|(key, value)| match resolve(value, known) {
            Ok(v) => Ok((key.clone(), v)),
            Err(e) => Err(Unresolved { message: format!("configuration `{key}`: {}", e.message), ..e }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Known {
        let mut k = Known::new();
        k.entry("codepipeline".into()).or_default().insert("PipelineExecutionId".into(), "e-1".into());
        k.entry("SourceVariables".into()).or_default().insert("CommitId".into(), "abc123".into());
        k.entry("SourceVariables".into())
            .or_default()
            .insert("CommitMessage".into(), "#{codepipeline.PipelineExecutionId}".into());
        k
    }

    #[test]
    fn finds_references_and_leaves_other_text() {
        let refs = references("a #{S.C} b #{not a ref} #{x.y} #{.z} #{open");
        let names: Vec<String> = refs.iter().map(|r| r.to_string()).collect();
        assert_eq!(names, ["#{S.C}", "#{x.y}"]);
        assert!(references("plain").is_empty());
    }

    #[test]
    fn resolves_in_one_pass() {
        let k = known();
        assert_eq!(resolve("commit #{SourceVariables.CommitId}!", &k).unwrap(), "commit abc123!");
        // A value holding a reference is not resolved again.
        assert_eq!(resolve("#{SourceVariables.CommitMessage}", &k).unwrap(), "#{codepipeline.PipelineExecutionId}");
        assert_eq!(
            resolve("#{codepipeline.PipelineExecutionId}-#{codepipeline.PipelineExecutionId}", &k).unwrap(),
            "e-1-e-1"
        );
    }

    #[test]
    fn unresolvable_names_the_reference() {
        let k = known();
        let e = resolve("#{BuildVariables.IMAGE}", &k).unwrap_err();
        assert_eq!(e.reference, "#{BuildVariables.IMAGE}");
        assert!(e.message.contains("no namespace `BuildVariables`"), "{e}");
        let e = resolve("#{SourceVariables.Branch}", &k).unwrap_err();
        assert!(e.message.contains("has no variable `Branch` (it has: CommitId, CommitMessage)"), "{e}");
        let mut c = BTreeMap::new();
        c.insert("ProjectName".to_owned(), "p-#{x.y}".to_owned());
        let e = resolve_configuration(&c, &k).unwrap_err();
        assert!(e.message.starts_with("configuration `ProjectName`: cannot resolve #{x.y}"), "{e}");
    }
}
