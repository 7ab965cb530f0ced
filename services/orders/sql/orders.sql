-- name: insert_order
-- The order and its lines in one statement (one round trip); returns no row when the
-- external_ref is already used by another order, and then writes nothing.
WITH new_order AS (
    INSERT INTO orders (id, customer_id, channel, currency, total, occurred_at, recorded_at, external_ref,
                        status, discount, paid_with)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $16, $17, $18)
    ON CONFLICT (external_ref) DO NOTHING
    RETURNING id
), new_lines AS (
    INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price, amount, discount, category)
    SELECT new_order.id, line.*
    FROM new_order,
         unnest($9::int[], $10::text[], $11::numeric[], $12::numeric[], $13::numeric[], $14::numeric[], $15::text[])
             AS line (line_no, sku, quantity, unit_price, amount, discount, category)
)
SELECT id FROM new_order;

-- name: order_by_id
SELECT id, customer_id, channel, currency, total, occurred_at, recorded_at, external_ref,
       status, discount, paid_with, returned_total
FROM orders WHERE id = $1;

-- name: order_id_by_external_ref
SELECT id FROM orders WHERE external_ref = $1;

-- name: lines_of_orders
SELECT order_id, line_no, sku, quantity, unit_price, amount, discount, category, returned_quantity, returned_amount
FROM order_lines WHERE order_id = ANY($1::uuid[])
ORDER BY order_id, line_no;

-- name: list_orders
-- Cursor pagination in id order (UUIDv7: the order they were recorded in). $4: a salesperson's
-- owner id: only their customers' orders and the pool's (an unknown owner, owner_at NULL, is neither).
-- $5: only orders of this status.
SELECT id, customer_id, channel, currency, total, occurred_at, recorded_at, external_ref,
       status, discount, paid_with, returned_total
FROM orders
WHERE ($1::uuid IS NULL OR id > $1)
  AND ($2::uuid IS NULL OR customer_id = $2)
  AND ($5::text IS NULL OR status = $5)
  AND ($4::text IS NULL OR EXISTS (
      SELECT 1 FROM known_customers k WHERE k.customer_id = orders.customer_id
        AND (k.owner = $4 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
ORDER BY id
LIMIT $3;

-- name: list_orders_newest
-- As list_orders, newest first: the cursor is the last id seen, the next page is older.
SELECT id, customer_id, channel, currency, total, occurred_at, recorded_at, external_ref,
       status, discount, paid_with, returned_total
FROM orders
WHERE ($1::uuid IS NULL OR id < $1)
  AND ($2::uuid IS NULL OR customer_id = $2)
  AND ($4::text IS NULL OR EXISTS (
      SELECT 1 FROM known_customers k WHERE k.customer_id = orders.customer_id
        AND (k.owner = $4 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
  AND ($5::text IS NULL OR status = $5)
ORDER BY id DESC
LIMIT $3;

-- name: insert_orders
-- Many orders and their lines in one statement; returns the ids of the orders inserted. An order
-- whose external_ref is already taken is skipped with its lines (the caller reports the holder).
WITH new_orders AS (
    INSERT INTO orders (id, customer_id, channel, currency, total, occurred_at, recorded_at, external_ref,
                        discount, paid_with)
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::numeric[], $6::timestamptz[],
                         $7::timestamptz[], $8::text[], $15::numeric[], $16::text[])
    ON CONFLICT (external_ref) DO NOTHING
    RETURNING id
), new_lines AS (
    INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price, amount, discount, category)
    SELECT line.*
    FROM unnest($9::uuid[], $10::int[], $11::text[], $12::numeric[], $13::numeric[], $14::numeric[],
                $17::numeric[], $18::text[])
             AS line (order_id, line_no, sku, quantity, unit_price, amount, discount, category)
    WHERE line.order_id IN (SELECT id FROM new_orders)
)
SELECT id FROM new_orders;

-- name: order_ids_by_external_refs
SELECT external_ref, id FROM orders WHERE external_ref = ANY($1::text[]);
