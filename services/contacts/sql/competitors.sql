-- Competitors a customer also buys from, and the report per competitor.

-- name: competitors_of
SELECT competitor, note, noted_at, noted_by FROM customer_competitors
WHERE customer_id = $1
ORDER BY competitor;

-- name: note_competitor
-- Insert or replace a competitor's note.
INSERT INTO customer_competitors AS cc (customer_id, competitor, note, noted_at, noted_by)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (customer_id, competitor) DO UPDATE
SET note = EXCLUDED.note, noted_at = EXCLUDED.noted_at, noted_by = EXCLUDED.noted_by
RETURNING competitor, note, noted_at, noted_by;

-- name: forget_competitor
DELETE FROM customer_competitors WHERE customer_id = $1 AND competitor = $2
RETURNING competitor;

-- name: competitor_report
-- Per competitor and category, how many customers also buy there; $1: only this owner's customers
-- and the pool (a salesperson's scope), NULL: everyone's. Merged records are left out.
SELECT cc.competitor, c.category, count(*) AS customers
FROM customer_competitors cc
JOIN customers c ON c.id = cc.customer_id
WHERE c.merged_into IS NULL
  AND ($1::text IS NULL OR c.owner = $1 OR c.owner IS NULL)
GROUP BY cc.competitor, c.category;
