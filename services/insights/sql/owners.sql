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
