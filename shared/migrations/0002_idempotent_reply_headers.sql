-- A replayed reply (a retried write with the same Idempotency-Key) answers the headers the first
-- answer had (ETag, Location), not only its status and body.
ALTER TABLE idempotency_keys ADD COLUMN headers jsonb NOT NULL DEFAULT '{}';
