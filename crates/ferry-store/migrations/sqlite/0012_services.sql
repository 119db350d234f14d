-- Container services (issue #15): each service one document (ferry_ecs's
-- Service), and its tasks, one row each. `live` marks tasks meant to run or
-- not yet stopped (what hosts are asked to run and the scheduler counts);
-- stopped tasks stay as history, the newest few per service.
CREATE TABLE services (
    name        TEXT    NOT NULL PRIMARY KEY,
    update_time INTEGER NOT NULL,
    doc         TEXT    NOT NULL
) STRICT;

CREATE TABLE service_tasks (
    id         TEXT    NOT NULL PRIMARY KEY,
    service    TEXT    NOT NULL,
    host       TEXT    NOT NULL,
    live       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    doc        TEXT    NOT NULL
) STRICT;

CREATE INDEX service_tasks_by_service ON service_tasks (service, live, created_at);
CREATE INDEX service_tasks_by_host ON service_tasks (host, live);
