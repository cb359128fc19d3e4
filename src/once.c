/* SPDX-License-Identifier: MIT */
/*
 * Run once across a fleet, and installing the tables it (and the lease
 * backend) keeps its state in.
 *
 * Mutual exclusion comes from the connection's own session lock (an advisory
 * lock of the same name), not from a lease: its holder's death frees it at
 * once, and it cannot expire under a migration that runs longer than any
 * ttl. The sqllock_once table only records that the job is done. So:
 *   done?  -> skip.  Otherwise take the lock (waiting up to wait_ms), look
 *   again (a runner may have finished while we waited), run fn, and record
 *   the marker only when fn returned 0; release on every path.
 * A failed fn or a dead runner leaves no marker, so the next caller runs it;
 * so does a marker that could not be recorded, which *ran_out tells apart.
 * A database without session locks (SQLite) guards fn with a lease of
 * LEASE_RUN_ONCE_TTL_MS instead: a runner that dies holds the job up until
 * it expires, and a fn that runs longer lets a second runner in.
 */
#include <string.h>

#include "lease_int.h"

static sqllock_status check_name(sqllock_client *c, const char *name, size_t *len,
                                 const char *what)
{
    if (!name)
        return sqllock__fail(c, SQLLOCK_EINVAL, "%s: the name is NULL", what);
    *len = strnlen(name, SQLLOCK_NAME_MAX + 1);
    if (*len == 0)
        return sqllock__fail(c, SQLLOCK_EINVAL, "%s: the name is empty", what);
    if (*len > SQLLOCK_NAME_MAX)
        return sqllock__fail(c, SQLLOCK_EINVAL,
                             "%s: the name is longer than "
                             "SQLLOCK_NAME_MAX (%d bytes)",
                             what, SQLLOCK_NAME_MAX);
    return SQLLOCK_OK;
}

/* The lease backend that keeps run-once markers, or NULL with c's error set. */
static const struct sqllock_backend *marker_backend(sqllock_client *c, const char *what)
{
    sqllock__err_clear(c);
    if (sqllock__check_usable(c, what) != SQLLOCK_OK)
        return NULL;
    if (!c->be) {
        sqllock__fail(c, SQLLOCK_ESTATE, "%s: the client is not connected", what);
        return NULL;
    }
    if (!c->lease_be || !(c->lease_be->caps & SQLLOCK_CAP_MARKERS)) {
        sqllock__fail(c, SQLLOCK_ENOTSUP,
                      "%s: the %s backend has no lease tables (run "
                      "once needs PostgreSQL, over libpq or ODBC, or SQLite over ODBC)",
                      what, c->be->name);
        return NULL;
    }
    return c->lease_be;
}

sqllock_status sqllock_run_once(int *ran_out, sqllock_client *c, const char *name,
                                int64_t wait_ms, int (*fn)(void *payload), void *payload)
{
    if (ran_out)
        *ran_out = SQLLOCK_RAN_NONE;
    if (!c)
        return SQLLOCK_EINVAL;
    const struct sqllock_backend *mb = marker_backend(c, "run once");
    if (!mb)
        return c->last_status;
    size_t len = 0;
    sqllock_status st = check_name(c, name, &len, "run once");
    if (st != SQLLOCK_OK)
        return st;
    if (!fn)
        return sqllock__fail(c, SQLLOCK_EINVAL, "run once: fn is NULL");

    int done = 0;
    if ((st = mb->once_done(c, name, len, &done)) != SQLLOCK_OK || done)
        return sqllock__done(c, st);
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.wait_ms = wait_ms;
    if (!(c->be->caps & SQLLOCK_CAP_SESSION)) /* SQLite: a lease guards fn */
        o.ttl_ms = LEASE_RUN_ONCE_TTL_MS;
    sqllock_lock *l;
    if ((st = sqllock_acquire(&l, c, name, &o)) != SQLLOCK_OK)
        return st;
    int ran = SQLLOCK_RAN_NONE;
    st = mb->once_done(c, name, len, &done);
    if (st == SQLLOCK_OK && !done) {
        if (fn(payload) != 0)
            ran = SQLLOCK_RAN_FN_FAILED;
        else if ((st = mb->once_mark(c, name, len, l->token)) == SQLLOCK_OK)
            ran = SQLLOCK_RAN_RECORDED;
        else
            ran = SQLLOCK_RAN_NOT_RECORDED;
    }
    if (ran_out)
        *ran_out = ran;
    /* The marker's outcome matters more than the release's: a lock lost
       while fn ran (its session died) has already been freed anyway. */
    struct sqllock_err failed;
    sqllock__err_save(c, &failed);
    sqllock_status rel = sqllock_release(l);
    if (st != SQLLOCK_OK) {
        (void)sqllock__err_restore(c, &failed);
        return sqllock__done(c, st);
    }
    return sqllock__done(c, rel == SQLLOCK_LOST ? SQLLOCK_OK : rel);
}

sqllock_status sqllock_once_forget(int *existed_out, sqllock_client *c, const char *name)
{
    if (existed_out)
        *existed_out = 0;
    if (!c)
        return SQLLOCK_EINVAL;
    const struct sqllock_backend *mb = marker_backend(c, "forget");
    if (!mb)
        return c->last_status;
    size_t len = 0;
    sqllock_status st = check_name(c, name, &len, "forget");
    if (st != SQLLOCK_OK)
        return st;
    int existed = 0;
    st = mb->once_forget(c, name, len, &existed);
    if (existed_out)
        *existed_out = existed;
    return sqllock__done(c, st);
}

sqllock_status sqllock_install_schema(sqllock_client *c)
{
    if (!c)
        return SQLLOCK_EINVAL;
    const struct sqllock_backend *mb = marker_backend(c, "install schema");
    return mb ? sqllock__done(c, mb->install_schema(c)) : c->last_status;
}
