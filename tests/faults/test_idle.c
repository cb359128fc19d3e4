/* SPDX-License-Identifier: MIT */
/*
 * The server's idle timeouts against lock sessions. Run by idle.sh on a
 * server of its own with idle_session_timeout = 1s and
 * idle_in_transaction_session_timeout = 1s; each case idles 3 s, which is
 * the fault itself (so there the sleep is no synchronisation). Where a
 * session is expected to die, the server is polled until it has.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "sqllock/pg.h"
#include "support.h"

#define IDLE_S 3
#define KILL_WAIT_MS 10000

/* The admin connection observes the sessions under test; it must outlive
   the timeouts itself. */
static PGconn *admin_open(void)
{
    PGconn *a = t_admin();
    if (a && !t_exec(a, "SET idle_session_timeout = 0")) {
        PQfinish(a);
        return NULL;
    }
    return a;
}

/* 1 once backend pid has left pg_stat_activity, 0 if it is still there
   after timeout_ms. */
static int wait_gone(PGconn *admin, int pid, int timeout_ms)
{
    const struct timespec poll = {0, 20 * 1000000L};
    char p[16];
    snprintf(p, sizeof(p), "%d", pid);
    for (long long deadline = t_now_ms() + timeout_ms; t_now_ms() < deadline;) {
        long long n = t_sql_ll(
            admin, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", p, NULL);
        if (n <= 0)
            return n == 0;
        nanosleep(&poll, NULL);
    }
    return 0;
}

/* The server's value of a timeout setting on pc, in ms. */
static long long setting_ms(PGconn *pc, const char *name)
{
    return t_sql_ll(pc, "SELECT setting::int8 FROM pg_settings WHERE name = $1", name, NULL);
}

static void t_own_session_survives(void)
{
    const char *app = t_tag("idle-own"), *name = t_tag("idle-own");
    PGconn *admin = admin_open();
    sqllock_client *c = t_client(app);
    CHECK(admin && c);
    int pid = t_pid(admin, app);
    sqllock_lock *l;
    CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c);
    sleep(IDLE_S);
    CHECKF(t_pid(admin, app) == pid,
           "the server ended the library's own session after %d s idle", IDLE_S);
    CHECK(t_holds(admin, pid, sqllock_advisory_key(name)) == 1);
    CHECK_ST(sqllock_check(l), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    sqllock_client_free(c);
    PQfinish(admin);
}

/* Session (or, in_txn, transaction) lock on an attached connection left
   idle: the application's timeout ends the session, check says LOST, and
   the lock is free for the next client. */
static void idle_attached(int in_txn)
{
    const char *app = t_tag("idle-app"), *name = t_tag("idle-app");
    PGconn *admin = admin_open();
    PGconn *pc = t_pq(app);
    CHECK(admin && pc);
    sqllock_client *c = NULL;
    CHECK_ST(sqllock_attach_pg(&c, pc), SQLLOCK_OK, c);
    int pid = t_pid(admin, app);
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.scope = in_txn ? SQLLOCK_TRANSACTION : SQLLOCK_SESSION;
    if (in_txn)
        CHECK(t_exec(pc, "BEGIN"));
    sqllock_lock *l;
    CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_OK, c);
    CHECKF(setting_ms(pc, "idle_session_timeout") == 1000 &&
               setting_ms(pc, "idle_in_transaction_session_timeout") == 1000,
           "the library changed the attached connection's idle timeouts");
    CHECKF(wait_gone(admin, pid, KILL_WAIT_MS),
           "the server did not end the idle session in %d ms", KILL_WAIT_MS);
    CHECK_ST(sqllock_check(l), SQLLOCK_LOST, c);
    sqllock_client *next = t_client(t_tag("idle-next"));
    CHECK(next);
    sqllock_lock *n;
    CHECK_ST(sqllock_acquire(&n, next, name, NULL), SQLLOCK_OK, next);
    CHECK_ST(sqllock_release(n), SQLLOCK_OK, next);
    sqllock_client_free(next);
    CHECK_ST(sqllock_release(l), SQLLOCK_LOST, c);
    sqllock_client_free(c);
    PQfinish(pc);
    PQfinish(admin);
}

static void t_attached_session_killed(void)
{
    idle_attached(0);
}

static void t_attached_transaction_killed(void)
{
    idle_attached(1);
}

static const struct tcase cases[] = {
    {"own_session_survives", t_own_session_survives,
     "a lock on sqllock's own connection survives 3 s idle past the server's 1 s idle timeouts"},
    {"attached_session_killed", t_attached_session_killed,
     "an attached connection keeps its idle_session_timeout; when it fires, check says LOST "
     "and another client takes the lock"},
    {"attached_transaction_killed", t_attached_transaction_killed,
     "a transaction lock left idle past idle_in_transaction_session_timeout: LOST, not OK"},
};

T_MAIN(cases)
