-- Load balancers' target groups, with their members' wanted state.
CREATE TABLE target_groups (
    id             TEXT    NOT NULL PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    schema_version INTEGER NOT NULL,
    doc            TEXT    NOT NULL
) STRICT;
