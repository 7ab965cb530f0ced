-- name: calendar
-- The week and the days that differ from it in one round trip (every ticket written reads it).
SELECT weekly,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(day, hours) ORDER BY day), '[]'::jsonb)
          FROM calendar_days) AS days
  FROM shop_calendar WHERE id = 1;

-- name: calendar_days
-- The days that differ from the week; the clocks look ahead, never far back.
SELECT day, hours, name FROM calendar_days ORDER BY day;

-- name: policy
SELECT first_response_min, resolution_min FROM sla_policies WHERE kind = $1 AND priority = $2;

-- name: policies
SELECT kind, priority, first_response_min, resolution_min, updated_at, updated_by FROM sla_policies;

-- name: put_policies
-- Rows given (the whole set or some): each (kind, priority) set to the times given, NULL: no clock.
INSERT INTO sla_policies (kind, priority, first_response_min, resolution_min, updated_at, updated_by)
SELECT kind, priority, first_response_min, resolution_min, $5, $6
FROM unnest($1::text[], $2::text[], $3::integer[], $4::integer[])
     AS given (kind, priority, first_response_min, resolution_min)
ON CONFLICT (kind, priority) DO UPDATE SET
    first_response_min = EXCLUDED.first_response_min, resolution_min = EXCLUDED.resolution_min,
    updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by;

-- name: lock_calendar
-- One writer of the calendar at a time; also who changed it last and when.
SELECT weekly, updated_at, updated_by FROM shop_calendar WHERE id = 1 FOR UPDATE;

-- name: calendar_settings
SELECT weekly, updated_at, updated_by FROM shop_calendar WHERE id = 1;

-- name: set_calendar
-- $1: the weekly hours as JSON text, NULL to keep them (only the days changed).
UPDATE shop_calendar SET weekly = coalesce($1::text::jsonb, weekly), updated_at = $2, updated_by = $3 WHERE id = 1;

-- name: clear_days
DELETE FROM calendar_days;

-- name: insert_days
INSERT INTO calendar_days (day, hours, name)
SELECT day, hours::jsonb, name FROM unnest($1::date[], $2::text[], $3::text[]) AS given (day, hours, name);

-- name: breach_first_responses
-- The sweeper: first-response clocks due at or before $1, nobody answered, not yet raised
-- (index tickets_first_response_due, whose predicate this repeats). Marked raised at $1, at most
-- $2 per statement, due at or after $3 (where the pass's previous chunk ended: the index scan
-- starts there, not at the entries the pass already marked); a ticket a write holds locked now is
-- left for the next pass.
WITH due AS (
    SELECT id FROM tickets
    WHERE first_response_at IS NULL AND first_response_breached_at IS NULL
      AND status IN ('open', 'waiting_on_customer')
      AND first_response_due_at <= $1 AND first_response_due_at >= coalesce($3, '-infinity'::timestamptz)
    ORDER BY first_response_due_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE tickets t SET first_response_breached_at = $1
FROM due WHERE t.id = due.id
RETURNING t.id, t.customer_id, t.kind, t.priority, t.assignee, t.first_response_due_at AS due_at;

-- name: breach_resolutions
-- Resolution clocks running (open, not paused) due at or before $1, not yet raised in this run of
-- the clock (a reopen clears the mark) (index tickets_resolution_due); $2 and $3 as above.
WITH due AS (
    SELECT id FROM tickets
    WHERE resolution_breached_at IS NULL AND status = 'open'
      AND resolution_due_at <= $1 AND resolution_due_at >= coalesce($3, '-infinity'::timestamptz)
      AND paused_at IS NULL
    ORDER BY resolution_due_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE tickets t SET resolution_breached_at = $1
FROM due WHERE t.id = due.id
RETURNING t.id, t.customer_id, t.kind, t.priority, t.assignee, t.resolution_due_at AS due_at;

-- name: breach_activity
-- One history line per breach: at its due time, by the sweeper, with the event published.
INSERT INTO ticket_activity (ticket_id, at, by, action, detail, event_id)
SELECT ticket_id, at, 'kehu', 'sla_breached',
       jsonb_build_object('clock', clock, 'due_at', at, 'as_of', $5::timestamptz), event_id
FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::uuid[]) AS breach (ticket_id, at, clock, event_id);
