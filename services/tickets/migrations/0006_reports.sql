-- Ticket reports (GET /reports/tickets): each figure reads the tickets whose moment falls in the
-- period, by a range on that moment: raised (volume, repeat complainers), first response and
-- resolution made (medians, met clocks), due or marked breached (breached clocks). The SLA query
-- ORs these ranges, which PostgreSQL answers with one bitmap scan per index.
CREATE INDEX tickets_occurred ON tickets (occurred_at);
CREATE INDEX tickets_first_response_made ON tickets (first_response_at) WHERE first_response_at IS NOT NULL;
CREATE INDEX tickets_resolved ON tickets (resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX tickets_first_response_due_all ON tickets (first_response_due_at) WHERE first_response_due_at IS NOT NULL;
CREATE INDEX tickets_resolution_due_all ON tickets (resolution_due_at) WHERE resolution_due_at IS NOT NULL;
CREATE INDEX tickets_resolution_breached ON tickets (resolution_breached_at) WHERE resolution_breached_at IS NOT NULL;
