/* SPDX-License-Identifier: MIT */
/*
 * What the ODBC tests need besides support.h: a raw ODBC connection of the
 * test's own (to attach, and to drive transactions with SQLEndTran) opened
 * from an "odbc:" URL, and a few statements run through it.
 */
#ifndef SQLLOCK_TEST_ODBC_SUPPORT_H
#define SQLLOCK_TEST_ODBC_SUPPORT_H

#include "sqllock/odbc.h"
#include "support.h"

struct t_odbc {
    SQLHENV env;
    SQLHDBC dbc;
    char backend[32]; /* backend= of the URL, "" when detected */
};

/* Connects to url ("odbc:[backend=...;]<connection string>") with
   application_name appname; 1 on success, 0 with the case failed. */
int t_odbc_open(struct t_odbc *o, const char *url, const char *appname);
void t_odbc_close(struct t_odbc *o);
/* Attaches a client to o->dbc with o's backend; NULL with the case failed. */
sqllock_client *t_odbc_attach(struct t_odbc *o);
/* Runs sql on o; 1 on success, 0 with the case failed. */
int t_odbc_exec(struct t_odbc *o, const char *sql);
/* Sets autocommit; ends the transaction with SQL_COMMIT or SQL_ROLLBACK. */
int t_odbc_autocommit(struct t_odbc *o, int on);
int t_odbc_end(struct t_odbc *o, SQLSMALLINT how);

#endif
