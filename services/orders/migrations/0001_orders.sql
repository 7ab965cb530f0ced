-- Orders and their lines. Money is numeric, never float. occurred_at is business time (an order
-- keyed in later or imported has it in the past); recorded_at is when kehu learnt of it.
CREATE TABLE orders (
    id           uuid          PRIMARY KEY,
    customer_id  uuid          NOT NULL,
    channel      text          NOT NULL,
    currency     char(3)       NOT NULL,
    total        numeric(14,2) NOT NULL,
    occurred_at  timestamptz   NOT NULL,
    recorded_at  timestamptz   NOT NULL DEFAULT now(),
    external_ref text          UNIQUE
);
CREATE INDEX orders_customer ON orders (customer_id, occurred_at);

CREATE TABLE order_lines (
    order_id     uuid          NOT NULL REFERENCES orders (id),
    line_no      integer       NOT NULL,
    sku          text          NOT NULL,
    quantity     numeric(12,3) NOT NULL CHECK (quantity > 0),
    unit_price   numeric(14,2) NOT NULL CHECK (unit_price >= 0),
    amount       numeric(14,2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- Replica of the customer ids contacts has registered (fed by kehu.contacts), so an order for
-- an unknown customer is refused without reading contacts' database.
CREATE TABLE known_customers (
    customer_id  uuid        PRIMARY KEY,
    source       text        NOT NULL,
    known_since  timestamptz NOT NULL DEFAULT now()
);
