/* SPDX-License-Identifier: MIT */
/*
 * Internal to the library: the libpq transport shared by the pg-advisory
 * backend. An exchange is one pipeline (one network round trip) of prepared
 * statements, read back step by step while watching the client's cancel
 * pipe, so that a blocking wait can be canceled and a timed wait is bounded
 * by the server.
 */
#ifndef SQLLOCK_PQ_INT_H
#define SQLLOCK_PQ_INT_H

#include <libpq-fe.h>

#include "sqllock_int.h"

struct pq_state {
    PGconn *conn;
    PGcancel *cancel;               /* built before any wait, used by the waiter */
    struct sqllock_secrets secrets; /* strings never to show in a message */
    int prepared;                   /* our statements exist on conn */
    int owned;                      /* opened by us: closed by sqllock__pq_state_free */
    int pooled;                     /* a pooler is in the path: no session state of ours lasts */
};

#define PQX_VALUES 2
#define PQX_VALUE_MAX 64

/* What one step of an exchange produced. */
struct pqx_step {
    int ok;                                /* 1 done, 0 failed, -1 skipped */
    char value[PQX_VALUES][PQX_VALUE_MAX]; /* first row, text form */
};

struct pqx {
    sqllock_client *c;
    struct pq_state *s;
    int cancelable; /* watch the cancel pipe while reading */
    int single;     /* one statement, outside pipeline mode */
    int canceled;   /* sqllock_cancel was called during the exchange */
    int cancels_sent;
    long long next_cancel_ms;
    int unsynced; /* steps sent since the last sync */
    int syncs;    /* syncs sent and not yet read back */
    int broken;   /* the connection failed */
    int failed;   /* some step failed; the first one is recorded */
    char sqlstate[6];
    char msg[512];
};

/* pq_exec.c */
/* Starts an exchange; fails with ESTATE if conn is busy or ECONNECT if bad. */
sqllock_status sqllock__pqx_begin(struct pqx *x, sqllock_client *c, struct pq_state *s,
                                  int cancelable);
/* Starts an exchange of exactly one statement, which needs no pipeline. */
sqllock_status sqllock__pqx_begin_one(struct pqx *x, sqllock_client *c, struct pq_state *s);
/* Statement stmt of sqllock__pg_stmt_name/sqllock__pg_stmt_sql, prepared unless s is pooled. */
void sqllock__pqx_send(struct pqx *x, int stmt, int nparams, const char *const *params);
/* An unnamed statement, for what runs too rarely to be worth preparing. */
void sqllock__pqx_send_sql(struct pqx *x, const char *sql, int nparams,
                           const char *const *params);
void sqllock__pqx_send_prepare(struct pqx *x, const char *name, const char *sql);
/* Asks the server to send what it has so far (before a step that waits). */
void sqllock__pqx_flush_request(struct pqx *x);
void sqllock__pqx_sync(struct pqx *x);
/* Sends what is queued; reads the next step's results into *r. */
void sqllock__pqx_read(struct pqx *x, struct pqx_step *r);
/* Reads to the end of the pipeline and leaves pipeline mode. */
void sqllock__pqx_end(struct pqx *x);
/* Turns the exchange's first error into a status and message on c. */
sqllock_status sqllock__pqx_fail(struct pqx *x, const char *what);
/* Turns a failed PGresult (which it clears) into a status and message. */
sqllock_status sqllock__pq_fail_result(sqllock_client *c, struct pq_state *s, PGresult *r,
                                       const char *what);
/* PQTRANS_* of the connection. */
int sqllock__pq_txn(const struct pq_state *s);
/* Sends a request to cancel what conn is running; async-signal-unsafe. */
void sqllock__pq_cancel_now(struct pq_state *s);

/* pq_conn.c */
/* Prepares every statement of the backend on conn (one round trip). */
sqllock_status sqllock__pq_prepare_all(sqllock_client *c, struct pq_state *s);
void sqllock__pq_state_free(struct pq_state *s);
/* sqllock__pq_state_free in a process that shares conn with the one that opened it
   (a child after fork()): nothing reaches the server. */
void sqllock__pq_state_abandon(struct pq_state *s);

/* lease_pq.c: installs the lease backend on c, over conn. */
sqllock_status sqllock__lease_pq_install(sqllock_client *c, struct pq_state *conn);

/* pg_advisory_pq.c */
extern const struct sqllock_backend sqllock__pg_advisory;
/* The statements the backend prepares: names and SQL, sqllock__pg_stmt_count
   (at most PG_STMT_MAX) of each. */
#define PG_STMT_MAX 32
extern const char *const sqllock__pg_stmt_name[];
extern const char *const sqllock__pg_stmt_sql[];
extern const int sqllock__pg_stmt_count;
/* Records the advisory locks the session holds as foreign entries of c. */
sqllock_status sqllock__pg_snapshot_held(sqllock_client *c, struct pq_state *s);

#endif /* SQLLOCK_PQ_INT_H */
