-- name: terms_of
SELECT customer_id, payment_days, credit_limit, when_exceeded, set_by, reason, set_at
FROM credit_terms WHERE customer_id = $1;

-- name: outstanding
-- What a customer owes on account, due or not: the unpaid part of their orders' instalments.
SELECT coalesce(sum(i.amount - i.paid), 0)::numeric(14,2)
FROM receivable_instalments i JOIN orders o ON o.id = i.order_id
WHERE o.customer_id = $1 AND i.paid < i.amount;
