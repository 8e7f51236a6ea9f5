-- Sessions, as `PostgresStore` reads and writes them.
-- Ids and user ids use the "C" collation: byte order, the order clients see, whatever the
-- database's locale. Times are timestamptz (UTC instants, microsecond precision; the service
-- writes whole milliseconds).
CREATE TABLE sessions (
    id           text COLLATE "C" PRIMARY KEY,  -- 32 lowercase hex digits
    user_id      text COLLATE "C" NOT NULL,
    user_name    text,
    active       boolean     NOT NULL,
    open_time    timestamptz NOT NULL,
    request_time timestamptz NOT NULL,
    close_time   timestamptz,
    address      text,
    client       text,
    "user"       jsonb,
    data         jsonb
);

-- A user's sessions, most recent activity first, ties by id: listing by user reads a range.
CREATE INDEX sessions_by_user ON sessions (user_id, request_time DESC, id);
-- Open sessions by last activity: close-expired reads only the expired ones.
CREATE INDEX sessions_by_activity ON sessions (active, request_time);
