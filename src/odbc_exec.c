/* SPDX-License-Identifier: MIT */
/*
 * Statements over ODBC: preparing them once per connection, binding
 * parameters, reading diagnostics (masked) into statuses and messages, and
 * running a statement that may wait. A blocking SQLExecute cannot watch the
 * client's cancel pipe the way the libpq transport polls its socket, so the
 * connection has a watcher thread: during a wait it polls the cancel pipe
 * and calls SQLCancel() on the statement, again with backoff until the
 * statement returns, because a cancel that reaches the server just before
 * the statement starts waiting is dropped by it. The
 * watcher and a backend's sleep between polls (leases) wait in one place,
 * sqllock__odbc_wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "odbc_int.h"


void sqllock__odbc_diag_read(struct odbc_state *s, SQLSMALLINT type, SQLHANDLE h,
                             struct odbc_diag *d)
{
    char raw[sizeof(d->msg)] = "";
    size_t o = 0;
    memset(d, 0, sizeof(*d));
    for (SQLSMALLINT i = 1; i <= 4 && o + 1 < sizeof(raw); i++) {
        SQLCHAR state[6], msg[512];
        SQLINTEGER native = 0;
        SQLSMALLINT len = 0;
        SQLRETURN r = SQLGetDiagRec(type, h, i, state, &native, msg, sizeof(msg), &len);
        if (!SQL_SUCCEEDED(r))
            break;
        if (i == 1) {
            snprintf(d->sqlstate, sizeof(d->sqlstate), "%s", (char *)state);
            d->native = (long)native;
        }
        /* Drivers end records with newlines and ';'; one line reads better. */
        for (char *p = (char *)msg; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        int w = snprintf(raw + o, sizeof(raw) - o, "%s[%s] %s", i > 1 ? "; " : "", (char *)state,
                         (char *)msg);
        if (w < 0)
            break;
        o += (size_t)w < sizeof(raw) - o ? (size_t)w : sizeof(raw) - o - 1;
    }
    sqllock__redact(d->msg, sizeof(d->msg), raw, &s->secrets, 0);
}

int sqllock__odbc_dead(const struct odbc_state *s)
{
    SQLUINTEGER dead = SQL_CD_FALSE;
    SQLRETURN r = SQLGetConnectAttr(s->dbc, SQL_ATTR_CONNECTION_DEAD, &dead, 0, NULL);
    return SQL_SUCCEEDED(r) && dead == SQL_CD_TRUE;
}

int sqllock__odbc_autocommit(struct odbc_state *s)
{
    SQLULEN ac = SQL_AUTOCOMMIT_ON;
    SQLRETURN r = SQLGetConnectAttr(s->dbc, SQL_ATTR_AUTOCOMMIT, &ac, 0, NULL);
    return !SQL_SUCCEEDED(r) || ac == SQL_AUTOCOMMIT_ON;
}

sqllock_status sqllock__odbc_fail(sqllock_client *c, struct odbc_state *s, SQLSMALLINT type,
                                  SQLHANDLE h, const char *what, int canceled)
{
    struct odbc_diag d;
    sqllock__odbc_diag_read(s, type, h, &d);
    return sqllock__odbc_fail_diag(c, s, &d, what, canceled);
}

sqllock_status sqllock__odbc_fail_diag(sqllock_client *c, struct odbc_state *s,
                                       const struct odbc_diag *dp, const char *what,
                                       int canceled)
{
    struct odbc_diag d = *dp;
    sqllock_status meant = s->map ? s->map(&d) : SQLLOCK_ESERVER;
    sqllock__set_errcode(c, d.sqlstate);
    const char *st = d.sqlstate;
    const char *msg = d.msg[0] ? d.msg : "no diagnostics";
    /* ODBC's own SQLSTATEs first: every driver uses them alike. */
    if (sqllock__odbc_dead(s) || strncmp(st, "08", 2) == 0) {
        s->broken = 1; /* the next acquire on a connection of ours reopens it */
        return sqllock__fail(c, SQLLOCK_ECONNECT,
                             "%s: the connection to the server was lost: %s", what, msg);
    }
    if (strcmp(st, "HY008") == 0)
        meant = SQLLOCK_CANCELED;
    else if (strcmp(st, "40001") == 0)
        meant = SQLLOCK_DEADLOCK;
    else if (strcmp(st, "HYT00") == 0)
        meant = SQLLOCK_TIMEOUT;
    switch (meant) {
    case SQLLOCK_CANCELED:
        return sqllock__fail(c, SQLLOCK_CANCELED, "%s: %s", what,
                             canceled ? "wait canceled by sqllock_cancel()"
                                      : "statement canceled by the server");
    case SQLLOCK_DEADLOCK:
        return sqllock__fail(c, SQLLOCK_DEADLOCK, "%s: deadlock detected: %s", what, msg);
    case SQLLOCK_TIMEOUT:
        return sqllock__fail(c, SQLLOCK_TIMEOUT, "%s: timed out waiting for the lock", what);
    case SQLLOCK_ESTATE:
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "%s: the connection's transaction has failed; "
                             "roll it back first",
                             what);
    default:
        return sqllock__fail(c, SQLLOCK_ESERVER, "%s: server error %s (native %ld): %s", what,
                             st[0] ? st : "(none)", d.native, msg);
    }
}

SQLHSTMT sqllock__odbc_stmt(sqllock_client *c, struct odbc_state *s, int i, const char *sql)
{
    if (s->stmt[i])
        return s->stmt[i];
    SQLHSTMT st = SQL_NULL_HSTMT;
    SQLRETURN r = SQLAllocHandle(SQL_HANDLE_STMT, s->dbc, &st);
    if (!SQL_SUCCEEDED(r)) {
        sqllock__odbc_fail(c, s, SQL_HANDLE_DBC, s->dbc, "allocating a statement", 0);
        return SQL_NULL_HSTMT;
    }
    if (!sql) {
        s->stmt[i] = st;
        return st;
    }
    r = SQLPrepare(st, (SQLCHAR *)sql, SQL_NTS);
    if (!SQL_SUCCEEDED(r)) {
        sqllock__odbc_fail(c, s, SQL_HANDLE_STMT, st, "preparing a statement", 0);
        SQLFreeHandle(SQL_HANDLE_STMT, st);
        return SQL_NULL_HSTMT;
    }
    s->stmt[i] = st;
    return st;
}

void sqllock__odbc_reset(SQLHSTMT st)
{
    (void)SQLFreeStmt(st, SQL_CLOSE);
    (void)SQLFreeStmt(st, SQL_RESET_PARAMS);
}

SQLRETURN sqllock__odbc_bind_text(SQLHSTMT st, int i, const char *v, SQLLEN *len)
{
    *len = v ? SQL_NTS : SQL_NULL_DATA;
    return SQLBindParameter(st, (SQLUSMALLINT)i, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR,
                            v ? (strlen(v) ? strlen(v) : 1) : 1, 0, (SQLPOINTER)v, 0, len);
}

SQLRETURN sqllock__odbc_bind_i64(SQLHSTMT st, int i, const int64_t *v, SQLLEN *len)
{
    *len = 0;
    return SQLBindParameter(st, (SQLUSMALLINT)i, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 0,
                            0, (SQLPOINTER)v, 0, len);
}

SQLRETURN sqllock__odbc_bind_i32(SQLHSTMT st, int i, const SQLINTEGER *v, SQLLEN *len)
{
    *len = 0;
    return SQLBindParameter(st, (SQLUSMALLINT)i, SQL_PARAM_INPUT, SQL_C_SLONG, SQL_INTEGER, 0, 0,
                            (SQLPOINTER)v, 0, len);
}

int sqllock__odbc_fetch_text(SQLHSTMT st, char *buf, size_t n)
{
    SQLRETURN r = SQLFetch(st);
    if (r == SQL_NO_DATA)
        return 0;
    if (!SQL_SUCCEEDED(r))
        return -1;
    SQLLEN ind = 0;
    r = SQLGetData(st, 1, SQL_C_CHAR, buf, (SQLLEN)n, &ind);
    if (!SQL_SUCCEEDED(r))
        return -1;
    if (ind == SQL_NULL_DATA)
        buf[0] = '\0';
    return 1;
}

SQLRETURN sqllock__odbc_end_tran(struct odbc_state *s, SQLSMALLINT how)
{
    return SQLEndTran(SQL_HANDLE_DBC, s->dbc, how);
}

/* ---- waiting --------------------------------------------------------------- */

enum odbc_wait sqllock__odbc_wait(sqllock_client *c, int fd, long long until_ms,
                                  int watch_cancel)
{
    struct pollfd p[2] = {
        {.fd = watch_cancel ? sqllock__cancel_fd(c) : -1, .events = POLLIN},
        {.fd = fd, .events = POLLIN},
    };
    for (;;) {
        int timeout = sqllock__poll_ms(until_ms);
        if (timeout == 0)
            return ODBC_WAIT_TIMEOUT;
        int n = poll(p, 2, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ODBC_WAIT_FAILED;
        if ((p[0].revents & POLLIN) && sqllock__cancel_take(c))
            return ODBC_WAIT_CANCEL;
        if (p[1].revents & (POLLIN | POLLHUP))
            return ODBC_WAIT_READABLE;
    }
}


/*
 * One watcher thread per connection, started by its first cancelable wait
 * and ended with the connection: creating and joining a thread per wait
 * cost 86-130 us on the CI machine, most of an ODBC handoff. Between waits
 * it does not watch the cancel pipe (a cancel then is the next wait's, as
 * on every other path); it blocks every signal, so the application's
 * handlers run on its own threads.
 */
struct odbc_watcher {
    pthread_t th;
    pthread_mutex_t mu; /* SQLCancel only while `active` runs */
    int ctl[2];         /* written when a wait starts or ends, and to quit */
    sqllock_client *c;
    SQLHSTMT active; /* the waiting statement; NULL between waits */
    unsigned wait;   /* counts waits: a cancel is for the wait it saw */
    int canceled, quit;
};

static void poke(struct odbc_watcher *w)
{
    ssize_t n;
    do
        n = write(w->ctl[1], "w", 1);
    while (n < 0 && errno == EINTR);
}

static void *watch_main(void *arg)
{
    struct odbc_watcher *w = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    unsigned seen = 0;
    int sent = 0, canceled = 0;
    long long next = 0;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        int active = w->active != NULL, quit = w->quit;
        if (w->wait != seen) {
            seen = w->wait;
            sent = canceled = 0;
            next = 0;
        }
        pthread_mutex_unlock(&w->mu);
        if (quit)
            break;
        /* Once canceled, only the next re-send and the control pipe matter. */
        enum odbc_wait r = sqllock__odbc_wait(w->c, w->ctl[0], active && canceled ? next : -1,
                                              active && !canceled);
        if (r == ODBC_WAIT_READABLE) {
            char buf[64];
            (void)read(w->ctl[0], buf, sizeof(buf));
            continue;
        }
        if (r == ODBC_WAIT_FAILED)
            continue;
        pthread_mutex_lock(&w->mu);
        if (w->active && w->wait == seen) {
            if (r == ODBC_WAIT_CANCEL)
                canceled = w->canceled = 1;
            if (canceled && sqllock__now_ms() >= next) {
                (void)SQLCancel(w->active);
                next = sqllock__now_ms() + sqllock__cancel_backoff_ms(sent++);
            }
        }
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

/* The connection's watcher, started on first use; NULL if it cannot be
   (the wait then works, only a cancel cannot end it). */
static struct odbc_watcher *watcher(sqllock_client *c, struct odbc_state *s)
{
    struct odbc_watcher *w = s->watcher;
    if (w || s->watcher_failed)
        return w;
    if (!(w = calloc(1, sizeof(*w))) || pipe(w->ctl) != 0) {
        free(w);
        s->watcher_failed = 1;
        return NULL;
    }
    (void)fcntl(w->ctl[0], F_SETFL, O_NONBLOCK);
    (void)fcntl(w->ctl[0], F_SETFD, FD_CLOEXEC);
    (void)fcntl(w->ctl[1], F_SETFD, FD_CLOEXEC);
    w->c = c;
    pthread_attr_t attr;
    int ok = pthread_mutex_init(&w->mu, NULL) == 0;
    if (ok && pthread_attr_init(&attr) == 0) {
        (void)pthread_attr_setstacksize(&attr, 256 * 1024);
        ok = pthread_create(&w->th, &attr, watch_main, w) == 0;
        pthread_attr_destroy(&attr);
        if (!ok)
            pthread_mutex_destroy(&w->mu);
    } else if (ok) {
        pthread_mutex_destroy(&w->mu);
        ok = 0;
    }
    if (!ok) {
        close(w->ctl[0]);
        close(w->ctl[1]);
        free(w);
        s->watcher_failed = 1;
        return NULL;
    }
    return s->watcher = w;
}

SQLRETURN sqllock__odbc_execute(sqllock_client *c, struct odbc_state *s, SQLHSTMT st,
                                int cancelable, int *canceled)
{
    *canceled = 0;
    struct odbc_watcher *w = cancelable ? watcher(c, s) : NULL;
    if (!w)
        return SQLExecute(st);
    pthread_mutex_lock(&w->mu);
    w->active = st;
    w->canceled = 0;
    w->wait++;
    pthread_mutex_unlock(&w->mu);
    poke(w);
    SQLRETURN r = SQLExecute(st);
    pthread_mutex_lock(&w->mu);
    w->active = NULL;
    *canceled = w->canceled;
    pthread_mutex_unlock(&w->mu);
    poke(w); /* stop watching the cancel pipe: a cancel now is the next wait's */
    return r;
}

/* Ends the watcher (driver: join it; in a child after fork() it does not
   exist, and only our memory and descriptors are freed). */
static void watcher_end(struct odbc_state *s, int driver)
{
    struct odbc_watcher *w = s->watcher;
    if (!w)
        return;
    if (driver) {
        pthread_mutex_lock(&w->mu);
        w->quit = 1;
        pthread_mutex_unlock(&w->mu);
        poke(w);
        pthread_join(w->th, NULL);
        pthread_mutex_destroy(&w->mu);
    }
    close(w->ctl[0]);
    close(w->ctl[1]);
    free(w);
    s->watcher = NULL;
}

/* The stored connection string holds the password: zeroed before free,
   through a volatile pointer so the stores are not optimised away. */
static void wipe_free(char *p)
{
    if (!p)
        return;
    for (volatile char *v = p; *v; v++)
        *v = '\0';
    free(p);
}

/* What is ours alone, not the driver's. */
static void free_own(struct odbc_state *s)
{
    sqllock__secrets_free(&s->secrets);
    wipe_free(s->connstr);
    free(s);
}

static void free_stmts(SQLHSTMT *v, int n)
{
    for (int i = 0; i < n; i++)
        if (v[i]) {
            (void)SQLFreeHandle(SQL_HANDLE_STMT, v[i]);
            v[i] = SQL_NULL_HSTMT;
        }
}

void sqllock__odbc_register(struct odbc_state *s, SQLHSTMT *stmts, int n)
{
    s->more = stmts;
    s->nmore = n;
}

void sqllock__odbc_stmts_free(struct odbc_state *s)
{
    free_stmts(s->stmt, ODBC_STMT_MAX);
    if (s->more)
        free_stmts(s->more, s->nmore);
}

void sqllock__odbc_state_free(struct odbc_state *s)
{
    if (!s)
        return;
    watcher_end(s, 1);
    /* The registered statements are gone already: their backend ended first. */
    free_stmts(s->stmt, ODBC_STMT_MAX);
    if (s->owned && s->dbc) {
        (void)SQLDisconnect(s->dbc);
        (void)SQLFreeHandle(SQL_HANDLE_DBC, s->dbc);
    }
    if (s->env)
        (void)SQLFreeHandle(SQL_HANDLE_ENV, s->env);
    free_own(s);
}

/*
 * ODBC has no way to close a connection without a word to the server
 * (psqlODBC's SQLDisconnect is libpq's PQfinish, a Terminate on the socket
 * the parent shares), and the driver does not say which descriptor is its
 * socket. So in a child no ODBC function is called at all: the driver's
 * handles stay allocated (the driver manager still lists them) and its copy
 * of the socket stays open until the process exits or execs (libpq marks it
 * close-on-exec). SQLite's file is not touched either.
 */
void sqllock__odbc_state_abandon(struct odbc_state *s)
{
    if (!s)
        return;
    watcher_end(s, 0);
    free_own(s);
}

/*
 * What check and still_held know without asking the server, the same for
 * every ODBC backend: a dead connection holds nothing, and a transaction
 * lock ends with its transaction (autocommit on means none is open).
 */
sqllock_status sqllock__odbc_check(sqllock_client *c, sqllock_lock *l, odbc_held_fn held)
{
    struct odbc_state *s = c->be_state;
    if (sqllock__odbc_dead(s))
        return sqllock__fail(c, SQLLOCK_LOST,
                             "check: the connection was lost, and the lock "
                             "with it");
    if (l->scope == SQLLOCK_TRANSACTION && sqllock__odbc_autocommit(s))
        return sqllock__fail(c, SQLLOCK_LOST,
                             "check: the transaction that held the lock has "
                             "ended");
    int h = held(c, l, "check");
    if (h == SQLLOCK_ECONNECT)
        return sqllock__fail(c, SQLLOCK_LOST,
                             "check: the connection was lost, and the lock "
                             "with it");
    if (h < 0)
        return (sqllock_status)h;
    return h ? SQLLOCK_OK
             : sqllock__fail(c, SQLLOCK_LOST, "check: the session no longer holds the lock");
}

int sqllock__odbc_still_held(sqllock_client *c, const sqllock_lock *e, odbc_held_fn held)
{
    struct odbc_state *s = c->be_state;
    if (sqllock__odbc_dead(s))
        return 0;
    if (e->kind != SQLLOCK_ENTRY_FOREIGN && e->scope == SQLLOCK_TRANSACTION &&
        sqllock__odbc_autocommit(s))
        return 0;
    return held(c, e, "acquire");
}

int sqllock__odbc_in_transaction(sqllock_client *c)
{
    return !sqllock__odbc_autocommit(c->be_state);
}
