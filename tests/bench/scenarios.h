/* SPDX-License-Identifier: MIT */
/*
 * Internal to the benchmarks: the scenarios bench.c runs, one file each.
 * Each runs against one backend row, prints its figures through
 * figure_emit() and returns 0, or -1 when it could not run (never for
 * being slow).
 */
#ifndef BENCH_SCENARIOS_H
#define BENCH_SCENARIOS_H

#include <libpq-fe.h>

#include "bench_common.h"

/* The statements sqllock's pg-advisory backend sends for a try and a release
   (src/pg_sql.h), which the hand-written libpq baselines send too. */
#define BENCH_TRY_SQL "SELECT pg_catalog.pg_try_advisory_lock($1::pg_catalog.int8)"
#define BENCH_UNLOCK_SQL "SELECT pg_catalog.pg_advisory_unlock($1::pg_catalog.int8)"
#define BENCH_LOCK_SQL "SELECT pg_catalog.pg_advisory_lock($1::pg_catalog.int8)"

/* bench_pq.c: the hand-written libpq baseline. A connection with the three
   statements prepared as bench_try, bench_unlock and bench_lock (NULL on
   failure, reported); one statement on a decimal key (0 or -1, reported);
   one try+unlock pair. */
PGconn *bench_pq_open(const char *conninfo);
int bench_pq_exec(PGconn *conn, const char *stmt, const char *key, int want_true);
int bench_pq_pair(PGconn *conn, const char *key);

int sc_uncontended(const struct bench_cfg *cfg, const struct bench_backend *b);
int sc_contended(const struct bench_cfg *cfg, const struct bench_backend *b);
int sc_names(const struct bench_cfg *cfg, const struct bench_backend *b);
int sc_memory(const struct bench_cfg *cfg, const struct bench_backend *b);
int sc_cli(const struct bench_cfg *cfg, const struct bench_backend *b);

#endif /* BENCH_SCENARIOS_H */
