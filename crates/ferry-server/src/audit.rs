//! The audit log: every mutating call — who (key id and role), what, when,
//! from where, and the result — allowed or refused.
//!
//! A middleware wraps each request that can change something (every
//! non-GET request of the native API and the console, the AWS API's
//! mutating operations, agent enrolment) in a task-local [`Note`]; the code
//! that verifies the caller, names the operation or its target, or turns an
//! error into an answer fills it in as the request goes. After the handler
//! answered, the entry is written to the store *before* the answer leaves,
//! so an acknowledged call is always on record. Agents' polls and reports
//! are not audited (they are the deployment itself, in the event log).
//!
//! Whatever a caller chose (a claimed key id, a path, a name) is kept only
//! as [`bounded`] text: control characters escaped and cut to
//! [`MAX_FIELD`] characters. Refused calls of callers that did not
//! authenticate are limited per address (`throttle::RowLimiter`): past
//! the limit they are counted and recorded as one summary entry a minute,
//! so refusals cannot fill the disk.
//!
//! The recorder knows nothing of callers' rights or error answers (they
//! report to it); the log is read through `audit_api`.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use ferry_core::resources::{AuditEntry, Role};
use ferry_store::Store;

use crate::clock::now_millis;
use crate::throttle::{Admit, Suppressed, Throttles};

/// Longest text (in characters) kept of anything a caller chose, in audit
/// entries and in log lines.
pub const MAX_FIELD: usize = 128;

/// `text` safe to store, log and print: control characters (C0, DEL, C1)
/// and line or paragraph separators escaped (`\n`, `\u{1b}`), and cut to
/// [`MAX_FIELD`] characters, the cut marked with how long it was.
pub fn bounded(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_FIELD + 32));
    for (kept, c) in text.chars().enumerate() {
        if kept >= MAX_FIELD {
            let _ = write!(out, "…[cut, {} bytes in all]", text.len());
            return out;
        }
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            let _ = write!(out, "{}", c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// What is learnt about a call while it is handled.
#[derive(Debug, Default, Clone)]
struct Note {
    key_id: Option<String>,
    role: Option<Role>,
    action: Option<String>,
    target: Option<String>,
    error: Option<String>,
}

tokio::task_local! {
    static NOTE: RefCell<Note>;
}

fn with_note(f: impl FnOnce(&mut Note)) {
    let _ = NOTE.try_with(|note| f(&mut note.borrow_mut()));
}

/// The key a request claims (before its signature is checked).
pub fn note_claimed_key(key_id: &str) {
    with_note(|n| n.key_id = Some(bounded(key_id)));
}

/// The verified caller.
pub fn note_caller(key_id: &str, role: Role) {
    with_note(|n| {
        n.key_id = Some(bounded(key_id));
        n.role = Some(role);
    });
}

/// The operation (for the AWS API, whose path says nothing).
pub fn note_action(action: &str) {
    with_note(|n| n.action = Some(bounded(action)));
}

/// What the call is about: `app`, `app/group`, a deployment id, a key id.
pub fn note_target(target: impl Into<String>) {
    with_note(|n| {
        n.target.get_or_insert_with(|| bounded(&target.into()));
    });
}

/// The error code the call was answered with.
pub fn note_error(code: &str) {
    with_note(|n| n.error = Some(bounded(code)));
}

/// Which API a path belongs to, and whether a request there is audited.
fn audited(method: &axum::http::Method, path: &str, aws_target: Option<&str>) -> Option<&'static str> {
    use axum::http::Method;
    if path == "/" && method == Method::POST {
        if aws_target.is_some_and(|t| t.starts_with(ferry_aws::codebuild::TARGET_PREFIX)) {
            let op = ferry_aws::codebuild::Operation::from_target(aws_target).ok()?;
            return op.mutates().then_some("aws");
        }
        let op = ferry_aws::Operation::from_target(aws_target).ok()?;
        return op.mutates().then_some("aws");
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    if path == "/agent/v1/enrol" {
        Some("agent")
    } else if path.starts_with("/agent/") {
        None
    } else if path.starts_with("/console") {
        Some("console")
    } else {
        Some("native")
    }
}

/// What the recorder writes to, and the limits it keeps.
#[derive(Clone)]
pub struct Recorder {
    pub store: Store,
    pub throttles: Arc<Throttles>,
}

/// The middleware: handles the request inside a [`Note`] and records it.
pub async fn record(State(state): State<Recorder>, request: Request, next: Next) -> Response {
    let aws_target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_string);
    let Some(api) = audited(request.method(), request.uri().path(), aws_target.as_deref()) else {
        return next.run(request).await;
    };
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip());
    let source = peer.map(|ip| ip.to_string()).unwrap_or_default();
    let action = bounded(&format!("{} {}", request.method(), request.uri().path()));
    let (response, note) = NOTE
        .scope(RefCell::new(Note::default()), async move {
            let response = next.run(request).await;
            (response, NOTE.with(|n| n.borrow().clone()))
        })
        .await;
    let entry = AuditEntry {
        time: now_millis(),
        key_id: note.key_id,
        role: note.role.map(|r| r.as_str().to_string()),
        source,
        api: api.to_string(),
        action: note.action.unwrap_or(action),
        target: note.target,
        status: response.status().as_u16(),
        error: note.error.or_else(|| (response.status().as_u16() >= 400).then(|| "Error".to_string())),
    };
    // Nobody is accountable for an unauthenticated refusal: past the
    // address's limit it is only counted.
    let mut ended = Vec::new();
    let admit = if entry.role.is_none() && entry.refused() {
        state.throttles.audit.admit(peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), Instant::now(), &mut ended)
    } else {
        Admit::Write
    };
    write_summaries(&state, &ended).await;
    if admit == Admit::Write {
        append(&state, &entry).await;
    }
    response
}

async fn append(state: &Recorder, entry: &AuditEntry) {
    if let Err(e) = state.store.append_audit(entry).await {
        // The change (if any) is made; losing its record is logged loudly.
        tracing::error!(error = %e, action = %entry.action, key = ?entry.key_id, "cannot write the audit log");
    }
}

/// The entry that stands for refusals counted but not recorded one by one.
fn summary(s: &Suppressed, time: u64) -> AuditEntry {
    AuditEntry {
        time,
        key_id: None,
        role: None,
        source: s.source.map(|ip| ip.to_string()).unwrap_or_else(|| "(many addresses)".into()),
        api: "audit".into(),
        action: "refused unauthenticated calls (summary)".into(),
        target: Some(format!(
            "{} more refused unauthenticated calls in a minute, past the limit of {} recorded one by one",
            s.count,
            crate::throttle::AUDIT_ROWS_PER_MINUTE
        )),
        status: 429,
        error: Some("Summarised".into()),
    }
}

async fn write_summaries(state: &Recorder, ended: &[Suppressed]) {
    for s in ended {
        append(state, &summary(s, now_millis())).await;
    }
}

/// Writes the summaries of rate-limited minutes that ended, every few
/// seconds (so that the count of an address that went quiet is recorded too).
pub async fn summarise_forever(state: Recorder) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        let ended = state.throttles.audit.ended(Instant::now());
        write_summaries(&state, &ended).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn what_is_audited() {
        assert_eq!(audited(&Method::POST, "/api/v1/deployments", None), Some("native"));
        assert_eq!(audited(&Method::GET, "/api/v1/deployments", None), None);
        assert_eq!(audited(&Method::DELETE, "/api/v1/alarms/x", None), Some("native"));
        assert_eq!(audited(&Method::POST, "/agent/v1/enrol", None), Some("agent"));
        assert_eq!(audited(&Method::POST, "/agent/v1/report", None), None);
        assert_eq!(audited(&Method::POST, "/console/deployments/d-1/stop", None), Some("console"));
        assert_eq!(audited(&Method::POST, "/", Some("CodeDeploy_20141006.CreateDeployment")), Some("aws"));
        assert_eq!(audited(&Method::POST, "/", Some("CodeDeploy_20141006.GetDeployment")), None);
    }

    #[test]
    fn caller_chosen_text_is_cut_and_escaped() {
        assert_eq!(bounded("FKIAABC"), "FKIAABC");
        assert_eq!(bounded("evil\nFORGED line\u{1b}[2J\u{9b}"), "evil\\nFORGED line\\u{1b}[2J\\u{9b}");
        let huge = "K".repeat(1_900_000);
        let cut = bounded(&huge);
        assert_eq!(cut, format!("{}…[cut, 1900000 bytes in all]", "K".repeat(MAX_FIELD)));
        // Escapes cannot make it long either.
        assert!(bounded(&"\u{1b}".repeat(10_000)).len() < 1100);
        // Every note takes bounded text.
        let note = note_of(|| {
            note_claimed_key(&huge);
            note_target(huge.clone());
            note_action(&huge);
            note_error(&huge);
        });
        for field in [note.key_id, note.target, note.action, note.error] {
            assert_eq!(field.as_deref(), Some(cut.as_str()));
        }
    }

    fn note_of(f: impl FnOnce()) -> Note {
        NOTE.sync_scope(RefCell::new(Note::default()), || {
            f();
            NOTE.with(|n| n.borrow().clone())
        })
    }

    #[tokio::test]
    async fn notes_are_per_request_and_ignored_outside_one() {
        note_caller("OUTSIDE", Role::Admin);
        let note = NOTE
            .scope(RefCell::new(Note::default()), async {
                note_claimed_key("K1");
                note_caller("K1", Role::Deployer);
                note_target("shop/web");
                note_target("ignored: the first target wins");
                note_error("AccessDenied");
                NOTE.with(|n| n.borrow().clone())
            })
            .await;
        assert_eq!(note.key_id.as_deref(), Some("K1"));
        assert_eq!(note.role, Some(Role::Deployer));
        assert_eq!(note.target.as_deref(), Some("shop/web"));
        assert_eq!(note.error.as_deref(), Some("AccessDenied"));
    }
}
