-- name: terms_of
SELECT customer_id, payment_days, credit_limit, when_exceeded, set_by, reason, set_at
FROM credit_terms WHERE customer_id = $1;

-- name: outstanding
-- What a customer owes on account, due or not: the unpaid part of their orders' instalments.
SELECT coalesce(sum(i.amount - i.paid), 0)::numeric(14,2)
FROM receivable_instalments i JOIN orders o ON o.id = i.order_id
WHERE o.customer_id = $1 AND i.paid < i.amount;

-- name: replace_instalments
-- An order's instalments replaced by a new schedule (the amounts already paid are the caller's
-- to carry over); returns the order's new receivable revision.
WITH gone AS (
    DELETE FROM receivable_instalments WHERE order_id = $1
), fresh AS (
    INSERT INTO receivable_instalments (order_id, no, due_at, amount, paid)
    SELECT $1, i.no, i.due_at, i.amount, i.paid
    FROM unnest($2::int[], $3::timestamptz[], $4::numeric[], $5::numeric[]) AS i (no, due_at, amount, paid)
)
UPDATE orders SET receivable_revision = receivable_revision + 1 WHERE id = $1
RETURNING receivable_revision;
