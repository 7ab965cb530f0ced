-- Sales reports (docs/architecture.md §14.6). Parameters shared by both queries:
-- $1 from, $2 to (occurred_at, business time), $3 currency, $4 a salesperson's owner id (only
-- their customers' orders and the pool's; NULL: every order), $5 statuses not counted.

-- name: sales_by_order
-- Rows per channel, owner or period ($6: 'channel' | 'owner' | 'period'; $7 'day' | 'week' |
-- 'month' in the time zone $8) and, with grouping set (), the totals (is_total).
WITH sold AS (
    SELECT o.customer_id, o.total, o.returned_total,
           o.discount + COALESCE(l.line_discount, 0) AS discounts,
           CASE $6::text
               WHEN 'channel' THEN o.channel
               WHEN 'owner' THEN COALESCE(k.owner, 'pool')
               ELSE to_char(date_trunc($7::text, o.occurred_at AT TIME ZONE $8::text), 'YYYY-MM-DD')
           END AS key
    FROM orders o
    LEFT JOIN known_customers k ON k.customer_id = o.customer_id
    LEFT JOIN LATERAL (SELECT sum(discount) AS line_discount FROM order_lines WHERE order_id = o.id) l ON true
    WHERE o.occurred_at >= $1 AND o.occurred_at < $2 AND o.currency = $3
      AND o.status <> ALL($5::text[])
      AND ($4::text IS NULL OR k.owner = $4 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))
)
SELECT key, GROUPING(key) = 1 AS is_total, count(*) AS orders, count(DISTINCT customer_id) AS customers,
       COALESCE(sum(total + discounts), 0) AS gross, COALESCE(sum(discounts), 0) AS discounts,
       COALESCE(sum(returned_total), 0) AS returned
FROM sold
GROUP BY GROUPING SETS ((key), ());

-- name: sales_by_category
-- Rows per line category (NULL: uncategorised): a line's amount less what was returned of it.
SELECT COALESCE(l.category, 'uncategorised') AS key, count(DISTINCT o.id) AS orders,
       count(DISTINCT o.customer_id) AS customers, sum(l.amount + l.discount) AS gross,
       sum(l.discount) AS discounts, sum(l.returned_amount) AS returned
FROM orders o
JOIN order_lines l ON l.order_id = o.id
LEFT JOIN known_customers k ON k.customer_id = o.customer_id
WHERE o.occurred_at >= $1 AND o.occurred_at < $2 AND o.currency = $3
  AND o.status <> ALL($5::text[])
  AND ($4::text IS NULL OR k.owner = $4 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))
GROUP BY 1;
