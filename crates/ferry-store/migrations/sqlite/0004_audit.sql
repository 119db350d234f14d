-- Every mutating API call, allowed or refused: who, what, when, from where, result.
CREATE TABLE audit (
    seq            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    time           INTEGER NOT NULL,
    key_id         TEXT,
    refused        INTEGER NOT NULL CHECK (refused IN (0, 1)),
    schema_version INTEGER NOT NULL,
    doc            TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_by_time ON audit (time);
CREATE INDEX audit_by_key ON audit (key_id, seq);
