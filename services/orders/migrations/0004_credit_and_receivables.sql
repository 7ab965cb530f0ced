-- Credit terms, receivables and the replica of credit tiers (docs/architecture.md §14).

-- The terms a manager gives a customer (CreditTermsSet). A customer without terms pays at once:
-- their orders owe nothing. A customer with terms buys on account: an order not paid at once
-- owes its total, due payment_days after it was placed; above credit_limit (none: no limit) it
-- is refused or waits for a manager (when_exceeded).
CREATE TABLE credit_terms (
    customer_id   uuid          PRIMARY KEY,
    payment_days  integer       NOT NULL CHECK (payment_days BETWEEN 0 AND 365),
    credit_limit  numeric(14,2) CHECK (credit_limit >= 0),
    when_exceeded text          NOT NULL CHECK (when_exceeded IN ('refuse', 'approval')),
    set_by        text          NOT NULL,
    reason        text          NOT NULL DEFAULT '',
    set_at        timestamptz   NOT NULL DEFAULT now()
);

-- The order's life (§14.1): status, discounts, returns. An order placed before this migration
-- is placed, without discounts. Totals stay what the customer pays (lines less discounts);
-- returned_total is the money given back by returns (sales reports count total − returned_total
-- of orders not cancelled).
ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'placed' CHECK (status IN
    ('pending_approval', 'placed', 'confirmed', 'fulfilled', 'completed', 'cancelled', 'returned'));
ALTER TABLE orders ADD COLUMN discount numeric(14,2) NOT NULL DEFAULT 0 CHECK (discount >= 0);
ALTER TABLE orders ADD COLUMN returned_total numeric(14,2) NOT NULL DEFAULT 0 CHECK (returned_total >= 0);
ALTER TABLE order_lines ADD COLUMN discount numeric(14,2) NOT NULL DEFAULT 0 CHECK (discount >= 0);
ALTER TABLE order_lines ADD COLUMN category text;
ALTER TABLE order_lines ADD COLUMN returned_quantity numeric(12,3) NOT NULL DEFAULT 0 CHECK (returned_quantity >= 0);
ALTER TABLE order_lines ADD COLUMN returned_amount numeric(14,2) NOT NULL DEFAULT 0 CHECK (returned_amount >= 0);

-- How an order was settled: paid at once by this method (a till sale), or NULL (on account, when
-- the customer has terms; else nothing is owed either). receivable_revision counts the
-- ReceivableScheduled events of the order.
ALTER TABLE orders ADD COLUMN paid_with text;
ALTER TABLE orders ADD COLUMN receivable_revision integer NOT NULL DEFAULT 0;

-- What an order on account owes and when: one instalment by default, several under an
-- instalment plan (回款计划). paid is what payments and credit notes allocated to it. The
-- customer is the order's (a merge moves orders, so it is not copied here).
CREATE TABLE receivable_instalments (
    order_id          uuid          NOT NULL REFERENCES orders (id),
    no                integer       NOT NULL CHECK (no >= 1),
    due_at            timestamptz   NOT NULL,
    amount            numeric(14,2) NOT NULL CHECK (amount >= 0),
    paid              numeric(14,2) NOT NULL DEFAULT 0 CHECK (paid >= 0 AND paid <= amount),
    overdue_raised_at timestamptz,
    PRIMARY KEY (order_id, no)
);
-- The open ones by due date: ageing, the overdue sweeper.
CREATE INDEX receivable_instalments_open ON receivable_instalments (due_at, order_id) WHERE paid < amount;

-- Replica of insights' credit tiers (CreditStandingChanged on kehu.insights): orders decides an
-- order's credit without calling insights. An older event never overwrites a newer one.
CREATE TABLE credit_standing (
    customer_id uuid        PRIMARY KEY,
    tier        text        NOT NULL CHECK (tier IN ('A', 'B', 'C', 'D')),
    reason      text        NOT NULL,
    evidence    jsonb       NOT NULL,
    occurred_at timestamptz NOT NULL,
    event_id    uuid        NOT NULL
);
