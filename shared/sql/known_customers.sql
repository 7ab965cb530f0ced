-- The replica of customer ids contacts has registered (shared.customers).

-- name: is_known
SELECT 1 FROM known_customers WHERE customer_id = $1;

-- name: known_among
SELECT customer_id FROM known_customers WHERE customer_id = ANY($1::uuid[]);

-- name: remember_registered
-- Ids of CustomerRegistered events.
INSERT INTO known_customers (customer_id, source)
SELECT id, 'event' FROM unnest($1::uuid[]) AS id
ON CONFLICT (customer_id) DO NOTHING;
