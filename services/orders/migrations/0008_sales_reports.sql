-- Sales reports (docs/architecture.md §14.6) read the orders of a range of business time.
CREATE INDEX orders_occurred ON orders (occurred_at);
