/* SPDX-License-Identifier: MIT */
/*
 * The reconnect cases every transport runs alike (pg-connect over libpq,
 * odbc-reconnect over psqlODBC): a client of its own, the server
 * restarted or down for a while, then the same client takes the lock.
 */
#ifndef SQLLOCK_TEST_RECONNECT_H
#define SQLLOCK_TEST_RECONNECT_H

#include "sqllock.h"

/* c holds a lock on name through SQLLOCK_TEST_RESTART_CMD (an immediate
   restart): the check says LOST, the next acquire reconnects and takes
   the name again; prints the time, its line starting with label. */
void t_reconnect_after_restart_of(sqllock_client *c, const char *name, const char *label);
/* The server stopped for 3 s (SQLLOCK_TEST_STOP_CMD, _START_CMD): the
   acquire meanwhile is ECONNECT at once, its message without secret (when
   not NULL), and the first acquire after the start reconnects. */
void t_reconnect_after_down_of(sqllock_client *c, const char *name, const char *label,
                               const char *secret);

#endif
