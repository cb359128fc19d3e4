/* SPDX-License-Identifier: MIT */
/*
 * The behaviour every backend shares, through the public API only. ctest
 * runs this one binary once per backend and transport (the URL comes from
 * the variable named by SQLLOCK_SUITE_URL_VAR); the admin connection is used
 * only to find a client's session, to disturb it, and for the test's own
 * counter table. It is PostgreSQL's, or for a URL through FreeTDS the SQL
 * Server's own (KILL, sys.dm_tran_locks: tests/mssql/tds_admin.h).
 */
#include <pthread.h>
#include <string.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "suite.h"

int adm_is_tds(const adm *a)
{
#ifdef T_WITH_ODBC
    return a->is_tds;
#else
    (void)a;
    return 0;
#endif
}

void adm_close(adm *a)
{
    if (!a)
        return;
#ifdef T_WITH_ODBC
    if (a->is_tds)
        t_odbc_close(&a->tds);
#endif
    PQfinish(a->pg);
    free(a);
}

/* appname NULL: the admin's own name. NULL with the case failed. */
adm *adm_open(const char *appname)
{
    adm *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
#ifdef T_WITH_ODBC
    const char *url = t_url();
    if (url && t_tds_url(url)) {
        a->is_tds = 1;
        if (t_odbc_open(&a->tds, url, appname ? appname : "sqllock-test-admin"))
            return a;
        free(a);
        return NULL;
    }
#endif
    a->pg = appname ? t_admin_as(appname) : t_admin();
    if (a->pg)
        return a;
    free(a);
    return NULL;
}

static long long adm_ll(adm *a, const char *sql)
{
#ifdef T_WITH_ODBC
    if (a->is_tds)
        return t_tds_ll(&a->tds, sql, NULL);
#endif
    return t_sql_ll(a->pg, sql, NULL, NULL);
}

static int adm_exec(adm *a, const char *sql)
{
#ifdef T_WITH_ODBC
    if (a->is_tds)
        return t_odbc_exec(&a->tds, sql);
#endif
    return t_exec(a->pg, sql);
}

/* Whether the session of appname waits for a lock on the server (bounded). */
static int adm_blocked(adm *a, const char *appname)
{
#ifdef T_WITH_ODBC
    if (a->is_tds)
        return t_tds_wait_blocked(&a->tds, t_tds_pid(&a->tds, appname), 5000);
#endif
    return t_wait_blocked(a->pg, t_pid(a->pg, appname), 5000);
}

/* Ends the server session of appname: pg_terminate_backend, or KILL. */
static int adm_terminate(adm *a, const char *appname)
{
#ifdef T_WITH_ODBC
    if (a->is_tds)
        return t_tds_kill(&a->tds, t_tds_pid(&a->tds, appname));
#endif
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", t_pid(a->pg, appname));
    return t_sql_ll(a->pg, "SELECT pg_terminate_backend($1::int, 5000)::int", pid, NULL) == 1;
}

/*
 * With SQLLOCK_SUITE_TTL_MS set, the suite runs on leases: every acquire
 * goes through acq(), which adds that ttl to options that have none, and
 * the cases whose right outcome differs for a lease (shared mode, a killed
 * session, deadlocks) branch on LEASE and check the lease's own behaviour.
 */
int64_t suite_ttl(void)
{
    const char *v = getenv("SQLLOCK_SUITE_TTL_MS");
    return v ? atoll(v) : 0;
}

sqllock_status acq(sqllock_lock **out, sqllock_client *c, const char *name,
                   const sqllock_acquire_opts *opts)
{
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    if (opts)
        o = *opts;
    if (o.version == SQLLOCK_ACQUIRE_OPTS_VERSION && o.ttl_ms == 0 && o.ttl_min_ms == 0)
        o.ttl_ms = suite_ttl();
    if (!t_nonblocking() || !out || !c)
        return sqllock_acquire(out, c, name, &o);
    *out = NULL;
    return t_drive(out, c, sqllock_acquire_start(c, name, &o));
}

/* With SQLLOCK_SUITE_NONBLOCKING=1 the suite runs through the non-blocking
   API: acq(), rel() and chk() start the operation on client c and drive
   it with t_drive's poll() loop, so every case checks both paths. */
sqllock_status rel(sqllock_client *c, sqllock_lock *l)
{
    if (!t_nonblocking() || !l)
        return sqllock_release(l);
    return t_drive(NULL, c, sqllock_release_start(l));
}

static sqllock_status chk(sqllock_client *c, sqllock_lock *l)
{
    if (!t_nonblocking() || !l)
        return sqllock_check(l);
    return t_drive(NULL, c, sqllock_check_start(l));
}

/* The options acq() uses for NULL, for sqllock_with and SQLLOCK_USING. */
static const sqllock_acquire_opts *dflt(void)
{
    static sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.ttl_ms = suite_ttl();
    return &o;
}

/* A client with no server behind it (SQLite): nothing to ask about it. */
int serverless(sqllock_client *c)
{
    return strcmp(sqllock_backend_name(c), "lease") == 0;
}

/*
 * Waits (bounded) until the client with appname waits for a lock: queued
 * on the server for a primitive; idle after its try (asleep on LISTEN, or
 * between polls) for a lease. A serverless (SQLite) waiter leaves no trace
 * to look for: it gets 300 ms to start, and one that starts later takes the
 * lock at its first try, which the cases accept as well.
 */
static int waits(adm *admin, const char *appname, int no_server)
{
    if (no_server) {
        usleep(300000);
        return 1;
    }
    if (!LEASE)
        return adm_blocked(admin, appname);
    for (int i = 0; i < 2500; i++) {
        if (t_sql_ll(admin->pg,
                     "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
                     " AND state = 'idle' AND query LIKE 'WITH t AS%'",
                     appname, NULL) == 1)
            return 1;
        usleep(2000);
    }
    return 0;
}

sqllock_acquire_opts wait_opts(int64_t wait_ms)
{
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.wait_ms = wait_ms;
    return o;
}

/* Whether a fresh client can take name at once: proof nobody else holds it. */
int free_for_others(const char *name)
{
    sqllock_client *c = t_client(t_tag("probe"));
    sqllock_lock *l = NULL;
    int ok = c && acq(&l, c, name, NULL) == SQLLOCK_OK;
    if (l)
        sqllock_release(l);
    sqllock_client_free(c);
    return ok;
}

static void t_try_busy_then_free(void)
{
    const char *name = t_tag("try");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(t_tag("b"));
    sqllock_lock *la, *lb;
    CHECK(a && b);
    CHECK_ST(acq(&la, a, name, NULL), SQLLOCK_OK, a);
    CHECK_ST(acq(&lb, b, name, NULL), SQLLOCK_BUSY, b);
    CHECK(lb == NULL);
    CHECK_ST(chk(a, la), SQLLOCK_OK, a);
    CHECK_ST(rel(a, la), SQLLOCK_OK, a);
    CHECK_ST(acq(&lb, b, name, NULL), SQLLOCK_OK, b);
    CHECK_ST(rel(b, lb), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

static void t_timeout_bounded(void)
{
    const char *name = t_tag("timeout");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(t_tag("b"));
    CHECK(a && b);
    sqllock_lock *la, *lb;
    sqllock_acquire_opts o = wait_opts(400);
    CHECK_ST(acq(&la, a, name, NULL), SQLLOCK_OK, a);
    long long t0 = t_now_ms();
    CHECK_ST(acq(&lb, b, name, &o), SQLLOCK_TIMEOUT, b);
    long long took = t_now_ms() - t0;
    CHECKF(took >= 390 && took < 3000, "a 400 ms wait took %lld ms", took);
    CHECK_ST(rel(a, la), SQLLOCK_OK, a);
    /* b's timed-out wait left nothing behind: a third client gets it. */
    CHECK(free_for_others(name));
    /* And b's session still works. */
    CHECK_ST(acq(&lb, b, name, &o), SQLLOCK_OK, b);
    CHECK_ST(rel(b, lb), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

struct waiter {
    sqllock_client *c;
    const char *name;
    int64_t wait_ms;
    sqllock_status st;
    long long done_ms;
    sqllock_lock *l;
    sqllock_lock *drop_on_failure; /* let go of this if the wait fails */
    char errcode[6];
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    sqllock_acquire_opts o = wait_opts(w->wait_ms);
    w->st = acq(&w->l, w->c, w->name, &o);
    w->done_ms = t_now_ms();
    snprintf(w->errcode, sizeof(w->errcode), "%s", sqllock_errcode(w->c));
    if (w->st != SQLLOCK_OK && w->drop_on_failure)
        sqllock_release(w->drop_on_failure);
    return NULL;
}

static void t_forever_handoff(void)
{
    const char *name = t_tag("handoff");
    const char *bname = t_tag("b");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(bname);
    adm *admin = adm_open(NULL);
    CHECK(a && b && admin);
    sqllock_lock *la;
    CHECK_ST(acq(&la, a, name, NULL), SQLLOCK_OK, a);
    struct waiter w = {b, name, SQLLOCK_WAIT_FOREVER, SQLLOCK_EINVAL, 0, NULL, NULL, ""};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, waiter_main, &w) == 0);
    /* The waiter is queued on the server, not polling from the client. */
    int blocked = waits(admin, bname, serverless(b));
    long long released = t_now_ms();
    sqllock_status rs = sqllock_release(la);
    pthread_join(th, NULL);
    CHECK(blocked);
    CHECK_ST(rs, SQLLOCK_OK, a);
    CHECK_ST(w.st, SQLLOCK_OK, b);
    printf("handoff: waiter got the lock %lld ms after release returned\n",
           w.done_ms - released);
    CHECKF(w.done_ms - released < 1000, "handoff took %lld ms", w.done_ms - released);
    CHECK_ST(rel(b, w.l), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
    adm_close(admin);
}

static void t_cancel_from_thread(void)
{
    const char *name = t_tag("cancel");
    const char *bname = t_tag("b");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(bname);
    adm *admin = adm_open(NULL);
    CHECK(a && b && admin);
    sqllock_lock *la, *lb;
    CHECK_ST(acq(&la, a, name, NULL), SQLLOCK_OK, a);
    struct waiter w = {b, name, SQLLOCK_WAIT_FOREVER, SQLLOCK_EINVAL, 0, NULL, NULL, ""};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, waiter_main, &w) == 0);
    int blocked = waits(admin, bname, serverless(b));
    long long t0 = t_now_ms();
    sqllock_cancel(b);
    pthread_join(th, NULL);
    CHECK(blocked);
    CHECK_ST(w.st, SQLLOCK_CANCELED, b);
    CHECKF(w.done_ms - t0 < 2000, "cancel took %lld ms", w.done_ms - t0);
    /* b holds nothing and is usable: it sees the lock as busy, then free. */
    CHECK_ST(acq(&lb, b, name, NULL), SQLLOCK_BUSY, b);
    CHECK_ST(rel(a, la), SQLLOCK_OK, a);
    CHECK(free_for_others(name));
    sqllock_client_free(a);
    sqllock_client_free(b);
    adm_close(admin);
}

static sqllock_client *volatile signal_target;
static void on_alarm(int sig)
{
    (void)sig;
    sqllock_cancel(signal_target);
}

static void t_cancel_from_signal(void)
{
    const char *name = t_tag("sigcancel");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(t_tag("b"));
    CHECK(a && b);
    sqllock_lock *la, *lb;
    CHECK_ST(acq(&la, a, name, NULL), SQLLOCK_OK, a);
    signal_target = b;
    struct sigaction sa = {.sa_handler = on_alarm};
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
    struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = 300000}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
    sqllock_acquire_opts o = wait_opts(SQLLOCK_WAIT_FOREVER);
    long long t0 = t_now_ms();
    sqllock_status st = acq(&lb, b, name, &o);
    long long took = t_now_ms() - t0;
    signal(SIGALRM, SIG_DFL);
    CHECK_ST(st, SQLLOCK_CANCELED, b);
    CHECKF(took >= 250 && took < 3000, "canceled after %lld ms", took);
    CHECK_ST(rel(a, la), SQLLOCK_OK, a);
    CHECK(free_for_others(name));
    sqllock_client_free(a);
    sqllock_client_free(b);
}

static void t_cancel_before_wait(void)
{
    const char *name = t_tag("early");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(t_tag("b"));
    CHECK(a && b);
    sqllock_lock *la, *lb;
    CHECK_ST(acq(&la, a, name, NULL), SQLLOCK_OK, a);
    sqllock_cancel(b);
    /* A try does not wait, so it neither sees nor consumes the request. */
    CHECK_ST(acq(&lb, b, name, NULL), SQLLOCK_BUSY, b);
    sqllock_acquire_opts o = wait_opts(SQLLOCK_WAIT_FOREVER);
    CHECK_ST(acq(&lb, b, name, &o), SQLLOCK_CANCELED, b);
    /* Consumed: the next bounded wait really waits. */
    o.wait_ms = 200;
    CHECK_ST(acq(&lb, b, name, &o), SQLLOCK_TIMEOUT, b);
    CHECK_ST(rel(a, la), SQLLOCK_OK, a);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

static void t_shared_exclusive(void)
{
    const char *name = t_tag("rw");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(t_tag("b")),
                   *w = t_client(t_tag("w"));
    CHECK(a && b && w);
    sqllock_acquire_opts sh = SQLLOCK_ACQUIRE_OPTS_INIT;
    sh.mode = SQLLOCK_SHARED;
    sqllock_lock *la, *lb, *lw;
    if (LEASE) { /* a lease has one holder: shared mode is refused, never wrong */
        CHECK_ST(acq(&la, a, name, &sh), SQLLOCK_ENOTSUP, a);
        CHECK(strstr(sqllock_errmsg(a), "shared") && la == NULL);
        CHECK(free_for_others(name));
        sqllock_client_free(a);
        sqllock_client_free(b);
        sqllock_client_free(w);
        return;
    }
    CHECK_ST(acq(&la, a, name, &sh), SQLLOCK_OK, a);
    CHECK_ST(acq(&lb, b, name, &sh), SQLLOCK_OK, b);
    CHECK_ST(acq(&lw, w, name, NULL), SQLLOCK_BUSY, w);
    CHECK_ST(rel(a, la), SQLLOCK_OK, a);
    CHECK_ST(acq(&lw, w, name, NULL), SQLLOCK_BUSY, w);
    CHECK_ST(rel(b, lb), SQLLOCK_OK, b);
    CHECK_ST(acq(&lw, w, name, NULL), SQLLOCK_OK, w);
    CHECK_ST(acq(&la, a, name, &sh), SQLLOCK_BUSY, a);
    CHECK_ST(rel(w, lw), SQLLOCK_OK, w);
    CHECK_ST(acq(&la, a, name, &sh), SQLLOCK_OK, a);
    CHECK_ST(rel(a, la), SQLLOCK_OK, a);
    sqllock_client_free(a);
    sqllock_client_free(b);
    sqllock_client_free(w);
}

static void t_reacquire_refused(void)
{
    const char *name = t_tag("again");
    sqllock_client *a = t_client(t_tag("a"));
    CHECK(a);
    sqllock_lock *l1, *l2;
    sqllock_acquire_opts sh = SQLLOCK_ACQUIRE_OPTS_INIT, wait = wait_opts(200);
    sh.mode = SQLLOCK_SHARED;
    CHECK_ST(acq(&l1, a, name, NULL), SQLLOCK_OK, a);
    CHECK_ST(acq(&l2, a, name, NULL), SQLLOCK_ESTATE, a);
    CHECK_ST(acq(&l2, a, name, &wait), SQLLOCK_ESTATE, a);
    CHECK_ST(acq(&l2, a, name, &sh), LEASE ? SQLLOCK_ENOTSUP : SQLLOCK_ESTATE, a);
    CHECK(l2 == NULL);
    CHECK_ST(rel(a, l1), SQLLOCK_OK, a);
    /* One release really released it: the server does not count two holds. */
    CHECK(free_for_others(name));
    CHECK_ST(acq(&l1, a, name, NULL), SQLLOCK_OK, a);
    CHECK_ST(rel(a, l1), SQLLOCK_OK, a);
    sqllock_client_free(a);
}

static void t_terminated_backend(void)
{
    const char *name = t_tag("term");
    const char *aname = t_tag("a");
    sqllock_client *a = t_client(aname);
    adm *admin = adm_open(NULL);
    CHECK(a && admin);
    sqllock_lock *la;
    CHECK_ST(acq(&la, a, name, NULL), SQLLOCK_OK, a);
    if (serverless(a)) {
        /* No server session to end: the holder's process dies instead, and
           its lease stays (others are refused) until it expires. */
        const char *orphan = t_tag("term-orphan");
        fflush(stdout);
        pid_t child = fork();
        CHECK(child >= 0);
        if (child == 0) {
            sqllock_client *d = t_client(t_tag("doomed"));
            sqllock_lock *ld;
            _exit(d && acq(&ld, d, orphan, NULL) == SQLLOCK_OK ? 0 : 1);
        }
        int ws;
        CHECK(waitpid(child, &ws, 0) == child && WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
        CHECK(!free_for_others(orphan));
        CHECK_ST(rel(a, la), SQLLOCK_OK, a);
        CHECK(free_for_others(name));
        sqllock_client_free(a);
        adm_close(admin);
        return;
    }
    CHECK(adm_terminate(admin, aname));
    if (LEASE) {
        /* A lease row outlives its session: still held for everyone else
           until it expires; its client can no longer tell (ECONNECT) and
           its release gives the handle up (LOST). */
        CHECK_ST(chk(a, la), SQLLOCK_ECONNECT, a);
        CHECK(!free_for_others(name));
        CHECK_ST(rel(a, la), SQLLOCK_LOST, a);
        /* Reconnected (a client of its own, see sqllock_connect), the row
           is still taken. */
        sqllock_lock *l2;
        CHECK_ST(acq(&l2, a, name, NULL), SQLLOCK_BUSY, a);
        sqllock_client_free(a);
        adm_close(admin);
        return;
    }
    CHECK_ST(chk(a, la), SQLLOCK_LOST, a);
    CHECK_ST(rel(a, la), SQLLOCK_LOST, a);
    CHECK(free_for_others(name));
    /* The client then reconnects (over libpq and ODBC alike) and takes it
       again. */
    sqllock_lock *l2 = NULL;
    CHECK_ST(acq(&l2, a, name, NULL), SQLLOCK_OK, a);
    CHECK_ST(rel(a, l2), SQLLOCK_OK, a);
    sqllock_client_free(a);
    adm_close(admin);
}

static int count_calls(void *p)
{
    (*(int *)p)++;
    return 42;
}

static void t_with(void)
{
    const char *name = t_tag("with");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(t_tag("b"));
    CHECK(a && b);
    int calls = 0, result = 0;
    CHECK_ST(sqllock_with(&result, a, name, dflt(), count_calls, &calls), SQLLOCK_OK, a);
    CHECK(calls == 1 && result == 42);
    CHECK(free_for_others(name));
    sqllock_lock *lb;
    CHECK_ST(acq(&lb, b, name, NULL), SQLLOCK_OK, b);
    result = 0;
    CHECK_ST(sqllock_with(&result, a, name, dflt(), count_calls, &calls), SQLLOCK_BUSY, a);
    CHECK(calls == 1 && result == 0); /* fn did not run */
    CHECK_ST(sqllock_with(NULL, a, name, dflt(), NULL, NULL), SQLLOCK_EINVAL, a);
    CHECK_ST(rel(b, lb), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

/* Each leaves the SQLLOCK_USING block a different way; the caller then
   proves the lock was released. */
static int using_return(sqllock_client *c, const char *name)
{
    SQLLOCK_USING(l, c, name, dflt()) {
        if (l)
            return 1;
    }
    return 0;
}

static int using_break(sqllock_client *c, const char *name)
{
    int held = 0;
    for (int i = 0; i < 3; i++) {
        SQLLOCK_USING(l, c, name, dflt()) {
            held += l != NULL;
            break; /* leaves the USING block, not the for loop */
        }
        if (i == 0)
            break;
    }
    return held;
}

static int using_goto(sqllock_client *c, const char *name)
{
    int held = 0;
    SQLLOCK_USING(l, c, name, dflt()) {
        held = l != NULL;
        if (held)
            goto out;
        held = -1;
    }
out:
    return held;
}

static int using_fall_off(sqllock_client *c, const char *name)
{
    int held = 0;
    SQLLOCK_USING(l, c, name, dflt()) {
        held = l != NULL;
    }
    return held;
}

static void t_using_every_exit(void)
{
    const char *name = t_tag("using");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(t_tag("b"));
    CHECK(a && b);
    CHECK(using_return(a, name) == 1);
    CHECK(free_for_others(name));
    CHECK(using_break(a, name) == 1);
    CHECK(free_for_others(name));
    CHECK(using_goto(a, name) == 1);
    CHECK(free_for_others(name));
    CHECK(using_fall_off(a, name) == 1);
    CHECK(free_for_others(name));
    /* Not taken: lock is NULL, the status says why, nothing to release. */
    sqllock_lock *lb;
    CHECK_ST(acq(&lb, b, name, NULL), SQLLOCK_OK, b);
    int entered = 0;
    SQLLOCK_USING(l, a, name, dflt()) {
        entered = 1;
        CHECK(l == NULL);
        CHECK(sqllock_last_status(a) == SQLLOCK_BUSY);
    }
    CHECK(entered);
    CHECK_ST(rel(b, lb), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

static void t_deadlock(void)
{
    const char *x = t_tag("dx"), *y = t_tag("dy");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(t_tag("b"));
    CHECK(a && b);
    sqllock_lock *lax, *lby;
    CHECK_ST(acq(&lax, a, x, NULL), SQLLOCK_OK, a);
    CHECK_ST(acq(&lby, b, y, NULL), SQLLOCK_OK, b);
    if (LEASE) {
        /* Leases have no deadlock detector: both waits run to their bound
           (documented), and the session locks are untouched. */
        struct waiter wa = {a, y, 500, SQLLOCK_EINVAL, 0, NULL, NULL, ""};
        struct waiter wb = {b, x, 500, SQLLOCK_EINVAL, 0, NULL, NULL, ""};
        pthread_t ta, tb;
        CHECK(pthread_create(&ta, NULL, waiter_main, &wa) == 0);
        CHECK(pthread_create(&tb, NULL, waiter_main, &wb) == 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        CHECK_ST(wa.st, SQLLOCK_TIMEOUT, a);
        CHECK_ST(wb.st, SQLLOCK_TIMEOUT, b);
        CHECK_ST(rel(a, lax), SQLLOCK_OK, a);
        CHECK_ST(rel(b, lby), SQLLOCK_OK, b);
        sqllock_client_free(a);
        sqllock_client_free(b);
        return;
    }
    struct waiter wa = {a, y, SQLLOCK_WAIT_FOREVER, SQLLOCK_EINVAL, 0, NULL, lax, ""};
    struct waiter wb = {b, x, SQLLOCK_WAIT_FOREVER, SQLLOCK_EINVAL, 0, NULL, lby, ""};
    pthread_t ta, tb;
    CHECK(pthread_create(&ta, NULL, waiter_main, &wa) == 0);
    CHECK(pthread_create(&tb, NULL, waiter_main, &wb) == 0);
    /* The server picks a victim, whose wait fails and which then lets go of
       what it holds, so that the other wait can finish. */
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    struct waiter *victim = wa.st == SQLLOCK_DEADLOCK ? &wa : &wb;
    struct waiter *winner = victim == &wa ? &wb : &wa;
    CHECKF(victim->st == SQLLOCK_DEADLOCK && winner->st == SQLLOCK_OK,
           "expected one DEADLOCK and one OK, got %s and %s", sqllock_status_str(wa.st),
           sqllock_status_str(wb.st));
    /* PostgreSQL's SQLSTATE; SQL Server's sp_getapplock says -3, which the
       library reports as 40001, SQL Server's deadlock SQLSTATE. */
    const char *want = strcmp(sqllock_backend_name(a), "mssql-applock") == 0 ? "40001" : "40P01";
    CHECKF(strcmp(victim->errcode, want) == 0, "errcode %s, expected %s", victim->errcode, want);
    CHECK_ST(rel(winner->c, winner->l), SQLLOCK_OK, winner->c);
    CHECK_ST(sqllock_release(winner == &wa ? lax : lby), SQLLOCK_OK, winner->c);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

struct shared_run {
    const char *name, *table;
    int procs, rounds;
};

/* One process of the mutual-exclusion run: rounds of read-sleep-write of a
   counter under the lock, reporting each held interval through fd. */
static int exclusion_child(const struct shared_run *r, int id, int fd, int start_fd)
{
    char appname[64];
    snprintf(appname, sizeof(appname), "excl-%d-%d", (int)getppid(), id);
    sqllock_client *c = t_client(appname);
    adm *pc = adm_open(appname); /* the counter is the test's, not the backend's */
    if (!c || !pc)
        return 2;
    char buf;
    if (read(start_fd, &buf, 1) < 0) /* barrier: the parent closes the pipe */
        return 2;
    char sel[128], upd[128];
    snprintf(sel, sizeof(sel), "SELECT n FROM %s", r->table);
    sqllock_acquire_opts o = wait_opts(SQLLOCK_WAIT_FOREVER);
    for (int i = 0; i < r->rounds; i++) {
        sqllock_lock *l;
        if (acq(&l, c, r->name, &o) != SQLLOCK_OK)
            return 3;
        long long iv[2] = {0, 0};
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        iv[0] = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        long long n = adm_ll(pc, sel);
        usleep(1000); /* widen the window a broken lock would lose updates in */
        snprintf(upd, sizeof(upd), "UPDATE %s SET n = %lld", r->table, n + 1);
        int ok = n >= 0 && adm_exec(pc, upd);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        iv[1] = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        if (!ok || write(fd, iv, sizeof(iv)) != sizeof(iv))
            return 4;
        if (sqllock_release(l) != SQLLOCK_OK)
            return 5;
    }
    adm_close(pc);
    sqllock_client_free(c);
    return 0;
}

static int exclusion_main(const void *arg, int id, int fd, int start_fd)
{
    return exclusion_child(arg, id, fd, start_fd);
}

/*
 * Forks procs children running child(arg, id, fd, start_fd), starts them
 * together (the start pipe closes), and reads up to max records of size
 * bytes they write to fd into recs (*got of them). The children that did
 * not exit 0: how many.
 */
int run_children(int procs, int (*child)(const void *, int, int, int), const void *arg,
                 void *recs, size_t size, int max, int *got)
{
    int data[2], start[2];
    pid_t kids[16];
    *got = 0;
    if (procs > 16 || pipe(data) != 0)
        return procs;
    if (pipe(start) != 0) {
        close(data[0]);
        close(data[1]);
        return procs;
    }
    int bad_exit = 0;
    for (int i = 0; i < procs; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            close(data[0]);
            close(start[1]);
            _exit(child(arg, i, data[1], start[0]));
        }
        bad_exit += kids[i] < 0;
    }
    close(data[1]);
    close(start[0]);
    close(start[1]); /* all start together */
    while (*got < max &&
           read(data[0], (char *)recs + (size_t)*got * size, size) == (ssize_t)size)
        (*got)++;
    close(data[0]);
    for (int i = 0; i < procs; i++) {
        int status;
        if (kids[i] < 0)
            continue;
        waitpid(kids[i], &status, 0);
        bad_exit += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    return bad_exit;
}

static int cmp_iv(const void *a, const void *b)
{
    const long long *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static void t_mutual_exclusion(void)
{
    struct shared_run r = {t_tag("excl"), NULL, 8, 25};
    char table[64];
    snprintf(table, sizeof(table), "sqllock_test_counter_%d", (int)getpid());
    r.table = table;
    adm *admin = adm_open(NULL);
    CHECK(admin);
    char sql[512];
    if (adm_is_tds(admin))
        snprintf(sql, sizeof(sql), "CREATE TABLE %s (n int); INSERT INTO %s VALUES (0)", table,
                 table);
    else
        snprintf(sql, sizeof(sql),
                 "DROP TABLE IF EXISTS %s; CREATE TABLE %s (n int); "
                 "INSERT INTO %s VALUES (0); GRANT ALL ON %s TO PUBLIC",
                 table, table, table, table);
    CHECK(adm_exec(admin, sql));
    long long(*iv)[2] = calloc((size_t)(r.procs * r.rounds), sizeof(*iv));
    CHECK(iv);
    int got = 0;
    int bad_exit =
        run_children(r.procs, exclusion_main, &r, iv, sizeof(iv[0]), r.procs * r.rounds, &got);
    snprintf(sql, sizeof(sql), "SELECT n FROM %s", table);
    long long final = adm_ll(admin, sql);
    snprintf(sql, sizeof(sql), "DROP TABLE %s", table);
    adm_exec(admin, sql);
    adm_close(admin);
    qsort(iv, (size_t)got, sizeof(iv[0]), cmp_iv);
    int overlaps = 0;
    for (int i = 1; i < got; i++)
        overlaps += iv[i][0] < iv[i - 1][1];
    free(iv);
    printf("%d processes x %d rounds: counter %lld, %d intervals, %d overlaps\n", r.procs,
           r.rounds, final, got, overlaps);
    CHECK(bad_exit == 0);
    CHECK(got == r.procs * r.rounds);
    CHECK(final == r.procs * r.rounds);
    CHECK(overlaps == 0);
}

static void t_bad_names(void)
{
    sqllock_client *a = t_client(t_tag("a"));
    adm *admin = adm_open(NULL);
    CHECK(a && admin);
    sqllock_lock *l;
    CHECK_ST(acq(&l, a, NULL, NULL), SQLLOCK_EINVAL, a);
    CHECK(strstr(sqllock_errmsg(a), "NULL"));
    CHECK_ST(acq(&l, a, "", NULL), SQLLOCK_EINVAL, a);
    CHECK(strstr(sqllock_errmsg(a), "empty"));
    char *big = malloc(10241);
    CHECK(big);
    memset(big, 'x', 10240);
    big[10240] = '\0';
    CHECK_ST(acq(&l, a, big, NULL), SQLLOCK_EINVAL, a);
    CHECK(strstr(sqllock_errmsg(a), "SQLLOCK_NAME_MAX"));
    big[SQLLOCK_NAME_MAX] = '\0'; /* the longest valid name */
    /* This process's own (with a ttl, suites running at once on one
       database share the lease table). */
    const char *tag = t_tag("big");
    memcpy(big, tag, strlen(tag));
    CHECK_ST(acq(&l, a, big, NULL), SQLLOCK_OK, a);
    CHECK_ST(rel(a, l), SQLLOCK_OK, a);
    free(big);

    /* Names are data: quotes and SQL in a name reach no SQL text. */
    char victim[96], create[160], exists[192], inject[160];
    snprintf(victim, sizeof(victim), "sqllock_test_victim_%d", (int)getpid());
    snprintf(create, sizeof(create), "CREATE TABLE %s (x int)", victim);
    snprintf(exists, sizeof(exists),
             adm_is_tds(admin) ? "SELECT count(*) FROM sys.tables WHERE name = '%s'"
                               : "SELECT count(*) FROM pg_tables WHERE tablename = '%s'",
             victim);
    snprintf(inject, sizeof(inject), "'; DROP TABLE %s; --", victim);
    CHECK(adm_exec(admin, create));
    const char *odd[] = {inject,      "\"quoted\" 'name'",      "back\\slash",
                         "ünïcødé ✓", "\xff\xfe invalid utf-8", "$1",
                         "%s%n"};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        char name[256];
        snprintf(name, sizeof(name), "%s%s", t_tag("odd"), odd[i]);
        CHECK_ST(acq(&l, a, name, NULL), SQLLOCK_OK, a);
        CHECK(strcmp(sqllock_lock_name(l), name) == 0);
        CHECK_ST(rel(a, l), SQLLOCK_OK, a);
    }
    CHECK(adm_ll(admin, exists) == 1);
    snprintf(create, sizeof(create), "DROP TABLE %s", victim);
    CHECK(adm_exec(admin, create));
    /* A C string ends at its first NUL: "ab\0cd" is the name "ab". */
    const char with_nul[] = "ab\0cd";
    sqllock_lock *l2;
    CHECK_ST(acq(&l, a, with_nul, NULL), SQLLOCK_OK, a);
    CHECK(strcmp(sqllock_lock_name(l), "ab") == 0);
    CHECK_ST(acq(&l2, a, "ab", NULL), SQLLOCK_ESTATE, a);
    CHECK_ST(rel(a, l), SQLLOCK_OK, a);
    sqllock_client_free(a);
    adm_close(admin);
}

static void t_bad_arguments(void)
{
    sqllock_client *a = t_client(t_tag("a"));
    CHECK(a);
    sqllock_lock *l = (sqllock_lock *)&l;
    CHECK_ST(acq(NULL, a, "x", NULL), SQLLOCK_EINVAL, a);
    CHECK_ST(acq(&l, NULL, "x", NULL), SQLLOCK_EINVAL, NULL);
    CHECK(l == NULL);
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.version = 99;
    CHECK_ST(acq(&l, a, "x", &o), SQLLOCK_EINVAL, a);
    CHECK(strstr(sqllock_errmsg(a), "version 99"));
    o = wait_opts(-5);
    CHECK_ST(acq(&l, a, "x", &o), SQLLOCK_EINVAL, a);
    o = wait_opts(1LL << 40);
    CHECK_ST(acq(&l, a, "x", &o), SQLLOCK_EINVAL, a);
    o = wait_opts(0);
    o.mode = 7;
    CHECK_ST(acq(&l, a, "x", &o), SQLLOCK_EINVAL, a);
    o = wait_opts(0);
    o.scope = 9;
    CHECK_ST(acq(&l, a, "x", &o), SQLLOCK_EINVAL, a);
    o = wait_opts(0);
    o.ttl_ms = -1;
    CHECK_ST(acq(&l, a, "x", &o), SQLLOCK_EINVAL, a);
    o = wait_opts(0);
    o.ttl_min_ms = 5;
    CHECK_ST(acq(&l, a, "x", &o), SQLLOCK_EINVAL, a);
    CHECK_ST(sqllock_release(NULL), SQLLOCK_EINVAL, NULL);
    CHECK_ST(sqllock_check(NULL), SQLLOCK_EINVAL, NULL);
    CHECK_ST(sqllock_extend(NULL, 10), SQLLOCK_EINVAL, NULL);
    CHECK(sqllock_fencing_token(NULL) == 0);
    /* Tagged: other runs of the suite may share the server. */
    CHECK_ST(acq(&l, a, t_tag("x"), NULL), SQLLOCK_OK, a);
    if (LEASE) {
        CHECK(sqllock_fencing_token(l) > 0);
        CHECK_ST(sqllock_extend(l, 0), SQLLOCK_EINVAL, a);
        CHECK_ST(sqllock_extend(l, 1000), SQLLOCK_OK, a);
    } else {
        CHECK(sqllock_fencing_token(l) == 0); /* server primitives have no token */
        CHECK_ST(sqllock_extend(l, 1000), SQLLOCK_ENOTSUP, a);
    }
    CHECK_ST(rel(a, l), SQLLOCK_OK, a);
    sqllock_cancel(NULL);
    sqllock_client_free(NULL);
    CHECK(strcmp(sqllock_backend_name(NULL), "none") == 0);
    CHECK(sqllock_errmsg(NULL) != NULL);
    sqllock_client_free(a);
}

static void t_many_locks(void)
{
    enum { N = 3000 };
    sqllock_client *a = t_client(t_tag("a"));
    CHECK(a);
    sqllock_lock **ls = calloc(N, sizeof(*ls));
    CHECK(ls);
    char name[64];
    int ok = 1;
    for (int i = 0; i < N && ok; i++) {
        snprintf(name, sizeof(name), "many-%d-%d", (int)getpid(), i);
        ok = acq(&ls[i], a, name, NULL) == SQLLOCK_OK;
    }
    snprintf(name, sizeof(name), "many-%d-%d", (int)getpid(), N / 2);
    sqllock_lock *again;
    sqllock_status st = acq(&again, a, name, NULL);
    /* Release half, free the client with the rest still held. */
    for (int i = 0; i < N && ok; i += 2)
        ok = sqllock_release(ls[i]) == SQLLOCK_OK;
    free(ls);
    sqllock_client_free(a);
    CHECK(ok);
    CHECK(st == SQLLOCK_ESTATE);
    CHECK(free_for_others(name));
}

/* After a call that succeeded, c carries neither a message nor a SQLSTATE. */
#define CHECK_CLEAN(c, what)                                                                    \
    CHECKF(!sqllock_errmsg(c)[0] && !sqllock_errcode(c)[0],                                     \
           "after %s: errmsg \"%s\", errcode \"%s\"", what, sqllock_errmsg(c),                  \
           sqllock_errcode(c))

/* Gives c a failure to clear: BUSY on a name another client holds. */
static int dirty(sqllock_client *c, const char *held_elsewhere)
{
    sqllock_lock *l = NULL;
    return acq(&l, c, held_elsewhere, NULL) == SQLLOCK_BUSY && sqllock_errmsg(c)[0];
}

static int succeed(void *p)
{
    (void)p;
    return 0;
}

/*
 * Every public call that succeeds leaves sqllock_errmsg and sqllock_errcode
 * empty, even right after a failure and even when it failed on the way
 * (a wait that found the lock held, polled or slept, and then got it).
 * Before each call the client is given a failure (BUSY) to clear. Calls a
 * backend cannot do (numeric keys, extend, run once) are walked where it
 * can.
 */
static void t_errors_cleared(void)
{
    const char *name = t_tag("clean"), *busy = t_tag("clean-busy"), *bname = t_tag("b");
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(bname);
    adm *admin = adm_open(NULL);
    CHECK(a && b && admin);
    CHECK_CLEAN(b, "connect");
    sqllock_lock *la, *lbusy, *lb;
    CHECK_ST(acq(&lbusy, a, busy, NULL), SQLLOCK_OK, a);
    CHECK_CLEAN(a, "acquire (try)");
    CHECK(sqllock_fencing_token(lbusy) >= 0);
    CHECK_CLEAN(a, "fencing token");

    /* A wait that waited on a holder, then succeeded. */
    CHECK_ST(acq(&la, a, name, NULL), SQLLOCK_OK, a);
    CHECK(dirty(b, busy));
    struct waiter w = {b, name, SQLLOCK_WAIT_FOREVER, SQLLOCK_EINVAL, 0, NULL, NULL, ""};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, waiter_main, &w) == 0);
    int blocked = waits(admin, bname, serverless(b));
    sqllock_status rs = sqllock_release(la);
    pthread_join(th, NULL);
    CHECK(blocked);
    CHECK_ST(rs, SQLLOCK_OK, a);
    CHECK_CLEAN(a, "release");
    CHECK_ST(w.st, SQLLOCK_OK, b);
    CHECK_CLEAN(b, "an acquire that waited for the holder");
    lb = w.l;

    CHECK(dirty(b, busy));
    CHECK_ST(chk(b, lb), SQLLOCK_OK, b);
    CHECK_CLEAN(b, "check");
    if (LEASE) {
        CHECK(dirty(b, busy));
        CHECK_ST(sqllock_extend(lb, suite_ttl()), SQLLOCK_OK, b);
        CHECK_CLEAN(b, "extend");
    }
    CHECK(dirty(b, busy));
    CHECK_ST(rel(b, lb), SQLLOCK_OK, b);
    CHECK_CLEAN(b, "release");

    sqllock_acquire_opts o = wait_opts(200);
    CHECK(dirty(b, busy));
    CHECK_ST(acq(&lb, b, name, &o), SQLLOCK_OK, b);
    CHECK_CLEAN(b, "acquire (bounded wait, free)");
    CHECK_ST(rel(b, lb), SQLLOCK_OK, b);

    if (!LEASE && !serverless(b) && strcmp(sqllock_backend_name(b), "mssql-applock") != 0) {
        CHECK(dirty(b, busy));
        CHECK_ST(sqllock_acquire_key(&lb, b, (int64_t)getpid() * 1000 + 7, NULL), SQLLOCK_OK, b);
        CHECK_CLEAN(b, "acquire_key");
        CHECK_ST(rel(b, lb), SQLLOCK_OK, b);
        CHECK(dirty(b, busy));
        CHECK_ST(sqllock_acquire_key_pair(&lb, b, (int32_t)getpid(), 7, NULL), SQLLOCK_OK, b);
        CHECK_CLEAN(b, "acquire_key_pair");
        CHECK_ST(rel(b, lb), SQLLOCK_OK, b);
    }

    int r = -1;
    CHECK(dirty(b, busy));
    CHECK_ST(sqllock_with(&r, b, name, dflt(), succeed, NULL), SQLLOCK_OK, b);
    CHECK(r == 0);
    CHECK_CLEAN(b, "sqllock_with");
    CHECK(dirty(b, busy));
    SQLLOCK_USING(lu, b, name, dflt()) {
        CHECK(lu);
        CHECK_CLEAN(b, "SQLLOCK_USING");
    }

    /* Run once needs the lease tables, which applocks have not. */
    if (strcmp(sqllock_backend_name(b), "mssql-applock") != 0) {
        const char *job = t_tag("clean-once");
        int ran = -1, existed = -1;
        CHECK(dirty(b, busy));
        CHECK_ST(sqllock_install_schema(b), SQLLOCK_OK, b);
        CHECK_CLEAN(b, "install schema");
        CHECK(dirty(b, busy));
        CHECK_ST(sqllock_run_once(&ran, b, job, 0, succeed, NULL), SQLLOCK_OK, b);
        CHECK(ran != 0);
        CHECK_CLEAN(b, "run once (ran)");
        CHECK(dirty(b, busy));
        CHECK_ST(sqllock_run_once(&ran, b, job, 0, succeed, NULL), SQLLOCK_OK, b);
        CHECK(ran == 0);
        CHECK_CLEAN(b, "run once (already done)");
        CHECK(dirty(b, busy));
        CHECK_ST(sqllock_once_forget(&existed, b, job), SQLLOCK_OK, b);
        CHECK(existed == 1);
        CHECK_CLEAN(b, "once forget");
    }
    CHECK_ST(rel(a, lbusy), SQLLOCK_OK, a);
    sqllock_client_free(a);
    sqllock_client_free(b);
    adm_close(admin);
}

/*
 * Numeric keys in both spaces of PostgreSQL advisory locks: the int4 pair
 * (a, b) and the int8 key a<<32|b are two server locks (objsubid 2 and 1),
 * so one client holds both, and neither excludes the other; psql's
 * pg_advisory_lock(a, b) and the pair lock exclude each other; a pair is
 * refused as re-entry like any lock, and a bounded wait on it times out
 * holding nothing. Backends without numeric keys (and leases, which are
 * named) say ENOTSUP with a message.
 */
static void t_numeric_keys(void)
{
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(t_tag("b"));
    PGconn *admin = t_admin();
    CHECK(a && b && admin);
    int32_t ka = (int32_t)(getpid() % 100000 + 1), kb = -(int32_t)(t_now_ms() % 100000) - 1;
    int64_t twin = (int64_t)((uint64_t)(uint32_t)ka << 32 | (uint32_t)kb);
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.ttl_ms = suite_ttl();
    sqllock_lock *pa = NULL, *ia = NULL, *lb = NULL;
    if (LEASE || strcmp(sqllock_backend_name(a), "pg-advisory") != 0) {
        CHECK_ST(sqllock_acquire_key_pair(&pa, a, ka, kb, &o), SQLLOCK_ENOTSUP, a);
        CHECK(pa == NULL && *sqllock_errmsg(a));
        sqllock_client_free(a);
        sqllock_client_free(b);
        PQfinish(admin);
        return;
    }
    CHECK_ST(sqllock_acquire_key_pair(&pa, a, ka, kb, NULL), SQLLOCK_OK, a);
    /* The int8 twin is another lock: the same client takes it too. */
    CHECK_ST(sqllock_acquire_key(&ia, a, twin, NULL), SQLLOCK_OK, a);
    CHECK_ST(sqllock_acquire_key_pair(&lb, a, ka, kb, NULL), SQLLOCK_ESTATE, a);
    CHECK(lb == NULL);
    char ca[16], cb[16];
    snprintf(ca, sizeof(ca), "%d", (int)ka);
    snprintf(cb, sizeof(cb), "%d", (int)kb);
    CHECK(t_sql_ll(admin,
                   "SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory'"
                   " AND granted AND classid = ($1::int4 & 4294967295::int8)::oid"
                   " AND objid = ($2::int4::int8 & 4294967295)::oid AND objsubid = 2",
                   ca, cb) == 1);
    /* psql's pg_advisory_lock(a, b) is excluded by the pair lock. */
    CHECK(t_sql_ll(admin, "SELECT pg_try_advisory_lock($1::int4, $2::int4)::int", ca, cb) == 0);
    CHECK_ST(sqllock_acquire_key_pair(&lb, b, ka, kb, NULL), SQLLOCK_BUSY, b);
    sqllock_acquire_opts w = wait_opts(200);
    CHECK_ST(sqllock_acquire_key_pair(&lb, b, ka, kb, &w), SQLLOCK_TIMEOUT, b);
    CHECK_ST(chk(a, pa), SQLLOCK_OK, a);
    CHECK_ST(rel(a, pa), SQLLOCK_OK, a);
    /* The pair is free now, the twin still held. */
    CHECK_ST(sqllock_acquire_key_pair(&lb, b, ka, kb, NULL), SQLLOCK_OK, b);
    CHECK_ST(rel(b, lb), SQLLOCK_OK, b);
    CHECK_ST(sqllock_acquire_key(&lb, b, twin, NULL), SQLLOCK_BUSY, b);
    CHECK_ST(rel(a, ia), SQLLOCK_OK, a);
    /* The other way round: psql holds the pair; the pair is busy, the twin free. */
    CHECK(t_sql_ll(admin, "SELECT pg_try_advisory_lock($1::int4, $2::int4)::int", ca, cb) == 1);
    CHECK_ST(sqllock_acquire_key_pair(&lb, b, ka, kb, NULL), SQLLOCK_BUSY, b);
    CHECK_ST(sqllock_acquire_key(&lb, b, twin, NULL), SQLLOCK_OK, b);
    CHECK_ST(rel(b, lb), SQLLOCK_OK, b);
    CHECK(t_sql_ll(admin, "SELECT pg_advisory_unlock($1::int4, $2::int4)::int", ca, cb) == 1);
    CHECK_ST(sqllock_acquire_key_pair(&lb, b, ka, kb, &w), SQLLOCK_OK, b);
    CHECK_ST(rel(b, lb), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
    PQfinish(admin);
}

static const struct tcase cases[] = {
    {"try_busy_then_free", t_try_busy_then_free,
     "a try gets a free lock, gives BUSY while another session holds it, and gets it after release"},
    {"timeout_bounded", t_timeout_bounded,
     "a bounded wait returns TIMEOUT after about wait_ms and leaves nothing held"},
    {"forever_handoff", t_forever_handoff,
     "a wait-forever waiter is queued on the server and gets the lock as soon as it is released"},
    {"cancel_from_thread", t_cancel_from_thread,
     "sqllock_cancel from another thread ends a wait with CANCELED; nothing is held after"},
    {"cancel_from_signal", t_cancel_from_signal,
     "sqllock_cancel from a signal handler ends a wait with CANCELED"},
    {"cancel_before_wait", t_cancel_before_wait,
     "a cancel that arrives before the wait is not lost, and is consumed once"},
    {"shared_exclusive", t_shared_exclusive,
     "shared holders coexist and exclude an exclusive one, and the reverse"},
    {"reacquire_refused", t_reacquire_refused,
     "acquiring a name the client holds is ESTATE in every mode, and one release frees it"},
    {"terminated_backend", t_terminated_backend,
     "after pg_terminate_backend (or KILL) check and release say LOST, others can take the "
     "lock, and the client reconnects and takes it again"},
    {"with", t_with, "sqllock_with runs fn only when the lock was taken and always releases it"},
    {"using_every_exit", t_using_every_exit,
     "SQLLOCK_USING releases on return, break, goto and falling off the end"},
    {"deadlock", t_deadlock,
     "of two clients waiting for each other the server picks one, which gets DEADLOCK "
     "(40P01; 40001 for sp_getapplock's -3)"},
    {"mutual_exclusion", t_mutual_exclusion,
     "8 processes x 25 read-sleep-write rounds under the lock lose no update and never overlap"},
    {"bad_names", t_bad_names,
     "NULL, empty and overlong names are EINVAL; quotes, SQL and any bytes are plain data"},
    {"bad_arguments", t_bad_arguments,
     "bad options and NULL handles give EINVAL or ENOTSUP with a message, never a crash"},
    {"numeric_keys", t_numeric_keys,
     "int4-pair and int8 keys are two spaces that never collide; psql's pg_advisory_lock(a, b) "
     "and the pair lock exclude each other; ENOTSUP without numeric keys"},
    {"many_locks", t_many_locks,
     "3000 locks on one client: re-entry still refused, client_free with locks held frees them"},
    {"errors_cleared", t_errors_cleared,
     "after every call that succeeded (a wait that first found the lock held, check, extend, "
     "release, with, run once, ...) errmsg and errcode are empty, even right after a failure"},
};

/* This file's cases, then acquire_all.c's. */
int main(int argc, char **argv)
{
    enum { OWN = sizeof(cases) / sizeof(cases[0]) };
    struct tcase all[OWN + SUITE_ACQUIRE_ALL_CASES];
    memcpy(all, cases, sizeof(cases));
    memcpy(all + OWN, suite_acquire_all_cases, sizeof(suite_acquire_all_cases));
    return t_main(argc, argv, all, OWN + SUITE_ACQUIRE_ALL_CASES);
}
