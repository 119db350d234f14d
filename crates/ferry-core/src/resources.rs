//! The resources a deployment is made from: applications, deployment
//! groups, instances, revisions and access keys.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::config::ComputePlatform;
use crate::deployment::{AutoRollback, Bundle};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub id: String,
    pub name: String,
    pub compute_platform: ComputePlatform,
    pub create_time: Millis,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A key/value tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TagFilterType {
    KeyOnly,
    ValueOnly,
    KeyAndValue,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagFilter {
    pub key: String,
    pub value: String,
    pub kind: TagFilterType,
}

impl TagFilter {
    pub fn matches(&self, tag: &Tag) -> bool {
        match self.kind {
            TagFilterType::KeyOnly => tag.key == self.key,
            TagFilterType::ValueOnly => tag.value == self.value,
            TagFilterType::KeyAndValue => tag.key == self.key && tag.value == self.value,
        }
    }

    fn matches_any(&self, tags: &[Tag]) -> bool {
        tags.iter().any(|t| self.matches(t))
    }
}

/// Which instances a deployment group targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct InstanceSelector {
    /// An instance matching ANY filter is selected.
    pub tag_filters: Vec<TagFilter>,
    /// An instance must match some filter of EVERY set (at most 3 sets).
    pub tag_set: Vec<Vec<TagFilter>>,
}

impl InstanceSelector {
    pub fn selects(&self, tags: &[Tag]) -> bool {
        if !self.tag_set.is_empty() {
            return self.tag_set.iter().all(|set| set.iter().any(|f| f.matches_any(tags)));
        }
        self.tag_filters.iter().any(|f| f.matches_any(tags))
    }

    pub fn validate(&self) -> Result<(), String> {
        if !self.tag_filters.is_empty() && !self.tag_set.is_empty() {
            return Err("tag filters and a tag set cannot be used together".into());
        }
        if self.tag_set.len() > 3 {
            return Err(format!("a tag set holds at most 3 groups (got {})", self.tag_set.len()));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentGroup {
    pub id: String,
    pub application_name: String,
    pub name: String,
    pub selector: InstanceSelector,
    pub deployment_config_name: String,
    pub auto_rollback: AutoRollback,
    /// CodeDeploy's `serviceRoleArn`: kept for API compatibility, unused.
    pub service_role_arn: Option<String>,
    /// The revision the group's last successful deployment installed.
    pub last_successful_revision_id: Option<String>,
    pub last_successful_deployment_id: Option<String>,
    pub last_attempted_deployment_id: Option<String>,
    /// The revision of the group's most recent deployment.
    pub target_revision_id: Option<String>,
    pub create_time: Millis,
    /// CodeDeploy's EC2 tag filters and tag set: kept and shown, but every
    /// ferry instance is an on-premises one, so they select no instance.
    #[serde(default)]
    pub ec2_selector: InstanceSelector,
    /// CodeDeploy's `triggerConfigurations`.
    #[serde(default)]
    pub triggers: Vec<Trigger>,
    /// CodeDeploy's `alarmConfiguration`.
    #[serde(default)]
    pub alarms: AlarmConfig,
    #[serde(default)]
    pub outdated_instances_strategy: OutdatedInstancesStrategy,
    #[serde(default)]
    pub termination_hook_enabled: bool,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Target groups (CodeDeploy's `loadBalancerInfo`).
    #[serde(default)]
    pub target_groups: Vec<String>,
    /// CodeDeploy's `WITH_TRAFFIC_CONTROL`: instances leave the target
    /// groups before they are touched and rejoin once healthy.
    #[serde(default)]
    pub traffic_control: bool,
    /// Blue/green instead of in place (needs traffic control).
    #[serde(default)]
    pub blue_green: Option<BlueGreenConfig>,
    /// ECS: the service it deploys to (CodeDeploy's `ecsServices`), as
    /// `(cluster, service)`; its target groups are the service's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs_service: Option<(String, String)>,
    /// Instances that left the group although its tags still select them:
    /// the original instances a blue/green deployment retired. Later
    /// deployments of the group do not target them.
    #[serde(default)]
    pub removed_instances: Vec<RemovedInstance>,
    /// Instances that join the group (enrol with its tags, or are tagged so
    /// later) get its last successful revision by a launch deployment
    /// before they take traffic (issue #16). Off: they wait for the next
    /// deployment.
    #[serde(default = "yes")]
    pub update_new_instances: bool,
    /// What the group knows of the instances its tags select: when each
    /// joined and what the group's deployments installed on it
    /// (`crate::joins`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<GroupInstance>,
    /// Whether `instances` is kept: false for a group made by a ferry from
    /// before it was, whose instances are taken to be up to date when it
    /// is first looked at (none gets a surprise deployment on upgrade).
    #[serde(default)]
    pub tracks_instances: bool,
    /// Scaling groups whose hosts the group targets besides those its tags
    /// select (CodeDeploy's `autoScalingGroups`): hosts carrying the tag
    /// [`SCALING_GROUP_TAG`]`=NAME`, which every launched host enrols with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scaling_groups: Vec<String>,
}

/// The tag a scaling group's hosts enrol with, naming the scaling group.
pub const SCALING_GROUP_TAG: &str = "ferry-scaling-group";

fn yes() -> bool {
    true
}

/// An instance of a deployment group, as the group's deployments left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInstance {
    pub instance: String,
    /// Its registration time: a host registered again under the name is a
    /// new instance and joins again.
    pub register_time: Millis,
    /// When the group first selected it.
    pub joined: Millis,
    /// The revision the group's deployments last installed on it; `None`:
    /// none yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_id: Option<String>,
    /// The newest deployment of the group that targeted it (or was made
    /// for it), and whether that failed on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    #[serde(default)]
    pub failed: bool,
    /// It joined while this deployment of the group ran, which did not
    /// include it: an outdated instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_during: Option<String>,
    /// The group's last successful revision when it joined (what
    /// `outdatedInstancesStrategy: IGNORE` installs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_at_join: Option<String>,
}

/// An instance a blue/green deployment took out of its group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedInstance {
    pub instance: String,
    /// The instance's registration time when it was removed: a host that
    /// registers again under the name (after deregistration) is a new
    /// instance and belongs to the group if its tags say so.
    pub register_time: Millis,
    /// The deployment that removed it, and when.
    pub deployment_id: String,
    pub time: Millis,
}

/// A blue/green group's settings (CodeDeploy's `blueGreenDeploymentConfiguration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlueGreenConfig {
    pub ready: crate::deployment::ReadyAction,
    pub blue: crate::deployment::BlueAction,
}

impl DeploymentGroup {
    /// A new group with nothing but its identity, selector and config: no
    /// rollback, alarms, triggers or tags, and no deployments yet.
    pub fn new(
        id: String,
        application_name: String,
        name: String,
        selector: InstanceSelector,
        deployment_config_name: String,
        create_time: Millis,
    ) -> Self {
        Self {
            id,
            application_name,
            name,
            selector,
            deployment_config_name,
            auto_rollback: AutoRollback::default(),
            service_role_arn: None,
            last_successful_revision_id: None,
            last_successful_deployment_id: None,
            last_attempted_deployment_id: None,
            target_revision_id: None,
            ecs_service: None,
            create_time,
            ec2_selector: InstanceSelector::default(),
            triggers: Vec::new(),
            alarms: AlarmConfig::default(),
            outdated_instances_strategy: OutdatedInstancesStrategy::default(),
            termination_hook_enabled: false,
            tags: Vec::new(),
            target_groups: Vec::new(),
            traffic_control: false,
            blue_green: None,
            removed_instances: Vec::new(),
            update_new_instances: true,
            instances: Vec::new(),
            tracks_instances: true,
            scaling_groups: Vec::new(),
        }
    }

    /// Whether deployments move the instances' traffic (WITH_TRAFFIC_CONTROL
    /// and at least one target group).
    pub fn controls_traffic(&self) -> bool {
        self.traffic_control && !self.target_groups.is_empty()
    }

    /// Whether the group targets `instance`: its tags are selected and it
    /// was not removed from the group (see [`RemovedInstance`]).
    pub fn targets(&self, instance: &Instance) -> bool {
        let of_scaling_group =
            instance.tags.iter().any(|t| t.key == SCALING_GROUP_TAG && self.scaling_groups.contains(&t.value));
        instance.deregister_time.is_none()
            && (self.selector.selects(&instance.tags) || of_scaling_group)
            && !self.removed(instance)
    }

    /// Whether `instance` (this registration of it) was removed from the group.
    pub fn removed(&self, instance: &Instance) -> bool {
        self.removed_instances.iter().any(|r| r.instance == instance.name && r.register_time == instance.register_time)
    }
}

/// Where notifications of a group's deployment and instance events go
/// (CodeDeploy's `triggerConfigurations` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    pub name: String,
    /// CodeDeploy's `triggerTargetArn`.
    pub target: String,
    /// DeploymentStart, DeploymentSuccess, …, InstanceReady.
    pub events: Vec<String>,
}

/// The alarms that stop a group's deployments (CodeDeploy's `alarmConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AlarmConfig {
    pub enabled: bool,
    pub ignore_poll_alarm_failure: bool,
    /// Alarm names (see [`Alarm`]).
    pub alarms: Vec<String>,
    /// After its last instance succeeded, a deployment stays Baking this
    /// long while the alarms are still watched (0: it succeeds at once).
    #[serde(default)]
    pub bake_time_ms: Millis,
    /// The Prometheus the group's alarms are evaluated against, unless an
    /// alarm names its own (`None`: the server's default).
    #[serde(default)]
    pub prometheus_url: Option<String>,
}

impl AlarmConfig {
    /// Whether a deployment watches any alarm.
    pub fn watches(&self) -> bool {
        self.enabled && !self.alarms.is_empty()
    }
}

/// A named alarm: a PromQL expression that fires while it returns any
/// sample (as a Prometheus alerting rule does), evaluated against
/// `prometheus_url` or the server's default Prometheus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    pub name: String,
    pub expression: String,
    pub prometheus_url: Option<String>,
    pub create_time: Millis,
}

/// A trigger's notice on its way to the trigger's webhook: kept until the
/// receiver took it (at least once; `id` lets receivers drop duplicates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    /// The stored event it delivers.
    pub event_seq: u64,
    pub deployment_id: String,
    pub trigger_name: String,
    /// CodeDeploy's event name (DeploymentStart, …).
    pub event: String,
    pub url: String,
    /// The JSON body, fixed when the event happened.
    pub body: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt: Millis,
    pub last_error: Option<String>,
    pub delivered_time: Option<Millis>,
    pub create_time: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    /// Not yet taken by the receiver; retried with backoff.
    Pending,
    Delivered,
    /// Given up on after the retry window.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Delivered => "Delivered",
            Self::Failed => "Failed",
        }
    }
}

/// What happens to instances that join a group while a deployment runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutdatedInstancesStrategy {
    #[default]
    Update,
    Ignore,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub name: String,
    pub tags: Vec<Tag>,
    pub register_time: Millis,
    pub deregister_time: Option<Millis>,
    /// CodeDeploy's IAM ARNs (AWS API registration); informational.
    pub iam_user_arn: Option<String>,
    pub iam_session_arn: Option<String>,
    /// The access key id of the enrolled agent's credential, if any.
    pub agent_key_id: Option<String>,
    pub agent_version: Option<String>,
    /// The IP address load balancers reach the instance at (the address
    /// its agent connects from, unless the agent gives one).
    #[serde(default)]
    pub address: Option<String>,
}

/// A load balancer's target group: the instances of the deployment groups
/// that name it receive its traffic on `port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    pub id: String,
    pub name: String,
    /// The port on each instance that receives the traffic.
    pub port: u16,
    pub health_check: HealthCheck,
    /// How long BlockTraffic waits at most for an instance's requests in
    /// flight to finish (ELB's deregistration delay).
    pub deregistration_delay_ms: u64,
    /// How long AllowTraffic waits at most for an instance to become healthy.
    pub healthy_timeout_ms: u64,
    pub balancer: Balancer,
    /// The members as they should be: the load balancer is made to match.
    pub members: Vec<TargetMember>,
    pub create_time: Millis,
}

/// The health check of a target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub path: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

/// Which load balancer carries a target group's traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Balancer {
    /// ferry's own proxy, in the server: production traffic on `listen`,
    /// and on `test_listen` (if any) traffic for test members only.
    Builtin { listen: String, test_listen: Option<String> },
    /// A backend of an HAProxy, through its runtime API at `socket`.
    HaProxy { socket: String, backend: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetMember {
    pub instance: String,
    /// `ip:port`.
    pub address: String,
    pub weight: u32,
    pub state: MemberState,
    /// Reached by the test listener (blue/green replacements before traffic moves).
    #[serde(default)]
    pub test: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberState {
    /// Takes traffic (once healthy).
    Ready,
    /// Finishes its requests in flight, takes no new ones.
    Draining,
    /// Out of the load balancer.
    Removed,
}

impl TargetGroup {
    pub fn member(&self, instance: &str) -> Option<&TargetMember> {
        self.members.iter().find(|m| m.instance == instance)
    }

    /// Sets (or adds) the instance's member.
    pub fn set_member(&mut self, member: TargetMember) {
        match self.members.iter_mut().find(|m| m.instance == member.instance) {
            Some(existing) => *existing = member,
            None => self.members.push(member),
        }
    }
}

/// Where a revision's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevisionLocation {
    /// In ferry's blob store under this key.
    Blob {
        key: String,
    },
    S3 {
        bucket: String,
        key: String,
        version: Option<String>,
        etag: Option<String>,
    },
    GitHub {
        repository: String,
        commit: String,
    },
    /// An appspec given inline (CodeDeploy's `String` and `AppSpecContent`
    /// revisions); its bundle holds just that appspec.
    Content {
        /// `String` or `AppSpecContent`: how it was registered.
        kind: ContentKind,
        content: String,
        /// Hex SHA-256 of `content`.
        sha256: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContentKind {
    String,
    AppSpecContent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub id: String,
    pub application_name: String,
    pub location: RevisionLocation,
    /// zip, tar or tgz.
    pub bundle_type: String,
    pub sha256: String,
    pub size: u64,
    pub description: String,
    pub register_time: Millis,
    pub first_used_time: Option<Millis>,
    pub last_used_time: Option<Millis>,
    /// Names of the groups it has been deployed to.
    #[serde(default)]
    pub deployment_groups: Vec<String>,
    /// For revisions kept elsewhere (S3, git, inline): the bytes last
    /// copied into the blob store, reused while they are still current.
    #[serde(default)]
    pub last_fetch: Option<Bundle>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Deployer,
    ReadOnly,
    /// An enrolled agent: may only use the agent protocol for its own instance.
    Agent,
}

impl Role {
    /// The role's name in the APIs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Deployer => "deployer",
            Self::ReadOnly => "read-only",
            Self::Agent => "agent",
        }
    }

    /// The roles an operator may give a key (agent keys come from enrolment).
    pub fn from_operator_name(name: &str) -> Option<Self> {
        match name {
            "admin" => Some(Self::Admin),
            "deployer" => Some(Self::Deployer),
            "read-only" | "readonly" => Some(Self::ReadOnly),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    pub role: Role,
    /// For agent keys: the instance they belong to.
    pub instance: Option<String>,
    pub description: String,
    pub create_time: Millis,
    pub disabled: bool,
    /// For deployer keys: the applications (`app`) and deployment groups
    /// (`app/group`) it may change; empty means all of them.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// What a change is to, for deciding whether a key may make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// Something outside every application: deployment configs, target
    /// groups, alarms, instances.
    Global,
    /// An application itself (create, rename, delete).
    Application(&'a str),
    /// A revision of an application: any scope in the application covers
    /// it, so a deployer of one group can push what it deploys.
    Revision(&'a str),
    /// A deployment group, or a deployment of it.
    Group(&'a str, &'a str),
}

impl AccessKey {
    /// Whether this key may make a change to `subject`: admins anything,
    /// deployers what their scopes cover (all when they have none), others
    /// nothing. `app` covers the application and all its groups; `app/group`
    /// covers that group (and its deployments) only.
    pub fn may_change(&self, subject: Subject<'_>) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Deployer if self.scopes.is_empty() => true,
            Role::Deployer => self.scopes.iter().any(|scope| {
                let (app, group) = match scope.split_once('/') {
                    Some((a, g)) => (a, Some(g)),
                    None => (scope.as_str(), None),
                };
                match subject {
                    Subject::Global => false,
                    Subject::Application(a) => group.is_none() && a == app,
                    Subject::Revision(a) => a == app,
                    Subject::Group(a, g) => a == app && group.is_none_or(|group| group == g),
                }
            }),
            Role::ReadOnly | Role::Agent => false,
        }
    }
}

/// One mutating API call, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub time: Millis,
    /// The access key that signed the call (as claimed, if the signature
    /// did not verify), or the session's key in the console.
    pub key_id: Option<String>,
    /// Its role, once verified.
    pub role: Option<String>,
    /// The caller's address.
    pub source: String,
    /// `native`, `aws`, `console` or `agent`.
    pub api: String,
    /// `POST /api/v1/deployments`, `CreateDeployment`, …
    pub action: String,
    /// What it was about (`shop/web`, `d-…`, a key id), where known.
    pub target: Option<String>,
    /// The HTTP status of the answer.
    pub status: u16,
    /// The error code of a refusal or failure.
    pub error: Option<String>,
}

impl AuditEntry {
    pub fn refused(&self) -> bool {
        self.status >= 400
    }
}

/// Checks a scope (`app` or `app/group`) a deployer key may be limited to.
pub fn validate_scope(scope: &str) -> Result<(), String> {
    let mut parts = scope.split('/');
    let app = parts.next().unwrap_or_default();
    crate::ids::validate_name(app).map_err(|e| format!("scope {scope:?}: application name: {e}"))?;
    if let Some(group) = parts.next() {
        crate::ids::validate_name(group).map_err(|e| format!("scope {scope:?}: group name: {e}"))?;
    }
    if parts.next().is_some() {
        return Err(format!("scope {scope:?} is not APP or APP/GROUP"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_limit_deployers_and_only_deployers() {
        let key = |role: Role, scopes: &[&str]| AccessKey {
            id: "K".into(),
            secret: "s".into(),
            role,
            instance: None,
            description: String::new(),
            create_time: 0,
            disabled: false,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        let everything = [
            Subject::Global,
            Subject::Application("shop"),
            Subject::Group("shop", "web"),
            Subject::Group("blog", "web"),
        ];
        for t in everything {
            assert!(key(Role::Admin, &[]).may_change(t));
            assert!(key(Role::Deployer, &[]).may_change(t));
            assert!(!key(Role::ReadOnly, &[]).may_change(t));
            assert!(!key(Role::Agent, &[]).may_change(t));
        }
        let app = key(Role::Deployer, &["shop"]);
        assert!(app.may_change(Subject::Application("shop")));
        assert!(app.may_change(Subject::Group("shop", "web")));
        assert!(!app.may_change(Subject::Group("blog", "web")));
        assert!(!app.may_change(Subject::Application("shopping")));
        assert!(!app.may_change(Subject::Global));
        let group = key(Role::Deployer, &["shop/web", "blog"]);
        assert!(group.may_change(Subject::Group("shop", "web")));
        assert!(!group.may_change(Subject::Group("shop", "api")));
        assert!(!group.may_change(Subject::Application("shop")), "a group scope does not cover its application");
        assert!(group.may_change(Subject::Revision("shop")), "but it may push the application's revisions");
        assert!(!group.may_change(Subject::Revision("other")));
        assert!(group.may_change(Subject::Group("blog", "anything")));
        assert!(validate_scope("shop/web").is_ok());
        assert!(validate_scope("shop/web/x").is_err());
        assert!(validate_scope("").is_err());
    }

    fn tag(k: &str, v: &str) -> Tag {
        Tag { key: k.into(), value: v.into() }
    }
    fn filter(k: &str, v: &str, kind: TagFilterType) -> TagFilter {
        TagFilter { key: k.into(), value: v.into(), kind }
    }

    #[test]
    fn filters_match_any_and_sets_match_every_group() {
        let tags = [tag("env", "prod"), tag("role", "web")];
        let any = InstanceSelector {
            tag_filters: vec![
                filter("env", "staging", TagFilterType::KeyAndValue),
                filter("role", "", TagFilterType::KeyOnly),
            ],
            tag_set: vec![],
        };
        assert!(any.selects(&tags));
        let every = InstanceSelector {
            tag_filters: vec![],
            tag_set: vec![
                vec![filter("env", "prod", TagFilterType::KeyAndValue)],
                vec![filter("", "db", TagFilterType::ValueOnly)],
            ],
        };
        assert!(!every.selects(&tags));
        assert!(!InstanceSelector::default().selects(&tags));
    }
}
