-- The session lifecycle: why a session closed, and the indexes of the cleanup's scans.
-- Sessions closed before this migration keep close_reason NULL ("not recorded").
ALTER TABLE sessions ADD COLUMN close_reason TEXT
    CHECK (close_reason IN ('LOGOUT', 'IDLE_TIMEOUT', 'MAX_LIFETIME', 'REVOKED', 'EVICTED'));

-- Open sessions by open time: the max-lifetime scan reads only the expired ones.
CREATE INDEX sessions_open_by_open_time ON sessions (active, open_time);
-- Closed sessions by close time: the retention purge reads only the ones past retention.
CREATE INDEX sessions_closed_by_close_time ON sessions (active, close_time);
