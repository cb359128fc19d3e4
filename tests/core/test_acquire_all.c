/* SPDX-License-Identifier: MIT */
/*
 * sqllock_acquire_all in the core (acquire_all.c over lock.c), with no
 * server: a fake backend whose keys are the numbers in the names ("k-7" is
 * key -7, "k07" and "k7" are one key), so that the order the core takes
 * locks in, the wait it gives each, what it lets go of on a failure and
 * its refusal of two names with one key can be seen call by call.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sqllock_int.h"

#define LOG_MAX 16

/* What the fake saw: acquires (name, wait) and releases, in call order. */
static struct {
    char acquired[LOG_MAX][32], released[LOG_MAX][32];
    int64_t waits[LOG_MAX];
    int nacq, nrel, try_all_calls;
    const char *busy;      /* this name is held elsewhere */
    int slow_ms;           /* every acquire takes this long */
    sqllock_status set_st; /* what try_all answers */
} seen;

static uint64_t key_ident(const char *name, size_t len)
{
    (void)len;
    return (uint64_t)strtoll(name + 1, NULL, 10);
}

static sqllock_status key_acquire(sqllock_client *c, sqllock_lock *l, int64_t wait_ms)
{
    (void)c;
    if (seen.nacq < LOG_MAX) {
        snprintf(seen.acquired[seen.nacq], sizeof(seen.acquired[0]), "%s", l->name);
        seen.waits[seen.nacq] = wait_ms;
    }
    seen.nacq++;
    if (seen.slow_ms)
        usleep((useconds_t)seen.slow_ms * 1000);
    return seen.busy && strcmp(l->name, seen.busy) == 0 ? SQLLOCK_BUSY : SQLLOCK_OK;
}

static sqllock_status key_release(sqllock_client *c, sqllock_lock *l)
{
    (void)c;
    if (seen.nrel < LOG_MAX)
        snprintf(seen.released[seen.nrel], sizeof(seen.released[0]), "%s", l->name);
    seen.nrel++;
    return SQLLOCK_OK;
}

static sqllock_status key_check(sqllock_client *c, sqllock_lock *l)
{
    (void)c;
    (void)l;
    return SQLLOCK_OK;
}

static int key_in_transaction(sqllock_client *c)
{
    (void)c;
    return 1;
}

static sqllock_status key_try_all(sqllock_client *c, sqllock_lock *const *ls, size_t n)
{
    (void)ls;
    (void)n;
    seen.try_all_calls++;
    return seen.set_st == SQLLOCK_OK ? SQLLOCK_OK
                                     : sqllock__fail(c, seen.set_st, "fake: one is busy");
}

static struct sqllock_backend keyed = {
    .name = "fake-keyed",
    .caps = SQLLOCK_CAP_SESSION | SQLLOCK_CAP_TRANSACTION,
    .ident = key_ident,
    .acquire = key_acquire,
    .release = key_release,
    .check = key_check,
    .in_transaction = key_in_transaction,
};

static sqllock_client *keyed_client(void)
{
    memset(&seen, 0, sizeof(seen));
    keyed.try_all = NULL;
    sqllock_client *c = sqllock__client_new();
    if (c) {
        c->be = &keyed;
        c->owns_connection = 1;
    }
    return c;
}

/* Locks are taken by key as a signed number, whatever the caller's order,
   and each handle comes back at its name's index. */
static void t_key_order(void)
{
    sqllock_client *c = keyed_client();
    CHECK(c);
    const char *names[] = {"k5", "k-7", "k9223372036854775807", "k2"};
    sqllock_lock *out[4];
    CHECK_ST(sqllock_acquire_all(out, c, names, 4, NULL), SQLLOCK_OK, c);
    CHECK(seen.nacq == 4);
    CHECK(strcmp(seen.acquired[0], "k-7") == 0 && strcmp(seen.acquired[1], "k2") == 0 &&
          strcmp(seen.acquired[2], "k5") == 0 &&
          strcmp(seen.acquired[3], "k9223372036854775807") == 0);
    for (int i = 0; i < 4; i++) {
        CHECKF(out[i] && strcmp(sqllock_lock_name(out[i]), names[i]) == 0, "out[%d] is %s", i,
               out[i] ? sqllock_lock_name(out[i]) : "NULL");
        CHECK_ST(sqllock_release(out[i]), SQLLOCK_OK, c);
    }
    CHECK(c->held.count == 0);
    sqllock_client_free(c);
}

/* A busy lock in the middle: those before it are released (newest first),
   those after it are never asked for, every out[i] is NULL, the message
   names the lock, and the client holds nothing. */
static void t_rollback(void)
{
    sqllock_client *c = keyed_client();
    CHECK(c);
    seen.busy = "k2";
    const char *names[] = {"k3", "k2", "k1", "k0"};
    sqllock_lock *out[4] = {(sqllock_lock *)1, (sqllock_lock *)1, NULL, NULL};
    CHECK_ST(sqllock_acquire_all(out, c, names, 4, NULL), SQLLOCK_BUSY, c);
    CHECK(!out[0] && !out[1] && !out[2] && !out[3]);
    CHECK(seen.nacq == 3 && strcmp(seen.acquired[2], "k2") == 0);
    CHECK(seen.nrel == 2 && strcmp(seen.released[0], "k1") == 0 &&
          strcmp(seen.released[1], "k0") == 0);
    CHECKF(strstr(sqllock_errmsg(c), "\"k2\" (3 of 4 in key order)"), "errmsg: %s",
           sqllock_errmsg(c));
    CHECK(c->held.count == 0);
    sqllock_client_free(c);
}

/* One deadline for the set: each lock waits for what is left, a lock
   reached after it passed is tried, and busy then is TIMEOUT. */
static void t_one_deadline(void)
{
    sqllock_client *c = keyed_client();
    CHECK(c);
    seen.slow_ms = 120;
    seen.busy = "k4";
    const char *names[] = {"k1", "k2", "k3", "k4"};
    sqllock_lock *out[4];
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.wait_ms = 300;
    long long t0 = sqllock__now_ms();
    CHECK_ST(sqllock_acquire_all(out, c, names, 4, &o), SQLLOCK_TIMEOUT, c);
    long long took = sqllock__now_ms() - t0;
    printf("waits given: %lld %lld %lld %lld ms; the call took %lld ms\n",
           (long long)seen.waits[0], (long long)seen.waits[1], (long long)seen.waits[2],
           (long long)seen.waits[3], took);
    CHECK(seen.nacq == 4 && seen.waits[0] == 300);
    CHECK(seen.waits[1] <= 180 && seen.waits[1] >= 100);
    CHECK(seen.waits[2] <= 60 && seen.waits[3] == 0);
    CHECK(seen.nrel == 3 && !out[0] && !out[3]);
    CHECK(c->held.count == 0);
    sqllock_client_free(c);
}

/* Refused before anything is asked of the backend: a name twice, two names
   of one key, n 0 or too large, NULL arrays and elements. */
static void t_refused(void)
{
    sqllock_client *c = keyed_client();
    CHECK(c);
    sqllock_lock *out[3] = {NULL, NULL, NULL};
    const char *twice[] = {"k1", "k2", "k1"};
    CHECK_ST(sqllock_acquire_all(out, c, twice, 3, NULL), SQLLOCK_EINVAL, c);
    CHECK(strstr(sqllock_errmsg(c), "given twice"));
    const char *same_key[] = {"k7", "k07"};
    CHECK_ST(sqllock_acquire_all(out, c, same_key, 2, NULL), SQLLOCK_EINVAL, c);
    CHECKF(strstr(sqllock_errmsg(c), "are the same lock (key 7"), "errmsg: %s",
           sqllock_errmsg(c));
    CHECK_ST(sqllock_acquire_all(out, c, twice, 0, NULL), SQLLOCK_EINVAL, c);
    CHECK_ST(sqllock_acquire_all(out, c, twice, SQLLOCK_ACQUIRE_ALL_MAX + 1, NULL),
             SQLLOCK_EINVAL, c);
    CHECK_ST(sqllock_acquire_all(out, c, NULL, 2, NULL), SQLLOCK_EINVAL, c);
    CHECK_ST(sqllock_acquire_all(NULL, c, twice, 2, NULL), SQLLOCK_EINVAL, c);
    CHECK(sqllock_acquire_all(out, NULL, twice, 2, NULL) == SQLLOCK_EINVAL);
    const char *hole[] = {"k1", NULL, "k3"};
    CHECK_ST(sqllock_acquire_all(out, c, hole, 3, NULL), SQLLOCK_EINVAL, c);
    CHECK(strstr(sqllock_errmsg(c), "names[1] is NULL"));
    const char *empty[] = {"k1", ""};
    CHECK_ST(sqllock_acquire_all(out, c, empty, 2, NULL), SQLLOCK_EINVAL, c);
    CHECK(seen.nacq == 0 && c->held.count == 0 && !out[0] && !out[1] && !out[2]);
    sqllock_client_free(c);
}

/* A try of several goes to try_all once (no single acquires); a wait,
   transaction scope, or one name goes lock by lock; a failed try_all
   leaves nothing held. */
static void t_try_all_member(void)
{
    sqllock_client *c = keyed_client();
    CHECK(c);
    keyed.try_all = key_try_all;
    const char *names[] = {"k2", "k1"};
    sqllock_lock *out[2];
    CHECK_ST(sqllock_acquire_all(out, c, names, 2, NULL), SQLLOCK_OK, c);
    CHECK(seen.try_all_calls == 1 && seen.nacq == 0 && c->held.count == 2);
    CHECK(strcmp(sqllock_lock_name(out[1]), "k1") == 0);
    CHECK_ST(sqllock_release(out[0]), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(out[1]), SQLLOCK_OK, c);
    seen.set_st = SQLLOCK_BUSY;
    CHECK_ST(sqllock_acquire_all(out, c, names, 2, NULL), SQLLOCK_BUSY, c);
    CHECK(seen.try_all_calls == 2 && !out[0] && !out[1] && c->held.count == 0);
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.wait_ms = 100;
    CHECK_ST(sqllock_acquire_all(out, c, names, 2, &o), SQLLOCK_OK, c);
    CHECK(seen.try_all_calls == 2 && seen.nacq == 2);
    CHECK_ST(sqllock_release(out[0]), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(out[1]), SQLLOCK_OK, c);
    o.wait_ms = 0;
    o.scope = SQLLOCK_TRANSACTION;
    CHECK_ST(sqllock_acquire_all(out, c, names, 2, &o), SQLLOCK_OK, c);
    CHECK(seen.try_all_calls == 2 && seen.nacq == 4);
    const char *one[] = {"k9"};
    CHECK_ST(sqllock_acquire_all(out, c, one, 1, NULL), SQLLOCK_OK, c);
    CHECK(seen.try_all_calls == 2 && seen.nacq == 5);
    sqllock_client_free(c);
}

static const struct tcase cases[] = {
    {"key_order", t_key_order,
     "locks are taken by signed key whatever the caller's order; out[i] is names[i]'s lock"},
    {"rollback", t_rollback,
     "a busy lock releases those taken before it, asks for none after it, names itself"},
    {"one_deadline", t_one_deadline,
     "each lock waits for what is left of one deadline; past it, busy is TIMEOUT"},
    {"refused", t_refused,
     "a name twice, two names of one key, n 0 or too large, NULLs: EINVAL, nothing asked"},
    {"try_all_member", t_try_all_member,
     "a try of several is the backend's try_all once; waits, transaction scope and one name "
     "go lock by lock"},
};

T_MAIN(cases)
