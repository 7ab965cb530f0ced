-- Invoices of orders (docs/architecture.md §14.2).

-- name: next_number
SELECT nextval('invoice_numbers');

-- name: insert_invoice
INSERT INTO invoices (id, number, order_id, customer_id, amount, official_number, issued_at, issued_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: invoice_by_id
SELECT id, number, order_id, customer_id, amount, official_number, issued_at, issued_by
FROM invoices WHERE id = $1;

-- name: list_invoices
SELECT id, number, order_id, customer_id, amount, official_number, issued_at, issued_by
FROM invoices
WHERE ($1::uuid IS NULL OR customer_id IN (SELECT $1::uuid UNION ALL  -- and those merged into them
           SELECT merged_id FROM customer_merges WHERE survivor_id = $1 AND undone_at IS NULL)) AND ($2::uuid IS NULL OR order_id = $2)
  AND ($4::text IS NULL OR EXISTS (
      SELECT 1 FROM known_customers k WHERE k.customer_id = invoices.customer_id
        AND (k.owner = $4 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
ORDER BY issued_at DESC, id DESC
LIMIT $3;

-- name: set_official_number
UPDATE invoices SET official_number = $2 WHERE id = $1
RETURNING id, number, order_id, customer_id, amount, official_number, issued_at, issued_by;
