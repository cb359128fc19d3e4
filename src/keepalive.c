/* SPDX-License-Identifier: MIT */
/*
 * Leases kept alive for their holder. A lease's client-side deadline is
 * when the statement that took or last renewed it was sent, plus its ttl:
 * the server stamped the expiry later than that by its own clock, so the
 * lease is certainly held until then. A kept-alive lease is renewed once a
 * third of its ttl has passed, so two renewals can fail before it could
 * lapse; a renewal that fails without the lease being lost (the server
 * unreachable, the connection broken) is tried again, reconnecting first,
 * until the deadline. Whoever drives the client makes the renewals: the
 * event loop through sqllock_poll (nonblock.c), a blocking program through
 * sqllock_keep_alive_run on a thread of its own. The library starts no
 * thread and opens no connection of its own for them.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "sqllock_int.h"

/* Between retries of a failed renewal: a tenth of the ttl, so that a few
   fit before the deadline, within bounds that neither spin nor dawdle. */
#define RETRY_MIN_MS 20
#define RETRY_MAX_MS 1000

void sqllock__lease_granted(sqllock_lock *l, long long sent_ms, int64_t ttl_ms)
{
    __atomic_store_n(&l->deadline_ms, (int64_t)(sent_ms + ttl_ms), __ATOMIC_RELEASE);
    l->renew_at_ms = (int64_t)(sent_ms + ttl_ms / 3);
}

int64_t sqllock_lease_deadline(const sqllock_lock *l)
{
    if (!l || l->ttl_ms <= 0)
        return -1;
    return __atomic_load_n(&l->deadline_ms, __ATOMIC_ACQUIRE);
}

sqllock_lock *sqllock__renew_next(const sqllock_client *c, long long *at)
{
    sqllock_lock *next = NULL;
    for (sqllock_lock *l = c->held.all; l; l = l->next)
        if (l->keep && l->kind == SQLLOCK_ENTRY_LIVE && (!next || l->renew_at_ms < *at)) {
            next = l;
            *at = l->renew_at_ms;
        }
    return next;
}

sqllock_status sqllock__renew_end(sqllock_lock *l, sqllock_status st)
{
    sqllock_client *c = l->client;
    if (st == SQLLOCK_OK)
        return SQLLOCK_OK;
    long long now = sqllock__now_ms(), deadline = sqllock_lease_deadline(l);
    if (st != SQLLOCK_LOST && now < deadline) {
        long long retry = l->ttl_ms / 10;
        retry = retry < RETRY_MIN_MS   ? RETRY_MIN_MS
                : retry > RETRY_MAX_MS ? RETRY_MAX_MS
                                       : retry;
        l->renew_at_ms = now + retry < deadline ? now + retry : deadline;
        return st;
    }
    l->keep = 0;
    char why[SQLLOCK_ERRMSG_MAX];
    snprintf(why, sizeof(why), "%s", c->errmsg); /* not formatted into itself */
    if (st != SQLLOCK_LOST)
        return sqllock__fail(c, SQLLOCK_LOST,
                             "keep alive: the lease could not be renewed before its deadline, "
                             "so it may have expired (the last try: %.900s)",
                             why);
    return sqllock__fail(c, SQLLOCK_LOST, "keep alive: %.1000s", why);
}

sqllock_status sqllock_keep_alive(sqllock_lock *l, int on)
{
    if (!l)
        return SQLLOCK_EINVAL;
    sqllock_client *c = l->client;
    sqllock__err_clear(c);
    if (sqllock__check_owner(c, "keep alive") != SQLLOCK_OK)
        return c->last_status;
    if (!(l->be->caps & SQLLOCK_CAP_EXPIRY))
        return sqllock__fail(c, SQLLOCK_ENOTSUP,
                             "keep alive: %s locks do not expire, so there is nothing to renew",
                             l->be->name);
    if (l->kind != SQLLOCK_ENTRY_LIVE)
        return sqllock__fail(c, SQLLOCK_LOST, "keep alive: the lease is no longer held");
    l->keep = on != 0;
    return sqllock__done(c, SQLLOCK_OK);
}

/* One renewal of l, blocking: a connection of ours that broke opens
   again first, as for an acquire. */
static sqllock_status renew(sqllock_client *c, sqllock_lock *l)
{
    sqllock_status st = sqllock__client_revive(c);
    if (st == SQLLOCK_OK)
        st = sqllock_extend(l, l->ttl_ms);
    return sqllock__renew_end(l, st);
}

sqllock_status sqllock_keep_alive_run(sqllock_lock **lost_out, sqllock_client *c, int stop_fd)
{
    if (lost_out)
        *lost_out = NULL;
    if (!c)
        return SQLLOCK_EINVAL;
    sqllock__err_clear(c);
    if (sqllock__check_usable(c, "keep alive") != SQLLOCK_OK)
        return c->last_status;
    for (;;) {
        long long at = 0;
        sqllock_lock *l = sqllock__renew_next(c, &at);
        if (!l)
            return sqllock__fail(c, SQLLOCK_EINVAL,
                                 "keep alive: no lease of this client is kept alive "
                                 "(sqllock_keep_alive)");
        long long left = at - sqllock__now_ms();
        struct pollfd p = {.fd = stop_fd, .events = POLLIN};
        int r = poll(&p, 1, left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0 && (p.revents & POLLNVAL))
            return sqllock__fail(c, SQLLOCK_EINVAL, "keep alive: stop_fd is not open");
        if (r > 0)
            return sqllock__done(c, SQLLOCK_OK);
        if (r < 0 && errno != EINTR)
            return sqllock__fail(c, SQLLOCK_ENOMEM, "keep alive: poll: %s", strerror(errno));
        if (sqllock__now_ms() < at)
            continue;
        if (renew(c, l) == SQLLOCK_LOST) {
            if (lost_out)
                *lost_out = l;
            return SQLLOCK_LOST;
        }
    }
}
