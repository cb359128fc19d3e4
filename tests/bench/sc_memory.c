/* SPDX-License-Identifier: MIT */
/*
 * Scenario 4, memory: heap bytes a client costs, and bytes per held lock
 * beyond the name itself, measured with glibc's mallinfo2() (bytes in use in
 * the main arena, chunk headers included) around connecting and around
 * acquiring 1 and then 5,000 locks. The baseline of a client is a bare
 * libpq connection (PQconnectdb) to the same server.
 */
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqllock.h>

#include "scenarios.h"

#define MANY 5000

static double in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks;
}

/* Holds locks until n are held; the names are all the same length. */
static int hold(sqllock_client *c, int *held, int n, size_t *name_len)
{
    for (; *held < n; (*held)++) {
        char name[64];
        sqllock_lock *l; /* freed with the client */
        int len = snprintf(name, sizeof(name), "bench:memory:%08ld:%05d", (long)getpid(), *held);
        *name_len = (size_t)len;
        sqllock_status st = sqllock_acquire(&l, c, name, NULL);
        if (st != SQLLOCK_OK) {
            fprintf(stderr, "bench: memory: %s: %s\n", sqllock_status_str(st),
                    sqllock_errmsg(c));
            return -1;
        }
    }
    return 0;
}

int sc_memory(const struct bench_cfg *cfg, const struct bench_backend *b)
{
    (void)cfg;
    double base_client = NAN;
    if (b->baseline) {
        double before = in_use();
        PGconn *conn = PQconnectdb(b->baseline);
        if (!conn || PQstatus(conn) != CONNECTION_OK) {
            fprintf(stderr, "bench: memory: PQconnectdb failed\n");
            PQfinish(conn);
            return -1;
        }
        base_client = in_use() - before;
        PQfinish(conn);
    }

    double before = in_use();
    sqllock_client *c = NULL;
    if (sqllock_connect(&c, b->url) != SQLLOCK_OK) {
        fprintf(stderr, "bench: connect %s: %s\n", b->label, sqllock_errmsg(c));
        sqllock_client_free(c);
        return -1;
    }
    double client = in_use() - before;
    /* One pair first, so that buffers grown by the first exchange count
       for the client, not for the locks. */
    sqllock_lock *l;
    if (sqllock_acquire(&l, c, "bench:memory:warmup", NULL) != SQLLOCK_OK ||
        sqllock_release(l) != SQLLOCK_OK) {
        fprintf(stderr, "bench: memory: warm-up: %s\n", sqllock_errmsg(c));
        sqllock_client_free(c);
        return -1;
    }
    double client_used = in_use() - before;

    int held = 0;
    size_t name_len = 0;
    double start = in_use();
    int ok = hold(c, &held, 1, &name_len) == 0;
    double one = in_use() - start - (double)name_len;
    ok = ok && hold(c, &held, MANY, &name_len) == 0;
    double many = (in_use() - start) / MANY - (double)name_len;
    sqllock_client_free(c);
    if (!ok)
        return -1;
    if (client <= 0) { /* e.g. under AddressSanitizer, whose allocator mallinfo2 does not see */
        printf("%-18s mallinfo2() sees no allocations here; no memory figures\n", b->label);
        return 0;
    }

    struct figure f = {"memory",
                       b->label,
                       1,
                       "connected",
                       "bytes_per_client",
                       client,
                       NAN,
                       NAN,
                       b->baseline ? "bare PQconnectdb" : NULL,
                       base_client,
                       b->baseline ? client / base_client : NAN};
    figure_emit(&f);
    f.variant = "after 1 op";
    f.value = client_used;
    f.ratio = b->baseline ? client_used / base_client : NAN;
    figure_emit(&f);
    struct figure g = {"memory", b->label, 1,   "held=1", "bytes_per_lock", one, NAN,
                       NAN,      NULL,     NAN, NAN};
    figure_emit(&g);
    g.variant = "held=5000";
    g.value = many;
    figure_emit(&g);
    return 0;
}
