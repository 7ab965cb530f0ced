-- The staff member who looks after the customer (a name or staff id as the shop uses it).
-- Customers belong to the company; the owner is who answers for them today.
ALTER TABLE customers ADD COLUMN owner text;
CREATE INDEX customers_owner ON customers (owner) WHERE owner IS NOT NULL;
