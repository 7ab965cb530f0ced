-- The placeholders of the receivables hooks (store/receivables_hooks.py); the receivables part
-- replaces both files.

-- name: unpaid_of_order
-- What the order still owes on its instalments (none before receivables schedule any).
SELECT coalesce(sum(amount - paid), 0)::numeric(14,2) FROM receivable_instalments WHERE order_id = $1;
