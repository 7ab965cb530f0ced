-- A replay builds every insights table anew in the schema insights_rebuild, then swaps them in
-- (services/insights/replay.py). A schema of its own, not a suffix per run: the rebuilt tables and
-- their indexes take their final names, and nothing of an earlier rebuild can collide with them.
-- The service's tables live in the schema public (the migrations create them unqualified).

-- name: create_rebuild_tables
DROP SCHEMA IF EXISTS insights_rebuild CASCADE;
CREATE SCHEMA insights_rebuild;
CREATE TABLE insights_rebuild.timeline (LIKE timeline INCLUDING ALL);
CREATE TABLE insights_rebuild.customer_profile (LIKE customer_profile INCLUDING ALL);
CREATE TABLE insights_rebuild.alerts (LIKE alerts INCLUDING ALL);
CREATE TABLE insights_rebuild.population_model (LIKE population_model INCLUDING ALL);
CREATE TABLE insights_rebuild.insights_clock (LIKE insights_clock INCLUDING ALL);

-- name: insert_rebuilt_model
INSERT INTO insights_rebuild.population_model (version, as_of, customers, model, cuts, fit_key)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: set_rebuilt_clock
INSERT INTO insights_rebuild.insights_clock (id, watermark, swept_to) VALUES (true, $1, NULL);

-- name: lock_clock_for_replay
-- A replay ends by dropping insights_clock, so it takes the table, not only the row: a consumer
-- waiting for the clock then waits before it holds anything on the table. Waiting for the row
-- (SELECT ... FOR UPDATE) it held ROW SHARE on the table, which the DROP waited for: a deadlock.
-- EXCLUSIVE still lets plain reads through until the swap.
LOCK TABLE insights_clock IN EXCLUSIVE MODE;

-- name: carry_acknowledgements
-- Acknowledgements are in no outbox a replay reads: they are on the timeline only. Carry them onto
-- the rebuilt timeline, then put each back on its rebuilt alert: the one with the id it names
-- (uuid5(customer, kind, raised_at), the same when the rebuild raised it at the same time), else
-- the customer's alert of that kind open when it was made (one alert of a kind is open at a time).
-- An acknowledgement that finds neither stays on the timeline (``raise_alerts`` looks there too).
INSERT INTO insights_rebuild.timeline (event_id, customer_id, event_type, ce_type, source, occurred_at, recorded_at, data)
SELECT event_id, customer_id, event_type, ce_type, source, occurred_at, recorded_at, data
FROM timeline WHERE event_type = 'AlertAcknowledged'
ON CONFLICT (event_id) DO NOTHING;
UPDATE insights_rebuild.alerts a
SET acknowledged_at = t.occurred_at, acknowledged_by = t.data ->> 'acknowledged_by',
    acknowledgement_note = t.data ->> 'note'
FROM (
    SELECT DISTINCT ON (alert.alert_id) alert.alert_id, k.occurred_at, k.data
    FROM insights_rebuild.alerts alert
    JOIN insights_rebuild.timeline k
      ON k.event_type = 'AlertAcknowledged' AND k.customer_id = alert.customer_id AND k.data ->> 'kind' = alert.kind
    WHERE (k.data ->> 'alert_id')::uuid = alert.alert_id
       OR (alert.raised_at <= k.occurred_at AND (alert.cleared_at IS NULL OR alert.cleared_at > k.occurred_at)
           AND NOT EXISTS (SELECT 1 FROM insights_rebuild.alerts named
                           WHERE named.alert_id = (k.data ->> 'alert_id')::uuid))
    ORDER BY alert.alert_id, (k.data ->> 'alert_id')::uuid = alert.alert_id DESC, k.occurred_at, k.event_id
) t
WHERE a.alert_id = t.alert_id;

-- name: swap_in_rebuilt_tables
DROP TABLE timeline, customer_profile, alerts, population_model, insights_clock;
ALTER TABLE insights_rebuild.timeline SET SCHEMA public;
ALTER TABLE insights_rebuild.customer_profile SET SCHEMA public;
ALTER TABLE insights_rebuild.alerts SET SCHEMA public;
ALTER TABLE insights_rebuild.population_model SET SCHEMA public;
ALTER TABLE insights_rebuild.insights_clock SET SCHEMA public;
DROP SCHEMA insights_rebuild;
