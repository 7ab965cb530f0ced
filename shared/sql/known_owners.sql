-- The owner of each known customer (shared.customers, shared.owners): the replica orders and
-- tickets apply ownership scopes with. owner_at NULL: no owner fact yet (the owner is unknown).

-- name: owner_of
SELECT owner, owner_at FROM known_customers WHERE customer_id = $1;

-- name: owners_among
SELECT customer_id, owner, owner_at FROM known_customers WHERE customer_id = ANY($1::uuid[]);

-- name: record_owners
-- Owner facts (from events, or contacts' lookup answers: $4 says which); an older fact never
-- overwrites a newer one. One fact per customer, in id order (shared.owners.latest_owner_facts).
INSERT INTO known_customers AS k (customer_id, source, owner, owner_at)
SELECT f.id, $4::text, f.owner, f.at FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS f (id, owner, at)
ON CONFLICT (customer_id) DO UPDATE SET owner = excluded.owner, owner_at = excluded.owner_at
WHERE k.owner_at IS NULL OR k.owner_at <= excluded.owner_at;

-- name: owners_unknown
-- Customers known before owners were replicated, whose owner the backfill still has to ask for.
SELECT customer_id FROM known_customers WHERE owner_at IS NULL AND customer_id > $1 ORDER BY customer_id LIMIT $2;
