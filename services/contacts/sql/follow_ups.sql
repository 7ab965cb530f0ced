-- name: follow_up_state_for_update
-- The customer's owner and follow-up columns, locked: two follow-ups logged at once for one
-- customer then decide "the latest" one after the other.
SELECT id, owner, merged_into, last_follow_up_at, next_follow_up_due
FROM customers WHERE id = $1
FOR UPDATE;

-- name: insert_follow_up
INSERT INTO follow_ups (id, customer_id, by_whom, occurred_at, channel, note, outcome, next_due, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9);

-- name: set_follow_up_state
-- The customer's follow-up columns as domain.follow_ups.after decided them. The revision (the
-- record's ETag) is left alone: a follow-up is not an edit of the record, and a salesperson's
-- open edit form must not turn stale because a colleague phoned the customer.
UPDATE customers SET last_follow_up_at = $2, next_follow_up_due = $3 WHERE id = $1;

-- name: customer_owner
SELECT owner FROM customers WHERE id = $1;

-- name: follow_ups_of_customer
-- Newest first; the cursor is the last item's (occurred_at, id).
SELECT id, customer_id, by_whom AS by, occurred_at, channel, note, outcome, next_due, recorded_at
FROM follow_ups
WHERE customer_id = $1
  AND ($2::timestamptz IS NULL OR (occurred_at, id) < ($2, $3::uuid))
ORDER BY occurred_at DESC, id DESC
LIMIT $4;

-- name: due_follow_ups
-- Customers whose next follow-up is due on or before $1 (a shop day), most overdue first; of one
-- owner ($2), or of everyone when $2 is NULL. Cursor: the last item's (next_follow_up_due, id).
-- Each with its latest follow-up (what was said last), found through follow_ups_customer.
SELECT c.id, c.name, c.phone, c.category, c.owner, c.next_follow_up_due, c.last_follow_up_at,
       f.by_whom AS last_by, f.channel AS last_channel, f.outcome AS last_outcome, f.note AS last_note
FROM customers c
LEFT JOIN LATERAL (
    SELECT by_whom, channel, outcome, note FROM follow_ups
    WHERE customer_id = c.id
    ORDER BY occurred_at DESC, recorded_at DESC
    LIMIT 1
) f ON true
WHERE c.next_follow_up_due IS NOT NULL
  AND c.next_follow_up_due <= $1
  AND ($2::text IS NULL OR c.owner = $2)
  AND c.merged_into IS NULL
  AND ($3::date IS NULL OR (c.next_follow_up_due, c.id) > ($3, $4::uuid))
ORDER BY c.next_follow_up_due, c.id
LIMIT $5;
