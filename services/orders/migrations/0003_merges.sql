-- Customers merged in contacts (CustomersMerged on kehu.contacts): which merge moved which of
-- the orders to the survivor, so CustomerMergeUndone moves exactly those back (shared/merges.py).
CREATE TABLE customer_merges (
    merge_id    uuid        PRIMARY KEY,
    merged_id   uuid        NOT NULL,
    survivor_id uuid        NOT NULL,
    merged_at   timestamptz NOT NULL DEFAULT now(),
    undone_at   timestamptz
);
CREATE INDEX customer_merges_merged ON customer_merges (merged_id) WHERE undone_at IS NULL;

CREATE TABLE merge_moved_rows (
    merge_id uuid NOT NULL REFERENCES customer_merges (merge_id),
    row_id   uuid NOT NULL,
    PRIMARY KEY (merge_id, row_id)
);
