-- Pipeline executions. `pipeline_runs` holds, per pipeline, the document
-- the execution machine works on (`ferry_pipeline::execution::Runs`: the
-- executions still running or retryable, and disabled transitions), written
-- whole under the server's pipeline lock. `pipeline_executions` keeps every
-- execution as it last was, for history (ListPipelineExecutions), long
-- after it left `pipeline_runs`.
CREATE TABLE pipeline_runs (
    pipeline TEXT NOT NULL PRIMARY KEY,
    doc      TEXT NOT NULL
) STRICT;

CREATE TABLE pipeline_executions (
    id         TEXT    NOT NULL PRIMARY KEY,
    pipeline   TEXT    NOT NULL,
    start_time INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    doc        TEXT    NOT NULL
) STRICT;

CREATE INDEX pipeline_executions_by_pipeline ON pipeline_executions (pipeline, start_time);
