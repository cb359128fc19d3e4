/* SPDX-License-Identifier: MIT */
/*
 * failover_client URL NAME FIFO: the library's own reconnect across a
 * failover (failover.sh judges what it prints).
 *
 * One client of its own (sqllock_connect(URL), a multi-host URL) takes the
 * advisory lock NAME.adv and the lease NAME.lease (ttl 60 s), prints
 *   held adv=S lease=S token=T
 * and waits for a line on FIFO (the failover is done). Then it asks, in
 * this order, and prints
 *   after adv_check=S lease_check=S acquire=S acquire_ms=M lease_check2=S
 *         extend=S other=S other_token=T
 * adv_check, lease_check: the old handles, on the broken connection;
 * acquire: NAME.adv again, the call that reconnects (M: how long it took);
 * lease_check2, extend: the lease on the new connection; other: a second
 * client's try for NAME.lease (wait 0): BUSY while the lease is still held.
 * A third client, which took NAME.b before, calls acquire first (NAME.b2),
 * again if that failed, then checks its old lock:
 *   first b_first=S b_second=S b_check=S
 * A fourth, idle with NAME.n held, is driven as an event loop would: it
 * waits for its socket (2 s at most), polls, then acquires NAME.n2 with
 * sqllock_acquire_start and sqllock_poll:
 *   loop n_idle=S n_acquire=S n_ms=M
 * It waits for a second line (the caller looks at the new primary's
 * locks), releases everything and prints
 *   released adv=S lease=S
 * S: the status's enum name (OK, LOST, ...). Exit 0 unless a call could
 * not be made at all.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "history.h"
#include "sqllock.h"
#include "support.h"

static const char *str(sqllock_status s)
{
    return hist_status_name(s);
}

/* One line from the fifo: the caller's go. */
static int await_go(const char *fifo)
{
    char line[16];
    FILE *f = fopen(fifo, "r");
    int ok = f && fgets(line, sizeof line, f) != NULL;
    if (f)
        fclose(f);
    return ok ? 0 : -1;
}

static sqllock_status take(sqllock_lock **l, sqllock_client *c, const char *name,
                           const char *suffix, int64_t ttl_ms)
{
    char full[128];
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.wait_ms = 0;
    o.ttl_ms = ttl_ms;
    snprintf(full, sizeof full, "%s.%s", name, suffix);
    return sqllock_acquire(l, c, full, &o);
}

/* What the idle client hears: sqllock_poll once its socket is readable. */
static sqllock_status idle_news(sqllock_client *c)
{
    struct pollfd p = {.fd = sqllock_socket(c), .events = POLLIN};
    if (p.fd < 0 || poll(&p, 1, 2000) != 1)
        return SQLLOCK_OK;
    return sqllock_poll(NULL, c);
}

/* An acquire started and driven by a poll() loop. */
static sqllock_status loop_acquire(sqllock_lock **l, sqllock_client *c, const char *name)
{
    char full[128];
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.wait_ms = 0;
    snprintf(full, sizeof full, "%s.n2", name);
    sqllock_status st = sqllock_acquire_start(c, full, &o);
    return t_drive(l, c, st);
}

int main(int argc, char **argv)
{
    sqllock_client *c = NULL, *other = NULL, *b = NULL, *n = NULL;
    sqllock_lock *adv = NULL, *lease = NULL, *again = NULL, *stolen = NULL, *bl = NULL,
                 *b2 = NULL, *nl = NULL, *n2 = NULL;

    if (argc != 4) {
        fprintf(stderr, "usage: failover_client URL NAME FIFO\n");
        return 2;
    }
    const char *url = argv[1], *name = argv[2], *fifo = argv[3];
    if (sqllock_connect(&c, url) != SQLLOCK_OK || sqllock_connect(&b, url) != SQLLOCK_OK ||
        sqllock_connect(&n, url) != SQLLOCK_OK) {
        fprintf(stderr, "failover_client: connect: %s %s %s\n", sqllock_errmsg(c),
                b ? sqllock_errmsg(b) : "", n ? sqllock_errmsg(n) : "");
        sqllock_client_free(c);
        sqllock_client_free(b);
        sqllock_client_free(n);
        return 1;
    }
    sqllock_status sa = take(&adv, c, name, "adv", 0);
    sqllock_status sl = take(&lease, c, name, "lease", 60000);
    if (sa != SQLLOCK_OK || sl != SQLLOCK_OK || take(&bl, b, name, "b", 0) != SQLLOCK_OK ||
        take(&nl, n, name, "n", 0) != SQLLOCK_OK) {
        fprintf(stderr, "failover_client: before the failover: %s\n", sqllock_errmsg(c));
        return 1;
    }
    printf("held adv=%s lease=%s token=%lld\n", str(sa), str(sl),
           (long long)sqllock_fencing_token(lease));
    fflush(stdout);
    if (await_go(fifo) != 0)
        return 1;

    sqllock_status adv_check = sqllock_check(adv);
    sqllock_status lease_check = sqllock_check(lease);
    long long t0 = t_now_ms();
    sqllock_status acq = take(&again, c, name, "adv", 0);
    long long took = t_now_ms() - t0;
    if (acq != SQLLOCK_OK)
        fprintf(stderr, "failover_client: acquire after the failover: %s\n", sqllock_errmsg(c));
    sqllock_status lease_check2 = sqllock_check(lease);
    sqllock_status ext = sqllock_extend(lease, 60000);
    sqllock_status oth = SQLLOCK_ECONNECT;
    if (sqllock_connect(&other, url) == SQLLOCK_OK)
        oth = take(&stolen, other, name, "lease", 60000);
    printf("after adv_check=%s lease_check=%s acquire=%s acquire_ms=%lld lease_check2=%s"
           " extend=%s other=%s other_token=%lld\n",
           str(adv_check), str(lease_check), str(acq), took, str(lease_check2), str(ext),
           str(oth), (long long)(stolen ? sqllock_fencing_token(stolen) : -1));
    sqllock_status b_first = take(&b2, b, name, "b2", 0);
    sqllock_status b_second = b_first == SQLLOCK_OK ? SQLLOCK_OK : take(&b2, b, name, "b2", 0);
    printf("first b_first=%s b_second=%s b_check=%s\n", str(b_first), str(b_second),
           str(sqllock_check(bl)));
    sqllock_status n_idle = idle_news(n);
    t0 = t_now_ms();
    sqllock_status n_acq = loop_acquire(&n2, n, name);
    printf("loop n_idle=%s n_acquire=%s n_ms=%lld\n", str(n_idle), str(n_acq), t_now_ms() - t0);
    if (n_acq != SQLLOCK_OK)
        fprintf(stderr, "failover_client: event-loop acquire: %s\n", sqllock_errmsg(n));
    fflush(stdout);
    int rc = await_go(fifo) == 0 ? 0 : 1;

    sqllock_status ra = again ? sqllock_release(again) : SQLLOCK_EINVAL;
    sqllock_status rl = sqllock_release(lease);
    (void)sqllock_release(adv); /* LOST: the old session's, already said */
    if (stolen)
        (void)sqllock_release(stolen);
    if (b2)
        (void)sqllock_release(b2);
    (void)sqllock_release(bl);
    if (n2)
        (void)sqllock_release(n2);
    (void)sqllock_release(nl);
    printf("released adv=%s lease=%s\n", str(ra), str(rl));
    sqllock_client_free(other);
    sqllock_client_free(b);
    sqllock_client_free(n);
    sqllock_client_free(c);
    return rc;
}
