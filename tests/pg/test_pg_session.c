/* SPDX-License-Identifier: MIT */
/*
 * pg-advisory specifics of waiting: the session's settings are left as they
 * were, the caller's timeouts do not cut a wait short, a timeout that races
 * with the grant never leaves an orphan lock, and names map to keys that
 * plain SQL reproduces.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "sqllock/pg.h"
#include "support.h"

static int setting_is(PGconn *pc, const char *name, const char *want)
{
    PGresult *r = PQexecParams(pc, "SELECT current_setting($1)", 1, NULL, &name, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), want) == 0;
    if (!ok)
        fprintf(stderr, "%s is %s, expected %s\n", name,
                PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "(error)", want);
    PQclear(r);
    return ok;
}

/* After every kind of wait outcome, in and out of a transaction, the
   session's lock_timeout and statement_timeout are what the caller set. */
static void t_settings_left_as_found(void)
{
    const char *name = t_tag("settings");
    sqllock_client *holder = t_client(t_tag("h"));
    PGconn *pc = t_pq(t_tag("p"));
    CHECK(holder && pc);
    CHECK(t_exec(pc, "SET lock_timeout = '7s'; SET statement_timeout = '9s'"));
    sqllock_client *c;
    CHECK_ST(sqllock_attach_pg(&c, pc), SQLLOCK_OK, c);
    sqllock_lock *h, *l;
    CHECK_ST(sqllock_acquire(&h, holder, name, NULL), SQLLOCK_OK, holder);
    for (int in_txn = 0; in_txn < 2; in_txn++) {
        if (in_txn)
            CHECK(t_exec(pc, "BEGIN; SET LOCAL lock_timeout = '3s'"));
        const char *lt = in_txn ? "3s" : "7s";
        for (int scope = 0; scope <= in_txn; scope++) {
            sqllock_acquire_opts o = t_opts(150, scope);
            CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_TIMEOUT, c);
            CHECK(setting_is(pc, "lock_timeout", lt) &&
                  setting_is(pc, "statement_timeout", "9s"));
            CHECK(PQtransactionStatus(pc) == (in_txn ? PQTRANS_INTRANS : PQTRANS_IDLE));
        }
        if (in_txn)
            CHECK(t_exec(pc, "COMMIT"));
    }
    CHECK_ST(sqllock_release(h), SQLLOCK_OK, holder);
    /* And after a successful wait. */
    sqllock_acquire_opts o = t_opts(1000, SQLLOCK_SESSION);
    CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_OK, c);
    CHECK(setting_is(pc, "lock_timeout", "7s") && setting_is(pc, "statement_timeout", "9s"));
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    CHECK(t_exec(pc, "BEGIN; SET LOCAL statement_timeout = '4s'"));
    o = t_opts(1000, SQLLOCK_TRANSACTION);
    CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_OK, c);
    CHECK(setting_is(pc, "lock_timeout", "7s") && setting_is(pc, "statement_timeout", "4s"));
    CHECK(t_exec(pc, "COMMIT"));
    CHECK(setting_is(pc, "statement_timeout", "9s"));
    CHECK_ST(sqllock_release(l), SQLLOCK_LOST, c); /* its transaction has ended */
    sqllock_client_free(c);
    sqllock_client_free(holder);
    PQfinish(pc);
}

struct delayed_release {
    sqllock_lock *l;
    int after_ms;
};

static void *release_later(void *arg)
{
    struct delayed_release *d = arg;
    usleep((useconds_t)d->after_ms * 1000);
    sqllock_release(d->l);
    return NULL;
}

/* A caller's short statement_timeout or lock_timeout does not cut a long
   or endless wait short. */
static void t_caller_timeouts_do_not_cut(void)
{
    const char *name = t_tag("cut");
    sqllock_client *holder = t_client(t_tag("h"));
    PGconn *pc = t_pq(t_tag("p"));
    CHECK(holder && pc);
    CHECK(t_exec(pc, "SET statement_timeout = '100ms'; SET lock_timeout = '100ms'"));
    sqllock_client *c;
    CHECK_ST(sqllock_attach_pg(&c, pc), SQLLOCK_OK, c);
    sqllock_lock *h, *l;
    CHECK_ST(sqllock_acquire(&h, holder, name, NULL), SQLLOCK_OK, holder);
    sqllock_acquire_opts o;
    /* Idle, and inside a transaction in both scopes. */
    for (int i = 0; i < 3; i++) {
        if (i == 1)
            CHECK(t_exec(pc, "BEGIN"));
        o = t_opts(700, i == 2 ? SQLLOCK_TRANSACTION : SQLLOCK_SESSION);
        long long t0 = t_now_ms();
        CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_TIMEOUT, c);
        long long took = t_now_ms() - t0;
        CHECKF(took >= 690, "a 700 ms wait ended after %lld ms", took);
    }
    CHECK(t_exec(pc, "COMMIT"));
    /* Forever means forever: released after 600 ms, it is granted. */
    struct delayed_release d = {h, 600};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, release_later, &d) == 0);
    o = t_opts(SQLLOCK_WAIT_FOREVER, SQLLOCK_SESSION);
    sqllock_status st = sqllock_acquire(&l, c, name, &o);
    pthread_join(th, NULL);
    CHECK_ST(st, SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    sqllock_client_free(c);
    sqllock_client_free(holder);
    PQfinish(pc);
}

/*
 * The holder releases at the instant the waiter's lock_timeout fires, many
 * times. Whatever the outcome, it must be true: after TIMEOUT the waiter's
 * session holds nothing, after OK it holds the lock.
 */
static void t_timeout_race_no_orphan(void)
{
    const char *name = t_tag("race");
    int64_t key = sqllock_advisory_key(name);
    const char *wname = t_tag("w");
    sqllock_client *holder = t_client(t_tag("h")), *w = t_client(wname);
    PGconn *admin = t_admin();
    CHECK(holder && w && admin);
    int wpid = t_pid(admin, wname);
    int rounds = 150, timeouts = 0, oks = 0, wrong = 0;
    for (int i = 0; i < rounds && !wrong; i++) {
        sqllock_lock *h, *l;
        CHECK_ST(sqllock_acquire(&h, holder, name, NULL), SQLLOCK_OK, holder);
        /* Spread the release around the 20 ms deadline. */
        struct delayed_release d = {h, 17 + i % 7};
        pthread_t th;
        CHECK(pthread_create(&th, NULL, release_later, &d) == 0);
        sqllock_acquire_opts o = t_opts(20, SQLLOCK_SESSION);
        sqllock_status st = sqllock_acquire(&l, w, name, &o);
        pthread_join(th, NULL);
        int held = t_holds(admin, wpid, key);
        if (st == SQLLOCK_TIMEOUT) {
            timeouts++;
            wrong += held != 0;
        } else if (st == SQLLOCK_OK) {
            oks++;
            wrong += held != 1;
            CHECK_ST(sqllock_release(l), SQLLOCK_OK, w);
        } else {
            CHECKF(0, "round %d: %s: %s", i, sqllock_status_str(st), sqllock_errmsg(w));
        }
    }
    printf("%d rounds: %d TIMEOUT, %d OK, %d where the outcome and pg_locks disagree\n", rounds,
           timeouts, oks, wrong);
    CHECK(wrong == 0);
    CHECK(timeouts + oks == rounds);
    sqllock_client_free(holder);
    sqllock_client_free(w);
    PQfinish(admin);
}

/* The key rule, for arbitrary names, equals the server's hashtextextended;
   psql's spelling of a lock and sqllock's exclude each other; raw keys too. */
static void t_key_matches_sql(void)
{
    PGconn *admin = t_admin();
    sqllock_client *c = t_client(t_tag("c"));
    CHECK(admin && c);
    srand(42);
    for (int i = 0; i < 300; i++) {
        char name[80];
        int len = 1 + rand() % 70;
        for (int j = 0; j < len; j++)
            name[j] = (char)(' ' + rand() % 95);
        name[len] = '\0';
        char want[24];
        snprintf(want, sizeof(want), "%lld", (long long)sqllock_advisory_key(name));
        CHECKF(t_sql_ll(admin, "SELECT (hashtextextended($1, 0) = $2::int8)::int", name, want) ==
                   1,
               "key of \"%s\" differs from hashtextextended", name);
    }
    char k[24];
    snprintf(k, sizeof(k), "%lld", (long long)sqllock_advisory_key("ünïcødé ✓"));
    CHECK(t_sql_ll(admin, "SELECT (hashtextextended('ünïcødé ✓', 0) = $1::int8)::int", k,
                   NULL) == 1);

    const char *name = t_tag("psql");
    CHECK(t_sql_ll(admin, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))::int", name,
                   NULL) == 1);
    sqllock_lock *l;
    CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_BUSY, c);
    CHECK(t_sql_ll(admin, "SELECT pg_advisory_unlock(hashtextextended($1, 0))::int", name,
                   NULL) == 1);
    CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c);
    CHECK(t_sql_ll(admin, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))::int", name,
                   NULL) == 0);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);

    /* A numeric key, as migration tools lock it. */
    int64_t raw = 4242000000000LL + getpid();
    snprintf(k, sizeof(k), "%lld", (long long)raw);
    CHECK_ST(sqllock_acquire_key(&l, c, raw, NULL), SQLLOCK_OK, c);
    CHECK(strcmp(sqllock_lock_name(l), "") == 0);
    CHECK(t_sql_ll(admin, "SELECT pg_try_advisory_lock($1::int8)::int", k, NULL) == 0);
    sqllock_lock *l2;
    CHECK_ST(sqllock_acquire_key(&l2, c, raw, NULL), SQLLOCK_ESTATE, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    CHECK(t_sql_ll(admin, "SELECT pg_try_advisory_lock($1::int8)::int", k, NULL) == 1);
    CHECK(t_sql_ll(admin, "SELECT pg_advisory_unlock($1::int8)::int", k, NULL) == 1);
    /* Two names with one key are one lock, so the second is refused too. */
    snprintf(k, sizeof(k), "%lld", (long long)sqllock_advisory_key(name));
    CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c);
    CHECK_ST(sqllock_acquire_key(&l2, c, sqllock_advisory_key(name), NULL), SQLLOCK_ESTATE, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    sqllock_client_free(c);
    PQfinish(admin);
}

/* Connections the library opens say who they are in pg_stat_activity. */
static void t_application_name(void)
{
    const char *url = t_url();
    PGconn *admin = t_admin();
    CHECK(url && admin);
    sqllock_client *c;
    CHECK_ST(sqllock_connect(&c, url), SQLLOCK_OK, c);
    char pattern[64];
    snprintf(pattern, sizeof(pattern), "sqllock[%d]@%%", (int)getpid());
    CHECK(t_sql_ll(admin, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE $1",
                   pattern, NULL) == 1);
    CHECK(strcmp(sqllock_backend_name(c), "pg-advisory") == 0);
    sqllock_client_free(c);
    PQfinish(admin);
}

static const struct tcase cases[] = {
    {"settings_left_as_found", t_settings_left_as_found,
     "lock_timeout and statement_timeout are as the caller left them after every wait outcome"},
    {"caller_timeouts_do_not_cut", t_caller_timeouts_do_not_cut,
     "a caller's 100 ms statement_timeout and lock_timeout do not shorten a wait"},
    {"timeout_race_no_orphan", t_timeout_race_no_orphan,
     "when release and lock_timeout race, TIMEOUT means not held and OK means held (pg_locks)"},
    {"key_matches_sql", t_key_matches_sql,
     "name keys equal hashtextextended(name, 0); psql and sqllock exclude each other; raw keys"},
    {"application_name", t_application_name,
     "connections the library opens carry application_name sqllock[pid]@host"},
};

T_MAIN(cases)
