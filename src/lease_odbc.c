/* SPDX-License-Identifier: MIT */
/*
 * The lease backend over ODBC, in two dialects, which odbc_dbms.c's rows
 * name: PostgreSQL (psqlODBC; the very statements the libpq
 * transport sends, lease_sql.h) and SQLite (a file database through the
 * SQLite ODBC driver). On PostgreSQL it sits beside pg-advisory; SQLite has
 * no session locks, so there it is the client's only backend and an acquire
 * must give a ttl.
 *
 * ODBC offers no way to receive a PostgreSQL notification, and SQLite has
 * none, so a waiter here polls: capped exponential backoff (5 ms doubling to
 * 250 ms), each sleep bounded by the holder's expiry (read from the
 * database's clock) and the wait's deadline, the sleep itself the
 * transport's wait (sqllock__odbc_wait) so that sqllock_cancel() ends it. A release still sends
 * the NOTIFY on PostgreSQL, so libpq waiters wake at once.
 *
 * As over libpq, lease statements run only with autocommit on (ESTATE
 * inside the caller's transaction); a connection we opened creates the
 * tables when a statement finds them missing, an attached one without them
 * is ESTATE naming `sqllock init`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lease_int.h"
#include "lease_sql.h"
#include "odbc_int.h"

enum {
    L_ACQUIRE,
    L_TOKEN,
    L_LEFT,
    L_RELEASE,
    L_CHECK,
    L_EXTEND,
    L_ONCE_DONE,
    L_ONCE_MARK,
    L_ONCE_FORGET,
    L_COUNT
};

/* What a statement yields: the first row's columns, or the affected rows. */
enum { ROWS, COUNT };

/*
 * Parameters, by letter in a statement's binding order: n the name (hex for
 * PostgreSQL, raw bytes for SQLite), h host, p pid, o owner id, t ttl,
 * m ttl_min, k token, x the name's key (notification payload), q the
 * lease's queue key (lease_sql.h), e a new ttl,
 * b who ran a run-once job.
 */
struct lease_dialect {
    int hex_names;
    int ddl_in_txn; /* the schema installs in one transaction */
    const char *schema;
    const char *sql[L_COUNT];
    const char *order[L_COUNT];
    unsigned char yields[L_COUNT];
};

#define Q "?"
const struct lease_dialect sqllock__lease_odbc_pg = {
    1,
    1,
    sqllock__lease_schema_postgresql,
    {LEASE_PG_ACQUIRE(Q, Q, Q, Q, Q, Q, Q), NULL, NULL, LEASE_PG_RELEASE(Q, Q, Q, Q, Q, Q),
     LEASE_PG_CHECK(Q, Q, Q), LEASE_PG_EXTEND(Q, Q, Q, Q), LEASE_PG_ONCE_DONE(Q),
     LEASE_PG_ONCE_MARK(Q, Q, Q), LEASE_PG_ONCE_FORGET(Q)},
    {"nhpotmn", NULL, NULL, "nokxxq", "nok", "enok", "n", "nbk", "n"},
    {ROWS, ROWS, ROWS, ROWS, ROWS, ROWS, ROWS, COUNT, ROWS},
};
const struct lease_dialect sqllock__lease_odbc_sqlite = {
    0,
    0,
    sqllock__lease_schema_sqlite,
    {LEASE_SQLITE_ACQUIRE, LEASE_SQLITE_TOKEN, LEASE_SQLITE_LEFT, LEASE_SQLITE_RELEASE,
     LEASE_SQLITE_CHECK, LEASE_SQLITE_EXTEND, LEASE_SQLITE_ONCE_DONE, LEASE_SQLITE_ONCE_MARK,
     LEASE_SQLITE_ONCE_FORGET},
    {"nhpotm", "no", "n", "nok", "nok", "enok", "n", "nbk", "n"},
    {COUNT, ROWS, ROWS, COUNT, ROWS, COUNT, ROWS, COUNT, COUNT},
};

/* lease_state of an ODBC client. */
struct lease_odbc {
    struct lease_owner owner;
    struct odbc_state *conn; /* the client's, given at install */
    const struct lease_dialect *d;
    SQLHSTMT stmt[L_COUNT];
};

struct args {
    char hex[LEASE_HEXNAME_MAX];
    const char *name, *host, *owner, *key, *by;
    int64_t pid, ttl, ttl_min, token, ext, queue;
};

static struct lease_odbc *lease_of(sqllock_client *c)
{
    return c->lease_state;
}


static sqllock_status ready(sqllock_client *c, const char *what)
{
    struct odbc_state *s = lease_of(c)->conn;
    if (sqllock__odbc_dead(s))
        return sqllock__fail(c, SQLLOCK_ECONNECT,
                             "%s: the connection to the server is "
                             "closed or broken",
                             what);
    if (!sqllock__odbc_autocommit(s))
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "%s: lease statements run with autocommit "
                             "on (a lease row must be committed the moment it is written); "
                             "end the transaction first",
                             what);
    return SQLLOCK_OK;
}

/* A failed statement on h as a status, reworded when it says why a user can
   act on (sqllock__lease_explain). */
static sqllock_status stmt_fail(sqllock_client *c, SQLHSTMT h, const char *what)
{
    struct odbc_state *s = lease_of(c)->conn;
    return sqllock__lease_explain(c, sqllock__odbc_fail(c, s, SQL_HANDLE_STMT, h, what, 0));
}

/* The tables are missing: PostgreSQL's 42P01, SQLite's words. */
static int tables_missing(sqllock_client *c)
{
    return strcmp(c->errcode, "42P01") == 0 || strstr(c->errmsg, "no such table") != NULL;
}

static SQLRETURN run_direct(struct odbc_state *s, const char *sql, SQLHSTMT *h)
{
    SQLRETURN r = SQLAllocHandle(SQL_HANDLE_STMT, s->dbc, h);
    if (!SQL_SUCCEEDED(r))
        return r;
    r = SQLExecDirect(*h, (SQLCHAR *)sql, SQL_NTS);
    return r == SQL_NO_DATA ? SQL_SUCCESS : r;
}

/* Runs the dialect's schema file, one statement at a time, in one
   transaction where the DBMS has transactional DDL. */
static sqllock_status run_schema(sqllock_client *c)
{
    struct odbc_state *s = lease_of(c)->conn;
    struct lease_odbc *lo = lease_of(c);
    int txn = lo->d->ddl_in_txn;
    if (txn && !SQL_SUCCEEDED(SQLSetConnectAttr(s->dbc, SQL_ATTR_AUTOCOMMIT,
                                                (SQLPOINTER)SQL_AUTOCOMMIT_OFF, 0)))
        return sqllock__odbc_fail(c, s, SQL_HANDLE_DBC, s->dbc, "installing the lease schema",
                                  0);
    const char *p = lo->d->schema;
    char stmt[2048];
    sqllock_status st = SQLLOCK_OK;
    int more;
    while (st == SQLLOCK_OK &&
           (more = sqllock__lease_schema_next(&p, stmt, sizeof(stmt))) != 0) {
        SQLHSTMT h = SQL_NULL_HSTMT;
        SQLRETURN r = more < 0 ? SQL_ERROR : run_direct(s, stmt, &h);
        if (!SQL_SUCCEEDED(r))
            st = h ? stmt_fail(c, h, "installing the lease schema")
                   : sqllock__fail(c, SQLLOCK_ESERVER,
                                   "installing the lease schema: a "
                                   "statement of the schema file is too long");
        if (h)
            SQLFreeHandle(SQL_HANDLE_STMT, h);
    }
    /* Every way out ends the transaction: a failed install leaves the
       connection as it found it. */
    if (txn) {
        (void)sqllock__odbc_end_tran(s, st == SQLLOCK_OK ? SQL_COMMIT : SQL_ROLLBACK);
        (void)SQLSetConnectAttr(s->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_ON, 0);
    }
    return st;
}

static sqllock_status lease_install_schema(sqllock_client *c)
{
    sqllock_status st = ready(c, "install schema");
    return st == SQLLOCK_OK ? run_schema(c) : st;
}

static SQLRETURN bind(SQLHSTMT h, const char *order, const struct args *a, SQLLEN len[8])
{
    for (int i = 0; order[i]; i++) {
        SQLRETURN r;
        int k = i + 1;
        switch (order[i]) {
        case 'n':
            r = sqllock__odbc_bind_text(h, k, a->hex[0] ? a->hex : a->name, &len[i]);
            break;
        case 'h': r = sqllock__odbc_bind_text(h, k, a->host, &len[i]); break;
        case 'o': r = sqllock__odbc_bind_text(h, k, a->owner, &len[i]); break;
        case 'x': r = sqllock__odbc_bind_text(h, k, a->key, &len[i]); break;
        case 'b': r = sqllock__odbc_bind_text(h, k, a->by, &len[i]); break;
        case 'p': r = sqllock__odbc_bind_i64(h, k, &a->pid, &len[i]); break;
        case 't': r = sqllock__odbc_bind_i64(h, k, &a->ttl, &len[i]); break;
        case 'm': r = sqllock__odbc_bind_i64(h, k, &a->ttl_min, &len[i]); break;
        case 'k': r = sqllock__odbc_bind_i64(h, k, &a->token, &len[i]); break;
        case 'e': r = sqllock__odbc_bind_i64(h, k, &a->ext, &len[i]); break;
        case 'q': r = sqllock__odbc_bind_i64(h, k, &a->queue, &len[i]); break;
        default: r = SQL_ERROR; break;
        }
        if (!SQL_SUCCEEDED(r))
            return r;
    }
    return SQL_SUCCESS;
}

/*
 * Runs statement i with a's values: its first row's first two columns into
 * col (empty for NULL; *rows 0 when there is no row), or the affected-row
 * count into *rows.
 */
static sqllock_status run_one(sqllock_client *c, int i, const struct args *a, char col[2][32],
                              long long *rows, const char *what)
{
    struct odbc_state *s = lease_of(c)->conn;
    struct lease_odbc *lo = lease_of(c);
    SQLHSTMT h = lo->stmt[i];
    if (!h) {
        if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, s->dbc, &h)))
            return sqllock__odbc_fail(c, s, SQL_HANDLE_DBC, s->dbc, what, 0);
        lo->stmt[i] = h;
    }
    SQLLEN len[8];
    const char *order = lo->d->order[i];
    SQLRETURN r = bind(h, order, a, len);
    if (SQL_SUCCEEDED(r)) {
        r = SQLExecDirect(h, (SQLCHAR *)lo->d->sql[i], SQL_NTS);
        if (r == SQL_NO_DATA)
            r = SQL_SUCCESS;
    }
    sqllock_status st = SQLLOCK_OK;
    *rows = 0;
    col[0][0] = col[1][0] = '\0';
    if (!SQL_SUCCEEDED(r)) {
        st = stmt_fail(c, h, what);
    } else if (lo->d->yields[i] == COUNT) {
        SQLLEN n = 0;
        if (SQL_SUCCEEDED(SQLRowCount(h, &n)))
            *rows = n;
    } else if ((r = SQLFetch(h)) != SQL_NO_DATA) {
        for (int k = 0; k < 2 && SQL_SUCCEEDED(r); k++) {
            SQLLEN ind = 0;
            SQLSMALLINT ncols = 0;
            if (!SQL_SUCCEEDED(SQLNumResultCols(h, &ncols)) || k >= ncols)
                break;
            r = SQLGetData(h, (SQLUSMALLINT)(k + 1), SQL_C_CHAR, col[k], 32, &ind);
            if (ind == SQL_NULL_DATA)
                col[k][0] = '\0';
        }
        if (!SQL_SUCCEEDED(r))
            st = stmt_fail(c, h, what);
        else
            *rows = 1;
    }
    sqllock__odbc_reset(h);
    return st;
}

/* Statement i, creating the tables when it finds them missing, on a
   connection we own only (as over libpq, see lease_pq.c). */
static sqllock_status run(sqllock_client *c, int i, const struct args *a, char col[2][32],
                          long long *rows, const char *what)
{
    sqllock_status st = ready(c, what);
    if (st != SQLLOCK_OK)
        return st;
    st = run_one(c, i, a, col, rows, what);
    if (st == SQLLOCK_OK || !tables_missing(c))
        return st;
    if (c->owns_connection) {
        if ((st = run_schema(c)) != SQLLOCK_OK)
            return st;
        st = run_one(c, i, a, col, rows, what);
        if (st == SQLLOCK_OK || !tables_missing(c))
            return st;
    }
    return sqllock__fail(c, SQLLOCK_ESTATE,
                         "%s: the lease tables do not exist in this "
                         "database: run `sqllock init` or sqllock_install_schema() once",
                         what);
}

static void name_args(sqllock_client *c, struct args *a, const char *name, size_t len)
{
    memset(a, 0, sizeof(*a));
    a->name = name;
    a->host = lease_of(c)->owner.host;
    a->owner = lease_of(c)->owner.id;
    if (lease_of(c)->d->hex_names)
        sqllock__lease_hex(a->hex, name, len);
    a->pid = (int64_t)getpid();
}

static uint64_t lease_ident(const char *name, size_t len)
{
    return sqllock__hashtext64((const unsigned char *)name, len);
}

/* One try: OK with l->token, or BUSY with *left_ms the holder's time left
   by the database's clock (-1 unknown). */
static sqllock_status try_once(sqllock_client *c, sqllock_lock *l, int want_left,
                               long long *left_ms)
{
    struct args a;
    name_args(c, &a, l->name, l->name_len);
    a.ttl = l->ttl_ms;
    a.ttl_min = l->ttl_min_ms;
    char col[2][32];
    long long rows;
    *left_ms = -1;
    long long sent = sqllock__now_ms();
    sqllock_status st = run(c, L_ACQUIRE, &a, col, &rows, "acquire");
    if (st != SQLLOCK_OK)
        return st;
    int took;
    if (lease_of(c)->d->yields[L_ACQUIRE] == ROWS) {
        took = col[0][0] != '\0';
        if (took)
            l->token = strtoll(col[0], NULL, 10);
        else if (col[1][0])
            *left_ms = strtoll(col[1], NULL, 10);
    } else {
        took = rows == 1;
        /* The token the statement wrote (the row is ours unless it expired
           and was taken over in between: then it is not held, BUSY). */
        if (took && (st = run(c, L_TOKEN, &a, col, &rows, "acquire")) != SQLLOCK_OK)
            return st;
        if (took && rows == 1 && col[0][0])
            l->token = strtoll(col[0], NULL, 10);
        else
            took = 0;
        if (!took && want_left && run(c, L_LEFT, &a, col, &rows, "acquire") == SQLLOCK_OK &&
            rows == 1 && col[0][0])
            *left_ms = strtoll(col[0], NULL, 10);
    }
    if (!took)
        return sqllock__fail(c, SQLLOCK_BUSY, "acquire: the lease is held by another owner");
    sqllock__lease_granted(l, sent, l->ttl_ms);
    return SQLLOCK_OK;
}

/* Sleeps ms unless sqllock_cancel() is called first (CANCELED). */
static sqllock_status nap(sqllock_client *c, long long ms)
{
    if (sqllock__odbc_wait(c, -1, sqllock__now_ms() + ms, 1) == ODBC_WAIT_CANCEL)
        return sqllock__fail(c, SQLLOCK_CANCELED, "acquire: wait canceled by sqllock_cancel()");
    return SQLLOCK_OK;
}

static sqllock_status lease_acquire(sqllock_client *c, sqllock_lock *l, int64_t wait_ms)
{
    long long left;
    if (wait_ms == 0)
        return try_once(c, l, 0, &left);
    long long deadline = wait_ms == SQLLOCK_WAIT_FOREVER ? -1 : sqllock__now_ms() + wait_ms;
    long long backoff = 5;
    for (;;) {
        sqllock_status st = try_once(c, l, 1, &left);
        if (st != SQLLOCK_BUSY)
            return st;
        long long sleep_ms = backoff;
        if (left >= 0 && left < sleep_ms)
            sleep_ms = left < 1 ? 1 : left;
        if (deadline >= 0) {
            long long remaining = deadline - sqllock__now_ms();
            if (remaining <= 0)
                return sqllock__fail(c, SQLLOCK_TIMEOUT,
                                     "acquire: timed out waiting for "
                                     "the lease");
            if (remaining < sleep_ms)
                sleep_ms = remaining;
        }
        if ((st = nap(c, sleep_ms)) != SQLLOCK_OK)
            return st;
        backoff = backoff * 2 > 250 ? 250 : backoff * 2;
    }
}

/* A statement about a held lease: OK when it found the lease still ours. */
static sqllock_status on_mine(sqllock_client *c, sqllock_lock *l, int i, int64_t ext,
                              const char *what)
{
    struct args a;
    name_args(c, &a, l->name, l->name_len);
    char key[24];
    snprintf(key, sizeof(key), "%016llx", (unsigned long long)l->ident);
    a.key = key;
    a.queue = (int64_t)LEASE_QUEUE_KEY(l->ident);
    a.token = l->token;
    a.ext = ext;
    char col[2][32];
    long long rows;
    sqllock_status st = run(c, i, &a, col, &rows, what);
    if (st != SQLLOCK_OK)
        return st;
    int mine = lease_of(c)->d->yields[i] == COUNT
                   ? rows == 1
                   : strcmp(col[0], "1") == 0 || strcmp(col[0], "t") == 0;
    return mine ? SQLLOCK_OK
                : sqllock__fail(c, SQLLOCK_LOST,
                                "%s: the lease is no longer ours (it "
                                "expired, and may have been taken by another owner)",
                                what);
}

static sqllock_status lease_release(sqllock_client *c, sqllock_lock *l)
{
    sqllock_status st = on_mine(c, l, L_RELEASE, 0, "release");
    return sqllock__lease_release_outcome(c, st);
}

static sqllock_status lease_check(sqllock_client *c, sqllock_lock *l)
{
    return on_mine(c, l, L_CHECK, 0, "check");
}

static sqllock_status lease_extend(sqllock_client *c, sqllock_lock *l, int64_t ttl_ms)
{
    long long sent = sqllock__now_ms();
    sqllock_status st = on_mine(c, l, L_EXTEND, ttl_ms, "extend");
    if (st == SQLLOCK_OK)
        sqllock__lease_granted(l, sent, ttl_ms);
    return st;
}

/* driver: free the statement handles too (not in a child after fork()). */
static void free_lease_state(sqllock_client *c, int driver)
{
    struct lease_odbc *lo = lease_of(c);
    if (lo && driver)
        for (int i = 0; i < L_COUNT; i++)
            if (lo->stmt[i])
                (void)SQLFreeHandle(SQL_HANDLE_STMT, lo->stmt[i]);
    free(lo);
    c->lease_state = NULL;
    c->lease_be = NULL;
}

static void lease_close(sqllock_client *c)
{
    free_lease_state(c, 1);
}

static void lease_abandon(sqllock_client *c)
{
    free_lease_state(c, 0);
}

static sqllock_status once_run(sqllock_client *c, int i, const char *name, size_t len,
                               int64_t token, int *out, const char *what)
{
    struct lease_odbc *lo = lease_of(c);
    struct args a;
    name_args(c, &a, name, len);
    char by[LEASE_HOST_MAX + 64];
    snprintf(by, sizeof(by), "%s:%ld:%s", lo->owner.host, (long)getpid(), lo->owner.id);
    a.by = by;
    a.token = token;
    char col[2][32];
    long long rows;
    sqllock_status st = run(c, i, &a, col, &rows, what);
    if (st == SQLLOCK_OK && out)
        *out = lo->d->yields[i] == COUNT ? rows > 0
                                         : strcmp(col[0], "1") == 0 || strcmp(col[0], "t") == 0;
    return st;
}

static sqllock_status lease_once_done(sqllock_client *c, const char *name, size_t len, int *done)
{
    struct args a;
    name_args(c, &a, name, len);
    char col[2][32];
    long long rows;
    sqllock_status st = run(c, L_ONCE_DONE, &a, col, &rows, "run once");
    if (st != SQLLOCK_OK)
        return st;
    *done = strcmp(col[0], "1") == 0 || strcmp(col[0], "t") == 0;
    /* SQLite's statement has no second column: col[1] stays "". */
    return *done ? SQLLOCK_OK : sqllock__lease_once_unwritable(c, col[1]);
}

static sqllock_status lease_once_mark(sqllock_client *c, const char *name, size_t len,
                                      int64_t token)
{
    return once_run(c, L_ONCE_MARK, name, len, token, NULL, "run once (recording it done)");
}

static sqllock_status lease_once_forget(sqllock_client *c, const char *name, size_t len,
                                        int *existed)
{
    return once_run(c, L_ONCE_FORGET, name, len, 0, existed, "forget run-once marker");
}

const struct sqllock_backend sqllock__lease_odbc = {
    .name = "lease",
    .caps = SQLLOCK_CAP_EXPIRY | SQLLOCK_CAP_RELEASE_BEFORE_CLOSE | SQLLOCK_CAP_MARKERS,
    .ident = lease_ident,
    .acquire = lease_acquire,
    .release = lease_release,
    .check = lease_check,
    .extend = lease_extend,
    .still_held = NULL, /* leases are live entries */
    .in_transaction = sqllock__lease_no_transaction,
    .close = lease_close,
    .abandon = lease_abandon,
    .install_schema = lease_install_schema,
    .once_done = lease_once_done,
    .once_mark = lease_once_mark,
    .once_forget = lease_once_forget,
};

sqllock_status sqllock__lease_odbc_install(sqllock_client *c, struct odbc_state *s,
                                           const struct lease_dialect *d)
{
    struct lease_odbc *lo = calloc(1, sizeof(*lo));
    if (!lo)
        return sqllock__fail(c, SQLLOCK_ENOMEM, "out of memory");
    if (sqllock__lease_owner_init(&lo->owner) != 0) {
        free(lo);
        return sqllock__fail(c, SQLLOCK_ESERVER, "no random numbers for the lease owner id");
    }
    lo->conn = s;
    lo->d = d;
    sqllock__odbc_register(s, lo->stmt, L_COUNT); /* a reconnect frees them */
    c->lease_state = lo;
    c->lease_be = &sqllock__lease_odbc;
    return SQLLOCK_OK;
}
