-- Search at scale (issue 11): `LIKE '%q%'` over customers.search read every row (p99 ~200-300 ms at
-- 200,000 customers). pg_trgm would index it, but the embedded PostgreSQL ships without it, and
-- under the C locale it skips CJK characters anyway. So the index is our own: every distinct 1-,
-- 2- and 3-character piece of the text (any script), in a GIN index on the array. A query's
-- pieces (services/contacts/search.py: query_grams) must all be there, then LIKE checks the rows
-- found; a substring's 3-character pieces are always pieces of the text, so nothing is missed.
-- A plain SQL function, not PL/pgSQL: IMMUTABLE, so indexes can use it and every writer of
-- `search` (registration, profile edits, merges, imports) keeps the index right without knowing.
-- Repeated pieces are left in: GIN keeps each key once, and a DISTINCT costs a third more per row.
CREATE FUNCTION contacts_search_grams(text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN ARRAY(
    SELECT substr($1, position, width)
    FROM generate_series(1, length($1)) AS position, generate_series(1, 3) AS width
    WHERE position + width - 1 <= length($1)
);
CREATE INDEX customers_search_grams ON customers USING gin (contacts_search_grams(search));
-- q also finds customers by any identity's value (a membership card, a WeChat id, an address).
CREATE INDEX customer_identities_grams ON customer_identities USING gin (contacts_search_grams(lower(value)));
-- Filters of GET /customers.
CREATE INDEX customers_lead_source ON customers (lead_source) WHERE lead_source IS NOT NULL;
