-- sqllock lease and run-once tables, SQLite dialect (a file database over
-- the SQLite ODBC driver). Safe to run again (IF NOT EXISTS). Times are
-- milliseconds since the epoch by the database's clock:
-- CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER).
-- The library runs it statement by statement, split at ';' (so no ';' may
-- appear inside a comment within a statement).
CREATE TABLE IF NOT EXISTS sqllock_lease (
    name        BLOB    PRIMARY KEY,
    owner_host  TEXT    NOT NULL,
    owner_pid   INTEGER NOT NULL,
    owner_id    TEXT    NOT NULL,
    token       INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL,   -- ms since the epoch
    expires_at  INTEGER NOT NULL,
    min_until   INTEGER NOT NULL,
    released    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sqllock_once (
    name        BLOB    PRIMARY KEY,
    done_at     INTEGER NOT NULL,
    done_by     TEXT    NOT NULL,
    token       INTEGER NOT NULL
);
