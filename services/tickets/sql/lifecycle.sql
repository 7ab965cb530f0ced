-- A ticket's life: the row locked for a write, saved after it, its remedies, prevention actions
-- and history (docs/tickets.md "A ticket's life").

-- name: ticket_for_update
-- Serialises the writes of one ticket (each reads the row, decides, then saves it).
SELECT * FROM tickets WHERE id = $1 FOR UPDATE;

-- name: save_ticket
-- Every column a write may change (domain.resolution.MUTABLE, in that order).
UPDATE tickets SET status = $2, category = $3, due_at = $4, assignee = $5, queue = $6, escalated_to = $7,
    escalated_at = $8, first_response_at = $9, resolution_due_at = $10, resolution_breached_at = $11,
    paused_at = $12, resolution_left_s = $13, responsibility = $14, apology_given = $15, resolution = $16,
    remedy = $17, remedy_detail = $18, compensation = $19, resolved_at = $20, resolved_by = $21, closed_at = $22,
    reopened_count = $23, satisfaction = $24, satisfaction_comment = $25
WHERE id = $1;

-- name: pending_remedy
-- The remedy waiting for the customer's answer, with the proposal its activity line keeps.
SELECT r.id, (SELECT a.detail FROM ticket_activity a
              WHERE a.ticket_id = r.ticket_id AND a.action = 'remedy_proposed' AND a.detail ->> 'remedy_id' = r.id::text
              ORDER BY a.seq DESC LIMIT 1) AS proposal
FROM ticket_remedies r
WHERE r.ticket_id = $1 AND r.answered_at IS NULL
ORDER BY r.proposed_at DESC
LIMIT 1;

-- name: credited_compensation
-- What orders credited for the ticket: the first accepted remedy with a compensation (one credit
-- note per ticket, services/orders/handlers.py).
SELECT compensation FROM ticket_remedies
WHERE ticket_id = $1 AND accepted AND compensation > 0
ORDER BY answered_at, proposed_at
LIMIT 1;

-- name: insert_remedy
INSERT INTO ticket_remedies (id, ticket_id, remedy, detail, compensation, proposed_at, proposed_by, accepted,
                             answered_at, answer_comment)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: answer_remedy
UPDATE ticket_remedies SET accepted = $2, answered_at = $3, answer_comment = $4 WHERE id = $1;

-- name: insert_prevention
INSERT INTO prevention_actions (id, ticket_id, category, action, owner, due_on, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: activity_of
SELECT seq, at, by, action, detail FROM ticket_activity WHERE ticket_id = $1 ORDER BY seq;

-- name: remedies_of
SELECT id, remedy, detail, compensation, proposed_at, proposed_by, accepted, answered_at, answer_comment
FROM ticket_remedies WHERE ticket_id = $1 ORDER BY proposed_at, id;

-- name: prevention_of_ticket
SELECT * FROM prevention_actions WHERE ticket_id = $1 ORDER BY created_at, id;

-- name: prevention_action
-- One prevention action and its ticket's customer.
SELECT p.*, t.customer_id FROM prevention_actions p JOIN tickets t ON t.id = p.ticket_id WHERE p.id = $1;

-- name: prevention_for_update
SELECT * FROM prevention_actions WHERE id = $1 FOR UPDATE;

-- name: complete_prevention
UPDATE prevention_actions SET done_at = $2, done_by = $3, done_note = $4 WHERE id = $1;

-- name: list_prevention
-- $1 'open' | 'done' | NULL (both), $2 owner, $3 due before (a date), $4 limit, $5 a salesperson's
-- owner id: only their customers' tickets and the pool's (as list_tickets). Soonest due first.
SELECT p.*, t.customer_id, t.subject, t.category AS ticket_category, t.status AS ticket_status
FROM prevention_actions p JOIN tickets t ON t.id = p.ticket_id
WHERE ($1::text IS NULL OR ($1 = 'open') = (p.done_at IS NULL))
  AND ($2::text IS NULL OR p.owner = $2)
  AND ($3::date IS NULL OR p.due_on < $3)
  AND ($5::text IS NULL OR EXISTS (
      SELECT 1 FROM known_customers k WHERE k.customer_id = t.customer_id
        AND (k.owner = $5 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
ORDER BY p.due_on, p.id
LIMIT $4;
