//! The environment a build's commands see (CodeBuild UG
//! `build-env-ref-env-vars`, `build-spec-ref` `env/variables`).
//!
//! - CodeBuild sets `AWS_REGION`/`AWS_DEFAULT_REGION` and the `CODEBUILD_*`
//!   variables: `CODEBUILD_BUILD_ARN`, `_BUILD_ID` (`project:uuid`),
//!   `_BUILD_IMAGE`, `_BUILD_NUMBER`, `_BUILD_SUCCEEDING` (1/0), `_INITIATOR`
//!   (`codepipeline/<name>`, a user, `GitHub-Hookshot/…`), `_KMS_KEY_ID`,
//!   `_LOG_PATH`, `_PROJECT_ARN`, `_PUBLIC_BUILD_URL`, `_START_TIME`
//!   (milliseconds since the epoch), `_RESOLVED_SOURCE_VERSION` (the commit;
//!   set only after DOWNLOAD_SOURCE and not for S3 sources),
//!   `_SOURCE_REPO_URL`, `_SOURCE_VERSION` (e.g. `pr/12`), `_SRC_DIR`, the
//!   same three suffixed `_<sourceIdentifier>` per secondary source,
//!   `_BATCH_BUILD_IDENTIFIER`, and for webhook builds
//!   `_WEBHOOK_{ACTOR_ACCOUNT_ID,BASE_REF,EVENT,HEAD_REF,MERGE_COMMIT,PREV_COMMIT,TRIGGER}`
//!   (TRIGGER is `pr/N`, `branch/x` or `tag/x`). Real builds also carry
//!   `CODEBUILD_CI=true`, which tools use to detect CodeBuild.
//! - User variables: "Do not set any environment variable with a name that
//!   starts with `CODEBUILD_`. This prefix is reserved for internal use."
//! - "If an environment variable with the same name is defined in multiple
//!   places": StartBuild's override wins, then the project's, then the
//!   buildspec's ([`resolve_precedence`]). The built-in variables are set last
//!   and no user variable can replace them.

/// Why `name` cannot be a user-defined variable, if it cannot.
pub fn check_user_variable_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("expected a variable name, got an empty one".to_owned());
    }
    if name.contains(['=', '\0']) || name.chars().any(char::is_whitespace) {
        return Err(format!("`{name}` is not a usable variable name (no `=`, spaces or NUL)"));
    }
    if name.starts_with("CODEBUILD_") {
        return Err(format!("`{name}`: the CODEBUILD_ prefix is reserved for the variables the build sets itself"));
    }
    Ok(())
}

/// The user variables of a build, one value per name: StartBuild's override
/// over the project's over the buildspec's. Each layer is in its own order;
/// the result is sorted by name.
pub fn resolve_precedence<V: Clone>(
    buildspec: &[(String, V)],
    project: &[(String, V)],
    start_build: &[(String, V)],
) -> Vec<(String, V)> {
    let mut merged: std::collections::BTreeMap<String, V> = std::collections::BTreeMap::new();
    for layer in [buildspec, project, start_build] {
        for (name, value) in layer {
            merged.insert(name.clone(), value.clone());
        }
    }
    merged.into_iter().collect()
}

/// Where the build came from when a forge webhook started it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Webhook {
    pub actor_account_id: String,
    pub base_ref: String,
    /// `PUSH`, `PULL_REQUEST_CREATED`, …
    pub event: String,
    pub head_ref: String,
    pub merge_commit: String,
    pub prev_commit: String,
    /// `pr/N`, `branch/x` or `tag/x`.
    pub trigger: String,
}

/// A secondary source's directory and version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecondarySource {
    /// The source identifier (suffix of the variable names).
    pub id: String,
    pub src_dir: String,
    pub source_version: Option<String>,
    pub repo_url: Option<String>,
}

/// The built-in variables of one build, as the runner knows them. Optional
/// ones are left out of the environment when unset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildVariables {
    /// `project:uuid`.
    pub build_id: String,
    pub build_arn: Option<String>,
    pub build_number: u64,
    pub build_image: Option<String>,
    pub project_arn: Option<String>,
    pub region: Option<String>,
    pub initiator: String,
    pub kms_key_id: Option<String>,
    pub log_path: Option<String>,
    pub public_build_url: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub start_time_ms: u64,
    pub src_dir: String,
    pub source_repo_url: Option<String>,
    pub source_version: Option<String>,
    /// Known after DOWNLOAD_SOURCE, and only for version-controlled sources.
    pub resolved_source_version: Option<String>,
    pub secondary_sources: Vec<SecondarySource>,
    pub batch_build_identifier: Option<String>,
    pub webhook: Option<Webhook>,
}

impl BuildVariables {
    /// The built-in variables with `CODEBUILD_BUILD_SUCCEEDING` as given,
    /// sorted by name.
    pub fn render(&self, succeeding: bool) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        let mut set = |name: &str, value: &str| env.push((name.to_owned(), value.to_owned()));
        let mut opt = |name: &str, value: &Option<String>| {
            if let Some(v) = value {
                set(name, v);
            }
        };
        opt("AWS_REGION", &self.region);
        opt("AWS_DEFAULT_REGION", &self.region);
        opt("CODEBUILD_BUILD_ARN", &self.build_arn);
        opt("CODEBUILD_BUILD_IMAGE", &self.build_image);
        opt("CODEBUILD_PROJECT_ARN", &self.project_arn);
        opt("CODEBUILD_KMS_KEY_ID", &self.kms_key_id);
        opt("CODEBUILD_LOG_PATH", &self.log_path);
        opt("CODEBUILD_PUBLIC_BUILD_URL", &self.public_build_url);
        opt("CODEBUILD_SOURCE_REPO_URL", &self.source_repo_url);
        opt("CODEBUILD_SOURCE_VERSION", &self.source_version);
        opt("CODEBUILD_RESOLVED_SOURCE_VERSION", &self.resolved_source_version);
        opt("CODEBUILD_BATCH_BUILD_IDENTIFIER", &self.batch_build_identifier);
        for s in &self.secondary_sources {
            env.push((format!("CODEBUILD_SRC_DIR_{}", s.id), s.src_dir.clone()));
            if let Some(v) = &s.source_version {
                env.push((format!("CODEBUILD_SOURCE_VERSION_{}", s.id), v.clone()));
            }
            if let Some(v) = &s.repo_url {
                env.push((format!("CODEBUILD_SOURCE_REPO_URL_{}", s.id), v.clone()));
            }
        }
        let fixed = [
            ("CODEBUILD_CI", "true".to_owned()),
            ("CODEBUILD_BUILD_ID", self.build_id.clone()),
            ("CODEBUILD_BUILD_NUMBER", self.build_number.to_string()),
            ("CODEBUILD_BUILD_SUCCEEDING", if succeeding { "1" } else { "0" }.to_owned()),
            ("CODEBUILD_INITIATOR", self.initiator.clone()),
            ("CODEBUILD_START_TIME", self.start_time_ms.to_string()),
            ("CODEBUILD_SRC_DIR", self.src_dir.clone()),
        ];
        env.extend(fixed.into_iter().map(|(k, v)| (k.to_owned(), v)));
        if let Some(w) = &self.webhook {
            let hooks = [
                ("CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID", &w.actor_account_id),
                ("CODEBUILD_WEBHOOK_BASE_REF", &w.base_ref),
                ("CODEBUILD_WEBHOOK_EVENT", &w.event),
                ("CODEBUILD_WEBHOOK_HEAD_REF", &w.head_ref),
                ("CODEBUILD_WEBHOOK_MERGE_COMMIT", &w.merge_commit),
                ("CODEBUILD_WEBHOOK_PREV_COMMIT", &w.prev_commit),
                ("CODEBUILD_WEBHOOK_TRIGGER", &w.trigger),
            ];
            env.extend(hooks.into_iter().map(|(k, v)| (k.to_owned(), v.clone())));
        }
        env.sort();
        env
    }
}

/// The whole environment of a phase: the user variables (already resolved
/// with [`resolve_precedence`]), then the built-ins, which win. Sorted by name.
pub fn build_environment(
    user: &[(String, String)],
    builtins: &BuildVariables,
    succeeding: bool,
) -> Vec<(String, String)> {
    resolve_precedence(user, &builtins.render(succeeding), &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn start_build_beats_project_beats_buildspec() {
        let buildspec = [s("A", "spec"), s("B", "spec"), s("C", "spec")];
        let project = [s("B", "project"), s("C", "project")];
        let start = [s("C", "start"), s("D", "start")];
        assert_eq!(
            resolve_precedence(&buildspec, &project, &start),
            vec![s("A", "spec"), s("B", "project"), s("C", "start"), s("D", "start")]
        );
        // Each layer alone, and order within a layer: the last one given wins.
        assert_eq!(resolve_precedence(&[s("A", "1"), s("A", "2")], &[], &[]), vec![s("A", "2")]);
        assert!(resolve_precedence::<String>(&[], &[], &[]).is_empty());
    }

    #[test]
    fn reserved_and_unusable_names() {
        assert!(check_user_variable_name("JAVA_HOME").is_ok());
        assert!(check_user_variable_name("AWS_PROFILE").is_ok());
        assert!(check_user_variable_name("CODEBUILD_X").unwrap_err().contains("reserved"));
        assert!(check_user_variable_name("").is_err());
        assert!(check_user_variable_name("A=B").is_err());
        assert!(check_user_variable_name("A B").is_err());
        assert!(check_user_variable_name("A\0").is_err());
        // The prefix is case-sensitive, as the guide writes it.
        assert!(check_user_variable_name("codebuild_x").is_ok());
    }

    fn sample() -> BuildVariables {
        BuildVariables {
            build_id: "web:0f5b1c9e".into(),
            build_number: 7,
            initiator: "alice".into(),
            start_time_ms: 1_700_000_000_123,
            src_dir: "/codebuild/output/src1/src".into(),
            source_version: Some("pr/12".into()),
            resolved_source_version: Some("ef92d61ca5d9d843a87a4022f99925d2e211a2f4".into()),
            region: Some("eu-west-1".into()),
            ..BuildVariables::default()
        }
    }

    #[test]
    fn renders_the_builtins_and_leaves_unset_ones_out() {
        let env = sample().render(true);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CODEBUILD_BUILD_ID"), Some("web:0f5b1c9e"));
        assert_eq!(get("CODEBUILD_BUILD_NUMBER"), Some("7"));
        assert_eq!(get("CODEBUILD_BUILD_SUCCEEDING"), Some("1"));
        assert_eq!(get("CODEBUILD_INITIATOR"), Some("alice"));
        assert_eq!(get("CODEBUILD_START_TIME"), Some("1700000000123"));
        assert_eq!(get("CODEBUILD_SRC_DIR"), Some("/codebuild/output/src1/src"));
        assert_eq!(get("CODEBUILD_SOURCE_VERSION"), Some("pr/12"));
        assert_eq!(get("CODEBUILD_RESOLVED_SOURCE_VERSION"), Some("ef92d61ca5d9d843a87a4022f99925d2e211a2f4"));
        assert_eq!(get("AWS_REGION"), Some("eu-west-1"));
        assert_eq!(get("AWS_DEFAULT_REGION"), Some("eu-west-1"));
        assert_eq!(get("CODEBUILD_CI"), Some("true"));
        assert_eq!(get("CODEBUILD_BUILD_ARN"), None);
        assert_eq!(get("CODEBUILD_WEBHOOK_TRIGGER"), None);
        assert_eq!(sample().render(false).iter().find(|(n, _)| n == "CODEBUILD_BUILD_SUCCEEDING").unwrap().1, "0");
        let mut sorted = env.clone();
        sorted.sort();
        assert_eq!(env, sorted);
    }

    #[test]
    fn webhook_and_secondary_source_variables() {
        let mut vars = sample();
        vars.webhook = Some(Webhook {
            event: "PUSH".into(),
            head_ref: "refs/heads/main".into(),
            trigger: "branch/main".into(),
            prev_commit: "abc".into(),
            ..Webhook::default()
        });
        vars.secondary_sources = vec![SecondarySource {
            id: "lib".into(),
            src_dir: "/codebuild/output/src1/lib".into(),
            source_version: Some("v2".into()),
            repo_url: None,
        }];
        let env = vars.render(true);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CODEBUILD_WEBHOOK_EVENT"), Some("PUSH"));
        assert_eq!(get("CODEBUILD_WEBHOOK_HEAD_REF"), Some("refs/heads/main"));
        assert_eq!(get("CODEBUILD_WEBHOOK_TRIGGER"), Some("branch/main"));
        assert_eq!(get("CODEBUILD_WEBHOOK_PREV_COMMIT"), Some("abc"));
        // Present though empty: scripts test `-z "$CODEBUILD_WEBHOOK_BASE_REF"`.
        assert_eq!(get("CODEBUILD_WEBHOOK_BASE_REF"), Some(""));
        assert_eq!(get("CODEBUILD_SRC_DIR_lib"), Some("/codebuild/output/src1/lib"));
        assert_eq!(get("CODEBUILD_SOURCE_VERSION_lib"), Some("v2"));
        assert_eq!(get("CODEBUILD_SOURCE_REPO_URL_lib"), None);
    }

    #[test]
    fn builtins_win_over_user_variables() {
        let user = [s("AWS_REGION", "mine"), s("PATH", "$PATH:/x")];
        let env = build_environment(&user, &sample(), false);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("AWS_REGION"), Some("eu-west-1"));
        // Literal: no expansion anywhere.
        assert_eq!(get("PATH"), Some("$PATH:/x"));
        assert_eq!(get("CODEBUILD_BUILD_SUCCEEDING"), Some("0"));
    }
}
