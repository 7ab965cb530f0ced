-- Tickets handled to a resolution (docs/architecture.md §15): assignment, SLA clocks counted in
-- the shop's business hours, remedies the customer answers, prevention actions, satisfaction.
--
-- Statuses: open (being handled) → waiting_on_customer (the resolution clock pauses) → open …
-- → resolved → closed (satisfaction recorded); resolved/closed → open again on a reopen.
ALTER TABLE tickets DROP CONSTRAINT IF EXISTS tickets_status_check;
ALTER TABLE tickets ADD CONSTRAINT tickets_status_check
    CHECK (status IN ('open', 'waiting_on_customer', 'resolved', 'closed'));

ALTER TABLE tickets
    -- Every kind has a priority (a complaint's is its severity): it picks the SLA policy.
    ADD COLUMN priority      text NOT NULL DEFAULT 'normal'
        CHECK (priority IN ('low', 'normal', 'high', 'critical')),
    ADD COLUMN service_type  text CHECK (service_type IN ('warranty', 'repair', 'return', 'question')),
    ADD COLUMN order_id      uuid,
    ADD COLUMN category      text NOT NULL DEFAULT 'other'
        CHECK (category IN ('quality', 'delivery', 'billing', 'attitude', 'product_info', 'after_sales', 'other')),
    -- Who handles it: a person (people's id) or, while nobody, a team queue.
    ADD COLUMN assignee      text,
    ADD COLUMN queue         text,
    ADD COLUMN escalated_to  text,
    ADD COLUMN escalated_at  timestamptz,
    -- The two SLA clocks. due_at (0001) stays the next running clock's due time: the first
    -- response's until someone answers, then the resolution's; NULL when none runs (paused,
    -- resolved, no policy). *_breached_at marks TicketSlaBreached raised, once per clock run.
    ADD COLUMN first_response_due_at      timestamptz,
    ADD COLUMN first_response_at          timestamptz,
    ADD COLUMN first_response_breached_at timestamptz,
    ADD COLUMN resolution_due_at          timestamptz,
    ADD COLUMN resolution_breached_at     timestamptz,
    -- While waiting on the customer: since when, and the business seconds the resolution clock
    -- had left then (it restarts from the resume with exactly these).
    ADD COLUMN paused_at                  timestamptz,
    ADD COLUMN resolution_left_s          bigint CHECK (resolution_left_s >= 0),
    -- The outcome.
    ADD COLUMN responsibility  text CHECK (responsibility IN ('ours', 'customer', 'third_party', 'undetermined')),
    ADD COLUMN apology_given   boolean,
    ADD COLUMN resolution      text,
    ADD COLUMN remedy          text CHECK (remedy IN ('replace', 'repair', 'refund', 'discount', 'explanation', 'other')),
    ADD COLUMN remedy_detail   text,
    ADD COLUMN compensation    numeric(14, 2) CHECK (compensation >= 0),
    ADD COLUMN resolved_at     timestamptz,
    ADD COLUMN resolved_by     text,
    ADD COLUMN closed_at       timestamptz,
    ADD COLUMN reopened_count  integer NOT NULL DEFAULT 0,
    ADD COLUMN satisfaction_comment text;

-- Tickets from before: a complaint's priority is its severity, its due time the first response's.
UPDATE tickets SET priority = coalesce(severity, 'normal'), first_response_due_at = due_at;

CREATE INDEX tickets_assignee_open ON tickets (assignee, due_at) WHERE status IN ('open', 'waiting_on_customer');
CREATE INDEX tickets_queue_open ON tickets (queue, due_at) WHERE status IN ('open', 'waiting_on_customer');
-- The sweeper: running clocks not yet breached, by due time.
DROP INDEX IF EXISTS tickets_open_due;
CREATE INDEX tickets_first_response_due ON tickets (first_response_due_at)
    WHERE first_response_at IS NULL AND first_response_breached_at IS NULL AND status IN ('open', 'waiting_on_customer');
CREATE INDEX tickets_resolution_due ON tickets (resolution_due_at)
    WHERE resolution_breached_at IS NULL AND status = 'open';
CREATE INDEX tickets_category_time ON tickets (category, occurred_at);

-- Everything that happened to a ticket, in order: the detail page's history. Notes and responses
-- keep their text here; ``event_id`` is the event published with it.
CREATE TABLE ticket_activity (
    ticket_id  uuid        NOT NULL REFERENCES tickets (id),
    seq        bigint      GENERATED ALWAYS AS IDENTITY,
    at         timestamptz NOT NULL,
    by         text        NOT NULL,
    action     text        NOT NULL,  -- opened, assigned, escalated, responded, note, status, remedy_proposed,
                                      -- remedy_answered, resolved, reopened, sla_breached, satisfaction
    detail     jsonb       NOT NULL DEFAULT '{}',
    event_id   uuid,
    PRIMARY KEY (ticket_id, seq)
);

-- Remedies put to the customer and their answer (NULL: not answered yet).
CREATE TABLE ticket_remedies (
    id            uuid        PRIMARY KEY,
    ticket_id     uuid        NOT NULL REFERENCES tickets (id),
    remedy        text        NOT NULL CHECK (remedy IN ('replace', 'repair', 'refund', 'discount', 'explanation', 'other')),
    detail        text        NOT NULL DEFAULT '',
    compensation  numeric(14, 2) CHECK (compensation >= 0),
    proposed_at   timestamptz NOT NULL,
    proposed_by   text        NOT NULL,
    accepted      boolean,
    answered_at   timestamptz,
    answer_comment text       NOT NULL DEFAULT ''
);
CREATE INDEX ticket_remedies_ticket ON ticket_remedies (ticket_id, proposed_at);

-- What is done so the same problem does not reach the next customer.
CREATE TABLE prevention_actions (
    id         uuid        PRIMARY KEY,
    ticket_id  uuid        NOT NULL REFERENCES tickets (id),
    category   text        NOT NULL,
    action     text        NOT NULL,
    owner      text        NOT NULL,
    due_on     date        NOT NULL,
    created_at timestamptz NOT NULL,
    done_at    timestamptz,
    done_by    text,
    done_note  text        NOT NULL DEFAULT ''
);
CREATE INDEX prevention_actions_open ON prevention_actions (due_on) WHERE done_at IS NULL;
CREATE INDEX prevention_actions_category ON prevention_actions (category, done_at);

-- SLA policies per kind and priority, in business minutes of the shop calendar (NULL: no clock).
CREATE TABLE sla_policies (
    kind                 text    NOT NULL CHECK (kind IN ('complaint', 'feedback', 'service_request')),
    priority             text    NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'critical')),
    first_response_min   integer CHECK (first_response_min > 0),
    resolution_min       integer CHECK (resolution_min > 0),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    updated_by           text    NOT NULL DEFAULT 'kehu',
    PRIMARY KEY (kind, priority)
);
-- Defaults (docs/tickets.md): a working day is 9 business hours.
INSERT INTO sla_policies (kind, priority, first_response_min, resolution_min) VALUES
    ('complaint', 'critical', 60, 540),
    ('complaint', 'high', 120, 1080),
    ('complaint', 'normal', 240, 1620),
    ('complaint', 'low', 480, 2700),
    ('service_request', 'critical', 120, 1080),
    ('service_request', 'high', 240, 1620),
    ('service_request', 'normal', 540, 2700),
    ('service_request', 'low', 1080, 4500),
    ('feedback', 'critical', 240, NULL),
    ('feedback', 'high', 540, NULL),
    ('feedback', 'normal', NULL, NULL),
    ('feedback', 'low', NULL, NULL);

-- The shop calendar: opening hours per ISO weekday (1 Monday … 7 Sunday) as [["09:00", "18:00"], …]
-- ([] closed), in the shop's zone (KEHU_TIMEZONE). One row.
CREATE TABLE shop_calendar (
    id          smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    weekly      jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text        NOT NULL DEFAULT 'kehu'
);
INSERT INTO shop_calendar (weekly) VALUES ('{"1": [["09:00", "18:00"]], "2": [["09:00", "18:00"]],
  "3": [["09:00", "18:00"]], "4": [["09:00", "18:00"]], "5": [["09:00", "18:00"]], "6": [], "7": []}');

-- Days that differ from the week: a holiday (hours []) or a make-up working day (调休, with hours).
CREATE TABLE calendar_days (
    day    date  PRIMARY KEY,
    hours  jsonb NOT NULL,
    name   text  NOT NULL DEFAULT ''
);
