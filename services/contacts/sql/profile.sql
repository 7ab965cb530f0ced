-- Editing a customer's record (PATCH), its field history, and the referral chain's cycle check.

-- name: customer_for_update
-- The record, locked until the transaction ends: two PATCHes of one customer take turns, so the
-- second sees the first's revision (and gets its 412). NO KEY UPDATE: another customer may still
-- be made referred by this one meanwhile (its foreign-key check only needs the key to stay), so
-- two referrals at once never wait on each other's rows. A contact-person link locks FOR SHARE,
-- which does wait (a kind change and a new link take turns).
SELECT id, name, kind, phone, email, external_ref, category, lead_source, channel, owner, created_at,
       revision, lead_source_detail, referred_by, tags, address, notes, loss_reason, loss_kind,
       first_order_at, last_order_at, last_follow_up_at, next_follow_up_due, owner_since, merged_into
FROM customers WHERE id = $1
FOR NO KEY UPDATE;

-- name: update_profile
-- The editable fields, the new revision and the search text, all at once.
UPDATE customers
SET name = $2, kind = $3, email = $4, address = $5, notes = $6, tags = $7, lead_source = $8,
    lead_source_detail = $9, referred_by = $10, external_ref = $11, revision = $12, search = $13
WHERE id = $1
RETURNING id, name, kind, phone, email, external_ref, category, lead_source, channel, owner, created_at,
          revision, lead_source_detail, referred_by, tags, address, notes, loss_reason, loss_kind,
          first_order_at, last_order_at, last_follow_up_at, next_follow_up_due, owner_since, merged_into;

-- name: bump_revision
-- A change of the record made by another route (competitors): the next revision.
UPDATE customers SET revision = revision + 1 WHERE id = $1
RETURNING revision;

-- name: insert_changes
-- One history row per changed field of one revision; the values come as JSON texts (a list of
-- values of different JSON types is no PostgreSQL array).
INSERT INTO customer_changes (customer_id, revision, field, old_value, new_value, changed_by, changed_at)
SELECT $1, $2, c.field, c.old_value::jsonb, c.new_value::jsonb, $6, $7
FROM unnest($3::text[], $4::text[], $5::text[]) AS c(field, old_value, new_value);

-- name: referral_chain
-- Who referred $1, who referred that one, and so on up, nearest first (at most $2 steps; UNION
-- stops on a loop already stored, should one exist).
WITH RECURSIVE chain (id, referred_by, depth) AS (
    SELECT id, referred_by, 1 FROM customers WHERE id = $1
    UNION
    SELECT c.id, c.referred_by, chain.depth + 1
    FROM customers c JOIN chain ON c.id = chain.referred_by
    WHERE chain.depth < $2
)
SELECT id FROM chain ORDER BY depth;

-- name: lock_referrals
-- Referral changes take turns (a transaction lock): two PATCHes at once could each see no loop
-- and together make one (A referred by B, B by A).
SELECT pg_advisory_xact_lock(7022133301);

-- name: contact_links_of
-- How many contact-person links the customer has, as a company or as a person.
SELECT count(*) FROM contact_persons WHERE company_id = $1 OR person_id = $1;

-- name: history
-- The newest $3 revisions of the record's history before revision $2 (all when $2 is NULL), each
-- with all its field rows.
WITH revisions AS (
    SELECT DISTINCT revision FROM customer_changes
    WHERE customer_id = $1 AND ($2::integer IS NULL OR revision < $2)
    ORDER BY revision DESC
    LIMIT $3
)
SELECT ch.revision, ch.field, ch.old_value, ch.new_value, ch.changed_by, ch.changed_at
FROM customer_changes ch JOIN revisions r ON r.revision = ch.revision
WHERE ch.customer_id = $1
ORDER BY ch.revision DESC, ch.field;

-- name: first_old_values
-- Each field's value before its first change: what the record was registered with.
SELECT DISTINCT ON (field) field, old_value
FROM customer_changes WHERE customer_id = $1
ORDER BY field, revision;
