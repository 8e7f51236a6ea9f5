-- Sessions, as `SqliteStore` reads and writes them.
-- Times are INTEGER milliseconds since the Unix epoch, UTC: they compare and sort as numbers.
-- `user` and `data` are JSON text; `active` is 0 or 1. STRICT makes SQLite enforce the types.
CREATE TABLE sessions (
    id           TEXT    NOT NULL PRIMARY KEY,  -- 32 lowercase hex digits
    user_id      TEXT    NOT NULL,
    user_name    TEXT,
    active       INTEGER NOT NULL CHECK (active IN (0, 1)),
    open_time    INTEGER NOT NULL,
    request_time INTEGER NOT NULL,
    close_time   INTEGER,
    address      TEXT,
    client       TEXT,
    "user"       TEXT,
    data         TEXT
) STRICT;

-- A user's sessions, most recent activity first, ties by id: listing by user reads a range.
CREATE INDEX sessions_by_user ON sessions (user_id, request_time DESC, id);
-- Open sessions by last activity: close-expired reads only the expired ones.
CREATE INDEX sessions_by_activity ON sessions (active, request_time);
