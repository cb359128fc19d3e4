/* SPDX-License-Identifier: MIT */
/*
 * Internal to the library: the libpq transport, which the backends over
 * libpq (pg-advisory, leases) hold and call, and which knows none of them.
 * It opens or attaches a connection (pq_conn.c) and runs exchanges on it
 * (pq_exec.c): an exchange is one pipeline (one network round trip) of
 * statements, read back step by step while watching the client's cancel
 * pipe, so that a blocking wait can be canceled and a timed wait is bounded
 * by the server. Backends register their statements at install; the
 * transport prepares each on a connection of ours the first time it is
 * sent (in the same round trip), so a program pays only for the statements
 * it runs. An exchange can stop wherever it would wait (nonblocking) and
 * say what it waits for; the blocking ones wait in sqllock__wait.
 */
#ifndef SQLLOCK_PQ_INT_H
#define SQLLOCK_PQ_INT_H

#include <libpq-fe.h>

#include "sqllock_int.h"

/* A backend's statements: n names and texts, indexed alike. On a
   connection the caller lent us, a set is prepared at attach when
   at_attach, else sent as text every time (its tables may not exist yet,
   and the caller's search_path may change which ones it means). */
#define PQ_STMT_MAX 32
struct pq_stmts {
    const char *const *name;
    const char *const *sql;
    int n; /* at most PQ_STMT_MAX */
    int at_attach;
};

#define PQ_STMT_SETS 2

struct pq_state {
    PGconn *conn;
    PGcancel *cancel;               /* built before any wait, used by the waiter */
    struct sqllock_secrets secrets; /* strings never to show in a message */
    int owned;                      /* opened by us: PQfinish when the client closes it */
    char *conninfo;                 /* ours: what it was opened with, to reopen it */
    int pooled;                     /* a pooler is in the path: no session state of ours lasts */
    int standby;                    /* the server is in recovery */
    const struct pq_stmts *sets[PQ_STMT_SETS]; /* registered by the backends */
    int nsets;
    char have[PQ_STMT_SETS][PQ_STMT_MAX]; /* prepared on conn, by set and index */
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
    int sent;     /* steps sent, and read back */
    int read;
    /* The steps preceded by a Parse of ours (bit = step), and which
       statement each prepared, so that a failed Parse is not taken for a
       prepared statement. */
    uint32_t parsed;
    unsigned char parse_set[32], parse_idx[32];
    int broken; /* the connection failed */
    int failed; /* some step failed; the first one is recorded */
    char sqlstate[6];
    char msg[512];
    /* Reading without blocking: a step read in part resumes where it
       stopped, and wait says what it stopped for. */
    int nonblocking;
    int in_step, parse_read;
    struct pqx_step scratch; /* steps nobody reads, judged at the end */
    struct sqllock_wait wait;
};

/* pq_exec.c */
/* 1 while the connection is up. */
int sqllock__pq_connected(const struct pq_state *s);
/* 1 when a notification of channel with payload has arrived; consumes
   them on a connection of ours, leaves them to the owner of another. */
int sqllock__pq_notified(struct pq_state *s, const char *channel, const char *payload);
/* Runs a script of several statements (simple protocol). On failure a
   transaction it left open or failed is rolled back, so the session is as
   usable as before; ESERVER or ECONNECT with the server's message. */
sqllock_status sqllock__pq_run_script(sqllock_client *c, struct pq_state *s, const char *script,
                                      const char *what);
/* Runs sql (no parameters) and calls row for each row, with its first
   nvalues columns as text, until row returns other than OK. */
typedef sqllock_status (*pq_row_fn)(void *arg, const char *const *values, int nvalues);
sqllock_status sqllock__pq_each_row(sqllock_client *c, struct pq_state *s, const char *sql,
                                    pq_row_fn row, void *arg, const char *what);
/* Starts an exchange; fails with ESTATE if conn is busy or ECONNECT if bad. */
sqllock_status sqllock__pqx_begin(struct pqx *x, sqllock_client *c, struct pq_state *s,
                                  int cancelable);
/* Starts an exchange of exactly one statement, which needs no pipeline. */
sqllock_status sqllock__pqx_begin_one(struct pqx *x, sqllock_client *c, struct pq_state *s);
/* Statement i of a registered set: prepared (on first use, in this
   exchange) unless s is pooled or lent and the set is not at_attach. */
void sqllock__pqx_send(struct pqx *x, const struct pq_stmts *set, int i, int nparams,
                       const char *const *params);
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
/* From now on the exchange never waits: sqllock__pqx_collect and
   sqllock__pqx_finish return 0 where they would, with x->wait set, and
   are called again to go on. */
void sqllock__pqx_nonblocking(struct pqx *x);
/* Reads steps into r[i] (i counting from the exchange's first) until n
   have been read: 1, or 0 when it must wait first. */
int sqllock__pqx_collect(struct pqx *x, struct pqx_step *r, int n);
/* sqllock__pqx_end: 1 when done, 0 when it must wait first. */
int sqllock__pqx_finish(struct pqx *x);
/* 1 when the exchange failed because a statement of ours was not, or
   already, prepared (26000, 42P05): sqllock__pq_prepare_all, then again. */
int sqllock__pqx_stale(const struct pqx *x);
/* Turns the exchange's first error into a status and message on c. */
sqllock_status sqllock__pqx_fail(struct pqx *x, const char *what);
/* Turns a failed PGresult (which it clears) into a status and message. */
sqllock_status sqllock__pq_fail_result(sqllock_client *c, struct pq_state *s, PGresult *r,
                                       const char *what);
/* PQTRANS_* of the connection. */
int sqllock__pq_txn(const struct pq_state *s);
/* Sends a request to cancel what conn is running; async-signal-unsafe. */
void sqllock__pq_cancel_now(struct pq_state *s);
/* Ends a connection of ours that stopped answering, without a word to the
   server (which may never read one): the statement in flight then fails
   as on a broken connection, and the next acquire reconnects. A lent
   connection is the caller's: left alone. */
void sqllock__pq_sever(struct pq_state *s);

/* pq_conn.c */
/* Opens a connection of our own, with the defaults a lock holder needs,
   and learns what is behind it (standby, pooler): *out on OK. */
sqllock_status sqllock__pq_open(sqllock_client *c, const char *conninfo, struct pq_state **out);

/* The same without blocking: started by sqllock__pq_open_start, then
   stepped by sqllock__pq_open_step to its end: OK with o->s the open
   connection, or the error with nothing left (PENDING with *w set
   meanwhile). connect_timeout bounds the whole of it (libpq's blocking
   connect bounds each host). */
struct pq_identify {
    struct pqx x;
    struct pqx_step r;
    char pid[16];
    char chosen[1024];
};
struct pq_opening {
    struct pq_state *s;
    int ambiguous; /* its messages must mask quoted fragments */
    int started;   /* PQconnectPoll has been called */
    int events;    /* what to wait for before its first call */
    int identifying;
    int timeout_s;        /* connect_timeout, per host as libpq applies it */
    int first_host;       /* where in the host list the current attempt began */
    const char *cur_host; /* PQhost() when the deadline was set: a new host
                             (libpq moved on) gets a deadline of its own */
    long long deadline;   /* -1: none */
    struct pq_identify id;
};
sqllock_status sqllock__pq_open_start(sqllock_client *c, const char *conninfo,
                                      struct pq_opening *o);
sqllock_status sqllock__pq_open_step(sqllock_client *c, struct pq_opening *o,
                                     struct sqllock_wait *w);

/* Opens a connection of ours again after it broke, as the first open did
   (settings, standby and pooler checks; statements are prepared anew as
   they are first sent), and puts it in s's place: OK, or the connect's
   error with s still broken. */
sqllock_status sqllock__pq_reconnect(sqllock_client *c, struct pq_state *s);
/* The same without blocking (struct pq_opening *o): start, then steps. */
sqllock_status sqllock__pq_reconnect_step(sqllock_client *c, struct pq_state *s,
                                          struct pq_opening *o, int start,
                                          struct sqllock_wait *w);
/* The same for the caller's connection, which stays the caller's. */
sqllock_status sqllock__pq_attach(sqllock_client *c, PGconn *conn, struct pq_state **out);
/* Adds a backend's statements to those s knows. */
void sqllock__pq_register(struct pq_state *s, const struct pq_stmts *set);
/* Learns which registered statements exist on the session (after DISCARD
   ALL, DEALLOCATE ALL, or a session that was not new); on a connection we
   were lent, also prepares those of the at_attach sets that are missing.
   On ours the rest are prepared as they are first sent. */
sqllock_status sqllock__pq_prepare_all(sqllock_client *c, struct pq_state *s);
/* How the client closes s (sqllock_client.conn_ops). */
extern const struct sqllock_conn_ops sqllock__pq_conn_ops;

/* pg_advisory_pq.c */
/* Installs pg-advisory on c over s (be, be_state) and registers its
   statements with s. */
void sqllock__pg_advisory_install(sqllock_client *c, struct pq_state *s);
/* Records the advisory locks the session holds as foreign entries of c. */
sqllock_status sqllock__pg_snapshot_held(sqllock_client *c, struct pq_state *s);

/* lease_pq.c: installs the lease backend on c, over s. */
sqllock_status sqllock__lease_pq_install(sqllock_client *c, struct pq_state *s);

#endif /* SQLLOCK_PQ_INT_H */
