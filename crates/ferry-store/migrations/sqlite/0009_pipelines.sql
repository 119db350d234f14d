-- Pipelines (CodePipeline's): the current declaration of each, and every
-- version it had (UpdatePipeline makes a new one; executions run the
-- version they started with). `doc` is the declaration as CodePipeline's
-- JSON, kept as written.
CREATE TABLE pipelines (
    name        TEXT    NOT NULL PRIMARY KEY,
    version     INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL
) STRICT;

CREATE TABLE pipeline_versions (
    name    TEXT    NOT NULL,
    version INTEGER NOT NULL,
    doc     TEXT    NOT NULL,
    PRIMARY KEY (name, version)
) STRICT;
