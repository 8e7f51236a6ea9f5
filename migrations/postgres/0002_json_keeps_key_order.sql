-- `user` and `data` are clients' documents, and come back with their keys in the order the
-- client wrote them. `jsonb` cannot keep that order (it stores keys sorted, shorter first);
-- `json` stores the text as given, only checking that it is valid JSON. Nothing queries
-- inside these documents, so nothing is lost with jsonb's operators and indexes.
--
-- Rows written before this migration were stored as jsonb, so their original order is gone:
-- converting them gives jsonb's order, the best there is. Every document written from now on
-- keeps its order.
--
-- The conversion rewrites the table under an exclusive lock: on a large table, run it at a
-- quiet time. The previous release keeps working on the new columns while instances are
-- upgraded: it binds jsonb values, which PostgreSQL converts to json on assignment (sorted,
-- as that release always stored them), and it reads json as it read jsonb.
ALTER TABLE sessions
    ALTER COLUMN "user" TYPE json USING "user"::json,
    ALTER COLUMN data   TYPE json USING data::json;
