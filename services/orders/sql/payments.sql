-- Payments, credit notes, the money on a customer's account, and the ledger statements read
-- (docs/architecture.md §14.2).

-- name: lock_customer
-- Every write to a customer's receivables holds this lock: two payments of one customer never
-- allocate the same open money twice.
SELECT pg_advisory_xact_lock(hashtextextended('receivables:' || $1::uuid::text, 0));

-- name: order_head
SELECT id, customer_id, total, status, receivable_revision FROM orders WHERE id = $1;

-- name: instalments_of_order
SELECT no, due_at, amount, paid FROM receivable_instalments WHERE order_id = $1 ORDER BY no;

-- name: open_instalments_of_customer
SELECT i.order_id, i.no, i.due_at, i.amount, i.paid
FROM receivable_instalments i JOIN orders o ON o.id = i.order_id
WHERE o.customer_id = $1 AND i.paid < i.amount
ORDER BY i.due_at, i.order_id, i.no;

-- name: add_paid
-- $2/$3: instalment numbers and the money newly allocated to them; returns the order's new revision.
WITH paid AS (
    UPDATE receivable_instalments i SET paid = i.paid + v.amount
    FROM unnest($2::int[], $3::numeric[]) AS v (no, amount)
    WHERE i.order_id = $1 AND i.no = v.no
)
UPDATE orders SET receivable_revision = receivable_revision + 1 WHERE id = $1
RETURNING receivable_revision;

-- name: write_schedule
-- The order's instalments replaced; an instalment keeping its number and due date keeps the time
-- its overdue was raised (never raised twice). Returns the order's new revision.
WITH old AS (
    DELETE FROM receivable_instalments WHERE order_id = $1 RETURNING no, due_at, overdue_raised_at
), fresh AS (
    INSERT INTO receivable_instalments (order_id, no, due_at, amount, paid, overdue_raised_at)
    SELECT $1, i.no, i.due_at, i.amount, i.paid,
           (SELECT old.overdue_raised_at FROM old WHERE old.no = i.no AND old.due_at = i.due_at)
    FROM unnest($2::int[], $3::timestamptz[], $4::numeric[], $5::numeric[]) AS i (no, due_at, amount, paid)
)
UPDATE orders SET receivable_revision = receivable_revision + 1 WHERE id = $1
RETURNING receivable_revision;

-- name: credit_of
SELECT coalesce((SELECT amount FROM account_credit WHERE customer_id = $1), 0)::numeric(14,2);

-- name: use_credit
-- The CHECK refuses going below nothing.
UPDATE account_credit SET amount = amount - $2 WHERE customer_id = $1;

-- name: add_credit
INSERT INTO account_credit (customer_id, amount) VALUES ($1, $2)
ON CONFLICT (customer_id) DO UPDATE SET amount = account_credit.amount + excluded.amount;

-- name: insert_payment
INSERT INTO payments (id, customer_id, method, amount, unallocated, received_at, reference, recorded_by,
                      recorded_at, credit_note_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: insert_allocations
INSERT INTO payment_allocations (payment_id, order_id, instalment_no, amount, due_at)
SELECT $1, a.* FROM unnest($2::uuid[], $3::int[], $4::numeric[], $5::timestamptz[])
    AS a (order_id, instalment_no, amount, due_at);

-- name: payments_of
-- A customer's payments and credit notes, newest first, with what each paid.
SELECT p.id, p.customer_id, p.method, p.amount, p.unallocated, p.received_at, p.reference, p.recorded_by,
       p.credit_note_id,
       coalesce((SELECT jsonb_agg(jsonb_build_object('order_id', a.order_id, 'instalment_no', a.instalment_no,
                                                     'amount', a.amount, 'due_at', a.due_at)
                                  ORDER BY a.due_at, a.order_id, a.instalment_no)
                 FROM payment_allocations a WHERE a.payment_id = p.id), '[]'::jsonb) AS allocations
FROM payments p
WHERE ($1::uuid IS NULL OR p.customer_id IN (SELECT $1::uuid UNION ALL  -- and those merged into them
           SELECT merged_id FROM customer_merges WHERE survivor_id = $1 AND undone_at IS NULL)) AND ($2::uuid IS NULL OR EXISTS (
    SELECT 1 FROM payment_allocations a WHERE a.payment_id = p.id AND a.order_id = $2))
  AND ($4::text IS NULL OR EXISTS (
      SELECT 1 FROM known_customers k WHERE k.customer_id = p.customer_id
        AND (k.owner = $4 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
ORDER BY p.received_at DESC, p.id DESC
LIMIT $3;

-- name: insert_credit_note
-- Returns nothing when the ticket already has its credit note.
INSERT INTO credit_notes (id, customer_id, amount, reason, ticket_id, issued_at, issued_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (ticket_id) DO NOTHING
RETURNING id;

-- name: insert_ledger
INSERT INTO receivable_ledger (id, customer_id, kind, order_id, ref, amount, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: ledger_before
-- A customer's lines include those of the customers merged into them (not undone): their orders
-- moved to the survivor, so their payments and credit notes count there too.
SELECT coalesce(sum(amount), 0)::numeric(14,2) FROM receivable_ledger
WHERE customer_id IN (SELECT $1::uuid UNION ALL
                      SELECT merged_id FROM customer_merges WHERE survivor_id = $1 AND undone_at IS NULL)
  AND occurred_at < $2;

-- name: ledger_between
SELECT id, kind, order_id, ref, amount, occurred_at FROM receivable_ledger
WHERE customer_id IN (SELECT $1::uuid UNION ALL
                      SELECT merged_id FROM customer_merges WHERE survivor_id = $1 AND undone_at IS NULL)
  AND occurred_at >= $2 AND occurred_at < $3
ORDER BY occurred_at, id
LIMIT $4;
