-- Referrals: who referred whom (customers.referred_by), read only (store/referrals.py).

-- name: referral_chain
-- The customer ($1) and who referred them, who referred that one, ... up to the root. A cycle
-- (A referred by B referred by A) stops where a customer would come again; $2 bounds the depth.
WITH RECURSIVE up (id, referred_by, depth, path) AS (
    SELECT id, referred_by, 0, ARRAY[id] FROM customers WHERE id = $1
    UNION ALL
    SELECT c.id, c.referred_by, up.depth + 1, up.path || c.id
    FROM up JOIN customers c ON c.id = up.referred_by
    WHERE NOT c.id = ANY(up.path) AND up.depth < $2
)
SELECT up.depth, c.id, c.name, c.owner, c.category, c.lead_source, c.merged_into,
       (up.referred_by IS NOT NULL AND up.referred_by = ANY(up.path)) AS closes_cycle
FROM up JOIN customers c ON c.id = up.id
ORDER BY up.depth;

-- name: referred_customers
-- The customers $1 referred directly, each with how many they referred in turn (directly, and in
-- all further levels; cycle-safe, at most $2 levels down). Merged records are left out.
WITH RECURSIVE down (branch, id, depth, path) AS (
    SELECT d.id, d.id, 1, ARRAY[$1::uuid, d.id]
    FROM customers d WHERE d.referred_by = $1 AND d.merged_into IS NULL
    UNION ALL
    SELECT down.branch, c.id, down.depth + 1, down.path || c.id
    FROM down JOIN customers c ON c.referred_by = down.id
    WHERE c.merged_into IS NULL AND NOT c.id = ANY(down.path) AND down.depth < $2
)
SELECT c.id, c.name, c.owner, c.category, c.registered_at,
       count(*) FILTER (WHERE down.depth = 2) AS referred,
       count(*) FILTER (WHERE down.depth >= 2) AS network
FROM customers c JOIN down ON down.branch = c.id
GROUP BY c.id, c.name, c.owner, c.category, c.registered_at
ORDER BY c.registered_at, c.id;
