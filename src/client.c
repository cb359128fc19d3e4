/* SPDX-License-Identifier: MIT */
/*
 * Clients: making an empty one (for a connector to install a backend on),
 * freeing it, its per-client error state, its cancel pipe, and the process
 * it belongs to. Choosing the connector for a URL is connect.c's.
 *
 * After fork() a child shares its parent's connection (the same socket, the
 * same server session) and the cancel pipe. A word from the child would act
 * in the parent's session: a Terminate on close ends it, an unlock frees the
 * parent's lock. So a client serves only the process that made it; in any
 * other, free releases memory only and every other call is ESTATE.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sqllock_int.h"

static int make_cancel_pipe(int fds[2])
{
    if (pipe(fds) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        /* Non-blocking so that a flood of cancels can never block a signal
           handler on a full pipe. */
        if (fcntl(fds[i], F_SETFL, O_NONBLOCK) != 0 || fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0) {
            close(fds[0]);
            close(fds[1]);
            return -1;
        }
    }
    return 0;
}

long long sqllock__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sqllock__poll_ms(long long until_ms)
{
    if (until_ms < 0)
        return -1;
    long long left = until_ms - sqllock__now_ms();
    return left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

enum sqllock_woke sqllock__wait(sqllock_client *c, const struct sqllock_wait *w)
{
    struct pollfd p[2] = {
        {.fd = w->fd,
         .events = (short)(((w->events & SQLLOCK_EV_READ) ? POLLIN : 0) |
                           ((w->events & SQLLOCK_EV_WRITE) ? POLLOUT : 0))},
        {.fd = sqllock__cancel_fd(c), .events = POLLIN},
    };
    for (;;) {
        int timeout = sqllock__poll_ms(w->until_ms);
        if (timeout == 0)
            return SQLLOCK_WOKE_TIMEOUT;
        int n = poll(p, w->cancelable ? 2 : 1, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return SQLLOCK_WOKE_FAILED;
        if (w->cancelable && (p[1].revents & POLLIN))
            return SQLLOCK_WOKE_CANCEL;
        if (p[0].revents)
            return SQLLOCK_WOKE_READY;
    }
}

void sqllock__appname(char *buf, size_t n)
{
    char host[32] = "";
    gethostname(host, sizeof(host) - 1);
    snprintf(buf, n, "sqllock[%ld]@%s", (long)getpid(), host);
}

sqllock_client *sqllock__client_new(void)
{
    sqllock_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (make_cancel_pipe(c->cancel_pipe) != 0) {
        free(c);
        return NULL;
    }
    c->owner_pid = (long)getpid();
    return c;
}

sqllock_status sqllock__check_owner(sqllock_client *c, const char *what)
{
    long self = (long)getpid();
    if (self == c->owner_pid)
        return SQLLOCK_OK;
    return sqllock__fail(c, SQLLOCK_ESTATE,
                         "%s: this client belongs to process %ld, whose "
                         "server session it shares; process %ld (a child after fork()) may "
                         "only free it, which leaves that session alone",
                         what, c->owner_pid, self);
}

sqllock_status sqllock__check_usable(sqllock_client *c, const char *what)
{
    if (sqllock__check_owner(c, what) != SQLLOCK_OK)
        return SQLLOCK_ESTATE;
    if (c->op.kind == SQLLOCK_OP_EXTEND)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "%s: a lease renewal begun by sqllock_poll is in flight on this "
                             "client (sqllock_poll it to its end first; one at a time)",
                             what);
    if (c->op.kind != SQLLOCK_OP_NONE)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "%s: another operation is in flight on this client "
                             "(sqllock_poll it to its end first; one at a time, as in libpq)",
                             what);
    return SQLLOCK_OK;
}

sqllock_status sqllock__fail(sqllock_client *c, sqllock_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
    va_end(ap);
    c->last_status = st;
    return st;
}

void sqllock__set_errcode(sqllock_client *c, const char *sqlstate)
{
    if (sqlstate)
        snprintf(c->errcode, sizeof(c->errcode), "%s", sqlstate);
    else
        c->errcode[0] = '\0';
}

void sqllock__err_clear(sqllock_client *c)
{
    c->errmsg[0] = '\0';
    c->errcode[0] = '\0';
    c->last_status = SQLLOCK_OK;
}

sqllock_status sqllock__done(sqllock_client *c, sqllock_status st)
{
    if (st == SQLLOCK_OK)
        sqllock__err_clear(c);
    c->last_status = st;
    return st;
}

void sqllock__err_save(const sqllock_client *c, struct sqllock_err *e)
{
    e->status = c->last_status;
    memcpy(e->code, c->errcode, sizeof(e->code));
    memcpy(e->msg, c->errmsg, sizeof(e->msg));
}

sqllock_status sqllock__err_restore(sqllock_client *c, const struct sqllock_err *e)
{
    memcpy(c->errcode, e->code, sizeof(c->errcode));
    memcpy(c->errmsg, e->msg, sizeof(c->errmsg));
    c->last_status = e->status;
    return e->status;
}

int sqllock__cancel_fd(const sqllock_client *c)
{
    return c->cancel_pipe[0];
}

int sqllock__cancel_take(sqllock_client *c)
{
    char buf[64];
    int taken = 0;
    ssize_t n;
    while ((n = read(c->cancel_pipe[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            taken = 1;
    return taken;
}

int sqllock__cancel_backoff_ms(int sent)
{
    int ms = 100 << (sent < 4 ? sent : 4);
    return ms > 1000 ? 1000 : ms;
}

void sqllock_cancel(sqllock_client *c)
{
    if (!c)
        return;
    /* getpid() is async-signal-safe; a child's cancel would reach the
       parent's wait through the shared pipe. */
    if ((long)getpid() != c->owner_pid)
        return;
    int saved = errno; /* a signal handler must not disturb errno */
    ssize_t n;
    do
        n = write(c->cancel_pipe[1], "c", 1);
    while (n < 0 && errno == EINTR);
    errno = saved;
}

/* Each backend frees its own state, once (be may be lease_be), then the
   connection they shared goes. */
static void end_backends(sqllock_client *c, int abandon)
{
    const struct sqllock_backend *bes[2] = {c->lease_be, c->be == c->lease_be ? NULL : c->be};
    for (int i = 0; i < 2; i++) {
        void (*end)(sqllock_client *) = !bes[i]   ? NULL
                                        : abandon ? bes[i]->abandon
                                                  : bes[i]->close;
        if (end)
            end(c);
    }
    if (c->conn)
        (abandon ? c->conn_ops->abandon : c->conn_ops->close)(c->conn);
    c->be = c->lease_be = NULL;
    c->be_state = c->lease_state = c->conn = NULL;
}

int sqllock__client_broken(const sqllock_client *c)
{
    const struct sqllock_conn_ops *ops = c->conn_ops;
    return c->owns_connection && c->conn && ops->reconnect && ops->broken(c->conn);
}

sqllock_status sqllock__client_revive(sqllock_client *c)
{
    const struct sqllock_conn_ops *ops = c->conn_ops;
    if (!sqllock__client_broken(c))
        return SQLLOCK_OK;
    sqllock__held_lose_session(&c->held);
    return ops->reconnect(c, c->conn);
}

void sqllock__client_disconnect(sqllock_client *c)
{
    end_backends(c, 0);
}

/*
 * An operation still in flight when the client is freed runs to its end
 * first (a wait canceled), and what it took is released with the rest: on
 * a lent connection the caller's session goes on, and a lease row outlives
 * any session, so nothing may be left that nobody knows about.
 */
static void settle(sqllock_client *c)
{
    struct sqllock_op *op = &c->op;
    enum sqllock_op_kind kind = op->kind;
    sqllock_lock *l = op->lock;
    if (kind == SQLLOCK_OP_NONE)
        return;
    sqllock_status st = op->outcome;
    if (op->ended) {
        sqllock__op_end(op);
    } else {
        sqllock_cancel(c);
        st = sqllock__op_block(c, op);
    }
    if (kind == SQLLOCK_OP_ACQUIRE && st == SQLLOCK_OK) {
        sqllock__held_add(&c->held, l);
    } else if (kind == SQLLOCK_OP_ACQUIRE) {
        free(l);
    } else if (kind == SQLLOCK_OP_RELEASE && st != SQLLOCK_ESTATE) {
        sqllock__held_remove(&c->held, l);
        free(l);
    }
}

void sqllock_client_free(sqllock_client *c)
{
    if (!c)
        return;
    if ((long)getpid() != c->owner_pid) {
        /* Another process's session: not one lock (or lease row) of it is
           released, and the connection is not closed on the server. An
           operation in flight is the parent's: only its memory goes (a
           connect's half-open connection stays allocated). */
        if (c->op.kind == SQLLOCK_OP_ACQUIRE)
            free(c->op.lock);
        sqllock__op_end(&c->op);
        if (c->be)
            end_backends(c, 1);
    } else {
        settle(c); /* a connect in flight, too, ends first */
    }
    if (c->be && (long)getpid() == c->owner_pid) {
        for (sqllock_lock *l = c->held.all; l; l = l->next) {
            /* On our own connection the server releases session locks when
               the session closes; on a borrowed one we must unlock what we
               took, and some backends' sessions outlive the close. */
            if ((!c->owns_connection || (l->be->caps & SQLLOCK_CAP_RELEASE_BEFORE_CLOSE)) &&
                l->kind == SQLLOCK_ENTRY_LIVE && l->scope == SQLLOCK_SESSION)
                (void)sqllock__op_run(c, SQLLOCK_OP_RELEASE, l, 0);
        }
        end_backends(c, 0);
    }
    sqllock__held_free(&c->held);
    close(c->cancel_pipe[0]);
    close(c->cancel_pipe[1]);
    free(c);
}

const char *sqllock_errmsg(const sqllock_client *c)
{
    return c ? c->errmsg : "no client (NULL)";
}

const char *sqllock_errcode(const sqllock_client *c)
{
    return c ? c->errcode : "";
}

sqllock_status sqllock_last_status(const sqllock_client *c)
{
    return c ? c->last_status : SQLLOCK_EINVAL;
}

const char *sqllock_backend_name(const sqllock_client *c)
{
    return c && c->be ? c->be->name : "none";
}
