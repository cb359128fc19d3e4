/* SPDX-License-Identifier: MIT */
/*
 * The hand-written libpq baseline shared by the scenarios: one connection
 * with sqllock's own try, lock and unlock statements prepared, run with
 * PQexecPrepared. This is the least any client can send for the same
 * locks, so sqllock's figures are set against it.
 */
#include <stdio.h>
#include <string.h>

#include "scenarios.h"

PGconn *bench_pq_open(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "bench: PQconnectdb: %s", conn ? PQerrorMessage(conn) : "no memory\n");
        PQfinish(conn);
        return NULL;
    }
    const char *sql[3] = {BENCH_TRY_SQL, BENCH_UNLOCK_SQL, BENCH_LOCK_SQL};
    const char *names[3] = {"bench_try", "bench_unlock", "bench_lock"};
    for (int i = 0; i < 3; i++) {
        PGresult *r = PQprepare(conn, names[i], sql[i], 0, NULL);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            fprintf(stderr, "bench: PQprepare: %s", PQerrorMessage(conn));
            PQfinish(conn);
            return NULL;
        }
    }
    return conn;
}

int bench_pq_exec(PGconn *conn, const char *stmt, const char *key, int want_true)
{
    const char *params[1] = {key};
    PGresult *r = PQexecPrepared(conn, stmt, 1, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
             (!want_true || strcmp(PQgetvalue(r, 0, 0), "t") == 0);
    if (!ok)
        fprintf(stderr, "bench: libpq: %s: %s", stmt,
                PQresultStatus(r) == PGRES_TUPLES_OK ? "answered false\n"
                                                     : PQerrorMessage(conn));
    PQclear(r);
    return ok ? 0 : -1;
}

int bench_pq_pair(PGconn *conn, const char *key)
{
    return bench_pq_exec(conn, "bench_try", key, 1) == 0
               ? bench_pq_exec(conn, "bench_unlock", key, 1)
               : -1;
}
