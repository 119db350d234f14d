//! The ferry agent: the process on every host that carries out deployments.
//!
//! [`run`] enrols the host once, then long-polls the server for commands
//! (runs of consecutive lifecycle events of one deployment), carries each
//! event out with the host engine ([`ferry_host::HostEngine`]), and reports
//! every event as it starts and as it ends. The `ferry agent` subcommand is
//! thin glue over [`AgentConfig`] and [`run`].
//!
//! # Layout under the agent root (`/opt/ferry` by default)
//! ```text
//! <root>/deployment-root/        the host engine's deployment root
//! <root>/state/credentials       this host's access key (JSON, mode 0600)
//! <root>/state/ca.pem            the server's CA, pinned at enrolment (over https)
//! <root>/state/agent.lock        held (flock) while an agent runs on this root
//! <root>/state/commands/<id>.json  the command journal, one file per command (id %-escaped)
//! ```
//!
//! # Protocol
//! - **TLS**: over https the agent trusts one CA only (module `tls`). At
//!   enrolment the join token (`<secret>.sha256-<fingerprint>`) names it by
//!   the SHA-256 of its DER: the server's chain must contain it, else the
//!   agent refuses the server during the handshake (nothing is sent) and
//!   stops, naming the expected and presented fingerprints. The CA is kept
//!   in `state/ca.pem` (or given with `--ca-file`) and pins every later
//!   connection; a server that does not chain to it is refused and retried
//!   with backoff, with the reason logged. `http://` works only against a
//!   server run with `--insecure-http`.
//! - **Enrolment** happens once: the join token buys a per-host access key,
//!   written atomically to `state/credentials`. Later runs use that file and
//!   need no token. A 4xx answer to enrolment is fatal and shown verbatim.
//! - **Every other request** is SigV4-signed with the host's key and carries
//!   [`ferry_proto::agent::VERSION_HEADER`].
//! - **Polling**: one long-poll at a time, re-issued as soon as it returns.
//!   Network errors, timeouts and 5xx answers back off exponentially with
//!   jitter (200 ms doubling to 10 s by default) forever, logging once per
//!   change of state. 401/403 means the key was revoked: [`run`] returns
//!   [`AgentError::CredentialRejected`].
//!   A poll answered at once with nothing new is followed by a short pause
//!   (250 ms) rather than another poll, in case a server does not hold.
//! - **Commands** of different deployments run concurrently; two commands of
//!   one deployment never do (the later one waits its turn, and counts as
//!   `running` in polls meanwhile: it is accepted). A command marked
//!   `cancel`, or a running command the server no longer lists, finishes its
//!   current event and starts no more.
//!
//! # The journal and what it guarantees
//! Each command has a journal file, `state/commands/<id>.json`: an
//! append-only log with the command's whole record as one JSON line per
//! step (append, fdatasync; the last complete line counts, a line torn by a
//! crash is ignored). For every event the agent:
//!
//! 1. journals `started` **durably, before** telling the server (so no event
//!    can run without a trace of it on disk);
//! 2. reports `Started`, retrying until the server answers; a `proceed:
//!    false` answer is journaled as `refused` and ends the command (the event
//!    did not run);
//! 3. runs the event;
//! 4. journals `finished` with its diagnostics, durably;
//! 5. reports `Finished`, retrying until acknowledged, and records the event
//!    as `reported` (persisted with the next journal write, so at worst a
//!    report is sent twice; the server keeps the first).
//!
//! From this follow the guarantees:
//!
//! - **Exactly once per attempt.** A command id the journal knows is never
//!   started again, whatever the server redelivers and however often the
//!   agent restarts: a finished command is only re-reported, never re-run.
//!   An event that was `started` is never run again.
//! - **Crash recovery.** At start-up, before the first poll, the journal is
//!   read: an event `started` but not `finished` was interrupted by an agent
//!   crash and is reported `Finished` with CodeDeploy's `FailedAfterRestart`
//!   ("Failed: Failing in-progress lifecycle event after an agent restart.");
//!   events finished but not acknowledged are reported again. Unlike
//!   CodeDeploy (which fails only the newest tracked command and forgets the
//!   rest), every interrupted command is settled.
//! - **Resumption.** A command stopped *between* events (a graceful shutdown,
//!   or a crash right after a report) is not finished: when the server
//!   delivers it again, it continues with its first event that never
//!   started.
//! - **Retention.** Journal files not touched for 24 hours are deleted (at
//!   start-up without being reported, as CodeDeploy does, and hourly while
//!   running, except for active commands). The server must therefore never
//!   deliver a command id more than 24 hours after it was last touched.
//!
//! # Shutdown
//! When the `shutdown` future resolves the agent stops polling, lets running
//! events finish (hooks are bounded by their own timeouts), starts no new
//! ones, sends their reports (for at most [`AgentConfig::shutdown_grace`] if
//! the server is unreachable) and returns. Commands cut short this way are
//! resumed after the next start.
//!
//! # Modules
//! - `config`: [`AgentConfig`].
//! - `credentials`: loading, enrolling and saving the host's access key.
//! - `client`: the one place the HTTP client is built; signing, JSON calls,
//!   the digest-checked bundle download.
//! - `tls`: whom the agent trusts over https; the pinning certificate verifier.
//! - `journal`: the command journal on disk.
//! - `execute`: carrying out one command, event by event, and reporting.
//! - `agent`: [`run`]: start-up, recovery and the poll loop.
//! - `convert`: proto ↔ host engine types.
//! - `backoff`: exponential backoff with jitter.

mod agent;
mod backoff;
mod builds;
mod client;
mod config;
mod convert;
mod credentials;
mod error;
mod execute;
mod journal;
mod tasks;
mod tls;

pub use agent::run;
pub use config::{AgentConfig, DEFAULT_ROOT};
pub use convert::{to_host_spec, to_proto_diagnostics};
pub use error::AgentError;
pub use tasks::ContainerMode;

/// This agent's version, sent in [`ferry_proto::agent::VERSION_HEADER`] and at enrolment.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");
