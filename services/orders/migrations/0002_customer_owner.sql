-- Ownership scopes (docs/architecture.md §11): the replica of known customers also keeps each
-- customer's owner, fed by kehu.contacts (CustomerRegistered, CustomerOwnerAssigned,
-- CustomerReturnedToPool) and by contacts' lookup answers. owner_at is when contacts recorded
-- that owner (or when it was asked): an older fact never overwrites a newer one. A row with
-- owner_at NULL has no owner fact yet (known before this migration): the owner is unknown, not
-- the pool, until the backfill or a lookup learns it.
ALTER TABLE known_customers ADD COLUMN owner text;
ALTER TABLE known_customers ADD COLUMN owner_at timestamptz;
-- A salesperson's lists: their customers (owner = x) and the pool (owner IS NULL).
CREATE INDEX known_customers_owner ON known_customers (owner, customer_id);
CREATE INDEX known_customers_owner_unknown ON known_customers (customer_id) WHERE owner_at IS NULL;
