/* SPDX-License-Identifier: MIT */
/*
 * The install check's program: built only from an installed sqllock (its
 * headers, its CMake package or its pkg-config file), it proves that what
 * was installed compiles, links and works. It takes a lock through a client
 * of the library's own, checks that a second session, a PGconn opened here
 * and attached with sqllock_attach_pg(), sees that lock as busy, then
 * locks and unlocks through the attached connection too.
 *
 * Usage: consumer CONNINFO
 */
#include <stdio.h>

#include <sqllock.h>
#include <sqllock/pg.h>

#define LOCK_NAME "sqllock:install-check"

/* 0 when st is what was wanted; otherwise says what happened on c. */
static int expect(sqllock_status st, sqllock_status want, sqllock_client *c, const char *what)
{
    if (st == want)
        return 0;
    fprintf(stderr, "consumer: %s: expected \"%s\", got \"%s\": %s\n", what,
            sqllock_status_str(want), sqllock_status_str(st), sqllock_errmsg(c));
    return -1;
}

/* Both clients connected: one holds the lock while the other must find it busy. */
static int exercise(sqllock_client *own, sqllock_client *attached)
{
    /* A bounded wait rather than a try, so that two checks running at
       once against the same database take turns instead of failing. */
    sqllock_acquire_opts wait = SQLLOCK_ACQUIRE_OPTS_INIT;
    wait.wait_ms = 10000;
    sqllock_lock *l, *other = NULL;

    if (expect(sqllock_acquire(&l, own, LOCK_NAME, &wait), SQLLOCK_OK, own, "acquire") != 0)
        return -1;
    int rc = expect(sqllock_acquire(&other, attached, LOCK_NAME, NULL), SQLLOCK_BUSY, attached,
                    "try from a second session");
    if (rc != 0 && other)
        (void)sqllock_release(other);
    if (expect(sqllock_release(l), SQLLOCK_OK, own, "release") != 0 || rc != 0)
        return -1;

    if (expect(sqllock_acquire(&l, attached, LOCK_NAME, &wait), SQLLOCK_OK, attached,
               "acquire (attached)") != 0)
        return -1;
    return expect(sqllock_release(l), SQLLOCK_OK, attached, "release (attached)");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CONNINFO\n", argv[0]);
        return 2;
    }
    /* Headers from one install and a library from another would pass every
       other check here and still be wrong. */
    if (sqllock_version() != SQLLOCK_VERSION_NUMBER) {
        fprintf(stderr, "consumer: header is %d but library is %d\n", SQLLOCK_VERSION_NUMBER,
                sqllock_version());
        return 1;
    }

    int ok = 0;
    sqllock_client *own = NULL, *attached = NULL;
    PGconn *conn = NULL;
    sqllock_status st = sqllock_connect(&own, argv[1]);
    if (expect(st, SQLLOCK_OK, own, "sqllock_connect") != 0)
        goto out;
    conn = PQconnectdb(argv[1]);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "consumer: PQconnectdb: %s",
                conn ? PQerrorMessage(conn) : "out of memory\n");
        goto out;
    }
    st = sqllock_attach_pg(&attached, conn);
    if (expect(st, SQLLOCK_OK, attached, "sqllock_attach_pg") != 0)
        goto out;
    ok = exercise(own, attached) == 0;
out:
    /* The attached client must go before the connection it is attached to. */
    sqllock_client_free(attached);
    PQfinish(conn);
    sqllock_client_free(own);
    if (!ok)
        return 1;
    printf("consumer: ok (sqllock %s)\n", SQLLOCK_VERSION);
    return 0;
}
