/* SPDX-License-Identifier: MIT */
/*
 * What the shared suite's files share (test_locks.c defines it): the admin
 * side of a case, the suite's own acquire and release (with its ttl, and
 * through the non-blocking API when SQLLOCK_SUITE_NONBLOCKING=1), and the
 * helpers the cases of several files use.
 */
#ifndef SQLLOCK_TEST_SUITE_H
#define SQLLOCK_TEST_SUITE_H

#include "support.h"
#ifdef T_WITH_ODBC
#include "tds_admin.h"
#endif

/* The admin side of a case: a libpq connection, or a TDS one. */
typedef struct adm {
    PGconn *pg;
#ifdef T_WITH_ODBC
    struct t_odbc tds;
    int is_tds;
#endif
} adm;

int adm_is_tds(const adm *a);
void adm_close(adm *a);
/* appname NULL: the admin's own name. NULL with the case failed. */
adm *adm_open(const char *appname);

/* The ttl every acquire of the run takes (SQLLOCK_SUITE_TTL_MS): 0 for
   locks, > 0 for leases. */
int64_t suite_ttl(void);
#define LEASE (suite_ttl() > 0)
/* The suite's acquire (opts NULL: a try) and release of l by c. */
sqllock_status acq(sqllock_lock **out, sqllock_client *c, const char *name,
                   const sqllock_acquire_opts *opts);
sqllock_status rel(sqllock_client *c, sqllock_lock *l);
/* A client with no server behind it (SQLite). */
int serverless(sqllock_client *c);
/* Options for a wait of wait_ms. */
sqllock_acquire_opts wait_opts(int64_t wait_ms);
/* Whether a fresh client can take name at once: proof nobody else holds it. */
int free_for_others(const char *name);
/* Forks procs children running child(arg, id, fd, start_fd), starts them
   together, and reads up to max records of size bytes they write to fd
   into recs (*got of them): how many children did not exit 0. */
int run_children(int procs, int (*child)(const void *, int, int, int), const void *arg,
                 void *recs, size_t size, int max, int *got);

/* acquire_all.c: the cases of sqllock_acquire_all. */
#define SUITE_ACQUIRE_ALL_CASES 4
extern const struct tcase suite_acquire_all_cases[SUITE_ACQUIRE_ALL_CASES];

#endif
