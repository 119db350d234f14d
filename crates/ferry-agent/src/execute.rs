//! Carrying out one command: its events in order, each journaled and
//! reported as it starts and as it ends.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ferry_host::{BundleFetcher, HostEngine};
use ferry_proto::agent::{self, EventReport, Phase, ReportResponse};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::backoff::{Backoff, FailureLog};
use crate::client::{Client, RequestError};
use crate::convert::{to_host_spec, to_proto_diagnostics};
use crate::error::AgentError;
use crate::journal::{CommandRecord, Journal, Outcome, Step, StepState, unix_now};

/// What every command task shares.
pub(crate) struct Shared {
    pub client: Client,
    pub engine: HostEngine,
    pub journal: Journal,
    pub backoff: Backoff,
    /// `Some(when)` once shutdown was requested.
    pub stopping: watch::Receiver<Option<Instant>>,
    pub shutdown_grace: Duration,
    pub credentials_file: std::path::PathBuf,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.borrow().is_some()
    }

    /// True once shutdown was requested and its grace for reports has passed.
    fn past_grace(&self) -> bool {
        self.stopping.borrow().is_some_and(|since| since.elapsed() >= self.shutdown_grace)
    }

    pub fn credential_rejected(&self, error: RequestError) -> AgentError {
        let (status, message) = match error {
            RequestError::Status { status, code, message } => (status, if message.is_empty() { code } else { message }),
            other => (0, other.to_string()),
        };
        AgentError::CredentialRejected {
            access_key_id: self.client.access_key_id().to_string(),
            status,
            message,
            credentials: self.credentials_file.clone(),
        }
    }
}

/// How a report ended.
pub(crate) enum Delivery {
    Answered(ReportResponse),
    /// The server refused it for good (a 4xx other than 401/403).
    Refused(RequestError),
    /// Shutting down and the server stayed unreachable through the grace.
    GaveUp,
}

/// Sends a report, retrying network errors and 5xx answers with backoff
/// until it is answered (or, after shutdown, until the grace runs out).
/// 401/403 is fatal for the whole agent.
pub(crate) async fn deliver(shared: &Shared, report: &EventReport) -> Result<Delivery, AgentError> {
    let mut backoff = shared.backoff.clone();
    let mut failures = FailureLog::default();
    loop {
        match shared.client.report(report).await {
            Ok(answer) => {
                if failures.recovered() {
                    tracing::info!(command = %report.command_id, event = %report.event, "report delivered after retries");
                }
                return Ok(Delivery::Answered(answer));
            }
            Err(e) if e.is_auth() => return Err(shared.credential_rejected(e)),
            Err(e) if e.is_transient() => {
                if failures.changed(&e.class()) {
                    tracing::warn!(
                        command = %report.command_id,
                        event = %report.event,
                        phase = ?report.phase,
                        error = %e,
                        "cannot deliver a report; retrying with backoff"
                    );
                }
                if shared.past_grace() {
                    tracing::warn!(command = %report.command_id, event = %report.event, phase = ?report.phase,
                        "shutting down: giving up on this report for now (it is re-sent after the next start)");
                    return Ok(Delivery::GaveUp);
                }
                let mut delay = backoff.next_delay();
                if let Some(since) = *shared.stopping.borrow() {
                    delay = delay.min(shared.shutdown_grace.saturating_sub(since.elapsed()));
                }
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Ok(Delivery::Refused(e)),
        }
    }
}

/// Re-sends the reports of finished events the server has not acknowledged.
/// Returns false when it gave up (shutting down).
pub(crate) async fn flush_reports(shared: &Shared, record: &mut CommandRecord) -> Result<bool, AgentError> {
    let mut changed = false;
    let mut complete = true;
    for index in 0..record.steps.len() {
        if record.steps[index].state != StepState::Finished {
            continue;
        }
        let Some(report) = record.finished_report(index) else { continue };
        match deliver(shared, &report).await? {
            Delivery::Answered(_) => {}
            Delivery::Refused(e) => {
                tracing::warn!(command = %record.command_id, event = %report.event, error = %e,
                    "the server refused an event report; not sending it again");
            }
            Delivery::GaveUp => {
                complete = false;
                break;
            }
        }
        record.steps[index].state = StepState::Reported;
        changed = true;
    }
    if changed && let Err(e) = shared.journal.save(record).await {
        tracing::error!(command = %record.command_id, error = %e, "cannot write the journal");
    }
    Ok(complete)
}

/// Fetches the command's bundle from the server.
struct ServerFetcher<'a> {
    client: &'a Client,
    revision: &'a agent::Revision,
    backoff: &'a Backoff,
}

impl BundleFetcher for ServerFetcher<'_> {
    fn fetch<'a>(&'a self, dest: &'a Path) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(self.client.download(self.revision, dest, self.backoff))
    }
}

/// Carries out `command`, continuing `record` (a fresh one for a new
/// command): first re-sends unacknowledged reports, then runs the events
/// that never started, unless the command is done, cancelled or the agent
/// is stopping. Returns the final record.
pub(crate) async fn execute(
    shared: Arc<Shared>,
    command: agent::Command,
    mut record: CommandRecord,
    cancel: Arc<AtomicBool>,
) -> Result<CommandRecord, AgentError> {
    if !flush_reports(&shared, &mut record).await? || record.done {
        return Ok(record);
    }
    let consistent = record.steps.len() <= command.events.len()
        && record.steps.iter().zip(&command.events).all(|(step, event)| step.event == *event);
    if !consistent {
        tracing::error!(command = %command.id, "the server changed this command's events since it started; not resuming it");
        record.done = true;
        save(&shared, &mut record).await;
        return Ok(record);
    }
    let first = record.steps.len();
    if first >= command.events.len() {
        record.done = true;
        save(&shared, &mut record).await;
        return Ok(record);
    }
    let command_started = Instant::now();
    tracing::info!(
        command = %command.id,
        deployment = %command.spec.deployment_id,
        attempt = command.attempt,
        events = %command.events[first..].join(","),
        resumed = first > 0,
        "command started"
    );
    let spec = to_host_spec(&command.spec);
    let fetcher = ServerFetcher { client: &shared.client, revision: &command.spec.revision, backoff: &shared.backoff };
    let report = |event: &str, phase, outcome: Option<&Outcome>| EventReport {
        command_id: command.id.clone(),
        deployment_id: command.spec.deployment_id.clone(),
        attempt: command.attempt,
        event: event.to_string(),
        phase,
        succeeded: outcome.is_some_and(|o| o.succeeded),
        diagnostics: outcome.map(|o| o.diagnostics.clone()),
    };
    let mut ran = 0;
    for (index, event) in command.events.iter().enumerate().skip(first) {
        if cancel.load(Ordering::SeqCst) {
            tracing::info!(command = %command.id, next = %event, "command cancelled; starting no more of its events");
            record.done = true;
            break;
        }
        if shared.stopping() {
            tracing::info!(command = %command.id, next = %event, "agent stopping; the command resumes after the next start");
            break;
        }

        // 1. Journal `started` durably before anything else.
        record.steps.push(Step {
            event: event.clone(),
            state: StepState::Started,
            started_at: unix_now(),
            outcome: None,
        });
        let journaled = shared.journal.save(&mut record).await;

        // 2. Ask the server.
        match deliver(&shared, &report(event, Phase::Started, None)).await? {
            Delivery::Answered(answer) if answer.proceed => {}
            Delivery::Answered(_) => {
                tracing::info!(command = %command.id, %event, "the server said not to proceed; stopping the command");
                refuse(&shared, &mut record).await;
                break;
            }
            Delivery::Refused(e) => {
                tracing::warn!(command = %command.id, %event, error = %e, "the server refused the event; stopping the command");
                refuse(&shared, &mut record).await;
                break;
            }
            // Stopping and unreachable: the journal says `started`, so the
            // next start reports it failed after restart.
            Delivery::GaveUp => return Ok(record),
        }

        // 3. Run it (unless it cannot be tracked or the spec is unusable).
        let event_started = Instant::now();
        tracing::info!(command = %command.id, deployment = %command.spec.deployment_id, %event, "event started");
        let diagnostics = match (&journaled, &spec) {
            (Err(e), _) => ferry_host::Diagnostics::unknown(format!(
                "not run: cannot write the agent's journal in {}: {e}",
                shared.journal.dir().display()
            )),
            (Ok(()), Err(message)) => ferry_host::Diagnostics::unknown(message.clone()),
            (Ok(()), Ok(spec)) => shared.engine.run_event(spec, event, Some(&fetcher)).await,
        };
        ran += 1;
        let succeeded = diagnostics.succeeded();
        let elapsed_ms = event_started.elapsed().as_millis() as u64;
        if succeeded {
            tracing::info!(command = %command.id, %event, elapsed_ms, "event succeeded");
        } else {
            tracing::warn!(
                command = %command.id,
                %event,
                elapsed_ms,
                error_code = %diagnostics.error_code,
                script = %diagnostics.script_name,
                message = %diagnostics.message,
                "event failed"
            );
        }

        // 4. Journal `finished`.
        let outcome = Outcome { succeeded, diagnostics: to_proto_diagnostics(&diagnostics), finished_at: unix_now() };
        let go_on = succeeded || (event == "ApplicationStop" && command.ignore_application_stop_failures);
        if !succeeded && go_on {
            tracing::info!(command = %command.id, "ignoring the ApplicationStop failure as the deployment asks");
        }
        let last = index + 1 == command.events.len();
        if !go_on || last {
            record.done = true;
        }
        let step = record.steps.last_mut().expect("pushed above");
        step.state = StepState::Finished;
        step.outcome = Some(outcome.clone());
        save(&shared, &mut record).await;

        // 5. Report it; `reported` is persisted with the next journal write.
        match deliver(&shared, &report(event, Phase::Finished, Some(&outcome))).await? {
            Delivery::Answered(_) => {}
            Delivery::Refused(e) => tracing::warn!(command = %command.id, %event, error = %e,
                "the server refused the event's report; not sending it again"),
            Delivery::GaveUp => return Ok(record),
        }
        record.steps.last_mut().expect("pushed above").state = StepState::Reported;
        if !go_on {
            break;
        }
    }
    save(&shared, &mut record).await;
    let last = record.steps.last();
    let outcome = if !record.done {
        "paused"
    } else if last.is_some_and(|s| s.state == StepState::Refused) {
        "refused"
    } else if last.and_then(|s| s.outcome.as_ref()).is_some_and(|o| !o.succeeded) {
        "failed"
    } else if record.steps.len() < command.events.len() {
        "cancelled"
    } else {
        "succeeded"
    };
    tracing::info!(
        command = %command.id,
        deployment = %command.spec.deployment_id,
        events_run = ran,
        elapsed_ms = command_started.elapsed().as_millis() as u64,
        outcome,
        "command ended"
    );
    Ok(record)
}

/// The last step did not run: the server said no.
async fn refuse(shared: &Shared, record: &mut CommandRecord) {
    if let Some(step) = record.steps.last_mut() {
        step.state = StepState::Refused;
    }
    record.done = true;
    save(shared, record).await;
}

async fn save(shared: &Shared, record: &mut CommandRecord) {
    if let Err(e) = shared.journal.save(record).await {
        tracing::error!(command = %record.command_id, dir = %shared.journal.dir().display(), error = %e,
            "cannot write the journal");
    }
}
