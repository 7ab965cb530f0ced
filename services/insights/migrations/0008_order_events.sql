-- An order's later events (approval, cancel, return) are folded against the order itself
-- (services/insights/ledger.py `resolve`): the live consumer finds the order's events on the
-- timeline by the order id they carry.
CREATE INDEX timeline_order ON timeline ((data ->> 'order_id'))
    WHERE event_type IN ('OrderPlaced', 'OrderApprovalDecided', 'OrderCancelled', 'OrderReturned');
