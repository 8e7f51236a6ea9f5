-- Authentication: each session's token, kept only as its SHA-256 (64 lowercase hex digits),
-- and who closed the session (`system`, `key:NAME`, `session:ID`, `anonymous`).
-- Sessions opened before this migration have no token; sessions closed before it keep
-- closed_by NULL ("not recorded").
ALTER TABLE sessions ADD COLUMN token_hash text;
ALTER TABLE sessions ADD COLUMN closed_by text;

-- Requests authenticated with a token look their session up by its hash. NULLs do not clash.
CREATE UNIQUE INDEX sessions_by_token_hash ON sessions (token_hash);
