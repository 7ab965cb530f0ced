-- name: identity_holder
-- Who holds an identity: the customer's id, name, owner and category (what a resolve answers).
SELECT c.id, c.name, c.owner, c.category
FROM customer_identities i JOIN customers c ON c.id = i.customer_id
WHERE i.kind = $1 AND i.value = $2;

-- name: insert_identity
-- Link an identity; returns nothing when someone holds it already (PRIMARY KEY (kind, value)).
-- A concurrent insert of the same identity waits for the other transaction, then does nothing.
INSERT INTO customer_identities (kind, value, customer_id, label, linked_at, linked_by)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (kind, value) DO NOTHING
RETURNING customer_id;

-- name: insert_free_identities
-- Link many identities at once (a registration batch); those already held stay with their holder.
INSERT INTO customer_identities (kind, value, customer_id, linked_at, linked_by)
SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::timestamptz[], $5::text[])
ON CONFLICT (kind, value) DO NOTHING;

-- name: identities_of
SELECT kind, value, label, customer_id, linked_at, linked_by
FROM customer_identities
WHERE customer_id = $1
ORDER BY kind, linked_at, value;

-- name: delete_identity
DELETE FROM customer_identities
WHERE customer_id = $1 AND kind = $2 AND value = $3
RETURNING label;

-- name: remaining_values
-- The customer's other identities of one kind, oldest first (the next primary phone or email).
SELECT value FROM customer_identities
WHERE customer_id = $1 AND kind = $2
ORDER BY linked_at, value;

-- name: customer_for_update
-- The fields linking touches, the row locked: two links to one customer keep the primary in step.
SELECT id, name, owner, category, phone, email, external_ref
FROM customers WHERE id = $1
FOR UPDATE;

-- name: set_primary
-- The primary phone and email (customers.phone / .email) follow the identities; the search text
-- follows the phone, and the record's revision (its ETag) moves on.
UPDATE customers SET phone = $2, email = $3, search = $4, revision = revision + 1
WHERE id = $1;

-- name: customer_id_by_identity
SELECT customer_id FROM customer_identities WHERE kind = $1 AND value = $2;
