-- A build's log, line by line as its build host sent it (numbered from 0, so
-- a chunk sent twice after a lost answer is stored once), and its test
-- reports, one row per report group.
CREATE TABLE build_log (
    build_id TEXT    NOT NULL,
    seq      INTEGER NOT NULL,
    line     TEXT    NOT NULL,
    PRIMARY KEY (build_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE build_reports (
    build_id TEXT NOT NULL,
    name     TEXT NOT NULL,
    doc      TEXT NOT NULL,
    PRIMARY KEY (build_id, name)
) STRICT;
