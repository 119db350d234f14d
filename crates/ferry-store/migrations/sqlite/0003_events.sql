-- Every change of a deployment, in order: the event stream reads it and
-- trigger deliveries point into it.
CREATE TABLE events (
    seq            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    deployment_id  TEXT    NOT NULL,
    time           INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    doc            TEXT    NOT NULL
) STRICT;
CREATE INDEX events_by_deployment ON events (deployment_id, seq);

-- Trigger notices on their way to webhooks (the outbox).
CREATE TABLE deliveries (
    id             TEXT    NOT NULL PRIMARY KEY,
    event_seq      INTEGER NOT NULL,
    deployment_id  TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    next_attempt   INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    doc            TEXT    NOT NULL
) STRICT;
CREATE INDEX deliveries_due ON deliveries (state, next_attempt);
CREATE INDEX deliveries_by_deployment ON deliveries (deployment_id, event_seq);

-- Named alarms (PromQL expressions) that deployment groups refer to.
CREATE TABLE alarms (
    name           TEXT    NOT NULL PRIMARY KEY,
    schema_version INTEGER NOT NULL,
    doc            TEXT    NOT NULL
) STRICT;
