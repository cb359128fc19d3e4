/* SPDX-License-Identifier: MIT */
/*
 * Exchanges with a PostgreSQL server over libpq: a pipeline of prepared
 * statements sent in one write and read back one step at a time. Reading
 * never blocks inside libpq: it polls the socket together with the client's
 * cancel pipe, so sqllock_cancel() (even from a signal handler) can end a
 * wait that the server is doing.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "pq_int.h"


int sqllock__pq_connected(const struct pq_state *s)
{
    return PQstatus(s->conn) == CONNECTION_OK;
}

int sqllock__pq_txn(const struct pq_state *s)
{
    return (int)PQtransactionStatus(s->conn);
}

void sqllock__pq_cancel_now(struct pq_state *s)
{
    char err[256];
    if (s->cancel)
        (void)PQcancel(s->cancel, err, sizeof(err));
}

void sqllock__pq_sever(struct pq_state *s)
{
    if (s->owned && PQsocket(s->conn) >= 0)
        (void)shutdown(PQsocket(s->conn), SHUT_RDWR);
}

static void record(struct pqx *x, const char *sqlstate, const char *msg)
{
    if (x->failed)
        return;
    x->failed = 1;
    snprintf(x->sqlstate, sizeof(x->sqlstate), "%s", sqlstate ? sqlstate : "");
    /* libpq messages end in a newline and may span lines; keep the first. */
    size_t n = strcspn(msg ? msg : "", "\n");
    snprintf(x->msg, sizeof(x->msg), "%.*s", (int)n, msg ? msg : "");
}

static void broke(struct pqx *x)
{
    x->broken = 1;
    record(x, "08006", PQerrorMessage(x->s->conn));
}

static sqllock_status begin(struct pqx *x, sqllock_client *c, struct pq_state *s, int cancelable,
                            int pipeline)
{
    memset(x, 0, sizeof(*x));
    x->c = c;
    x->s = s;
    x->cancelable = cancelable;
    x->single = !pipeline;
    if (PQstatus(s->conn) != CONNECTION_OK) {
        broke(x);
        return SQLLOCK_ECONNECT;
    }
    if (PQtransactionStatus(s->conn) == PQTRANS_ACTIVE ||
        PQpipelineStatus(s->conn) != PQ_PIPELINE_OFF ||
        (pipeline && !PQenterPipelineMode(s->conn)))
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "the connection is busy with another query "
                             "or in pipeline mode");
    return SQLLOCK_OK;
}

sqllock_status sqllock__pqx_begin(struct pqx *x, sqllock_client *c, struct pq_state *s,
                                  int cancelable)
{
    return begin(x, c, s, cancelable, 1);
}

sqllock_status sqllock__pqx_begin_one(struct pqx *x, sqllock_client *c, struct pq_state *s)
{
    return begin(x, c, s, 0, 0);
}

static int set_index(const struct pq_state *s, const struct pq_stmts *set)
{
    for (int k = 0; k < s->nsets; k++)
        if (s->sets[k] == set)
            return k;
    return -1;
}

/* Sends a Parse of statement i of set k before the step about to be sent:
   the exchange then runs in a pipeline (an exchange of one statement
   enters it now; nothing has been sent yet). 0 when it cannot. */
static int send_parse(struct pqx *x, int k, int i)
{
    if (x->sent >= 32)
        return 0;
    if (x->single) {
        if (x->sent || !PQenterPipelineMode(x->s->conn))
            return 0;
        x->single = 0;
    }
    const struct pq_stmts *set = x->s->sets[k];
    if (!PQsendPrepare(x->s->conn, set->name[i], set->sql[i], 0, NULL)) {
        broke(x);
        return 0;
    }
    x->parsed |= UINT32_C(1) << x->sent;
    x->parse_set[x->sent] = (unsigned char)k;
    x->parse_idx[x->sent] = (unsigned char)i;
    x->s->have[k][i] = 1; /* taken back if the Parse fails */
    return 1;
}

void sqllock__pqx_send(struct pqx *x, const struct pq_stmts *set, int i, int nparams,
                       const char *const *params)
{
    /* Behind a pooler our prepared statements may live on another server
       session than the next transaction's: send the text every time; so
       too for a lent connection's sets that are not prepared at attach. */
    struct pq_state *s = x->s;
    int k = set_index(s, set);
    int text = s->pooled || k < 0 || (!s->owned && !set->at_attach);
    if (!text && !s->have[k][i] && !(s->owned && send_parse(x, k, i)))
        text = 1;
    int sent =
        text ? PQsendQueryParams(s->conn, set->sql[i], nparams, NULL, params, NULL, NULL, 0)
             : PQsendQueryPrepared(s->conn, set->name[i], nparams, params, NULL, NULL, 0);
    if (!x->broken && !sent)
        broke(x);
    x->unsynced = 1;
    x->sent++;
}

void sqllock__pqx_send_sql(struct pqx *x, const char *sql, int nparams,
                           const char *const *params)
{
    if (!x->broken && !PQsendQueryParams(x->s->conn, sql, nparams, NULL, params, NULL, NULL, 0))
        broke(x);
    x->unsynced = 1;
    x->sent++;
}

void sqllock__pqx_send_prepare(struct pqx *x, const char *name, const char *sql)
{
    if (!x->broken && !PQsendPrepare(x->s->conn, name, sql, 0, NULL))
        broke(x);
    x->unsynced = 1;
    x->sent++;
}

void sqllock__pqx_flush_request(struct pqx *x)
{
    if (!x->broken && !PQsendFlushRequest(x->s->conn))
        broke(x);
}

void sqllock__pqx_sync(struct pqx *x)
{
    if (x->single)
        return; /* outside pipeline mode libpq sends Sync with the statement */
    if (!x->broken && !PQpipelineSync(x->s->conn))
        broke(x);
    x->unsynced = 0;
    x->syncs++;
}

/*
 * The exchange needs input (and, when writing, to send what is queued)
 * before it can go on: x->wait says what to wait for. A cancel request
 * makes us ask the server to cancel, and ask again with backoff while no
 * answer comes: PostgreSQL drops a cancel that arrives while it is still
 * reading the statement, so one request can be lost in that instant. The
 * price: a request re-sent just as the statement completes can still land
 * on the session's next statement; we stop re-sending the moment an
 * answer comes, which keeps that window to one request's flight time.
 */
static void want_input(struct pqx *x, int writing)
{
    if (x->cancelable && sqllock__cancel_take(x->c))
        x->canceled = 1;
    if (x->canceled && (x->cancels_sent == 0 || sqllock__now_ms() >= x->next_cancel_ms)) {
        sqllock__pq_cancel_now(x->s);
        x->next_cancel_ms = sqllock__now_ms() + sqllock__cancel_backoff_ms(x->cancels_sent++);
    }
    x->wait.fd = PQsocket(x->s->conn);
    x->wait.events = SQLLOCK_EV_READ | (writing ? SQLLOCK_EV_WRITE : 0);
    x->wait.until_ms = x->cancels_sent ? x->next_cancel_ms : -1;
    x->wait.cancelable = x->cancelable;
}

/* The next result of the pipeline into *res (NULL between steps): 1, or 0
   when a non-blocking exchange must wait first. Sets broken on failure. */
static int next_result(struct pqx *x, PGresult **res)
{
    PGconn *conn = x->s->conn;
    *res = NULL;
    for (;;) {
        int unsent = PQflush(conn);
        if (unsent < 0) {
            broke(x);
            return 1;
        }
        if (!unsent && !PQisBusy(conn))
            break;
        if (!PQconsumeInput(conn)) {
            broke(x);
            return 1;
        }
        if (!unsent && !PQisBusy(conn))
            break;
        want_input(x, unsent);
        if (x->nonblocking)
            return 0;
        if (sqllock__wait(x->c, &x->wait) == SQLLOCK_WOKE_FAILED) {
            broke(x);
            return 1;
        }
    }
    *res = PQgetResult(conn);
    if (PQstatus(conn) != CONNECTION_OK && !x->broken)
        broke(x);
    return 1;
}

/* Reads the results of one step into *r: 1 once read, 0 when it must wait
   (a later call goes on where this one stopped). */
static int read_step(struct pqx *x, struct pqx_step *r)
{
    if (!x->in_step) {
        memset(r, 0, sizeof(*r));
        r->ok = -1;
        x->in_step = 1;
    }
    PGresult *res;
    while (!x->broken) {
        if (!next_result(x, &res))
            return 0;
        if (!res)
            break;
        switch (PQresultStatus(res)) {
        case PGRES_TUPLES_OK:
            for (int i = 0; i < PQX_VALUES && i < PQnfields(res) && PQntuples(res) > 0; i++) {
                const char *v = PQgetvalue(res, 0, i);
                size_t n = strnlen(v, PQX_VALUE_MAX - 1);
                memcpy(r->value[i], v, n);
                r->value[i][n] = '\0';
            }
            /* fall through */
        case PGRES_COMMAND_OK: r->ok = 1; break;
        case PGRES_PIPELINE_ABORTED: r->ok = -1; break;
        case PGRES_PIPELINE_SYNC:
            /* A step read after its sync: it was never sent. */
            x->syncs--;
            PQclear(res);
            x->in_step = 0;
            return 1;
        default: {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            r->ok = 0;
            record(x, state, msg ? msg : PQresultErrorMessage(res));
            break;
        }
        }
        PQclear(res);
    }
    x->in_step = 0;
    return 1;
}

/* Reads step x->read, after the Parse of ours that went before it, if
   any: a failed Parse is taken back from what the session has. */
static int read_next(struct pqx *x, struct pqx_step *r)
{
    int step = x->read;
    if (!x->parse_read && step < 32 && (x->parsed & (UINT32_C(1) << step))) {
        if (!read_step(x, r))
            return 0;
        if (r->ok != 1)
            x->s->have[x->parse_set[step]][x->parse_idx[step]] = 0;
        x->parse_read = 1;
    }
    if (!read_step(x, r))
        return 0;
    x->parse_read = 0;
    x->read++;
    return 1;
}

void sqllock__pqx_nonblocking(struct pqx *x)
{
    x->nonblocking = 1;
}

void sqllock__pqx_read(struct pqx *x, struct pqx_step *r)
{
    (void)read_next(x, r);
}

int sqllock__pqx_collect(struct pqx *x, struct pqx_step *r, int n)
{
    while (x->read < n)
        if (!read_next(x, &r[x->read]))
            return 0;
    return 1;
}

int sqllock__pqx_finish(struct pqx *x)
{
    PGconn *conn = x->s->conn;
    if (x->unsynced && !x->single)
        sqllock__pqx_sync(x);
    /* Steps the caller did not read: a Parse among them must be judged. */
    while (!x->broken && x->read < x->sent && x->syncs > 0)
        if (!read_next(x, &x->scratch))
            return 0;
    /* Read up to the last sync, so the connection is idle for its owner. */
    while (!x->broken && x->syncs > 0) {
        PGresult *res;
        if (!next_result(x, &res))
            return 0;
        if (!res)
            continue;
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_PIPELINE_SYNC)
            x->syncs--;
        else if (st == PGRES_FATAL_ERROR)
            record(x, PQresultErrorField(res, PG_DIAG_SQLSTATE),
                   PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
        PQclear(res);
    }
    if (x->broken) {
        /* Nothing more will come on a dead connection; drop what is queued. */
        PGresult *res;
        for (int i = 0; i < 64 && (res = PQgetResult(conn)) != NULL; i++)
            PQclear(res);
    }
    if (!x->single)
        (void)PQexitPipelineMode(conn);
    return 1;
}

void sqllock__pqx_end(struct pqx *x)
{
    (void)sqllock__pqx_finish(x);
}

int sqllock__pqx_stale(const struct pqx *x)
{
    return !x->broken &&
           (strcmp(x->sqlstate, "26000") == 0 || strcmp(x->sqlstate, "42P05") == 0);
}

sqllock_status sqllock__pqx_fail(struct pqx *x, const char *what)
{
    sqllock_client *c = x->c;
    char clean[sizeof(x->msg)];
    sqllock__redact(clean, sizeof(clean), x->msg, &x->s->secrets, 0);
    sqllock__set_errcode(c, x->sqlstate);
    if (x->broken)
        return sqllock__fail(c, SQLLOCK_ECONNECT,
                             "%s: the connection to the server was "
                             "lost: %s",
                             what, clean[0] ? clean : "no detail");
    if (strcmp(x->sqlstate, "55P03") == 0)
        return sqllock__fail(c, SQLLOCK_TIMEOUT, "%s: timed out waiting for the lock", what);
    if (strcmp(x->sqlstate, "57014") == 0)
        return sqllock__fail(c, SQLLOCK_CANCELED, "%s: %s", what,
                             x->canceled ? "wait canceled by sqllock_cancel()"
                                         : "statement canceled by the server");
    if (strcmp(x->sqlstate, "40P01") == 0)
        return sqllock__fail(c, SQLLOCK_DEADLOCK, "%s: deadlock detected: %s", what, clean);
    if (strcmp(x->sqlstate, "25P02") == 0)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "%s: the connection's transaction has "
                             "failed; ROLLBACK first",
                             what);
    return sqllock__fail(c, SQLLOCK_ESERVER, "%s: server error %s: %s", what, x->sqlstate,
                         clean);
}

sqllock_status sqllock__pq_fail_result(sqllock_client *c, struct pq_state *s, PGresult *r,
                                       const char *what)
{
    char clean[512];
    sqllock__redact(clean, sizeof(clean), PQresultErrorMessage(r), &s->secrets, 0);
    clean[strcspn(clean, "\n")] = '\0';
    sqllock__set_errcode(c, PQresultErrorField(r, PG_DIAG_SQLSTATE));
    PQclear(r);
    return sqllock__fail(c,
                         PQstatus(s->conn) == CONNECTION_OK ? SQLLOCK_ESERVER : SQLLOCK_ECONNECT,
                         "%s: %s", what, clean);
}

int sqllock__pq_notified(struct pq_state *s, const char *channel, const char *payload)
{
    if (!s->owned)
        return 0;
    int hit = 0;
    PGnotify *n;
    while ((n = PQnotifies(s->conn)) != NULL) {
        if (strcmp(n->relname, channel) == 0 && strcmp(n->extra, payload) == 0)
            hit = 1;
        PQfreemem(n);
    }
    return hit;
}

sqllock_status sqllock__pq_run_script(sqllock_client *c, struct pq_state *s, const char *script,
                                      const char *what)
{
    PGresult *r = PQexec(s->conn, script);
    if (PQresultStatus(r) == PGRES_COMMAND_OK) {
        PQclear(r);
        return SQLLOCK_OK;
    }
    sqllock_status st = sqllock__pq_fail_result(c, s, r, what);
    int txn = PQtransactionStatus(s->conn);
    if (txn == PQTRANS_INERROR || txn == PQTRANS_INTRANS)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    return st;
}

sqllock_status sqllock__pq_each_row(sqllock_client *c, struct pq_state *s, const char *sql,
                                    pq_row_fn row, void *arg, const char *what)
{
    PGresult *r = PQexec(s->conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return sqllock__pq_fail_result(c, s, r, what);
    sqllock_status st = SQLLOCK_OK;
    int nf = PQnfields(r) < PQX_VALUES ? PQnfields(r) : PQX_VALUES;
    for (int i = 0; i < PQntuples(r) && st == SQLLOCK_OK; i++) {
        const char *v[PQX_VALUES] = {NULL};
        for (int k = 0; k < nf; k++)
            v[k] = PQgetvalue(r, i, k);
        st = row(arg, v, nf);
    }
    PQclear(r);
    return st;
}
