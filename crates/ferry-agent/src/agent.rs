//! [`run`]: start-up (lock, enrolment, journal recovery) and the poll loop
//! that hands commands to tasks.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use ferry_host::{HostConfig, HostEngine};
use ferry_proto::agent::{Command, PollRequest, PollResponse};
use nix::fcntl::{Flock, FlockArg};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;

use crate::backoff::{Backoff, FailureLog};
use crate::client::{Client, RequestError};
use crate::config::AgentConfig;
use crate::convert::to_proto_diagnostics;
use crate::credentials;
use crate::error::AgentError;
use crate::execute::{Shared, execute, flush_reports};
use crate::journal::{CommandRecord, Journal};

/// The hold assumed before the server has said how long it holds polls.
const DEFAULT_HOLD: Duration = Duration::from_secs(60);
/// Added to the server's hold for the poll's timeout.
const POLL_MARGIN: Duration = Duration::from_secs(15);
/// A poll answered faster than this with nothing new suggests a server that
/// does not hold; wait [`MIN_POLL_INTERVAL`] then rather than spin.
const FAST_ANSWER: Duration = Duration::from_millis(50);
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(250);
const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);

/// Runs the agent until `shutdown` resolves (then returns `Ok` once running
/// events have finished and been reported) or a fatal error occurs.
///
/// Start-up: creates the layout under [`AgentConfig::root`], takes the root's
/// lock, enrols if there are no saved credentials, settles the journal
/// (crash recovery), then long-polls. See the crate documentation.
pub async fn run(config: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
    let mut shutdown = std::pin::pin!(shutdown);
    prepare_layout(&config)?;
    let _lock = lock_root(&config)?;
    let https = reqwest::Url::parse(&config.server).is_ok_and(|url| url.scheme() == "https");
    let existing = credentials::load(&config.credentials_file())?;
    let enrolled = existing.is_some();
    let client = Client::new(&config.server, &credentials::trust(&config, enrolled, https)?)?;
    if !https {
        tracing::warn!(server = %config.server, "talking plain HTTP to the server: nothing verifies that it is the right one");
    }

    let stored = tokio::select! {
        biased;
        () = &mut shutdown => return Ok(()),
        stored = credentials::load_or_enrol(&config, &client, existing) => stored?,
    };
    // Just enrolled: from now on only the CA pinned at enrolment is trusted.
    let client =
        if enrolled { client } else { Client::new(&config.server, &credentials::trust(&config, true, https)?)? };
    let client = client.with_key(stored.key());

    let mut host = HostConfig::new(config.deployment_root());
    host.max_revisions = config.max_revisions;
    host.bundle_limits = config.bundle_limits;
    host.hooks = config.hooks;
    let engine = HostEngine::new(host).map_err(|e| AgentError::Setup(e.to_string()))?;
    let journal = Journal::open(config.journal_dir())
        .map_err(|e| AgentError::io(format!("cannot create {}", config.journal_dir().display()), e))?;
    let loaded = journal
        .load(SystemTime::now())
        .map_err(|e| AgentError::io(format!("cannot read the journal in {}", journal.dir().display()), e))?;

    let (stop_tx, stop_rx) = watch::channel(None);
    let (stop_builds, builds_stopping) = watch::channel(false);
    let tasks_stopping = builds_stopping.clone();
    let build_host = (config.builds > 0).then(|| {
        let host = crate::builds::BuildHostConfig {
            slots: config.builds,
            dir: config.builds_dir(),
            user: config.build_user.clone(),
            instance: stored.instance_name.clone(),
        };
        let backoff = Backoff::new(config.retry_initial, config.retry_max);
        tokio::spawn(crate::builds::serve(client.clone(), host, backoff, builds_stopping))
    });
    let container_host = tokio::spawn(crate::tasks::serve(
        client.clone(),
        stored.instance_name.clone(),
        config.containers,
        Backoff::new(config.retry_initial, config.retry_max),
        tasks_stopping,
    ));
    let shared = Arc::new(Shared {
        client,
        engine,
        journal,
        backoff: Backoff::new(config.retry_initial, config.retry_max),
        stopping: stop_rx,
        shutdown_grace: config.shutdown_grace,
        credentials_file: config.credentials_file(),
    });

    let mut commands = Commands::new(shared.clone());
    for id in loaded.unreadable {
        commands.entries.insert(id, Entry::Blocked);
    }
    let records = tokio::select! {
        biased;
        () = &mut shutdown => return Ok(()),
        records = recover(&shared, loaded.records) => records?,
    };
    for record in records {
        commands.entries.insert(record.command_id.clone(), Entry::Idle(record));
    }

    tracing::info!(server = %config.server, root = %config.root.display(), "agent started; polling for commands");
    let result = commands.poll_loop(shutdown).await;
    // Builds stop with the agent (a build host going away stops its builds
    // and reports them), whatever ended the poll loop.
    let _ = stop_builds.send(true);
    // Service tasks' containers keep running (the data plane); only the loop ends.
    let _ = container_host.await;
    if let Some(builds) = build_host
        && tokio::time::timeout(config.shutdown_grace, builds).await.is_err()
    {
        tracing::warn!("running builds did not stop and report within the shutdown grace");
    }
    match result {
        Ok(()) => {
            tracing::info!("shutting down: letting running events finish");
            let _ = stop_tx.send(Some(Instant::now()));
            commands.drain().await?;
            tracing::info!("agent stopped");
            Ok(())
        }
        // Dropping `commands` aborts the running tasks (and kills their hooks).
        Err(e) => Err(e),
    }
}

fn prepare_layout(config: &AgentConfig) -> Result<(), AgentError> {
    for dir in [config.root.clone(), config.state_dir(), config.journal_dir(), config.deployment_root()] {
        std::fs::create_dir_all(&dir).map_err(|e| AgentError::io(format!("cannot create {}", dir.display()), e))?;
    }
    let state = config.state_dir();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| AgentError::io(format!("cannot restrict {}", state.display()), e))?;
    Ok(())
}

/// One agent per root: the journal's guarantees assume a single writer.
fn lock_root(config: &AgentConfig) -> Result<Flock<std::fs::File>, AgentError> {
    let path = config.lock_file();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| AgentError::io(format!("cannot open {}", path.display()), e))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| match errno {
        nix::errno::Errno::EWOULDBLOCK => AgentError::AlreadyRunning { root: config.root.clone() },
        other => AgentError::io(format!("cannot lock {}", path.display()), other.into()),
    })
}

/// Crash recovery, before the first poll: events started but never finished
/// were cut short by a crash and are settled as `FailedAfterRestart`; every
/// finished event the server has not acknowledged is reported.
async fn recover(shared: &Shared, mut records: Vec<CommandRecord>) -> Result<Vec<CommandRecord>, AgentError> {
    let failed = to_proto_diagnostics(&ferry_host::Diagnostics::failed_after_restart());
    for record in &mut records {
        let interrupted = record.fail_interrupted(&failed);
        if !interrupted.is_empty() {
            tracing::warn!(
                command = %record.command_id,
                deployment = %record.deployment_id,
                events = %interrupted.join(","),
                "an agent restart interrupted this command; reporting the event failed (it is not run again)"
            );
            if let Err(e) = shared.journal.save(record).await {
                tracing::error!(command = %record.command_id, error = %e, "cannot write the journal");
            }
        }
        if record.has_unreported() {
            flush_reports(shared, record).await?;
        }
    }
    Ok(records)
}

/// What the agent knows about each command id.
enum Entry {
    /// Known from the journal, no task running: finished, or paused between events.
    Idle(CommandRecord),
    /// Waiting for another command of its deployment to end.
    Queued(Box<Command>, Option<CommandRecord>),
    Running {
        deployment: String,
        cancel: Arc<AtomicBool>,
    },
    /// Its journal is unreadable (or its task panicked): never run it.
    Blocked,
}

type PollFuture = Pin<Box<dyn Future<Output = Result<PollResponse, RequestError>> + Send>>;

/// The poll loop's state: every known command, and the running tasks.
struct Commands {
    shared: Arc<Shared>,
    entries: HashMap<String, Entry>,
    /// Deployment id → the command of it that is running.
    busy: HashMap<String, String>,
    /// Deployment id → commands waiting for it, in arrival order.
    queues: HashMap<String, VecDeque<String>>,
    tasks: JoinSet<Result<CommandRecord, AgentError>>,
    task_commands: HashMap<tokio::task::Id, String>,
}

impl Commands {
    fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            entries: HashMap::new(),
            busy: HashMap::new(),
            queues: HashMap::new(),
            tasks: JoinSet::new(),
            task_commands: HashMap::new(),
        }
    }

    /// Ids of the commands accepted and not ended: running or waiting their turn.
    fn active_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Running { .. } | Entry::Queued(..)))
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Polls until `shutdown` resolves (`Ok`) or a fatal error.
    async fn poll_loop(&mut self, mut shutdown: Pin<&mut impl Future<Output = ()>>) -> Result<(), AgentError> {
        let mut poll: Option<PollFuture> = None;
        let mut poll_sent = Instant::now();
        let mut next_poll = Instant::now();
        let mut first = true;
        let mut hold = DEFAULT_HOLD;
        let mut lost_after = None;
        let mut backoff = self.shared.backoff.clone();
        let mut failures = FailureLog::default();
        let mut failing_since: Option<Instant> = None;
        let mut warned_lost = false;
        let mut last_prune = Instant::now();

        loop {
            if poll.is_none() && Instant::now() >= next_poll {
                let request = PollRequest { running: self.active_ids(), no_wait: first };
                let client = self.shared.client.clone();
                let timeout = hold + POLL_MARGIN;
                poll_sent = Instant::now();
                poll = Some(Box::pin(async move { client.poll(&request, timeout).await }));
            }
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                result = maybe(&mut poll) => {
                    poll = None;
                    match result {
                        Ok(response) => {
                            let was_first = std::mem::replace(&mut first, false);
                            backoff.reset();
                            failing_since = None;
                            warned_lost = false;
                            if failures.recovered() {
                                tracing::info!("the server answers polls again");
                            }
                            if response.hold_seconds > 0 {
                                hold = Duration::from_secs(response.hold_seconds);
                            }
                            if response.lost_after_seconds > 0 {
                                lost_after = Some(Duration::from_secs(response.lost_after_seconds));
                            }
                            let news = self.on_poll(response);
                            next_poll = if !news && !was_first && poll_sent.elapsed() < FAST_ANSWER {
                                Instant::now() + MIN_POLL_INTERVAL
                            } else {
                                Instant::now()
                            };
                        }
                        Err(e) if e.is_auth() => {
                            let error = self.shared.credential_rejected(e);
                            tracing::error!(%error, "stopping");
                            return Err(error);
                        }
                        Err(e) if e.is_transient() => {
                            if failures.changed(&e.class()) {
                                if matches!(e, RequestError::Tls(_)) {
                                    tracing::error!(error = %e, "the server failed the TLS checks: this agent \
                                        sends it nothing (no signed request); retrying with backoff in case the \
                                        right server comes back (logged again when the error changes)");
                                } else {
                                    tracing::warn!(error = %e, "cannot poll the server; retrying with backoff \
                                        (logged again when the error changes)");
                                }
                            }
                            let since = *failing_since.get_or_insert_with(Instant::now);
                            if let Some(lost_after) = lost_after
                                && !warned_lost
                                && since.elapsed() > lost_after
                                && !self.busy.is_empty()
                            {
                                warned_lost = true;
                                tracing::warn!(seconds = lost_after.as_secs(),
                                    "the server has not heard from this host for longer than its limit: \
                                     it will fail the events in flight here");
                            }
                            next_poll = Instant::now() + backoff.next_delay();
                        }
                        Err(RequestError::Status { status, code, message }) => {
                            let message = if message.is_empty() { code } else { message };
                            return Err(AgentError::Refused { what: "poll", status, message });
                        }
                        Err(e) => return Err(AgentError::Refused { what: "poll", status: 0, message: e.to_string() }),
                    }
                }
                () = tokio::time::sleep_until(next_poll), if poll.is_none() => {}
                Some(joined) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    self.on_task_end(joined, true)?;
                }
            }
            if last_prune.elapsed() >= PRUNE_EVERY {
                last_prune = Instant::now();
                self.prune();
            }
        }
    }

    /// Takes in a poll's answer; true when it changed anything here.
    fn on_poll(&mut self, response: PollResponse) -> bool {
        let mut news = false;
        let wanted: HashSet<&str> = response.commands.iter().map(|c| c.id.as_str()).collect();
        let unwanted: Vec<String> = self
            .entries
            .iter()
            .filter(|(id, e)| matches!(e, Entry::Running { .. } | Entry::Queued(..)) && !wanted.contains(id.as_str()))
            .map(|(id, _)| id.clone())
            .collect();
        for id in unwanted {
            news |= self.cancel(&id, "the server no longer lists it");
        }
        for command in response.commands {
            news |= self.offer(command);
        }
        news
    }

    /// Stops a running command after its current event, or drops a queued one.
    fn cancel(&mut self, id: &str, why: &str) -> bool {
        match self.entries.get(id) {
            Some(Entry::Running { cancel, .. }) => {
                let first_time = !cancel.swap(true, Ordering::SeqCst);
                if first_time {
                    tracing::info!(command = %id, reason = why, "cancelling: finishing the current event, starting no more");
                }
                first_time
            }
            Some(Entry::Queued(..)) => {
                let Some(Entry::Queued(command, record)) = self.entries.remove(id) else { unreachable!() };
                tracing::info!(command = %id, reason = why, "dropping a command that was waiting its turn");
                if let Some(queue) = self.queues.get_mut(&command.spec.deployment_id) {
                    queue.retain(|queued| queued != id);
                }
                if let Some(record) = record {
                    self.entries.insert(id.to_string(), Entry::Idle(record));
                }
                true
            }
            _ => false,
        }
    }

    /// A command listed by the server: start it if it is new (or paused),
    /// pass on a cancellation, otherwise leave it be. True when it changed anything.
    fn offer(&mut self, command: Command) -> bool {
        match self.entries.get_mut(&command.id) {
            Some(Entry::Running { .. }) => command.cancel && self.cancel(&command.id, "the server cancelled it"),
            Some(Entry::Queued(queued, _)) => {
                if command.cancel {
                    self.cancel(&command.id, "the server cancelled it")
                } else {
                    **queued = command;
                    false
                }
            }
            Some(Entry::Blocked) => false,
            Some(Entry::Idle(record)) => {
                // Finished commands are never run again: only unacknowledged
                // reports are re-sent; a paused one continues.
                if !(record.has_unreported() || (!record.done && !command.cancel)) {
                    return false;
                }
                let Some(Entry::Idle(record)) = self.entries.remove(&command.id) else { unreachable!() };
                self.enqueue(command, Some(record));
                true
            }
            None if command.cancel || command.events.is_empty() => false,
            None => {
                self.enqueue(command, None);
                true
            }
        }
    }

    fn enqueue(&mut self, command: Command, record: Option<CommandRecord>) {
        let deployment = command.spec.deployment_id.clone();
        if let Some(running) = self.busy.get(&deployment) {
            tracing::info!(command = %command.id, %deployment, waiting_for = %running,
                "another command of this deployment is running; this one waits its turn");
            self.queues.entry(deployment).or_default().push_back(command.id.clone());
            self.entries.insert(command.id.clone(), Entry::Queued(Box::new(command), record));
        } else {
            self.start(command, record);
        }
    }

    fn start(&mut self, command: Command, record: Option<CommandRecord>) {
        let id = command.id.clone();
        let deployment = command.spec.deployment_id.clone();
        let record = record.unwrap_or_else(|| CommandRecord::new(&command));
        let cancel = Arc::new(AtomicBool::new(command.cancel));
        self.busy.insert(deployment.clone(), id.clone());
        let handle = self.tasks.spawn(execute(self.shared.clone(), command, record, cancel.clone()));
        self.task_commands.insert(handle.id(), id.clone());
        self.entries.insert(id, Entry::Running { deployment, cancel });
    }

    /// A command task ended: record its outcome, start the next command of
    /// its deployment (unless stopping). A fatal error ends the agent.
    fn on_task_end(
        &mut self,
        joined: Result<(tokio::task::Id, Result<CommandRecord, AgentError>), JoinError>,
        start_next: bool,
    ) -> Result<(), AgentError> {
        let (task, outcome) = match joined {
            Ok((task, outcome)) => (task, Ok(outcome)),
            Err(e) => (e.id(), Err(e)),
        };
        let Some(id) = self.task_commands.remove(&task) else { return Ok(()) };
        let deployment = match self.entries.remove(&id) {
            Some(Entry::Running { deployment, .. }) => deployment,
            _ => String::new(),
        };
        self.busy.remove(&deployment);
        match outcome {
            Ok(Ok(record)) => {
                self.entries.insert(id, Entry::Idle(record));
            }
            Ok(Err(fatal)) => return Err(fatal),
            Err(e) => {
                tracing::error!(command = %id, error = %e, "the command's task failed; it will not be run again");
                self.entries.insert(id, Entry::Blocked);
            }
        }
        if start_next {
            self.start_next(&deployment);
        }
        Ok(())
    }

    fn start_next(&mut self, deployment: &str) {
        while let Some(next) = self.queues.get_mut(deployment).and_then(|q| q.pop_front()) {
            if let Some(Entry::Queued(..)) = self.entries.get(&next) {
                let Some(Entry::Queued(command, record)) = self.entries.remove(&next) else { unreachable!() };
                self.start(*command, record);
                break;
            }
        }
        if self.queues.get(deployment).is_some_and(VecDeque::is_empty) {
            self.queues.remove(deployment);
        }
    }

    /// After shutdown was signalled: waits for the running commands (which
    /// start no new events) to end; waiting commands are not started.
    async fn drain(&mut self) -> Result<(), AgentError> {
        for queue in std::mem::take(&mut self.queues).into_values() {
            for id in queue {
                if let Some(Entry::Queued(_, record)) = self.entries.remove(&id)
                    && let Some(record) = record
                {
                    self.entries.insert(id, Entry::Idle(record));
                }
            }
        }
        while let Some(joined) = self.tasks.join_next_with_id().await {
            self.on_task_end(joined, false)?;
        }
        Ok(())
    }

    /// Deletes journal files past their retention and forgets their ids.
    fn prune(&mut self) {
        let active: HashSet<String> = self.active_ids().into_iter().collect();
        for id in self.shared.journal.prune(SystemTime::now(), &active) {
            if matches!(self.entries.get(&id), Some(Entry::Idle(_) | Entry::Blocked)) {
                self.entries.remove(&id);
            }
        }
    }
}

/// Awaits the future if there is one; never resolves otherwise.
async fn maybe(future: &mut Option<PollFuture>) -> Result<PollResponse, RequestError> {
    match future {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}
