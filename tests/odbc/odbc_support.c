/* SPDX-License-Identifier: MIT */
/* See odbc_support.h. */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "odbc_support.h"

static void fail_diag(const char *what, SQLSMALLINT type, SQLHANDLE h)
{
    SQLCHAR state[6] = "", msg[512] = "";
    SQLINTEGER native = 0;
    SQLSMALLINT len = 0;
    (void)SQLGetDiagRec(type, h, 1, state, &native, msg, sizeof(msg), &len);
    t_fail(__FILE__, __LINE__, "%s: [%s] %s", what, (char *)state, (char *)msg);
}

int t_odbc_open(struct t_odbc *o, const char *url, const char *appname)
{
    memset(o, 0, sizeof(*o));
    if (strncmp(url, "odbc:", 5) != 0) {
        t_fail(__FILE__, __LINE__, "not an odbc: URL");
        return 0;
    }
    const char *cs = url + 5;
    if (strncasecmp(cs, "backend=", 8) == 0) {
        size_t n = strcspn(cs + 8, ";");
        snprintf(o->backend, sizeof(o->backend), "%.*s", (int)n, cs + 8);
        cs += 8 + n + (cs[8 + n] == ';');
    }
    char full[1024];
    /* The session's name: libpq's through psqlODBC, LOGIN7's through FreeTDS. */
    snprintf(full, sizeof(full),
             strcasestr(cs, "Driver=FreeTDS") ? "%s;APP=%s" : "%s;pqopt={application_name=%s}",
             cs, appname);
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &o->env)) ||
        !SQL_SUCCEEDED(
            SQLSetEnvAttr(o->env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0)) ||
        !SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, o->env, &o->dbc))) {
        t_fail(__FILE__, __LINE__, "ODBC handles");
        return 0;
    }
    SQLRETURN r = SQLDriverConnect(o->dbc, NULL, (SQLCHAR *)full, SQL_NTS, NULL, 0, NULL,
                                   SQL_DRIVER_NOPROMPT);
    if (!SQL_SUCCEEDED(r)) {
        fail_diag("SQLDriverConnect", SQL_HANDLE_DBC, o->dbc);
        SQLFreeHandle(SQL_HANDLE_DBC, o->dbc);
        SQLFreeHandle(SQL_HANDLE_ENV, o->env);
        o->dbc = o->env = NULL;
        return 0;
    }
    return 1;
}

void t_odbc_close(struct t_odbc *o)
{
    if (o->dbc) {
        SQLDisconnect(o->dbc);
        SQLFreeHandle(SQL_HANDLE_DBC, o->dbc);
    }
    if (o->env)
        SQLFreeHandle(SQL_HANDLE_ENV, o->env);
    o->dbc = o->env = NULL;
}

sqllock_client *t_odbc_attach(struct t_odbc *o)
{
    sqllock_client *c = NULL;
    sqllock_status st = sqllock_attach_odbc_as(&c, o->dbc, o->backend[0] ? o->backend : NULL);
    if (st != SQLLOCK_OK) {
        t_fail(__FILE__, __LINE__, "attach: %s", sqllock_errmsg(c));
        sqllock_client_free(c);
        return NULL;
    }
    return c;
}

int t_odbc_exec(struct t_odbc *o, const char *sql)
{
    SQLHSTMT st;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, o->dbc, &st))) {
        fail_diag("SQLAllocHandle", SQL_HANDLE_DBC, o->dbc);
        return 0;
    }
    SQLRETURN r = SQLExecDirect(st, (SQLCHAR *)sql, SQL_NTS);
    int ok = SQL_SUCCEEDED(r) || r == SQL_NO_DATA;
    if (!ok)
        fail_diag(sql, SQL_HANDLE_STMT, st);
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    return ok;
}

int t_odbc_autocommit(struct t_odbc *o, int on)
{
    SQLRETURN r =
        SQLSetConnectAttr(o->dbc, SQL_ATTR_AUTOCOMMIT,
                          (SQLPOINTER)(SQLULEN)(on ? SQL_AUTOCOMMIT_ON : SQL_AUTOCOMMIT_OFF), 0);
    if (!SQL_SUCCEEDED(r))
        fail_diag("autocommit", SQL_HANDLE_DBC, o->dbc);
    return SQL_SUCCEEDED(r);
}

int t_odbc_end(struct t_odbc *o, SQLSMALLINT how)
{
    SQLRETURN r = SQLEndTran(SQL_HANDLE_DBC, o->dbc, how);
    if (!SQL_SUCCEEDED(r))
        fail_diag("SQLEndTran", SQL_HANDLE_DBC, o->dbc);
    return SQL_SUCCEEDED(r);
}
