-- Build projects (CodeBuild's), and every build with its number per project.
CREATE TABLE build_projects (
    name           TEXT    NOT NULL PRIMARY KEY,
    schema_version INTEGER NOT NULL,
    doc            TEXT    NOT NULL
) STRICT;

CREATE TABLE builds (
    id             TEXT    NOT NULL PRIMARY KEY,
    project        TEXT    NOT NULL,
    number         INTEGER NOT NULL,
    status         TEXT    NOT NULL,
    queued_time    INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    doc            TEXT    NOT NULL,
    UNIQUE (project, number)
) STRICT;
CREATE INDEX builds_by_status ON builds (status, queued_time);
