//! ECS task definitions for ferry's container services (issue #15), pure:
//! the model (`TaskDefinition`, member for member as ECS's
//! `RegisterTaskDefinition` takes it and `describe-task-definition` prints
//! it; serde gives ECS's camelCase JSON back), and [`parse`], which reads
//! the `taskdef.json` users already have and checks it with ECS's rules,
//! reporting every problem with its key path
//! (`containerDefinitions[0].portMappings[1].containerPort`).
//!
//! What [`parse`] takes:
//! - the bare register input, or `describe-task-definition`'s output (the
//!   `{"taskDefinition": …}` wrapper, whose read-only members —
//!   `taskDefinitionArn`, `revision`, `status`, `registeredAt`, … — are
//!   ignored: the server numbers revisions itself);
//! - CodePipeline's image placeholders (`"image": "<IMAGE1_NAME>"`) as
//!   they are: a deployment fills them in.
//!
//! ECS's rules checked (API reference `RegisterTaskDefinition`,
//! `ContainerDefinition`, `PortMapping`, `HealthCheck`):
//! - `family`: 1–255 letters, digits, `-` and `_`;
//! - 1–10 `containerDefinitions`, names unique (1–255 letters, digits, `-`,
//!   `_`), an `image` each, and at least one `essential` (the default);
//! - `portMappings`: `containerPort` 1–65535, `hostPort` 0–65535 (0 or
//!   absent: a port the engine picks, in `bridge` mode), protocol `tcp` or
//!   `udp`; with `networkMode` `host` or `awsvpc` a `hostPort` must equal
//!   its `containerPort`; a host port is used once per task definition;
//! - `healthCheck`: `command` starting with `CMD` or `CMD-SHELL`,
//!   `interval` 5–300 s (30), `timeout` 2–60 s (5), `retries` 1–10 (3),
//!   `startPeriod` 0–300 s (0);
//! - variable names unique per container across `environment` and
//!   `secrets`; `secrets[].valueFrom` names a ferry secret (an SSM or
//!   Secrets Manager ARN counts by its last segment);
//! - `memory` (MiB, hard limit) at least 6, `memoryReservation` not above
//!   it; `cpu` units 0–10240;
//! - `stopTimeout` 2–120 s (30: the time between the stop signal and the
//!   kill);
//! - `networkMode` one of `bridge` (the default), `host`, `awsvpc`, `none`.
//!
//! Members ferry does not run yet (volumes, log drivers, Linux
//! parameters, …) are refused by name rather than silently dropped, and
//! unknown members are refused with the member probably meant.
//!
//! **Architecture Invariant:** no I/O, no engine, no store: text in,
//! model or problems out; never panics on any input.

pub mod service;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest task definition accepted (ECS's limit is 64 KiB).
pub const MAX_TASK_DEFINITION_BYTES: usize = 64 * 1024;

/// A task definition (one revision of a family).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    pub family: String,
    pub container_definitions: Vec<ContainerDefinition>,
    #[serde(default)]
    pub network_mode: NetworkMode,
    /// Task-level CPU units and memory (MiB), as ECS spells them: strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires_compatibilities: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// `networkMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    #[default]
    Bridge,
    Host,
    Awsvpc,
    None,
}

/// One container of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinition {
    pub name: String,
    pub image: String,
    #[serde(default = "yes")]
    pub essential: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_point: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<KeyValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Seconds between the stop signal and the kill (ECS: 2–120, default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u32>,
}

/// ECS's stop timeout when a container names none.
pub const DEFAULT_STOP_TIMEOUT_SECONDS: u32 = 30;

impl ContainerDefinition {
    /// Seconds a stop waits for the container before killing it.
    pub fn stop_timeout_seconds(&self) -> u32 {
        self.stop_timeout.unwrap_or(DEFAULT_STOP_TIMEOUT_SECONDS)
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    pub name: String,
    pub value: String,
}

/// A variable from a secret: `valueFrom` is the ferry secret's name (or an
/// ARN whose last segment is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    pub name: String,
    pub value_from: String,
}

impl Secret {
    /// The ferry secret it reads: `valueFrom`, or the last segment of an
    /// SSM parameter (`…:parameter/NAME`) or Secrets Manager (`…:secret:NAME`) ARN.
    pub fn ferry_secret(&self) -> &str {
        let v = self.value_from.as_str();
        if !v.starts_with("arn:") {
            return v;
        }
        if let Some((_, name)) = v.split_once(":parameter/") {
            return name;
        }
        if let Some((_, name)) = v.split_once(":secret:") {
            return name;
        }
        v.rsplit([':', '/']).next().unwrap_or(v)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub container_port: u16,
    /// 0: a port the engine picks.
    #[serde(default)]
    pub host_port: u16,
    #[serde(default)]
    pub protocol: Protocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

/// A container's health check, with ECS's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// `["CMD", prog, args…]` or `["CMD-SHELL", "shell command"]`.
    pub command: Vec<String>,
    pub interval: u32,
    pub timeout: u32,
    pub retries: u32,
    pub start_period: u32,
}

impl TaskDefinition {
    /// The container called `name`.
    pub fn container(&self, name: &str) -> Option<&ContainerDefinition> {
        self.container_definitions.iter().find(|c| c.name == name)
    }

    /// Image placeholders (`<IMAGE1_NAME>`) a deployment must fill in.
    pub fn placeholders(&self) -> Vec<&str> {
        self.container_definitions
            .iter()
            .map(|c| c.image.as_str())
            .filter(|i| i.starts_with('<') && i.ends_with('>'))
            .collect()
    }
}

/// One thing wrong, at a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

/// Why a task definition was refused: every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDefinitionError {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for TaskDefinitionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if p.key.is_empty() {
                write!(f, "{}: {}", self.file, p.message)?;
            } else {
                write!(f, "{}: {}: {}", self.file, p.key, p.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for TaskDefinitionError {}

/// Members of `describe-task-definition`'s output that registering ignores.
const READ_ONLY: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "compatibilities",
    "requiresAttributes",
];

const TASK_MEMBERS: &[&str] = &[
    "family",
    "containerDefinitions",
    "networkMode",
    "cpu",
    "memory",
    "taskRoleArn",
    "executionRoleArn",
    "requiresCompatibilities",
    "tags",
];

/// Register members ferry does not run yet: refused by name.
const TASK_NOT_YET: &[&str] = &[
    "volumes",
    "placementConstraints",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
];

const CONTAINER_MEMBERS: &[&str] = &[
    "name",
    "image",
    "essential",
    "command",
    "entryPoint",
    "environment",
    "secrets",
    "portMappings",
    "healthCheck",
    "cpu",
    "memory",
    "memoryReservation",
    "workingDirectory",
    "user",
    "stopTimeout",
];

const CONTAINER_NOT_YET: &[&str] = &[
    "links",
    "mountPoints",
    "volumesFrom",
    "linuxParameters",
    "dependsOn",
    "startTimeout",
    "hostname",
    "disableNetworking",
    "privileged",
    "readonlyRootFilesystem",
    "dnsServers",
    "dnsSearchDomains",
    "extraHosts",
    "dockerSecurityOptions",
    "interactive",
    "pseudoTerminal",
    "dockerLabels",
    "ulimits",
    "logConfiguration",
    "systemControls",
    "resourceRequirements",
    "firelensConfiguration",
    "credentialSpecs",
    "repositoryCredentials",
    "environmentFiles",
    "restartPolicy",
    "versionConsistency",
];

/// Reads a task definition from JSON (`file` names it in errors).
pub fn parse(file: &str, text: &str) -> Result<TaskDefinition, TaskDefinitionError> {
    let fail = |message: String| TaskDefinitionError {
        file: file.to_string(),
        problems: vec![Problem { key: String::new(), message }],
    };
    if text.len() > MAX_TASK_DEFINITION_BYTES {
        return Err(fail(format!("larger than {MAX_TASK_DEFINITION_BYTES} bytes (ECS's limit)")));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| fail(format!("not JSON: {e}")))?;
    let mut checker = Checker::default();
    let task = match value {
        Value::Object(mut o) => match o.remove("taskDefinition") {
            Some(Value::Object(inner)) if o.keys().all(|k| k == "tags") => inner,
            Some(_) => return Err(fail("`taskDefinition` must be an object".into())),
            None => o,
        },
        other => return Err(fail(format!("expected a JSON object, got {}", kind(&other)))),
    };
    let parsed = checker.task(&task);
    if checker.problems.is_empty()
        && let Some(t) = parsed
    {
        return Ok(t);
    }
    if checker.problems.is_empty() {
        checker.problem("", "cannot be read as a task definition");
    }
    Err(TaskDefinitionError { file: file.to_string(), problems: checker.problems })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

fn name_ok(name: &str) -> bool {
    (1..=255).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The known member closest to `given` (edit distance at most 2), for "did you mean".
fn closest<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let next = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
                prev = row[j + 1];
                row[j + 1] = next;
            }
        }
        row[b.len()]
    }
    let lower = given.to_ascii_lowercase();
    known.iter().copied().filter(|k| distance(&lower, &k.to_ascii_lowercase()) <= 2).min_by_key(|k| distance(given, k))
}

impl Checker {
    fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(Problem { key: key.to_string(), message: message.into() });
    }

    fn members(&mut self, at: &str, o: &Map<String, Value>, known: &[&str], not_yet: &[&str], ignored: &[&str]) {
        for k in o.keys() {
            if known.contains(&k.as_str()) || ignored.contains(&k.as_str()) {
                continue;
            }
            let key = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
            if not_yet.contains(&k.as_str()) {
                self.problem(&key, "ferry does not run this member of ECS task definitions yet");
            } else {
                match closest(k, known) {
                    Some(meant) => self.problem(&key, format!("unknown member (did you mean {meant}?)")),
                    None => self.problem(&key, "unknown member"),
                }
            }
        }
    }

    fn string(&mut self, key: &str, v: Option<&Value>) -> Option<String> {
        match v? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.problem(key, format!("expected a string, got {}", kind(other)));
                None
            }
        }
    }

    fn number(&mut self, key: &str, v: Option<&Value>, range: std::ops::RangeInclusive<u64>) -> Option<u64> {
        let n = match v? {
            Value::Number(n) => n.as_u64(),
            _ => None,
        };
        match n {
            Some(n) if range.contains(&n) => Some(n),
            _ => {
                self.problem(key, format!("expected a whole number from {} to {}", range.start(), range.end()));
                None
            }
        }
    }

    fn strings(&mut self, key: &str, v: Option<&Value>) -> Vec<String> {
        match v {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.string(&format!("{key}[{i}]"), Some(item)))
                .collect(),
            Some(other) => {
                self.problem(key, format!("expected an array of strings, got {}", kind(other)));
                Vec::new()
            }
        }
    }

    fn objects<'v>(&mut self, key: &str, v: Option<&'v Value>) -> Vec<(String, &'v Map<String, Value>)> {
        match v {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match item {
                    Value::Object(o) => Some((format!("{key}[{i}]"), o)),
                    other => {
                        self.problem(&format!("{key}[{i}]"), format!("expected an object, got {}", kind(other)));
                        None
                    }
                })
                .collect(),
            Some(other) => {
                self.problem(key, format!("expected an array of objects, got {}", kind(other)));
                Vec::new()
            }
        }
    }

    fn task(&mut self, o: &Map<String, Value>) -> Option<TaskDefinition> {
        self.members("", o, TASK_MEMBERS, TASK_NOT_YET, READ_ONLY);
        let family = self.string("family", o.get("family"));
        match &family {
            None if !o.contains_key("family") => self.problem("family", "required"),
            Some(f) if !name_ok(f) => self.problem("family", "1 to 255 letters, digits, '-' or '_'"),
            _ => {}
        }
        let network_mode = match self.string("networkMode", o.get("networkMode")).as_deref() {
            None | Some("bridge") => NetworkMode::Bridge,
            Some("host") => NetworkMode::Host,
            Some("awsvpc") => NetworkMode::Awsvpc,
            Some("none") => NetworkMode::None,
            Some(other) => {
                self.problem("networkMode", format!("{other:?} is not bridge, host, awsvpc or none"));
                NetworkMode::Bridge
            }
        };
        // Task-level cpu and memory: ECS takes strings ("256", "0.25 vCPU", "512", "1 GB").
        let cpu = self.string("cpu", o.get("cpu"));
        let memory = self.string("memory", o.get("memory"));
        let task_role_arn = self.string("taskRoleArn", o.get("taskRoleArn"));
        let execution_role_arn = self.string("executionRoleArn", o.get("executionRoleArn"));
        let requires_compatibilities = self.strings("requiresCompatibilities", o.get("requiresCompatibilities"));
        let mut tags = Vec::new();
        for (key, t) in self.objects("tags", o.get("tags")) {
            self.members(&key, t, &["key", "value"], &[], &[]);
            let k = self.string(&format!("{key}.key"), t.get("key"));
            let v = self.string(&format!("{key}.value"), t.get("value")).unwrap_or_default();
            if let Some(k) = k {
                tags.push(Tag { key: k, value: v });
            }
        }
        let containers = self.objects("containerDefinitions", o.get("containerDefinitions"));
        if !o.contains_key("containerDefinitions") {
            self.problem("containerDefinitions", "required: at least one container");
        } else if containers.is_empty() || containers.len() > 10 {
            self.problem("containerDefinitions", format!("1 to 10 containers, got {}", containers.len()));
        }
        let mut container_definitions = Vec::new();
        let mut names = BTreeSet::new();
        let mut host_ports = BTreeSet::new();
        for (key, c) in containers {
            let Some(def) = self.container(&key, c, network_mode) else { continue };
            if !names.insert(def.name.clone()) {
                self.problem(&format!("{key}.name"), format!("container name {:?} is used twice", def.name));
            }
            for (i, p) in def.port_mappings.iter().enumerate() {
                if p.host_port != 0 && !host_ports.insert((p.host_port, p.protocol)) {
                    self.problem(
                        &format!("{key}.portMappings[{i}].hostPort"),
                        format!("host port {} is mapped twice in this task definition", p.host_port),
                    );
                }
            }
            container_definitions.push(def);
        }
        if !container_definitions.is_empty() && !container_definitions.iter().any(|c| c.essential) {
            self.problem("containerDefinitions", "at least one container must be essential (the default)");
        }
        Some(TaskDefinition {
            family: family?,
            container_definitions,
            network_mode,
            cpu,
            memory,
            task_role_arn,
            execution_role_arn,
            requires_compatibilities,
            tags,
        })
    }

    fn container(&mut self, at: &str, o: &Map<String, Value>, mode: NetworkMode) -> Option<ContainerDefinition> {
        self.members(at, o, CONTAINER_MEMBERS, CONTAINER_NOT_YET, &[]);
        let key = |k: &str| format!("{at}.{k}");
        let name = self.string(&key("name"), o.get("name"));
        match &name {
            None if !o.contains_key("name") => self.problem(&key("name"), "required"),
            Some(n) if !name_ok(n) => self.problem(&key("name"), "1 to 255 letters, digits, '-' or '_'"),
            _ => {}
        }
        let image = self.string(&key("image"), o.get("image"));
        match &image {
            None if !o.contains_key("image") => self.problem(&key("image"), "required"),
            Some(i) if i.trim().is_empty() || i.len() > 255 || i.chars().any(char::is_whitespace) => {
                self.problem(&key("image"), "an image reference: 1 to 255 characters, no spaces")
            }
            _ => {}
        }
        let essential = match o.get("essential") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.problem(&key("essential"), format!("expected a boolean, got {}", kind(other)));
                true
            }
        };
        let command = self.strings(&key("command"), o.get("command"));
        let entry_point = self.strings(&key("entryPoint"), o.get("entryPoint"));
        let mut variables = BTreeSet::new();
        let mut environment = Vec::new();
        for (k, e) in self.objects(&key("environment"), o.get("environment")) {
            self.members(&k, e, &["name", "value"], &[], &[]);
            let (Some(n), v) =
                (self.string(&format!("{k}.name"), e.get("name")), self.string(&format!("{k}.value"), e.get("value")))
            else {
                self.problem(&k, "needs a name");
                continue;
            };
            if !variables.insert(n.clone()) {
                self.problem(&format!("{k}.name"), format!("variable {n} is set twice"));
            }
            environment.push(KeyValue { name: n, value: v.unwrap_or_default() });
        }
        let mut secrets = Vec::new();
        for (k, s) in self.objects(&key("secrets"), o.get("secrets")) {
            self.members(&k, s, &["name", "valueFrom"], &[], &[]);
            let n = self.string(&format!("{k}.name"), s.get("name"));
            let from = self.string(&format!("{k}.valueFrom"), s.get("valueFrom"));
            let (Some(n), Some(from)) = (n, from) else {
                self.problem(&k, "needs a name and a valueFrom (the ferry secret)");
                continue;
            };
            if !variables.insert(n.clone()) {
                self.problem(&format!("{k}.name"), format!("variable {n} is set twice"));
            }
            secrets.push(Secret { name: n, value_from: from });
        }
        let mut port_mappings = Vec::new();
        for (k, p) in self.objects(&key("portMappings"), o.get("portMappings")) {
            self.members(
                &k,
                p,
                &["containerPort", "hostPort", "protocol", "name", "appProtocol"],
                &["containerPortRange"],
                &[],
            );
            let container_port = self.number(&format!("{k}.containerPort"), p.get("containerPort"), 1..=65535);
            if !p.contains_key("containerPort") {
                self.problem(&format!("{k}.containerPort"), "required");
            }
            let host_port = self.number(&format!("{k}.hostPort"), p.get("hostPort"), 0..=65535).unwrap_or(0);
            let protocol = match self.string(&format!("{k}.protocol"), p.get("protocol")).as_deref() {
                None | Some("tcp") => Protocol::Tcp,
                Some("udp") => Protocol::Udp,
                Some(other) => {
                    self.problem(&format!("{k}.protocol"), format!("{other:?} is not tcp or udp"));
                    Protocol::Tcp
                }
            };
            let name = self.string(&format!("{k}.name"), p.get("name"));
            let Some(container_port) = container_port else { continue };
            if matches!(mode, NetworkMode::Host | NetworkMode::Awsvpc)
                && host_port != 0
                && host_port as u64 != container_port
            {
                self.problem(
                    &format!("{k}.hostPort"),
                    format!(
                        "with networkMode host or awsvpc the host port must equal the container port ({container_port})"
                    ),
                );
            }
            port_mappings.push(PortMapping {
                container_port: container_port as u16,
                host_port: host_port as u16,
                protocol,
                name,
            });
        }
        let health_check = match o.get("healthCheck") {
            None => None,
            Some(Value::Object(h)) => self.health_check(&key("healthCheck"), h),
            Some(other) => {
                self.problem(&key("healthCheck"), format!("expected an object, got {}", kind(other)));
                None
            }
        };
        let cpu = self.number(&key("cpu"), o.get("cpu"), 0..=10240).map(|n| n as u32);
        let memory = self.number(&key("memory"), o.get("memory"), 6..=u32::MAX as u64).map(|n| n as u32);
        let memory_reservation =
            self.number(&key("memoryReservation"), o.get("memoryReservation"), 6..=u32::MAX as u64).map(|n| n as u32);
        if let (Some(hard), Some(soft)) = (memory, memory_reservation)
            && soft > hard
        {
            self.problem(&key("memoryReservation"), format!("{soft} MiB is more than memory ({hard} MiB)"));
        }
        let working_directory = self.string(&key("workingDirectory"), o.get("workingDirectory"));
        let user = self.string(&key("user"), o.get("user"));
        let stop_timeout = self.number(&key("stopTimeout"), o.get("stopTimeout"), 2..=120).map(|n| n as u32);
        Some(ContainerDefinition {
            name: name?,
            image: image?,
            essential,
            command,
            entry_point,
            environment,
            secrets,
            port_mappings,
            health_check,
            cpu,
            memory,
            memory_reservation,
            working_directory,
            user,
            stop_timeout,
        })
    }

    fn health_check(&mut self, at: &str, h: &Map<String, Value>) -> Option<HealthCheck> {
        self.members(at, h, &["command", "interval", "timeout", "retries", "startPeriod"], &[], &[]);
        let command = self.strings(&format!("{at}.command"), h.get("command"));
        match command.first().map(String::as_str) {
            Some("CMD") if command.len() >= 2 => {}
            Some("CMD-SHELL") if command.len() == 2 => {}
            _ => self
                .problem(&format!("{at}.command"), "[\"CMD\", program, args…] or [\"CMD-SHELL\", \"a shell command\"]"),
        }
        let mut field = |name: &str, range: std::ops::RangeInclusive<u64>, default: u32| {
            let key = format!("{at}.{name}");
            match h.get(name) {
                None => default,
                v => self.number(&key, v, range).map_or(default, |n| n as u32),
            }
        };
        let interval = field("interval", 5..=300, 30);
        let timeout = field("timeout", 2..=60, 5);
        let retries = field("retries", 1..=10, 3);
        let start_period = field("startPeriod", 0..=300, 0);
        Some(HealthCheck { command, interval, timeout, retries, start_period })
    }
}

#[cfg(test)]
mod tests;
