/* SPDX-License-Identifier: MIT */
/*
 * The suite's admin actions on a SQL Server, here the TDS emulator
 * (tests/mssql/tds_emulator.py) reached through FreeTDS, on a raw ODBC
 * connection of the test's own (odbc_support.h) that finds a client's session by its
 * program name (APP=), sees whether it waits (sys.dm_tran_locks), KILLs
 * it, and runs the test's own statements (a counter table).
 */
#ifndef SQLLOCK_TEST_TDS_ADMIN_H
#define SQLLOCK_TEST_TDS_ADMIN_H

#include "odbc_support.h"

/* Whether url ("odbc:...") goes through FreeTDS (t_odbc_open then names
   the session by APP=). */
int t_tds_url(const char *url);
/* First column of the first row of sql with up to one text parameter (?);
   -1 with the case failed on error or no row. */
long long t_tds_ll(struct t_odbc *t, const char *sql, const char *p1);
/* The session id of the client whose program name is appname, 0 if none. */
int t_tds_pid(struct t_odbc *t, const char *appname);
/* Waits (bounded) until session spid waits for a lock: 1, or 0 on timeout. */
int t_tds_wait_blocked(struct t_odbc *t, int spid, int timeout_ms);
/* KILL spid: 1 on success. */
int t_tds_kill(struct t_odbc *t, int spid);
/* Round trips (request messages) session spid has sent so far. */
long long t_tds_requests(struct t_odbc *t, int spid);

#endif
