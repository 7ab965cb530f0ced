-- Complaints, feedback and service requests. due_at is the time promised to the customer
-- (the SLA clock); occurred_at is when the customer raised it (business time).
CREATE TABLE tickets (
    id           uuid        PRIMARY KEY,
    customer_id  uuid        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('complaint', 'feedback', 'service_request')),
    channel      text        NOT NULL,
    subject      text        NOT NULL,
    description  text        NOT NULL,
    severity     text        CHECK (severity IN ('low', 'normal', 'high', 'critical')),
    satisfaction smallint    CHECK (satisfaction BETWEEN 1 AND 5),
    status       text        NOT NULL DEFAULT 'open',
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    due_at       timestamptz
);
CREATE INDEX tickets_customer ON tickets (customer_id, occurred_at);
CREATE INDEX tickets_open_due ON tickets (due_at) WHERE status = 'open';

-- Replica of the customer ids contacts has registered (fed by kehu.contacts).
CREATE TABLE known_customers (
    customer_id  uuid        PRIMARY KEY,
    source       text        NOT NULL,
    known_since  timestamptz NOT NULL DEFAULT now()
);
