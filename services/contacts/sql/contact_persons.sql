-- Contact persons: a person who speaks for a company in a role.

-- name: customers_for_share
-- The company and the person of a link, locked against a kind change (which locks FOR UPDATE)
-- until the link is written; in id order, so two links of the same two never deadlock.
SELECT id, name, kind, phone, email, external_ref, category, lead_source, channel, owner, created_at,
       revision, lead_source_detail, referred_by, tags, address, notes, loss_reason, loss_kind,
       first_order_at, last_order_at, last_follow_up_at, next_follow_up_due, owner_since, merged_into
FROM customers WHERE id = ANY($1::uuid[])
ORDER BY id
FOR SHARE;

-- name: add_link
-- A new link, or a new title for one that exists (a title left out keeps the old one). Returns
-- inserted = true for a new link, false for a changed title, and no row when nothing changed.
INSERT INTO contact_persons AS cp (company_id, person_id, role, title, added_at, added_by)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (company_id, person_id, role) DO UPDATE SET title = coalesce(EXCLUDED.title, cp.title)
WHERE cp.title IS DISTINCT FROM coalesce(EXCLUDED.title, cp.title)
RETURNING (xmax = 0) AS inserted;

-- name: remove_link
DELETE FROM contact_persons WHERE company_id = $1 AND person_id = $2 AND role = $3
RETURNING company_id;

-- name: link
SELECT cp.company_id, co.name AS company_name, cp.person_id, pe.name AS person_name,
       pe.phone AS person_phone, pe.email AS person_email, cp.role, cp.title, cp.added_at, cp.added_by
FROM contact_persons cp
JOIN customers co ON co.id = cp.company_id
JOIN customers pe ON pe.id = cp.person_id
WHERE cp.company_id = $1 AND cp.person_id = $2 AND cp.role = $3;

-- name: links_of_company
-- A company's contact persons, by name then role.
SELECT cp.company_id, co.name AS company_name, cp.person_id, pe.name AS person_name,
       pe.phone AS person_phone, pe.email AS person_email, cp.role, cp.title, cp.added_at, cp.added_by
FROM contact_persons cp
JOIN customers co ON co.id = cp.company_id
JOIN customers pe ON pe.id = cp.person_id
WHERE cp.company_id = $1
ORDER BY pe.name, cp.person_id, cp.role;

-- name: links_of_person
-- The companies a person speaks for, by name then role.
SELECT cp.company_id, co.name AS company_name, cp.person_id, pe.name AS person_name,
       pe.phone AS person_phone, pe.email AS person_email, cp.role, cp.title, cp.added_at, cp.added_by
FROM contact_persons cp
JOIN customers co ON co.id = cp.company_id
JOIN customers pe ON pe.id = cp.person_id
WHERE cp.person_id = $1
ORDER BY co.name, cp.company_id, cp.role;
