-- The transactional outbox (shared.outbox) and its relay; the admin page of it (shared.runtime).

-- name: append
INSERT INTO outbox (event_id, topic, event_type, source, subject, data, occurred_at, traceparent)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[],
                     $7::timestamptz[], $8::text[]);

-- name: unsent
SELECT id, event_id, topic, event_type, source, subject, data::text AS data, recorded_at, traceparent
FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1;

-- name: mark_sent
UPDATE outbox SET sent_at = $2 WHERE id = ANY($1::bigint[]);

-- name: backlog
SELECT count(*) FROM outbox WHERE sent_at IS NULL;

-- name: purge_sent
DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < now() - make_interval(days => $1);

-- name: try_relay_lock
-- One active relay per database: the holder of this session lock.
SELECT pg_try_advisory_lock($1);

-- name: wake_relays
-- Wake the relay of another replica (it listens on kehu_outbox).
SELECT pg_notify('kehu_outbox', '');

-- name: retained_page
-- Retained rows in publication order: what a replay reads.
SELECT id, event_id, event_type, source, recorded_at, data::text AS data
FROM outbox WHERE id > $1 ORDER BY id LIMIT $2;
