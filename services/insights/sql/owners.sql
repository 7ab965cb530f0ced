-- Who looks after each customer (customer_owners), for ownership scopes.

-- name: record_owners
-- The newest owner fact of each customer (shared.owners.latest_owner_facts); an older fact
-- never overwrites a newer one.
INSERT INTO customer_owners AS o (customer_id, owner, owner_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[])
ON CONFLICT (customer_id) DO UPDATE SET owner = excluded.owner, owner_at = excluded.owner_at
WHERE o.owner_at <= excluded.owner_at;

-- name: owner_of
-- No row: insights has seen no owner fact of the customer (none registered yet): the pool.
SELECT owner FROM customer_owners WHERE customer_id = $1;

-- name: owners_from_timeline
-- Each customer's newest owner fact on the timeline (after a replay rebuilt it from the outboxes:
-- a fresh database whose broker no longer holds the contacts events learns its owners here).
INSERT INTO customer_owners AS o (customer_id, owner, owner_at)
SELECT DISTINCT ON (customer_id)
       customer_id, CASE WHEN event_type = 'CustomerReturnedToPool' THEN NULL ELSE data ->> 'owner' END, recorded_at
FROM timeline
WHERE event_type IN ('CustomerRegistered', 'CustomerOwnerAssigned', 'CustomerReturnedToPool')
ORDER BY customer_id, recorded_at DESC, event_id DESC
ON CONFLICT (customer_id) DO UPDATE SET owner = excluded.owner, owner_at = excluded.owner_at
WHERE o.owner_at <= excluded.owner_at;
