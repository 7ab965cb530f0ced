-- Categories, win-back and acquisition (issue 11, the category part).

-- registered_at: business time the relationship began (CustomerRegistered.occurred_at; an import
-- gives the past). created_at is when kehu recorded it, so the acquisition report groups and
-- measures by registered_at. Rows registered before this migration take it from their event in
-- the outbox, or created_at when the outbox no longer holds it.
ALTER TABLE customers ADD COLUMN registered_at timestamptz NOT NULL DEFAULT now();
UPDATE customers SET registered_at = created_at;
UPDATE customers c SET registered_at = o.occurred_at
FROM outbox o
WHERE o.event_type = 'kehu.contacts.CustomerRegistered.v1' AND o.subject = c.id::text;

-- The acquisition report reads a period of registrations and aggregates them in one pass; the
-- columns it needs are in the index, so it reads the index only.
CREATE INDEX customers_registered_at ON customers (registered_at) INCLUDE (lead_source, first_order_at, owner)
    WHERE merged_into IS NULL;
-- The win-back list: lost for a subjective reason, most recently lost first.
CREATE INDEX customers_win_back ON customers (category_changed_at DESC, id DESC)
    WHERE category = 'lost' AND loss_kind = 'subjective' AND merged_into IS NULL;
-- The win-back rate: losses of a period, then each customer's next change.
CREATE INDEX category_changes_lost ON category_changes (changed_at) WHERE category = 'lost';
