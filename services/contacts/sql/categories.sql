-- Category changes, the orders that make customers current, and the win-back list and rate
-- (store/categories.py).

-- name: category_state_for_update
-- A customer's category and owner, locked for the change (two changes of one customer serialise).
SELECT id, owner, category, loss_reason, loss_kind, category_changed_at, merged_into
FROM customers WHERE id = $1
FOR UPDATE;

-- name: category_state
SELECT id, owner, category, loss_reason, loss_kind, category_changed_at, merged_into
FROM customers WHERE id = $1;

-- name: set_category
-- loss_reason and loss_kind are the current loss's: cleared when a customer leaves lost.
UPDATE customers
SET category = $2, loss_reason = $3, loss_kind = $4, category_changed_at = $5
WHERE id = $1;

-- name: insert_category_change
INSERT INTO category_changes (customer_id, changed_at, previous_category, category, reason, loss_reason,
                              loss_kind, changed_by, automatic, order_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: category_history
-- A customer's category changes, newest first.
SELECT changed_at, previous_category, category, reason, loss_reason, loss_kind, changed_by, automatic, order_id
FROM category_changes WHERE customer_id = $1
ORDER BY changed_at DESC, category
LIMIT $2;

-- name: category_states_for_orders
-- The customers of a batch of orders, locked in id order (concurrent batches never deadlock).
SELECT id, owner, category, loss_reason, loss_kind, category_changed_at, merged_into
FROM customers WHERE id = ANY($1::uuid[])
ORDER BY id
FOR UPDATE;

-- name: record_order_times
-- first_order_at only moves earlier and last_order_at only later, so an order delivered twice or
-- out of order changes nothing it should not.
UPDATE customers c
SET first_order_at = LEAST(c.first_order_at, o.first_at),
    last_order_at = GREATEST(c.last_order_at, o.last_at)
FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[]) AS o(id, first_at, last_at)
WHERE c.id = o.id;

-- name: win_back
-- Lost for a subjective reason by $1 (as_of), not merged, and reachable: a phone, an email or a
-- WeChat identity (or the phone and email of the record). Most recently lost first (index
-- customers_win_back, read in order until the page is full); the cursor is the last row's
-- (category_changed_at, id). $4: an owner's customers and the pool only (NULL: all).
SELECT c.id, c.name, c.owner, c.loss_reason, c.loss_kind, c.category_changed_at, c.phone, c.email,
       coalesce(ch.kinds, '{}') AS channels
FROM customers c
LEFT JOIN LATERAL (
    SELECT array_agg(DISTINCT i.kind ORDER BY i.kind) AS kinds FROM customer_identities i
    WHERE i.customer_id = c.id AND i.kind IN ('phone', 'email', 'wechat_openid', 'wechat_unionid')
) ch ON true
WHERE c.category = 'lost' AND c.loss_kind = 'subjective' AND c.merged_into IS NULL
  AND c.category_changed_at <= $1
  AND ($2::timestamptz IS NULL OR (c.category_changed_at, c.id) < ($2, $3::uuid))
  AND ($4::text IS NULL OR c.owner = $4 OR c.owner IS NULL)
  AND (c.phone IS NOT NULL OR c.email IS NOT NULL OR ch.kinds IS NOT NULL)
ORDER BY c.category_changed_at DESC, c.id DESC
LIMIT $5;

-- name: win_back_rates
-- Per loss reason: the losses in [$1, $2), and how many of them were won back by $3 (the next
-- category change of that customer after the loss, made by as_of, took them out of lost: to
-- prospective or current). $4 scopes as in win_back. The next change is one probe of the
-- primary key (customer_id, changed_at, ...) per loss.
SELECT l.loss_reason, count(*) AS lost,
       count(*) FILTER (WHERE nxt.category IN ('prospective', 'current') AND nxt.changed_at <= $3) AS won_back
FROM category_changes l
JOIN customers c ON c.id = l.customer_id
LEFT JOIN LATERAL (
    SELECT n.category, n.changed_at FROM category_changes n
    WHERE n.customer_id = l.customer_id AND n.changed_at > l.changed_at
    ORDER BY n.changed_at
    LIMIT 1
) nxt ON true
WHERE l.category = 'lost' AND l.changed_at >= $1 AND l.changed_at < $2 AND c.merged_into IS NULL
  AND ($4::text IS NULL OR c.owner = $4 OR c.owner IS NULL)
GROUP BY l.loss_reason;
