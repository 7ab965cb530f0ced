-- Promised times (docs/tickets.md "Promised times (SLA)"): GET /tickets?order=due pages the soonest
-- due first with a keyset on (due_at, id), those without a running clock (due_at NULL) last.
CREATE INDEX tickets_due_id ON tickets (due_at, id);
