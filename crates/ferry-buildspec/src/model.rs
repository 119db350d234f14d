//! Validated buildspec types. A value of these types has passed every rule in
//! [`parse`](crate::parse): it is a buildspec ferry can run.

use std::fmt;

/// A buildspec, version 0.2.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Buildspec {
    /// Top-level `run-as`: the Linux user every phase runs as unless the phase
    /// names its own. `None` means root (CodeBuild's default).
    pub run_as: Option<String>,
    pub env: Env,
    pub proxy: Proxy,
    /// The four command phases, in the order they run.
    pub phases: Phases,
    /// Report groups, in file order (at most [`MAX_REPORT_GROUPS`]).
    pub reports: Vec<ReportGroup>,
    pub artifacts: Option<Artifacts>,
    pub cache: Option<Cache>,
    /// What ferry accepts but does not act on (e.g. `runtime-versions`), one
    /// message each, naming the file, the key and the line.
    pub warnings: Vec<String>,
}

impl Buildspec {
    /// The user a phase's commands run as: the phase's `run-as`, else the
    /// top-level one, else `None` (root). Phase-level wins (CodeBuild UG,
    /// build-spec-ref, `phases/*/run-as`).
    pub fn run_as_for(&self, phase: CommandPhase) -> Option<&str> {
        self.phases.get(phase).and_then(|p| p.run_as.as_deref()).or(self.run_as.as_deref())
    }
}

/// `env`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Env {
    pub shell: Option<Shell>,
    /// `env.variables`: literal values (no expansion: `$PATH:/x` stays as
    /// written), in file order.
    pub variables: Vec<(String, String)>,
    /// `env.parameter-store`: variable name → parameter name.
    pub parameter_store: Vec<(String, String)>,
    /// `env.secrets-manager`: variable name → secret reference.
    pub secrets_manager: Vec<(String, SecretRef)>,
    /// `env.exported-variables`.
    pub exported_variables: Vec<String>,
    /// `env.git-credential-helper` (default no).
    pub git_credential_helper: bool,
}

/// `env.shell`. Only the Linux shells: ferry's build hosts are Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// `bash`
    Bash,
    /// `/bin/sh`
    Sh,
}

impl Shell {
    /// The program the runner starts.
    pub fn program(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Sh => "/bin/sh",
        }
    }
}

/// A `secrets-manager` reference, CodeBuild's
/// `secret-id:json-key:version-stage:version-id`, where only `secret-id` is
/// required and a stage and an id exclude each other. The runner resolves
/// it against ferry's secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// A secret name, or an ARN (`arn:…:secret:name`, kept whole).
    pub secret_id: String,
    /// Take this key of a JSON secret; `None` takes the whole secret text.
    pub json_key: Option<String>,
    pub version_stage: Option<String>,
    pub version_id: Option<String>,
}

impl SecretRef {
    /// The stage to read when neither a stage nor an id is given.
    pub const DEFAULT_STAGE: &'static str = "AWSCURRENT";

    /// The stage the reference asks for: its own, or `AWSCURRENT` unless it
    /// names a version id.
    pub fn stage(&self) -> Option<&str> {
        match (&self.version_stage, &self.version_id) {
            (Some(stage), _) => Some(stage),
            (None, Some(_)) => None,
            (None, None) => Some(Self::DEFAULT_STAGE),
        }
    }
}

impl fmt::Display for SecretRef {
    /// Back to CodeBuild's spelling, trailing empty parts left off.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [
            Some(self.secret_id.as_str()),
            self.json_key.as_deref(),
            self.version_stage.as_deref(),
            self.version_id.as_deref(),
        ];
        let last = parts.iter().rposition(Option::is_some).unwrap_or(0);
        let text: Vec<&str> = parts[..=last].iter().map(|p| p.unwrap_or("")).collect();
        f.write_str(&text.join(":"))
    }
}

/// `proxy` (both default no).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Proxy {
    pub upload_artifacts: bool,
    pub logs: bool,
}

/// The four command phases a buildspec may define.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommandPhase {
    Install,
    PreBuild,
    Build,
    PostBuild,
}

impl CommandPhase {
    /// In the order they run.
    pub const ALL: [CommandPhase; 4] =
        [CommandPhase::Install, CommandPhase::PreBuild, CommandPhase::Build, CommandPhase::PostBuild];

    /// The key under `phases` (`pre_build`).
    pub fn key(self) -> &'static str {
        match self {
            CommandPhase::Install => "install",
            CommandPhase::PreBuild => "pre_build",
            CommandPhase::Build => "build",
            CommandPhase::PostBuild => "post_build",
        }
    }

    /// The build phase it runs in (`PRE_BUILD`).
    pub fn phase(self) -> crate::Phase {
        match self {
            CommandPhase::Install => crate::Phase::Install,
            CommandPhase::PreBuild => crate::Phase::PreBuild,
            CommandPhase::Build => crate::Phase::Build,
            CommandPhase::PostBuild => crate::Phase::PostBuild,
        }
    }
}

/// `phases`: each command phase, `None` when the buildspec leaves it out
/// (the phase then runs no commands and succeeds).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Phases {
    pub install: Option<PhaseSpec>,
    pub pre_build: Option<PhaseSpec>,
    pub build: Option<PhaseSpec>,
    pub post_build: Option<PhaseSpec>,
}

impl Phases {
    pub fn get(&self, phase: CommandPhase) -> Option<&PhaseSpec> {
        match phase {
            CommandPhase::Install => self.install.as_ref(),
            CommandPhase::PreBuild => self.pre_build.as_ref(),
            CommandPhase::Build => self.build.as_ref(),
            CommandPhase::PostBuild => self.post_build.as_ref(),
        }
    }

    pub(crate) fn get_mut(&mut self, phase: CommandPhase) -> &mut Option<PhaseSpec> {
        match phase {
            CommandPhase::Install => &mut self.install,
            CommandPhase::PreBuild => &mut self.pre_build,
            CommandPhase::Build => &mut self.build,
            CommandPhase::PostBuild => &mut self.post_build,
        }
    }
}

/// One phase: `run-as`, `on-failure`, `commands`, `finally`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhaseSpec {
    pub run_as: Option<String>,
    /// `None`: CodeBuild's default transitions ([`crate::transition`]).
    pub on_failure: Option<OnFailure>,
    /// Run in order, all in one shell (version 0.2); the first that fails
    /// skips the rest.
    pub commands: Vec<String>,
    /// Run after `commands` even if one of them failed.
    pub finally: Vec<String>,
    /// `install.runtime-versions`, as written (runtime → version). ferry does
    /// not install runtimes: the build image must hold them (a warning says so).
    pub runtime_versions: Vec<(String, String)>,
}

/// `phases.*.on-failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// "Abort the build."
    Abort,
    /// "Continue to the next phase."
    Continue,
}

/// At most this many report groups per project (CodeBuild's limit).
pub const MAX_REPORT_GROUPS: usize = 5;

/// `reports.<name-or-arn>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportGroup {
    /// A name (the group becomes `<project>-<name>`) or a report-group ARN.
    pub name: String,
    pub files: Vec<String>,
    pub base_directory: Option<String>,
    pub discard_paths: bool,
    pub file_format: ReportFormat,
}

impl ReportGroup {
    /// The report group's full name for a project: an ARN as given, else
    /// `<project>-<name>`.
    pub fn group_name(&self, project: &str) -> String {
        if self.name.starts_with("arn:") { self.name.clone() } else { format!("{project}-{}", self.name) }
    }

    /// The files this group collects, as a [`Selection`](crate::Selection).
    pub fn selection(&self) -> crate::Selection {
        crate::Selection {
            files: self.files.clone(),
            base_directory: self.base_directory.clone(),
            discard_paths: self.discard_paths,
            exclude_paths: Vec::new(),
        }
    }
}

/// `reports.*.file-format` (case-insensitive in the file; default JUNITXML).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    JunitXml,
    CucumberJson,
    NunitXml,
    Nunit3Xml,
    TestNgXml,
    VisualStudioTrx,
    CloverXml,
    CoberturaXml,
    JacocoXml,
    SimpleCov,
}

impl ReportFormat {
    pub const ALL: [ReportFormat; 10] = [
        ReportFormat::JunitXml,
        ReportFormat::CucumberJson,
        ReportFormat::NunitXml,
        ReportFormat::Nunit3Xml,
        ReportFormat::TestNgXml,
        ReportFormat::VisualStudioTrx,
        ReportFormat::CloverXml,
        ReportFormat::CoberturaXml,
        ReportFormat::JacocoXml,
        ReportFormat::SimpleCov,
    ];

    /// CodeBuild's name (`JUNITXML`).
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::JunitXml => "JUNITXML",
            ReportFormat::CucumberJson => "CUCUMBERJSON",
            ReportFormat::NunitXml => "NUNITXML",
            ReportFormat::Nunit3Xml => "NUNIT3XML",
            ReportFormat::TestNgXml => "TESTNGXML",
            ReportFormat::VisualStudioTrx => "VISUALSTUDIOTRX",
            ReportFormat::CloverXml => "CLOVERXML",
            ReportFormat::CoberturaXml => "COBERTURAXML",
            ReportFormat::JacocoXml => "JACOCOXML",
            ReportFormat::SimpleCov => "SIMPLECOV",
        }
    }

    /// A code coverage format rather than a test format.
    pub fn is_coverage(self) -> bool {
        matches!(
            self,
            ReportFormat::CloverXml | ReportFormat::CoberturaXml | ReportFormat::JacocoXml | ReportFormat::SimpleCov
        )
    }

    /// Whether [`crate::reports::parse_report`] reads this format.
    pub fn is_supported(self) -> bool {
        matches!(self, ReportFormat::JunitXml | ReportFormat::CucumberJson | ReportFormat::TestNgXml)
    }
}

/// `artifacts` (primary), with its `secondary-artifacts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifacts {
    pub primary: ArtifactSpec,
    /// `secondary-artifacts`: identifier → definition, in file order. Each
    /// identifier must match one of the project's secondary artifacts.
    pub secondary: Vec<(String, ArtifactSpec)>,
}

/// One artifact definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactSpec {
    /// What to pick: `files`, `base-directory`, `discard-paths`, `exclude-paths`.
    pub selection: crate::Selection,
    /// `name`, as written: the runner evaluates it with the shell at upload
    /// time (`myname-$(date +%Y-%m-%d)`), and uses it only when the project
    /// says to (`overrideArtifactName`).
    pub name: Option<String>,
    /// `enable-symlinks`: keep links inside the tree as links in the zip.
    pub enable_symlinks: bool,
    /// `s3-prefix`: `<s3-prefix>/<build-id>/<name>.zip` for BUILD_ID namespaces.
    pub s3_prefix: Option<String>,
}

/// `cache`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    /// `paths`: relative to the source directory, or absolute
    /// (`/root/.m2/**/*`).
    pub paths: Vec<String>,
    /// `key` (S3 cache keys; may hold `$(codebuild-hash-files …)`), as written.
    pub key: Option<String>,
    /// `fallback-keys` (at most 5; ignored without `key`).
    pub fallback_keys: Vec<String>,
    /// `action`; `None` restores and saves.
    pub action: Option<CacheAction>,
}

/// `cache.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheAction {
    Restore,
    Save,
}
