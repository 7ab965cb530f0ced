-- Receivables (docs/architecture.md §14.2): invoices, payments and their allocations, credit
-- notes, the money on a customer's account, and the ledger a statement is read from.

-- kehu's invoice numbers, one sequence for the shop (INV-<year>-<number>).
CREATE SEQUENCE invoice_numbers;

CREATE TABLE invoices (
    id              uuid          PRIMARY KEY,
    number          text          NOT NULL UNIQUE,
    order_id        uuid          NOT NULL REFERENCES orders (id),
    customer_id     uuid          NOT NULL,
    amount          numeric(14,2) NOT NULL CHECK (amount >= 0),
    official_number text,         -- the fapiao number (发票号码), often known later
    issued_at       timestamptz   NOT NULL,
    issued_by       text          NOT NULL
);
CREATE INDEX invoices_customer ON invoices (customer_id, issued_at);
CREATE INDEX invoices_order ON invoices (order_id);

-- Money received (or credited by a credit note, method credit_note). unallocated: what went to the
-- customer's account instead of an instalment.
CREATE TABLE payments (
    id             uuid          PRIMARY KEY,
    customer_id    uuid          NOT NULL,
    method         text          NOT NULL,
    amount         numeric(14,2) NOT NULL CHECK (amount > 0),
    unallocated    numeric(14,2) NOT NULL CHECK (unallocated >= 0),
    received_at    timestamptz   NOT NULL,
    reference      text,
    recorded_by    text          NOT NULL,
    recorded_at    timestamptz   NOT NULL,
    credit_note_id uuid
);
CREATE INDEX payments_customer ON payments (customer_id, received_at);

CREATE TABLE payment_allocations (
    payment_id   uuid          NOT NULL REFERENCES payments (id),
    order_id     uuid          NOT NULL REFERENCES orders (id),
    instalment_no integer      NOT NULL,
    amount       numeric(14,2) NOT NULL CHECK (amount > 0),
    due_at       timestamptz   NOT NULL,
    PRIMARY KEY (payment_id, order_id, instalment_no)
);
CREATE INDEX payment_allocations_order ON payment_allocations (order_id);

-- One credit note per ticket however often its TicketResolved is delivered.
CREATE TABLE credit_notes (
    id          uuid          PRIMARY KEY,
    customer_id uuid          NOT NULL,
    amount      numeric(14,2) NOT NULL CHECK (amount > 0),
    reason      text          NOT NULL,
    ticket_id   uuid          UNIQUE,
    issued_at   timestamptz   NOT NULL,
    issued_by   text          NOT NULL
);

-- Money on a customer's account that pays no instalment (an accepted overpayment, what a cancel
-- or a return left paid beyond what is owed). It pays the customer's open instalments, oldest
-- due first, whenever some are open (§14.2).
CREATE TABLE account_credit (
    customer_id uuid          PRIMARY KEY,
    amount      numeric(14,2) NOT NULL CHECK (amount >= 0)
);

-- What moved a customer's balance (what they owe less their credit), for statements: an order on
-- account (+), a cancellation or return (−), a payment or credit note (−), an invoice (0, listed).
CREATE TABLE receivable_ledger (
    id          uuid          PRIMARY KEY,
    customer_id uuid          NOT NULL,
    kind        text          NOT NULL CHECK (kind IN
        ('order', 'cancellation', 'return', 'invoice', 'payment', 'credit_note')),
    order_id    uuid,
    ref         text          NOT NULL DEFAULT '',
    amount      numeric(14,2) NOT NULL,   -- signed: + owed more, − owed less
    occurred_at timestamptz   NOT NULL
);
CREATE INDEX receivable_ledger_customer ON receivable_ledger (customer_id, occurred_at, id);
