-- Credit at order time (docs/architecture.md §14.5): the history of a customer's terms, and the
-- credit decisions a person took (an order waiting for approval, a manager's approval, refusal
-- or override), with the facts the order was judged on.

-- Every change of a customer's terms, newest last (credit_terms holds the current ones). removed:
-- the terms were taken away (the customer pays at once again).
CREATE TABLE credit_terms_history (
    id            bigint        GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id   uuid          NOT NULL,
    payment_days  integer,
    credit_limit  numeric(14,2),
    when_exceeded text,
    removed       boolean       NOT NULL DEFAULT false,
    set_by        text          NOT NULL,
    reason        text          NOT NULL,
    set_at        timestamptz   NOT NULL
);
CREATE INDEX credit_terms_history_customer ON credit_terms_history (customer_id, id);

-- An order the credit check stopped (why: on_hold = tier D, over_limit), with the facts at the
-- time, and what a manager decided: approved (placed), refused (cancelled), or an override at
-- placement (override = true, decided at once). decided_at NULL: waiting in the approval queue.
CREATE TABLE credit_decisions (
    order_id      uuid          PRIMARY KEY REFERENCES orders (id),
    customer_id   uuid          NOT NULL,
    why           text          NOT NULL CHECK (why IN ('on_hold', 'over_limit')),
    tier          text          CHECK (tier IN ('A', 'B', 'C', 'D')),
    outstanding   numeric(14,2) NOT NULL,
    credit_limit  numeric(14,2),
    total         numeric(14,2) NOT NULL,
    requested_by  text          NOT NULL,
    requested_at  timestamptz   NOT NULL,
    override      boolean       NOT NULL DEFAULT false,
    approved      boolean,
    decided_by    text,
    reason        text,
    decided_at    timestamptz,
    CHECK ((decided_at IS NULL) = (approved IS NULL))
);
CREATE INDEX credit_decisions_waiting ON credit_decisions (requested_at) WHERE decided_at IS NULL;
