/* SPDX-License-Identifier: MIT */
/*
 * ODBC connections: opening one of our own from an "odbc:" URL (a bounded
 * login timeout, connection pooling off, an application name), attaching
 * one the application holds, and choosing the row of odbc_dbms.c from the
 * DBMS the driver reports, unless the URL's "backend=" attribute forces one;
 * and opening one of our own again, the same way, after it broke.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "odbc_int.h"
#include "sqllock/odbc.h"

#define LOGIN_TIMEOUT_S 10

struct parsed {
    struct odbc_state *s;
    const char *backend; /* the value of backend=, not NUL-terminated */
    size_t backend_len;
    size_t cut_start, cut_end; /* where backend=... sits in the string */
    int has_app;
    int has_keepalive, has_pqopt;
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
    } else if (klen == 5 && strncasecmp(key, "pqopt", 5) == 0) {
        p->has_pqopt = 1;
    }
    return 0;
}

/*
 * The row that runs on s: the caller's (backend=) when forced, else the
 * row of the DBMS the driver reports; NULL with c's error set. *own is
 * the row of the reported DBMS, NULL when sqllock has none.
 */
static const struct odbc_dbms *choose(sqllock_client *c, struct odbc_state *s,
                                      const struct odbc_dbms *forced, const char *what,
                                      const struct odbc_dbms **own)
{
    *own = NULL;
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
    *own = sqllock__odbc_dbms_named(s->dbms);
    if (forced || *own)
        return forced ? forced : *own;
    char known[128], backends[96];
    sqllock__odbc_dbms_list(known, sizeof(known), 0);
    sqllock__odbc_dbms_list(backends, sizeof(backends), 1);
    sqllock__fail(c, SQLLOCK_ENOTSUP,
                  "%s: the ODBC driver reports the DBMS \"%s\"; sqllock "
                  "supports %s (or force a backend with backend=: %s)",
                  what, s->dbms, known, backends);
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

/* No round trip: a call that failed with class 08 set broken, or the
   driver knows its session is gone. */
static int conn_broken(const void *conn)
{
    const struct odbc_state *s = conn;
    return s->broken || sqllock__odbc_dead(s);
}

static sqllock_status conn_reconnect(sqllock_client *c, void *conn);

/* ODBC connections are not watched (no socket to poll), and reopen only
   blocking: the non-blocking calls are ENOTSUP over ODBC. */
static const struct sqllock_conn_ops odbc_conn_ops = {
    .close = conn_close,
    .abandon = conn_abandon,
    .reconnect = conn_reconnect,
    .broken = conn_broken,
};

/* Installs row's backend (and leases, when row is the DBMS's own) on c
   over s; on failure c is left without, and s is the caller's to free. An
   unknown DBMS under a forced backend reads errors as the backend's. */
static sqllock_status install(sqllock_client *c, struct odbc_state *s,
                              const struct odbc_dbms *row, const struct odbc_dbms *own)
{
    s->map = (own ? own : row)->map;
    s->row = row;
    s->own = own;
    c->conn = s;
    c->conn_ops = &odbc_conn_ops;
    c->be = row->locks ? row->locks : &sqllock__lease_odbc;
    c->be_state = s;
    c->owns_connection = s->owned;
    sqllock_status st = row->setup ? row->setup(c, s) : SQLLOCK_OK;
    if (st == SQLLOCK_OK && row == own && row->lease)
        st = sqllock__lease_odbc_install(c, s, row->lease);
    if (st != SQLLOCK_OK) {
        sqllock__held_free(&c->held);
        c->conn = NULL;
        c->be = NULL;
        c->be_state = NULL;
    }
    return st;
}

/*
 * A connection of our own environment (ODBC 3, pooling off), connected
 * with drv (the caller's string with our defaults) within the login
 * timeout; on failure nothing is left allocated and c's error says why,
 * masked with s's secrets.
 */
static sqllock_status driver_connect(sqllock_client *c, struct odbc_state *s, const char *drv,
                                     SQLHENV *envp, SQLHDBC *dbcp, const char *what)
{
    SQLHENV env = SQL_NULL_HENV;
    SQLHDBC dbc = SQL_NULL_HDBC;
    SQLRETURN r = SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &env);
    if (SQL_SUCCEEDED(r))
        r = SQLSetEnvAttr(env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0);
    /* Never pooled: a pooled connection is reset, not closed, and a reset
       session would keep (or a reused one inherit) our session locks. Set
       on our environment only; the process-wide setting is the app's. */
    if (SQL_SUCCEEDED(r))
        r = SQLSetEnvAttr(env, SQL_ATTR_CONNECTION_POOLING, (SQLPOINTER)SQL_CP_OFF, 0);
    if (SQL_SUCCEEDED(r))
        r = SQLAllocHandle(SQL_HANDLE_DBC, env, &dbc);
    if (!SQL_SUCCEEDED(r)) {
        if (env)
            (void)SQLFreeHandle(SQL_HANDLE_ENV, env);
        return sqllock__fail(c, SQLLOCK_ENOMEM,
                             "%s: the ODBC driver manager could not "
                             "allocate a connection",
                             what);
    }
    (void)SQLSetConnectAttr(dbc, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER)(SQLULEN)LOGIN_TIMEOUT_S,
                            0);
    r = SQLDriverConnect(dbc, NULL, (SQLCHAR *)drv, SQL_NTS, NULL, 0, NULL, SQL_DRIVER_NOPROMPT);
    if (!SQL_SUCCEEDED(r)) {
        struct odbc_diag d;
        sqllock__odbc_diag_read(s, SQL_HANDLE_DBC, dbc, &d);
        sqllock__set_errcode(c, d.sqlstate);
        (void)SQLFreeHandle(SQL_HANDLE_DBC, dbc);
        (void)SQLFreeHandle(SQL_HANDLE_ENV, env);
        return sqllock__fail(c, SQLLOCK_ECONNECT, "%s: %s", what,
                             d.msg[0] ? d.msg : "the driver gave no reason");
    }
    *envp = env;
    *dbcp = dbc;
    return SQLLOCK_OK;
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
    const struct odbc_dbms *forced = NULL;
    if (p.backend) {
        forced = sqllock__odbc_dbms_by_backend(p.backend, p.backend_len);
        if (!forced) {
            /* Shown only when it looks like a name: a value with no ';' after
               it runs to the end of the string, password attributes included. */
            char shown[48] = "";
            if (p.backend_len < 32 &&
                strspn(p.backend, "abcdefghijklmnopqrstuvwxyz0123456789-_") >= p.backend_len)
                snprintf(shown, sizeof(shown), " \"%.*s\"", (int)p.backend_len, p.backend);
            char backends[96];
            sqllock__odbc_dbms_list(backends, sizeof(backends), 1);
            sqllock__odbc_state_free(s);
            return sqllock__fail(c, SQLLOCK_EINVAL,
                                 "connect: unknown backend%s (use %s, or leave backend= out "
                                 "to choose by the DBMS)",
                                 shown, backends);
        }
    }

    /* The string the driver sees: ours without backend=, plus defaults the
       string does not set: APP= (SQL Server's application name), TCP
       keepalives (idle 10 s, interval 5 s) in both psqlODBC's and SQL
       Server's keywords, and psqlODBC's libpq options (pqopt=) with the
       20 s tcp_user_timeout our libpq connections have: keepalives are
       not sent while a statement waits for its reply, so without it a
       silent partition holds that statement until TCP gives up, many
       minutes later. ODBC drivers ignore keywords they do not know (at
       most a 01S00 warning). */
    char app[64];
    sqllock__appname(app, sizeof(app));
    static const char keepalive[] =
        "KeepaliveTime=10;KeepaliveInterval=5;KeepAlive=10;KeepAliveInterval=5";
    static const char pqopt[] = "pqopt={tcp_user_timeout=20000}";
    size_t len = strlen(connstr);
    size_t cap = len + sizeof(app) + sizeof(keepalive) + sizeof(pqopt) + 16;
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
    if (!p.has_pqopt) {
        size_t n = strlen(drv);
        snprintf(drv + n, cap - n, "%s%s", n && drv[n - 1] != ';' ? ";" : "", pqopt);
    }

    s->connstr = drv; /* for a reconnect; wiped when s is freed */
    sqllock_status st = driver_connect(c, s, drv, &s->env, &s->dbc, "connect");
    if (st != SQLLOCK_OK) {
        sqllock__odbc_state_free(s);
        return st;
    }
    const struct odbc_dbms *own, *row = choose(c, s, forced, "connect", &own);
    st = row ? install(c, s, row, own) : c->last_status;
    if (st != SQLLOCK_OK)
        sqllock__odbc_state_free(s);
    return st;
}

/*
 * The broken connection of ours opens again with the string of the first
 * connect, in new handles; only once that worked do the old session's
 * handles go (every statement prepares anew on first use; the watcher
 * stays, as it holds no statement between waits), and the DBMS check and
 * the row's setup run again on the new session. A failure leaves s
 * broken, its handles allocated, for the next acquire to try again.
 */
static sqllock_status conn_reconnect(sqllock_client *c, void *conn)
{
    struct odbc_state *s = conn;
    SQLHENV env;
    SQLHDBC dbc;
    sqllock_status st = driver_connect(c, s, s->connstr, &env, &dbc, "reconnect");
    if (st != SQLLOCK_OK)
        return st;
    sqllock__odbc_stmts_free(s);
    (void)SQLDisconnect(s->dbc);
    (void)SQLFreeHandle(SQL_HANDLE_DBC, s->dbc);
    (void)SQLFreeHandle(SQL_HANDLE_ENV, s->env);
    s->env = env;
    s->dbc = dbc;
    const struct odbc_dbms *own, *row = choose(c, s, s->row, "reconnect", &own);
    if (!row)
        st = c->last_status;
    else if (own != s->own)
        st = sqllock__fail(c, SQLLOCK_ESTATE,
                           "reconnect: the ODBC driver now reports the DBMS \"%s\", not the "
                           "one the client first connected to",
                           s->dbms);
    else if (s->row->setup)
        st = s->row->setup(c, s);
    if (st != SQLLOCK_OK) {
        sqllock__odbc_stmts_free(s);
        (void)SQLDisconnect(s->dbc);
        return st;
    }
    s->broken = 0;
    return SQLLOCK_OK;
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
    const struct odbc_dbms *forced = NULL;
    if (backend && !(forced = sqllock__odbc_dbms_by_backend(backend, strlen(backend)))) {
        char backends[96];
        sqllock__odbc_dbms_list(backends, sizeof(backends), 1);
        return sqllock__fail(c, SQLLOCK_EINVAL,
                             "attach: unknown backend (use %s, or NULL to choose by the DBMS)",
                             backends);
    }
    struct odbc_state *s = calloc(1, sizeof(*s));
    if (!s)
        return sqllock__fail(c, SQLLOCK_ENOMEM, "attach: out of memory");
    s->dbc = dbc;
    const struct odbc_dbms *own, *row = choose(c, s, forced, "attach", &own);
    sqllock_status st = row ? install(c, s, row, own) : c->last_status;
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
