-- Customers merged in contacts: the tickets moved to the survivor, per merge, so an undo moves
-- exactly those back (shared/merges.py).

-- name: lock_customer
-- Orders a merge and a concurrent write for the merged id (transaction-level advisory lock).
SELECT pg_advisory_xact_lock(hashtextextended('merge:' || $1::uuid::text, 0));

-- name: merge_customers
-- $1 merge, $2 merged id, $3 survivor. A merge seen twice moves nothing the second time.
WITH merge AS (
    INSERT INTO customer_merges (merge_id, merged_id, survivor_id) VALUES ($1, $2, $3)
    ON CONFLICT (merge_id) DO NOTHING
    RETURNING merge_id
), moved AS (
    UPDATE tickets SET customer_id = $3 WHERE customer_id = $2 AND EXISTS (SELECT 1 FROM merge) RETURNING id
)
INSERT INTO merge_moved_rows (merge_id, row_id) SELECT $1, id FROM moved;

-- name: undo_merge
-- The rows the merge moved go back to the merged customer (those still with the survivor).
WITH merge AS (
    UPDATE customer_merges SET undone_at = now() WHERE merge_id = $1 AND undone_at IS NULL
    RETURNING merged_id, survivor_id
)
UPDATE tickets t SET customer_id = merge.merged_id
FROM merge, merge_moved_rows r
WHERE r.merge_id = $1 AND t.id = r.row_id AND t.customer_id = merge.survivor_id;

-- name: adopt
-- A row just written for $2: if $2 was merged (and not undone), it moves to the survivor and is
-- noted with the merge; returns the survivor.
WITH merge AS (
    SELECT merge_id, survivor_id FROM customer_merges
    WHERE merged_id = $2 AND undone_at IS NULL ORDER BY merged_at DESC LIMIT 1
), moved AS (
    UPDATE tickets SET customer_id = merge.survivor_id FROM merge WHERE tickets.id = $1
    RETURNING tickets.id, merge.merge_id, merge.survivor_id
), noted AS (
    INSERT INTO merge_moved_rows (merge_id, row_id) SELECT merge_id, id FROM moved
)
SELECT survivor_id FROM moved;
