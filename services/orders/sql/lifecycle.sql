-- An order's life after it was placed: status, cancellation, returns (docs/architecture.md §14.1).

-- name: lock_order
-- Serialises changes of one order (status steps, cancellations and returns read, then write).
SELECT id FROM orders WHERE id = $1 FOR UPDATE;

-- name: set_status
UPDATE orders SET status = $2 WHERE id = $1;

-- name: add_history
INSERT INTO order_status_history (order_id, kind, previous_status, status, changed_by, note, return_id, amount,
                                  changed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9);

-- name: insert_return
-- The return, its lines, and what came back added to the order's lines and to the order.
WITH new_return AS (
    INSERT INTO order_returns (id, order_id, amount, whole, reason, returned_by, returned_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    RETURNING id
), new_lines AS (
    INSERT INTO order_return_lines (return_id, line_no, sku, quantity, amount)
    SELECT new_return.id, line.*
    FROM new_return, unnest($8::int[], $9::text[], $10::numeric[], $11::numeric[])
        AS line (line_no, sku, quantity, amount)
), order_lines_updated AS (
    UPDATE order_lines l
    SET returned_quantity = l.returned_quantity + line.quantity, returned_amount = l.returned_amount + line.amount
    FROM unnest($8::int[], $10::numeric[], $11::numeric[]) AS line (line_no, quantity, amount)
    WHERE l.order_id = $2 AND l.line_no = line.line_no
)
UPDATE orders SET returned_total = returned_total + $3, status = $12 WHERE id = $2;

-- name: history_of
SELECT kind, previous_status, status, changed_by, note, return_id, amount, changed_at
FROM order_status_history WHERE order_id = $1
ORDER BY id;

-- name: returns_of
SELECT r.id, r.amount, r.whole, r.reason, r.returned_by, r.returned_at,
       coalesce(jsonb_agg(jsonb_build_object('line_no', l.line_no, 'sku', l.sku, 'quantity', l.quantity,
                                             'amount', l.amount) ORDER BY l.line_no), '[]') AS lines
FROM order_returns r JOIN order_return_lines l ON l.return_id = r.id
WHERE r.order_id = $1
GROUP BY r.id
ORDER BY r.returned_at, r.id;
