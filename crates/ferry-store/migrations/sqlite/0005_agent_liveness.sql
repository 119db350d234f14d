-- When each agent was last heard from, kept across server restarts so that
-- a restart does not give a silent host a fresh timer. Written in batches
-- (about once a second) with the time the server was last known up, which
-- is in `settings` (`liveness_up_until`).
CREATE TABLE agent_liveness (
    instance     TEXT    NOT NULL PRIMARY KEY,
    heard        INTEGER NOT NULL,
    silent_since INTEGER NOT NULL,
    polling      INTEGER NOT NULL CHECK (polling IN (0, 1)),
    poll_ended   INTEGER NOT NULL
) STRICT;
