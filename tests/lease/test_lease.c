/* SPDX-License-Identifier: MIT */
/*
 * Leases against a real database, once per backend and transport (the URL
 * comes from the variable SQLLOCK_SUITE_URL_VAR names): PostgreSQL over
 * libpq and over ODBC, SQLite over ODBC. Expiry, fencing tokens, stale
 * holders, races for an expired lease, a client whose clock is wrong,
 * ttl_min_ms, how fast a waiter wakes (NOTIFY over libpq, polling over
 * ODBC), and the limits of leases. Processes that race synchronise on pipes
 * (barriers) and report what each saw to the parent, which checks it.
 * The libpq-only cases (attached connections) are in test_lease_pg.c.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

/* SQLite has no server and no session locks: the client is all leases,
   and the database's clock is that of the machine running the client. */
static int lease_only(sqllock_client *c)
{
    return strcmp(sqllock_backend_name(c), "lease") == 0;
}

/*
 * Waits until whoever holds name has let its lease expire: takes it with a
 * 1 ms lease (so after the holder's expiry, by the database's clock), then
 * polls check until that one has run out too. 1 when done, in bounded time.
 */
static int wait_expired(sqllock_client *c, const char *name)
{
    sqllock_acquire_opts o = t_lease(1, 10000);
    sqllock_lock *l;
    if (sqllock_acquire(&l, c, name, &o) != SQLLOCK_OK)
        return 0;
    int i = 0;
    while (sqllock_check(l) == SQLLOCK_OK && i++ < 1000)
        usleep(1000);
    return sqllock_release(l) == SQLLOCK_LOST;
}

static int wait_child(pid_t pid)
{
    int ws;
    if (waitpid(pid, &ws, 0) != pid)
        return -1;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static void t_basic(void)
{
    const char *name = t_tag("basic");
    sqllock_client *a = t_client(t_tag("la")), *b = t_client(t_tag("lb"));
    CHECK(a && b);
    sqllock_acquire_opts o = t_lease(60000, 0);
    sqllock_lock *la, *lb, *adv;
    CHECK_ST(sqllock_acquire(&la, a, name, &o), SQLLOCK_OK, a);
    int64_t t1 = sqllock_fencing_token(la);
    CHECK(t1 > 0);
    CHECK_ST(sqllock_check(la), SQLLOCK_OK, a);
    CHECK_ST(sqllock_acquire(&lb, b, name, &o), SQLLOCK_BUSY, b);
    CHECK_ST(sqllock_acquire(&lb, a, name, &o), SQLLOCK_ESTATE, a); /* no re-entry */
    if (lease_only(a)) { /* no session locks: a lock without a ttl is refused */
        CHECK_ST(sqllock_acquire(&adv, a, name, NULL), SQLLOCK_ENOTSUP, a);
        CHECK(strstr(sqllock_errmsg(a), "ttl_ms"));
        CHECK_ST(sqllock_extend(la, 120000), SQLLOCK_OK, a);
        CHECK_ST(sqllock_release(la), SQLLOCK_OK, a);
        CHECK_ST(sqllock_acquire(&lb, b, name, &o), SQLLOCK_OK, b);
        CHECK(sqllock_fencing_token(lb) == t1 + 1);
        CHECK_ST(sqllock_release(lb), SQLLOCK_OK, b);
        sqllock_client_free(a);
        sqllock_client_free(b);
        return;
    }
    /* The advisory lock of the same name is another lock. */
    CHECK_ST(sqllock_acquire(&adv, a, name, NULL), SQLLOCK_OK, a);
    CHECK_ST(sqllock_extend(la, 120000), SQLLOCK_OK, a);
    CHECK_ST(sqllock_extend(adv, 1000), SQLLOCK_ENOTSUP, a);
    CHECK(sqllock_fencing_token(adv) == 0);
    CHECK_ST(sqllock_release(adv), SQLLOCK_OK, a);
    CHECK_ST(sqllock_release(la), SQLLOCK_OK, a);
    CHECK_ST(sqllock_acquire(&lb, b, name, &o), SQLLOCK_OK, b);
    CHECK(sqllock_fencing_token(lb) == t1 + 1);
    CHECK(strcmp(sqllock_lock_name(lb), name) == 0);
    CHECK_ST(sqllock_release(lb), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

static void t_expiry(void)
{
    const char *name = t_tag("expiry");
    sqllock_client *a = t_client(t_tag("la")), *b = t_client(t_tag("lb"));
    CHECK(a && b);
    sqllock_acquire_opts oa = t_lease(300, 0), ob = t_lease(60000, 10000);
    sqllock_lock *la, *lb;
    /* Timed from before the holder's acquire was sent: the row's expiry is
       counted from when the server ran it, which a slow client (valgrind,
       a loaded machine) may learn of long after. */
    long long t0 = t_now_ms();
    CHECK_ST(sqllock_acquire(&la, a, name, &oa), SQLLOCK_OK, a);
    CHECK_ST(sqllock_acquire(&lb, b, name, &ob), SQLLOCK_OK, b);
    long long waited = t_now_ms() - t0;
    printf("expiry: waiter got the lease %lld ms after the 300 ms lease was asked for\n",
           waited);
    CHECKF(waited >= 290 && waited < 10000, "waited %lld ms", waited);
    CHECK(sqllock_fencing_token(lb) > sqllock_fencing_token(la));
    CHECK_ST(sqllock_check(la), SQLLOCK_LOST, a);
    CHECK_ST(sqllock_extend(la, 60000), SQLLOCK_LOST, a);
    CHECK_ST(sqllock_release(la), SQLLOCK_LOST, a);
    CHECK_ST(sqllock_check(lb), SQLLOCK_OK, b);
    CHECK_ST(sqllock_release(lb), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

static void t_expiry_unreleased(void)
{
    /* Acquire and never release: at most once per ttl. */
    const char *name = t_tag("atmost");
    sqllock_client *a = t_client(t_tag("la"));
    CHECK(a);
    /* Long enough that a slow client (valgrind) still releases in time;
       the waiter below then waits out one whole ttl. */
    sqllock_acquire_opts o = t_lease(3000, 0);
    sqllock_lock *l1, *l2;
    CHECK_ST(sqllock_acquire(&l1, a, name, &o), SQLLOCK_OK, a);
    CHECK_ST(sqllock_release(l1), SQLLOCK_OK, a);
    /* Released: free again at once (no ttl_min_ms). */
    CHECK_ST(sqllock_acquire(&l1, a, name, &o), SQLLOCK_OK, a);
    sqllock_client *b = t_client(t_tag("lb"));
    CHECK(b);
    CHECK_ST(sqllock_acquire(&l2, b, name, &o), SQLLOCK_BUSY, b);
    o.wait_ms = 15000;
    CHECK_ST(sqllock_acquire(&l2, b, name, &o), SQLLOCK_OK, b);
    CHECK_ST(sqllock_release(l1), SQLLOCK_LOST, a);
    CHECK_ST(sqllock_release(l2), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

/* A holder paused (SIGSTOP) past its ttl: another takes the lease; once
   resumed, the old holder's check, extend and release all say LOST. */
static void t_stale_holder(void)
{
    const char *name = t_tag("stale");
    int up[2], down[2];
    CHECK(pipe(up) == 0 && pipe(down) == 0);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        sqllock_client *c = t_client(t_tag("stale-child"));
        sqllock_acquire_opts o = t_lease(400, 0);
        sqllock_lock *l;
        int st[4] = {c ? sqllock_acquire(&l, c, name, &o) : -99, 0, 0, 0};
        if (write(up[1], st, sizeof(int)) != sizeof(int) || st[0] != SQLLOCK_OK)
            _exit(2);
        char go;
        if (read(down[0], &go, 1) != 1)
            _exit(3);
        st[1] = sqllock_check(l);
        st[2] = sqllock_extend(l, 60000);
        st[3] = sqllock_release(l);
        if (write(up[1], st + 1, 3 * sizeof(int)) != 3 * sizeof(int))
            _exit(4);
        sqllock_client_free(c);
        _exit(0);
    }
    int st[3];
    CHECK(read(up[0], st, sizeof(int)) == sizeof(int));
    CHECKF(st[0] == SQLLOCK_OK, "child acquire: %d", st[0]);
    CHECK(kill(pid, SIGSTOP) == 0);
    sqllock_client *b = t_client(t_tag("stale-new"));
    CHECK(b);
    sqllock_acquire_opts o = t_lease(60000, 10000);
    sqllock_lock *lb;
    CHECK_ST(sqllock_acquire(&lb, b, name, &o), SQLLOCK_OK, b);
    CHECK(kill(pid, SIGCONT) == 0);
    CHECK(write(down[1], "g", 1) == 1);
    CHECK(read(up[0], st, sizeof(st)) == sizeof(st));
    CHECKF(st[0] == SQLLOCK_LOST && st[1] == SQLLOCK_LOST && st[2] == SQLLOCK_LOST,
           "old holder: check %d, extend %d, release %d", st[0], st[1], st[2]);
    CHECK(wait_child(pid) == 0);
    CHECK_ST(sqllock_check(lb), SQLLOCK_OK, b);
    CHECK_ST(sqllock_release(lb), SQLLOCK_OK, b);
    sqllock_client_free(b);
    close(up[0]), close(up[1]), close(down[0]), close(down[1]);
}

/* 1,000 acquisitions by two clients, one in ten a takeover of a lease left
   to expire: every token is larger than the one before. */
static void t_tokens_increase(void)
{
    const char *name = t_tag("tokens");
    sqllock_client *a = t_client(t_tag("la")), *b = t_client(t_tag("lb"));
    CHECK(a && b);
    int64_t last = 0;
    int takeovers = 0, taken = 0;
    for (int i = 0; i < 1000; i++) {
        sqllock_client *c = i % 2 ? a : b;
        sqllock_lock *l, *l2;
        if (i % 10 == 9) {
            sqllock_acquire_opts shrt = t_lease(2, 0), o = t_lease(60000, 5000);
            CHECK_ST(sqllock_acquire(&l, c, name, &shrt), SQLLOCK_OK, c);
            CHECKF(sqllock_fencing_token(l) > last, "token %lld after %lld",
                   (long long)sqllock_fencing_token(l), (long long)last);
            last = sqllock_fencing_token(l);
            sqllock_client *d = c == a ? b : a;
            CHECK_ST(sqllock_acquire(&l2, d, name, &o), SQLLOCK_OK, d);
            CHECK_ST(sqllock_release(l), SQLLOCK_LOST, c);
            CHECKF(sqllock_fencing_token(l2) > last, "takeover token %lld after %lld",
                   (long long)sqllock_fencing_token(l2), (long long)last);
            last = sqllock_fencing_token(l2);
            CHECK_ST(sqllock_release(l2), SQLLOCK_OK, d);
            takeovers++;
            taken += 2;
            i++;
            continue;
        }
        sqllock_acquire_opts o = t_lease(60000, 0);
        CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_OK, c);
        CHECKF(sqllock_fencing_token(l) > last, "token %lld after %lld",
               (long long)sqllock_fencing_token(l), (long long)last);
        last = sqllock_fencing_token(l);
        CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
        taken++;
    }
    printf("tokens: %d acquisitions, %d takeovers after expiry, last token %lld\n", taken,
           takeovers, (long long)last);
    CHECK(taken >= 1000 && last == taken);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

/* 16 processes race for one expired lease, 10 rounds: one winner each. Each
   round's winner holds a 1 s lease, which the parent waits out (by the
   database's clock) before it opens the next round. */
#define RACERS 16
#define ROUNDS 10
static void t_race_expired(void)
{
    const char *name = t_tag("race");
    sqllock_client *pc = t_client(t_tag("race-parent"));
    CHECK(pc);
    int ready[2], go[RACERS][2], res[2];
    CHECK(pipe(ready) == 0 && pipe(res) == 0);
    pid_t pids[RACERS];
    fflush(stdout);
    for (int k = 0; k < RACERS; k++) {
        CHECK(pipe(go[k]) == 0);
        pids[k] = fork();
        CHECK(pids[k] >= 0);
        if (pids[k] == 0) {
            sqllock_client *c = t_client(t_tag("racer"));
            char b = c ? 'r' : 'x';
            if (write(ready[1], &b, 1) != 1 || !c)
                _exit(2);
            sqllock_lock *held = NULL;
            sqllock_acquire_opts o = t_lease(1000, 0);
            for (int round = 0; round < ROUNDS; round++) {
                if (read(go[k][0], &b, 1) != 1)
                    _exit(3);
                int stale_ok = 1;
                if (held) /* it expired before this round opened: ours no more */
                    stale_ok = sqllock_release(held) == SQLLOCK_LOST;
                held = NULL;
                sqllock_status st = sqllock_acquire(&held, c, name, &o);
                long long out[3] = {k, st == SQLLOCK_OK ? 1 : st == SQLLOCK_BUSY ? 0 : 2, st};
                if (!stale_ok)
                    out[1] = 3;
                if (write(res[1], out, sizeof(out)) != sizeof(out))
                    _exit(4);
            }
            if (read(go[k][0], &b, 1) != 1) /* everyone has reported the last round */
                _exit(5);
            if (held)
                (void)sqllock_release(held);
            sqllock_client_free(c);
            _exit(0);
        }
    }
    for (int k = 0; k < RACERS; k++) {
        char b;
        CHECK(read(ready[0], &b, 1) == 1 && b == 'r');
    }
    for (int round = 0; round < ROUNDS; round++) {
        if (round > 0)
            CHECK(wait_expired(pc, name));
        for (int k = 0; k < RACERS; k++)
            CHECK(write(go[k][1], "g", 1) == 1);
        int winners = 0;
        for (int k = 0; k < RACERS; k++) {
            long long out[3];
            CHECK(read(res[0], out, sizeof(out)) == sizeof(out));
            CHECKF(out[1] == 0 || out[1] == 1, "racer %lld round %d: outcome %lld (status %lld)",
                   out[0], round, out[1], out[2]);
            winners += (int)out[1];
        }
        CHECKF(winners == 1, "round %d: %d winners", round, winners);
    }
    for (int k = 0; k < RACERS; k++)
        CHECK(write(go[k][1], "e", 1) == 1);
    for (int k = 0; k < RACERS; k++)
        CHECKF(wait_child(pids[k]) == 0, "racer %d failed", k);
    for (int k = 0; k < RACERS; k++)
        close(go[k][0]), close(go[k][1]);
    close(ready[0]), close(ready[1]), close(res[0]), close(res[1]);
    printf("race: %d rounds of %d processes for an expired lease, exactly one winner each\n",
           ROUNDS, RACERS);
    sqllock_client_free(pc);
}

/* The helper run under faketime: its clock is an hour behind. */
static int faketime_helper(const char *name_held, const char *name_free)
{
    const char *parent_now = getenv("SQLLOCK_PARENT_TIME");
    long long skew = parent_now ? atoll(parent_now) - (long long)time(NULL) : 0;
    if (skew < 3000 || skew > 4000)
        return 13; /* not running an hour behind: the test would prove nothing */
    sqllock_client *c = NULL;
    const char *var = getenv("SQLLOCK_SUITE_URL_VAR");
    const char *url = getenv(var && *var ? var : "SQLLOCK_TEST_URL");
    if (!url || sqllock_connect(&c, url) != SQLLOCK_OK)
        return 10;
    if (strcmp(sqllock_backend_name(c), "lease") == 0) {
        /* SQLite's clock is this process's: its lease is an hour stale at
           birth, which the parent checks. */
        sqllock_acquire_opts o2 = t_lease(60000, 0);
        sqllock_lock *l2;
        if (sqllock_acquire(&l2, c, name_free, &o2) != SQLLOCK_OK)
            return 14;
        _exit(0);
    }
    sqllock_acquire_opts o = t_lease(1500, 0);
    sqllock_lock *l;
    if (sqllock_acquire(&l, c, name_held, &o) != SQLLOCK_BUSY)
        return 11;
    if (sqllock_acquire(&l, c, name_free, &o) != SQLLOCK_OK)
        return 12;
    /* Left to expire by itself (no release, no client_free, which would
       release it): the row says when, by the server's clock. */
    _exit(0);
}

static void t_clock_skew(void)
{
    const char *held = t_tag("skew-held"), *freed = t_tag("skew-free");
    sqllock_client *a = t_client(t_tag("la"));
    CHECK(a && t_url());
    sqllock_acquire_opts o = t_lease(60000, 0);
    sqllock_lock *la, *lb;
    CHECK_ST(sqllock_acquire(&la, a, held, &o), SQLLOCK_OK, a);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    CHECK(n > 0);
    self[n] = '\0';
    fflush(stdout);
    long long now = time(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char nowtxt[24];
        snprintf(nowtxt, sizeof(nowtxt), "%lld", now);
        setenv("SQLLOCK_PARENT_TIME", nowtxt, 1);
        setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
        setenv("ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=0", 1);
        execlp("faketime", "faketime", "-f", "-1h", self, "--faketime-helper", held, freed,
               (char *)NULL);
        _exit(127);
    }
    int rc = wait_child(pid);
    CHECKF(rc == 0, "helper under faketime -1h exited %d (127: faketime missing)", rc);
    if (lease_only(a)) {
        /* SQLite has no server: the database's clock is each client's own.
           The -1h client's 60 s lease ended, by this clock, an hour ago: it
           is free at once. Documented: every client of one SQLite file must
           share a clock (run on one machine). */
        CHECK_ST(sqllock_acquire(&lb, a, freed, &o), SQLLOCK_OK, a);
        printf("clock skew: on SQLite a -1h client's lease is stale at once (documented)\n");
        CHECK_ST(sqllock_release(lb), SQLLOCK_OK, a);
        CHECK_ST(sqllock_release(la), SQLLOCK_OK, a);
        sqllock_client_free(a);
        return;
    }
    /* The helper's release-less lease on freed is still held by the server's
       clock, though by the helper's own clock it ran out an hour ago. */
    CHECK_ST(sqllock_acquire(&lb, a, freed, &o), SQLLOCK_BUSY, a);
    o.wait_ms = 10000;
    long long t0 = t_now_ms();
    CHECK_ST(sqllock_acquire(&lb, a, freed, &o), SQLLOCK_OK, a);
    printf("clock skew: the -1h client's 1500 ms lease freed %lld ms later (started %lld)\n",
           t_now_ms() - t0, now);
    CHECK_ST(sqllock_release(lb), SQLLOCK_OK, a);
    CHECK_ST(sqllock_release(la), SQLLOCK_OK, a);
    sqllock_client_free(a);
}

static void t_ttl_min(void)
{
    const char *name = t_tag("ttlmin");
    sqllock_client *a = t_client(t_tag("la")), *b = t_client(t_tag("lb"));
    CHECK(a && b);
    sqllock_acquire_opts o = t_lease(60000, 0);
    o.ttl_min_ms = 800;
    sqllock_lock *la, *lb;
    long long t0 = t_now_ms();
    CHECK_ST(sqllock_acquire(&la, a, name, &o), SQLLOCK_OK, a);
    CHECK_ST(sqllock_release(la), SQLLOCK_OK, a);
    sqllock_acquire_opts ob = t_lease(60000, 0);
    CHECK_ST(sqllock_acquire(&lb, b, name, &ob), SQLLOCK_BUSY, b);
    ob.wait_ms = 10000;
    CHECK_ST(sqllock_acquire(&lb, b, name, &ob), SQLLOCK_OK, b);
    long long got = t_now_ms() - t0;
    printf("ttl_min: released at once, free again after %lld ms (ttl_min_ms 800)\n", got);
    CHECKF(got >= 700 && got < 5000, "free after %lld ms", got);
    CHECK_ST(sqllock_release(lb), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

struct waiter {
    sqllock_client *c;
    const char *name;
    sqllock_status st;
    long long done_ms;
    sqllock_lock *l;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    sqllock_acquire_opts o = t_lease(60000, 30000);
    w->st = sqllock_acquire(&w->l, w->c, w->name, &o);
    w->done_ms = t_now_ms();
    return NULL;
}

/* Waits (bounded) until the session with appname sits idle after its try:
   it is then sleeping (on LISTEN over libpq; between polls over ODBC).
   SQLite has no server to ask: the waiter gets 300 ms to start polling, and
   one that starts later takes the lease at its first try, which the test
   accepts as well. */
static int wait_listening(PGconn *admin, const char *appname, int serverless)
{
    if (serverless) {
        usleep(300000);
        return 1;
    }
    for (int i = 0; i < 1000; i++) {
        long long n = t_sql_ll(admin,
                               "SELECT count(*) FROM pg_stat_activity"
                               " WHERE application_name = $1 AND state = 'idle'"
                               " AND query LIKE 'WITH t AS%'",
                               appname, NULL);
        if (n == 1)
            return 1;
        usleep(2000);
    }
    return 0;
}

static int cmp_ll(const void *x, const void *y)
{
    long long a = *(const long long *)x, b = *(const long long *)y;
    return a < b ? -1 : a > b;
}

/* A waiter sleeps on LISTEN; the holder's release wakes it through NOTIFY
   long before the holder's 60 s expiry. The latency is reported. */
static void t_notify_wakeup(void)
{
    enum { N = 20 };
    const char *name = t_tag("notify"), *wname = t_tag("waiter");
    sqllock_client *a = t_client(t_tag("la")), *b = t_client(wname);
    CHECK(a && b);
    PGconn *admin = lease_only(a) ? NULL : t_admin();
    CHECK(lease_only(a) || admin);
    long long lat[N];
    for (int i = 0; i < N; i++) {
        sqllock_acquire_opts o = t_lease(60000, 0);
        sqllock_lock *la;
        CHECK_ST(sqllock_acquire(&la, a, name, &o), SQLLOCK_OK, a);
        struct waiter w = {b, name, SQLLOCK_ESERVER, 0, NULL};
        pthread_t th;
        CHECK(pthread_create(&th, NULL, waiter_main, &w) == 0);
        int listening = wait_listening(admin, wname, lease_only(a));
        long long t0 = t_now_ms();
        sqllock_status rs = sqllock_release(la);
        pthread_join(th, NULL);
        CHECK(listening);
        CHECK_ST(rs, SQLLOCK_OK, a);
        CHECK_ST(w.st, SQLLOCK_OK, b);
        lat[i] = w.done_ms - t0;
        CHECK_ST(sqllock_release(w.l), SQLLOCK_OK, b);
    }
    qsort(lat, N, sizeof(lat[0]), cmp_ll);
    const char *url = t_url();
    printf("%s wake-up: release -> waiter's acquire returned: median %lld ms, max %lld ms "
           "(%d samples, holder ttl 60 s)\n",
           url && strncmp(url, "odbc:", 5) == 0 ? "polling (ODBC)" : "NOTIFY", lat[N / 2],
           lat[N - 1], N);
    CHECKF(lat[N - 1] < 5000, "max wake-up %lld ms", lat[N - 1]);
    sqllock_client_free(a);
    sqllock_client_free(b);
    if (admin)
        PQfinish(admin);
}

static void *cancel_after(void *arg)
{
    usleep(200000);
    sqllock_cancel(arg);
    return NULL;
}

static void t_timeout_and_cancel(void)
{
    const char *name = t_tag("tmo");
    sqllock_client *a = t_client(t_tag("la")), *b = t_client(t_tag("lb"));
    CHECK(a && b);
    sqllock_acquire_opts o = t_lease(60000, 0);
    sqllock_lock *la, *lb;
    CHECK_ST(sqllock_acquire(&la, a, name, &o), SQLLOCK_OK, a);
    o.wait_ms = 300;
    long long t0 = t_now_ms();
    CHECK_ST(sqllock_acquire(&lb, b, name, &o), SQLLOCK_TIMEOUT, b);
    long long took = t_now_ms() - t0;
    CHECKF(took >= 250 && took < 3000, "timed out after %lld ms", took);
    o.wait_ms = SQLLOCK_WAIT_FOREVER;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, cancel_after, b) == 0);
    CHECK_ST(sqllock_acquire(&lb, b, name, &o), SQLLOCK_CANCELED, b);
    pthread_join(th, NULL);
    /* The session is left as found: not listening. */
    CHECK_ST(sqllock_release(la), SQLLOCK_OK, a);
    o.wait_ms = 0;
    CHECK_ST(sqllock_acquire(&lb, b, name, &o), SQLLOCK_OK, b);
    CHECK_ST(sqllock_release(lb), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

static void t_free_releases(void)
{
    const char *name = t_tag("free");
    sqllock_client *a = t_client(t_tag("la")), *b = t_client(t_tag("lb"));
    CHECK(a && b);
    sqllock_acquire_opts o = t_lease(60000, 0);
    sqllock_lock *la, *lb;
    CHECK_ST(sqllock_acquire(&la, a, name, &o), SQLLOCK_OK, a);
    (void)la;
    sqllock_client_free(a);
    CHECK_ST(sqllock_acquire(&lb, b, name, &o), SQLLOCK_OK, b);
    CHECK_ST(sqllock_release(lb), SQLLOCK_OK, b);
    sqllock_client_free(b);
}

/* The client-side deadline: from when the acquiring (or extending)
   statement was sent, plus the ttl; -1 for what does not expire. */
static void t_deadline(void)
{
    sqllock_client *a = t_client(t_tag("dl"));
    CHECK(a);
    sqllock_acquire_opts o = t_lease(60000, 0);
    sqllock_lock *l, *adv;
    long long t0 = t_now_ms();
    CHECK_ST(sqllock_acquire(&l, a, t_tag("deadline"), &o), SQLLOCK_OK, a);
    long long t1 = t_now_ms(), d = sqllock_lease_deadline(l);
    CHECKF(d >= t0 + 60000 && d <= t1 + 60000, "deadline %lld, acquire in [%lld, %lld]", d, t0,
           t1);
    t0 = t_now_ms();
    CHECK_ST(sqllock_extend(l, 120000), SQLLOCK_OK, a);
    t1 = t_now_ms();
    d = sqllock_lease_deadline(l);
    CHECKF(d >= t0 + 120000 && d <= t1 + 120000, "deadline %lld, extend in [%lld, %lld]", d, t0,
           t1);
    CHECK(sqllock_lease_deadline(NULL) == -1);
    if (!lease_only(a)) {
        CHECK_ST(sqllock_acquire(&adv, a, t_tag("deadline"), NULL), SQLLOCK_OK, a);
        CHECK(sqllock_lease_deadline(adv) == -1);
        CHECK_ST(sqllock_keep_alive(adv, 1), SQLLOCK_ENOTSUP, a);
        CHECK_ST(sqllock_release(adv), SQLLOCK_OK, a);
    }
    CHECK_ST(sqllock_keep_alive(NULL, 1), SQLLOCK_EINVAL, a);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, a);
    sqllock_client_free(a);
}

struct keeper {
    sqllock_client *c;
    int stop[2];
    sqllock_lock *lost;
    sqllock_status st;
    pthread_t thread;
};

static void *keep_thread(void *arg)
{
    struct keeper *k = arg;
    k->st = sqllock_keep_alive_run(&k->lost, k->c, k->stop[0]);
    return NULL;
}

static int keeper_start(struct keeper *k, sqllock_client *c)
{
    *k = (struct keeper){.c = c};
    if (pipe(k->stop) != 0)
        return 0;
    return pthread_create(&k->thread, NULL, keep_thread, k) == 0;
}

static void keeper_stop(struct keeper *k)
{
    (void)!write(k->stop[1], "x", 1);
    pthread_join(k->thread, NULL);
    close(k->stop[0]);
    close(k->stop[1]);
}

/* A 600 ms lease kept alive by sqllock_keep_alive_run on a thread lives
   for 2.5 s: another client is refused throughout, and its deadline, read
   on another thread, is never reached and moves on. */
static void t_keep_alive_run(void)
{
    const char *name = t_tag("kept");
    sqllock_client *a = t_client(t_tag("ka")), *b = t_client(t_tag("kb"));
    CHECK(a && b);
    sqllock_acquire_opts o = t_lease(600, 0);
    sqllock_lock *la, *lb;
    CHECK_ST(sqllock_acquire(&la, a, name, &o), SQLLOCK_OK, a);
    long long first = sqllock_lease_deadline(la);
    CHECK_ST(sqllock_keep_alive(la, 1), SQLLOCK_OK, a);
    struct keeper k;
    CHECK(keeper_start(&k, a));
    int tries = 0, busy = 0, late = 0;
    for (long long end = t_now_ms() + 2500; t_now_ms() < end; tries++) {
        busy += sqllock_acquire(&lb, b, name, &o) == SQLLOCK_BUSY;
        late += sqllock_lease_deadline(la) <= t_now_ms();
        usleep(100 * 1000); /* pacing of the other client's tries */
    }
    keeper_stop(&k);
    CHECK_ST(k.st, SQLLOCK_OK, a);
    CHECK(k.lost == NULL);
    long long last = sqllock_lease_deadline(la);
    printf("keep alive: %d of %d tries by another client refused; the deadline moved %lld ms\n",
           busy, tries, last - first);
    CHECKF(busy == tries && late == 0, "busy %d late %d of %d", busy, late, tries);
    CHECK(last - first >= 1500);
    CHECK_ST(sqllock_check(la), SQLLOCK_OK, a);
    /* Nothing kept alive: the call says so rather than waiting for nothing. */
    CHECK_ST(sqllock_keep_alive(la, 0), SQLLOCK_OK, a);
    CHECK_ST(sqllock_keep_alive_run(NULL, a, k.stop[0]), SQLLOCK_EINVAL, a);
    CHECK_ST(sqllock_release(la), SQLLOCK_OK, a);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

/* A kept-alive lease that expired before its renewal (nobody drove the
   client) and was taken over: the renewal is a loss, named in lost_out,
   and the library stops renewing it. */
static void t_keep_alive_lost(void)
{
    const char *name = t_tag("lapsed");
    sqllock_client *a = t_client(t_tag("ka")), *b = t_client(t_tag("kb"));
    CHECK(a && b);
    sqllock_acquire_opts short_ = t_lease(200, 0), wait = t_lease(60000, 10000);
    sqllock_lock *la, *lb;
    CHECK_ST(sqllock_acquire(&la, a, name, &short_), SQLLOCK_OK, a);
    CHECK_ST(sqllock_keep_alive(la, 1), SQLLOCK_OK, a);
    CHECK_ST(sqllock_acquire(&lb, b, name, &wait), SQLLOCK_OK, b);
    struct keeper k;
    CHECK(keeper_start(&k, a));
    pthread_join(k.thread, NULL); /* returns by itself: the loss */
    close(k.stop[0]);
    close(k.stop[1]);
    CHECK_ST(k.st, SQLLOCK_LOST, a);
    CHECK(k.lost == la);
    CHECK_ST(sqllock_keep_alive_run(NULL, a, k.stop[0]), SQLLOCK_EINVAL, a);
    CHECK_ST(sqllock_release(la), SQLLOCK_LOST, a);
    CHECK_ST(sqllock_check(lb), SQLLOCK_OK, b);
    CHECK_ST(sqllock_release(lb), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

static void t_unsupported(void)
{
    sqllock_client *a = t_client(t_tag("la"));
    CHECK(a);
    sqllock_lock *l;
    sqllock_acquire_opts o = t_lease(1000, 0);
    o.mode = SQLLOCK_SHARED;
    CHECK_ST(sqllock_acquire(&l, a, "x", &o), SQLLOCK_ENOTSUP, a);
    CHECK(strstr(sqllock_errmsg(a), "shared"));
    o = t_lease(1000, 0);
    o.scope = SQLLOCK_TRANSACTION;
    CHECK_ST(sqllock_acquire(&l, a, "x", &o), SQLLOCK_ENOTSUP, a);
    o = t_lease(1000, 0);
    CHECK_ST(sqllock_acquire_key(&l, a, 42, &o), SQLLOCK_ENOTSUP, a);
    o = t_lease(0, 0);
    o.ttl_min_ms = 10;
    CHECK_ST(sqllock_acquire(&l, a, "x", &o), SQLLOCK_EINVAL, a);
    o = t_lease(400LL * 24 * 3600 * 1000, 0);
    CHECK_ST(sqllock_acquire(&l, a, "x", &o), SQLLOCK_EINVAL, a);
    sqllock_client_free(a);
}

static const struct tcase cases[] = {
    {"basic", t_basic,
     "a lease has one holder, a token that grows, and is not an advisory lock"},
    {"expiry", t_expiry, "a lease expires by its ttl; the old holder's calls then say LOST"},
    {"expiry_unreleased", t_expiry_unreleased,
     "acquire-and-never-release holds a name for at most one ttl"},
    {"stale_holder", t_stale_holder,
     "a holder stopped past its ttl cannot check, extend or release the new holder's lease"},
    {"tokens_increase", t_tokens_increase,
     "fencing tokens strictly increase over 1,000 acquisitions with takeovers"},
    {"race_expired", t_race_expired,
     "16 processes racing for an expired lease: exactly one wins each round"},
    {"clock_skew", t_clock_skew, "a client whose clock is an hour off behaves identically"},
    {"ttl_min", t_ttl_min, "a release before ttl_min_ms keeps the lease until then"},
    {"wakeup", t_notify_wakeup,
     "a waiter wakes soon after the release (NOTIFY over libpq, polling over ODBC)"},
    {"timeout_and_cancel", t_timeout_and_cancel,
     "a lease wait is bounded by wait_ms and ended by sqllock_cancel"},
    {"free_releases", t_free_releases, "sqllock_client_free releases the leases it holds"},
    {"deadline", t_deadline,
     "sqllock_lease_deadline: from the statement's sending plus the ttl; -1 without expiry"},
    {"keep_alive_run", t_keep_alive_run,
     "a kept-alive 600 ms lease outlives 2.5 s; another client is refused throughout"},
    {"keep_alive_lost", t_keep_alive_lost,
     "a kept-alive lease taken over before its renewal: LOST, naming the lease"},
    {"unsupported", t_unsupported, "shared, transaction and numeric leases are ENOTSUP"},
};

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--faketime-helper") == 0)
        return faketime_helper(argv[2], argv[3]);
    return t_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
