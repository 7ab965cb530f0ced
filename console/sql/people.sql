-- name: insert_person
-- Returns nothing when the name is taken.
INSERT INTO people (id, name, display_name, role, owner, locale, password_hash, created_at, password_changed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
ON CONFLICT (name) DO NOTHING
RETURNING id;

-- name: people
SELECT id, name, display_name, role, owner, locale, disabled_at IS NOT NULL AS disabled, created_at
FROM people ORDER BY name;

-- name: person_by_name
SELECT id, name, display_name, role, owner, locale, disabled_at IS NOT NULL AS disabled, created_at,
       password_hash
FROM people WHERE name = $1;

-- name: count_people
SELECT count(*) FROM people;

-- name: set_password
-- A new password ends every session of the person (someone else may know the old one).
WITH changed AS (
    UPDATE people SET password_hash = $2, password_changed_at = $3 WHERE name = $1 RETURNING id
), ended AS (
    DELETE FROM sessions WHERE person_id IN (SELECT id FROM changed)
)
SELECT id FROM changed;

-- name: set_disabled
-- Disabling ends every session of the person at once.
WITH changed AS (
    UPDATE people SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, $3) END WHERE name = $1 RETURNING id
), ended AS (
    DELETE FROM sessions WHERE $2 AND person_id IN (SELECT id FROM changed)
)
SELECT id FROM changed;

-- name: set_locale
UPDATE people SET locale = $2 WHERE id = $1;

-- name: recent_failures
SELECT failed_at FROM sign_in_failures WHERE name = $1 AND failed_at > $2 ORDER BY failed_at;

-- name: record_failure
INSERT INTO sign_in_failures (name, failed_at) VALUES ($1, $2);

-- name: clear_failures
-- Also forgets failures older than a day, of every account: the table stays small.
DELETE FROM sign_in_failures WHERE name = $1 OR failed_at < $2;
