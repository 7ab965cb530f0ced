-- Databases and migrations (shared.db), and the readiness probe.

-- name: database_exists
SELECT 1 FROM pg_database WHERE datname = $1;

-- name: create_database_statement
-- An identifier cannot be a bind parameter: PostgreSQL quotes the name (%I) into the statement.
SELECT format('CREATE DATABASE %I', $1::text);

-- name: lock_migrations
SELECT pg_advisory_lock($1);

-- name: unlock_migrations
SELECT pg_advisory_unlock($1);

-- name: create_schema_migrations
CREATE TABLE IF NOT EXISTS schema_migrations (
    namespace  text        NOT NULL,
    version    integer     NOT NULL,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, version)
);

-- name: applied_migrations
SELECT namespace, version FROM schema_migrations;

-- name: record_migration
INSERT INTO schema_migrations (namespace, version, name) VALUES ($1, $2, $3);

-- name: ping
SELECT 1;
