/* SPDX-License-Identifier: MIT */
/*
 * What the tests need besides the library: the server's address from the
 * environment, clients with a known application_name (so that the admin
 * connection can find their backends), and an admin libpq connection that
 * inspects and disturbs the server (pg_locks, pg_terminate_backend).
 */
#ifndef SQLLOCK_TEST_SUPPORT_H
#define SQLLOCK_TEST_SUPPORT_H

#include <libpq-fe.h>
#include <stdint.h>

#include "harness.h"

/* The URL under test: $<SQLLOCK_SUITE_URL_VAR> if set, else $SQLLOCK_TEST_URL.
   NULL (and the case skipped) when there is none. */
const char *t_url(void);
/* Another variable of the environment, or NULL and the case skipped. */
const char *t_env(const char *name);

/* A unique tag, e.g. for names and application_names: "<prefix>-<pid>-<n>".
   It lives for the next 255 calls. */
const char *t_tag(const char *prefix);

/* A client on t_url() whose application_name is appname (for "odbc:" URLs
   through psqlODBC's pqopt). NULL on failure
   (the case is marked failed). */
sqllock_client *t_client(const char *appname);

/* The admin connection (superuser), or NULL with the case failed/skipped. */
PGconn *t_admin(void);
/* The admin connection with another application_name, for work of a test's
   own beside the client under test (which may not speak libpq). */
PGconn *t_admin_as(const char *appname);
/* A plain libpq connection to the URL under test, with application_name. */
PGconn *t_pq(const char *appname);

/* First column of the first row of sql run with up to two text params;
   -1 on error (the case is marked failed). */
long long t_sql_ll(PGconn *pc, const char *sql, const char *p1, const char *p2);
/* Runs sql; 1 on success, 0 and the case failed otherwise. */
int t_exec(PGconn *pc, const char *sql);

/* The backend pid of the session with this application_name, 0 if none. */
int t_pid(PGconn *admin, const char *appname);
/* How many advisory locks on key the backend pid holds (granted). */
int t_holds(PGconn *admin, int pid, int64_t key);
/* How many advisory locks the backend pid holds (granted "true") or
   waits for ("false"), on any key. */
long long t_advisory_count(PGconn *admin, int pid, const char *granted);
/* Waits (bounded by timeout_ms) until backend pid waits for a lock:
   1 when it does, 0 on timeout. Polls the server's own view. */
int t_wait_blocked(PGconn *admin, int pid, int timeout_ms);

long long t_now_ms(void);

/* 1 in the run of a suite through the non-blocking API
   (SQLLOCK_SUITE_NONBLOCKING=1). */
int t_nonblocking(void);
/* Drives the operation in flight on c with a poll() loop until it ends,
   from st, what its _start returned: the outcome the blocking call would
   have had, and an acquire's lock in *out (out may be NULL otherwise). */
sqllock_status t_drive(sqllock_lock **out, sqllock_client *c, sqllock_status st);

/* Whether a fresh client of t_url() takes name at once (a try, no lease):
   proof nobody else holds it. */
int t_free_for_others(const char *name);

/* Acquire options: a wait in a scope; a lease of ttl_ms with a wait. */
sqllock_acquire_opts t_opts(int64_t wait_ms, int scope);
sqllock_acquire_opts t_lease(int64_t ttl_ms, int64_t wait_ms);

#endif
