-- Duplicates: blocking keys, candidates of one customer, the full scan and its stored result.

-- name: stale_keys
-- Customers whose duplicate keys are missing or computed from another name or phone (registered
-- by a batch, imported, edited), after id $1 in id order, a batch at a time.
SELECT id, name, phone FROM customers
WHERE ($1::uuid IS NULL OR id > $1)
  AND dup_source IS DISTINCT FROM name || chr(31) || coalesce(phone, '')
ORDER BY id
LIMIT $2;

-- name: set_keys
UPDATE customers SET name_key = k.name_key, pinyin_key = k.pinyin_key, phone_prefix = k.phone_prefix,
                     dup_source = k.dup_source
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
     AS k(id, name_key, pinyin_key, phone_prefix, dup_source)
WHERE customers.id = k.id;

-- name: candidates_of
-- Customers (not merged) sharing a blocking key with one customer: $1 its id, $2 phone, $3 email,
-- $4 name_key, $5 pinyin_key, $6 phone_prefix, $7 its identity values, $8 their last 11 digits
-- (phone-like values only). Each branch is an index lookup.
SELECT id FROM customers
WHERE merged_into IS NULL AND id <> $1
  AND (phone = $2 OR email = $3
       OR (name_key = $4 AND phone_prefix = $6)
       OR (pinyin_key = $5 AND phone_prefix = $6))
UNION
SELECT i.customer_id FROM customer_identities i JOIN customers c ON c.id = i.customer_id
WHERE c.merged_into IS NULL AND i.customer_id <> $1
  AND (i.value = ANY($7::text[])
       OR (i.value ~ '^[0-9 ()+.-]{7,}$'
           AND right(regexp_replace(i.value, '[^0-9]', '', 'g'), 11) = ANY($8::text[])))
LIMIT $9;

-- name: records
-- What scoring needs of these customers: name, phone, email, identities ("kind:value") and the
-- companies they are contact persons of.
SELECT c.id, c.name, c.phone, c.email,
       coalesce((SELECT array_agg(i.kind || ':' || i.value) FROM customer_identities i
                 WHERE i.customer_id = c.id), '{}') AS identities,
       coalesce((SELECT array_agg(DISTINCT p.company_id) FROM contact_persons p
                 WHERE p.person_id = c.id), '{}') AS companies
FROM customers c
WHERE c.id = ANY($1::uuid[]);

-- name: candidate_pairs
-- Every pair of customers (not merged; first id < second) sharing a blocking key: phone, email,
-- normalised name or pinyin with the phone prefix, an identity value (under any kind, or a
-- phone-like value by its last 11 digits, also against the phone column), or a name of two
-- contact persons of one company. Scoring (domain/duplicates.py) decides which are likely. Every
-- branch is an equality join (a hash join): an OR in a join condition would compare every pair.
WITH live AS (
    SELECT id, phone, email, name_key, pinyin_key, phone_prefix FROM customers WHERE merged_into IS NULL
), ids AS (
    SELECT i.customer_id, i.value,
           CASE WHEN i.value ~ '^[0-9 ()+.-]{7,}$'
                THEN right(regexp_replace(i.value, '[^0-9]', '', 'g'), 11) END AS digits
    FROM customer_identities i JOIN live l ON l.id = i.customer_id
)
SELECT a.id AS first_id, b.id AS second_id FROM live a JOIN live b ON a.phone = b.phone AND a.id < b.id
UNION
SELECT a.id, b.id FROM live a JOIN live b ON a.email = b.email AND a.id < b.id
UNION
SELECT a.id, b.id FROM live a JOIN live b
    ON a.name_key = b.name_key AND a.phone_prefix = b.phone_prefix AND a.id < b.id
UNION
SELECT a.id, b.id FROM live a JOIN live b
    ON a.pinyin_key = b.pinyin_key AND a.phone_prefix = b.phone_prefix AND a.id < b.id
UNION
SELECT x.customer_id, y.customer_id FROM ids x JOIN ids y ON x.value = y.value AND x.customer_id < y.customer_id
UNION
SELECT x.customer_id, y.customer_id FROM ids x JOIN ids y ON x.digits = y.digits AND x.customer_id < y.customer_id
UNION
SELECT least(a.id, x.customer_id), greatest(a.id, x.customer_id)
FROM live a JOIN ids x ON x.digits = right(a.phone, 11) AND x.customer_id <> a.id
UNION
SELECT least(p.person_id, q.person_id), greatest(p.person_id, q.person_id)
FROM contact_persons p
JOIN contact_persons q ON q.company_id = p.company_id AND p.person_id < q.person_id
JOIN live a ON a.id = p.person_id
JOIN live b ON b.id = q.person_id
WHERE a.name_key = b.name_key OR a.pinyin_key = b.pinyin_key;

-- name: live_customers
SELECT count(*) FROM customers WHERE merged_into IS NULL;

-- name: insert_scan
INSERT INTO duplicate_scans (id, started_at, ran_at, customers, pairs) VALUES ($1, $2, $3, $4, $5);

-- name: insert_pairs
INSERT INTO duplicate_pairs (scan_id, rank, customer_id, other_id, score, reasons)
SELECT $1, r, f, o, s, reasons::jsonb
FROM unnest($2::integer[], $3::uuid[], $4::uuid[], $5::integer[], $6::text[]) AS p(r, f, o, s, reasons);

-- name: forget_old_scans
-- Keep the newest two scans: a page cursor of the previous one still works while a new one lands.
DELETE FROM duplicate_scans
WHERE id NOT IN (SELECT id FROM duplicate_scans ORDER BY ran_at DESC LIMIT 2);

-- name: latest_scan
SELECT id, started_at, ran_at, customers, pairs FROM duplicate_scans ORDER BY ran_at DESC LIMIT 1;

-- name: scan_by_id
SELECT id, started_at, ran_at, customers, pairs FROM duplicate_scans WHERE id = $1;

-- name: pairs_page
-- A page of a scan's pairs, best first, leaving out pairs where either customer has been merged
-- since; $2: the rank after which to start; $3: the least score.
SELECT p.rank, p.score, p.reasons,
       a.id AS first_id, a.name AS first_name, a.phone AS first_phone, a.email AS first_email,
       a.owner AS first_owner, a.category AS first_category, a.created_at AS first_created_at,
       b.id AS second_id, b.name AS second_name, b.phone AS second_phone, b.email AS second_email,
       b.owner AS second_owner, b.category AS second_category, b.created_at AS second_created_at
FROM duplicate_pairs p
JOIN customers a ON a.id = p.customer_id
JOIN customers b ON b.id = p.other_id
WHERE p.scan_id = $1 AND p.rank > $2 AND p.score >= $3
  AND a.merged_into IS NULL AND b.merged_into IS NULL
ORDER BY p.rank
LIMIT $4;
