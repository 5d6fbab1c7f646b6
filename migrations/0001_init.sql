-- Migration number: 0001
-- The AI task pipeline (examples/ai_worker.py): tasks, their saved segment results, and an
-- event log the Worker's /api/queue-status reads (attempts, retries, errors, DLQ moves).
-- Times are milliseconds since the Unix epoch, as the Worker measured them.

CREATE TABLE tasks (
    id             TEXT PRIMARY KEY,
    task_type      TEXT NOT NULL,
    user_json      TEXT NOT NULL,
    language       TEXT NOT NULL,
    question       TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'processing', 'retrying', 'completed', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    segments_total INTEGER,
    result         TEXT,
    error          TEXT,
    error_type     TEXT,
    fallback       INTEGER NOT NULL DEFAULT 0,  -- 1: the queue send failed, processed directly
    dead_lettered  INTEGER NOT NULL DEFAULT 0,  -- 1: reached ai-processing-dlq
    created_ms     INTEGER NOT NULL,
    updated_ms     INTEGER NOT NULL,
    started_ms     INTEGER,                     -- first processing attempt
    completed_ms   INTEGER                      -- reached 'completed' or 'failed'
);
CREATE INDEX tasks_by_status ON tasks (status);
CREATE INDEX tasks_by_completed ON tasks (completed_ms);

-- One row per finished segment: a retried task resumes after the last saved one.
CREATE TABLE task_segments (
    task_id       TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    segment_index INTEGER NOT NULL,
    result        TEXT NOT NULL,
    latency_ms    REAL NOT NULL,
    created_ms    INTEGER NOT NULL,
    PRIMARY KEY (task_id, segment_index)
);
CREATE INDEX task_segments_by_created ON task_segments (created_ms);

-- submitted, enqueued, fallback, attempt, attempt_failed, completed, dead_lettered
CREATE TABLE task_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id    TEXT NOT NULL,
    event      TEXT NOT NULL,
    attempt    INTEGER,
    error_type TEXT,
    detail     TEXT,
    at_ms      INTEGER NOT NULL
);
CREATE INDEX task_events_by_event ON task_events (event);
