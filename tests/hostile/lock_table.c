/* SPDX-License-Identifier: MIT */
/*
 * Hostile deployments: the server's lock table full. Run by lock_table.sh
 * against a cluster of its own with a tiny max_locks_per_transaction, once
 * per transport (SQLLOCK_SUITE_URL_VAR), never against the shared one: it
 * takes every lock slot the server has.
 *
 * A client takes advisory locks until the server refuses one; the refusal
 * is ESERVER with SQLSTATE 53200 (out of shared memory) and a one-line
 * message, and nothing of the refused lock is held. A lease acquire then
 * (whose first use also installs the tables) is refused the same way,
 * without a lease row. Not wedged: once some locks are released, the same
 * client takes a lease and an advisory lock, and every lock it held before
 * the refusals is released one by one. It prints how many locks fitted.
 */
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define MAX_LOCKS 20000
#define FREED 200

static int64_t key_of(int i)
{
    return (int64_t)0x51a7e000000000LL + i;
}

/* The refusal of a full lock table: 53200, one line, saying so. */
static int refused(sqllock_client *c, sqllock_status st, const char *what)
{
    CHECKF_R(st == SQLLOCK_ESERVER && strcmp(sqllock_errcode(c), "53200") == 0,
             "%s on a full lock table: %s (%s): %s", what, sqllock_status_str(st),
             sqllock_errcode(c), sqllock_errmsg(c));
    CHECKF_R(strstr(sqllock_errmsg(c), "shared memory") && !strchr(sqllock_errmsg(c), '\n'),
             "%s: not one line saying so: %s", what, sqllock_errmsg(c));
    return 1;
}

static void t_lock_table_full(void)
{
    const char *app = t_tag("locktable");
    PGconn *admin = t_admin();
    sqllock_client *c = admin ? t_client(app) : NULL;
    sqllock_lock **held = calloc(MAX_LOCKS, sizeof(*held));
    int n = 0, pid = admin ? t_pid(admin, app) : 0;
    if (!c || !held || !pid) {
        t_fail(__FILE__, __LINE__, "setting up (backend pid %d)", pid);
        goto out;
    }
    sqllock_status st = SQLLOCK_OK;
    while (n < MAX_LOCKS &&
           (st = sqllock_acquire_key(&held[n], c, key_of(n), NULL)) == SQLLOCK_OK)
        n++;
    printf("locks that fit: %d\n", n);
    if (!refused(c, st, "advisory acquire"))
        goto out;
    CHECKF(n > 0 && t_holds(admin, pid, key_of(n)) == 0, "the refused lock is held (%d)", n);
    char p[16];
    snprintf(p, sizeof(p), "%d", pid);
    long long have = t_sql_ll(admin,
                              "SELECT count(*) FROM pg_locks WHERE pid = $1::int"
                              " AND locktype = 'advisory' AND granted",
                              p, NULL);
    CHECKF(have == n, "the server shows %lld locks of the client's, it took %d", have, n);

    sqllock_acquire_opts lo = t_lease(60000, 0);
    sqllock_lock *lease = NULL;
    const char *name = t_tag("locktable-lease");
    if (!refused(c, sqllock_acquire(&lease, c, name, &lo), "lease acquire"))
        goto out;
    long long rows = t_sql_ll(admin,
                              "SELECT CASE WHEN to_regclass('sqllock_lease') IS NULL"
                              " THEN 0 ELSE 1 END",
                              NULL, NULL);
    if (rows > 0)
        rows = t_sql_ll(admin,
                        "SELECT count(*) FROM sqllock_lease WHERE name ="
                        " convert_to($1, 'UTF8') AND NOT released",
                        name, NULL);
    CHECKF(rows == 0, "a refused lease left a row");

    /* Not wedged. */
    int freed = n < FREED ? n : FREED;
    for (int i = n - freed; i < n; i++) {
        CHECK_ST(sqllock_release(held[i]), SQLLOCK_OK, c);
        held[i] = NULL;
    }
    n -= freed;
    CHECK_ST(sqllock_acquire(&lease, c, name, &lo), SQLLOCK_OK, c);
    sqllock_lock *l = NULL;
    CHECK_ST(sqllock_acquire_key(&l, c, key_of(MAX_LOCKS), NULL), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(lease), SQLLOCK_OK, c);
    for (; n > 0; n--) {
        CHECK_ST(sqllock_release(held[n - 1]), SQLLOCK_OK, c);
        held[n - 1] = NULL;
    }
    CHECKF(t_sql_ll(admin,
                    "SELECT count(*) FROM pg_locks WHERE pid = $1::int"
                    " AND locktype = 'advisory'",
                    p, NULL) == 0,
           "locks left behind");
out:
    for (int i = 0; held && i < n; i++)
        (void)sqllock_release(held[i]);
    free(held);
    sqllock_client_free(c);
    PQfinish(admin);
}

static const struct tcase cases[] = {
    {"lock_table_full", t_lock_table_full,
     "a full lock table: 53200 for advisory and lease acquires, nothing half-held, "
     "the client usable again once locks are released"},
};

T_MAIN(cases)
