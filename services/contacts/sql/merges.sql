-- Merges: one customer into another, and back. Rows travel as JSON (to_jsonb) so the merge can
-- keep them whole in merges.before and the undo write them back exactly.

-- name: lock_records
-- Both records, locked in id order (two merges of the same pair never deadlock).
SELECT id, to_jsonb(c) AS record FROM customers c WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE;

-- name: write_record
-- Write the columns a merge or its undo changes from a whole record given as JSON.
UPDATE customers c
SET phone = r.phone, email = r.email, external_ref = r.external_ref, lead_source = r.lead_source,
    lead_source_detail = r.lead_source_detail, channel = r.channel, address = r.address, notes = r.notes,
    referred_by = r.referred_by, tags = r.tags, first_order_at = r.first_order_at,
    last_order_at = r.last_order_at, last_follow_up_at = r.last_follow_up_at,
    next_follow_up_due = r.next_follow_up_due, merged_into = r.merged_into, revision = r.revision,
    search = r.search, name_key = r.name_key, pinyin_key = r.pinyin_key, phone_prefix = r.phone_prefix,
    dup_source = r.dup_source
FROM jsonb_populate_record(NULL::customers, $2) r
WHERE c.id = $1;

-- name: identities_of
SELECT to_jsonb(i) AS row FROM customer_identities i WHERE customer_id = $1 ORDER BY kind, value;

-- name: move_identities
UPDATE customer_identities SET customer_id = $2 WHERE customer_id = $1;

-- name: contact_persons_of
SELECT to_jsonb(p) AS row FROM contact_persons p WHERE company_id = $1 OR person_id = $1
ORDER BY company_id, person_id, role;

-- name: rebase_contact_persons
-- The rows naming $1 again with $2 in its place (a row already there, or one that would name the
-- survivor as its own contact person, is not added); returns those added.
INSERT INTO contact_persons (company_id, person_id, role, title, added_at, added_by)
SELECT company, person, role, title, added_at, added_by
FROM (SELECT CASE WHEN company_id = $1 THEN $2 ELSE company_id END AS company,
             CASE WHEN person_id = $1 THEN $2 ELSE person_id END AS person, role, title, added_at, added_by
      FROM contact_persons WHERE company_id = $1 OR person_id = $1) rebased
WHERE company <> person
ON CONFLICT DO NOTHING
RETURNING to_jsonb(contact_persons) AS row;

-- name: delete_contact_persons_of
DELETE FROM contact_persons WHERE company_id = $1 OR person_id = $1;

-- name: delete_contact_person_rows
DELETE FROM contact_persons p
USING jsonb_populate_recordset(NULL::contact_persons, $1) x
WHERE p.company_id = x.company_id AND p.person_id = x.person_id AND p.role = x.role;

-- name: insert_contact_person_rows
INSERT INTO contact_persons SELECT * FROM jsonb_populate_recordset(NULL::contact_persons, $1)
ON CONFLICT DO NOTHING;

-- name: move_follow_ups
UPDATE follow_ups SET customer_id = $2 WHERE customer_id = $1 RETURNING id;

-- name: move_follow_ups_back
UPDATE follow_ups SET customer_id = $1 WHERE id = ANY($2::uuid[]) AND customer_id = $3;

-- name: move_referrals
-- Customers referred by $1 are now referred by the survivor $2 (the survivor's own referral stays).
UPDATE customers SET referred_by = $2 WHERE referred_by = $1 AND id <> $2 RETURNING id;

-- name: move_referrals_back
UPDATE customers SET referred_by = $1 WHERE id = ANY($2::uuid[]) AND referred_by = $3;

-- name: competitors_of
SELECT to_jsonb(k) AS row FROM customer_competitors k WHERE customer_id = $1 ORDER BY competitor;

-- name: rebase_competitors
INSERT INTO customer_competitors (customer_id, competitor, note, noted_at, noted_by)
SELECT $2, competitor, note, noted_at, noted_by FROM customer_competitors WHERE customer_id = $1
ON CONFLICT DO NOTHING
RETURNING to_jsonb(customer_competitors) AS row;

-- name: delete_competitors_of
DELETE FROM customer_competitors WHERE customer_id = $1;

-- name: delete_competitor_rows
DELETE FROM customer_competitors k
USING jsonb_populate_recordset(NULL::customer_competitors, $1) x
WHERE k.customer_id = x.customer_id AND k.competitor = x.competitor;

-- name: insert_competitor_rows
INSERT INTO customer_competitors SELECT * FROM jsonb_populate_recordset(NULL::customer_competitors, $1)
ON CONFLICT DO NOTHING;

-- name: insert_changes
-- Field history of a merge (old and new values as JSON text; NULL: none).
INSERT INTO customer_changes (customer_id, revision, field, old_value, new_value, changed_by, changed_at)
SELECT $1, $2, f, o::jsonb, n::jsonb, $3, $4 FROM unnest($5::text[], $6::text[], $7::text[]) AS x(f, o, n);

-- name: delete_changes
DELETE FROM customer_changes WHERE customer_id = $1 AND revision = $2;

-- name: insert_merge
INSERT INTO merges (id, survivor_id, merged_id, merged_at, merged_by, before) VALUES ($1, $2, $3, $4, $5, $6);

-- name: merge_for_update
SELECT id, survivor_id, merged_id, merged_at, merged_by, before, undone_at, undone_by
FROM merges WHERE id = $1 FOR UPDATE;

-- name: mark_undone
UPDATE merges SET undone_at = $2, undone_by = $3 WHERE id = $1;

-- name: revisions
SELECT id, revision FROM customers WHERE id = ANY($1::uuid[]);

-- name: identity_holders
SELECT x.kind, x.value, i.customer_id
FROM unnest($1::text[], $2::text[]) AS x(kind, value)
LEFT JOIN customer_identities i ON i.kind = x.kind AND i.value = x.value;

-- name: move_identities_back
UPDATE customer_identities i SET customer_id = $1
FROM unnest($2::text[], $3::text[]) AS x(kind, value)
WHERE i.kind = x.kind AND i.value = x.value AND i.customer_id = $4;

-- name: list_merges
-- Merges involving a customer (or all), newest first, with both names.
SELECT m.id, m.survivor_id, m.merged_id, m.merged_at, m.merged_by, m.undone_at, m.undone_by,
       s.name AS survivor_name, d.name AS merged_name
FROM merges m
JOIN customers s ON s.id = m.survivor_id
JOIN customers d ON d.id = m.merged_id
WHERE ($1::uuid IS NULL OR m.survivor_id = $1 OR m.merged_id = $1)
  AND ($2::timestamptz IS NULL OR m.merged_at < $2)
ORDER BY m.merged_at DESC, m.id DESC
LIMIT $3;
