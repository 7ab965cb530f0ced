-- The acquisition report (store/acquisition.py): per lead source and period of registration.

-- name: acquisition
-- Customers registered (business time, registered_at) in [$2, $3) and by $4 (as_of), grouped by
-- lead source and the period ($1: month, quarter or year) of their registration in the shop's
-- time zone ($5): how many, how many became current (a first order by as_of), and the median
-- days from registration to that first order (of those who ordered; an order recorded before
-- the registration counts as day 0). $6 scopes to an owner's customers and the pool (NULL: all).
-- One pass over the period's rows (index customers_registered_at).
SELECT coalesce(lead_source, 'unknown') AS lead_source,
       date_trunc($1, registered_at AT TIME ZONE $5)::date AS period,
       count(*) AS new_customers,
       count(*) FILTER (WHERE first_order_at <= $4) AS became_current,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY greatest(extract(epoch FROM first_order_at - registered_at), 0) / 86400.0
       ) FILTER (WHERE first_order_at <= $4) AS median_days_to_first_order
FROM customers
WHERE merged_into IS NULL
  AND registered_at >= $2 AND registered_at < $3 AND registered_at <= $4
  AND ($6::text IS NULL OR owner = $6 OR owner IS NULL)
GROUP BY 1, 2
ORDER BY 2, 1;
