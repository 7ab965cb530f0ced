-- The catalogue, the order's status history and its returns (docs/architecture.md §14.1).

-- The shop's products (optional: a shop without a catalogue sells ad-hoc lines). An order line
-- naming an active product may omit its unit price (the list price is taken) and carries the
-- product's category. A product is never deleted: it is deactivated (old orders still name it).
CREATE TABLE products (
    sku        text          PRIMARY KEY,
    name       text          NOT NULL,
    category   text,
    list_price numeric(14,2) NOT NULL CHECK (list_price >= 0),
    active     boolean       NOT NULL DEFAULT true,
    created_at timestamptz   NOT NULL DEFAULT now(),
    updated_at timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX products_name ON products (lower(name));
CREATE INDEX products_category ON products (category, sku);

-- Every change of an order after it was placed: a status step, a cancellation, a return.
CREATE TABLE order_status_history (
    id              bigserial   PRIMARY KEY,
    order_id        uuid        NOT NULL REFERENCES orders (id),
    kind            text        NOT NULL CHECK (kind IN ('status', 'cancelled', 'returned')),
    previous_status text        NOT NULL,
    status          text        NOT NULL,
    changed_by      text        NOT NULL,
    note            text        NOT NULL DEFAULT '',
    return_id       uuid,
    amount          numeric(14,2),
    changed_at      timestamptz NOT NULL
);
CREATE INDEX order_status_history_order ON order_status_history (order_id, id);

-- Goods that came back, and the money given back for each line.
CREATE TABLE order_returns (
    id          uuid          PRIMARY KEY,
    order_id    uuid          NOT NULL REFERENCES orders (id),
    amount      numeric(14,2) NOT NULL CHECK (amount >= 0),
    whole       boolean       NOT NULL,
    reason      text          NOT NULL,
    returned_by text          NOT NULL,
    returned_at timestamptz   NOT NULL
);
CREATE INDEX order_returns_order ON order_returns (order_id, returned_at);

CREATE TABLE order_return_lines (
    return_id uuid          NOT NULL REFERENCES order_returns (id),
    line_no   integer       NOT NULL,
    sku       text          NOT NULL,
    quantity  numeric(12,3) NOT NULL CHECK (quantity > 0),
    amount    numeric(14,2) NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (return_id, line_no)
);
