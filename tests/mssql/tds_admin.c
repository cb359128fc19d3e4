/* SPDX-License-Identifier: MIT */
/* See tds_admin.h. */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tds_admin.h"

int t_tds_url(const char *url)
{
    return url && strncmp(url, "odbc:", 5) == 0 && strcasestr(url, "Driver=FreeTDS") != NULL;
}

static void fail_diag(const char *what, SQLHSTMT st)
{
    SQLCHAR state[6] = "", msg[512] = "";
    SQLINTEGER native = 0;
    SQLSMALLINT len = 0;
    (void)SQLGetDiagRec(SQL_HANDLE_STMT, st, 1, state, &native, msg, sizeof(msg), &len);
    t_fail(__FILE__, __LINE__, "%s: [%s] (native %ld) %s", what, (char *)state, (long)native,
           (char *)msg);
}

long long t_tds_ll(struct t_odbc *t, const char *sql, const char *p1)
{
    SQLHSTMT st;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, t->dbc, &st))) {
        t_fail(__FILE__, __LINE__, "SQLAllocHandle");
        return -1;
    }
    SQLLEN ind = p1 ? SQL_NTS : SQL_NULL_DATA;
    SQLRETURN r = SQL_SUCCESS;
    if (p1)
        r = SQLBindParameter(st, 1, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 255, 0,
                             (SQLPOINTER)p1, 0, &ind);
    if (SQL_SUCCEEDED(r))
        r = SQLExecDirect(st, (SQLCHAR *)sql, SQL_NTS);
    if (SQL_SUCCEEDED(r))
        r = SQLFetch(st);
    SQLBIGINT v = -1;
    SQLLEN vind = 0;
    if (SQL_SUCCEEDED(r))
        r = SQLGetData(st, 1, SQL_C_SBIGINT, &v, 0, &vind);
    if (!SQL_SUCCEEDED(r)) {
        fail_diag(sql, st);
        v = -1;
    } else if (vind == SQL_NULL_DATA) {
        v = 0;
    }
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    return (long long)v;
}

int t_tds_pid(struct t_odbc *t, const char *appname)
{
    SQLHSTMT st;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, t->dbc, &st)))
        return 0;
    SQLLEN ind = SQL_NTS;
    SQLINTEGER id = 0;
    SQLLEN idind = 0;
    SQLRETURN r = SQLBindParameter(st, 1, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 255, 0,
                                   (SQLPOINTER)appname, 0, &ind);
    if (SQL_SUCCEEDED(r))
        r = SQLExecDirect(st,
                          (SQLCHAR *)"SELECT session_id FROM sys.dm_exec_sessions "
                                     "WHERE program_name = ?",
                          SQL_NTS);
    if (SQL_SUCCEEDED(r) && SQL_SUCCEEDED(SQLFetch(st)))
        (void)SQLGetData(st, 1, SQL_C_SLONG, &id, 0, &idind);
    else if (!SQL_SUCCEEDED(r))
        fail_diag("sys.dm_exec_sessions", st);
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    return (int)id;
}

int t_tds_wait_blocked(struct t_odbc *t, int spid, int timeout_ms)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", spid);
    long long end = t_now_ms() + timeout_ms;
    do {
        if (t_tds_ll(t,
                     "SELECT count(*) FROM sys.dm_tran_locks WHERE request_session_id = ? "
                     "AND request_status = 'WAIT'",
                     p) > 0)
            return 1;
        usleep(2000);
    } while (t_now_ms() < end);
    return 0;
}

int t_tds_kill(struct t_odbc *t, int spid)
{
    char sql[32];
    snprintf(sql, sizeof(sql), "KILL %d", spid);
    return spid > 0 && t_odbc_exec(t, sql);
}

long long t_tds_requests(struct t_odbc *t, int spid)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", spid);
    return t_tds_ll(t, "SELECT requests FROM sqllock_emulator.sessions WHERE session_id = ?", p);
}
