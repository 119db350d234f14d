//! Agent liveness: how long each host's agent has been silent.
//!
//! Only requests the agent *sends* count (`Driver::saw`, called when one is
//! authenticated): a poll the server holds proves nothing about the host
//! (a frozen host's connection stays open), so a host is lost
//! `agent_lost_after` after its last request, whatever the poll hold.
//!
//! Silence is counted while the server is up to hear it, and carries over
//! restarts: about once a second the driver records, in one small
//! transaction, the time it is up to and what changed per agent (when it
//! last spoke, the time its silence counts from, whether a poll of it is
//! held, when its last poll ended). At start-up each agent resumes with the
//! silence it had when the server stopped, so restarts, however frequent,
//! never give a dead host a fresh timer. An agent that was *waiting on the
//! server* when it stopped (a poll held, or just answered) was alive: the
//! restart cut it off, so it starts from zero and has the whole
//! `agent_lost_after` to reconnect (agents retry within 10 s). A dead host
//! has no poll held after a restart, so it gets that at most once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::Millis;
use ferry_store::AgentLiveness;

use super::{Driver, OpError};
use crate::clock::now_millis;

/// How often liveness is recorded.
pub(crate) const PERSIST_EVERY: Duration = Duration::from_secs(1);

/// An agent whose poll ended this long before the server was last known up
/// was still in its poll cycle (about to poll again) when the server stopped.
const POLL_CYCLE_WINDOW: Millis = 3_000;

/// What the driver knows of one agent.
#[derive(Debug, Clone)]
pub(crate) struct Liveness {
    /// Silence carried over from before this server started.
    silent_before: Duration,
    /// Silence counts (on top of `silent_before`) from here.
    since: Instant,
    /// When its last request arrived (wall clock).
    heard: Millis,
    /// Polls of it held right now.
    polls: u32,
    /// When its last held poll ended (wall clock; 0: none).
    poll_ended: Millis,
    /// Changed since it was last recorded.
    dirty: bool,
}

impl Liveness {
    fn silence(&self) -> Duration {
        self.silent_before + self.since.elapsed()
    }

    fn fresh() -> Liveness {
        Liveness {
            silent_before: Duration::ZERO,
            since: Instant::now(),
            heard: now_millis(),
            polls: 0,
            poll_ended: 0,
            dirty: true,
        }
    }
}

/// Held while a poll of `instance` is held; its end is recorded on drop.
pub(crate) struct HeldPoll {
    driver: Arc<Driver>,
    instance: String,
}

impl Drop for HeldPoll {
    fn drop(&mut self) {
        let mut agents = self.driver.seen.lock().unwrap();
        if let Some(agent) = agents.get_mut(&self.instance) {
            agent.polls = agent.polls.saturating_sub(1);
            agent.poll_ended = now_millis();
            agent.dirty = true;
        }
    }
}

impl Driver {
    /// Records that `instance`'s agent sent an authenticated request.
    pub fn saw(&self, instance: &str) {
        let mut agents = self.seen.lock().unwrap();
        let agent = agents.entry(instance.to_string()).or_insert_with(Liveness::fresh);
        agent.silent_before = Duration::ZERO;
        agent.since = Instant::now();
        agent.heard = now_millis();
        agent.dirty = true;
    }

    /// Marks a poll of `instance` as held until the guard is dropped. (It
    /// does not count as hearing from the agent: see the module's notes.)
    pub(crate) fn hold_poll(self: &Arc<Self>, instance: &str) -> HeldPoll {
        let mut agents = self.seen.lock().unwrap();
        let agent = agents.entry(instance.to_string()).or_insert_with(Liveness::fresh);
        agent.polls += 1;
        agent.dirty = true;
        HeldPoll { driver: self.clone(), instance: instance.to_string() }
    }

    /// How long the instance's agent has been silent (counting from the
    /// server's start for agents it knows nothing of).
    pub(super) fn silent_for(&self, instance: &str) -> Duration {
        match self.seen.lock().unwrap().get(instance) {
            Some(agent) => agent.silence(),
            None => self.started.elapsed(),
        }
    }

    /// How long the instance's agent has been silent (see `silent_for`).
    pub(crate) fn agent_silence(&self, instance: &str) -> Duration {
        self.silent_for(instance)
    }

    pub fn is_online(&self, instance: &str) -> bool {
        self.last_seen_millis(instance).is_some_and(|heard| {
            now_millis().saturating_sub(heard) < self.config.agent_lost_after.as_millis() as Millis
        })
    }

    /// When the instance's agent last sent a request (also before a restart).
    pub fn last_seen_millis(&self, instance: &str) -> Option<Millis> {
        self.seen.lock().unwrap().get(instance).map(|agent| agent.heard)
    }

    /// Resumes every agent's silence from what the last server recorded
    /// (before the reconcile loop starts).
    pub async fn restore_liveness(&self) -> Result<(), OpError> {
        let (up_until, records) = self.store.liveness().await?;
        let Some(up_until) = up_until else { return Ok(()) };
        let now = Instant::now();
        let mut agents = self.seen.lock().unwrap();
        for record in records {
            let waiting_on_server = record.polling || up_until.saturating_sub(record.poll_ended) <= POLL_CYCLE_WINDOW;
            let silent_before = if waiting_on_server {
                Duration::ZERO
            } else {
                Duration::from_millis(up_until.saturating_sub(record.silent_since))
            };
            agents.insert(
                record.instance,
                Liveness {
                    silent_before,
                    since: now,
                    heard: record.heard,
                    polls: 0,
                    poll_ended: record.poll_ended,
                    dirty: true,
                },
            );
        }
        Ok(())
    }

    /// Records that the server is up now and what changed since the last call.
    pub async fn persist_liveness(&self) -> Result<(), OpError> {
        let now = now_millis();
        let changed: Vec<AgentLiveness> = {
            let mut agents = self.seen.lock().unwrap();
            if agents.is_empty() {
                // No agent has a silence to carry over: nothing to write.
                return Ok(());
            }
            agents
                .iter_mut()
                .filter(|(_, agent)| agent.dirty)
                .map(|(instance, agent)| {
                    agent.dirty = false;
                    AgentLiveness {
                        instance: instance.clone(),
                        heard: agent.heard,
                        silent_since: now.saturating_sub(agent.silence().as_millis() as Millis),
                        polling: agent.polls > 0,
                        poll_ended: agent.poll_ended,
                    }
                })
                .collect()
        };
        if let Err(e) = self.store.save_liveness(now, &changed).await {
            // Written again with the next batch.
            let mut agents = self.seen.lock().unwrap();
            for record in &changed {
                if let Some(agent) = agents.get_mut(&record.instance) {
                    agent.dirty = true;
                }
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Records liveness every [`PERSIST_EVERY`] until `stop`.
    pub async fn persist_liveness_forever(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(PERSIST_EVERY);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if let Err(e) = self.persist_liveness().await {
                tracing::warn!(error = %e, "cannot record agent liveness");
            }
        }
    }
}

/// Each agent's liveness, by instance name.
pub(crate) type Agents = HashMap<String, Liveness>;

#[cfg(test)]
mod tests {
    use super::*;

    async fn driver(store: &ferry_store::Store) -> Arc<Driver> {
        let config = Arc::new(crate::ServerConfig::new("/nonexistent"));
        let traffic = Arc::new(crate::traffic::Traffic::new(store.clone(), None));
        Arc::new(Driver::new(store.clone(), config, traffic).0)
    }

    #[tokio::test]
    async fn silence_carries_over_a_restart_unless_the_agent_was_waiting_on_a_poll() {
        let store = ferry_store::Store::open_sqlite_memory().await.unwrap();
        let now = now_millis();
        let record = |instance: &str, silent_for: Millis, polling: bool, poll_ended: Millis| AgentLiveness {
            instance: instance.into(),
            heard: now - silent_for,
            silent_since: now - silent_for,
            polling,
            poll_ended,
        };
        store
            .save_liveness(
                now,
                &[
                    record("dead", 20_000, false, now - 18_000),
                    record("polling", 5_000, true, now - 25_000),
                    record("just-answered", 5_000, false, now - 1_000),
                ],
            )
            .await
            .unwrap();
        let restarted = driver(&store).await;
        restarted.restore_liveness().await.unwrap();
        let silent = |instance: &str| restarted.silent_for(instance).as_secs();
        assert_eq!(silent("dead"), 20, "a dead host keeps its silence");
        assert_eq!(silent("polling"), 0, "cut off by the restart while polling: a fresh start");
        assert_eq!(silent("just-answered"), 0, "between two polls: a fresh start");
        assert_eq!(restarted.last_seen_millis("dead"), Some(now - 20_000), "when it last spoke, for display");

        // What the restarted server records carries the dead host's silence
        // on, and no longer says the others were polling: a second restart
        // does not give them another fresh start.
        restarted.persist_liveness().await.unwrap();
        let (_, records) = store.liveness().await.unwrap();
        assert!(records.iter().all(|r| !r.polling), "{records:?}");
        let dead = records.iter().find(|r| r.instance == "dead").unwrap();
        assert!(now_millis() - dead.silent_since >= 20_000, "{dead:?}");

        // A request resets the silence; a held poll does not.
        restarted.saw("dead");
        assert_eq!(silent("dead"), 0);
        let held = restarted.hold_poll("polling");
        assert!(restarted.persist_liveness().await.is_ok());
        assert!(store.liveness().await.unwrap().1.iter().any(|r| r.instance == "polling" && r.polling));
        drop(held);
        restarted.persist_liveness().await.unwrap();
        let (_, records) = store.liveness().await.unwrap();
        let polling = records.iter().find(|r| r.instance == "polling").unwrap();
        assert!(!polling.polling && polling.poll_ended >= now, "{polling:?}");
    }
}
