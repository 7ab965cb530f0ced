-- Who took an alert in hand, when, and what they said they did (POST /alerts/{id}/acknowledge).
-- An acknowledged alert stays open until its condition clears. The same facts are on the
-- customer's timeline (AlertAcknowledged), from where a replay puts them back on the rebuilt alerts.
ALTER TABLE alerts ADD COLUMN acknowledged_at timestamptz;
ALTER TABLE alerts ADD COLUMN acknowledged_by text;
ALTER TABLE alerts ADD COLUMN acknowledgement_note text;
-- GET /profiles filters and pages by these.
CREATE INDEX customer_profile_stage ON customer_profile (stage);
CREATE INDEX customer_profile_owner ON customer_profile (owner);
