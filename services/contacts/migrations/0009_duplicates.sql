-- Duplicates (issue 11, part "merge"): blocking keys for the duplicate scan and the check on
-- registration, so candidates are found by index instead of comparing every pair.
-- name_key: the normalised name (services/contacts/domain/duplicates.py); pinyin_key: its usual
-- pinyin; phone_prefix: the first 7 digits of the national number. Computed in Python (pinyin
-- cannot be computed in SQL); dup_source is what they were computed from (name, phone), so rows
-- registered by other paths or edited later are recomputed (store/duplicates.py: refresh_keys).
ALTER TABLE customers
    ADD COLUMN name_key     text,
    ADD COLUMN pinyin_key   text,
    ADD COLUMN phone_prefix text,
    ADD COLUMN dup_source   text;
CREATE INDEX customers_name_key ON customers (name_key, phone_prefix) WHERE merged_into IS NULL;
CREATE INDEX customers_pinyin_key ON customers (pinyin_key, phone_prefix) WHERE merged_into IS NULL;
CREATE INDEX customers_email ON customers (email) WHERE email IS NOT NULL;

-- An identity typed under another kind (a phone in 'other'): compared by its last 11 digits.
CREATE INDEX customer_identities_digits
    ON customer_identities (right(regexp_replace(value, '[^0-9]', '', 'g'), 11))
    WHERE value ~ '^[0-9 ()+.-]{7,}$';
CREATE INDEX customer_identities_value ON customer_identities (value);

-- The last full scan, best pair first; GET /duplicates pages through it until a newer scan.
CREATE TABLE duplicate_scans (
    id         uuid        PRIMARY KEY,
    started_at timestamptz NOT NULL,
    ran_at     timestamptz NOT NULL,
    customers  integer     NOT NULL,
    pairs      integer     NOT NULL
);
CREATE TABLE duplicate_pairs (
    scan_id     uuid    NOT NULL REFERENCES duplicate_scans (id) ON DELETE CASCADE,
    rank        integer NOT NULL,
    customer_id uuid    NOT NULL,
    other_id    uuid    NOT NULL,
    score       integer NOT NULL,
    reasons     jsonb   NOT NULL,
    PRIMARY KEY (scan_id, rank)
);
