-- Ticket reports (services/tickets/domain/reports.py says what each figure means). Parameters
-- shared by every query: $1 from, $2 to (already cut at as_of), $3 a salesperson's owner id (only
-- their customers' tickets and the pool's, as GET /tickets; NULL: every ticket).

-- One exception: done_actions (its own numbering).

-- name: report_memory
-- The report's sorts (medians) and aggregates stay in memory: a read-only transaction of its own.
SET LOCAL work_mem = '64MB';

-- name: volume
-- Tickets raised in the period per kind, per channel and per category, in one pass.
SELECT CASE WHEN GROUPING(kind) = 0 THEN 'kind' WHEN GROUPING(channel) = 0 THEN 'channel' ELSE 'category' END
           AS dimension,
       COALESCE(kind, channel, category) AS key, count(*) AS n
FROM tickets t
WHERE t.occurred_at >= $1 AND t.occurred_at < $2
  AND ($3::text IS NULL OR EXISTS (
      SELECT 1 FROM known_customers k WHERE k.customer_id = t.customer_id
        AND (k.owner = $3 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
GROUP BY GROUPING SETS ((kind), (channel), (category));

-- name: earliest_raised
-- When the earliest ticket with a first response or a resolution made in the period was raised:
-- where the business-time table of duration_medians must start.
SELECT min(occurred_at) FROM (
    SELECT t.occurred_at FROM tickets t
    WHERE t.first_response_at >= $1 AND t.first_response_at < $2
      AND ($3::text IS NULL OR EXISTS (
          SELECT 1 FROM known_customers k WHERE k.customer_id = t.customer_id
            AND (k.owner = $3 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
    UNION ALL
    SELECT t.occurred_at FROM tickets t
    WHERE t.resolved_at >= $1 AND t.resolved_at < $2 AND t.status IN ('resolved', 'closed')
      AND t.resolved_at > t.occurred_at
      AND ($3::text IS NULL OR EXISTS (
          SELECT 1 FROM known_customers k WHERE k.customer_id = t.customer_id
            AND (k.owner = $3 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
) stops;

-- name: duration_medians
-- Per clock, over the first responses (resolutions) made in the period: how many, and the median
-- seconds from when the customer raised the ticket, wall-clock and in business time. A ticket
-- resolved the moment it was filed (feedback needing no answer) is no resolution work. Business
-- time is looked up in the shop calendar's table (domain.reports.BusinessClock): $4 the opening
-- intervals' starts and $5 their ends (epoch seconds, in order), $6 the business seconds before
-- each; an instant's position is before[j] + least(x, ends[j]) - starts[j], j = width_bucket.
WITH stops AS (
    SELECT 'first_response' AS clock, extract(epoch FROM t.occurred_at)::float8 AS raised,
           extract(epoch FROM t.first_response_at)::float8 AS stopped
    FROM tickets t
    WHERE t.first_response_at >= $1 AND t.first_response_at < $2
      AND ($3::text IS NULL OR EXISTS (
          SELECT 1 FROM known_customers k WHERE k.customer_id = t.customer_id
            AND (k.owner = $3 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
    UNION ALL
    SELECT 'resolution', extract(epoch FROM t.occurred_at)::float8, extract(epoch FROM t.resolved_at)::float8
    FROM tickets t
    WHERE t.resolved_at >= $1 AND t.resolved_at < $2 AND t.status IN ('resolved', 'closed')
      AND t.resolved_at > t.occurred_at
      AND ($3::text IS NULL OR EXISTS (
          SELECT 1 FROM known_customers k WHERE k.customer_id = t.customer_id
            AND (k.owner = $3 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
), bucketed AS (
    SELECT clock, raised, stopped, width_bucket(raised, $4::float8[]) AS jr,
           width_bucket(stopped, $4::float8[]) AS js
    FROM stops
), positioned AS (
    SELECT clock, stopped - raised AS wall,
           CASE WHEN js = 0 THEN 0 ELSE ($6::float8[])[js] + least(stopped, ($5::float8[])[js]) - ($4::float8[])[js] END
         - CASE WHEN jr = 0 THEN 0 ELSE ($6::float8[])[jr] + least(raised, ($5::float8[])[jr]) - ($4::float8[])[jr] END
           AS business
    FROM bucketed
)
SELECT count(*) FILTER (WHERE clock = 'first_response') AS first_response_n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY wall) FILTER (WHERE clock = 'first_response')
           AS first_response_median_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY business) FILTER (WHERE clock = 'first_response')
           AS first_response_business_median_s,
       count(*) FILTER (WHERE clock = 'resolution') AS resolution_n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY wall) FILTER (WHERE clock = 'resolution') AS resolution_median_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY business) FILTER (WHERE clock = 'resolution')
           AS resolution_business_median_s
FROM positioned;

-- name: sla_outcomes
-- The SLA clocks that ended in the period ($4 as_of), in one pass and one row: met at the moment
-- they were stopped by their due time, breached at their due time once run out (or marked by the
-- sweeper). A clock still running at as_of is in neither. Only the resolution clock's current run
-- is kept in the row (a reopen starts a fresh one).
WITH judged AS (
    SELECT fr.breached AS fr_breached,
           CASE WHEN fr.breached THEN t.first_response_due_at
                WHEN t.first_response_at <= $4 THEN t.first_response_at END AS fr_at,
           t.first_response_due_at IS NOT NULL AS fr_clock,
           rs.breached AS rs_breached,
           CASE WHEN rs.breached THEN COALESCE(t.resolution_due_at, t.resolution_breached_at)
                WHEN rs.resolved THEN t.resolved_at END AS rs_at,
           (t.resolution_due_at IS NOT NULL OR t.resolution_breached_at IS NOT NULL
               OR (rs.resolved AND t.resolution_left_s IS NOT NULL)) AS rs_clock
    FROM tickets t
    CROSS JOIN LATERAL (SELECT COALESCE(t.first_response_due_at <= $4 AND (
        t.first_response_at IS NULL OR t.first_response_at > $4 OR t.first_response_at > t.first_response_due_at
        OR t.first_response_breached_at IS NOT NULL), false) AS breached) fr
    CROSS JOIN LATERAL (SELECT COALESCE(t.status IN ('resolved', 'closed') AND t.resolved_at <= $4, false)
                            AS resolved) r
    CROSS JOIN LATERAL (SELECT r.resolved,
        COALESCE(t.resolution_breached_at IS NOT NULL
                     AND COALESCE(t.resolution_due_at, t.resolution_breached_at) <= $4, false)
        OR COALESCE(t.resolution_due_at <= $4 AND (NOT r.resolved OR t.resolved_at > t.resolution_due_at), false)
            AS breached) rs
    WHERE ((t.first_response_at >= $1 AND t.first_response_at < $2)
        OR (t.first_response_due_at >= $1 AND t.first_response_due_at < $2)
        OR (t.resolved_at >= $1 AND t.resolved_at < $2)
        OR (t.resolution_due_at >= $1 AND t.resolution_due_at < $2)
        OR (t.resolution_breached_at >= $1 AND t.resolution_breached_at < $2))
      AND ($3::text IS NULL OR EXISTS (
          SELECT 1 FROM known_customers k WHERE k.customer_id = t.customer_id
            AND (k.owner = $3 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
)
SELECT count(*) FILTER (WHERE fr_clock AND NOT fr_breached AND fr_at >= $1 AND fr_at < $2) AS first_response_met,
       count(*) FILTER (WHERE fr_clock AND fr_breached AND fr_at >= $1 AND fr_at < $2) AS first_response_breached,
       count(*) FILTER (WHERE rs_clock AND NOT rs_breached AND rs_at >= $1 AND rs_at < $2) AS resolution_met,
       count(*) FILTER (WHERE rs_clock AND rs_breached AND rs_at >= $1 AND rs_at < $2) AS resolution_breached
FROM judged;

-- name: repeat_complainers
-- Customers with at least $4 complaints raised in the period, the most first ($5 at most).
SELECT customer_id, count(*) AS complaints, min(occurred_at) AS first_at, max(occurred_at) AS last_at
FROM tickets t
WHERE t.kind = 'complaint' AND t.occurred_at >= $1 AND t.occurred_at < $2
  AND ($3::text IS NULL OR EXISTS (
      SELECT 1 FROM known_customers k WHERE k.customer_id = t.customer_id
        AND (k.owner = $3 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
GROUP BY customer_id
HAVING count(*) >= $4
ORDER BY complaints DESC, last_at DESC, customer_id
LIMIT $5;

-- name: prevention_counts
-- Prevention actions open at as_of ($4), of those overdue (due before $5, as_of's day in the
-- shop's zone), and done in the period.
SELECT count(*) FILTER (WHERE p.done_at IS NULL OR p.done_at > $4) AS open,
       count(*) FILTER (WHERE (p.done_at IS NULL OR p.done_at > $4) AND p.due_on < $5) AS overdue,
       count(*) FILTER (WHERE p.done_at >= $1 AND p.done_at < $2) AS done
FROM prevention_actions p
WHERE p.created_at <= $4
  AND ($3::text IS NULL OR EXISTS (
      SELECT 1 FROM tickets t JOIN known_customers k ON k.customer_id = t.customer_id
      WHERE t.id = p.ticket_id AND (k.owner = $3 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))));

-- name: done_actions
-- Prevention actions done before the period's end (here $1 is that end and $2 the owner id).
SELECT p.id AS action_id, p.ticket_id, p.category, p.action, p.owner, p.done_at
FROM prevention_actions p
WHERE p.done_at < $1
  AND ($2::text IS NULL OR EXISTS (
      SELECT 1 FROM tickets t JOIN known_customers k ON k.customer_id = t.customer_id
      WHERE t.id = p.ticket_id AND (k.owner = $2 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))));

-- name: complaint_times
-- When the complaints of the categories $4 (those with a prevention action done) were raised in
-- the period: per category, in order, as epoch seconds (an action's recurrences are counted on them).
SELECT category, array_agg(extract(epoch FROM occurred_at)::float8 ORDER BY occurred_at) AS times
FROM tickets t
WHERE t.kind = 'complaint' AND t.occurred_at >= $1 AND t.occurred_at < $2 AND t.category = ANY($4::text[])
  AND ($3::text IS NULL OR EXISTS (
      SELECT 1 FROM known_customers k WHERE k.customer_id = t.customer_id
        AND (k.owner = $3 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
GROUP BY category;

-- name: first_complaints_after
-- For each (category $4[i], moment $5[i]): the first complaint of the category raised after that
-- moment and in the period, by the index on (category, occurred_at).
SELECT w.category, w.after, f.id AS ticket_id, f.occurred_at
FROM unnest($4::text[], $5::timestamptz[]) AS w(category, after)
CROSS JOIN LATERAL (
    SELECT t.id, t.occurred_at FROM tickets t
    WHERE t.kind = 'complaint' AND t.category = w.category AND t.occurred_at > w.after
      AND t.occurred_at >= $1 AND t.occurred_at < $2
      AND ($3::text IS NULL OR EXISTS (
          SELECT 1 FROM known_customers k WHERE k.customer_id = t.customer_id
            AND (k.owner = $3 OR (k.owner IS NULL AND k.owner_at IS NOT NULL))))
    ORDER BY t.occurred_at, t.id
    LIMIT 1
) f;
