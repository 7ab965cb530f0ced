-- name: insert_customer
-- Register a new customer; returns nothing when the external_ref is already taken.
INSERT INTO customers (id, name, kind, phone, email, external_ref, category, lead_source, channel, created_at, owner,
                       search, registered_at, owner_since, lead_source_detail, tags, address, notes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, coalesce($13::timestamptz, $10::timestamptz),
        -- owner_since: the owner's clock (pool rules) starts when the record is made
        CASE WHEN $11::text IS NOT NULL THEN $10::timestamptz END, $14, $15, $16, $17)
ON CONFLICT (external_ref) DO NOTHING
RETURNING id;

-- name: customer_by_id
SELECT id, name, kind, phone, email, external_ref, category, lead_source, channel, owner, created_at,
       revision, lead_source_detail, referred_by, tags, address, notes, loss_reason, loss_kind,
       first_order_at, last_order_at, last_follow_up_at, next_follow_up_due, owner_since, merged_into
FROM customers WHERE id = $1;

-- name: customer_by_external_ref
SELECT id, name, kind, phone, email, external_ref, category, lead_source, channel, owner, created_at,
       revision, lead_source_detail, referred_by, tags, address, notes, loss_reason, loss_kind,
       first_order_at, last_order_at, last_follow_up_at, next_follow_up_due, owner_since, merged_into
FROM customers WHERE external_ref = $1;

-- name: list_customers
-- Cursor pagination in id order (ids are time-ordered UUIDv7, so this is registration order).
-- $6 (q) is the query as search.query_pattern gives it: lower-case, LIKE's wildcards escaped;
-- `search` is lower-case too, so LIKE finds it in any script. A row not yet backfilled (search
-- NULL) is matched by its name. $7: the digits of a query that reads as a phone number's tail.
-- (With a q, the store uses search_customers: the same answer, through the indexes.) $9 lead
-- source, $10 tag.
-- A customer merged into another is left out (GET /customers/{id} still answers it).
SELECT id, name, kind, phone, email, external_ref, category, lead_source, channel, owner, created_at,
       revision, lead_source_detail, referred_by, tags, address, notes, loss_reason, loss_kind,
       first_order_at, last_order_at, last_follow_up_at, next_follow_up_due, owner_since, merged_into
FROM customers
WHERE ($1::uuid IS NULL OR id > $1)
  AND merged_into IS NULL
  AND ($2::text IS NULL OR external_ref = $2)
  AND ($3::text IS NULL OR phone = $3)
  AND ($4::text IS NULL OR category = $4)
  AND ($5::text IS NULL OR owner = $5)
  AND ($6::text IS NULL
       OR search LIKE '%' || $6 || '%'
       OR (search IS NULL AND name ILIKE '%' || $6 || '%')
       OR phone LIKE '%' || $7::text)
  AND ($9::text IS NULL OR lead_source = $9)
  AND ($10::text IS NULL OR tags @> ARRAY[$10::text])
  AND ($11::text IS NULL OR owner = $11 OR owner IS NULL)  -- a salesperson's scope: own + pool
ORDER BY id
LIMIT $8;

-- name: search_customers
-- list_customers with a q (same parameters, and $11, $12: the pieces of q and of its phone tail,
-- search.query_grams), through the GIN indexes of migration 0006: the customers whose search
-- text holds every piece, checked with LIKE; rows not yet backfilled by name; and the holders of
-- an identity whose value contains q (a membership card, a WeChat id, an address). A semi-join
-- on the ids found: a plain `$6 IS NULL OR id IN (...)` would read every customer.
SELECT id, name, kind, phone, email, external_ref, category, lead_source, channel, owner, created_at,
       revision, lead_source_detail, referred_by, tags, address, notes, loss_reason, loss_kind,
       first_order_at, last_order_at, last_follow_up_at, next_follow_up_due, owner_since, merged_into
FROM customers
WHERE id IN (
       SELECT id FROM customers
       WHERE contacts_search_grams(search) @> $11::text[] AND search LIKE '%' || $6::text || '%'
       UNION
       SELECT id FROM customers WHERE search IS NULL AND name ILIKE '%' || $6::text || '%'
       UNION
       SELECT id FROM customers
       WHERE contacts_search_grams(search) @> $12::text[] AND phone LIKE '%' || $7::text
       UNION
       SELECT customer_id FROM customer_identities
       WHERE contacts_search_grams(lower(value)) @> $11::text[] AND lower(value) LIKE '%' || $6::text || '%')
  AND merged_into IS NULL
  AND ($1::uuid IS NULL OR id > $1)
  AND ($2::text IS NULL OR external_ref = $2)
  AND ($3::text IS NULL OR phone = $3)
  AND ($4::text IS NULL OR category = $4)
  AND ($5::text IS NULL OR owner = $5)
  AND ($9::text IS NULL OR lead_source = $9)
  AND ($10::text IS NULL OR tags @> ARRAY[$10::text])
  AND ($13::text IS NULL OR owner = $13 OR owner IS NULL)  -- a salesperson's scope: own + pool
ORDER BY id
LIMIT $8;

-- name: insert_customers
-- Register many customers in one statement; returns the ids inserted. A customer whose
-- external_ref is already taken is skipped (the caller reports the holder).
-- Tags travel as one text per customer (unnest cannot take an array of arrays of different
-- lengths): $14 holds each customer's tags as a JSON array.
INSERT INTO customers (id, name, kind, phone, email, external_ref, category, lead_source, channel, created_at, owner,
                       search, registered_at, owner_since, lead_source_detail, tags, address, notes)
SELECT id, name, kind, phone, email, external_ref, category, lead_source, channel, created_at, owner, search,
       coalesce(registered_at, created_at), CASE WHEN owner IS NOT NULL THEN created_at END,
       lead_source_detail, ARRAY(SELECT jsonb_array_elements_text(tags::jsonb)), address, notes
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::timestamptz[], $11::text[], $12::text[], $13::timestamptz[], $14::text[],
            $15::text[], $16::text[], $17::text[])
     AS n(id, name, kind, phone, email, external_ref, category, lead_source, channel, created_at, owner, search,
          registered_at, lead_source_detail, tags, address, notes)
ON CONFLICT (external_ref) DO NOTHING
RETURNING id;

-- name: customer_ids_by_external_refs
SELECT external_ref, id FROM customers WHERE external_ref = ANY($1::text[]);

-- name: customers_by_ids
-- The customers among the given ids (what orders and tickets ask to confirm many ids at once),
-- with the other filters of list_customers (here $n+1; $10 lead source, $11 tag). Few rows: no index needed.
SELECT id, name, kind, phone, email, external_ref, category, lead_source, channel, owner, created_at,
       revision, lead_source_detail, referred_by, tags, address, notes, loss_reason, loss_kind,
       first_order_at, last_order_at, last_follow_up_at, next_follow_up_due, owner_since, merged_into
FROM customers
WHERE id = ANY($1::uuid[])
  AND ($2::uuid IS NULL OR id > $2)
  AND ($3::text IS NULL OR external_ref = $3)
  AND ($4::text IS NULL OR phone = $4)
  AND ($5::text IS NULL OR category = $5)
  AND ($6::text IS NULL OR owner = $6)
  AND ($10::text IS NULL OR lead_source = $10)
  AND ($11::text IS NULL OR tags @> ARRAY[$11::text])
  AND ($7::text IS NULL
       OR search LIKE '%' || $7 || '%'
       OR (search IS NULL AND name ILIKE '%' || $7 || '%')
       OR phone LIKE '%' || $8::text
       OR id IN (SELECT customer_id FROM customer_identities
                 WHERE customer_id = ANY($1::uuid[]) AND lower(value) LIKE '%' || $7 || '%'))
  AND ($12::text IS NULL OR owner = $12 OR owner IS NULL)  -- a salesperson's scope: own + pool
ORDER BY id
LIMIT $9;

-- name: customers_without_search
-- Rows registered before customers.search existed (migration 0004), a batch at a time; SKIP
-- LOCKED lets two replicas backfill side by side.
SELECT id, name, phone, external_ref FROM customers
WHERE search IS NULL
ORDER BY id
LIMIT $1
FOR UPDATE SKIP LOCKED;

-- name: set_search
UPDATE customers SET search = s.search
FROM unnest($1::uuid[], $2::text[]) AS s(id, search)
WHERE customers.id = s.id;
