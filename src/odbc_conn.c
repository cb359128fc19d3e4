/* SPDX-License-Identifier: MIT */
/*
 * ODBC connections: opening one of our own from an "odbc:" URL (a bounded
 * login timeout, connection pooling off, an application name), attaching
 * one the application holds, and choosing the backend from the DBMS the
 * driver reports, unless the URL's "backend=" attribute forces one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "odbc_int.h"
#include "pg_sql.h"
#include "sqllock/odbc.h"

#define LOGIN_TIMEOUT_S 10

struct parsed {
    struct odbc_state *s;
    const char *backend; /* the value of backend=, not NUL-terminated */
    size_t backend_len;
    size_t cut_start, cut_end; /* where backend=... sits in the string */
    int has_app;
    int has_keepalive;
    int nomem;
};

/* A PWD value as written and, when braced, its content both as written
   and as the driver reads it (}} stands for }). */
static int add_password(struct odbc_state *s, const char *v, size_t len)
{
    if (sqllock__secrets_add(&s->secrets, v, len) != 0)
        return -1;
    if (len < 2 || v[0] != '{')
        return 0;
    if (sqllock__secrets_add(&s->secrets, v + 1, len - 2) != 0)
        return -1;
    char *plain = malloc(len);
    if (!plain) {
        s->secrets.incomplete = 1;
        return -1;
    }
    size_t n = 0;
    for (size_t i = 1; i + 1 < len; i++) {
        plain[n++] = v[i];
        if (v[i] == '}' && v[i + 1] == '}')
            i++;
    }
    int r = n < len - 2 ? sqllock__secrets_add(&s->secrets, plain, n) : 0;
    free(plain);
    return r;
}

static int parse_attr(void *arg, const char *key, size_t klen, const char *val, size_t vlen,
                      size_t start, size_t end)
{
    struct parsed *p = arg;
    if (klen == 3 && strncasecmp(key, "PWD", 3) == 0) {
        if (add_password(p->s, val, vlen))
            p->nomem = 1;
    } else if (klen == 7 && strncasecmp(key, "backend", 7) == 0) {
        p->backend = val;
        p->backend_len = vlen;
        p->cut_start = start;
        p->cut_end = end;
    } else if (klen == 3 && strncasecmp(key, "APP", 3) == 0) {
        p->has_app = 1;
    } else if (klen >= 9 && strncasecmp(key, "Keepalive", 9) == 0) {
        p->has_keepalive = 1;
    }
    return 0;
}

static const struct sqllock_backend *backend_named(const char *name, size_t len)
{
    if (len == 13 && strncmp(name, "mssql-applock", len) == 0)
        return &sqllock__mssql_applock;
    if (len == 11 && strncmp(name, "pg-advisory", len) == 0)
        return &sqllock__pg_advisory_odbc;
    return NULL;
}

/* The backend for the DBMS the driver reports, or NULL with c's error set. */
static const struct sqllock_backend *detect(sqllock_client *c, struct odbc_state *s,
                                            const char *what)
{
    SQLSMALLINT len = 0;
    SQLRETURN r = SQLGetInfo(s->dbc, SQL_DBMS_NAME, s->dbms, sizeof(s->dbms), &len);
    if (!SQL_SUCCEEDED(r)) {
        sqllock__odbc_fail(c, s, SQL_HANDLE_DBC, s->dbc, what, 0);
        if (c->last_status == SQLLOCK_ESERVER)
            sqllock__fail(c, SQLLOCK_ECONNECT,
                          "%s: the driver cannot say which DBMS it is "
                          "connected to (is the connection open?): %s",
                          what, c->errmsg);
        return NULL;
    }
    if (strcmp(s->dbms, "Microsoft SQL Server") == 0)
        return &sqllock__mssql_applock;
    if (strcmp(s->dbms, "PostgreSQL") == 0)
        return &sqllock__pg_advisory_odbc;
    if (strcmp(s->dbms, "SQLite") == 0)
        return &sqllock__lease_odbc; /* no session locks: leases only */
    sqllock__fail(c, SQLLOCK_ENOTSUP,
                  "%s: the ODBC driver reports the DBMS \"%s\"; sqllock "
                  "supports Microsoft SQL Server, PostgreSQL and SQLite (force a backend "
                  "with backend=mssql-applock or backend=pg-advisory)",
                  what, s->dbms);
    return NULL;
}

static void conn_close(void *s)
{
    sqllock__odbc_state_free(s);
}

static void conn_abandon(void *s)
{
    sqllock__odbc_state_abandon(s);
}

static const struct sqllock_conn_ops odbc_conn_ops = {conn_close, conn_abandon};

/* Installs be (and leases) on c over s; on failure c is left without, and
   s is the caller's to free. */
static sqllock_status install(sqllock_client *c, struct odbc_state *s,
                              const struct sqllock_backend *be)
{
    c->conn = s;
    c->conn_ops = &odbc_conn_ops;
    c->be = be;
    c->be_state = s;
    c->owns_connection = s->owned;
    sqllock_status st = SQLLOCK_OK;
    if (be == &sqllock__pg_advisory_odbc)
        st = sqllock__pg_odbc_refuse_standby(c, s->owned ? "connect" : "attach");
    if (st == SQLLOCK_OK && be == &sqllock__pg_advisory_odbc && !s->owned)
        st = sqllock__pg_odbc_snapshot_held(c, s);
    /* Leases beside the server's locks, where the DBMS has a dialect for
       them; never beside the applock emulation, whose DBMS is PostgreSQL. */
    if (st == SQLLOCK_OK && be != &sqllock__mssql_applock)
        st = sqllock__lease_odbc_install(c, s);
    if (st != SQLLOCK_OK) {
        sqllock__held_free(&c->held);
        c->conn = NULL;
        c->be = NULL;
        c->be_state = NULL;
    }
    return st;
}

/* Our own connection gets application_name "sqllock[<pid>]@<host>" when
   the string set none: APP= for SQL Server, which psqlODBC ignores, and a
   session setting for PostgreSQL, whose driver has no such keyword; there
   also the settings of PG_SQL_OWN_SETTINGS, unless pqopt= or ConnSettings
   chose them. */
static void appname(char *buf, size_t n)
{
    char host[32] = "";
    gethostname(host, sizeof(host) - 1);
    snprintf(buf, n, "sqllock[%ld]@%s", (long)getpid(), host);
}

static sqllock_status pg_session_setup(sqllock_client *c, struct odbc_state *s)
{
    SQLHSTMT st = SQL_NULL_HSTMT;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, s->dbc, &st)))
        return sqllock__odbc_fail(c, s, SQL_HANDLE_DBC, s->dbc,
                                  "connect: setting up the session", 0);
    char name[64];
    SQLLEN len;
    appname(name, sizeof(name));
    SQLRETURN r = sqllock__odbc_bind_text(st, 1, name, &len);
    if (SQL_SUCCEEDED(r))
        r = SQLExecDirect(
            st,
            (SQLCHAR
                 *)"SELECT pg_catalog.count(pg_catalog.set_config(d.name, d.setting, false))"
                   " FROM (VALUES ('application_name', ?), " PG_SQL_OWN_SETTINGS ")"
                   "  AS d(name, setting) JOIN pg_catalog.pg_settings AS s ON s.name = d.name"
                   " WHERE CASE d.name WHEN 'application_name' THEN s.setting = ''"
                   "  ELSE " PG_SQL_NOT_CALLERS("s") " END",
            SQL_NTS);
    sqllock_status result = SQL_SUCCEEDED(r)
                                ? SQLLOCK_OK
                                : sqllock__odbc_fail(c, s, SQL_HANDLE_STMT, st,
                                                     "connect: setting up the session", 0);
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    return result;
}

sqllock_status sqllock__odbc_open(sqllock_client *c, const char *connstr)
{
    struct odbc_state *s = calloc(1, sizeof(*s));
    if (!s)
        return sqllock__fail(c, SQLLOCK_ENOMEM, "connect: out of memory");
    s->owned = 1;
    struct parsed p = {.s = s};
    if (sqllock__odbc_connstr_each(connstr, parse_attr, &p) != 0 || p.nomem) {
        sqllock__odbc_state_free(s);
        if (p.nomem)
            return sqllock__fail(c, SQLLOCK_ENOMEM, "connect: out of memory");
        return sqllock__fail(c, SQLLOCK_EINVAL,
                             "connect: malformed ODBC connection string "
                             "(expected key=value;... with {braced} values; not shown, as it "
                             "may hold a password)");
    }
    const struct sqllock_backend *forced = NULL;
    if (p.backend) {
        forced = backend_named(p.backend, p.backend_len);
        if (!forced) {
            /* Shown only when it looks like a name: a value with no ';' after
               it runs to the end of the string, password attributes included. */
            char shown[48] = "";
            if (p.backend_len < 32 &&
                strspn(p.backend, "abcdefghijklmnopqrstuvwxyz0123456789-_") >= p.backend_len)
                snprintf(shown, sizeof(shown), " \"%.*s\"", (int)p.backend_len, p.backend);
            sqllock__odbc_state_free(s);
            return sqllock__fail(c, SQLLOCK_EINVAL,
                                 "connect: unknown backend%s (use "
                                 "mssql-applock or pg-advisory, or leave backend= out to "
                                 "choose by the DBMS)",
                                 shown);
        }
    }

    /* The string the driver sees: ours without backend=, plus defaults the
       string does not set: APP= (SQL Server's application name) and TCP
       keepalives (idle 10 s, interval 5 s) in both psqlODBC's and SQL
       Server's keywords. ODBC drivers ignore keywords they do not know
       (at most a 01S00 warning). */
    char app[64];
    appname(app, sizeof(app));
    static const char keepalive[] =
        "KeepaliveTime=10;KeepaliveInterval=5;KeepAlive=10;KeepAliveInterval=5";
    size_t len = strlen(connstr);
    size_t cap = len + sizeof(app) + sizeof(keepalive) + 16;
    char *drv = malloc(cap);
    if (!drv) {
        sqllock__odbc_state_free(s);
        return sqllock__fail(c, SQLLOCK_ENOMEM, "connect: out of memory");
    }
    if (p.backend) {
        memcpy(drv, connstr, p.cut_start);
        strcpy(drv + p.cut_start, connstr + p.cut_end + (connstr[p.cut_end] == ';'));
    } else {
        strcpy(drv, connstr);
    }
    if (!p.has_app) {
        size_t n = strlen(drv);
        snprintf(drv + n, cap - n, "%sAPP=%s", n && drv[n - 1] != ';' ? ";" : "", app);
    }
    if (!p.has_keepalive) {
        size_t n = strlen(drv);
        snprintf(drv + n, cap - n, "%s%s", n && drv[n - 1] != ';' ? ";" : "", keepalive);
    }

    SQLRETURN r = SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &s->env);
    if (SQL_SUCCEEDED(r))
        r = SQLSetEnvAttr(s->env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0);
    /* Never pooled: a pooled connection is reset, not closed, and a reset
       session would keep (or a reused one inherit) our session locks. Set
       on our environment only; the process-wide setting is the app's. */
    if (SQL_SUCCEEDED(r))
        r = SQLSetEnvAttr(s->env, SQL_ATTR_CONNECTION_POOLING, (SQLPOINTER)SQL_CP_OFF, 0);
    if (SQL_SUCCEEDED(r))
        r = SQLAllocHandle(SQL_HANDLE_DBC, s->env, &s->dbc);
    if (!SQL_SUCCEEDED(r)) {
        free(drv);
        sqllock__odbc_state_free(s);
        return sqllock__fail(c, SQLLOCK_ENOMEM,
                             "connect: the ODBC driver manager could not "
                             "allocate a connection");
    }
    (void)SQLSetConnectAttr(s->dbc, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER)(SQLULEN)LOGIN_TIMEOUT_S,
                            0);
    r = SQLDriverConnect(s->dbc, NULL, (SQLCHAR *)drv, SQL_NTS, NULL, 0, NULL,
                         SQL_DRIVER_NOPROMPT);
    free(drv);
    if (!SQL_SUCCEEDED(r)) {
        struct odbc_diag d;
        sqllock__odbc_diag_read(s, SQL_HANDLE_DBC, s->dbc, &d);
        sqllock__set_errcode(c, d.sqlstate);
        SQLFreeHandle(SQL_HANDLE_DBC, s->dbc);
        s->dbc = SQL_NULL_HDBC;
        sqllock__odbc_state_free(s);
        return sqllock__fail(c, SQLLOCK_ECONNECT, "connect: %s",
                             d.msg[0] ? d.msg : "the driver gave no reason");
    }
    const struct sqllock_backend *be = detect(c, s, "connect");
    if (forced && (be || c->last_status == SQLLOCK_ENOTSUP)) {
        be = forced; /* detection only named the DBMS; the caller chose */
        c->errmsg[0] = '\0';
        sqllock__set_errcode(c, NULL);
    }
    sqllock_status st = be ? SQLLOCK_OK : c->last_status;
    if (st == SQLLOCK_OK && be == &sqllock__pg_advisory_odbc &&
        strcmp(s->dbms, "PostgreSQL") == 0)
        st = pg_session_setup(c, s);
    if (st == SQLLOCK_OK)
        st = install(c, s, be);
    if (st != SQLLOCK_OK)
        sqllock__odbc_state_free(s);
    return st;
}

sqllock_status sqllock_attach_odbc_as(sqllock_client **out, SQLHDBC dbc, const char *backend)
{
    if (!out)
        return SQLLOCK_EINVAL;
    sqllock_client *c = *out = sqllock__client_new();
    if (!c)
        return SQLLOCK_ENOMEM;
    if (!dbc)
        return sqllock__fail(c, SQLLOCK_EINVAL, "attach: the connection is NULL");
    const struct sqllock_backend *forced = NULL;
    if (backend && !(forced = backend_named(backend, strlen(backend))))
        return sqllock__fail(c, SQLLOCK_EINVAL,
                             "attach: unknown backend (use mssql-applock "
                             "or pg-advisory, or NULL to choose by the DBMS)");
    struct odbc_state *s = calloc(1, sizeof(*s));
    if (!s)
        return sqllock__fail(c, SQLLOCK_ENOMEM, "attach: out of memory");
    s->dbc = dbc;
    const struct sqllock_backend *be = detect(c, s, "attach");
    if (forced && (be || c->last_status == SQLLOCK_ENOTSUP)) {
        be = forced;
        c->errmsg[0] = '\0';
    }
    sqllock_status st = be ? install(c, s, be) : c->last_status;
    if (st != SQLLOCK_OK) {
        sqllock__odbc_state_free(s);
        return st;
    }
    return sqllock__done(c, SQLLOCK_OK);
}

sqllock_status sqllock_attach_odbc(sqllock_client **out, SQLHDBC dbc)
{
    return sqllock_attach_odbc_as(out, dbc, NULL);
}
