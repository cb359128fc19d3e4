/* SPDX-License-Identifier: MIT */
/*
 * Locks on a connection the application holds: it stays the caller's, locks
 * it already held are not taken twice, transaction scope follows the
 * caller's COMMIT and ROLLBACK, and a failed transaction has a defined
 * outcome for release.
 */
#include <pthread.h>

#include "sqllock/pg.h"
#include "support.h"

static int taken_by_other(const char *name)
{
    sqllock_client *o = t_client(t_tag("other"));
    sqllock_lock *l = NULL;
    sqllock_status st = o ? sqllock_acquire(&l, o, name, NULL) : SQLLOCK_ECONNECT;
    if (l)
        sqllock_release(l);
    sqllock_client_free(o);
    return st == SQLLOCK_BUSY;
}

static void t_borrowed_stays_open(void)
{
    const char *name = t_tag("borrow"), *kept = t_tag("kept");
    PGconn *pc = t_pq(t_tag("p"));
    CHECK(pc);
    sqllock_client *c;
    CHECK_ST(sqllock_attach_pg(&c, pc), SQLLOCK_OK, c);
    /* The session's settings stay the caller's: none of those our own
       sessions get (client_connection_check_interval, for one). */
    CHECK(t_sql_ll(pc,
                   "SELECT coalesce((SELECT setting::int FROM pg_settings"
                   " WHERE name = 'client_connection_check_interval'), 0)",
                   NULL, NULL) == 0);
    sqllock_lock *l, *k;
    CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c);
    CHECK_ST(sqllock_acquire(&k, c, kept, NULL), SQLLOCK_OK, c);
    CHECK(taken_by_other(name));
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    /* Freeing the client unlocks what it still held, and leaves pc open. */
    sqllock_client_free(c);
    CHECK(PQstatus(pc) == CONNECTION_OK);
    CHECK(t_exec(pc, "SELECT 1"));
    CHECK(!taken_by_other(kept));
    CHECK(t_sql_ll(pc,
                   "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                   "pid = pg_backend_pid()",
                   NULL, NULL) == 0);
    PQfinish(pc);
}

static void t_preheld_detected(void)
{
    const char *name = t_tag("pre");
    PGconn *pc = t_pq(t_tag("p"));
    CHECK(pc);
    CHECK(t_sql_ll(pc, "SELECT 1 FROM (SELECT pg_advisory_lock(hashtextextended($1, 0))) s",
                   name, NULL) == 1);
    sqllock_client *c;
    CHECK_ST(sqllock_attach_pg(&c, pc), SQLLOCK_OK, c);
    sqllock_lock *l;
    CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_ESTATE, c);
    CHECK(strstr(sqllock_errmsg(c), "attached"));
    /* Once the application lets go of it, sqllock may take it. */
    CHECK(t_sql_ll(pc, "SELECT pg_advisory_unlock(hashtextextended($1, 0))::int", name, NULL) ==
          1);
    CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    CHECK(!taken_by_other(name));
    sqllock_client_free(c);
    PQfinish(pc);
}

static void t_transaction_scope(void)
{
    const char *name = t_tag("xact");
    PGconn *pc = t_pq(t_tag("p"));
    CHECK(pc);
    sqllock_client *c;
    CHECK_ST(sqllock_attach_pg(&c, pc), SQLLOCK_OK, c);
    sqllock_lock *l, *l2;
    for (int wait = 0; wait < 2; wait++) {
        sqllock_acquire_opts o = t_opts(wait ? 500 : 0, SQLLOCK_TRANSACTION);
        /* Not in a transaction: refused, not a lock that vanishes at once. */
        CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_ESTATE, c);
        CHECK(strstr(sqllock_errmsg(c), "BEGIN"));
        for (int commit = 0; commit < 2; commit++) {
            CHECK(t_exec(pc, "BEGIN"));
            CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_OK, c);
            CHECK(taken_by_other(name));
            CHECK_ST(sqllock_check(l), SQLLOCK_OK, c);
            /* Release forgets the handle; the transaction keeps the lock... */
            CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
            CHECK(taken_by_other(name));
            /* ...so taking it again in the same transaction is refused. */
            CHECK_ST(sqllock_acquire(&l2, c, name, &o), SQLLOCK_ESTATE, c);
            CHECK(t_exec(pc, commit ? "COMMIT" : "ROLLBACK"));
            CHECK(!taken_by_other(name));
        }
        /* A handle kept past its transaction reports LOST. */
        CHECK(t_exec(pc, "BEGIN"));
        CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_OK, c);
        CHECK(t_exec(pc, "COMMIT"));
        CHECK_ST(sqllock_check(l), SQLLOCK_LOST, c);
        CHECK(t_exec(pc, "BEGIN"));
        CHECK_ST(sqllock_acquire(&l2, c, name, &o), SQLLOCK_OK, c); /* a new transaction */
        CHECK_ST(sqllock_check(l), SQLLOCK_LOST, c);
        CHECK_ST(sqllock_release(l), SQLLOCK_LOST, c);
        CHECK_ST(sqllock_release(l2), SQLLOCK_OK, c);
        CHECK(t_exec(pc, "COMMIT"));
    }
    sqllock_client_free(c);
    PQfinish(pc);
}

struct canceler {
    sqllock_client *target;
    int pid;
    int blocked;
};

/* Cancels the target's wait once the server shows it waiting. */
static void *cancel_when_blocked(void *arg)
{
    struct canceler *k = arg;
    PGconn *admin = t_admin();
    k->blocked = admin && t_wait_blocked(admin, k->pid, 5000);
    sqllock_cancel(k->target);
    PQfinish(admin);
    return NULL;
}

/* A wait that fails (timeout, cancel) inside the caller's transaction leaves
   it usable, in both scopes, and holds nothing. */
static void t_failed_wait_keeps_transaction(void)
{
    const char *name = t_tag("keep"), *pname = t_tag("p");
    sqllock_client *holder = t_client(t_tag("h"));
    PGconn *pc = t_pq(pname);
    CHECK(holder && pc);
    sqllock_client *c;
    CHECK_ST(sqllock_attach_pg(&c, pc), SQLLOCK_OK, c);
    sqllock_lock *h, *l;
    CHECK_ST(sqllock_acquire(&h, holder, name, NULL), SQLLOCK_OK, holder);
    CHECK(
        t_exec(pc, "BEGIN; CREATE TEMP TABLE keep_me (x int); INSERT INTO keep_me VALUES (1)"));
    for (int scope = 0; scope < 2; scope++) {
        sqllock_acquire_opts o = t_opts(100, scope);
        CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_TIMEOUT, c);
        CHECK(PQtransactionStatus(pc) == PQTRANS_INTRANS);
        o = t_opts(0, scope);
        CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_BUSY, c);
        struct canceler k = {c, PQbackendPID(pc), 0};
        pthread_t th;
        CHECK(pthread_create(&th, NULL, cancel_when_blocked, &k) == 0);
        o = t_opts(SQLLOCK_WAIT_FOREVER, scope);
        sqllock_status st = sqllock_acquire(&l, c, name, &o);
        pthread_join(th, NULL);
        CHECK(k.blocked);
        CHECK_ST(st, SQLLOCK_CANCELED, c);
        CHECK(PQtransactionStatus(pc) == PQTRANS_INTRANS);
    }
    CHECK(t_exec(pc, "COMMIT"));
    CHECK(t_sql_ll(pc, "SELECT count(*) FROM keep_me", NULL, NULL) == 1);
    CHECK_ST(sqllock_release(h), SQLLOCK_OK, holder);
    CHECK(!taken_by_other(name));
    sqllock_client_free(c);
    sqllock_client_free(holder);
    PQfinish(pc);
}

/* Release while the caller's transaction has failed: ESTATE, the handle and
   the lock stay, and a release after ROLLBACK works. Nothing leaks. */
static void t_release_in_failed_transaction(void)
{
    const char *name = t_tag("failed");
    PGconn *pc = t_pq(t_tag("p"));
    CHECK(pc);
    sqllock_client *c;
    CHECK_ST(sqllock_attach_pg(&c, pc), SQLLOCK_OK, c);
    sqllock_lock *l, *x;
    CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c);
    CHECK(t_exec(pc, "BEGIN"));
    sqllock_acquire_opts xo = t_opts(0, SQLLOCK_TRANSACTION);
    CHECK_ST(sqllock_acquire(&x, c, t_tag("x"), &xo), SQLLOCK_OK, c);
    PQclear(PQexec(pc, "SELECT 1/0"));
    CHECK(PQtransactionStatus(pc) == PQTRANS_INERROR);
    CHECK_ST(sqllock_release(l), SQLLOCK_ESTATE, c);
    CHECK(strstr(sqllock_errmsg(c), "ROLLBACK"));
    CHECK_ST(sqllock_check(l), SQLLOCK_ESTATE, c);
    CHECK_ST(sqllock_check(x), SQLLOCK_LOST, c); /* the abort released it */
    sqllock_lock *l2;
    CHECK_ST(sqllock_acquire(&l2, c, t_tag("y"), NULL), SQLLOCK_ESTATE, c);
    CHECK(taken_by_other(name));
    CHECK(t_exec(pc, "ROLLBACK"));
    CHECK_ST(sqllock_check(l), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(x), SQLLOCK_LOST, c);
    CHECK(!taken_by_other(name));
    sqllock_client_free(c);
    PQfinish(pc);
}

/* DISCARD ALL / DEALLOCATE ALL by the application drops our prepared
   statements; the next call prepares them again. */
static void t_statements_reprepared(void)
{
    const char *name = t_tag("discard");
    PGconn *pc = t_pq(t_tag("p"));
    CHECK(pc);
    sqllock_client *c;
    CHECK_ST(sqllock_attach_pg(&c, pc), SQLLOCK_OK, c);
    sqllock_lock *l;
    const char *resets[] = {"DEALLOCATE ALL", "DISCARD ALL"};
    for (int i = 0; i < 2; i++) {
        CHECK(t_exec(pc, resets[i]));
        CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c);
        CHECK(t_exec(pc, resets[i]));
        /* DISCARD ALL also dropped the lock itself: release says so. */
        CHECK_ST(sqllock_release(l), i ? SQLLOCK_LOST : SQLLOCK_OK, c);
        CHECK(t_exec(pc, resets[i]));
        sqllock_acquire_opts o = t_opts(100, SQLLOCK_SESSION);
        CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_OK, c);
        CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    }
    /* Two clients attached to one connection share the statements. */
    sqllock_client *c2;
    CHECK_ST(sqllock_attach_pg(&c2, pc), SQLLOCK_OK, c2);
    sqllock_client_free(c2);
    sqllock_client_free(c);
    PQfinish(pc);
}

static void t_attach_bad_states(void)
{
    sqllock_client *c;
    CHECK_ST(sqllock_attach_pg(NULL, NULL), SQLLOCK_EINVAL, NULL);
    CHECK_ST(sqllock_attach_pg(&c, NULL), SQLLOCK_EINVAL, c);
    CHECK(strcmp(sqllock_backend_name(c), "none") == 0);
    sqllock_lock *l;
    CHECK_ST(sqllock_acquire(&l, c, "x", NULL), SQLLOCK_ESTATE, c);
    sqllock_client_free(c);
    PGconn *pc = t_pq(t_tag("p"));
    CHECK(pc);
    CHECK(t_exec(pc, "BEGIN"));
    PQclear(PQexec(pc, "SELECT 1/0"));
    CHECK_ST(sqllock_attach_pg(&c, pc), SQLLOCK_ESTATE, c);
    sqllock_client_free(c);
    CHECK(t_exec(pc, "ROLLBACK"));
    PQfinish(pc);
    PGconn *dead = PQconnectdb("host=/nonexistent-dir port=1 connect_timeout=1");
    CHECK_ST(sqllock_attach_pg(&c, dead), SQLLOCK_ECONNECT, c);
    sqllock_client_free(c);
    PQfinish(dead);
}

/* The caller's connection is the caller's: after its session is
   terminated every acquire is ECONNECT, and the PGconn is still the same
   one, never reopened behind the caller's back. */
static void t_attached_never_reconnects(void)
{
    const char *app = t_tag("att");
    PGconn *pc = t_pq(app), *admin = t_admin();
    CHECK(pc && admin);
    sqllock_client *c;
    CHECK_ST(sqllock_attach_pg(&c, pc), SQLLOCK_OK, c);
    sqllock_lock *l;
    CHECK_ST(sqllock_acquire(&l, c, t_tag("a"), NULL), SQLLOCK_OK, c);
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", t_pid(admin, app));
    CHECK(t_sql_ll(admin, "SELECT pg_terminate_backend($1::int, 5000)::int", pid, NULL) == 1);
    CHECK_ST(sqllock_check(l), SQLLOCK_LOST, c);
    sqllock_lock *l2 = NULL;
    for (int i = 0; i < 2; i++)
        CHECK_ST(sqllock_acquire(&l2, c, t_tag("b"), NULL), SQLLOCK_ECONNECT, c);
    CHECK(PQstatus(pc) == CONNECTION_BAD);
    CHECK(t_pid(admin, app) == 0);
    CHECK_ST(sqllock_release(l), SQLLOCK_LOST, c);
    sqllock_client_free(c);
    PQfinish(pc);
    PQfinish(admin);
}

static const struct tcase cases[] = {
    {"attached_never_reconnects", t_attached_never_reconnects,
     "an attached connection whose session was terminated is never reopened: ECONNECT"},
    {"borrowed_stays_open", t_borrowed_stays_open,
     "an attached connection is never closed; client_free unlocks what the client held"},
    {"preheld_detected", t_preheld_detected,
     "a lock the session held before attach is not taken twice (found in pg_locks)"},
    {"transaction_scope", t_transaction_scope,
     "transaction locks need a transaction, end at COMMIT and ROLLBACK, and are never re-entered"},
    {"failed_wait_keeps_transaction", t_failed_wait_keeps_transaction,
     "a timed-out or canceled wait inside the caller's transaction leaves it open and intact"},
    {"release_in_failed_transaction", t_release_in_failed_transaction,
     "release in a failed transaction is ESTATE and keeps the lock; after ROLLBACK it works"},
    {"statements_reprepared", t_statements_reprepared,
     "DEALLOCATE ALL and DISCARD ALL by the application are survived; DISCARD's unlock is LOST"},
    {"attach_bad_states", t_attach_bad_states,
     "attaching NULL, a failed transaction or a dead connection gives a clear status"},
};

T_MAIN(cases)
