-- name: insert_timeline
-- A batch of events; an event already on the timeline is left as it is.
INSERT INTO timeline (event_id, customer_id, event_type, ce_type, source, occurred_at, recorded_at, data)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                     $7::timestamptz[], $8::jsonb[])
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id;

-- name: timeline_page
-- One customer's events in business-time order; the cursor is the last (occurred_at, event_id) seen.
SELECT event_id, event_type, source, occurred_at, recorded_at, data
FROM timeline
WHERE customer_id = $1
  AND ($2::timestamptz IS NULL OR (occurred_at, event_id) > ($2, $3::uuid))
  AND ($4::text IS NULL OR event_type = $4)
ORDER BY occurred_at, event_id
LIMIT $5;

-- name: order_events
-- The events already on the timeline of these orders that decide what a later one changes
-- (ledger.resolve), but those of the batch at hand ($2), in business-time order.
SELECT event_id, event_type, data FROM timeline
WHERE data ->> 'order_id' = ANY($1::text[])
  AND event_type IN ('OrderPlaced', 'OrderApprovalDecided', 'OrderCancelled', 'OrderReturned')
  AND NOT event_id = ANY($2::uuid[])
ORDER BY occurred_at, event_id;
