/* SPDX-License-Identifier: MIT */
/*
 * The non-blocking API over libpq, beyond what the shared suite checks
 * through it (tests/suite runs every case both ways): many clients driven
 * by one thread, one operation in flight, cancel through the loop, loss
 * heard on an idle socket, and freeing a client with an operation pending.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sqllock/pg.h"
#include "support.h"

static short poll_events(const sqllock_client *c)
{
    int ev = sqllock_events(c);
    return (short)(((ev & SQLLOCK_EV_READ) ? POLLIN : 0) |
                   ((ev & SQLLOCK_EV_WRITE) ? POLLOUT : 0));
}

static int blocked_on_server(PGconn *admin, const char *appname)
{
    return t_wait_blocked(admin, t_pid(admin, appname), 10000);
}

/* Starts b's wait forever for name and sees the server queue it (b's
   session is appname): 1, or 0 with the case failed. */
static int wait_queued(sqllock_client *b, const char *name, PGconn *admin, const char *appname)
{
    sqllock_acquire_opts forever = t_opts(SQLLOCK_WAIT_FOREVER, SQLLOCK_SESSION);
    sqllock_status st = sqllock_acquire_start(b, name, &forever);
    if (st != SQLLOCK_PENDING) {
        t_fail(__FILE__, __LINE__, "acquire_start returned %s: %s", sqllock_status_str(st),
               sqllock_errmsg(b));
        return 0;
    }
    if (!blocked_on_server(admin, appname)) {
        t_fail(__FILE__, __LINE__, "the wait was never queued on the server");
        return 0;
    }
    return 1;
}

#define NCLIENTS 24
#define NNAMES 4
#define ROUNDS 5

enum phase { ACQUIRING, HOLDING, RELEASING, DONE };

struct actor {
    sqllock_client *c;
    sqllock_lock *l;
    enum phase phase;
    int name, rounds;
    long long hold_until;
};

/* Starts the next round of actor i: an acquire that waits as long as it must. */
static int start_round(struct actor *a, const char *const *names, int i)
{
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.wait_ms = SQLLOCK_WAIT_FOREVER;
    a->name = (i + a->rounds) % NNAMES;
    a->phase = ACQUIRING;
    return sqllock_acquire_start(a->c, names[a->name], &o) == SQLLOCK_PENDING;
}

static void t_one_thread_many_clients(void)
{
    const char *names[NNAMES];
    for (int n = 0; n < NNAMES; n++)
        names[n] = t_tag("many");
    static struct actor a[NCLIENTS];
    memset(a, 0, sizeof(a));
    for (int i = 0; i < NCLIENTS; i++) {
        CHECK((a[i].c = t_client(t_tag("nb"))) != NULL);
        CHECK(start_round(&a[i], names, i));
    }
    /* holder[n]: who holds names[n] as this thread saw the grants, checked
       at every grant and release; grants[n] counts them. */
    int holder[NNAMES], grants[NNAMES] = {0}, done = 0;
    for (int n = 0; n < NNAMES; n++)
        holder[n] = -1;
    long long end = t_now_ms() + 60000;
    while (done < NCLIENTS && t_now_ms() < end) {
        struct pollfd p[NCLIENTS];
        long long due[NCLIENTS]; /* when to step a client whatever its socket says */
        int timeout = 1000;
        for (int i = 0; i < NCLIENTS; i++) {
            p[i].fd = a[i].phase == HOLDING || a[i].phase == DONE ? -1 : sqllock_socket(a[i].c);
            p[i].events = poll_events(a[i].c);
            p[i].revents = 0;
            long long t = a[i].phase == HOLDING ? a[i].hold_until - t_now_ms()
                          : a[i].phase == DONE  ? -1
                                                : sqllock_timeout_ms(a[i].c);
            due[i] = t < 0 ? -1 : t_now_ms() + t;
            if (t >= 0 && t < timeout)
                timeout = (int)t;
        }
        CHECK(poll(p, NCLIENTS, timeout) >= 0);
        for (int i = 0; i < NCLIENTS; i++) {
            struct actor *x = &a[i];
            int is_due = due[i] >= 0 && t_now_ms() >= due[i];
            if (x->phase == HOLDING && t_now_ms() >= x->hold_until) {
                CHECK(holder[x->name] == i);
                holder[x->name] = -1;
                x->phase = RELEASING;
                CHECK_ST(sqllock_release_start(x->l), SQLLOCK_PENDING, x->c);
                continue;
            }
            if (x->phase == HOLDING || x->phase == DONE || (!p[i].revents && !is_due))
                continue;
            sqllock_lock *got = NULL;
            sqllock_status st = sqllock_poll(&got, x->c);
            if (st == SQLLOCK_PENDING)
                continue;
            if (x->phase == ACQUIRING) {
                CHECK_ST(st, SQLLOCK_OK, x->c);
                CHECK(got != NULL);
                CHECK(holder[x->name] == -1); /* nobody else holds it */
                holder[x->name] = i;
                grants[x->name]++;
                x->l = got;
                x->phase = HOLDING;
                x->hold_until = t_now_ms() + 2;
            } else {
                CHECK_ST(st, SQLLOCK_OK, x->c);
                if (++x->rounds == ROUNDS) {
                    x->phase = DONE;
                    done++;
                } else {
                    CHECK(start_round(x, names, i));
                }
            }
        }
    }
    CHECK(done == NCLIENTS);
    int total = 0;
    for (int n = 0; n < NNAMES; n++)
        total += grants[n];
    CHECK(total == NCLIENTS * ROUNDS);
    printf("one thread: %d clients, %d names, %d grants, never two holders of a name\n",
           NCLIENTS, NNAMES, total);
    for (int i = 0; i < NCLIENTS; i++)
        sqllock_client_free(a[i].c);
}

static void t_one_in_flight(void)
{
    const char *name = t_tag("flight"), *other = t_tag("other"), *bname = t_tag("b");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(bname);
    CHECK(a && b);
    sqllock_lock *la, *lb0, *lb, *none = NULL;
    CHECK_ST(sqllock_acquire(&la, a, name, NULL), SQLLOCK_OK, a);
    CHECK_ST(sqllock_acquire(&lb0, b, other, NULL), SQLLOCK_OK, b);
    sqllock_acquire_opts forever = t_opts(SQLLOCK_WAIT_FOREVER, SQLLOCK_SESSION);
    CHECK_ST(sqllock_acquire_start(b, name, &forever), SQLLOCK_PENDING, b);
    /* While it is in flight, every other call on b is refused and changes nothing. */
    CHECK_ST(sqllock_acquire_start(b, t_tag("x"), NULL), SQLLOCK_ESTATE, b);
    CHECK(strstr(sqllock_errmsg(b), "in flight") != NULL);
    CHECK_ST(sqllock_acquire_key_start(b, 42, NULL), SQLLOCK_ESTATE, b);
    CHECK_ST(sqllock_release_start(lb0), SQLLOCK_ESTATE, b);
    CHECK_ST(sqllock_check_start(lb0), SQLLOCK_ESTATE, b);
    CHECK_ST(sqllock_acquire(&none, b, t_tag("y"), NULL), SQLLOCK_ESTATE, b);
    CHECK_ST(sqllock_release(lb0), SQLLOCK_ESTATE, b);
    CHECK_ST(sqllock_check(lb0), SQLLOCK_ESTATE, b);
    /* An acquire ends only into a lock pointer. */
    CHECK_ST(sqllock_poll(NULL, b), SQLLOCK_EINVAL, b);
    CHECK(sqllock_socket(b) >= 0 && (sqllock_events(b) & SQLLOCK_EV_READ));
    CHECK(sqllock_timeout_ms(b) == -1);
    PGconn *admin = t_admin();
    CHECK(admin);
    CHECK(blocked_on_server(admin, bname));
    CHECK_ST(sqllock_release(la), SQLLOCK_OK, a);
    CHECK_ST(t_drive(&lb, b, SQLLOCK_PENDING), SQLLOCK_OK, b);
    CHECK(lb != NULL);
    /* Nothing in flight: the calls work again, and the idle poll is quiet. */
    CHECK_ST(sqllock_poll(NULL, b), SQLLOCK_OK, b);
    CHECK_ST(t_drive(NULL, b, sqllock_check_start(lb)), SQLLOCK_OK, b);
    CHECK_ST(t_drive(NULL, b, sqllock_release_start(lb)), SQLLOCK_OK, b);
    CHECK_ST(sqllock_release(lb0), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
    PQfinish(admin);
}

static void t_cancel_through_loop(void)
{
    const char *name = t_tag("cancel"), *bname = t_tag("b");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(bname);
    PGconn *admin = t_admin();
    CHECK(a && b && admin);
    sqllock_lock *la, *lb = NULL;
    CHECK_ST(sqllock_acquire(&la, a, name, NULL), SQLLOCK_OK, a);
    CHECK(wait_queued(b, name, admin, bname));
    sqllock_cancel(b);
    CHECK(sqllock_timeout_ms(b) == 0); /* the loop must come back to act on it */
    CHECK_ST(t_drive(&lb, b, SQLLOCK_PENDING), SQLLOCK_CANCELED, b);
    CHECK(lb == NULL);
    int pid = t_pid(admin, bname);
    CHECK(t_advisory_count(admin, pid, "false") == 0 &&
          t_advisory_count(admin, pid, "true") == 0);
    /* Once the holder lets go it is free: nothing of b's wait was left. */
    CHECK_ST(sqllock_release(la), SQLLOCK_OK, a);
    CHECK(t_free_for_others(name));
    CHECK_ST(t_drive(&lb, b, sqllock_acquire_start(b, name, NULL)), SQLLOCK_OK, b);
    CHECK_ST(sqllock_release(lb), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
    PQfinish(admin);
}

static void t_timed_wait(void)
{
    const char *name = t_tag("timed");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(t_tag("b"));
    CHECK(a && b);
    sqllock_lock *la, *lb = NULL;
    CHECK_ST(sqllock_acquire(&la, a, name, NULL), SQLLOCK_OK, a);
    sqllock_acquire_opts o = t_opts(200, SQLLOCK_SESSION);
    long long t0 = t_now_ms();
    CHECK_ST(t_drive(&lb, b, sqllock_acquire_start(b, name, &o)), SQLLOCK_TIMEOUT, b);
    long long took = t_now_ms() - t0;
    CHECK(took >= 180 && took < 5000);
    CHECK_ST(sqllock_release(la), SQLLOCK_OK, a);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

/*
 * Terminates the backend of appname and watches c's idle socket, as an
 * event loop would, until sqllock_poll says something other than OK: that
 * status in *st, and the ms it took from the signal (-1: nothing heard in
 * 10 s). The server's last word and its close may wake the loop twice.
 */
static long long loss_heard_ms(PGconn *admin, const char *appname, sqllock_client *c,
                               sqllock_status *st)
{
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", t_pid(admin, appname));
    *st = SQLLOCK_OK;
    /* Without a timeout it returns once the signal is sent. */
    long long t0 = t_now_ms();
    if (t_sql_ll(admin, "SELECT pg_terminate_backend($1::int)::int", pid, NULL) != 1)
        return -1;
    for (int wakes = 0; wakes < 100 && t_now_ms() < t0 + 10000; wakes++) {
        struct pollfd p = {.fd = sqllock_socket(c), .events = poll_events(c)};
        if (p.fd < 0 || !(p.events & POLLIN) || poll(&p, 1, 10000) != 1)
            return -1;
        if ((*st = sqllock_poll(NULL, c)) != SQLLOCK_OK)
            return t_now_ms() - t0;
    }
    return -1;
}

static void t_idle_loss_heard(void)
{
    const char *aname = t_tag("holder"), *bname = t_tag("empty");
    sqllock_client *a = t_client(aname), *b = t_client(bname);
    PGconn *admin = t_admin();
    CHECK(a && b && admin);
    sqllock_lock *la;
    CHECK_ST(sqllock_acquire(&la, a, t_tag("held"), NULL), SQLLOCK_OK, a);
    CHECK_ST(sqllock_poll(NULL, a), SQLLOCK_OK, a); /* nothing has arrived */
    sqllock_status st;
    long long ms = loss_heard_ms(admin, aname, a, &st);
    CHECK(ms >= 0);
    CHECK_ST(st, SQLLOCK_LOST, a);
    printf("idle holder's loss heard on its socket %lld ms after pg_terminate_backend\n", ms);
    CHECK(sqllock_socket(a) == -1); /* nothing left to watch */
    CHECK_ST(sqllock_check(la), SQLLOCK_LOST, a);
    CHECK_ST(sqllock_release(la), SQLLOCK_LOST, a);
    /* A client that held nothing hears that its connection is gone; one
       that held a lease too, but the lease (a row) is still taken. */
    sqllock_acquire_opts lease = t_lease(60000, 0);
    sqllock_lock *lb;
    const char *lname = t_tag("lease");
    CHECK_ST(sqllock_acquire(&lb, b, lname, &lease), SQLLOCK_OK, b);
    CHECK(loss_heard_ms(admin, bname, b, &st) >= 0);
    CHECK_ST(st, SQLLOCK_ECONNECT, b);
    CHECK(strstr(sqllock_errmsg(b), "leases held stay taken") != NULL);
    sqllock_client *o = t_client(t_tag("other"));
    sqllock_lock *lo = NULL;
    CHECK(o);
    CHECK_ST(sqllock_acquire(&lo, o, lname, &lease), SQLLOCK_BUSY, o);
    sqllock_client_free(o);
    sqllock_client_free(a);
    sqllock_client_free(b);
    PQfinish(admin);
}

/* A terminated session heard in the loop; the next acquire started
   reconnects without blocking, in the loop, and takes its lock, while the
   lost one stays lost until the caller takes it again. */
static void t_reconnect_in_loop(void)
{
    const char *app = t_tag("re"), *name = t_tag("held"), *other = t_tag("other");
    sqllock_client *c = t_client(app);
    PGconn *admin = t_admin();
    CHECK(c && admin);
    sqllock_lock *l, *l2 = NULL, *l3 = NULL;
    CHECK_ST(t_drive(&l, c, sqllock_acquire_start(c, name, NULL)), SQLLOCK_OK, c);
    int before = t_pid(admin, app);
    sqllock_status st;
    CHECK(loss_heard_ms(admin, app, c, &st) >= 0);
    CHECK_ST(st, SQLLOCK_LOST, c);
    CHECK_ST(sqllock_acquire_start(c, other, NULL), SQLLOCK_PENDING, c);
    CHECK(sqllock_socket(c) >= 0); /* the new connection's, while it connects */
    CHECK_ST(t_drive(&l2, c, SQLLOCK_PENDING), SQLLOCK_OK, c);
    int after = t_pid(admin, app);
    CHECK(after != 0 && after != before);
    CHECK(t_free_for_others(name));
    CHECK_ST(t_drive(NULL, c, sqllock_check_start(l)), SQLLOCK_LOST, c);
    CHECK_ST(t_drive(&l3, c, sqllock_acquire_start(c, name, NULL)), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_LOST, c);
    CHECK_ST(t_drive(NULL, c, sqllock_release_start(l3)), SQLLOCK_OK, c);
    CHECK_ST(t_drive(NULL, c, sqllock_release_start(l2)), SQLLOCK_OK, c);
    sqllock_client_free(c);
    PQfinish(admin);
}

static void t_pending_wait_terminated(void)
{
    const char *name = t_tag("term"), *bname = t_tag("b");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(bname);
    PGconn *admin = t_admin();
    CHECK(a && b && admin);
    sqllock_lock *la, *lb = NULL;
    CHECK_ST(sqllock_acquire(&la, a, name, NULL), SQLLOCK_OK, a);
    CHECK(wait_queued(b, name, admin, bname));
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", t_pid(admin, bname));
    CHECK(t_sql_ll(admin, "SELECT pg_terminate_backend($1::int, 5000)::int", pid, NULL) == 1);
    CHECK_ST(t_drive(&lb, b, SQLLOCK_PENDING), SQLLOCK_ECONNECT, b);
    CHECK(lb == NULL);
    CHECK_ST(sqllock_release(la), SQLLOCK_OK, a);
    sqllock_client_free(a);
    sqllock_client_free(b);
    PQfinish(admin);
}

/*
 * Steps c's pending lease acquire (bounded: 5 s) until its backend holds
 * the lease's queue key and is idle: the head, asleep on its socket for
 * the holder's release. 1 then, 0 if that never happened or it ended.
 */
static int steps_until_asleep(PGconn *admin, int pid, sqllock_client *c)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", pid);
    for (long long end = t_now_ms() + 5000; t_now_ms() < end;) {
        struct pollfd fd = {.fd = sqllock_socket(c), .events = poll_events(c)};
        (void)poll(&fd, 1, 10);
        sqllock_lock *l = NULL;
        if (sqllock_poll(&l, c) != SQLLOCK_PENDING)
            return 0;
        if (t_sql_ll(admin,
                     "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                     " WHERE l.pid = $1::int AND l.locktype = 'advisory' AND l.granted"
                     " AND a.state = 'idle'",
                     p, NULL) == 1)
            return 1;
    }
    return 0;
}

/* A lease waiter in the loop: it sleeps on its socket until the holder's
   release notifies it (long before the 60 s ttl), and a canceled one
   leaves nothing queued. */
static void t_lease_in_loop(void)
{
    const char *name = t_tag("lease"), *bname = t_tag("b");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(bname);
    PGconn *admin = t_admin();
    CHECK(a && b && admin);
    sqllock_acquire_opts hold = t_lease(60000, 0), wait = t_lease(60000, SQLLOCK_WAIT_FOREVER);
    sqllock_lock *la, *lb = NULL;
    CHECK_ST(t_drive(&la, a, sqllock_acquire_start(a, name, &hold)), SQLLOCK_OK, a);
    int pid = t_pid(admin, bname);
    CHECK_ST(sqllock_acquire_start(b, name, &wait), SQLLOCK_PENDING, b);
    CHECK(steps_until_asleep(admin, pid, b));
    sqllock_cancel(b);
    CHECK_ST(t_drive(&lb, b, SQLLOCK_PENDING), SQLLOCK_CANCELED, b);
    CHECK(t_advisory_count(admin, pid, "false") == 0 &&
          t_advisory_count(admin, pid, "true") == 0);
    /* Again, and this time the release hands it over. */
    CHECK_ST(sqllock_acquire_start(b, name, &wait), SQLLOCK_PENDING, b);
    CHECK(steps_until_asleep(admin, pid, b));
    long long t0 = t_now_ms();
    CHECK_ST(t_drive(NULL, a, sqllock_release_start(la)), SQLLOCK_OK, a);
    CHECK_ST(t_drive(&lb, b, SQLLOCK_PENDING), SQLLOCK_OK, b);
    CHECK(t_now_ms() - t0 < 10000);
    CHECK(sqllock_fencing_token(lb) > 0);
    CHECK_ST(t_drive(NULL, b, sqllock_check_start(lb)), SQLLOCK_OK, b);
    CHECK_ST(t_drive(NULL, b, sqllock_release_start(lb)), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
    PQfinish(admin);
}

/* Runs c's loop (socket and timer, no other work) for ms; counts the
   renewals: polls that began one (PENDING from idle) and their outcomes.
   0 when a poll failed otherwise than as *failed allows (counted there). */
static int run_loop(sqllock_client *c, long long ms, int *renewals, int *failed)
{
    int in_flight = 0;
    for (long long end = t_now_ms() + ms; t_now_ms() < end;) {
        int64_t t = sqllock_timeout_ms(c);
        long long left = end - t_now_ms();
        struct pollfd p = {.fd = sqllock_socket(c), .events = poll_events(c)};
        int r = poll(&p, p.fd >= 0, t < 0 || t > left ? (int)left : (int)t);
        if (r < 0)
            return 0;
        if (r == 0 && !(t >= 0 && t <= left))
            continue; /* the loop's own end */
        sqllock_lock *out = NULL;
        sqllock_status st = sqllock_poll(&out, c);
        if (st == SQLLOCK_PENDING) {
            *renewals += !in_flight;
            in_flight = 1;
            continue;
        }
        if (st != SQLLOCK_OK && st != SQLLOCK_ECONNECT) {
            printf("loop: poll said %s: %s\n", sqllock_status_str(st), sqllock_errmsg(c));
            return 0;
        }
        *failed += st != SQLLOCK_OK;
        in_flight = 0;
    }
    return 1;
}

/* A 600 ms lease kept alive by the loop alone lives on: the loop's timer
   brings each renewal, another client is refused, and after its backend
   is terminated the next renewal reconnects and renews in time. */
static void t_keep_alive_in_loop(void)
{
    const char *name = t_tag("kept"), *app = t_tag("ka");
    sqllock_client *a = t_client(app), *b = t_client(t_tag("kb"));
    PGconn *admin = t_admin();
    CHECK(a && b && admin);
    sqllock_acquire_opts o = t_lease(600, 0);
    sqllock_lock *la, *lb;
    CHECK_ST(t_drive(&la, a, sqllock_acquire_start(a, name, &o)), SQLLOCK_OK, a);
    CHECK(sqllock_timeout_ms(a) == -1); /* not kept alive: no timer */
    CHECK_ST(sqllock_keep_alive(la, 1), SQLLOCK_OK, a);
    int64_t t = sqllock_timeout_ms(a);
    CHECKF(t >= 0 && t <= 200, "timeout %lld", (long long)t);
    /* Once due, a poll begins the renewal, and the client is busy with it. */
    (void)poll(NULL, 0, (int)t);
    CHECK_ST(sqllock_poll(NULL, a), SQLLOCK_PENDING, a);
    CHECK_ST(sqllock_check_start(la), SQLLOCK_ESTATE, a);
    CHECK(strstr(sqllock_errmsg(a), "renewal") != NULL);
    CHECK_ST(t_drive(NULL, a, SQLLOCK_PENDING), SQLLOCK_OK, a);
    int renewals = 0, failed = 0;
    CHECK(run_loop(a, 1500, &renewals, &failed));
    CHECK_ST(sqllock_acquire(&lb, b, name, &o), SQLLOCK_BUSY, b);
    CHECKF(renewals >= 5 && failed == 0, "renewals %d, failed %d", renewals, failed);
    int before = t_pid(admin, app);
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", before);
    CHECK(t_sql_ll(admin, "SELECT pg_terminate_backend($1::int, 5000)::int", pid, NULL) == 1);
    int again = 0;
    CHECK(run_loop(a, 1500, &again, &failed));
    int after = t_pid(admin, app);
    printf("keep alive in a loop: %d renewals in 1.5 s; after the backend was terminated %d "
           "more (%d failed), on a new backend\n",
           renewals, again, failed);
    CHECK(after != 0 && after != before);
    CHECK(sqllock_lease_deadline(la) > t_now_ms());
    CHECK_ST(sqllock_acquire(&lb, b, name, &o), SQLLOCK_BUSY, b);
    CHECK_ST(t_drive(NULL, a, sqllock_check_start(la)), SQLLOCK_OK, a);
    CHECK_ST(t_drive(NULL, a, sqllock_release_start(la)), SQLLOCK_OK, a);
    sqllock_client_free(a);
    sqllock_client_free(b);
    PQfinish(admin);
}

static void t_not_without_blocking(void)
{
    sqllock_client *c = t_client(t_tag("c"));
    CHECK(c);
    sqllock_acquire_opts shared = t_lease(60000, 0);
    shared.mode = SQLLOCK_SHARED;
    CHECK_ST(sqllock_acquire_start(c, t_tag("lease"), &shared), SQLLOCK_ENOTSUP, c);
    CHECK(sqllock_timeout_ms(c) == -1); /* nothing was left in flight */
    sqllock_lock *l = NULL;
    CHECK_ST(t_drive(&l, c, sqllock_acquire_key_start(c, 4242, NULL)), SQLLOCK_OK, c);
    CHECK_ST(t_drive(NULL, c, sqllock_release_start(l)), SQLLOCK_OK, c);
    CHECK_ST(sqllock_acquire_start(NULL, "x", NULL), SQLLOCK_EINVAL, NULL);
    CHECK_ST(sqllock_release_start(NULL), SQLLOCK_EINVAL, NULL);
    CHECK_ST(sqllock_poll(NULL, NULL), SQLLOCK_EINVAL, NULL);
    CHECK(sqllock_socket(NULL) == -1 && sqllock_events(NULL) == 0 &&
          sqllock_timeout_ms(NULL) == -1);
    sqllock_client_free(c);
}

static void t_free_with_pending_attached(void)
{
    const char *name = t_tag("free"), *pname = t_tag("p");
    sqllock_client *a = t_client(t_tag("a"));
    PGconn *pc = t_pq(pname), *admin = t_admin();
    CHECK(a && pc && admin);
    sqllock_lock *la;
    CHECK_ST(sqllock_acquire(&la, a, name, NULL), SQLLOCK_OK, a);
    sqllock_client *b;
    CHECK_ST(sqllock_attach_pg(&b, pc), SQLLOCK_OK, b);
    CHECK(wait_queued(b, name, admin, pname));
    /* The caller's connection comes back idle, waiting for nothing. */
    sqllock_client_free(b);
    CHECK(PQstatus(pc) == CONNECTION_OK && PQtransactionStatus(pc) == PQTRANS_IDLE);
    CHECK(t_exec(pc, "SELECT 1"));
    int pid = t_pid(admin, pname);
    CHECK(t_advisory_count(admin, pid, "false") == 0 &&
          t_advisory_count(admin, pid, "true") == 0);
    CHECK_ST(sqllock_release(la), SQLLOCK_OK, a);
    CHECK(t_free_for_others(name));
    PQfinish(pc);
    PQfinish(admin);
    sqllock_client_free(a);
}

static void t_connect_in_loop(void)
{
    const char *url = t_url();
    CHECK(url);
    sqllock_client *c = NULL;
    CHECK_ST(sqllock_connect_start(&c, url), SQLLOCK_PENDING, c);
    CHECK(sqllock_socket(c) >= 0 && sqllock_events(c) != 0);
    CHECK_ST(sqllock_acquire_start(c, "x", NULL), SQLLOCK_ESTATE, c); /* still connecting */
    CHECK_ST(t_drive(NULL, c, SQLLOCK_PENDING), SQLLOCK_OK, c);
    CHECK(strcmp(sqllock_backend_name(c), "pg-advisory") == 0);
    sqllock_lock *l = NULL;
    CHECK_ST(t_drive(&l, c, sqllock_acquire_start(c, t_tag("after"), NULL)), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    sqllock_client_free(c);

    /* Nobody listens there: ECONNECT through the loop, and no password in
       the message. */
    c = NULL;
    sqllock_status st = sqllock_connect_start(
        &c, "host=127.0.0.1 port=1 user=x password=hunter2-nb connect_timeout=5");
    CHECK(st == SQLLOCK_PENDING || st == SQLLOCK_ECONNECT);
    CHECK_ST(t_drive(NULL, c, st), SQLLOCK_ECONNECT, c);
    CHECK(strstr(sqllock_errmsg(c), "hunter2") == NULL && sqllock_errmsg(c)[0]);
    sqllock_client_free(c);

    /* connect_timeout bounds it: a listener that takes the connection into
       its backlog and never says a word. */
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    CHECK(ls >= 0 && bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(ls, 4) == 0 &&
          getsockname(ls, (struct sockaddr *)&sa, &len) == 0);
    char silent[128];
    snprintf(silent, sizeof(silent), "host=127.0.0.1 port=%d user=x connect_timeout=1",
             ntohs(sa.sin_port));
    c = NULL;
    long long t0 = t_now_ms();
    st = sqllock_connect_start(&c, silent); /* before c is read */
    CHECK_ST(t_drive(NULL, c, st), SQLLOCK_ECONNECT, c);
    long long took = t_now_ms() - t0;
    close(ls);
    CHECK(took >= 900 && took < 5000);
    CHECK(strstr(sqllock_errmsg(c), "timed out") != NULL);
    sqllock_client_free(c);

    c = NULL;
    CHECK_ST(sqllock_connect_start(&c, "odbc:DSN=x"), SQLLOCK_ENOTSUP, c);
    sqllock_client_free(c);
    CHECK_ST(sqllock_connect_start(NULL, url), SQLLOCK_EINVAL, NULL);
}

/*
 * The server restarts (pg_ctl restart -m immediate) under a holder that is
 * idle and a waiter whose wait is in flight, both watched by one poll()
 * loop: the holder's poll says LOST and the waiter's ECONNECT, each within
 * a bounded time, and a new client then takes the lock.
 */
static void t_server_restart_in_loop(void)
{
    const char *restart = t_env("SQLLOCK_TEST_RESTART_CMD"), *name = t_tag("restart");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(t_tag("b"));
    CHECK(restart && a && b);
    sqllock_lock *la, *lb = NULL;
    CHECK_ST(sqllock_acquire(&la, a, name, NULL), SQLLOCK_OK, a);
    sqllock_acquire_opts forever = t_opts(SQLLOCK_WAIT_FOREVER, SQLLOCK_SESSION);
    CHECK_ST(sqllock_acquire_start(b, name, &forever), SQLLOCK_PENDING, b);
    CHECK(system(restart) == 0);
    long long t0 = t_now_ms(), heard_a = -1, heard_b = -1;
    sqllock_status sa = SQLLOCK_OK, sb = SQLLOCK_PENDING;
    while ((heard_a < 0 || heard_b < 0) && t_now_ms() < t0 + 10000) {
        struct pollfd p[2] = {
            {.fd = heard_a < 0 ? sqllock_socket(a) : -1, .events = POLLIN},
            {.fd = heard_b < 0 ? sqllock_socket(b) : -1, .events = poll_events(b)}};
        CHECK(poll(p, 2, 1000) >= 0);
        if (p[0].revents && (sa = sqllock_poll(NULL, a)) != SQLLOCK_OK)
            heard_a = t_now_ms() - t0;
        if (p[1].revents && (sb = sqllock_poll(&lb, b)) != SQLLOCK_PENDING)
            heard_b = t_now_ms() - t0;
    }
    CHECK_ST(sa, SQLLOCK_LOST, a);
    CHECK_ST(sb, SQLLOCK_ECONNECT, b);
    CHECK(lb == NULL);
    printf("after the restart command returned: the idle holder heard LOST after %lld ms, the "
           "pending waiter ECONNECT after %lld ms\n",
           heard_a, heard_b);
    CHECK_ST(sqllock_release(la), SQLLOCK_LOST, a);
    sqllock_client *c = t_client(t_tag("c"));
    CHECK(c);
    CHECK_ST(t_drive(&lb, c, sqllock_acquire_start(c, name, NULL)), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(lb), SQLLOCK_OK, c);
    sqllock_client_free(a);
    sqllock_client_free(b);
    sqllock_client_free(c);
}

static const struct tcase cases[] = {
    {"server_restart_in_loop", t_server_restart_in_loop,
     "a restart under an idle holder and a pending waiter, one loop: LOST and ECONNECT, no "
     "hang; then a new client gets the lock"},
    {"connect_in_loop", t_connect_in_loop,
     "a connect started without blocking ends OK through the loop, or ECONNECT without the "
     "password; ODBC is ENOTSUP"},
    {"one_thread_many_clients", t_one_thread_many_clients,
     "one thread drives 24 clients over 4 names to 120 grants, never two holders at once"},
    {"one_in_flight", t_one_in_flight,
     "while an operation is in flight every other call on the client is ESTATE and changes "
     "nothing; the operation then ends as it would have"},
    {"cancel_through_loop", t_cancel_through_loop,
     "sqllock_cancel makes the timeout 0; the loop then ends the wait CANCELED, nothing queued"},
    {"timed_wait", t_timed_wait, "a bounded wait driven by the loop ends TIMEOUT on time"},
    {"idle_loss_heard", t_idle_loss_heard,
     "a terminated session makes the idle socket readable; poll says LOST (ECONNECT: no locks)"},
    {"reconnect_in_loop", t_reconnect_in_loop,
     "after a terminated session the next acquire started reconnects in the loop and works; "
     "the lost lock stays lost"},
    {"pending_wait_terminated", t_pending_wait_terminated,
     "a wait whose session is terminated ends ECONNECT through the loop, without a hang"},
    {"lease_in_loop", t_lease_in_loop,
     "a lease waiter driven by the loop is canceled with nothing queued, then handed the lease"},
    {"keep_alive_in_loop", t_keep_alive_in_loop,
     "a kept-alive lease renewed by the loop's timer outlives its ttl, across a terminate"},
    {"not_without_blocking", t_not_without_blocking,
     "a refused _start leaves nothing in flight; NULLs are EINVAL"},
    {"free_with_pending_attached", t_free_with_pending_attached,
     "freeing an attached client with a wait in flight cancels it: the caller's connection is "
     "idle and nothing is held or queued"},
};

T_MAIN(cases)
