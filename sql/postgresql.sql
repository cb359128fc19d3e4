-- sqllock lease and run-once tables, PostgreSQL dialect.
-- Installed by `sqllock init`, sqllock_install_schema(), or on first use by a
-- client that opened its own connection; safe to run again (IF NOT EXISTS).
-- The tables go to the first schema of the search_path.
-- Rows are never deleted on release, so that a name's fencing token never
-- goes back. Every time is the server's own (clock_timestamp()).
-- Over ODBC the library runs it statement by statement, split at ';' (so no
-- ';' may appear inside a comment within a statement).
BEGIN;
-- Serialises concurrent installs: CREATE TABLE IF NOT EXISTS alone can race.
SELECT pg_catalog.pg_advisory_xact_lock(32493254774580075);
CREATE TABLE IF NOT EXISTS sqllock_lease (
    name        bytea       PRIMARY KEY,  -- the lock name, any bytes
    owner_host  text        NOT NULL,
    owner_pid   bigint      NOT NULL,
    owner_id    text        NOT NULL,     -- random per client
    token       bigint      NOT NULL,     -- fencing token: only ever grows
    acquired_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,     -- free from then on
    min_until   timestamptz NOT NULL,     -- ttl_min_ms: held at least until
    released    boolean     NOT NULL DEFAULT false
) WITH (fillfactor = 70);  -- room on the page: acquire and release are HOT updates
CREATE TABLE IF NOT EXISTS sqllock_once (
    name        bytea       PRIMARY KEY,
    done_at     timestamptz NOT NULL,
    done_by     text        NOT NULL,
    token       bigint      NOT NULL
);
COMMIT;
