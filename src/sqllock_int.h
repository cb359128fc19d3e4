/* SPDX-License-Identifier: MIT */
/*
 * Internal to the library: the core's view of clients and locks, and the
 * table of functions through which it drives a backend. Never installed.
 *
 * Division of labour: the core checks arguments, owns every allocation and
 * the error buffer, and keeps the set of locks a client holds (so re-entry is
 * refused the same way on every backend). A backend only talks to its
 * server; it sees a lock as its identity plus mode and scope.
 *
 * The files, top to bottom. A file calls only files below its own row
 * (and on it); the API row calls no connector, and reaches backends only
 * through the vtable a connector installed, never by name. ci::symbols
 * (tests/ci/symbols.sh) checks the transport row with nm.
 *   connect.c            sqllock_connect: picks the connector by the URL's form
 *   lock.c, once.c       the public lock and run-once API; lock.c routes a
 *                        lock to a backend by its capability bits (caps)
 *   acquire_all.c        several locks at once, all or none, in key order,
 *                        over lock.c's two halves of an acquire
 *   nonblock.c           the non-blocking API: holds the operation in
 *                        flight between the caller's polls, which step it
 *                        through the backend's step function
 *   pg_connect.c         connector over libpq (open, attach): opens the
 *                        transport, installs pg-advisory and leases on it
 *   odbc_conn.c          connector over ODBC: opens or attaches, installs
 *                        the row of odbc_dbms.c the DBMS (or backend=) picks
 *   odbc_dbms.c          the ODBC DBMS table: per DBMS its backend, lease
 *                        dialect, error codes, setup
 *   pg_advisory_pq.c, lease_pq.c          backends over libpq
 *   pg_advisory_odbc.c, mssql_applock_odbc.c, lease_odbc.c
 *                        backends over ODBC: one vtable each (struct
 *                        sqllock_backend), with lease_owner.c, mssql_name.c
 *   pq_conn.c, pq_exec.c the libpq transport (pq_int.h): connection,
 *                        statements the backends registered, exchanges
 *                        that stop where they would wait
 *   odbc_exec.c, odbc_connstr.c
 *                        the ODBC transport (odbc_int.h)
 *   client.c, op.c, held.c, status.c, redact.c, keyhash.c, sha256.c
 *                        the client object, its error and cancel pipe, the
 *                        one wait (sqllock__wait), an operation's blocking
 *                        loop (op.c), the held set, hashing: called from
 *                        every row above,
 *                        they call backends only through the vtable and the
 *                        connection through conn_ops (client_free)
 */
#ifndef SQLLOCK_INT_H
#define SQLLOCK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sqllock.h"

#if defined(__GNUC__)
#define SQLLOCK_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SQLLOCK_PRINTF(f, a)
#endif

#define SQLLOCK_ERRMSG_MAX 1024
/* The longest ttl a lease may have: keeps expiry arithmetic in range. */
#define SQLLOCK_TTL_MAX_MS (366LL * 24 * 3600 * 1000)

/* What a held-set entry stands for. */
enum sqllock_entry_kind {
    SQLLOCK_ENTRY_LIVE,    /* a handle the caller owns */
    SQLLOCK_ENTRY_RETIRED, /* a released transaction lock, held until the
                               transaction ends; no handle refers to it */
    SQLLOCK_ENTRY_FOREIGN, /* held by the session before it was attached */
    SQLLOCK_ENTRY_ENDED    /* a handle whose transaction ended; no longer
                               in the set */
};

/* The key space of an identity. PostgreSQL has two for advisory locks: the
   int8 key K and the int4 pair (K >> 32, K & 0xffffffff) are different
   server locks (pg_locks.objsubid 1 and 2), so the space is part of the
   identity. Names and int8 keys are in SQLLOCK_SPACE_INT8. */
enum sqllock_key_space { SQLLOCK_SPACE_INT8 = 0, SQLLOCK_SPACE_PAIR = 1 };

struct sqllock_lock {
    sqllock_client *client;
    const struct sqllock_backend *be;
    sqllock_lock *bucket_next;  /* held-set chain */
    sqllock_lock *prev, *next;  /* every entry of the client */
    uint64_t ident;             /* the server-side identity: same ident,
                                        same lock */
    int64_t token;              /* fencing token, 0 if none */
    int64_t ttl_ms, ttl_min_ms; /* as acquired: 0 unless a lease */
    unsigned char mode, scope, kind, is_key;
    unsigned char space; /* enum sqllock_key_space */
    unsigned char lost;  /* ENDED because the session went, not the transaction */
    unsigned char keep;  /* a lease the library renews (keepalive.c) */
    /* A lease's client-side deadline (sqllock__now_ms() time; read and
       written atomically: sqllock_lease_deadline may run on any thread),
       and when it is next renewed, while keep is set. */
    int64_t deadline_ms, renew_at_ms;
    uint32_t name_len;
    char name[]; /* NUL-terminated */
};

struct sqllock_held {
    sqllock_lock **buckets;
    size_t nbuckets; /* a power of two, or 0 */
    size_t count;
    size_t retired;    /* how many are SQLLOCK_ENTRY_RETIRED */
    sqllock_lock *all; /* list through prev/next */
};

/*
 * What the core asks of a backend. Every member is required unless its
 * comment says it may be NULL. `c` always has be_state set by the backend's
 * own open/attach function, and every call may set the client's error with
 * sqllock__fail().
 */
/* What a backend can do. The core routes a lock and refuses what cannot be
   done by these bits, never by which backend it is. */
enum sqllock_caps {
    /* Locks held until released or the session ends; taken without a ttl. */
    SQLLOCK_CAP_SESSION = 1u << 0,
    /* Locks that expire by their ttl (leases): taken with ttl_ms > 0. */
    SQLLOCK_CAP_EXPIRY = 1u << 1,
    /* Raw numeric keys are locks: int8 keys and int4 pairs
       (sqllock_acquire_key, sqllock_acquire_key_pair). */
    SQLLOCK_CAP_NUMERIC_KEYS = 1u << 2,
    /* SQLLOCK_SHARED: many holders at once. */
    SQLLOCK_CAP_SHARED = 1u << 3,
    /* SQLLOCK_TRANSACTION: locks that end with the caller's transaction. */
    SQLLOCK_CAP_TRANSACTION = 1u << 4,
    /* Closing a connection of our own may not end the locks, so
       sqllock_client_free releases them first: a lease row outlives any
       session, and an ODBC driver manager that pools connections keeps the
       session open (and may hand it to the next SQLDriverConnect). */
    SQLLOCK_CAP_RELEASE_BEFORE_CLOSE = 1u << 5,
    /* Run-once markers (install_schema, once_done, once_mark, once_forget). */
    SQLLOCK_CAP_MARKERS = 1u << 6,
};

/* Everything a failure leaves on a client, kept while cleanup calls (which
   set and clear the client's error themselves) run, and put back after. */
struct sqllock_err {
    sqllock_status status;
    char code[6];
    char msg[SQLLOCK_ERRMSG_MAX];
};

/* What an operation in flight waits for before its next step: the event
   loop's view of it (sqllock_socket, sqllock_events, sqllock_timeout_ms),
   and the blocking calls' (sqllock__wait). */
struct sqllock_wait {
    int fd;             /* -1: none */
    int events;         /* SQLLOCK_EV_READ | SQLLOCK_EV_WRITE */
    long long until_ms; /* step again at this sqllock__now_ms() time; -1: no timer */
    int cancelable;     /* sqllock_cancel() is news for it too */
};

enum sqllock_op_kind {
    SQLLOCK_OP_NONE,
    SQLLOCK_OP_ACQUIRE,
    SQLLOCK_OP_RELEASE,
    SQLLOCK_OP_CHECK,
    SQLLOCK_OP_EXTEND, /* a lease's, with op->wait_ms the ttl */
    SQLLOCK_OP_CONNECT /* a connector's, before any backend is installed */
};

struct sqllock_op;
/* Advances op without blocking: SQLLOCK_PENDING with op->wait set, or the
   outcome. Stage 0 starts it. */
typedef sqllock_status (*sqllock_step_fn)(sqllock_client *c, struct sqllock_op *op);

/* One operation of a backend's step function: started at stage 0, then
   stepped until it returns anything but SQLLOCK_PENDING. Its memory is
   taken at the start and given back at the end, so that a client holds
   none while nothing is in flight. */
struct sqllock_op {
    enum sqllock_op_kind kind;
    sqllock_step_fn step; /* the backend's, or the connector's */
    sqllock_lock *lock;
    int64_t wait_ms; /* an acquire's wait; an extend's ttl */
    int stage;       /* 0 to start; after that the backend's own */
    /* The outcome, once known but not yet taken by sqllock_poll (an
       operation that ended within its _start), and its error. */
    int ended;
    sqllock_status outcome;
    struct sqllock_err *ended_err;
    struct sqllock_wait wait; /* set with every SQLLOCK_PENDING */
    void *space;              /* the backend's op_size bytes */
};

struct sqllock_backend {
    const char *name;
    unsigned caps; /* enum sqllock_caps */

    /* The identity of a name: two names with one identity are one lock. */
    uint64_t (*ident)(const char *name, size_t len);

    /*
     * acquire, release and check: NULL when step is set.
     * Takes l (ident, name, mode and scope filled in), waiting as wait_ms
     * says (0, > 0, or SQLLOCK_WAIT_FOREVER) and returning early with
     * CANCELED when c's cancel pipe becomes readable. Any result other than
     * OK must leave the lock provably not held and the session as it was.
     * May set l->token.
     */
    sqllock_status (*acquire)(sqllock_client *c, sqllock_lock *l, int64_t wait_ms);

    /* Releases l on the server: OK, LOST if it was not held, ESTATE if
       nothing can be sent now (l stays held), or an error. */
    sqllock_status (*release)(sqllock_client *c, sqllock_lock *l);

    /* OK while l is held, LOST once it is not. */
    sqllock_status (*check)(sqllock_client *c, sqllock_lock *l);

    /*
     * Advances op, an acquire (op->lock, op->wait_ms as acquire's), release,
     * check, or extend when the backend has SQLLOCK_CAP_EXPIRY (op->wait_ms
     * the ttl), without blocking: SQLLOCK_PENDING with op->wait set, or the
     * outcome the blocking member would have returned, with the same
     * guarantees. Stage 0 starts it. NULL when the backend can only block
     * (the non-blocking calls are then ENOTSUP). A backend that has it
     * leaves acquire, release and check NULL: the blocking calls then run
     * the same steps to their end (sqllock__op_run), so every wait has one
     * implementation.
     */
    sqllock_step_fn step;
    size_t op_size; /* the state step keeps in op->space */

    /* Moves a lease's expiry; NULL when locks do not expire or when step
       does it. */
    sqllock_status (*extend)(sqllock_client *c, sqllock_lock *l, int64_t ttl_ms);

    /*
     * Whether a transaction-scoped or foreign entry of this backend is still
     * held by the session: 1 yes, 0 no, or a negative status. Called only
     * when an acquire collides with such an entry. May be NULL (a backend
     * whose entries are all live session locks, as leases are): the core
     * then refuses the colliding acquire.
     */
    int (*still_held)(sqllock_client *c, const sqllock_lock *entry);

    /* 1 while the transaction in which transaction-scoped locks were taken
       may still be open; 0 once it has certainly ended. */
    int (*in_transaction)(sqllock_client *c);

    /* Frees what the backend keeps on c (be_state, or lease_state for a
       backend with SQLLOCK_CAP_EXPIRY), before the connection closes;
       never the connection, which is the client's (c->conn). NULL when
       there is nothing to free. */
    void (*close)(sqllock_client *c);

    /* As close, in a process that did not make c (a child after fork()),
       whose connection is its parent's too: frees only this process's
       memory, and never calls the driver or sends the server a byte.
       NULL when there is nothing to free. */
    void (*abandon)(sqllock_client *c);

    /* SQLLOCK_CAP_MARKERS only (NULL elsewhere). Each takes the name as bytes. */
    /* Creates the lease and run-once tables if they do not exist. */
    sqllock_status (*install_schema)(sqllock_client *c);
    /* *done = 1 when the run-once marker of name exists. */
    sqllock_status (*once_done)(sqllock_client *c, const char *name, size_t len, int *done);
    /* Records the marker (token: the fencing token of the run, or 0). */
    sqllock_status (*once_mark)(sqllock_client *c, const char *name, size_t len, int64_t token);
    /* Removes the marker; *existed = 1 when there was one. */
    sqllock_status (*once_forget)(sqllock_client *c, const char *name, size_t len, int *existed);

    /* May be NULL. Tries the n session-scoped locks ls[0..n) (prepared as
       for acquire, in key order) in one round trip: OK with every one
       held; BUSY, or any other failure, with none of them held. Called by
       sqllock_acquire_all (acquire_all.c) for wait_ms 0 instead of n tries. */
    sqllock_status (*try_all)(sqllock_client *c, sqllock_lock *const *ls, size_t n);
};

/* How the client closes its connection (a transport object of pq_int.h or
   odbc_int.h), after every backend's close. */
struct sqllock_conn_ops {
    void (*close)(void *conn);
    /* In a child after fork(): frees this process's memory only; the
       server sees nothing. */
    void (*abandon)(void *conn);
    /* The connection's socket, -1 when there is none (or NULL: never one
       to watch). */
    int (*socket)(const void *conn);
    /* Reads what has arrived without blocking, when no operation is in
       flight: 1 while the session lives, 0 once it is gone. NULL: the
       transport cannot tell without a round trip. */
    int (*alive)(void *conn);
    /* A connection of ours that broke opens again, as the first open did:
       OK, or the connect's error with the connection still broken. NULL:
       this transport does not reconnect. Called only when broken says so. */
    sqllock_status (*reconnect)(sqllock_client *c, void *conn);
    /* 1 once the connection is known to be broken (no round trip). */
    int (*broken)(const void *conn);
    /* reconnect without blocking, in reconnect_size bytes of space: start
       (first call) or go on; PENDING with *w set, OK, or the error. */
    size_t reconnect_size;
    sqllock_status (*reconnect_step)(sqllock_client *c, void *conn, void *space, int start,
                                     struct sqllock_wait *w);
};

struct sqllock_client {
    /* The backend of locks without a ttl; on a database without session
       locks (SQLite), the lease backend. NULL when connect failed. */
    const struct sqllock_backend *be;
    void *be_state;
    /* The backend of locks with a ttl (SQLLOCK_CAP_EXPIRY), NULL when the
       connection has none. It may be be itself, and then keeps its state
       in lease_state only. */
    const struct sqllock_backend *lease_be;
    void *lease_state;
    /* The connection both backends run over, given to each at install. */
    void *conn;
    const struct sqllock_conn_ops *conn_ops;
    int owns_connection; /* opened by sqllock_connect */
    long owner_pid;      /* the process that made c */
    int cancel_pipe[2];  /* sqllock_cancel writes, waits poll */
    struct sqllock_held held;
    struct sqllock_op op; /* the operation in flight, if op.kind */
    sqllock_status last_status;
    char errcode[6]; /* SQLSTATE of the last server error */
    char errmsg[SQLLOCK_ERRMSG_MAX];
};

/* client.c */
sqllock_client *sqllock__client_new(void);
/* Frees both backends' state and closes the connection, as
   sqllock_client_free does but leaving c (not connected): where a
   connector undoes a connect that failed half way. */
void sqllock__client_disconnect(sqllock_client *c);
/* CLOCK_MONOTONIC in milliseconds: deadlines and backoff, never ownership. */
long long sqllock__now_ms(void);
/* poll()'s timeout for a wait until until_ms (-1: none): -1 for none, 0
   once it has passed, else the time left, at most a minute (a wait loops). */
int sqllock__poll_ms(long long until_ms);
/* "sqllock[<pid>]@<host>": the application name of a connection we open,
   so that a DBA sees whose session it is. */
void sqllock__appname(char *buf, size_t n);
/* Records a failure on c and returns st. Never put a password in fmt's output. */
sqllock_status sqllock__fail(sqllock_client *c, sqllock_status st, const char *fmt, ...)
    SQLLOCK_PRINTF(3, 4);
/* Sets the SQLSTATE shown by sqllock_errcode (NULL clears it). */
void sqllock__set_errcode(sqllock_client *c, const char *sqlstate);
/* Before a call that needs the server: a connection of ours that broke
   is opened again (blocking), once every lock that went with the old
   session is marked lost (never taken again behind the caller's back).
   OK when there is nothing to do or it worked, else the connect's error. */
sqllock_status sqllock__client_revive(sqllock_client *c);
/* 1 when c's connection is ours, can be reopened, and is broken. */
int sqllock__client_broken(const sqllock_client *c);
/* Empties c's error (message and SQLSTATE; last status OK): where every
   public call that can fail starts. */
void sqllock__err_clear(sqllock_client *c);
/* Where every public call ends: records st as the last status; after an
   OK no message or SQLSTATE is left, whatever steps failed on the way. */
sqllock_status sqllock__done(sqllock_client *c, sqllock_status st);
void sqllock__err_save(const sqllock_client *c, struct sqllock_err *e);
/* Puts e back on c and returns its status. */
sqllock_status sqllock__err_restore(sqllock_client *c, const struct sqllock_err *e);
/* Consumes a pending sqllock_cancel request: 1 if there was one. */
int sqllock__cancel_take(sqllock_client *c);
/* The fd that becomes readable when sqllock_cancel is called. */
int sqllock__cancel_fd(const sqllock_client *c);
/* What sqllock__wait saw first. */
enum sqllock_woke {
    SQLLOCK_WOKE_FAILED = -1,
    SQLLOCK_WOKE_TIMEOUT,
    SQLLOCK_WOKE_READY,
    SQLLOCK_WOKE_CANCEL
};
/* The one wait of the blocking calls: until w's fd is ready, w's timer
   passes or (when w->cancelable) sqllock_cancel() is called, which it
   leaves for the waiter to take. */
enum sqllock_woke sqllock__wait(sqllock_client *c, const struct sqllock_wait *w);
/* op.c: makes op the start of kind on l (lock, wait_ms: an acquire's):
   OK, or ENOMEM with c's error set. */
sqllock_status sqllock__op_begin(sqllock_client *c, struct sqllock_op *op, sqllock_step_fn step,
                                 size_t op_size, enum sqllock_op_kind kind, sqllock_lock *l,
                                 int64_t wait_ms);
/* nonblock.c: the first step of the operation just begun on c:
   SQLLOCK_PENDING (an outcome known at once is kept for the first poll). */
sqllock_status sqllock__op_launch(sqllock_client *c);
/* Gives back what op took; nothing is in flight after. */
void sqllock__op_end(struct sqllock_op *op);
/* Steps op until it ends, waiting in between. */
sqllock_status sqllock__op_block(sqllock_client *c, struct sqllock_op *op);
/* The blocking acquire, release, check or extend (wait_ms: the ttl) of l:
   the backend's step function run to its end (in c->op), or its blocking
   member when it has none. */
sqllock_status sqllock__op_run(sqllock_client *c, enum sqllock_op_kind kind, sqllock_lock *l,
                               int64_t wait_ms);
/* How long to wait before asking the server to cancel again, after sent
   requests: a cancel that lands just before the statement waits is lost. */
int sqllock__cancel_backoff_ms(int sent);
/* OK in the process that made c; elsewhere (a child after fork(), sharing
   the parent's connection) ESTATE with c's error set, naming the owner. */
sqllock_status sqllock__check_owner(sqllock_client *c, const char *what);
/* Where every public call on c starts: as sqllock__check_owner, and
   ESTATE too while an operation is in flight (one at a time). */
sqllock_status sqllock__check_usable(sqllock_client *c, const char *what);

/* Connectors, called by connect.c only: each opens or attaches its transport
   and installs a backend on c (be, be_state, owns_connection), or fails
   through sqllock__fail. */
sqllock_status sqllock__pg_open(sqllock_client *c, const char *conninfo);
/* sqllock__pg_open without blocking: SQLLOCK_PENDING with the connect in
   flight on c (sqllock_poll ends it), or the error. */
sqllock_status sqllock__pg_open_start(sqllock_client *c, const char *conninfo);
/* The ODBC connection string after "odbc:" (builds with SQLLOCK_WITH_ODBC). */
sqllock_status sqllock__odbc_open(sqllock_client *c, const char *connstr);


/* lock.c, shared with nonblock.c: the two halves of acquire, release and
   check around the backend's part, so that the blocking and non-blocking
   calls check and record alike. */
/* Everything an acquire does before the backend: checks, routing, the
   re-entry refusal; *lp (OK) is the lock to take, not yet in the set.
   nonblocking: a backend without a step function is ENOTSUP. */
sqllock_status sqllock__acquire_prepare(sqllock_lock **lp, sqllock_client *c, const char *name,
                                        int is_key, int64_t key, int space,
                                        const sqllock_acquire_opts *opts, int nonblocking);
/* Records the outcome st of taking l: held and in *out on OK, else freed. */
sqllock_status sqllock__acquire_end(sqllock_client *c, sqllock_lock *l, sqllock_status st,
                                    sqllock_lock **out);
/* Before a release or check (kind) of l reaches the backend: OK to go on,
   else the call's outcome (an ended handle is LOST, and a release of it
   done). */
sqllock_status sqllock__handle_prepare(sqllock_lock *l, enum sqllock_op_kind kind);
/* Records the outcome st of the backend's release of l. */
sqllock_status sqllock__release_end(sqllock_lock *l, sqllock_status st);

/* acquire_all.c: the keys of ls[0..n) as an int8[] literal ("{k1,k2}",
   signed), for a backend's try_all; malloc'd, NULL when out of memory. */
char *sqllock__keys_array(sqllock_lock *const *ls, size_t n);

/* keepalive.c */
/* Lease l was taken or renewed, for ttl_ms, by a statement sent at sent_ms
   (sqllock__now_ms()): sets its client-side deadline and next renewal. */
void sqllock__lease_granted(sqllock_lock *l, long long sent_ms, int64_t ttl_ms);
/* The kept-alive lease of c renewed soonest, with *at its time; NULL when
   c keeps none alive. */
sqllock_lock *sqllock__renew_next(const sqllock_client *c, long long *at);
/* What the renewal of l that ended with st means: OK; LOST once the lease
   is gone or its deadline passed unrenewed (the library stops renewing
   it); another failure is st, with a retry scheduled before the deadline. */
sqllock_status sqllock__renew_end(sqllock_lock *l, sqllock_status st);

/* held.c: records a lock the session held before sqllock saw it. */
sqllock_status sqllock__add_foreign(sqllock_client *c, uint64_t ident, int space);

/* held.c */
/* The entry of backend be with this identity in this key space: a lease and
   an advisory lock of one name are two different locks, and so are an int8
   key and the int4 pair of the same bits, so all three are the key. */
sqllock_lock *sqllock__held_find(const struct sqllock_held *h, const struct sqllock_backend *be,
                                 uint64_t ident, int space);
/* Makes room for one more entry, so that the add after a successful
   acquire cannot fail. */
sqllock_status sqllock__held_reserve(struct sqllock_held *h);
void sqllock__held_add(struct sqllock_held *h, sqllock_lock *l);
void sqllock__held_remove(struct sqllock_held *h, sqllock_lock *l);
/* Takes a live entry out of the hash (its lock is gone) but keeps it on the
   list, because the caller still owns the handle: kind becomes ENDED. */
void sqllock__held_end(struct sqllock_held *h, sqllock_lock *l);
/* The session is gone: every entry of a backend whose locks are the
   session's (not leases, which are rows) ends (ENDED, lost set) or, when
   no handle refers to it, goes. */
void sqllock__held_lose_session(struct sqllock_held *h);
/* Marks a live entry RETIRED: its handle is gone, the lock is not. */
void sqllock__held_retire(struct sqllock_held *h, sqllock_lock *l);
/* Removes and frees every RETIRED entry (their transaction has ended). */
void sqllock__held_drop_retired(struct sqllock_held *h);
void sqllock__held_free(struct sqllock_held *h);

/* keyhash.c: PostgreSQL's hash_bytes_extended(k, len, 0) */
uint64_t sqllock__hashtext64(const unsigned char *k, size_t len);

/* redact.c: strings never to show in a message. The list grows as
   needed; incomplete says an add failed, and then sqllock__redact shows
   none of the text (what it could not keep may be in it). */
struct sqllock_secrets {
    char **v;
    size_t n, cap;
    int incomplete;
};
/* Adds a copy of secret (len bytes; empty ones are skipped): 0, or -1 when
   out of memory (incomplete is then set). */
int sqllock__secrets_add(struct sqllock_secrets *s, const char *secret, size_t len);
/* Frees the copies; s is empty (and complete) again. */
void sqllock__secrets_free(struct sqllock_secrets *s);
/* Copies src into dst (size n), masking each secret (the longest that
   matches) and, when mask_quoted, every "double-quoted" fragment. secrets
   may be NULL. */
void sqllock__redact(char *dst, size_t n, const char *src, const struct sqllock_secrets *secrets,
                     int mask_quoted);

#endif /* SQLLOCK_INT_H */
