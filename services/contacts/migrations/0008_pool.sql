-- Owner and pool (issue 11): the history says why an owner changed. rule: for a return to the
-- pool, which rule (no_follow_up, no_order, released). owner_since now means since when the
-- current owner, or the pool, has held the customer.
ALTER TABLE owner_changes
    ADD COLUMN reason text,
    ADD COLUMN rule   text;
CREATE INDEX owner_changes_handover ON owner_changes (handover_id) WHERE handover_id IS NOT NULL;
