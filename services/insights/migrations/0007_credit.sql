-- Credit standing (services/insights/credit.py, docs/credit.md): what the credit consumer keeps of
-- kehu.orders, per order and payment, and the tier recorded per customer. Fed by the consumer
-- "insights-credit" alone (a replay of insights does not rebuild these tables).

-- The newest schedule of each order (ReceivableScheduled; a lower revision never overwrites a
-- higher one) and its cancel (OrderCancelled: the order owes nothing, whatever its schedule).
-- revision 0: only the cancel is known.
CREATE TABLE credit_schedules (
    order_id     uuid        PRIMARY KEY,
    customer_id  uuid        NOT NULL,
    revision     integer     NOT NULL,
    occurred_at  timestamptz NOT NULL,
    event_id     uuid        NOT NULL,
    instalments  jsonb       NOT NULL,  -- [{"no", "due_at", "amount", "paid"}]
    cancelled_by uuid                   -- the OrderCancelled event
);
CREATE INDEX credit_schedules_customer ON credit_schedules (customer_id);

-- Each payment (PaymentRecorded) once, with the instalments it paid.
CREATE TABLE credit_payments (
    payment_id  uuid        PRIMARY KEY,
    customer_id uuid        NOT NULL,
    occurred_at timestamptz NOT NULL,
    event_id    uuid        NOT NULL,
    allocations jsonb       NOT NULL   -- [{"order_id", "no", "amount"}]
);
CREATE INDEX credit_payments_customer ON credit_payments (customer_id);

-- Orders' overdue notices (PaymentOverdue), once per instalment: evidence of an overdue instalment.
CREATE TABLE credit_overdue_notices (
    order_id      uuid    NOT NULL,
    instalment_no integer NOT NULL,
    customer_id   uuid    NOT NULL,
    event_id      uuid    NOT NULL,
    PRIMARY KEY (order_id, instalment_no)
);
CREATE INDEX credit_overdue_notices_customer ON credit_overdue_notices (customer_id);

-- The tier recorded per customer: in force since `since`, last judged as of `as_of` (never moves
-- back), to be judged again at `review_at` by the sweep (NULL: only an event can change it).
CREATE TABLE credit_standings (
    customer_id  uuid        PRIMARY KEY,
    tier         text        NOT NULL CHECK (tier IN ('A', 'B', 'C', 'D')),
    reason       text        NOT NULL,
    evidence     jsonb       NOT NULL,
    rule_version text        NOT NULL,
    since        timestamptz NOT NULL,
    as_of        timestamptz NOT NULL,
    review_at    timestamptz
);
CREATE INDEX credit_standings_review ON credit_standings (review_at) WHERE review_at IS NOT NULL;
CREATE INDEX credit_standings_tier ON credit_standings (tier, customer_id);
