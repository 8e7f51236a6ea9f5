-- Nothing to change on SQLite: `user` and `data` were TEXT from the start, so they always
-- kept the documents' text, keys in the order written. This file keeps the two databases'
-- migrations numbered alike (see PostgreSQL's 0002_json_keeps_key_order.sql).
SELECT 1;
