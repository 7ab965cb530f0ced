-- Each customer's timeline: every event about them from every service, in business time.
-- The event's data is kept whole so summaries can be rendered in the reader's language and
-- new views can be rebuilt from it.
CREATE TABLE timeline (
    event_id     uuid        PRIMARY KEY,
    customer_id  uuid        NOT NULL,
    event_type   text        NOT NULL,
    ce_type      text        NOT NULL,
    source       text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    data         jsonb       NOT NULL
);
CREATE INDEX timeline_customer ON timeline (customer_id, occurred_at, event_id);
