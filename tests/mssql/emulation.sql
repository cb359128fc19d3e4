-- EMULATION, NOT SQL SERVER. A PostgreSQL-side stand-in for SQL Server's
-- sp_getapplock, sp_releaseapplock, APPLOCK_TEST and APPLOCK_MODE, written
-- from Microsoft's documentation of those procedures and functions, so that
-- sqllock's mssql-applock adapter can be run through real unixODBC and the
-- real PostgreSQL ODBC driver (psqlODBC) sending exactly the statements it
-- would send to SQL Server ({? = call sp_getapplock(?, ?, ?, ?)} and so on).
-- It has never been compared with a real SQL Server; what it honours:
--
--   * sp_getapplock(@Resource, @LockMode, @LockOwner, @LockTimeout
--     [, @DbPrincipal]) returns 0 (granted at once), 1 (granted after a
--     wait), -1 (timed out), -2 (canceled), -3 (deadlock victim), -999
--     (parameter validation or other call error, with a WARNING carrying
--     the reason, which the driver reports as diagnostics).
--   * @LockMode 'Shared' and 'Exclusive' (case-insensitive, as on SQL Server);
--     'Update', 'IntentShared' and 'IntentExclusive' exist on SQL Server but
--     are not emulated (-999).
--   * @LockOwner 'Session' (held until released or the session ends,
--     re-entrant and counted) and 'Transaction' (held until COMMIT or
--     ROLLBACK). SQL Server refuses 'Transaction' outside a transaction;
--     PostgreSQL cannot tell an explicit transaction from a one-statement
--     one, so this emulation cannot refuse it (the adapter checks first).
--   * @LockTimeout: -1 waits forever, 0 does not wait, n > 0 waits n ms.
--     The wait is PostgreSQL's own lock queue (advisory locks), so a
--     release hands the lock to the next waiter at once.
--   * @Resource is compared as binary (case-sensitive) and must be 1..255
--     characters. Resources live in their own key space: the advisory key
--     is hashtextextended(resource, 1433), so they never collide with
--     sqllock's pg-advisory keys (seed 0).
--   * A canceled wait (the client's SQLCancel, which reaches PostgreSQL as a
--     query cancel) returns -2 and leaves the caller's transaction usable.
--   * sp_releaseapplock(@Resource, @LockOwner [, @DbPrincipal]) returns 0,
--     or -999 with a WARNING when the lock is not held (SQL Server raises
--     error 1223 there).
--   * APPLOCK_TEST(principal, resource, mode, owner) is 1 when the lock
--     could be granted to this session at once, 0 otherwise;
--     APPLOCK_MODE(principal, resource, owner) is the mode this session
--     holds ('Shared', 'Exclusive') or 'NoLock'. PostgreSQL's pg_locks does
--     not say whether an advisory lock is session- or transaction-owned, so
--     APPLOCK_MODE reports a hold by either owner.
--
-- Tests force a result: a row in sqllock_emulation_force(pid, code) makes
-- the next sp_getapplock call of backend `pid` return `code` (-1, -2, -3,
-- -999, ...) without touching any lock; the row is consumed.

CREATE TABLE IF NOT EXISTS sqllock_emulation_force (pid int NOT NULL, code int NOT NULL);
GRANT ALL ON sqllock_emulation_force TO PUBLIC;

CREATE OR REPLACE FUNCTION sqllock_emulation_key(resource text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT pg_catalog.hashtextextended(resource, 1433) $$;

-- NULL when the arguments are valid, else the reason (SQL Server's -999).
CREATE OR REPLACE FUNCTION sqllock_emulation_invalid(resource text, lockmode text,
                                                     lockowner text, principal text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN resource IS NULL OR length(resource) = 0 THEN 'the resource name is empty'
    WHEN length(resource) > 255 THEN 'the resource name is longer than 255 characters'
    WHEN lower(lockmode) IN ('update', 'intentshared', 'intentexclusive')
      THEN 'lock mode ' || lockmode || ' is not emulated'
    WHEN lockmode IS NULL OR lower(lockmode) NOT IN ('shared', 'exclusive')
      THEN 'invalid lock mode ' || coalesce(lockmode, 'NULL')
    WHEN lockowner IS NULL OR lower(lockowner) NOT IN ('session', 'transaction')
      THEN 'invalid lock owner ' || coalesce(lockowner, 'NULL')
    WHEN principal IS DISTINCT FROM 'public' THEN 'database principal ' ||
      coalesce(principal, 'NULL') || ' does not exist (only public is emulated)'
  END $$;

-- The granted advisory mode this session holds on resource, or NULL.
CREATE OR REPLACE FUNCTION sqllock_emulation_held(resource text) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT max(mode) FROM pg_catalog.pg_locks
   WHERE locktype = 'advisory' AND granted AND pid = pg_catalog.pg_backend_pid()
     AND objsubid = 1
     AND database = (SELECT oid FROM pg_catalog.pg_database
                     WHERE datname = pg_catalog.current_database())
     AND classid = ((sqllock_emulation_key(resource) >> 32) & 4294967295)::oid
     AND objid = (sqllock_emulation_key(resource) & 4294967295)::oid $$;

CREATE OR REPLACE FUNCTION sp_getapplock(resource text, lockmode text, lockowner text,
                                         locktimeout int DEFAULT NULL,
                                         dbprincipal text DEFAULT 'public')
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  why text := sqllock_emulation_invalid(resource, lockmode, lockowner, dbprincipal);
  forced int;
  k bigint;
  shared boolean := lower(lockmode) = 'shared';
  xact boolean := lower(lockowner) = 'transaction';
  waited boolean := false;
  saved_lt text := pg_catalog.current_setting('lock_timeout');
BEGIN
  DELETE FROM sqllock_emulation_force f
   WHERE f.ctid = (SELECT ctid FROM sqllock_emulation_force
                    WHERE pid = pg_catalog.pg_backend_pid() LIMIT 1)
  RETURNING f.code INTO forced;
  IF forced IS NOT NULL THEN
    IF forced = -999 THEN
      RAISE WARNING 'sp_getapplock (emulated): forced -999 for resource "%"', resource;
    END IF;
    RETURN forced;
  END IF;
  IF locktimeout IS NULL THEN
    locktimeout := -1;  -- SQL Server: the session's LOCK_TIMEOUT, by default -1
  END IF;
  IF why IS NULL AND locktimeout < -1 THEN
    why := 'invalid lock timeout ' || locktimeout;
  END IF;
  IF why IS NOT NULL THEN
    RAISE WARNING 'sp_getapplock (emulated): %', why;
    RETURN -999;
  END IF;
  k := sqllock_emulation_key(resource);

  -- Granted at once?
  IF xact THEN
    IF shared THEN
      IF pg_catalog.pg_try_advisory_xact_lock_shared(k) THEN RETURN 0; END IF;
    ELSIF pg_catalog.pg_try_advisory_xact_lock(k) THEN RETURN 0;
    END IF;
  ELSIF shared THEN
    IF pg_catalog.pg_try_advisory_lock_shared(k) THEN RETURN 0; END IF;
  ELSIF pg_catalog.pg_try_advisory_lock(k) THEN RETURN 0;
  END IF;
  IF locktimeout = 0 THEN
    RETURN -1;
  END IF;

  -- Wait in the server's queue, bounded by lock_timeout (0: no bound). The
  -- block is a subtransaction: an error rolls back the set_config too.
  BEGIN
    PERFORM pg_catalog.set_config('lock_timeout',
      CASE WHEN locktimeout = -1 THEN '0' ELSE locktimeout || 'ms' END, true);
    IF xact THEN
      IF shared THEN PERFORM pg_catalog.pg_advisory_xact_lock_shared(k);
      ELSE PERFORM pg_catalog.pg_advisory_xact_lock(k); END IF;
    ELSIF shared THEN PERFORM pg_catalog.pg_advisory_lock_shared(k);
    ELSE PERFORM pg_catalog.pg_advisory_lock(k);
    END IF;
    PERFORM pg_catalog.set_config('lock_timeout', saved_lt, true);
    waited := true;
  EXCEPTION
    WHEN lock_not_available THEN RETURN -1;
    WHEN query_canceled THEN RETURN -2;
    WHEN deadlock_detected THEN RETURN -3;
  END;
  -- A transaction lock taken inside the block above belongs to the
  -- subtransaction, which committed into the caller's transaction: held
  -- until it ends, as SQL Server's would be.
  RETURN CASE WHEN waited THEN 1 ELSE -999 END;
END $$;

CREATE OR REPLACE FUNCTION sp_releaseapplock(resource text, lockowner text DEFAULT 'Transaction',
                                             dbprincipal text DEFAULT 'public')
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  why text := sqllock_emulation_invalid(resource, 'Exclusive', lockowner, dbprincipal);
  held text := sqllock_emulation_held(resource);
BEGIN
  IF why IS NOT NULL THEN
    RAISE WARNING 'sp_releaseapplock (emulated): %', why;
    RETURN -999;
  END IF;
  IF held IS NULL OR lower(lockowner) = 'transaction' THEN
    -- PostgreSQL cannot release a transaction-level advisory lock early.
    RAISE WARNING 'Cannot release the application lock (Database Principal: ''%'', '
                  'Resource: ''%'') because it is not currently held.', dbprincipal, resource;
    RETURN -999;
  END IF;
  IF held = 'ShareLock' THEN
    PERFORM pg_catalog.pg_advisory_unlock_shared(sqllock_emulation_key(resource));
  ELSE
    PERFORM pg_catalog.pg_advisory_unlock(sqllock_emulation_key(resource));
  END IF;
  RETURN 0;
END $$;

CREATE OR REPLACE FUNCTION applock_mode(dbprincipal text, resource text, lockowner text)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
  why text := sqllock_emulation_invalid(resource, 'Exclusive', lockowner, dbprincipal);
  held text;
BEGIN
  IF why IS NOT NULL THEN
    RAISE EXCEPTION 'APPLOCK_MODE (emulated): %', why;
  END IF;
  held := sqllock_emulation_held(resource);
  RETURN CASE held WHEN 'ShareLock' THEN 'Shared' WHEN 'ExclusiveLock' THEN 'Exclusive'
                   ELSE 'NoLock' END;
END $$;

CREATE OR REPLACE FUNCTION applock_test(dbprincipal text, resource text, lockmode text,
                                        lockowner text)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  why text := sqllock_emulation_invalid(resource, lockmode, lockowner, dbprincipal);
  k bigint;
  got boolean;
BEGIN
  IF why IS NOT NULL THEN
    RAISE EXCEPTION 'APPLOCK_TEST (emulated): %', why;
  END IF;
  k := sqllock_emulation_key(resource);
  -- Try the lock in a subtransaction that is always rolled back, so nothing
  -- stays held (a session lock is undone by hand: it ignores rollback).
  IF lower(lockmode) = 'shared' THEN
    got := pg_catalog.pg_try_advisory_lock_shared(k);
    IF got THEN PERFORM pg_catalog.pg_advisory_unlock_shared(k); END IF;
  ELSE
    got := pg_catalog.pg_try_advisory_lock(k);
    IF got THEN PERFORM pg_catalog.pg_advisory_unlock(k); END IF;
  END IF;
  RETURN got::int;
END $$;
