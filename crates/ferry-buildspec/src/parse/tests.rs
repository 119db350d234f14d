use super::*;
use crate::{CommandPhase, Phases};

const FILE: &str = "buildspec.yml";

fn ok(text: &str) -> Buildspec {
    parse(FILE, text).unwrap_or_else(|e| panic!("expected a valid buildspec, got: {e}"))
}

fn err(text: &str) -> BuildspecError {
    match parse(FILE, text) {
        Ok(spec) => panic!("expected an error, got {spec:?}"),
        Err(e) => {
            assert_eq!(e.file, FILE);
            e
        }
    }
}

/// `version: 0.2`, a build phase, then `rest`.
fn with(rest: &str) -> String {
    format!("version: 0.2\nphases:\n  build:\n    commands:\n      - make\n{rest}")
}

/// The exact one-line message of the error `text` gives.
fn message(text: &str) -> String {
    err(text).to_string()
}

// The guide's example buildspec (build-spec-ref, "Buildspec example").
const GUIDE_EXAMPLE: &str = r#"version: 0.2

env:
  variables:
    JAVA_HOME: "/usr/lib/jvm/java-8-openjdk-amd64"
  parameter-store:
    LOGIN_PASSWORD: /CodeBuild/dockerLoginPassword

phases:
  install:
    commands:
      - echo Entered the install phase...
      - apt-get update -y
      - apt-get install -y maven
    finally:
      - echo This always runs even if the update or install command fails
  pre_build:
    commands:
      - echo Entered the pre_build phase...
      - docker login -u User -p $LOGIN_PASSWORD
    finally:
      - echo This always runs even if the login command fails
  build:
    commands:
      - echo Entered the build phase...
      - echo Build started on `date`
      - mvn install
    finally:
      - echo This always runs even if the install command fails
  post_build:
    commands:
      - echo Entered the post_build phase...
      - echo Build completed on `date`

reports:
  arn:aws:codebuild:your-region:your-aws-account-id:report-group/report-group-name-1:
    files:
      - "**/*"
    base-directory: 'target/tests/reports'
    discard-paths: no
  reportGroupCucumberJson:
    files:
      - 'cucumber/target/cucumber-tests.xml'
    discard-paths: yes
    file-format: CUCUMBERJSON # default is JUNITXML
artifacts:
  files:
    - target/messageUtil-1.0.jar
  discard-paths: yes
  secondary-artifacts:
    artifact1:
      files:
        - target/artifact-1.0.jar
      discard-paths: yes
    artifact2:
      files:
        - target/artifact-2.0.jar
      discard-paths: yes
cache:
  paths:
    - '/root/.m2/**/*'
"#;

#[test]
fn the_guides_example() {
    let spec = ok(GUIDE_EXAMPLE);
    assert_eq!(spec.env.variables, [("JAVA_HOME".to_string(), "/usr/lib/jvm/java-8-openjdk-amd64".to_string())]);
    assert_eq!(
        spec.env.parameter_store,
        [("LOGIN_PASSWORD".to_string(), "/CodeBuild/dockerLoginPassword".to_string())]
    );
    let install = spec.phases.install.as_ref().unwrap();
    assert_eq!(install.commands.len(), 3);
    assert_eq!(install.finally, ["echo This always runs even if the update or install command fails"]);
    assert_eq!(spec.phases.build.as_ref().unwrap().commands[1], "echo Build started on `date`");
    assert_eq!(spec.phases.post_build.as_ref().unwrap().finally.len(), 0);
    assert_eq!(spec.reports.len(), 2);
    let arn = &spec.reports[0];
    assert!(arn.name.starts_with("arn:aws:codebuild:"));
    assert_eq!(arn.group_name("web"), arn.name);
    assert_eq!(arn.file_format, ReportFormat::JunitXml);
    assert_eq!(arn.base_directory.as_deref(), Some("target/tests/reports"));
    assert!(!arn.discard_paths);
    let cucumber = &spec.reports[1];
    assert_eq!(cucumber.group_name("my-project"), "my-project-reportGroupCucumberJson");
    assert_eq!(cucumber.file_format, ReportFormat::CucumberJson);
    assert!(cucumber.discard_paths);
    let artifacts = spec.artifacts.unwrap();
    assert_eq!(artifacts.primary.selection.files, ["target/messageUtil-1.0.jar"]);
    assert!(artifacts.primary.selection.discard_paths);
    assert_eq!(artifacts.secondary.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["artifact1", "artifact2"]);
    assert_eq!(spec.cache.unwrap().paths, ["/root/.m2/**/*"]);
    assert!(spec.warnings.is_empty());
}

#[test]
fn every_key() {
    let spec = ok(r#"version: "0.2"
run-as: builder
env:
  shell: /bin/sh
  variables:
    PATH: "$PATH:/usr/share/ant/bin"
    RATIO: 1.10
    FLAG: yes
    EMPTY: ""
  secrets-manager:
    TOKEN: "TestSecret:MY_SECRET_VAR"
    ARN_ONE: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf:password::v-1"
  exported-variables:
    - RATIO
  git-credential-helper: yes
proxy:
  upload-artifacts: yes
  logs: no
phases:
  install:
    run-as: root
    on-failure: CONTINUE
    runtime-versions:
      nodejs: 18
      python: 3.x
  build:
    on-failure: ABORT
    commands: make test
artifacts:
  files: '**/*'
  name: myname-$(date +%Y-%m-%d)
  base-directory: 'my-build*'
  exclude-paths: ['**/.*', '**/tmp/**/*']
  enable-symlinks: on
  s3-prefix: builds
cache:
  key: npm-key-$(codebuild-hash-files package-lock.json)
  fallback-keys: [npm-key-, npm-]
  action: restore
  paths: [node_modules/**/*]
"#);
    assert_eq!(spec.run_as.as_deref(), Some("builder"));
    assert_eq!(spec.run_as_for(CommandPhase::Install), Some("root"));
    assert_eq!(spec.run_as_for(CommandPhase::Build), Some("builder"));
    assert_eq!(spec.run_as_for(CommandPhase::PostBuild), Some("builder"));
    assert_eq!(spec.env.shell, Some(Shell::Sh));
    // Literal values, as written.
    assert_eq!(
        spec.env.variables,
        [
            ("PATH".to_string(), "$PATH:/usr/share/ant/bin".to_string()),
            ("RATIO".to_string(), "1.10".to_string()),
            ("FLAG".to_string(), "yes".to_string()),
            ("EMPTY".to_string(), String::new()),
        ]
    );
    let token = &spec.env.secrets_manager[0].1;
    assert_eq!(
        token,
        &SecretRef {
            secret_id: "TestSecret".into(),
            json_key: Some("MY_SECRET_VAR".into()),
            version_stage: None,
            version_id: None
        }
    );
    assert_eq!(token.stage(), Some("AWSCURRENT"));
    assert_eq!(token.to_string(), "TestSecret:MY_SECRET_VAR");
    let arn = &spec.env.secrets_manager[1].1;
    assert_eq!(arn.secret_id, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf");
    assert_eq!(arn.json_key.as_deref(), Some("password"));
    assert_eq!(arn.version_id.as_deref(), Some("v-1"));
    assert_eq!(arn.stage(), None);
    assert_eq!(arn.to_string(), "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf:password::v-1");
    assert_eq!(spec.env.exported_variables, ["RATIO"]);
    assert!(spec.env.git_credential_helper);
    assert_eq!(spec.proxy, Proxy { upload_artifacts: true, logs: false });
    let install = spec.phases.install.as_ref().unwrap();
    assert_eq!(install.on_failure, Some(OnFailure::Continue));
    assert!(install.commands.is_empty());
    assert_eq!(
        install.runtime_versions,
        [("nodejs".to_string(), "18".to_string()), ("python".to_string(), "3.x".to_string())]
    );
    let build = spec.phases.build.as_ref().unwrap();
    assert_eq!(build.on_failure, Some(OnFailure::Abort));
    assert_eq!(build.commands, ["make test"]);
    assert!(spec.phases.pre_build.is_none() && spec.phases.post_build.is_none());
    let a = spec.artifacts.unwrap().primary;
    assert_eq!(a.selection.files, ["**/*"]);
    assert_eq!(a.name.as_deref(), Some("myname-$(date +%Y-%m-%d)"));
    assert_eq!(a.selection.base_directory.as_deref(), Some("my-build*"));
    assert_eq!(a.selection.exclude_paths, ["**/.*", "**/tmp/**/*"]);
    assert!(a.enable_symlinks);
    assert_eq!(a.s3_prefix.as_deref(), Some("builds"));
    let cache = spec.cache.unwrap();
    assert_eq!(cache.key.as_deref(), Some("npm-key-$(codebuild-hash-files package-lock.json)"));
    assert_eq!(cache.fallback_keys, ["npm-key-", "npm-"]);
    assert_eq!(cache.action, Some(CacheAction::Restore));
    assert_eq!(
        spec.warnings,
        [
            "buildspec.yml: phases.install.runtime-versions: ferry does not install runtimes; the build image must already hold nodejs 18, python 3.x (line 23)"
        ]
    );
}

#[test]
fn minimal_and_empty_phases() {
    let spec = ok("version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n");
    assert_eq!(spec.phases.build.unwrap().commands, ["echo hi"]);
    // A phase left empty is as if absent; so are null env and artifacts.
    let spec = ok("version: 0.2\nenv:\nphases:\n  install:\n  build:\n    commands: [a]\nartifacts:\n");
    assert!(spec.phases.install.is_none() && spec.artifacts.is_none());
    let spec = ok("version: 0.2\nphases: {}\n");
    assert_eq!(spec.phases, Phases::default());
}

#[test]
fn yes_no_booleans_as_codebuild_reads_them() {
    for (text, expected) in [
        ("yes", true),
        ("Yes", true),
        ("YES", true),
        ("y", true),
        ("true", true),
        ("True", true),
        ("on", true),
        ("\"yes\"", true),
        ("no", false),
        ("No", false),
        ("n", false),
        ("false", false),
        ("off", false),
        ("'no'", false),
    ] {
        let spec = ok(&format!("version: 0.2\nenv:\n  git-credential-helper: {text}\nphases: {{}}\n"));
        assert_eq!(spec.env.git_credential_helper, expected, "{text}");
    }
    assert_eq!(
        message("version: 0.2\nenv:\n  git-credential-helper: sometimes\nphases: {}\n"),
        "buildspec.yml: env.git-credential-helper: expected yes or no, got \"sometimes\" (line 3)"
    );
}

#[test]
fn commands_are_taken_as_written() {
    let spec = ok(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - true\n      - 42\n      - |\n        for i in 1 2; do\n          echo $i\n        done\n      - \"export PACKAGE_NAME=$(cat package.json | grep name | head -1 | awk -F: '{ print $2 }')\"\n",
    );
    let commands = spec.phases.build.unwrap().commands;
    assert_eq!(commands[0], "true");
    assert_eq!(commands[1], "42");
    assert_eq!(commands[2], "for i in 1 2; do\n  echo $i\ndone\n");
    assert!(commands[3].starts_with("export PACKAGE_NAME=$(cat"));
}

// ---------------------------------------------------------------- bad buildspecs, exact messages

#[test]
fn version_rules() {
    assert_eq!(
        message("phases: {}\n"),
        "buildspec.yml: version: missing required key `version`; expected 0.2 (the buildspec version ferry runs) (line 1)"
    );
    assert_eq!(
        message("version: 0.3\nphases: {}\n"),
        "buildspec.yml: version: expected 0.2 (the buildspec version ferry runs), got 0.3 (line 1)"
    );
    let e = err("version: 0.1\nphases:\n  build:\n    commands: [a]\n");
    assert_eq!(e.key, "version");
    assert!(e.message.contains("version 0.1 is not supported"), "{e}");
    assert!(e.message.contains("each command in its own shell"), "{e}");
    assert!(e.message.contains("`environment_variables`/`plaintext` are spelled `env`/`variables`"), "{e}");
    assert_eq!(e.line(), Some(1));
    assert_eq!(
        message("version: [0.2]\nphases: {}\n"),
        "buildspec.yml: version: expected 0.2 (the buildspec version ferry runs), got a list (line 1)"
    );
}

#[test]
fn document_level_errors() {
    assert_eq!(message(""), "buildspec.yml: the buildspec is empty; expected at least `version: 0.2` and `phases`");
    assert_eq!(message("# nothing\n"), message(""));
    assert_eq!(
        message("- a\n"),
        "buildspec.yml: expected a mapping of buildspec keys (version, env, phases, artifacts, ...), got a list (line 1)"
    );
    assert_eq!(
        message("version: 0.2\n"),
        "buildspec.yml: phases: missing required key `phases`; expected a mapping of phases (install, pre_build, build, post_build) (line 1)"
    );
    let e = err("version: 0.2\nphases: {}\n---\nversion: 0.2\n");
    assert!(e.message.contains("a second YAML document"), "{e}");
    let e = err("version: 0.2\nphases:\n  build:\n    commands: [a\n");
    assert!(e.message.starts_with("invalid YAML"), "{e}");
    assert!(e.line().is_some());
    let e = err(&with("version: 0.2\n"));
    assert_eq!(e.to_string(), "buildspec.yml: version: duplicate key `version`, first given on line 1 (line 6)");
    let big = format!("version: 0.2\nphases: {{}}\n#{}\n", "x".repeat(MAX_BUILDSPEC_BYTES));
    assert!(err(&big).message.contains("ferry accepts buildspecs up to 1048576 bytes"));
}

#[test]
fn unknown_keys_with_did_you_mean() {
    assert_eq!(
        message("version: 0.2\nphase:\n  build:\n    commands: [a]\n"),
        "buildspec.yml: phase: unknown top-level key `phase` (did you mean `phases`?); expected one of: version, run-as, env, proxy, batch, phases, reports, artifacts, cache (line 2)"
    );
    assert_eq!(
        message("version: 0.2\nphases: {}\nartifact:\n  files: [a]\n"),
        "buildspec.yml: artifact: unknown top-level key `artifact` (did you mean `artifacts`?); expected one of: version, run-as, env, proxy, batch, phases, reports, artifacts, cache (line 3)"
    );
    assert_eq!(
        message("version: 0.2\nphases:\n  prebuild:\n    commands: [a]\n"),
        "buildspec.yml: phases.prebuild: unknown key `prebuild` (did you mean `pre_build`?); expected one of: install, pre_build, build, post_build (line 3)"
    );
    assert_eq!(
        message("version: 0.2\nphases:\n  post-build:\n    commands: [a]\n"),
        "buildspec.yml: phases.post-build: unknown key `post-build` (did you mean `post_build`?); expected one of: install, pre_build, build, post_build (line 3)"
    );
    assert_eq!(
        message("version: 0.2\nphases:\n  build:\n    command: [a]\n"),
        "buildspec.yml: phases.build.command: unknown key `command` (did you mean `commands`?); expected one of: run-as, on-failure, runtime-versions, commands, finally (line 4)"
    );
    assert_eq!(
        message("version: 0.2\nenv:\n  variable:\n    A: b\nphases: {}\n"),
        "buildspec.yml: env.variable: unknown key `variable` (did you mean `variables`?); expected one of: shell, variables, parameter-store, secrets-manager, exported-variables, git-credential-helper (line 3)"
    );
    assert_eq!(
        message(&with("artifacts:\n  files: [a]\n  discard_paths: yes\n")),
        "buildspec.yml: artifacts.discard_paths: unknown key `discard_paths` (did you mean `discard-paths`?); expected one of: files, name, discard-paths, base-directory, exclude-paths, enable-symlinks, s3-prefix, secondary-artifacts (line 8)"
    );
    assert_eq!(
        message("version: 0.2\nrunas: me\nphases: {}\n"),
        "buildspec.yml: runas: unknown top-level key `runas` (did you mean `run-as`?); expected one of: version, run-as, env, proxy, batch, phases, reports, artifacts, cache (line 2)"
    );
    // 0.1 spellings.
    let e = err("version: 0.2\nenvironment_variables:\n  plaintext:\n    A: b\nphases: {}\n");
    assert_eq!(e.key, "environment_variables");
}

#[test]
fn phase_rules() {
    assert_eq!(
        message("version: 0.2\nphases:\n  build:\n    run-as: me\n"),
        "buildspec.yml: phases.build.commands: missing required key `commands`; expected a list of commands (line 4)"
    );
    assert_eq!(
        message("version: 0.2\nphases:\n  build:\n    commands:\n"),
        "buildspec.yml: phases.build.commands: expected a list of commands, got nothing (line 4)"
    );
    assert_eq!(
        message("version: 0.2\nphases:\n  build:\n    commands:\n      - make\n      -\n"),
        "buildspec.yml: phases.build.commands[1]: expected text, got nothing (line 6)"
    );
    assert_eq!(
        message("version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b\n"),
        "buildspec.yml: phases.build.commands[0]: expected text, got a mapping; a `: ` inside an unquoted item makes YAML read a mapping, so quote the item (\"echo a\") (line 5)"
    );
    assert_eq!(
        message("version: 0.2\nphases:\n  build:\n    commands: {a: b}\n"),
        "buildspec.yml: phases.build.commands: expected a list of commands, got a mapping (line 4)"
    );
    assert_eq!(
        message("version: 0.2\nphases:\n  build:\n    on-failure: STOP\n    commands: [a]\n"),
        "buildspec.yml: phases.build.on-failure: expected ABORT or CONTINUE, got \"STOP\" (line 4)"
    );
    assert_eq!(
        message("version: 0.2\nphases:\n  build:\n    on-failure: abort\n    commands: [a]\n"),
        "buildspec.yml: phases.build.on-failure: expected ABORT or CONTINUE (upper case), got \"abort\" (did you mean `ABORT`?) (line 4)"
    );
    assert_eq!(
        message("version: 0.2\nphases:\n  build:\n    on-failure: RETRY-3\n    commands: [a]\n"),
        "buildspec.yml: phases.build.on-failure: `RETRY-3`: retrying a failed build is not supported by ferry yet; expected ABORT or CONTINUE (line 4)"
    );
    assert_eq!(
        message("version: 0.2\nphases:\n  build:\n    runtime-versions:\n      java: 17\n    commands: [a]\n"),
        "buildspec.yml: phases.build.runtime-versions: runtime-versions is only allowed in the install phase (line 4)"
    );
    assert_eq!(
        message("version: 0.2\nphases:\n  build: [make]\n"),
        "buildspec.yml: phases.build: expected a mapping with commands (and run-as, on-failure, finally), got a list (line 3)"
    );
    assert_eq!(
        message("version: 0.2\nphases:\n  build:\n    run-as: true\n    commands: [a]\n"),
        "buildspec.yml: phases.build.run-as: expected a Linux user name, got true (line 4)"
    );
}

#[test]
fn env_rules() {
    let env = |body: &str| format!("version: 0.2\nenv:\n{body}phases: {{}}\n");
    assert_eq!(
        message(&env("  variables:\n    CODEBUILD_X: y\n")),
        "buildspec.yml: env.variables.CODEBUILD_X: `CODEBUILD_X`: the CODEBUILD_ prefix is reserved for the variables the build sets itself (line 4)"
    );
    assert_eq!(
        message(&env("  parameter-store:\n    CODEBUILD_P: /p\n")),
        "buildspec.yml: env.parameter-store.CODEBUILD_P: `CODEBUILD_P`: the CODEBUILD_ prefix is reserved for the variables the build sets itself (line 4)"
    );
    assert_eq!(
        message(&env("  variables:\n    A:\n")),
        "buildspec.yml: env.variables.A: expected a value, got nothing (write \"\" for an empty value) (line 4)"
    );
    assert_eq!(
        message(&env("  variables:\n    A: [1]\n")),
        "buildspec.yml: env.variables.A: expected a single value, got a list (line 4)"
    );
    assert_eq!(
        message(&env("  variables: [A]\n")),
        "buildspec.yml: env.variables: expected a mapping of variable names to values, got a list (line 3)"
    );
    assert_eq!(
        message(&env("  shell: powershell.exe\n")),
        "buildspec.yml: env.shell: `powershell.exe` is a Windows shell; ferry builds run on Linux: expected bash or /bin/sh (line 3)"
    );
    assert_eq!(
        message(&env("  shell: zsh\n")),
        "buildspec.yml: env.shell: expected bash or /bin/sh, got \"zsh\" (line 3)"
    );
    assert_eq!(
        message(&env("  exported-variables:\n    - AWS_SECRET\n")),
        "buildspec.yml: env.exported-variables[0]: `AWS_SECRET` cannot be exported: variables starting with AWS_ are never exported (line 4)"
    );
    assert_eq!(
        message(&env("  secrets-manager:\n    TOKEN: s\n  exported-variables: [TOKEN]\n")),
        "buildspec.yml: env.exported-variables[0]: `TOKEN` comes from secrets-manager and cannot be exported (exported variables are visible to the pipeline) (line 5)"
    );
    assert_eq!(
        message(&env("  secrets-manager:\n    TOKEN: \"s:k:AWSPREVIOUS:v1\"\n")),
        "buildspec.yml: env.secrets-manager.TOKEN: \"s:k:AWSPREVIOUS:v1\" gives both a version stage and a version id; give one or the other (neither means AWSCURRENT) (line 4)"
    );
    assert_eq!(
        message(&env("  secrets-manager:\n    TOKEN: \":key\"\n")),
        "buildspec.yml: env.secrets-manager.TOKEN: expected `secret-id[:json-key[:version-stage[:version-id]]]`, got \":key\" (the secret id is required) (line 4)"
    );
    assert_eq!(
        message(&env("  secrets-manager:\n    TOKEN: \"a:b:c:d:e\"\n")),
        "buildspec.yml: env.secrets-manager.TOKEN: expected `secret-id[:json-key[:version-stage[:version-id]]]`, got \"a:b:c:d:e\" (too many `:` parts) (line 4)"
    );
    assert_eq!(
        message(&env("  secrets-manager:\n    TOKEN: \"arn:aws:secretsmanager:x\"\n")),
        "buildspec.yml: env.secrets-manager.TOKEN: expected `secret-id[:json-key[:version-stage[:version-id]]]`; \"arn:aws:secretsmanager:x\" is a secret ARN with too few parts (line 4)"
    );
}

#[test]
fn secret_refs() {
    let r = secret_ref("name").unwrap();
    assert_eq!((r.json_key, r.version_stage, r.version_id), (None, None, None));
    let r = secret_ref("name::AWSPREVIOUS").unwrap();
    assert_eq!(r.version_stage.as_deref(), Some("AWSPREVIOUS"));
    assert_eq!(r.stage(), Some("AWSPREVIOUS"));
    assert_eq!(r.to_string(), "name::AWSPREVIOUS");
    let r = secret_ref("name:::id-1").unwrap();
    assert_eq!(r.version_id.as_deref(), Some("id-1"));
    assert_eq!(r.to_string(), "name:::id-1");
}

#[test]
fn artifact_rules() {
    assert_eq!(
        message(&with("artifacts:\n  name: x\n")),
        "buildspec.yml: artifacts.files: missing required key `files`; expected a list of path patterns (such as '**/*') (line 7)"
    );
    // files is required even with only secondary artifacts.
    assert_eq!(
        message(&with("artifacts:\n  secondary-artifacts:\n    a1:\n      files: [a]\n")),
        "buildspec.yml: artifacts.files: missing required key `files`; expected a list of path patterns (such as '**/*') (line 7)"
    );
    assert_eq!(
        message(&with("artifacts:\n  files: [a]\n  secondary-artifacts:\n    a1:\n      name: x\n")),
        "buildspec.yml: artifacts.secondary-artifacts.a1.files: missing required key `files`; expected a list of path patterns (such as '**/*') (line 10)"
    );
    assert_eq!(
        message(&with(
            "artifacts:\n  files: [a]\n  secondary-artifacts:\n    a1:\n      files: [a]\n      secondary-artifacts: {}\n"
        )),
        "buildspec.yml: artifacts.secondary-artifacts.a1.secondary-artifacts: unknown key `secondary-artifacts`; expected one of: files, name, discard-paths, base-directory, exclude-paths, enable-symlinks, s3-prefix (line 11)"
    );
    assert_eq!(
        message(&with("artifacts:\n  files: [/etc/passwd]\n")),
        "buildspec.yml: artifacts.files[0]: expected a path relative to the source directory, got \"/etc/passwd\" (line 7)"
    );
    assert_eq!(
        message(&with("artifacts:\n  files: ['**/*']\n  base-directory: ../up\n")),
        "buildspec.yml: artifacts.base-directory: expected a path inside the source directory (no `..`), got \"../up\" (line 8)"
    );
    assert_eq!(
        message(&with("artifacts:\n  files: ['**/*']\n  exclude-paths: [../x]\n")),
        "buildspec.yml: artifacts.exclude-paths[0]: expected a path inside the source directory (no `..`), got \"../x\" (line 8)"
    );
    assert_eq!(
        message(&with("artifacts:\n  type: zip\n  files: [a]\n")),
        "buildspec.yml: artifacts.type: `type` was deprecated with buildspec 0.2: the project's artifacts settings choose the type; remove it (line 7)"
    );
    assert_eq!(
        message(&with("artifacts:\n  files: [a]\n  discard-paths: maybe\n")),
        "buildspec.yml: artifacts.discard-paths: expected yes or no, got \"maybe\" (line 8)"
    );
    // A single pattern as a scalar.
    let spec = ok(&with("artifacts:\n  files: '**/*'\n  exclude-paths: '**/.*'\n"));
    assert_eq!(spec.artifacts.unwrap().primary.selection.exclude_paths, ["**/.*"]);
}

#[test]
fn cache_rules() {
    assert_eq!(
        message(&with("cache:\n  key: k\n")),
        "buildspec.yml: cache.paths: missing required key `paths`; expected a list of paths to cache (line 7)"
    );
    assert_eq!(
        message(&with("cache:\n  paths: [a]\n  action: both\n")),
        "buildspec.yml: cache.action: expected restore or save, got \"both\" (line 8)"
    );
    assert_eq!(
        message(&with("cache:\n  paths: [a]\n  fallback-keys: [a, b, c, d, e, f]\n")),
        "buildspec.yml: cache.fallback-keys: at most 5 fallback keys, got 6 (line 8)"
    );
    assert_eq!(
        message(&with("cache:\n  paths: [/root/../etc]\n")),
        "buildspec.yml: cache.paths[0]: expected a path without `..`, got \"/root/../etc\" (line 7)"
    );
    assert_eq!(ok(&with("cache:\n  paths: [a]\n")).cache.unwrap().action, None);
}

#[test]
fn report_rules() {
    assert_eq!(
        message(&with("reports:\n  unit:\n    base-directory: out\n")),
        "buildspec.yml: reports.unit.files: missing required key `files`; expected a list of path patterns (such as '**/*') (line 8)"
    );
    assert_eq!(
        message(&with("reports:\n  unit:\n    files: [a]\n    file-format: XUNIT\n")),
        "buildspec.yml: reports.unit.file-format: expected one of JUNITXML, CUCUMBERJSON, NUNITXML, NUNIT3XML, TESTNGXML, VISUALSTUDIOTRX, CLOVERXML, COBERTURAXML, JACOCOXML, SIMPLECOV, got \"XUNIT\" (line 9)"
    );
    let six: String = (1..=6).map(|i| format!("  g{i}:\n    files: [a]\n")).collect();
    assert_eq!(
        message(&with(&format!("reports:\n{six}"))),
        "buildspec.yml: reports.g6: a project has at most 5 report groups; this is the sixth (line 17)"
    );
    // Case-insensitive format; unsupported formats are kept with a warning.
    let spec = ok(&with(
        "reports:\n  unit:\n    files: [a]\n    file-format: testngxml\n  cov:\n    files: [b]\n    file-format: CoberturaXml\n",
    ));
    assert_eq!(spec.reports[0].file_format, ReportFormat::TestNgXml);
    assert_eq!(spec.reports[1].file_format, ReportFormat::CoberturaXml);
    assert!(spec.reports[1].file_format.is_coverage());
    assert_eq!(
        spec.warnings,
        [
            "buildspec.yml: reports.cov.file-format: ferry does not read COBERTURAXML reports yet; the files are kept but no test cases are recorded (line 12)"
        ]
    );
}

#[test]
fn batch_is_refused() {
    assert_eq!(
        message("version: 0.2\nbatch:\n  fast-fail: false\n  build-list:\n    - identifier: a\nphases: {}\n"),
        "buildspec.yml: batch: batch builds (build-list, build-matrix, build-graph) are not supported by ferry yet; remove `batch`, or make each task a project of its own (line 2)"
    );
}

#[test]
fn proxy_rules() {
    assert_eq!(
        message("version: 0.2\nproxy:\n  upload: yes\nphases: {}\n"),
        "buildspec.yml: proxy.upload: unknown key `upload`; expected one of: upload-artifacts, logs (line 3)"
    );
    assert_eq!(
        ok("version: 0.2\nproxy:\n  logs: yes\nphases: {}\n").proxy,
        Proxy { upload_artifacts: false, logs: true }
    );
}

#[test]
fn anchors_and_merge_keys_work() {
    let spec =
        ok("version: 0.2\nphases:\n  pre_build: &p\n    commands: [a, b]\n  build:\n    <<: *p\n    finally: [c]\n");
    assert_eq!(spec.phases.build.as_ref().unwrap().commands, ["a", "b"]);
    assert_eq!(spec.phases.build.as_ref().unwrap().finally, ["c"]);
}

// ---------------------------------------------------------------- robustness

/// Mutations of every example above: no input makes the parser panic, and
/// every error names the file.
#[test]
fn no_panic_on_mutated_input() {
    let seeds = [GUIDE_EXAMPLE.to_owned(), with("artifacts:\n  files: ['**/*']\ncache:\n  paths: [a]\n")];
    let inserts =
        ["", ":", "- ", "&a ", "*a", "[", "{", "\"", "'", "\t", "\n", "<<: ", "!!str ", "\u{feff}", "\0", "…"];
    let mut count = 0;
    for seed in &seeds {
        let bytes: Vec<char> = seed.chars().collect();
        // Cut, insert and drop at many points (a fixed stride keeps it quick).
        for at in (0..bytes.len()).step_by(7) {
            let head: String = bytes[..at].iter().collect();
            let tail: String = bytes[at..].iter().collect();
            for insert in inserts {
                for text in [format!("{head}{insert}{tail}"), format!("{head}{insert}"), format!("{insert}{tail}")] {
                    count += 1;
                    if let Err(e) = parse(FILE, &text) {
                        assert_eq!(e.file, FILE);
                        assert!(!e.to_string().is_empty());
                    }
                }
            }
            let dropped: String = bytes[..at].iter().chain(bytes.get(at + 1..).unwrap_or(&[])).collect();
            let _ = parse(FILE, &dropped);
        }
    }
    assert!(count > 1000);
    // Hostile shapes.
    for text in [
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        "&a [*a, *a, *a]",
        "a: &a [&b [*a]]",
        "version: 0.2\nphases:\n  ? [a]\n  : b\n",
        "version: !!binary aGk=\nphases: {}\n",
        "%YAML 1.2\n---\nversion: 0.2\nphases: {}\n",
        "version: 0.2\nphases:\n  build:\n    commands: *x\n",
    ] {
        let _ = parse(FILE, text);
    }
    // A billion laughs stays within the node budget.
    let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..12 {
        let prev = if i == 0 { "a".to_string() } else { format!("l{}", i - 1) };
        laughs.push_str(&format!(
            "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
        ));
    }
    assert!(err(&laughs).message.contains("more than"), "{}", err(&laughs));
}
