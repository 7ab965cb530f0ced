-- name: lock_clock
-- Serialises everything that moves profiles (consumer batches, sweeps, refits, replays).
SELECT watermark, swept_to FROM insights_clock WHERE id FOR UPDATE;

-- name: set_clock
UPDATE insights_clock SET watermark = $1, swept_to = $2 WHERE id;

-- name: due_customers
-- Earliest due first; a NULL limit takes them all.
SELECT customer_id FROM customer_profile WHERE due_at <= $1 ORDER BY due_at LIMIT $2;

-- name: load_profiles
SELECT customer_id, state FROM customer_profile WHERE customer_id = ANY($1::uuid[]);

-- name: save_profiles
INSERT INTO customer_profile (
    customer_id, state, external_ref, owner, evaluated_at, due_at, first_day, last_day, purchase_days,
    spent, first_day_spent, last_purchase_at, stage, stage_reason, stage_since, segment, loyal,
    churn_risk, p_alive, expected_purchases_90d, expected_value_90d, open_alerts, model_version)
SELECT * FROM unnest(
    $1::uuid[], $2::jsonb[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::int[], $8::int[],
    $9::int[], $10::numeric[], $11::numeric[], $12::timestamptz[], $13::text[], $14::text[], $15::timestamptz[],
    $16::text[], $17::bool[], $18::float8[], $19::float8[], $20::float8[], $21::numeric[], $22::int[], $23::int[])
ON CONFLICT (customer_id) DO UPDATE SET
    state = excluded.state, external_ref = excluded.external_ref, owner = excluded.owner,
    evaluated_at = excluded.evaluated_at, due_at = excluded.due_at, first_day = excluded.first_day,
    last_day = excluded.last_day, purchase_days = excluded.purchase_days, spent = excluded.spent,
    first_day_spent = excluded.first_day_spent, last_purchase_at = excluded.last_purchase_at,
    stage = excluded.stage, stage_reason = excluded.stage_reason, stage_since = excluded.stage_since,
    segment = excluded.segment, loyal = excluded.loyal, churn_risk = excluded.churn_risk,
    p_alive = excluded.p_alive, expected_purchases_90d = excluded.expected_purchases_90d,
    expected_value_90d = excluded.expected_value_90d, open_alerts = excluded.open_alerts,
    model_version = excluded.model_version;

-- name: raise_alerts
-- An alert acknowledged before a replay can be raised again after it (a replay folds on the
-- events' clock, the wall clock's sweep raises it again): it takes back its acknowledgement from
-- the timeline. Its id is uuid5(customer, kind, raised_at), but raised_at may come out otherwise
-- than live did, so an acknowledgement also belongs to the customer's alert of that kind raised
-- by the time it was made, as long as the alert it named is gone (one alert of a kind is open at a time).
INSERT INTO alerts (alert_id, customer_id, kind, status, raised_at, rule_version, evidence,
                    acknowledged_at, acknowledged_by, acknowledgement_note)
SELECT t.a, t.c, t.k, 'open', t.r, t.v, t.e, ack.occurred_at, ack.data ->> 'acknowledged_by', ack.data ->> 'note'
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::text[], $6::jsonb[]) AS t (a, c, k, r, v, e)
LEFT JOIN LATERAL (
    SELECT occurred_at, data FROM timeline k
    WHERE k.customer_id = t.c AND k.event_type = 'AlertAcknowledged' AND k.data ->> 'kind' = t.k
      AND ((k.data ->> 'alert_id')::uuid = t.a
           OR (k.occurred_at >= t.r
               AND NOT EXISTS (SELECT 1 FROM alerts named WHERE named.alert_id = (k.data ->> 'alert_id')::uuid)))
    ORDER BY (k.data ->> 'alert_id')::uuid = t.a DESC, k.occurred_at, k.event_id
    LIMIT 1
) ack ON true
ON CONFLICT (alert_id) DO NOTHING;

-- name: clear_alerts
UPDATE alerts SET status = 'cleared', cleared_at = t.cleared_at, cleared_reason = t.reason, cleared_evidence = t.evidence
FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::jsonb[]) AS t (alert_id, cleared_at, reason, evidence)
WHERE alerts.alert_id = t.alert_id;

-- name: buyer_counts
SELECT count(*) AS buying, count(*) FILTER (WHERE purchase_days > 1) AS repeat
FROM customer_profile WHERE purchase_days > 0;

-- name: fit_rows
SELECT first_day, last_day, purchase_days, (spent * 100)::bigint AS cents,
       (first_day_spent * 100)::bigint AS first_day_cents
FROM customer_profile WHERE purchase_days > 0;

-- name: current_model
SELECT version, as_of, model, cuts, customers FROM population_model ORDER BY version DESC LIMIT 1;

-- name: current_model_version
SELECT coalesce(max(version), 0) FROM population_model;

-- name: insert_model
INSERT INTO population_model (version, as_of, customers, model, cuts, fit_key) VALUES ($1, $2, $3, $4, $5, $6);

-- name: known_fits
SELECT fit_key, model, cuts FROM population_model WHERE fit_key IS NOT NULL;

-- name: profile_by_id
SELECT customer_id, state, external_ref, owner FROM customer_profile WHERE customer_id = $1;

-- name: alerts_page
-- Newest first; the cursor is the last (raised_at, alert_id) seen. $6: acknowledged or not;
-- $7: raised before this time (worklists of alerts older than some days). The owner is today's
-- (customer_owners); $11, a salesperson's owner id: only their customers and the pool's.
SELECT a.alert_id, a.customer_id, a.kind, a.status, a.raised_at, a.cleared_at, a.rule_version, a.evidence,
       a.cleared_reason, a.cleared_evidence, a.acknowledged_at, a.acknowledged_by, a.acknowledgement_note,
       p.external_ref, o.owner, p.segment, p.stage
FROM alerts a LEFT JOIN customer_profile p USING (customer_id) LEFT JOIN customer_owners o USING (customer_id)
WHERE ($1::text IS NULL OR a.kind = $1)
  AND ($2::text IS NULL OR a.status = $2)
  AND ($3::text IS NULL OR p.segment = $3)
  AND ($4::text IS NULL OR o.owner = $4)
  AND ($11::text IS NULL OR o.owner IS NULL OR o.owner = $11)
  AND ($5::uuid IS NULL OR a.customer_id = $5)
  AND ($6::boolean IS NULL OR (a.acknowledged_at IS NOT NULL) = $6)
  AND ($7::timestamptz IS NULL OR a.raised_at < $7)
  AND ($8::timestamptz IS NULL OR (a.raised_at, a.alert_id) < ($8, $9::uuid))
ORDER BY a.raised_at DESC, a.alert_id DESC
LIMIT $10;

-- name: alert_by_id
SELECT a.alert_id, a.customer_id, a.kind, a.status, a.raised_at, a.cleared_at, a.rule_version, a.evidence,
       a.cleared_reason, a.cleared_evidence, a.acknowledged_at, a.acknowledged_by, a.acknowledgement_note,
       p.external_ref, o.owner, p.segment, p.stage
FROM alerts a LEFT JOIN customer_profile p USING (customer_id) LEFT JOIN customer_owners o USING (customer_id)
WHERE a.alert_id = $1;

-- name: alert_to_acknowledge
-- The row stays locked to the end of the transaction: two acknowledgements of one alert take turns.
SELECT alert_id, customer_id, kind, acknowledged_at, acknowledged_by FROM alerts WHERE alert_id = $1 FOR UPDATE;

-- name: acknowledge_alert
UPDATE alerts SET acknowledged_at = $2, acknowledged_by = $3, acknowledgement_note = $4 WHERE alert_id = $1;

-- name: profiles_page
-- Customer summaries in customer_id order; the cursor is the last customer_id seen. The owner is
-- today's (customer_owners); $8, a salesperson's owner id: only their customers and the pool's.
SELECT customer_id, p.external_ref, o.owner, p.segment, p.stage, p.loyal, p.churn_risk, p.p_alive,
       p.expected_value_90d, p.spent, p.purchase_days, p.last_purchase_at, p.open_alerts
FROM customer_profile p LEFT JOIN customer_owners o USING (customer_id)
WHERE ($1::text IS NULL OR p.segment = $1)
  AND ($2::text IS NULL OR p.stage = $2)
  AND ($3::text IS NULL OR o.owner = $3)
  AND ($4::boolean IS NULL OR (p.open_alerts > 0) = $4)
  AND ($5::uuid[] IS NULL OR customer_id = ANY($5::uuid[]))
  AND ($6::uuid IS NULL OR customer_id > $6)
  AND ($8::text IS NULL OR o.owner IS NULL OR o.owner = $8)
ORDER BY customer_id
LIMIT $7;

-- name: stages
-- $1, a salesperson's owner id: only their customers and the pool's.
SELECT stage, count(*) AS customers, sum(spent) AS spent, sum(expected_value_90d) AS expected_value_90d,
       avg(churn_risk) AS mean_churn_risk, count(*) FILTER (WHERE loyal) AS loyal,
       sum(open_alerts) AS open_alerts
FROM customer_profile p LEFT JOIN customer_owners o USING (customer_id)
WHERE ($1::text IS NULL OR o.owner IS NULL OR o.owner = $1)
GROUP BY stage;

-- name: open_alerts_of
SELECT alert_id, kind, raised_at, rule_version, evidence FROM alerts
WHERE customer_id = $1 AND status = 'open' ORDER BY raised_at;

-- name: segments
-- $1, a salesperson's owner id: only their customers and the pool's.
SELECT segment, count(*) AS customers, sum(spent) AS spent, sum(expected_value_90d) AS expected_value_90d,
       avg(churn_risk) AS mean_churn_risk, count(*) FILTER (WHERE loyal) AS loyal,
       sum(open_alerts) AS open_alerts
FROM customer_profile p LEFT JOIN customer_owners o USING (customer_id)
WHERE ($1::text IS NULL OR o.owner IS NULL OR o.owner = $1)
GROUP BY segment ORDER BY segment;

-- name: all_profiles
-- $3, a salesperson's owner id: only their customers and the pool's.
SELECT customer_id, state FROM customer_profile p LEFT JOIN customer_owners o USING (customer_id)
WHERE customer_id > $1 AND ($3::text IS NULL OR o.owner IS NULL OR o.owner = $3)
ORDER BY customer_id LIMIT $2;

-- name: clock
SELECT watermark, swept_to FROM insights_clock WHERE id;

-- name: model_at
-- The fit in force at a business time: the latest fitted on data up to then.
SELECT version, as_of, model, cuts FROM population_model
WHERE as_of <= $1 ORDER BY as_of DESC, version DESC LIMIT 1;

-- name: open_alerts_at
SELECT customer_id, count(*) AS n FROM alerts
WHERE customer_id = ANY($1::uuid[]) AND raised_at <= $2 AND (cleared_at IS NULL OR cleared_at > $2)
GROUP BY customer_id;

-- name: all_states
SELECT customer_id, state FROM customer_profile;

-- name: hold_clock_for_write
-- A write of the API (an acknowledgement) takes this first: it waits while a replay rebuilds and
-- swaps the tables (the replay holds EXCLUSIVE), so the write lands in the tables in force, never in
-- tables about to be dropped. Consumer batches (row locks on the clock) do not block it.
LOCK TABLE insights_clock IN ROW SHARE MODE;
