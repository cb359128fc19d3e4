/* SPDX-License-Identifier: MIT */
/*
 * The lock API over any backend: argument and option checks, the refusal of
 * re-entry, handle allocation, and the execute-with-lock helpers built on
 * acquire and release.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqllock_int.h"

static void clear_error(sqllock_client *c)
{
    sqllock__err_clear(c);
}

static sqllock_status done(sqllock_client *c, sqllock_status st)
{
    return sqllock__done(c, st);
}

static sqllock_status check_opts(sqllock_client *c, const sqllock_acquire_opts *o)
{
    if (o->version != SQLLOCK_ACQUIRE_OPTS_VERSION)
        return sqllock__fail(c, SQLLOCK_EINVAL,
                             "acquire: options version %d is not supported (this library "
                             "knows version %d; start from SQLLOCK_ACQUIRE_OPTS_INIT)",
                             o->version, SQLLOCK_ACQUIRE_OPTS_VERSION);
    if (o->wait_ms < 0 && o->wait_ms != SQLLOCK_WAIT_FOREVER)
        return sqllock__fail(c, SQLLOCK_EINVAL,
                             "acquire: wait_ms %lld is negative (use SQLLOCK_WAIT_FOREVER)",
                             (long long)o->wait_ms);
    if (o->wait_ms > INT_MAX)
        return sqllock__fail(c, SQLLOCK_EINVAL,
                             "acquire: wait_ms %lld exceeds %d (use SQLLOCK_WAIT_FOREVER)",
                             (long long)o->wait_ms, INT_MAX);
    if (o->mode != SQLLOCK_EXCLUSIVE && o->mode != SQLLOCK_SHARED)
        return sqllock__fail(c, SQLLOCK_EINVAL,
                             "acquire: mode %d is neither "
                             "SQLLOCK_EXCLUSIVE nor SQLLOCK_SHARED",
                             o->mode);
    if (o->scope != SQLLOCK_SESSION && o->scope != SQLLOCK_TRANSACTION)
        return sqllock__fail(c, SQLLOCK_EINVAL,
                             "acquire: scope %d is neither "
                             "SQLLOCK_SESSION nor SQLLOCK_TRANSACTION",
                             o->scope);
    if (o->ttl_ms < 0 || o->ttl_min_ms < 0)
        return sqllock__fail(c, SQLLOCK_EINVAL,
                             "acquire: ttl_ms and ttl_min_ms must not be "
                             "negative");
    if (o->ttl_min_ms > 0 && o->ttl_min_ms > o->ttl_ms)
        return sqllock__fail(c, SQLLOCK_EINVAL,
                             "acquire: ttl_min_ms (%lld) needs a ttl_ms at "
                             "least as long (ttl_ms is %lld)",
                             (long long)o->ttl_min_ms, (long long)o->ttl_ms);
    if (o->ttl_ms > SQLLOCK_TTL_MAX_MS || o->ttl_min_ms > SQLLOCK_TTL_MAX_MS)
        return sqllock__fail(c, SQLLOCK_EINVAL,
                             "acquire: ttl_ms and ttl_min_ms must not "
                             "exceed %lld (about a year)",
                             (long long)SQLLOCK_TTL_MAX_MS);
    return SQLLOCK_OK;
}

/*
 * The backend that takes a lock with these options: a ttl selects the one
 * whose locks expire, which exists on some connections only and may not do
 * everything a server primitive can. NULL with c's error set when none can.
 */
static const struct sqllock_backend *route(sqllock_client *c, const sqllock_acquire_opts *o,
                                           int is_key)
{
    if (o->ttl_ms == 0) {
        if (o->ttl_min_ms > 0) {
            sqllock__fail(c, SQLLOCK_EINVAL, "acquire: ttl_min_ms needs a ttl_ms");
            return NULL;
        }
        if (!(c->be->caps & SQLLOCK_CAP_SESSION)) {
            sqllock__fail(c, SQLLOCK_ENOTSUP,
                          "acquire: this database has no session "
                          "locks, only leases: give ttl_ms > 0");
            return NULL;
        }
        if (is_key && !(c->be->caps & SQLLOCK_CAP_NUMERIC_KEYS)) {
            sqllock__fail(c, SQLLOCK_ENOTSUP, "acquire: the %s backend has no numeric keys",
                          c->be->name);
            return NULL;
        }
        return c->be;
    }
    const struct sqllock_backend *be = c->lease_be;
    const char *why = NULL;
    if (!be)
        why = "this connection has no lease backend (leases run on PostgreSQL, over "
              "libpq or ODBC, and on SQLite over ODBC)";
    else if (is_key && !(be->caps & SQLLOCK_CAP_NUMERIC_KEYS))
        why = "leases are named; numeric keys are advisory locks only";
    else if (o->mode == SQLLOCK_SHARED && !(be->caps & SQLLOCK_CAP_SHARED))
        why = "shared mode is not supported on leases (a lease has one holder)";
    else if (o->scope == SQLLOCK_TRANSACTION && !(be->caps & SQLLOCK_CAP_TRANSACTION))
        why = "a lease is not tied to a transaction (it expires by its ttl)";
    if (why) {
        sqllock__fail(c, SQLLOCK_ENOTSUP, "acquire: ttl_ms > 0: %s", why);
        return NULL;
    }
    return be;
}

/*
 * An entry with this identity is already in the set. A live session lock is
 * certainly still ours; transaction-scoped and foreign entries may have
 * ended without us seeing it, so the server decides, through the entry's
 * own backend (a lease's is not the client's primary). A backend that
 * cannot tell (no still_held) gets the entry counted as held: refusing is
 * safe, a second hold is not.
 */
static sqllock_status refuse_or_forget(sqllock_client *c, sqllock_lock *e)
{
    if (!(e->kind == SQLLOCK_ENTRY_LIVE && e->scope == SQLLOCK_SESSION)) {
        int held = e->be->still_held ? e->be->still_held(c, e) : 1;
        if (held < 0)
            return (sqllock_status)held;
        if (!held) {
            if (e->kind == SQLLOCK_ENTRY_LIVE) {
                sqllock__held_end(&c->held, e);
            } else {
                sqllock__held_remove(&c->held, e);
                free(e);
            }
            return SQLLOCK_OK;
        }
    }
    if (e->kind == SQLLOCK_ENTRY_FOREIGN)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "acquire: the session already held this lock when it was "
                             "attached; advisory locks are re-entrant on the server, so it "
                             "is not taken twice");
    return sqllock__fail(c, SQLLOCK_ESTATE,
                         "acquire: this client already holds this lock%s%s%s (a lock is "
                         "never taken twice by one client)",
                         e->name_len ? " (as \"" : "", e->name_len ? e->name : "",
                         e->name_len ? "\")" : "");
}

sqllock_status sqllock__acquire_prepare(sqllock_lock **lp, sqllock_client *c, const char *name,
                                        int is_key, int64_t key, int space,
                                        const sqllock_acquire_opts *opts, int nonblocking)
{
    static const sqllock_acquire_opts defaults = SQLLOCK_ACQUIRE_OPTS_INIT;
    *lp = NULL;
    clear_error(c);
    if (sqllock__check_usable(c, "acquire") != SQLLOCK_OK)
        return c->last_status;
    if (!c->be)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "acquire: the client is not connected "
                             "(its connect failed)");
    if (!opts)
        opts = &defaults;
    sqllock_status st = check_opts(c, opts);
    if (st != SQLLOCK_OK)
        return st;
    /* A connection of ours that broke opens again: here for the blocking
       calls, as the first steps of the operation for the non-blocking ones
       (nonblock.c); either way the old session's locks are lost first. A
       session the server ended while the client was idle has said so on
       the socket: reading that (no round trip) makes this acquire the one
       that reconnects, instead of one that fails on a dead connection. */
    if (c->owns_connection && c->conn && c->conn_ops->alive && c->conn_ops->reconnect)
        (void)c->conn_ops->alive(c->conn);
    if (nonblocking && sqllock__client_broken(c))
        sqllock__held_lose_session(&c->held);
    else if (!nonblocking && (st = sqllock__client_revive(c)) != SQLLOCK_OK)
        return sqllock__done(c, st);
    const struct sqllock_backend *be = route(c, opts, is_key);
    if (!be)
        return c->last_status;
    if (nonblocking && !be->step)
        return sqllock__fail(c, SQLLOCK_ENOTSUP,
                             "acquire: %s locks cannot be taken without blocking on this "
                             "connection (over ODBC, whose asynchronous mode is not reliable "
                             "across drivers, only the blocking calls work)",
                             be->name);

    size_t len = 0;
    uint64_t ident;
    if (is_key) {
        ident = (uint64_t)key;
    } else {
        if (!name)
            return sqllock__fail(c, SQLLOCK_EINVAL, "acquire: the name is NULL");
        len = strnlen(name, SQLLOCK_NAME_MAX + 1);
        if (len == 0)
            return sqllock__fail(c, SQLLOCK_EINVAL, "acquire: the name is empty");
        if (len > SQLLOCK_NAME_MAX)
            return sqllock__fail(c, SQLLOCK_EINVAL,
                                 "acquire: the name is longer than "
                                 "SQLLOCK_NAME_MAX (%d bytes)",
                                 SQLLOCK_NAME_MAX);
        ident = be->ident(name, len);
    }

    if (c->held.retired && !c->be->in_transaction(c))
        sqllock__held_drop_retired(&c->held);
    sqllock_lock *e = sqllock__held_find(&c->held, be, ident, space);
    if (e && (st = refuse_or_forget(c, e)) != SQLLOCK_OK)
        return done(c, st);

    if (opts->wait_ms != 0 && sqllock__cancel_take(c))
        return sqllock__fail(c, SQLLOCK_CANCELED, "acquire: canceled before the wait began");

    if (sqllock__held_reserve(&c->held) != SQLLOCK_OK)
        return sqllock__fail(c, SQLLOCK_ENOMEM, "acquire: out of memory");
    sqllock_lock *l = calloc(1, sizeof(*l) + len + 1);
    if (!l)
        return sqllock__fail(c, SQLLOCK_ENOMEM, "acquire: out of memory");
    l->client = c;
    l->be = be;
    l->ident = ident;
    l->mode = (unsigned char)opts->mode;
    l->scope = (unsigned char)opts->scope;
    l->kind = SQLLOCK_ENTRY_LIVE;
    l->is_key = (unsigned char)is_key;
    l->space = (unsigned char)space;
    l->name_len = (uint32_t)len;
    if (len)
        memcpy(l->name, name, len);

    l->ttl_ms = opts->ttl_ms;
    l->ttl_min_ms = opts->ttl_min_ms;
    *lp = l;
    return SQLLOCK_OK;
}

sqllock_status sqllock__acquire_end(sqllock_client *c, sqllock_lock *l, sqllock_status st,
                                    sqllock_lock **out)
{
    if (st != SQLLOCK_OK) {
        free(l);
        return done(c, st);
    }
    sqllock__held_add(&c->held, l);
    *out = l;
    return done(c, SQLLOCK_OK);
}

static sqllock_status acquire(sqllock_lock **out, sqllock_client *c, const char *name,
                              int is_key, int64_t key, int space,
                              const sqllock_acquire_opts *opts)
{
    if (!out)
        return c ? sqllock__fail(c, SQLLOCK_EINVAL, "acquire: out is NULL") : SQLLOCK_EINVAL;
    *out = NULL;
    if (!c)
        return SQLLOCK_EINVAL;
    sqllock_lock *l;
    sqllock_status st = sqllock__acquire_prepare(&l, c, name, is_key, key, space, opts, 0);
    if (st != SQLLOCK_OK)
        return st;
    return sqllock__acquire_end(
        c, l, sqllock__op_run(c, SQLLOCK_OP_ACQUIRE, l, opts ? opts->wait_ms : 0), out);
}

sqllock_status sqllock_acquire(sqllock_lock **out, sqllock_client *c, const char *name,
                               const sqllock_acquire_opts *opts)
{
    return acquire(out, c, name, 0, 0, SQLLOCK_SPACE_INT8, opts);
}

sqllock_status sqllock_acquire_key(sqllock_lock **out, sqllock_client *c, int64_t key,
                                   const sqllock_acquire_opts *opts)
{
    return acquire(out, c, NULL, 1, key, SQLLOCK_SPACE_INT8, opts);
}

sqllock_status sqllock_acquire_key_pair(sqllock_lock **out, sqllock_client *c, int32_t a,
                                        int32_t b, const sqllock_acquire_opts *opts)
{
    uint64_t bits = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    return acquire(out, c, NULL, 1, (int64_t)bits, SQLLOCK_SPACE_PAIR, opts);
}

sqllock_status sqllock__release_end(sqllock_lock *l, sqllock_status st)
{
    sqllock_client *c = l->client;
    if (st == SQLLOCK_ESTATE)
        return done(c, st);
    if (st == SQLLOCK_OK && l->scope == SQLLOCK_TRANSACTION) {
        /* The server keeps it until the transaction ends; so must the set,
           or a second acquire in this transaction would be re-entrant. */
        sqllock__held_retire(&c->held, l);
        return done(c, st);
    }
    sqllock__held_remove(&c->held, l);
    free(l);
    return done(c, st);
}

sqllock_status sqllock__handle_prepare(sqllock_lock *l, enum sqllock_op_kind kind)
{
    const char *what = kind == SQLLOCK_OP_RELEASE ? "release" : "check";
    sqllock_client *c = l->client;
    clear_error(c);
    if (sqllock__check_usable(c, what) != SQLLOCK_OK)
        return c->last_status;
    if (l->kind != SQLLOCK_ENTRY_ENDED)
        return SQLLOCK_OK;
    if (l->lost)
        sqllock__fail(c, SQLLOCK_LOST,
                      "%s: the connection was lost, and the lock with it (the client has "
                      "connected again since)",
                      what);
    else
        sqllock__fail(c, SQLLOCK_LOST,
                      "%s: the transaction that held the lock had already ended", what);
    return kind == SQLLOCK_OP_RELEASE ? sqllock__release_end(l, SQLLOCK_LOST) : SQLLOCK_LOST;
}

/* A release or check of l, blocking. */
static sqllock_status on_handle(sqllock_lock *l, enum sqllock_op_kind kind)
{
    if (!l)
        return SQLLOCK_EINVAL;
    sqllock_status st = sqllock__handle_prepare(l, kind);
    if (st != SQLLOCK_OK)
        return st;
    st = sqllock__op_run(l->client, kind, l, 0);
    return kind == SQLLOCK_OP_RELEASE ? sqllock__release_end(l, st) : done(l->client, st);
}

sqllock_status sqllock_release(sqllock_lock *l)
{
    return on_handle(l, SQLLOCK_OP_RELEASE);
}

sqllock_status sqllock_check(sqllock_lock *l)
{
    return on_handle(l, SQLLOCK_OP_CHECK);
}

sqllock_status sqllock_extend(sqllock_lock *l, int64_t ttl_ms)
{
    if (!l)
        return SQLLOCK_EINVAL;
    sqllock_client *c = l->client;
    clear_error(c);
    if (sqllock__check_usable(c, "extend") != SQLLOCK_OK)
        return c->last_status;
    if (!(l->be->caps & SQLLOCK_CAP_EXPIRY))
        return sqllock__fail(c, SQLLOCK_ENOTSUP,
                             "extend: %s locks do not expire, so there "
                             "is nothing to extend",
                             l->be->name);
    if (ttl_ms <= 0 || ttl_ms > SQLLOCK_TTL_MAX_MS)
        return sqllock__fail(c, SQLLOCK_EINVAL, "extend: ttl_ms must be > 0 and at most %lld",
                             (long long)SQLLOCK_TTL_MAX_MS);
    return done(c, sqllock__op_run(c, SQLLOCK_OP_EXTEND, l, ttl_ms));
}

int64_t sqllock_fencing_token(const sqllock_lock *l)
{
    return l ? l->token : 0;
}

const char *sqllock_lock_name(const sqllock_lock *l)
{
    return l ? l->name : "";
}

sqllock_status sqllock_with(int *fn_result_out, sqllock_client *c, const char *name,
                            const sqllock_acquire_opts *opts, int (*fn)(void *payload),
                            void *payload)
{
    if (!c)
        return SQLLOCK_EINVAL;
    if (!fn)
        return sqllock__fail(c, SQLLOCK_EINVAL, "with: fn is NULL");
    sqllock_lock *l;
    sqllock_status st = sqllock_acquire(&l, c, name, opts);
    if (st != SQLLOCK_OK)
        return st;
    int r = fn(payload);
    if (fn_result_out)
        *fn_result_out = r;
    return sqllock_release(l);
}

sqllock_lock *sqllock__using_acquire(sqllock_client *c, const char *name,
                                     const sqllock_acquire_opts *opts)
{
    sqllock_lock *l = NULL;
    (void)sqllock_acquire(&l, c, name, opts);
    return l;
}

void sqllock__using_release(sqllock_lock **l)
{
    if (*l)
        (void)sqllock_release(*l);
}
