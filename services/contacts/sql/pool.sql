-- Owner and public pool (公海): claims, releases, assignments, handovers, rules and the sweeper.
-- owner_since: since when the current owner, or the pool, has held the customer.

-- name: holding_for_update
-- One customer's ownership, locked until the transaction ends (a claim and a sweep of the same
-- customer serialise here).
SELECT id, category, owner, previous_owner, reclaim_after, merged_into
FROM customers WHERE id = $1
FOR UPDATE;

-- name: owner_of
-- Who looks after a customer (no lock: for reads).
SELECT owner, merged_into FROM customers WHERE id = $1;

-- name: lock_owner
SELECT pg_advisory_xact_lock(hashtextextended('kehu.pool.owner:' || $1::text, 0));

-- name: held_in_category
-- How many customers of a category an owner holds (the max_per_owner rule).
SELECT count(*) FROM customers WHERE owner = $1 AND category = $2 AND merged_into IS NULL;

-- name: set_owner
-- A claim or an assignment: the customer gets an owner; a reclaim lock no longer applies.
UPDATE customers SET owner = $2, owner_since = $3, previous_owner = owner, reclaim_after = NULL
WHERE id = $1;

-- name: release_to_pool
UPDATE customers SET owner = NULL, previous_owner = owner, owner_since = $2, reclaim_after = $3
WHERE id = $1;

-- name: record_owner_change
INSERT INTO owner_changes (customer_id, changed_at, previous_owner, owner, how, changed_by, reason, rule)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: hand_over
-- Every customer of $1 (of the categories $4, or all) to $2, with a history row each, in one
-- statement; the ids moved.
WITH moved AS (
    UPDATE customers SET owner = $2, owner_since = $3, previous_owner = $1, reclaim_after = NULL
    WHERE owner = $1 AND merged_into IS NULL AND ($4::text[] IS NULL OR category = ANY($4::text[]))
    RETURNING id
), recorded AS (
    INSERT INTO owner_changes (customer_id, changed_at, previous_owner, owner, how, changed_by, handover_id, reason)
    SELECT id, $3, $1, $2, 'handover', $5, $6, $7 FROM moved
)
SELECT id FROM moved ORDER BY id;

-- name: owners
-- Each owner and how many customers they hold (what a handover would move).
SELECT owner, count(*) AS customers
FROM customers WHERE owner IS NOT NULL AND merged_into IS NULL
GROUP BY owner ORDER BY owner;

-- name: owner_history
SELECT changed_at, previous_owner, owner, how, changed_by, handover_id, reason, rule
FROM owner_changes WHERE customer_id = $1
ORDER BY changed_at DESC
LIMIT $2;

-- name: pool_page
-- The pool in id order (registration order), cursor-paginated; $3 and $4 as list_customers' q.
SELECT id, name, kind, phone, category, previous_owner, COALESCE(owner_since, created_at) AS in_pool_since,
       reclaim_after, last_order_at, last_follow_up_at
FROM customers
WHERE owner IS NULL AND merged_into IS NULL
  AND ($1::uuid IS NULL OR id > $1)
  AND ($2::text IS NULL OR category = $2)
  AND ($3::text IS NULL
       OR search LIKE '%' || $3 || '%'
       OR (search IS NULL AND name ILIKE '%' || $3 || '%')
       OR phone LIKE '%' || $4::text)
ORDER BY id
LIMIT $5;

-- name: pool_rules
SELECT category, no_follow_up_days, no_order_days, max_per_owner, reclaim_days, updated_at, updated_by
FROM pool_rules ORDER BY category;

-- name: pool_rule
SELECT category, no_follow_up_days, no_order_days, max_per_owner, reclaim_days, updated_at, updated_by
FROM pool_rules WHERE category = $1;

-- name: put_pool_rule
INSERT INTO pool_rules (category, no_follow_up_days, no_order_days, max_per_owner, reclaim_days, updated_at, updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (category) DO UPDATE SET
    no_follow_up_days = EXCLUDED.no_follow_up_days, no_order_days = EXCLUDED.no_order_days,
    max_per_owner = EXCLUDED.max_per_owner, reclaim_days = EXCLUDED.reclaim_days,
    updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
RETURNING category, no_follow_up_days, no_order_days, max_per_owner, reclaim_days, updated_at, updated_by;

-- name: pool_candidates
-- The owned customers of one category whose follow-up ($2 days) or order ($3 days) clock has run
-- out at $4: a clock starts at the later of the last event and owner_since (registration for
-- customers that predate owner_since). domain.pool.due_for_pool decides; this narrows, with the
-- same arithmetic (N days allowed, out after N+1 whole days of 24 hours).
SELECT id, category, owner, created_at, owner_since, last_follow_up_at, last_order_at
FROM customers
WHERE category = $1 AND owner IS NOT NULL AND merged_into IS NULL
  AND (($2::int IS NOT NULL
        AND GREATEST(last_follow_up_at, COALESCE(owner_since, created_at))
            <= $4::timestamptz - ($2::int + 1) * interval '24 hours')
    OR ($3::int IS NOT NULL
        AND GREATEST(last_order_at, COALESCE(owner_since, created_at))
            <= $4::timestamptz - ($3::int + 1) * interval '24 hours'));

-- name: return_to_pool
-- Many customers back to the pool at once, each only if its owner is still the one the sweep saw
-- (a claim or handover in between wins); the history rows in the same statement. Returns those
-- returned.
WITH returned AS (
    UPDATE customers c
    SET owner = NULL, previous_owner = r.owner, owner_since = $5, reclaim_after = r.reclaim_after
    FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[]) AS r(id, owner, reclaim_after, rule)
    WHERE c.id = r.id AND c.owner = r.owner
    RETURNING c.id, r.owner, r.rule
), recorded AS (
    INSERT INTO owner_changes (customer_id, changed_at, previous_owner, owner, how, changed_by, rule)
    SELECT id, $5, owner, NULL, 'returned', $6, rule FROM returned
)
SELECT id FROM returned;
