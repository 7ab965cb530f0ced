-- Ownership scopes (docs/architecture.md §11): who looks after each customer now, from the
-- contacts events (CustomerRegistered, CustomerOwnerAssigned, CustomerReturnedToPool). owner NULL:
-- the public pool. owner_at is when contacts recorded the fact: an older fact never overwrites a
-- newer one. A salesperson's reads are checked, and their lists filtered, against this table. It is
-- fed by the consumer alone, not rebuilt by a replay (the timeline it is filled from is the same).
CREATE TABLE customer_owners (
    customer_id  uuid        PRIMARY KEY,
    owner        text,
    owner_at     timestamptz NOT NULL
);
CREATE INDEX customer_owners_owner ON customer_owners (owner, customer_id);

-- The owners of the customers already on the timeline: each one's newest owner fact.
INSERT INTO customer_owners (customer_id, owner, owner_at)
SELECT DISTINCT ON (customer_id)
       customer_id, CASE WHEN event_type = 'CustomerReturnedToPool' THEN NULL ELSE data ->> 'owner' END, recorded_at
FROM timeline
WHERE event_type IN ('CustomerRegistered', 'CustomerOwnerAssigned', 'CustomerReturnedToPool')
ORDER BY customer_id, recorded_at DESC, event_id DESC;
