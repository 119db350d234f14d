//! Validated appspec types. Everything here has passed validation: a value of
//! these types is a usable appspec.

use std::time::Duration;

/// The lifecycle events of the Server platform, in the order an in-place
/// deployment with a load balancer runs them. `DownloadBundle`, `Install`,
/// `BlockTraffic` and `AllowTraffic` are run by ferry itself and take no scripts.
pub const SERVER_LIFECYCLE_EVENTS: [&str; 13] = [
    "BeforeBlockTraffic",
    "BlockTraffic",
    "AfterBlockTraffic",
    "ApplicationStop",
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
];

/// Events reserved for ferry itself: an appspec may not attach scripts to them.
pub const RESERVED_EVENTS: [&str; 4] = ["DownloadBundle", "Install", "BlockTraffic", "AllowTraffic"];

/// Lifecycle events a Lambda appspec may hook, in the order they run.
pub const LAMBDA_HOOK_EVENTS: [&str; 2] = ["BeforeAllowTraffic", "AfterAllowTraffic"];

/// Lifecycle events an ECS appspec may hook, in the order they run.
pub const ECS_HOOK_EVENTS: [&str; 5] =
    ["BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"];

/// Default hook timeout, as CodeDeploy's agent: one hour.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(3600);

/// Longest `timeout` ferry accepts for one hook script: 48 hours (172800 s).
/// CodeDeploy's agent sets no maximum; ferry caps it so a typo cannot park a
/// deployment for months.
pub const MAX_HOOK_TIMEOUT: Duration = Duration::from_secs(48 * 3600);

/// Any appspec, by compute platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppSpec {
    Server(ServerAppSpec),
    Lambda(LambdaAppSpec),
    Ecs(EcsAppSpec),
}

/// The operating system an appspec targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Linux,
    Windows,
}

/// What to do when an install target already exists and the previous install
/// of this deployment group did not create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileExistsBehavior {
    /// Fail the deployment (CodeDeploy's default).
    #[default]
    Disallow,
    /// Replace the existing file.
    Overwrite,
    /// Keep the existing file and do not record it for cleanup.
    Retain,
}

impl FileExistsBehavior {
    /// CodeDeploy's spelling: `DISALLOW`, `OVERWRITE`, `RETAIN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disallow => "DISALLOW",
            Self::Overwrite => "OVERWRITE",
            Self::Retain => "RETAIN",
        }
    }

    /// Parses CodeDeploy's spelling, case-sensitively (as the appspec requires).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "DISALLOW" => Some(Self::Disallow),
            "OVERWRITE" => Some(Self::Overwrite),
            "RETAIN" => Some(Self::Retain),
            _ => None,
        }
    }
}

/// The appspec of the Server (EC2/on-premises) platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAppSpec {
    pub os: Os,
    /// `files` entries in file order; empty when absent.
    pub files: Vec<FileMapping>,
    /// `permissions` entries in file order; empty when absent.
    pub permissions: Vec<Permission>,
    /// Hooks by event, in file order. Events whose value was null are left out.
    pub hooks: Vec<(String, Vec<HookScript>)>,
    pub file_exists_behavior: Option<FileExistsBehavior>,
}

impl ServerAppSpec {
    /// The scripts for `event`, or an empty slice.
    pub fn scripts_for(&self, event: &str) -> &[HookScript] {
        self.hooks.iter().find(|(name, _)| name == event).map(|(_, scripts)| scripts.as_slice()).unwrap_or(&[])
    }

    /// Events in `hooks` that are not standard Server lifecycle events, in
    /// file order: the custom events a deployment declared
    /// ([`parse_server_with_events`](crate::parse_server_with_events)), or
    /// any name in an installed revision's appspec
    /// ([`parse_installed_server`](crate::parse_installed_server)); otherwise
    /// such a name is a parse error.
    pub fn custom_events(&self) -> impl Iterator<Item = &str> {
        self.hooks.iter().map(|(event, _)| event.as_str()).filter(|event| !SERVER_LIFECYCLE_EVENTS.contains(event))
    }
}

/// One `files` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMapping {
    /// Revision-relative source; `/` means the whole revision.
    pub source: String,
    /// Absolute destination directory on the host.
    pub destination: String,
}

/// Kinds of object a permission applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    File,
    Directory,
}

/// One `permissions` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub object: String,
    /// Glob matched against entries under `object`; `**` (the default) matches all.
    pub pattern: String,
    pub except: Vec<String>,
    /// Never empty: defaults to both kinds.
    pub types: Vec<ObjectType>,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// Permission bits, e.g. `0o644` for `mode: 644`.
    pub mode: Option<u32>,
    pub acls: Vec<Ace>,
    pub context: Option<SeLinuxContext>,
}

/// One ACL entry, `[d[efault]:][u[ser]|g[roup]|m[ask]|o[ther]]:[name]:rwx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    pub default: bool,
    pub kind: AceKind,
    /// User or group name; empty for the owner/owning group/mask/other.
    pub name: String,
    /// `rwx`-style permission string as written, normalised to 3 characters.
    pub perms: String,
}

impl Ace {
    /// The `setfacl -m` form of this entry.
    pub fn to_setfacl(&self) -> String {
        let kind = match self.kind {
            AceKind::User => "u",
            AceKind::Group => "g",
            AceKind::Mask => "m",
            AceKind::Other => "o",
        };
        let prefix = if self.default { "d:" } else { "" };
        format!("{prefix}{kind}:{}:{}", self.name, self.perms)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AceKind {
    User,
    Group,
    Mask,
    Other,
}

/// An SELinux context for `semanage fcontext`/`chcon`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeLinuxContext {
    pub user: Option<String>,
    pub type_: String,
    /// The MLS range, validated and in canonical form (categories sorted, runs
    /// joined: `s0-s1:c0.c3,c7`), as CodeDeploy passes it to `semanage -r`.
    pub range: Option<String>,
}

/// One script of a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookScript {
    /// Revision-relative path of the script, whitespace stripped.
    pub location: String,
    pub timeout: Duration,
    pub runas: Option<String>,
    pub sudo: bool,
}

/// The appspec of the Lambda platform (parsed and validated; not executed yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaAppSpec {
    pub functions: Vec<LambdaFunction>,
    /// Hook event name to the Lambda function that validates it.
    pub hooks: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaFunction {
    /// The resource's logical name (the key in `Resources`).
    pub logical_name: String,
    pub name: String,
    pub alias: String,
    pub current_version: String,
    pub target_version: String,
}

/// The appspec of the ECS platform (parsed and validated; not executed yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsAppSpec {
    pub task_definition: String,
    pub container_name: String,
    pub container_port: u16,
    pub platform_version: Option<String>,
    pub network: Option<EcsNetwork>,
    pub capacity_provider_strategy: Vec<CapacityProvider>,
    pub hooks: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsNetwork {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityProvider {
    pub name: String,
    pub base: u32,
    pub weight: u32,
}
