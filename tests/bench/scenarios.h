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

/* sc_uncontended.c: pairs/s of n sqllock clients on url, each on a name
   of its own (ttl_ms > 0: leases), latencies of pairs added to lat; -1 when
   it could not run. */
double uncontended_pairs(const struct bench_cfg *cfg, const struct bench_backend *b,
                         const char *url, int64_t ttl_ms, int n, struct samples *lat);

/* bench_handoff.c: n processes take one name in turn for `seconds`. */
#define HANDOFF_WAIT_MS 30000
struct handoff_spec {
    const char *label; /* for messages */
    const char *url;
    const char *name;
    double seconds; /* 0: connect, warm up and leave (what a run costs besides) */
    int64_t ttl_ms; /* 0: advisory lock; > 0: lease */
};
/* One acquisition (or a wait that timed out) as a worker saw it. */
struct handoff_event {
    int64_t called, acquired, release_called, released;
    int32_t worker, timed_out;
};
struct handoff_run {
    struct handoff_event *ev; /* in acquisition order */
    size_t n, acquisitions, handoffs, timeouts;
    int64_t first_ns, last_ns, longest_wait_ns; /* wait: acquire called -> returned */
};
int handoff_run(const struct handoff_spec *spec, int n, struct handoff_run *out);
/* Sorts events in acquisition order, as handoff_run leaves them. */
void handoff_sort(struct handoff_event *ev, size_t n);
/* Adds every handoff (consecutive acquisitions by different processes) in
   ns: from the release returned and from the release called (NULL: not
   wanted). 0 or -1 out of memory. */
int handoff_samples(const struct handoff_run *r, struct samples *from_returned,
                    struct samples *from_called);
double handoff_rate(const struct handoff_run *r); /* acquisitions/s, or -1 */
void handoff_free(struct handoff_run *r);

/* bench_pgstat.c: what the server saw, read on a connection of its own
   (to the "postgres" database of the same server, so as not to count
   itself) about db, the database of the conninfo given. */
struct pgstat {
    PGconn *conn;
    char db[128];
};
int pgstat_open(struct pgstat *s, const char *conninfo); /* 0 or -1, reported */
void pgstat_close(struct pgstat *s);
/* xact_commit + xact_rollback of db once the counters stopped moving
   (polled every 100 ms, at most 3 s); -1 on error. */
int64_t pgstat_xacts(struct pgstat *s);
/* The server's clock now, as timestamptz text. */
int pgstat_now(struct pgstat *s, char *buf, size_t n);
/* The sessions of sqllock clients pids[0..n) (by their application_name):
   when each last started a statement, and whether it waits: queued on a
   lock, or idle after a statement started after `since` (server time). */
struct pgstat_backend {
    int seen, waiting;
    pid_t backend;
    char query_start[48];
};
int pgstat_backends(struct pgstat *s, const pid_t *pids, int n, const char *since,
                    struct pgstat_backend *out);

/* sc_lease*.c: a lease row runs its sides in turns: the advisory lock
   (side 0, the baseline), then the lease with synchronous_commit off and
   on (over ODBC one lease side, with the server's setting). */
#define LEASE_TTL_MS 30000
#define LEASE_MAX_SIDES 3
struct lease_sides {
    int n;
    const char *tag[LEASE_MAX_SIDES];
    char url[LEASE_MAX_SIDES][1024];
    int64_t ttl_ms[LEASE_MAX_SIDES];
};
/* A figure of each lease side beside the advisory one: value[s] (p50[s],
   p99[s] in us, or NULL), ratio[s] (NULL: value[s] / value[0]). */
void lease_emit(const struct bench_backend *b, const struct lease_sides *sd, int clients,
                const char *metric, const double *value, const double *p50, const double *p99,
                const double *ratio);
int lease_handoff(const struct bench_cfg *cfg, const struct bench_backend *b,
                  const struct lease_sides *sd, int odbc);
int lease_wake(const struct bench_cfg *cfg, const struct bench_backend *b,
               const struct lease_sides *sd);

int sc_uncontended(const struct bench_cfg *cfg, const struct bench_backend *b);
int sc_contended(const struct bench_cfg *cfg, const struct bench_backend *b);
int sc_names(const struct bench_cfg *cfg, const struct bench_backend *b);
int sc_memory(const struct bench_cfg *cfg, const struct bench_backend *b);
int sc_cli(const struct bench_cfg *cfg, const struct bench_backend *b);
int sc_lease(const struct bench_cfg *cfg, const struct bench_backend *b);
int sc_eventloop(const struct bench_cfg *cfg, const struct bench_backend *b);
int sc_acquire_all(const struct bench_cfg *cfg, const struct bench_backend *b);

#endif /* BENCH_SCENARIOS_H */
