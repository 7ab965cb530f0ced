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

-- name: swap_in_rebuilt_tables
DROP TABLE timeline, customer_profile, alerts, population_model, insights_clock;
ALTER TABLE insights_rebuild.timeline SET SCHEMA public;
ALTER TABLE insights_rebuild.customer_profile SET SCHEMA public;
ALTER TABLE insights_rebuild.alerts SET SCHEMA public;
ALTER TABLE insights_rebuild.population_model SET SCHEMA public;
ALTER TABLE insights_rebuild.insights_clock SET SCHEMA public;
DROP SCHEMA insights_rebuild;
