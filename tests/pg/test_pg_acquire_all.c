/* SPDX-License-Identifier: MIT */
/*
 * sqllock_acquire_all on pg-advisory over libpq, as the server sees it. The
 * client is attached to a libpq connection of the test's, whose protocol
 * trace (PQtrace) counts the round trips: a try of 16 names is one, taken
 * or given back. pg_locks shows what the session holds after each call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqllock/pg.h"
#include "support.h"

#define N 16

/* Granted advisory locks of the backend pid. */
static long long held_by(PGconn *admin, int pid)
{
    return t_advisory_count(admin, pid, "true");
}

/* How many exchanges the trace in f saw end (one ReadyForQuery each). */
static int round_trips(FILE *f)
{
    char line[4096];
    int n = 0;
    rewind(f);
    while (fgets(line, sizeof(line), f))
        n += strstr(line, "\tReadyForQuery") != NULL;
    return n;
}

/* acquire_all on c with pc's protocol traced: its status and round trips. */
static sqllock_status traced(PGconn *pc, int *trips, sqllock_lock **out, sqllock_client *c,
                             const char *const *names, size_t n, const sqllock_acquire_opts *o)
{
    FILE *f = tmpfile();
    if (!f)
        return SQLLOCK_ENOMEM;
    PQtrace(pc, f);
    PQsetTraceFlags(pc, PQTRACE_SUPPRESS_TIMESTAMPS);
    sqllock_status st = sqllock_acquire_all(out, c, names, n, o);
    PQuntrace(pc);
    *trips = round_trips(f);
    fclose(f);
    return st;
}

/* A client attached to the test's connection pc (backend pid), another
   client, and n names of prefix. */
struct fix {
    PGconn *pc, *admin;
    sqllock_client *c, *other;
    int pid;
    char buf[N][32];
    const char *names[N];
};

static int fix_open(struct fix *f, const char *prefix, int n)
{
    const char *appname = t_tag("p");
    memset(f, 0, sizeof(*f));
    f->pc = t_pq(appname);
    f->admin = t_admin();
    f->other = t_client(t_tag("other"));
    if (!f->pc || !f->admin || !f->other || sqllock_attach_pg(&f->c, f->pc) != SQLLOCK_OK)
        return 0;
    f->pid = t_pid(f->admin, appname);
    for (int i = 0; i < n; i++) {
        snprintf(f->buf[i], sizeof(f->buf[i]), "%s-%d", t_tag(prefix), i);
        f->names[i] = f->buf[i];
    }
    return 1;
}

static void fix_close(struct fix *f)
{
    sqllock_client_free(f->c);
    sqllock_client_free(f->other);
    PQfinish(f->pc);
    PQfinish(f->admin);
}

static void t_try_one_round_trip(void)
{
    struct fix fx;
    CHECK(fix_open(&fx, "all", N));
    PGconn *pc = fx.pc, *admin = fx.admin;
    sqllock_client *c = fx.c, *other = fx.other;
    int pid = fx.pid;
    const char *const *names = fx.names;
    sqllock_lock *out[N], *busy;
    int trips = -1;
    CHECK_ST(traced(pc, &trips, out, c, names, N, NULL), SQLLOCK_OK, c);
    printf("a try of %d free names: %d round trip(s), %lld advisory locks held\n", N, trips,
           held_by(admin, pid));
    CHECK(trips == 1);
    CHECK(held_by(admin, pid) == N);
    for (int i = 0; i < N; i++)
        CHECK_ST(sqllock_release(out[i]), SQLLOCK_OK, c);

    CHECK_ST(sqllock_acquire(&busy, other, names[9], NULL), SQLLOCK_OK, other);
    CHECK_ST(traced(pc, &trips, out, c, names, N, NULL), SQLLOCK_BUSY, c);
    printf("a try with one name held elsewhere: %d round trip(s), %lld held after\n", trips,
           held_by(admin, pid));
    CHECK(trips == 1);
    CHECK(held_by(admin, pid) == 0);
    for (int i = 0; i < N; i++)
        CHECK(out[i] == NULL);
    CHECK(t_free_for_others(names[0]) && t_free_for_others(names[N - 1]));
    CHECK_ST(sqllock_release(busy), SQLLOCK_OK, other);

    sqllock_acquire_opts sh = SQLLOCK_ACQUIRE_OPTS_INIT;
    sh.mode = SQLLOCK_SHARED;
    sqllock_lock *mine[N], *theirs[N];
    CHECK_ST(sqllock_acquire_all(mine, c, names, N, &sh), SQLLOCK_OK, c);
    CHECK_ST(sqllock_acquire_all(theirs, other, names, N, &sh), SQLLOCK_OK, other);
    CHECK(!t_free_for_others(names[5]));
    for (int i = 0; i < N; i++) {
        CHECK_ST(sqllock_release(mine[i]), SQLLOCK_OK, c);
        CHECK_ST(sqllock_release(theirs[i]), SQLLOCK_OK, other);
    }
    fix_close(&fx);
}

/* Transaction scope goes lock by lock (xact locks cannot be unlocked): a
   failed set leaves exactly the locks before the busy one, in key order,
   to the transaction, and ROLLBACK ends them. */
static void t_transaction_scope_failure(void)
{
    struct fix fx;
    CHECK(fix_open(&fx, "txn", 4));
    PGconn *pc = fx.pc, *admin = fx.admin;
    sqllock_client *c = fx.c, *other = fx.other;
    int pid = fx.pid;
    const char *const *names = fx.names;
    int64_t busy_key = sqllock_advisory_key(names[2]);
    int before = 0;
    for (int i = 0; i < 4; i++)
        before += sqllock_advisory_key(names[i]) < busy_key;
    sqllock_lock *out[4], *busy;
    CHECK_ST(sqllock_acquire(&busy, other, names[2], NULL), SQLLOCK_OK, other);
    CHECK(t_exec(pc, "BEGIN"));
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.scope = SQLLOCK_TRANSACTION;
    CHECK_ST(sqllock_acquire_all(out, c, names, 4, &o), SQLLOCK_BUSY, c);
    long long during = held_by(admin, pid);
    printf("%d of the 4 come before the busy one in key order; %lld held until ROLLBACK\n",
           before, during);
    CHECK(during == before);
    CHECK(!out[0] && !out[1] && !out[2] && !out[3]);
    CHECK(t_exec(pc, "ROLLBACK"));
    CHECK(held_by(admin, pid) == 0);
    CHECK_ST(sqllock_release(busy), SQLLOCK_OK, other);
    fix_close(&fx);
}

static const struct tcase cases[] = {
    {"try_one_round_trip", t_try_one_round_trip,
     "a try of 16 names is one round trip, taking all or (one busy) none, as pg_locks shows; "
     "shared sets coexist"},
    {"transaction_scope_failure", t_transaction_scope_failure,
     "a failed transaction-scoped set leaves exactly the keys before the busy one to the "
     "transaction, and ROLLBACK ends them"},
};

T_MAIN(cases)
