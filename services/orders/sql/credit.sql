-- Credit terms, the replica of credit tiers and credit decisions (docs/architecture.md §14.5).

-- name: terms_for_update
-- The customer's terms, locked until the transaction ends: two orders of one customer are judged
-- one after the other, so they cannot both pass the limit.
SELECT customer_id, payment_days, credit_limit, when_exceeded, set_by, reason, set_at
FROM credit_terms WHERE customer_id = $1
FOR UPDATE;

-- name: upsert_terms
INSERT INTO credit_terms (customer_id, payment_days, credit_limit, when_exceeded, set_by, reason, set_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (customer_id) DO UPDATE SET
    payment_days = excluded.payment_days, credit_limit = excluded.credit_limit,
    when_exceeded = excluded.when_exceeded, set_by = excluded.set_by, reason = excluded.reason,
    set_at = excluded.set_at;

-- name: delete_terms
DELETE FROM credit_terms WHERE customer_id = $1;

-- name: record_terms_history
INSERT INTO credit_terms_history (customer_id, payment_days, credit_limit, when_exceeded, removed, set_by, reason,
                                  set_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: terms_history
-- Newest first.
SELECT payment_days, credit_limit, when_exceeded, removed, set_by, reason, set_at
FROM credit_terms_history WHERE customer_id = $1
ORDER BY id DESC
LIMIT $2;

-- name: standing_of
SELECT tier, reason, evidence, occurred_at FROM credit_standing WHERE customer_id = $1;

-- name: apply_standing
-- A CreditStandingChanged into the replica: an older event (by occurred_at, then event id) never
-- overwrites a newer one; the same event again changes nothing.
INSERT INTO credit_standing (customer_id, tier, reason, evidence, occurred_at, event_id)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (customer_id) DO UPDATE SET
    tier = excluded.tier, reason = excluded.reason, evidence = excluded.evidence,
    occurred_at = excluded.occurred_at, event_id = excluded.event_id
WHERE (credit_standing.occurred_at, credit_standing.event_id) < (excluded.occurred_at, excluded.event_id);

-- name: is_known
SELECT EXISTS (SELECT 1 FROM known_customers WHERE customer_id = $1)
    OR EXISTS (SELECT 1 FROM credit_terms WHERE customer_id = $1)
    OR EXISTS (SELECT 1 FROM credit_standing WHERE customer_id = $1);

-- name: wait_for_approval
-- An order the credit check stopped, in the transaction that placed it: it waits for a manager.
UPDATE orders SET status = 'pending_approval' WHERE id = $1;

-- name: record_decision
INSERT INTO credit_decisions (order_id, customer_id, why, tier, outstanding, credit_limit, total, requested_by,
                              requested_at, override, approved, decided_by, reason, decided_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14);

-- name: decision_for_update
-- An order waiting for (or given) a credit decision, with its status and total, locked.
SELECT d.order_id, d.customer_id, d.why, d.tier, d.outstanding, d.credit_limit, d.total, d.requested_by,
       d.requested_at, d.override, d.approved, d.decided_by, d.reason, d.decided_at, o.status, o.occurred_at
FROM orders o LEFT JOIN credit_decisions d ON d.order_id = o.id
WHERE o.id = $1
FOR UPDATE OF o;

-- name: decide
UPDATE credit_decisions SET approved = $2, decided_by = $3, reason = $4, decided_at = $5 WHERE order_id = $1;

-- name: order_status
UPDATE orders SET status = $2 WHERE id = $1;

-- name: waiting
-- Orders waiting for approval, oldest first; $2: a salesperson's owner id (their customers and the pool's).
SELECT d.order_id, o.customer_id, d.why, d.tier, d.outstanding, d.credit_limit, d.total, d.requested_by,
       d.requested_at, o.currency, o.channel, o.occurred_at
FROM credit_decisions d JOIN orders o ON o.id = d.order_id
WHERE d.decided_at IS NULL AND o.status = 'pending_approval'
  AND ($2::text IS NULL OR EXISTS (
      SELECT 1 FROM known_customers k WHERE k.customer_id = o.customer_id
        AND (k.owner = $2 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
ORDER BY d.requested_at, d.order_id
LIMIT $1;
