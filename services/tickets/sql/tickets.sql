-- name: insert_ticket
INSERT INTO tickets (id, customer_id, kind, channel, subject, description, severity, priority, category,
                     service_type, order_id, satisfaction, status, occurred_at, recorded_at, due_at, assignee,
                     queue, first_response_due_at, resolution_due_at, resolved_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
RETURNING *;

-- name: ticket_by_id
SELECT * FROM tickets WHERE id = $1;

-- name: insert_activity
INSERT INTO ticket_activity (ticket_id, at, by, action, detail, event_id) VALUES ($1, $2, $3, $4, $5, $6);

-- name: customer_owner
-- Who looks after the customer (the replica fed by kehu.contacts); NULL: the pool, or not known yet.
SELECT owner FROM known_customers WHERE customer_id = $1;

-- name: list_tickets
-- Cursor pagination in id order (UUIDv7: the order they were recorded in). $6: a salesperson's
-- owner id: only their customers' tickets and the pool's (an unknown owner, owner_at NULL, is neither).
-- $4: the statuses asked for (NULL: all). $10: a running clock (open or waiting on the customer)
-- due at or before it; $11: no running clock run out at that time (breaching_within, breached).
-- $7 and $12: handled by this person (assignee=, mine=true: both must hold).
SELECT * FROM tickets
WHERE ($1::uuid IS NULL OR id > $1)
  AND ($2::uuid IS NULL OR customer_id = $2)
  AND ($3::text IS NULL OR kind = $3)
  AND ($4::text[] IS NULL OR status = ANY ($4))
  AND ($6::text IS NULL OR EXISTS (
      SELECT 1 FROM known_customers k WHERE k.customer_id = tickets.customer_id
        AND (k.owner = $6 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
  AND ($7::text IS NULL OR assignee = $7)
  AND ($8::text IS NULL OR queue = $8)
  AND ($9::text IS NULL OR category = $9)
  AND ($10::timestamptz IS NULL OR (status IN ('open', 'waiting_on_customer') AND due_at <= $10))
  AND ($11::timestamptz IS NULL OR NOT (status IN ('open', 'waiting_on_customer') AND due_at IS NOT NULL
                                        AND due_at <= $11))
  AND ($12::text IS NULL OR assignee = $12)
ORDER BY id
LIMIT $5;

-- name: list_tickets_newest
-- The same filters as list_tickets, newest first; the cursor is the last (smallest) id seen.
SELECT * FROM tickets
WHERE ($1::uuid IS NULL OR id < $1)
  AND ($2::uuid IS NULL OR customer_id = $2)
  AND ($3::text IS NULL OR kind = $3)
  AND ($4::text[] IS NULL OR status = ANY ($4))
  AND ($6::text IS NULL OR EXISTS (
      SELECT 1 FROM known_customers k WHERE k.customer_id = tickets.customer_id
        AND (k.owner = $6 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
  AND ($7::text IS NULL OR assignee = $7)
  AND ($8::text IS NULL OR queue = $8)
  AND ($9::text IS NULL OR category = $9)
  AND ($10::timestamptz IS NULL OR (status IN ('open', 'waiting_on_customer') AND due_at <= $10))
  AND ($11::timestamptz IS NULL OR NOT (status IN ('open', 'waiting_on_customer') AND due_at IS NOT NULL
                                        AND due_at <= $11))
  AND ($12::text IS NULL OR assignee = $12)
ORDER BY id DESC
LIMIT $5;

-- name: list_tickets_due
-- The same filters as list_tickets, the soonest due first, those without a running clock last
-- (index tickets_due_id, migration 0005). Keyset cursor: the last (due_at, id) seen, $13 its due_at
-- (NULL: the cursor is among those without a clock).
SELECT * FROM tickets
WHERE ($1::uuid IS NULL OR CASE WHEN $13::timestamptz IS NULL THEN due_at IS NULL AND id > $1
                                ELSE due_at IS NULL OR (due_at, id) > ($13, $1) END)
  AND ($2::uuid IS NULL OR customer_id = $2)
  AND ($3::text IS NULL OR kind = $3)
  AND ($4::text[] IS NULL OR status = ANY ($4))
  AND ($6::text IS NULL OR EXISTS (
      SELECT 1 FROM known_customers k WHERE k.customer_id = tickets.customer_id
        AND (k.owner = $6 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
  AND ($7::text IS NULL OR assignee = $7)
  AND ($8::text IS NULL OR queue = $8)
  AND ($9::text IS NULL OR category = $9)
  AND ($10::timestamptz IS NULL OR (status IN ('open', 'waiting_on_customer') AND due_at <= $10))
  AND ($11::timestamptz IS NULL OR NOT (status IN ('open', 'waiting_on_customer') AND due_at IS NOT NULL
                                        AND due_at <= $11))
  AND ($12::text IS NULL OR assignee = $12)
ORDER BY due_at NULLS LAST, id
LIMIT $5;
