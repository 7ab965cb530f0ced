-- Idempotency-Key on writes (shared.http.idempotent): the key's row is claimed, then holds the reply.

-- name: claim_key
-- Claim the key for this request; returns nothing when another request already holds it.
INSERT INTO idempotency_keys (principal, key, request_hash, status_code, response)
VALUES ($1, $2, $3, 0, 'null') ON CONFLICT DO NOTHING RETURNING true;

-- name: stored_reply
SELECT request_hash, status_code, response, headers FROM idempotency_keys WHERE principal = $1 AND key = $2;

-- name: remember_reply
UPDATE idempotency_keys SET status_code = $3, response = $4, headers = $5 WHERE principal = $1 AND key = $2;
