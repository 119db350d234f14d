-- Scaling groups (issue #16): hosts ferry launches and terminates through a
-- provider, each group one document (ferry_core::scaling::ScalingGroup, its
-- hosts included).
CREATE TABLE scaling_groups (
    name           TEXT    NOT NULL PRIMARY KEY,
    schema_version INTEGER NOT NULL,
    doc            TEXT    NOT NULL
) STRICT;
