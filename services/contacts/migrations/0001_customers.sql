-- Customer master data. A customer is a person or a company; external_ref is the shop's own
-- reference (membership card, ERP number) and is unique when given.
CREATE TABLE customers (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('person', 'company')),
    phone        text,
    email        text,
    external_ref text        UNIQUE,
    category     text        NOT NULL CHECK (category IN ('potential', 'prospective', 'current', 'lost')),
    lead_source  text,
    channel      text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_phone ON customers (phone) WHERE phone IS NOT NULL;
