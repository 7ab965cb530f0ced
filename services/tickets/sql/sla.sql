-- name: calendar_week
SELECT weekly FROM shop_calendar WHERE id = 1;

-- name: calendar_days
-- The days that differ from the week; the clocks look ahead, never far back.
SELECT day, hours, name FROM calendar_days ORDER BY day;

-- name: policy
SELECT first_response_min, resolution_min FROM sla_policies WHERE kind = $1 AND priority = $2;
