-- ferry's state store, SQLite flavour.
--
-- Every resource is a JSON document in `doc`, written by serde from the
-- ferry-core type: the document is the source of truth. The other columns
-- exist only to find, filter, order and keep resources unique, and are
-- rewritten from the document on every write. `schema_version` is the
-- version of the document's shape, so that a later ferry can upgrade old
-- documents when it reads them (or in a migration).
--
-- Applications are referenced by name: renaming one cascades to the name
-- columns of its groups, revisions and deployments (the store rewrites
-- their documents in the same transaction), and deleting one deletes them.

CREATE TABLE applications (
    id             TEXT    NOT NULL PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    create_time    INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    doc            TEXT    NOT NULL
) STRICT;

CREATE TABLE deployment_groups (
    id               TEXT    NOT NULL PRIMARY KEY,
    application_name TEXT    NOT NULL
        REFERENCES applications (name) ON UPDATE CASCADE ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    schema_version   INTEGER NOT NULL,
    doc              TEXT    NOT NULL,
    UNIQUE (application_name, name)
) STRICT;

-- Custom configs only: the built-in CodeDeployDefault.* ones live in code.
CREATE TABLE deployment_configs (
    id             TEXT    NOT NULL PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    schema_version INTEGER NOT NULL,
    doc            TEXT    NOT NULL
) STRICT;

CREATE TABLE instances (
    name            TEXT    NOT NULL PRIMARY KEY,
    register_time   INTEGER NOT NULL,
    deregister_time INTEGER,
    schema_version  INTEGER NOT NULL,
    doc             TEXT    NOT NULL
) STRICT;

-- `seq` (the rowid) is the insertion order; it breaks ties between
-- revisions registered in the same millisecond.
CREATE TABLE revisions (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    application_name TEXT    NOT NULL
        REFERENCES applications (name) ON UPDATE CASCADE ON DELETE CASCADE,
    register_time    INTEGER NOT NULL,
    schema_version   INTEGER NOT NULL,
    doc              TEXT    NOT NULL
) STRICT;

CREATE INDEX revisions_by_application ON revisions (application_name, register_time, seq);

CREATE TABLE access_keys (
    id             TEXT    NOT NULL PRIMARY KEY,
    instance       TEXT,
    create_time    INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    doc            TEXT    NOT NULL
) STRICT;

CREATE INDEX access_keys_by_instance ON access_keys (instance) WHERE instance IS NOT NULL;

-- Deployments keep their group's id and name but no foreign key to it:
-- a deployment outlives the deletion of its group (history).
CREATE TABLE deployments (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    application_name TEXT    NOT NULL
        REFERENCES applications (name) ON UPDATE CASCADE ON DELETE CASCADE,
    group_id         TEXT    NOT NULL,
    group_name       TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    create_time      INTEGER NOT NULL,
    finalized        INTEGER NOT NULL CHECK (finalized IN (0, 1)),
    schema_version   INTEGER NOT NULL,
    doc              TEXT    NOT NULL
) STRICT;

CREATE INDEX deployments_by_group ON deployments (application_name, group_name, create_time);
CREATE INDEX deployments_by_group_id ON deployments (group_id);
CREATE INDEX deployments_by_time ON deployments (create_time);
CREATE INDEX deployments_by_status ON deployments (status);
-- What a restarted driver must pick up: small, so a partial index.
CREATE INDEX deployments_unfinalized ON deployments (finalized) WHERE finalized = 0;

-- Small server settings (the join token's hash, ...).
CREATE TABLE settings (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
