-- Credit standing (services/insights/credit_store.py; tables of migration 0007_credit.sql).

-- name: lock_credit
-- The credit consumer and the credit sweep judge customers one at a time (transaction lock).
SELECT pg_advisory_xact_lock($1);

-- name: schedules_of
SELECT order_id, customer_id, revision, occurred_at, event_id, instalments, cancelled_by
FROM credit_schedules WHERE customer_id = ANY($1::uuid[]);

-- name: payments_of
SELECT payment_id, customer_id, occurred_at, event_id, allocations
FROM credit_payments WHERE customer_id = ANY($1::uuid[]);

-- name: overdue_notices_of
SELECT order_id, instalment_no, customer_id, event_id
FROM credit_overdue_notices WHERE customer_id = ANY($1::uuid[]);

-- name: save_schedule
-- The newest revision wins; a cancel, once known, stays. The customer is the newest event's (an
-- order of a merged customer moves to the survivor with its next schedule).
INSERT INTO credit_schedules AS s (order_id, customer_id, revision, occurred_at, event_id, instalments, cancelled_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (order_id) DO UPDATE
SET customer_id = excluded.customer_id, revision = excluded.revision, occurred_at = excluded.occurred_at, event_id = excluded.event_id,
    instalments = excluded.instalments, cancelled_by = coalesce(s.cancelled_by, excluded.cancelled_by)
WHERE s.revision <= excluded.revision;

-- name: save_payment
INSERT INTO credit_payments (payment_id, customer_id, occurred_at, event_id, allocations)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (payment_id) DO NOTHING;

-- name: save_overdue_notice
INSERT INTO credit_overdue_notices (order_id, instalment_no, customer_id, event_id)
VALUES ($1, $2, $3, $4)
ON CONFLICT (order_id, instalment_no) DO NOTHING;

-- name: standings_of
SELECT customer_id, tier, reason, evidence, rule_version, since, as_of, review_at
FROM credit_standings WHERE customer_id = ANY($1::uuid[]);

-- name: save_standing
INSERT INTO credit_standings AS c (customer_id, tier, reason, evidence, rule_version, since, as_of, review_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (customer_id) DO UPDATE
SET tier = excluded.tier, reason = excluded.reason, evidence = excluded.evidence,
    rule_version = excluded.rule_version, since = excluded.since, as_of = excluded.as_of,
    review_at = excluded.review_at;

-- name: customers_to_review
-- The customers whose judgement time alone may have changed by $1, earliest first.
SELECT customer_id FROM credit_standings
WHERE review_at <= $1
ORDER BY review_at, customer_id
LIMIT $2;

-- name: standing_page
-- One tier (or all), in customer id order after $2; $4, a salesperson's owner id: only their
-- customers and the pool's (customer_owners, as the alerts list).
SELECT c.customer_id, c.tier, c.reason, c.evidence, c.rule_version, c.since, c.as_of, o.owner
FROM credit_standings c LEFT JOIN customer_owners o USING (customer_id)
WHERE ($1::text IS NULL OR c.tier = $1)
  AND ($2::uuid IS NULL OR c.customer_id > $2)
  AND ($4::text IS NULL OR o.owner IS NULL OR o.owner = $4)
ORDER BY c.customer_id
LIMIT $3;

-- name: standing_counts
-- Customers per tier, scoped as standing_page ($1, a salesperson's owner id).
SELECT c.tier, count(*)::int AS n
FROM credit_standings c LEFT JOIN customer_owners o USING (customer_id)
WHERE ($1::text IS NULL OR o.owner IS NULL OR o.owner = $1)
GROUP BY c.tier;
