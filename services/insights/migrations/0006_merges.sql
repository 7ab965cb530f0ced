-- Customers merged in contacts (CustomersMerged): the merged customer's timeline moves to the
-- survivor, noted per merge, so CustomerMergeUndone moves exactly those events back; events that
-- arrive for the merged id after the merge are the survivor's too (and noted likewise).
CREATE TABLE customer_merges (
    merge_id    uuid        PRIMARY KEY,
    merged_id   uuid        NOT NULL,
    survivor_id uuid        NOT NULL,
    merged_at   timestamptz NOT NULL DEFAULT now(),
    undone_at   timestamptz
);
CREATE INDEX customer_merges_merged ON customer_merges (merged_id) WHERE undone_at IS NULL;

CREATE TABLE merge_moved_events (
    merge_id uuid NOT NULL REFERENCES customer_merges (merge_id),
    event_id uuid NOT NULL,
    PRIMARY KEY (merge_id, event_id)
);
