-- The console's own data: who may sign in, their sessions and failed sign-ins. No business data
-- (customers, orders, tickets, insights) is kept here: pages read it from the services.
CREATE TABLE people (
    id            uuid        PRIMARY KEY,
    name          text        NOT NULL UNIQUE,      -- what a person types to sign in (lower case)
    display_name  text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('admin', 'manager', 'sales', 'service', 'readonly')),
    owner         text,                             -- the owner id customers point to (salespeople)
    locale        text        NOT NULL DEFAULT 'zh-CN' CHECK (locale IN ('zh-CN', 'en')),
    password_hash text        NOT NULL,             -- argon2id, parameters inside the hash
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL,
    password_changed_at timestamptz NOT NULL
);

-- A session cookie holds a random token; only its SHA-256 is kept, so a copy of this table signs
-- nobody in. The CSRF token of the session's forms is kept with it.
CREATE TABLE sessions (
    token_sha256  text        PRIMARY KEY,
    person_id     uuid        NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    csrf_token    text        NOT NULL,
    created_at    timestamptz NOT NULL,
    seen_at       timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL              -- created_at + the longest a session may last
);
CREATE INDEX sessions_person ON sessions (person_id);

-- Wrong passwords, counted per account name (also for names that do not exist, so a probe
-- cannot tell them apart by the lock-out). A right password clears the account's rows.
CREATE TABLE sign_in_failures (
    name          text        NOT NULL,
    failed_at     timestamptz NOT NULL
);
CREATE INDEX sign_in_failures_name ON sign_in_failures (name, failed_at);
