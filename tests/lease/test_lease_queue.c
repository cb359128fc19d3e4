/* SPDX-License-Identifier: MIT */
/*
 * Lease waiters over libpq queue (src/lease_sql.h): the server grants the
 * lease's queue lock in arrival order, and only its holder, the head,
 * listens and tries the row. These cases prove what that promises: waiters
 * are served in the order they came, a release makes only the head and
 * the next in line run statements (the rest stay blocked in the one
 * statement they sent), and a waiter that times out, is canceled or is
 * killed leaves the queue without stalling it.
 *
 * Each waiter is a child process with its own client and application_name;
 * the parent lets one in at a time, seeing from pg_locks that it has
 * queued, so arrival order is known; children report through one pipe
 * (writes under PIPE_BUF are atomic) and release when the parent says.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

#define MAX_WAITERS 8

struct waiter {
    pid_t pid;
    int go[2];   /* parent -> child: release now */
    int backend; /* its server pid */
    char app[64];
};

/* The child: waits for the lease, reports "<index> <status>\n", holds it
   until told, releases. Exits 0 when all went as the parent asked. */
static void waiter_main(const char *name, int index, int wait_ms, const char *app, int report,
                        int go)
{
    sqllock_client *c = t_client(app);
    if (!c)
        _exit(2);
    sqllock_acquire_opts o = t_lease(60000, wait_ms);
    sqllock_lock *l = NULL;
    sqllock_status st = sqllock_acquire(&l, c, name, &o);
    char line[32];
    int n = snprintf(line, sizeof(line), "%d %d\n", index, (int)st);
    if (write(report, line, (size_t)n) != n)
        _exit(3);
    /* A wait that ended without the lease leaves the client usable: a try
       is answered (BUSY while others hold or queue), not an error. */
    sqllock_acquire_opts try = t_lease(60000, 0);
    sqllock_lock *again = NULL;
    if (st != SQLLOCK_OK && sqllock_acquire(&again, c, name, &try) != SQLLOCK_BUSY)
        _exit(6);
    if (st == SQLLOCK_OK) {
        char b;
        if (read(go, &b, 1) != 1)
            _exit(4);
        if (sqllock_release(l) != SQLLOCK_OK)
            _exit(5);
    }
    sqllock_client_free(c);
    _exit(0);
}

/* Granted advisory locks (held) or waiting ones of a backend. */
static long long advisory(PGconn *admin, int pid, int granted)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", pid);
    return t_sql_ll(admin,
                    granted ? "SELECT count(*) FROM pg_locks WHERE pid = $1::int"
                              " AND locktype = 'advisory' AND granted"
                            : "SELECT count(*) FROM pg_locks WHERE pid = $1::int"
                              " AND locktype = 'advisory' AND NOT granted",
                    p, NULL);
}

/* Waits (bounded) until the backend holds the queue lock (head: 1) or
   waits for it (queued: 0). */
static int queued(PGconn *admin, int pid, int head)
{
    for (int i = 0; i < 2500; i++) {
        if (advisory(admin, pid, head) > 0)
            return 1;
        usleep(2000);
    }
    return 0;
}

/* Starts waiter i and returns once the server shows it in the queue (as
   the head when it is the first). 0 on failure. */
static int start_waiter(PGconn *admin, struct waiter *w, const char *name, int i, int wait_ms,
                        int report, int head)
{
    snprintf(w->app, sizeof(w->app), "%s", t_tag("lq"));
    if (pipe(w->go) != 0)
        return 0;
    w->pid = fork();
    if (w->pid < 0)
        return 0;
    if (w->pid == 0) {
        close(w->go[1]);
        waiter_main(name, i, wait_ms, w->app, report, w->go[0]);
    }
    close(w->go[0]);
    for (int k = 0; k < 2500 && !(w->backend = t_pid(admin, w->app)); k++)
        usleep(2000);
    return w->backend && queued(admin, w->backend, head);
}

static void go(struct waiter *w)
{
    if (write(w->go[1], "g", 1) != 1)
        t_fail(__FILE__, __LINE__, "cannot tell waiter %d to release", (int)w->pid);
}

/* Reads one report: the waiter's index, and its status in *st. -1 on EOF. */
static int next_report(FILE *f, int *st)
{
    int i;
    return fscanf(f, "%d %d", &i, st) == 2 ? i : -1;
}

static int reap(struct waiter *w)
{
    int ws;
    close(w->go[1]);
    if (waitpid(w->pid, &ws, 0) != w->pid)
        return -1;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* A holder of one name and n waiters queued behind it in index order. */
struct run {
    PGconn *admin;
    sqllock_client *h;
    sqllock_lock *l;
    FILE *f; /* the waiters' reports */
    int n;
    struct waiter w[MAX_WAITERS];
};

/* Sets r up: waiter i gives up after wait_ms[i] (NULL: 30 s each). 1 when
   every waiter is in the queue, the first as its head. */
static int run_start(struct run *r, const char *name, int n, const int *wait_ms)
{
    memset(r, 0, sizeof(*r));
    r->n = n;
    r->admin = t_admin();
    r->h = t_client(t_tag("lqh"));
    sqllock_acquire_opts o = t_lease(60000, 0);
    int rep[2];
    if (!r->admin || !r->h || sqllock_acquire(&r->l, r->h, name, &o) != SQLLOCK_OK ||
        pipe(rep) != 0)
        return 0;
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        ok = start_waiter(r->admin, &r->w[i], name, i, wait_ms ? wait_ms[i] : 30000, rep[1],
                          i == 0);
        if (!ok) {
            t_fail(__FILE__, __LINE__, "waiter %d did not queue", i);
            r->n = r->w[i].pid > 0 ? i + 1 : i;
        }
    }
    close(rep[1]);
    r->f = fdopen(rep[0], "r");
    return ok && r->f;
}

/* The next grant goes to waiter i, which then releases. */
static void expect_grant(struct run *r, int i)
{
    int st, who = next_report(r->f, &st);
    CHECKF(who == i && st == SQLLOCK_OK, "the grant went to waiter %d (status %d), not %d", who,
           st, i);
    go(&r->w[i]);
}

/* Reaps the waiters (each must exit 0, but `killed`, -1: none) and frees r. */
static void run_end(struct run *r, int killed)
{
    for (int i = 0; i < r->n; i++) {
        if (i == killed)
            continue;
        if (r->w[i].pid <= 0)
            continue;
        int rc = reap(&r->w[i]);
        CHECKF(rc == 0, "waiter %d exited %d", i, rc);
    }
    if (r->f)
        fclose(r->f);
    sqllock_client_free(r->h);
    PQfinish(r->admin);
}

/* Six waiters arrive one after another behind a holder: each release
   passes the lease to the next in arrival order. */
static void t_fifo(void)
{
    struct run r;
    if (run_start(&r, t_tag("fifo"), 6, NULL)) {
        CHECK_ST(sqllock_release(r.l), SQLLOCK_OK, r.h);
        for (int i = 0; i < r.n; i++)
            expect_grant(&r, i);
    }
    run_end(&r, -1);
}

/* The backend's last statement start, as text (unchanged: it ran none). */
static void query_start(PGconn *admin, int pid, char *out, size_t n)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", pid);
    const char *params[1] = {p};
    PGresult *r =
        PQexecParams(admin, "SELECT query_start::text FROM pg_stat_activity WHERE pid = $1::int",
                     1, NULL, params, NULL, NULL, 0);
    snprintf(out, n, "%s",
             PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0)
                                                                       : "?");
    PQclear(r);
}

/* One release: the head takes the lease, the next in line becomes head;
   the waiters behind them run no statement at all. */
static void t_one_woken(void)
{
    enum { N = 5 };
    struct run r;
    if (run_start(&r, t_tag("woken"), N, NULL)) {
        char before[N][64], after[64];
        for (int i = 0; i < N; i++)
            query_start(r.admin, r.w[i].backend, before[i], sizeof(before[i]));
        CHECK_ST(sqllock_release(r.l), SQLLOCK_OK, r.h);
        int st, who = next_report(r.f, &st);
        CHECKF(who == 0 && st == SQLLOCK_OK, "the head was not served first: %d", who);
        /* Waiter 1 is the head now: it has taken the queue lock. */
        CHECK(queued(r.admin, r.w[1].backend, 1));
        for (int i = 2; i < N; i++) {
            query_start(r.admin, r.w[i].backend, after, sizeof(after));
            CHECKF(strcmp(before[i], after) == 0 && advisory(r.admin, r.w[i].backend, 0) == 1,
                   "waiter %d ran a statement after a release not its turn (%s -> %s)", i,
                   before[i], after);
        }
        go(&r.w[0]);
        for (int i = 1; i < N; i++)
            expect_grant(&r, i);
    }
    run_end(&r, -1);
}

/* A queued waiter that times out, a head that times out and a queued
   waiter killed with SIGKILL leave the queue: the others are served in
   order, nobody holds the queue lock for them, nothing stalls. */
static void t_leavers(void)
{
    /* 0: head, gives up after 1.5 s; 1: stays; 2: queued, gives up after
       1.5 s; 3: killed while queued; 4: stays. */
    static const int wait_ms[] = {1500, 30000, 1500, 30000, 30000};
    struct run r;
    if (run_start(&r, t_tag("leave"), 5, wait_ms)) {
        CHECK(kill(r.w[3].pid, SIGKILL) == 0);
        int seen[5] = {0}, st, who;
        for (int k = 0; k < 2 && (who = next_report(r.f, &st)) >= 0; k++) {
            CHECKF((who == 0 || who == 2) && st == SQLLOCK_TIMEOUT, "waiter %d: status %d", who,
                   st);
            seen[who == 2] = 1;
        }
        CHECK(seen[0] && seen[1]);
        CHECKF(reap(&r.w[3]) == 128 + SIGKILL, "the killed waiter exited otherwise");
        /* The first that stays is the head now; the dead one's backend
           leaves within client_connection_check_interval (2 s). */
        CHECK(queued(r.admin, r.w[1].backend, 1));
        CHECK(advisory(r.admin, r.w[0].backend, 1) == 0 &&
              advisory(r.admin, r.w[2].backend, 1) == 0);
        long long t0 = t_now_ms();
        CHECK_ST(sqllock_release(r.l), SQLLOCK_OK, r.h);
        expect_grant(&r, 1);
        expect_grant(&r, 4);
        long long took = t_now_ms() - t0;
        CHECKF(took < 10000, "the queue stalled for %lld ms", took);
    }
    run_end(&r, 3);
}

static const struct tcase cases[] = {
    {"fifo", t_fifo, "lease waiters are served in arrival order"},
    {"one_woken", t_one_woken,
     "a release makes only the head and the next in line run statements"},
    {"leavers", t_leavers,
     "waiters that time out or are killed leave the queue without stalling it"},
};

T_MAIN(cases)
