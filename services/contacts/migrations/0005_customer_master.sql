-- The customer master (issue 11): what a customer record holds beyond its registration, and the
-- tables of identities, contact persons, history, follow-ups, ownership and merges. Each table
-- is written by one part of the service (routes/<part>.py, store/<part>.py, sql/<part>.sql).

-- revision: the record's version, its ETag; a PATCH with a stale If-Match is refused (412).
-- merged_into: a customer merged into another stays as a record (so the merge can be undone and
-- old ids still answer), but is left out of lists and searches.
ALTER TABLE customers
    ADD COLUMN revision           integer     NOT NULL DEFAULT 1,
    ADD COLUMN lead_source_detail text,
    ADD COLUMN referred_by        uuid        REFERENCES customers (id),
    ADD COLUMN tags               text[]      NOT NULL DEFAULT '{}',
    ADD COLUMN address            text,
    ADD COLUMN notes              text,
    ADD COLUMN loss_reason        text,
    ADD COLUMN loss_kind          text        CHECK (loss_kind IN ('objective', 'subjective')),
    ADD COLUMN category_changed_at timestamptz,
    ADD COLUMN first_order_at     timestamptz,
    ADD COLUMN last_order_at      timestamptz,
    ADD COLUMN last_follow_up_at  timestamptz,
    ADD COLUMN next_follow_up_due date,
    ADD COLUMN owner_since        timestamptz,
    ADD COLUMN previous_owner     text,
    ADD COLUMN reclaim_after      timestamptz,
    ADD COLUMN merged_into        uuid        REFERENCES customers (id);
CREATE INDEX customers_referred_by ON customers (referred_by) WHERE referred_by IS NOT NULL;
CREATE INDEX customers_pool ON customers (category) WHERE owner IS NULL AND merged_into IS NULL;
CREATE INDEX customers_follow_up_due ON customers (owner, next_follow_up_due) WHERE next_follow_up_due IS NOT NULL;
CREATE INDEX customers_tags ON customers USING gin (tags);

-- Channel identities: any way a channel names a customer. value is normalised (E.164 phone,
-- lower-case email, ...); one identity belongs to one customer at most.
CREATE TABLE customer_identities (
    kind        text        NOT NULL CHECK (kind IN ('phone', 'email', 'wechat_openid', 'wechat_unionid',
                                                     'web_account', 'membership_card', 'fair_badge', 'other')),
    value       text        NOT NULL,
    customer_id uuid        NOT NULL REFERENCES customers (id),
    label       text,
    linked_at   timestamptz NOT NULL DEFAULT now(),
    linked_by   text        NOT NULL DEFAULT 'migration',
    PRIMARY KEY (kind, value)
);
CREATE INDEX customer_identities_customer ON customer_identities (customer_id);
-- The phones and emails registered so far become identities; where two customers share one,
-- the first registered keeps it (the duplicate scan shows the other).
INSERT INTO customer_identities (kind, value, customer_id, linked_at)
SELECT DISTINCT ON (phone) 'phone', phone, id, created_at FROM customers WHERE phone IS NOT NULL
ORDER BY phone, id
ON CONFLICT DO NOTHING;
INSERT INTO customer_identities (kind, value, customer_id, linked_at)
SELECT DISTINCT ON (email) 'email', email, id, created_at FROM customers WHERE email IS NOT NULL
ORDER BY email, id
ON CONFLICT DO NOTHING;

-- A person who is a contact person of a company, in a role (one row per role).
CREATE TABLE contact_persons (
    company_id uuid        NOT NULL REFERENCES customers (id),
    person_id  uuid        NOT NULL REFERENCES customers (id),
    role       text        NOT NULL CHECK (role IN ('decision_maker', 'purchaser', 'user', 'payer')),
    title      text,
    added_at   timestamptz NOT NULL DEFAULT now(),
    added_by   text        NOT NULL,
    PRIMARY KEY (company_id, person_id, role)
);
CREATE INDEX contact_persons_person ON contact_persons (person_id);

-- Every change of a field of a customer record: who, when, old -> new (JSON values).
CREATE TABLE customer_changes (
    customer_id uuid        NOT NULL REFERENCES customers (id),
    revision    integer     NOT NULL,
    field       text        NOT NULL,
    old_value   jsonb,
    new_value   jsonb,
    changed_by  text        NOT NULL,
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (customer_id, revision, field)
);

-- Category changes, with reason and actor (the win-back rate is computed from them).
CREATE TABLE category_changes (
    customer_id       uuid        NOT NULL REFERENCES customers (id),
    changed_at        timestamptz NOT NULL,
    previous_category text        NOT NULL,
    category          text        NOT NULL,
    reason            text        NOT NULL,
    loss_reason       text,
    loss_kind         text,
    changed_by        text        NOT NULL,
    automatic         boolean     NOT NULL DEFAULT false,
    order_id          uuid,
    PRIMARY KEY (customer_id, changed_at, category)
);

-- Who owned a customer when: assignments, claims, handovers and returns to the pool.
CREATE TABLE owner_changes (
    customer_id    uuid        NOT NULL REFERENCES customers (id),
    changed_at     timestamptz NOT NULL,
    previous_owner text,
    owner          text,
    how            text        NOT NULL,
    changed_by     text        NOT NULL,
    handover_id    uuid
);
CREATE INDEX owner_changes_customer ON owner_changes (customer_id, changed_at);

-- Pool rules per category: back to the pool after N days without a follow-up or M without an
-- order; at most K customers per owner; a previous owner may not reclaim for D days. NULL: no limit.
CREATE TABLE pool_rules (
    category           text PRIMARY KEY CHECK (category IN ('potential', 'prospective', 'current', 'lost')),
    no_follow_up_days  integer CHECK (no_follow_up_days > 0),
    no_order_days      integer CHECK (no_order_days > 0),
    max_per_owner      integer CHECK (max_per_owner > 0),
    reclaim_days       integer CHECK (reclaim_days >= 0),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    updated_by         text        NOT NULL DEFAULT 'migration'
);

-- Follow-ups (定人定时): who, when, how, what came of it, and when the next is due.
CREATE TABLE follow_ups (
    id          uuid        PRIMARY KEY,
    customer_id uuid        NOT NULL REFERENCES customers (id),
    by_whom     text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    channel     text        NOT NULL,
    note        text        NOT NULL DEFAULT '',
    outcome     text        NOT NULL,
    next_due    date,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX follow_ups_customer ON follow_ups (customer_id, occurred_at);

-- Competitors a customer also buys from.
CREATE TABLE customer_competitors (
    customer_id uuid        NOT NULL REFERENCES customers (id),
    competitor  text        NOT NULL,
    note        text        NOT NULL DEFAULT '',
    noted_at    timestamptz NOT NULL DEFAULT now(),
    noted_by    text        NOT NULL,
    PRIMARY KEY (customer_id, competitor)
);
CREATE INDEX customer_competitors_competitor ON customer_competitors (competitor);

-- Merges, kept 30 days for undo: `before` holds what is needed to restore both records exactly.
CREATE TABLE merges (
    id          uuid        PRIMARY KEY,
    survivor_id uuid        NOT NULL REFERENCES customers (id),
    merged_id   uuid        NOT NULL REFERENCES customers (id),
    merged_at   timestamptz NOT NULL,
    merged_by   text        NOT NULL,
    before      jsonb       NOT NULL,
    undone_at   timestamptz,
    undone_by   text
);
CREATE INDEX merges_survivor ON merges (survivor_id);
