-- Merged customers on the timeline (services/insights/merges.py).

-- name: merge_customers
-- $1 merge, $2 merged id, $3 survivor: the merged customer's events move to the survivor. Seen
-- twice, nothing moves the second time. Returns the merge when it is new.
WITH merge AS (
    INSERT INTO customer_merges (merge_id, merged_id, survivor_id) VALUES ($1, $2, $3)
    ON CONFLICT (merge_id) DO NOTHING
    RETURNING merge_id
), moved AS (
    UPDATE timeline SET customer_id = $3 WHERE customer_id = $2 AND EXISTS (SELECT 1 FROM merge) RETURNING event_id
), noted AS (
    INSERT INTO merge_moved_events (merge_id, event_id) SELECT $1, event_id FROM moved
)
SELECT merge_id FROM merge;

-- name: undo_merge
-- The events the merge moved go back; returns (merged, survivor) when the undo is new.
WITH merge AS (
    UPDATE customer_merges SET undone_at = now() WHERE merge_id = $1 AND undone_at IS NULL
    RETURNING merged_id, survivor_id
), back AS (
    UPDATE timeline t SET customer_id = merge.merged_id
    FROM merge, merge_moved_events e
    WHERE e.merge_id = $1 AND t.event_id = e.event_id AND t.customer_id = merge.survivor_id
)
SELECT merged_id, survivor_id FROM merge;

-- name: survivors
-- Merged ids still merged, and their survivors.
SELECT merged_id, survivor_id FROM customer_merges WHERE undone_at IS NULL;

-- name: adopt_events
-- Events just added for a merged id: the survivor's, noted with the merge.
WITH moved AS (
    UPDATE timeline t SET customer_id = m.survivor_id
    FROM customer_merges m
    WHERE t.event_id = ANY($1::uuid[]) AND t.customer_id = m.merged_id AND m.undone_at IS NULL
    RETURNING t.event_id, m.merge_id
)
INSERT INTO merge_moved_events (merge_id, event_id) SELECT merge_id, event_id FROM moved
ON CONFLICT DO NOTHING;

-- name: timeline_facts
-- What a profile is folded from: one customer's registrations, orders and the orders' approvals,
-- cancels and returns, and the ticket events of the service state (service.TICKET_EVENTS), in
-- business time.
SELECT event_id, event_type, data FROM timeline
WHERE customer_id = $1
  AND event_type IN ('CustomerRegistered', 'OrderPlaced', 'OrderApprovalDecided', 'OrderCancelled', 'OrderReturned',
                     'ComplaintFiled', 'FeedbackReceived', 'TicketResponded', 'TicketNoteAdded', 'TicketStatusChanged',
                     'TicketRemedyProposed', 'TicketResolved', 'TicketReopened', 'TicketSlaBreached',
                     'TicketSatisfactionRecorded')
ORDER BY occurred_at, event_id;

-- name: delete_profile
DELETE FROM customer_profile WHERE customer_id = $1;
