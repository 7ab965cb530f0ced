-- What GET /customers?q= looks in: the name, its pinyin readings and initials, the phone's digits
-- and the external_ref, lower-case (services/contacts/search.py builds it). Registration fills it;
-- rows from before this migration stay NULL until the service's backfill computes them at start,
-- because pinyin cannot be computed in SQL. The partial index finds those rows.
ALTER TABLE customers ADD COLUMN search text;
CREATE INDEX customers_search_pending ON customers (id) WHERE search IS NULL;
CREATE INDEX customers_category ON customers (category);
