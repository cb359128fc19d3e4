/* SPDX-License-Identifier: MIT */
/*
 * The non-blocking API: an acquire, release or check started on a client
 * and then stepped by sqllock_poll from the caller's event loop, which
 * watches the socket, events and timer of what the operation waits for.
 * The steps are the backend's own (its step function), the very ones the
 * blocking calls run through sqllock__op_block, and the checks before and
 * the bookkeeping after are lock.c's: this file only holds the operation
 * in flight between the caller's polls.
 */
#include <poll.h>

#include "sqllock_int.h"

/* Hands the outcome st of the operation in flight to the caller. */
static sqllock_status finish(sqllock_client *c, sqllock_status st, sqllock_lock **out)
{
    struct sqllock_op *op = &c->op;
    enum sqllock_op_kind kind = op->kind;
    sqllock_lock *l = op->lock;
    sqllock__op_end(op);
    if (kind == SQLLOCK_OP_ACQUIRE)
        return sqllock__acquire_end(c, l, st, out);
    if (kind == SQLLOCK_OP_RELEASE)
        return sqllock__release_end(l, st);
    if (kind == SQLLOCK_OP_EXTEND) { /* a renewal idle_poll began */
        st = sqllock__renew_end(l, st);
        if (st == SQLLOCK_LOST && out)
            *out = l;
    }
    return sqllock__done(c, st); /* a check's, or a connect's */
}

sqllock_status sqllock__op_launch(sqllock_client *c)
{
    struct sqllock_op *op = &c->op;
    sqllock_status st = op->step(c, op);
    if (st != SQLLOCK_PENDING) {
        /* Even an answer that came at once (the server can run before the
           sender's next instruction) is the first poll's to give, so that
           every outcome, and an acquire's lock, comes one way. */
        op->ended = 1;
        op->outcome = st;
        sqllock__err_save(c, op->ended_err);
        op->wait = (struct sqllock_wait){.fd = -1, .until_ms = 0};
    }
    return sqllock__done(c, SQLLOCK_PENDING);
}

/* The first steps of an acquire or renewal on a connection of ours that
   broke: it opens again (the old session's locks were marked lost first),
   then the backend's own steps run from their start. */
static sqllock_status revive_step(sqllock_client *c, struct sqllock_op *op)
{
    sqllock_status st =
        c->conn_ops->reconnect_step(c, c->conn, op->space, op->stage == 0, &op->wait);
    op->stage = 1;
    if (st != SQLLOCK_OK)
        return st;
    op->step = op->lock->be->step;
    op->stage = 0;
    return op->step(c, op);
}

/* Begins an operation of l's backend, behind a reconnect when the
   connection broke. */
static sqllock_status begin_on_connection(sqllock_client *c, sqllock_lock *l,
                                          enum sqllock_op_kind kind, int64_t wait_ms)
{
    int revive = sqllock__client_broken(c) && c->conn_ops->reconnect_step;
    size_t size = l->be->op_size;
    if (revive && c->conn_ops->reconnect_size > size)
        size = c->conn_ops->reconnect_size;
    if (revive)
        sqllock__held_lose_session(&c->held);
    return sqllock__op_begin(c, &c->op, revive ? revive_step : l->be->step, size, kind, l,
                             wait_ms);
}

static sqllock_status start_acquire(sqllock_client *c, const char *name, int is_key, int64_t key,
                                    const sqllock_acquire_opts *opts)
{
    if (!c)
        return SQLLOCK_EINVAL;
    sqllock_lock *l;
    sqllock_status st =
        sqllock__acquire_prepare(&l, c, name, is_key, key, SQLLOCK_SPACE_INT8, opts, 1);
    if (st != SQLLOCK_OK)
        return st;
    st = begin_on_connection(c, l, SQLLOCK_OP_ACQUIRE, opts ? opts->wait_ms : 0);
    if (st != SQLLOCK_OK)
        return sqllock__acquire_end(c, l, st, NULL);
    return sqllock__op_launch(c);
}

sqllock_status sqllock_acquire_start(sqllock_client *c, const char *name,
                                     const sqllock_acquire_opts *opts)
{
    return start_acquire(c, name, 0, 0, opts);
}

sqllock_status sqllock_acquire_key_start(sqllock_client *c, int64_t key,
                                         const sqllock_acquire_opts *opts)
{
    return start_acquire(c, NULL, 1, key, opts);
}

static sqllock_status start_on(sqllock_lock *l, enum sqllock_op_kind kind)
{
    if (!l)
        return SQLLOCK_EINVAL;
    sqllock_status st = sqllock__handle_prepare(l, kind);
    if (st != SQLLOCK_OK)
        return st;
    sqllock_client *c = l->client;
    if (!l->be->step)
        return sqllock__fail(c, SQLLOCK_ENOTSUP,
                             "%s: %s locks cannot be driven without blocking on this "
                             "connection (over ODBC only the blocking calls work)",
                             kind == SQLLOCK_OP_RELEASE ? "release" : "check", l->be->name);
    if (sqllock__op_begin(c, &c->op, l->be->step, l->be->op_size, kind, l, 0) != SQLLOCK_OK)
        return c->last_status;
    return sqllock__op_launch(c);
}

sqllock_status sqllock_release_start(sqllock_lock *l)
{
    return start_on(l, SQLLOCK_OP_RELEASE);
}

sqllock_status sqllock_check_start(sqllock_lock *l)
{
    return start_on(l, SQLLOCK_OP_CHECK);
}

/* Nothing in flight: a kept-alive lease due for renewal has it begun;
   otherwise what arrived on the socket says whether the session still
   lives. */
static sqllock_status idle_poll(sqllock_client *c)
{
    if (!c->be)
        return sqllock__fail(c, SQLLOCK_ESTATE, "poll: the client is not connected");
    long long at = 0;
    sqllock_lock *due = sqllock__renew_next(c, &at);
    if (due && at <= sqllock__now_ms() && due->be->step) {
        if (begin_on_connection(c, due, SQLLOCK_OP_EXTEND, due->ttl_ms) != SQLLOCK_OK)
            return c->last_status;
        return sqllock__op_launch(c);
    }
    if (!c->conn_ops->alive)
        return sqllock__fail(c, SQLLOCK_ENOTSUP,
                             "poll: this connection cannot be watched without a round trip "
                             "(ODBC); use sqllock_check");
    if (c->conn_ops->alive(c->conn))
        return sqllock__done(c, SQLLOCK_OK);
    /* A lease is a row, which outlives the session until its ttl: only
       session locks go with it. One kept alive is renewed (through a new
       session) at the next poll. */
    int leases = 0;
    for (sqllock_lock *l = c->held.all; l; l = l->next) {
        if (l->kind == SQLLOCK_ENTRY_LIVE && !(l->be->caps & SQLLOCK_CAP_EXPIRY))
            return sqllock__fail(c, SQLLOCK_LOST,
                                 "poll: the server closed the session, and every session "
                                 "lock this client held went with it");
        if (l->kind == SQLLOCK_ENTRY_LIVE && l->keep)
            l->renew_at_ms = sqllock__now_ms();
        leases += l->kind == SQLLOCK_ENTRY_LIVE;
    }
    return sqllock__fail(c, SQLLOCK_ECONNECT,
                         leases ? "poll: the server closed the session; the leases held stay "
                                  "taken until their ttl runs out"
                                : "poll: the server closed the session");
}

sqllock_status sqllock_poll(sqllock_lock **out, sqllock_client *c)
{
    if (out)
        *out = NULL;
    if (!c)
        return SQLLOCK_EINVAL;
    sqllock__err_clear(c);
    if (sqllock__check_owner(c, "poll") != SQLLOCK_OK)
        return c->last_status;
    struct sqllock_op *op = &c->op;
    if (op->kind == SQLLOCK_OP_NONE)
        return idle_poll(c);
    if (op->kind == SQLLOCK_OP_ACQUIRE && !out)
        return sqllock__fail(c, SQLLOCK_EINVAL,
                             "poll: out is NULL, and the acquire in flight needs it for its "
                             "lock (the acquire goes on)");
    if (op->ended) {
        (void)sqllock__err_restore(c, op->ended_err);
        return finish(c, op->outcome, out);
    }
    sqllock_status st = op->step(c, op);
    if (st == SQLLOCK_PENDING)
        return sqllock__done(c, st);
    return finish(c, st, out);
}

int sqllock_socket(const sqllock_client *c)
{
    if (c && c->op.kind != SQLLOCK_OP_NONE && !c->op.ended)
        return c->op.wait.fd;
    if (!c || !c->be)
        return -1;
    return c->conn_ops->socket ? c->conn_ops->socket(c->conn) : -1;
}

int sqllock_events(const sqllock_client *c)
{
    if (c && c->op.kind != SQLLOCK_OP_NONE)
        return c->op.ended ? 0 : c->op.wait.events;
    return sqllock_socket(c) >= 0 ? SQLLOCK_EV_READ : 0;
}

int64_t sqllock_timeout_ms(const sqllock_client *c)
{
    long long at = 0;
    if (c && c->op.kind == SQLLOCK_OP_NONE && sqllock__renew_next(c, &at)) {
        long long left = at - sqllock__now_ms();
        return left > 0 ? left : 0;
    }
    if (!c || c->op.kind == SQLLOCK_OP_NONE)
        return -1;
    const struct sqllock_op *op = &c->op;
    if (op->ended)
        return 0;
    if (op->wait.cancelable) {
        /* A sqllock_cancel() waits in the pipe for a poll to act on it. */
        struct pollfd p = {.fd = sqllock__cancel_fd(c), .events = POLLIN};
        if (poll(&p, 1, 0) > 0)
            return 0;
    }
    if (op->wait.until_ms < 0)
        return -1;
    long long left = op->wait.until_ms - sqllock__now_ms();
    return left > 0 ? left : 0;
}
