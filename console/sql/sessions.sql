-- name: insert_session
INSERT INTO sessions (token_sha256, person_id, csrf_token, created_at, seen_at, expires_at)
VALUES ($1, $2, $3, $4, $4, $5);

-- name: session_person
-- The session and its person; a disabled person has no session.
SELECT s.csrf_token, s.seen_at, s.expires_at,
       p.id, p.name, p.display_name, p.role, p.owner, p.locale, false AS disabled, p.created_at
FROM sessions s JOIN people p ON p.id = s.person_id
WHERE s.token_sha256 = $1 AND p.disabled_at IS NULL;

-- name: touch_session
-- seen_at moves at most once a minute: a page that loads fragments does not write on each one.
UPDATE sessions SET seen_at = $2 WHERE token_sha256 = $1 AND seen_at < $2::timestamptz - interval '1 minute';

-- name: delete_session
DELETE FROM sessions WHERE token_sha256 = $1;

-- name: delete_expired_sessions
DELETE FROM sessions WHERE expires_at < $1 OR seen_at < $2;
