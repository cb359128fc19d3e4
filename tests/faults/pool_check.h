/* SPDX-License-Identifier: MIT */
/* What pool_client.c and pool_odbc.c both report with: a failure is said
   on stderr, prefixed with the program's name, and remembered for exit. */
#ifndef SQLLOCK_POOL_CHECK_H
#define SQLLOCK_POOL_CHECK_H

#include "sqllock.h"

/* 1 once fail() or a mismatched expect() has been seen: the exit status. */
extern int failed;

void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Whether st is want; otherwise says so, with the library's reason. */
int expect(const char *what, sqllock_status st, sqllock_status want, const sqllock_client *c);

#endif
