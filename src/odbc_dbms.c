/* SPDX-License-Identifier: MIT */
/*
 * The DBMSs sqllock knows over ODBC, one row each (struct odbc_dbms in
 * odbc_int.h). Everything that differs by DBMS is here or behind a
 * pointer here, so the transport reads diagnostics without knowing whose
 * they are and the connector chooses without naming a DBMS. Adding one is
 * a backend file and a row (README, "Adding an ODBC DBMS").
 */
#include <stdio.h>
#include <string.h>

#include "odbc_int.h"

static sqllock_status pg_map(struct odbc_diag *d)
{
    const char *st = d->sqlstate;
    if (strcmp(st, "57014") == 0) /* query_canceled: a cancel or statement_timeout */
        return SQLLOCK_CANCELED;
    if (strcmp(st, "40P01") == 0)
        return SQLLOCK_DEADLOCK;
    if (strcmp(st, "55P03") == 0) /* lock_not_available: lock_timeout */
        return SQLLOCK_TIMEOUT;
    if (strcmp(st, "25P02") == 0) /* in_failed_sql_transaction */
        return SQLLOCK_ESTATE;
    return SQLLOCK_ESERVER;
}

/* SQL Server says it in native error numbers; its SQLSTATEs are generic. */
static sqllock_status mssql_map(struct odbc_diag *d)
{
    if (d->native == 1205) /* chosen as deadlock victim */
        return SQLLOCK_DEADLOCK;
    if (d->native == 1222) /* lock request time out period exceeded */
        return SQLLOCK_TIMEOUT;
    return SQLLOCK_ESERVER;
}

/* SQLite reports a read-only database as HY000 with its result code 8
   (SQLITE_READONLY): given PostgreSQL's 25006, so that a program tests one
   code whatever the database. */
static sqllock_status sqlite_map(struct odbc_diag *d)
{
    if (d->native == 8)
        memcpy(d->sqlstate, "25006", sizeof(d->sqlstate));
    return SQLLOCK_ESERVER;
}

const struct odbc_dbms sqllock__odbc_dbms[] = {
    {"Microsoft SQL Server", "mssql-applock", &sqllock__mssql_applock, NULL, mssql_map, NULL},
    {"PostgreSQL", "pg-advisory", &sqllock__pg_advisory_odbc, &sqllock__lease_odbc_pg, pg_map,
     sqllock__pg_odbc_setup},
    {"SQLite", NULL, NULL, &sqllock__lease_odbc_sqlite, sqlite_map, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

const struct odbc_dbms *sqllock__odbc_dbms_named(const char *dbms)
{
    for (const struct odbc_dbms *r = sqllock__odbc_dbms; r->dbms; r++)
        if (strcmp(r->dbms, dbms) == 0)
            return r;
    return NULL;
}

const struct odbc_dbms *sqllock__odbc_dbms_by_backend(const char *name, size_t len)
{
    for (const struct odbc_dbms *r = sqllock__odbc_dbms; r->dbms; r++)
        if (r->backend && strlen(r->backend) == len && strncmp(r->backend, name, len) == 0)
            return r;
    return NULL;
}

void sqllock__odbc_dbms_list(char *buf, size_t n, int backends)
{
    const char *item[sizeof(sqllock__odbc_dbms) / sizeof(sqllock__odbc_dbms[0])];
    size_t k = 0;
    for (const struct odbc_dbms *r = sqllock__odbc_dbms; r->dbms; r++)
        if (!backends || r->backend)
            item[k++] = backends ? r->backend : r->dbms;
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < k && o < n; i++) {
        const char *sep = i == 0 ? "" : i + 1 < k ? ", " : backends ? " or " : " and ";
        int w = snprintf(buf + o, n - o, "%s%s", sep, item[i]);
        if (w < 0)
            break;
        o += (size_t)w;
    }
}
