-- ECS task definitions (issue #15): every revision of every family, as
-- ECS's JSON. A family's revisions are numbered from 1; deregistering one
-- marks it INACTIVE (it stays readable, as in ECS).
CREATE TABLE task_definitions (
    family        TEXT    NOT NULL,
    revision      INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    register_time INTEGER NOT NULL,
    doc           TEXT    NOT NULL,
    PRIMARY KEY (family, revision)
) STRICT;
