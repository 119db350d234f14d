//! Scaling groups (issue #16; the rules are `ferry_core::scaling`): ferry
//! keeps each at its desired capacity by running its provider's launch and
//! terminate commands.
//!
//! Every second (and when woken) [`reconcile`] looks at each group under
//! one lock: what it knows of each host (its agent enrolled since the
//! launch; how long it has been silent), the plan, and each action
//! recorded with its `ScalingActivity` event *before* its command runs.
//! Commands run in tasks of their own, at most one per host; their outcome
//! is recorded under the same lock. A server that stops mid-command finds
//! the host Launching (it times out and is terminated, so whatever the
//! launch made is cleaned up) or Terminating (terminated again): nothing
//! is lost or left half-made.
//!
//! Commands see `FERRY_HOST_NAME`, `FERRY_HOST_TAGS` (`k=v` separated by
//! spaces), `FERRY_SCALING_GROUP`, `FERRY_SERVER_URL` and
//! `FERRY_JOIN_TOKEN`; the token is masked in the output ferry keeps. The
//! `local` provider runs `ferry fleet launch|terminate` against a running
//! `ferry fleet run --spare N`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use ferry_core::notices::{Notice, NoticeKind};
use ferry_core::resources::Tag;
use ferry_core::scaling::{self, Action, HostFacts, Provider, ScalingGroup};
use ferry_store::{NewEvent, StoreError};
use tokio::sync::Notify;

use super::OpError;
use crate::AppState;
use crate::clock::now_millis;

/// How long a host's termination hooks may take before it is terminated anyway.
const HOOKS_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a launch or terminate command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);
/// How much of a command's output is kept (the end of it).
const OUTPUT_TAIL: usize = 2000;
const EVERY: Duration = Duration::from_secs(1);

/// The scaling groups' state in this process.
#[derive(Default)]
pub struct Scaling {
    /// Serialises every change of scaling groups.
    lock: tokio::sync::Mutex<()>,
    pub wake: Notify,
    /// Hosts whose launch or terminate command runs now.
    running: Mutex<HashSet<String>>,
}

/// A scaling group to create, as the APIs take it.
pub struct NewScalingGroup {
    pub name: String,
    pub provider: Provider,
    pub min: u32,
    pub desired: u32,
    pub max: u32,
    pub tags: Vec<Tag>,
    pub launch_timeout_ms: Option<u64>,
    pub replace_after_ms: Option<u64>,
}

fn not_found(name: &str) -> impl FnOnce(StoreError) -> OpError + '_ {
    move |e| match e {
        StoreError::NotFound => OpError::ScalingGroupNotFound(name.to_string()),
        e => e.into(),
    }
}

pub async fn create(state: &AppState, new: NewScalingGroup) -> Result<ScalingGroup, OpError> {
    ferry_core::ids::validate_name(&new.name).map_err(OpError::Invalid)?;
    scaling::check_capacity(new.min, new.desired, new.max).map_err(OpError::Invalid)?;
    if new.tags.is_empty() {
        return Err(OpError::Invalid(
            "a scaling group needs at least one tag: its hosts join deployment groups by their tags".into(),
        ));
    }
    match &new.provider {
        Provider::Command { launch, terminate } if launch.trim().is_empty() || terminate.trim().is_empty() => {
            return Err(OpError::Invalid("the command provider needs a launch command and a terminate command".into()));
        }
        Provider::Local { fleet_dir } if !std::path::Path::new(fleet_dir).is_absolute() => {
            return Err(OpError::Invalid(format!(
                "the local provider's fleet directory must be an absolute path (got {fleet_dir:?})"
            )));
        }
        _ => {}
    }
    let launch_timeout_ms = new.launch_timeout_ms.unwrap_or(600_000);
    let replace_after_ms = new.replace_after_ms.unwrap_or(state.config.agent_lost_after.as_millis() as u64 * 2);
    if launch_timeout_ms < 1_000 || replace_after_ms < 1_000 {
        return Err(OpError::Invalid("the launch timeout and the replacement grace are at least 1 s".into()));
    }
    let group = ScalingGroup {
        name: new.name,
        provider: new.provider,
        min: new.min,
        desired: new.desired,
        max: new.max,
        tags: new.tags,
        hosts: Vec::new(),
        next_host: 1,
        launch_failures: 0,
        launch_after: None,
        launch_timeout_ms,
        replace_after_ms,
        deleting: false,
        create_time: now_millis(),
    };
    let _guard = state.driver.scaling.lock.lock().await;
    state.store.create_scaling_group(&group).await.map_err(|e| match e {
        StoreError::AlreadyExists { .. } => OpError::ScalingGroupExists(group.name.clone()),
        e => e.into(),
    })?;
    tracing::info!(group = %group.name, desired = group.desired, provider = group.provider.kind(), "scaling group created");
    state.driver.scaling.wake.notify_one();
    Ok(group)
}

pub async fn get(state: &AppState, name: &str) -> Result<ScalingGroup, OpError> {
    state.store.get_scaling_group(name).await.map_err(not_found(name))
}

pub async fn list(state: &AppState) -> Result<Vec<ScalingGroup>, OpError> {
    Ok(state.store.list_scaling_groups().await?)
}

/// Sets the desired capacity (and the minimum and maximum, when given).
pub async fn set_capacity(
    state: &AppState,
    name: &str,
    desired: u32,
    min: Option<u32>,
    max: Option<u32>,
) -> Result<ScalingGroup, OpError> {
    let _guard = state.driver.scaling.lock.lock().await;
    let mut g = get(state, name).await?;
    if g.deleting {
        return Err(OpError::Invalid(format!("scaling group {name} is being deleted")));
    }
    let (min, max) = (min.unwrap_or(g.min), max.unwrap_or(g.max));
    scaling::check_capacity(min, desired, max).map_err(OpError::Invalid)?;
    let message = format!("capacity {} → {desired} (min {min}, max {max})", g.desired);
    (g.min, g.desired, g.max) = (min, desired, max);
    save(state, &g, false, vec![activity(&g.name, None, "CapacityChanged", Some(message))]).await?;
    state.driver.scaling.wake.notify_one();
    Ok(g)
}

/// Deletes a group: its hosts are terminated, then it goes.
pub async fn delete(state: &AppState, name: &str) -> Result<ScalingGroup, OpError> {
    let _guard = state.driver.scaling.lock.lock().await;
    let mut g = get(state, name).await?;
    g.deleting = true;
    let message = format!("deleting: its {} hosts are terminated, then it goes", g.hosts.len());
    save(state, &g, false, vec![activity(&g.name, None, "Deleting", Some(message))]).await?;
    state.driver.scaling.wake.notify_one();
    Ok(g)
}

/// Keeps the groups at their capacity until `stop`.
pub async fn watch_forever(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let woken = state.driver.scaling.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if !state.driver.is_shutting_down()
            && let Err(e) = reconcile(&state).await
        {
            tracing::warn!(error = %e, "cannot keep the scaling groups at their capacity");
        }
        tokio::select! {
            _ = &mut woken => {}
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One look at every group.
pub async fn reconcile(state: &AppState) -> Result<(), OpError> {
    let scaling = &state.driver.scaling;
    let _guard = scaling.lock.lock().await;
    for mut g in state.store.list_scaling_groups().await? {
        let now = now_millis();
        let mut facts = HashMap::new();
        for h in &g.hosts {
            facts.insert(h.name.clone(), host_facts(state, h.launched, &h.name).await?);
        }
        let running = scaling.running.lock().unwrap().clone();
        let actions = scaling::plan(&g, |n| facts.get(n).copied().unwrap_or_default(), |n| running.contains(n), now);
        if actions.is_empty() {
            if g.deleting && g.hosts.is_empty() {
                save(state, &g, true, vec![activity(&g.name, None, "Deleted", None)]).await?;
                tracing::info!(group = %g.name, "scaling group deleted");
            }
            continue;
        }
        let mut events = Vec::new();
        for a in &actions {
            scaling::apply(&mut g, a, now);
            match a {
                Action::Launch { name } => events.push(activity(&g.name, Some(name), "Launching", None)),
                Action::InService { name } => {
                    events.push(activity(&g.name, Some(name), "InService", Some("its agent enrolled".into())));
                }
                Action::Terminate { name, reason, .. } => {
                    events.push(activity(&g.name, Some(name), "Terminating", Some(reason.clone())));
                }
                Action::RetryTerminate { .. } => {}
            }
        }
        // Recorded before any command runs.
        save(state, &g, false, events).await?;
        for a in actions {
            match a {
                Action::Launch { name } => spawn(state, &g, name, Op::Launch),
                Action::Terminate { name, .. } | Action::RetryTerminate { name } => {
                    spawn(state, &g, name, Op::Terminate)
                }
                Action::InService { .. } => {}
            }
        }
    }
    Ok(())
}

async fn host_facts(state: &AppState, launched: u64, name: &str) -> Result<HostFacts, OpError> {
    let enrolled = match state.store.get_instance(name).await {
        Ok(i) => i.deregister_time.is_none() && i.register_time >= launched && i.agent_key_id.is_some(),
        Err(StoreError::NotFound) => false,
        Err(e) => return Err(e.into()),
    };
    let silent_ms = enrolled.then(|| state.driver.agent_silence(name).as_millis() as u64);
    Ok(HostFacts { enrolled, silent_ms })
}

async fn save(state: &AppState, g: &ScalingGroup, delete: bool, events: Vec<NewEvent>) -> Result<(), OpError> {
    let seqs = state.store.save_scaling_group(g, delete, &events).await.map_err(not_found(&g.name))?;
    if let Some(last) = seqs.into_iter().max() {
        state.driver.events.published(last);
    }
    Ok(())
}

fn activity(group: &str, host: Option<&str>, status: &str, message: Option<String>) -> NewEvent {
    NewEvent {
        notice: Notice {
            kind: NoticeKind::ScalingActivity,
            time: now_millis(),
            deployment_id: String::new(),
            application_name: String::new(),
            group_name: group.to_string(),
            instance: host.map(str::to_string),
            lifecycle_event: None,
            status: status.to_string(),
            message,
            build: None,
            pipeline: None,
        },
        deliveries: Vec::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Launch,
    Terminate,
}

fn spawn(state: &AppState, g: &ScalingGroup, host: String, op: Op) {
    if !state.driver.scaling.running.lock().unwrap().insert(host.clone()) {
        return;
    }
    let state = state.clone();
    let group = g.name.clone();
    let provider = g.provider.clone();
    let tags = g.tags.clone();
    tokio::spawn(async move {
        let note = if op == Op::Terminate { termination_hooks(&state, &group, &host).await } else { String::new() };
        let outcome = run_command(&state, &group, &provider, op, &host, &tags).await;
        let outcome = match outcome {
            Ok(output) if !note.is_empty() => Ok(format!("{note}; {output}")),
            other => other,
        };
        if let Err(e) = finish(&state, &group, &host, op, outcome).await {
            tracing::warn!(group = %group, host = %host, error = %e, "cannot record a scaling command's outcome");
        }
        state.driver.scaling.running.lock().unwrap().remove(&host);
        state.driver.scaling.wake.notify_one();
    });
}

async fn finish(
    state: &AppState,
    group: &str,
    host: &str,
    op: Op,
    outcome: Result<String, String>,
) -> Result<(), OpError> {
    let _guard = state.driver.scaling.lock.lock().await;
    let mut g = match get(state, group).await {
        Ok(g) => g,
        Err(OpError::ScalingGroupNotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let Some(launched) = g.hosts.iter().find(|h| h.name == host).map(|h| h.launched) else { return Ok(()) };
    let now = now_millis();
    let event = match (op, outcome) {
        (Op::Launch, Ok(output)) => {
            tracing::info!(group, host, "launch command succeeded; waiting for the agent to enrol");
            activity(group, Some(host), "Launched", Some(with_output("the launch command succeeded", &output)))
        }
        (Op::Launch, Err(why)) => {
            tracing::warn!(group, host, %why, "launch command failed");
            scaling::launch_failed(&mut g, host, &why, now);
            activity(group, Some(host), "LaunchFailed", Some(why))
        }
        (Op::Terminate, Ok(output)) => {
            crate::ops::instances::deregister(state, host, Some(launched)).await?;
            scaling::terminated(&mut g, host);
            tracing::info!(group, host, "host terminated");
            activity(group, Some(host), "Terminated", Some(with_output("the terminate command succeeded", &output)))
        }
        (Op::Terminate, Err(why)) => {
            tracing::warn!(group, host, %why, "terminate command failed");
            scaling::terminate_failed(&mut g, host, &why, now);
            activity(group, Some(host), "TerminateFailed", Some(why))
        }
    };
    save(state, &g, false, vec![event]).await
}

/// Runs the termination hooks of a host terminated on purpose (its
/// deployment groups' termination deployments, made once and recorded on
/// the host) and waits for them, up to [`HOOKS_TIMEOUT`]; the host is
/// terminated whatever they did. Returns what to say about them.
async fn termination_hooks(state: &AppState, group: &str, host: &str) -> String {
    let ids = {
        let _guard = state.driver.scaling.lock.lock().await;
        let Ok(mut g) = get(state, group).await else { return String::new() };
        let Some(h) = g.hosts.iter_mut().find(|h| h.name == host) else { return String::new() };
        if !h.drain {
            return String::new();
        }
        match h.hooks.clone() {
            Some(ids) => ids,
            None => {
                let ids = match state.driver.create_terminations(host).await {
                    Ok(ids) => ids,
                    Err(e) => return format!("its termination hooks could not start: {e}"),
                };
                h.hooks = Some(ids.clone());
                let message = if ids.is_empty() {
                    "none of its deployment groups has termination hooks".to_string()
                } else {
                    format!("termination hooks first: {}", ids.join(", "))
                };
                let event = activity(group, Some(host), "TerminationHooks", Some(message));
                if let Err(e) = save(state, &g, false, vec![event]).await {
                    tracing::warn!(group, host, error = %e, "cannot record the termination hooks");
                }
                ids
            }
        }
    };
    if ids.is_empty() {
        return String::new();
    }
    let deadline = tokio::time::Instant::now() + HOOKS_TIMEOUT;
    loop {
        let mut ended = Vec::new();
        for id in &ids {
            match state.store.get_deployment(id).await {
                Ok(d) if d.status.is_terminal() => ended.push(format!("{id} {}", d.status.as_str())),
                Ok(_) => {}
                Err(StoreError::NotFound) => ended.push(format!("{id} gone")),
                Err(e) => tracing::warn!(deployment = %id, error = %e, "cannot read a termination deployment"),
            }
        }
        if ended.len() == ids.len() {
            return format!("termination hooks ran ({})", ended.join(", "));
        }
        if tokio::time::Instant::now() >= deadline {
            return format!("termination hooks did not end within {} s: terminated anyway", HOOKS_TIMEOUT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn with_output(what: &str, output: &str) -> String {
    if output.is_empty() { what.to_string() } else { format!("{what}: {output}") }
}

/// The server agents reach (what a launched host is given).
fn server_url(state: &AppState) -> String {
    let scheme = if matches!(state.config.tls, crate::tls::TlsMode::Off) { "http" } else { "https" };
    match state.config.listen.first() {
        Some(addr) if addr.ip().is_unspecified() => format!("{scheme}://127.0.0.1:{}", addr.port()),
        Some(addr) => format!("{scheme}://{addr}"),
        None => format!("{scheme}://127.0.0.1:7800"),
    }
}

/// The join token as agents are given it (with the CA's fingerprint).
fn join_token(state: &AppState) -> Option<String> {
    std::fs::read_to_string(state.config.data_dir.join("join-token"))
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| state.config.join_token.clone())
}

async fn run_command(
    state: &AppState,
    group: &str,
    provider: &Provider,
    op: Op,
    host: &str,
    tags: &[Tag],
) -> Result<String, String> {
    let mut tag_list: Vec<String> = tags.iter().map(|t| format!("{}={}", t.key, t.value)).collect();
    // Deployment groups naming the scaling group (autoScalingGroups) find its hosts by it.
    tag_list.push(format!("{}={group}", ferry_core::resources::SCALING_GROUP_TAG));
    let mut command = match provider {
        Provider::Command { launch, terminate } => {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c").arg(if op == Op::Launch { launch } else { terminate });
            c
        }
        Provider::Local { fleet_dir } => {
            let exe = std::env::current_exe().map_err(|e| format!("cannot find the ferry binary: {e}"))?;
            let mut c = tokio::process::Command::new(exe);
            c.args([
                "fleet",
                if op == Op::Launch { "launch" } else { "terminate" },
                "--dir",
                fleet_dir,
                "--name",
                host,
            ]);
            if op == Op::Launch {
                for t in &tag_list {
                    c.args(["--tag", t]);
                }
            }
            c
        }
    };
    let token = join_token(state);
    command
        .env("FERRY_HOST_NAME", host)
        .env("FERRY_HOST_TAGS", tag_list.join(" "))
        .env("FERRY_SCALING_GROUP", group)
        .env("FERRY_SERVER_URL", server_url(state))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(token) = &token {
        command.env("FERRY_JOIN_TOKEN", token);
    }
    let child = command.spawn().map_err(|e| format!("cannot run the command: {e}"))?;
    let output = match tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output()).await {
        Err(_) => return Err(format!("the command ran for more than {} s and was killed", COMMAND_TIMEOUT.as_secs())),
        Ok(Err(e)) => return Err(format!("the command failed to run: {e}")),
        Ok(Ok(output)) => output,
    };
    let mut text = String::from_utf8_lossy(&output.stdout).to_string();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    if let Some(token) = &token {
        // A command that echoes its environment must not put the token in the event log.
        text = text.replace(token.as_str(), "***");
    }
    let text = text.trim();
    let start = text.len().saturating_sub(OUTPUT_TAIL);
    let start = (start..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
    let tail = text[start..].to_string();
    if output.status.success() { Ok(tail) } else { Err(format!("the command failed ({}): {tail}", output.status)) }
}
