-- Ageing of open instalments and the overdue sweep (docs/architecture.md §14.2). Days past due:
-- whole days begun since due_at (domain/ageing.py); $1 is as_of everywhere. Both read the
-- open-instalments index (receivable_instalments_open: paid < amount).

-- name: ageing_totals
-- The shop's (or, $2, a salesperson's customers' and the pool's) unpaid money by bucket.
WITH open AS (
    SELECT i.amount - i.paid AS unpaid,
           greatest(0, ceil(extract(epoch FROM ($1::timestamptz - i.due_at)) / 86400)) AS days
    FROM receivable_instalments i
    WHERE i.paid < i.amount
      AND ($2::text IS NULL OR i.order_id IN (  -- hashed subplans; the shop's totals read no other table
          SELECT o.id FROM orders o WHERE o.customer_id IN (
              SELECT k.customer_id FROM known_customers k
              WHERE k.owner = $2 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
)
SELECT coalesce(sum(unpaid) FILTER (WHERE days = 0), 0)::numeric(14,2) AS current,
       coalesce(sum(unpaid) FILTER (WHERE days BETWEEN 1 AND 30), 0)::numeric(14,2) AS days_1_30,
       coalesce(sum(unpaid) FILTER (WHERE days BETWEEN 31 AND 60), 0)::numeric(14,2) AS days_31_60,
       coalesce(sum(unpaid) FILTER (WHERE days BETWEEN 61 AND 90), 0)::numeric(14,2) AS days_61_90,
       coalesce(sum(unpaid) FILTER (WHERE days > 90), 0)::numeric(14,2) AS over_90,
       coalesce(sum(unpaid), 0)::numeric(14,2) AS total
FROM open;

-- name: ageing_customers
-- Per customer, in customer id order after $3 (the cursor), $4 of them; $5: only this customer.
WITH open AS (
    SELECT o.customer_id, i.amount - i.paid AS unpaid,
           greatest(0, ceil(extract(epoch FROM ($1::timestamptz - i.due_at)) / 86400)) AS days
    FROM receivable_instalments i JOIN orders o ON o.id = i.order_id
    WHERE i.paid < i.amount
      AND ($3::uuid IS NULL OR o.customer_id > $3)
      AND ($5::uuid IS NULL OR o.customer_id = $5)
      AND ($2::text IS NULL OR o.customer_id IN (  -- a hashed subplan: one pass over the owner's customers
          SELECT k.customer_id FROM known_customers k
          WHERE k.owner = $2 OR (k.owner IS NULL AND k.owner_at IS NOT NULL)))
)
SELECT customer_id,
       coalesce(sum(unpaid) FILTER (WHERE days = 0), 0)::numeric(14,2) AS current,
       coalesce(sum(unpaid) FILTER (WHERE days BETWEEN 1 AND 30), 0)::numeric(14,2) AS days_1_30,
       coalesce(sum(unpaid) FILTER (WHERE days BETWEEN 31 AND 60), 0)::numeric(14,2) AS days_31_60,
       coalesce(sum(unpaid) FILTER (WHERE days BETWEEN 61 AND 90), 0)::numeric(14,2) AS days_61_90,
       coalesce(sum(unpaid) FILTER (WHERE days > 90), 0)::numeric(14,2) AS over_90,
       sum(unpaid)::numeric(14,2) AS total
FROM open
GROUP BY customer_id
ORDER BY customer_id
LIMIT $4;

-- name: raise_overdue
-- Open instalments past due at $1 whose overdue was never raised: marked raised (at $1), returned
-- with their customer; at most $2 per statement.
WITH due AS (
    SELECT i.order_id, i.no FROM receivable_instalments i
    WHERE i.paid < i.amount AND i.due_at < $1 AND i.overdue_raised_at IS NULL
    ORDER BY i.due_at, i.order_id, i.no
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE receivable_instalments i SET overdue_raised_at = $1
FROM due, orders o
WHERE i.order_id = due.order_id AND i.no = due.no AND o.id = i.order_id
RETURNING o.customer_id, i.order_id, i.no, i.due_at, i.amount - i.paid AS amount_due;
