-- name: insert_customer
-- Register a new customer; returns nothing when the external_ref is already taken.
INSERT INTO customers (id, name, kind, phone, email, external_ref, category, lead_source, channel, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (external_ref) DO NOTHING
RETURNING id;

-- name: customer_by_id
SELECT id, name, kind, phone, email, external_ref, category, lead_source, channel, created_at
FROM customers WHERE id = $1;

-- name: customer_by_external_ref
SELECT id, name, kind, phone, email, external_ref, category, lead_source, channel, created_at
FROM customers WHERE external_ref = $1;

-- name: list_customers
-- Cursor pagination in id order (ids are time-ordered UUIDv7, so this is registration order).
SELECT id, name, kind, phone, email, external_ref, category, lead_source, channel, created_at
FROM customers
WHERE ($1::uuid IS NULL OR id > $1)
  AND ($2::text IS NULL OR external_ref = $2)
  AND ($3::text IS NULL OR phone = $3)
ORDER BY id
LIMIT $4;
