-- The idempotent consumer (shared.consumer): inbox and dead letters.

-- name: record_inbox
-- Record a batch's events; returns those not recorded before (the others are duplicates).
INSERT INTO inbox (consumer, event_id, event_type, topic, partition, "offset")
SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int[], $6::bigint[])
ON CONFLICT DO NOTHING
RETURNING event_id;

-- name: store_dead_letters
INSERT INTO dead_letters (consumer, topic, partition, "offset", key, value, headers, error)
SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bytea[], $6::bytea[], $7::jsonb[], $8::text[]);
