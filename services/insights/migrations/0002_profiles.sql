-- Each customer's profile (rhythm, basket, value, stage, segment) and the alerts raised on it.
-- `state` is the whole folded profile (services/insights/profile.py); the other columns are
-- copies of what dashboards filter and sort on, as of `evaluated_at`.
CREATE TABLE customer_profile (
    customer_id            uuid        PRIMARY KEY,
    state                  jsonb       NOT NULL,
    external_ref           text,
    owner                  text,
    evaluated_at           timestamptz,
    due_at                 timestamptz,            -- next time the clock alone may change a rule
    first_day              integer,                -- purchase days as local-date ordinals
    last_day               integer,
    purchase_days          integer     NOT NULL DEFAULT 0,
    spent                  numeric(16,2) NOT NULL DEFAULT 0,
    first_day_spent        numeric(16,2) NOT NULL DEFAULT 0,
    last_purchase_at       timestamptz,
    stage                  text        NOT NULL,
    stage_reason           text        NOT NULL,
    stage_since            timestamptz,
    segment                text        NOT NULL,
    loyal                  boolean     NOT NULL DEFAULT false,
    churn_risk             double precision,
    p_alive                double precision,
    expected_purchases_90d double precision,
    expected_value_90d     numeric(16,2),
    open_alerts            integer     NOT NULL DEFAULT 0,
    model_version          integer     NOT NULL DEFAULT 0
);
CREATE INDEX customer_profile_due ON customer_profile (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX customer_profile_segment ON customer_profile (segment);
CREATE INDEX customer_profile_external_ref ON customer_profile (external_ref);

CREATE TABLE alerts (
    alert_id      uuid        PRIMARY KEY,            -- uuid5(customer, kind, raised_at): same on replay
    customer_id   uuid        NOT NULL,
    kind          text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('open', 'cleared')),
    raised_at     timestamptz NOT NULL,               -- business time the condition became true
    cleared_at    timestamptz,
    rule_version  text        NOT NULL,
    evidence      jsonb       NOT NULL,
    cleared_reason   text,
    cleared_evidence jsonb
);
CREATE INDEX alerts_by_time ON alerts (raised_at DESC, alert_id DESC);
CREATE INDEX alerts_customer ON alerts (customer_id, raised_at);

-- The population model: one row per fit; the newest is in force.
CREATE TABLE population_model (
    version      integer     PRIMARY KEY,
    as_of        timestamptz,                         -- business time of the data it was fitted on
    fitted_at    timestamptz NOT NULL DEFAULT now(),
    customers    integer     NOT NULL,
    model        jsonb       NOT NULL,                -- params, spend model, log-likelihood
    cuts         jsonb       NOT NULL                 -- RFM cut points of the same data
);

-- Insights' clock: the latest business time seen in the events (the watermark) and where the
-- last refit boundary was. One row.
CREATE TABLE insights_clock (
    id          boolean     PRIMARY KEY DEFAULT true CHECK (id),
    watermark   timestamptz,
    swept_to    timestamptz
);
INSERT INTO insights_clock (id) VALUES (true);
