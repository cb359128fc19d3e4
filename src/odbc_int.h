/* SPDX-License-Identifier: MIT */
/*
 * Internal to the library: the ODBC transport shared by the backends that
 * run over it (mssql-applock, and pg-advisory over psqlODBC). It owns the
 * connection state, turns ODBC diagnostics into statuses and messages with
 * every password masked, and runs a statement that may wait while a
 * watcher thread turns sqllock_cancel() into SQLCancel(). What differs by
 * DBMS (its backend, lease dialect, error codes, setup) is one row of
 * odbc_dbms.c, which the connector (odbc_conn.c) reads. Never installed.
 */
#ifndef SQLLOCK_ODBC_INT_H
#define SQLLOCK_ODBC_INT_H

#include <sql.h>
#include <sqlext.h>

#include "sqllock_int.h"
#include "sqllock/odbc.h"

#define ODBC_STMT_MAX 32

/* The first diagnostic record of a failed call, and the rest of the text. */
struct odbc_diag {
    char sqlstate[6];
    long native;
    char msg[512];
};

/* What a DBMS's own codes in d mean beyond ODBC's standard SQLSTATEs:
   SQLLOCK_CANCELED (by the server), DEADLOCK, TIMEOUT, ESTATE (the
   transaction has failed), or ESERVER for nothing special. It may give
   d->sqlstate the portable code sqllock_errcode() should show. */
typedef sqllock_status (*odbc_map_fn)(struct odbc_diag *d);

struct odbc_state {
    SQLHENV env; /* ours; SQL_NULL_HENV when attached */
    SQLHDBC dbc;
    int owned;                      /* opened by us: disconnected and freed */
    struct sqllock_secrets secrets; /* never shown */
    char dbms[64];                  /* SQL_DBMS_NAME */
    odbc_map_fn map;                /* the DBMS's codes; NULL: ODBC's only */
    struct odbc_watcher *watcher;   /* turns sqllock_cancel into SQLCancel */
    int watcher_failed;             /* no thread could be started: waits run without */
    SQLHSTMT stmt[ODBC_STMT_MAX];   /* prepared lazily, by index */
    /* A connection of ours reopens after it broke (odbc_conn.c): */
    char *connstr;                     /* what the driver was given; wiped when freed */
    const struct odbc_dbms *row, *own; /* the rows the first connect chose */
    int broken;                        /* a call failed with SQLSTATE class 08 */
    SQLHSTMT *more;                    /* the lease backend's statements on dbc */
    int nmore;
};

/* odbc_connstr.c */
/* Calls fn for each key=value attribute of an ODBC connection string;
   values may be {braced}, with }} for a literal }. -1 if malformed. */
typedef int (*odbc_attr_fn)(void *arg, const char *key, size_t klen, const char *val,
                            size_t vlen, size_t start, size_t end);
int sqllock__odbc_connstr_each(const char *s, odbc_attr_fn fn, void *arg);

/* odbc_exec.c */
/* Reads the diagnostics of h into d (masked with s's secrets). */
void sqllock__odbc_diag_read(struct odbc_state *s, SQLSMALLINT type, SQLHANDLE h,
                             struct odbc_diag *d);
/* 1 when the driver says the connection is dead (no round trip). */
int sqllock__odbc_dead(const struct odbc_state *s);
/* n statements another backend keeps on s's connection (the lease
   backend's): a reconnect frees them and sets them to NULL, as it does
   s's own. They stay the other backend's to free with itself. */
void sqllock__odbc_register(struct odbc_state *s, SQLHSTMT *stmts, int n);
/* Frees every statement on s's connection (its own and the registered),
   which then prepare anew on first use: before the connection goes. */
void sqllock__odbc_stmts_free(struct odbc_state *s);
/* 1 when autocommit is on (no transaction of the caller's is open). */
int sqllock__odbc_autocommit(struct odbc_state *s);
/* Turns a failed call on h into a status and message on c. */
sqllock_status sqllock__odbc_fail(sqllock_client *c, struct odbc_state *s, SQLSMALLINT type,
                                  SQLHANDLE h, const char *what, int canceled);
/* The same for diagnostics read before (SQLMoreResults clears them). */
sqllock_status sqllock__odbc_fail_diag(sqllock_client *c, struct odbc_state *s,
                                       const struct odbc_diag *d, const char *what,
                                       int canceled);
/* The prepared statement at index i, preparing sql on first use (sql NULL:
   a statement for SQLExecDirect); NULL with c's error set on failure. */
SQLHSTMT sqllock__odbc_stmt(sqllock_client *c, struct odbc_state *s, int i, const char *sql);
/* Runs the prepared statement. When cancelable, the connection's watcher
   thread (started by the first such call, ended by _state_free) calls
   SQLCancel on it, again with backoff until it returns, once
   sqllock_cancel() is called; *canceled then says it was. */
SQLRETURN sqllock__odbc_execute(sqllock_client *c, struct odbc_state *s, SQLHSTMT st,
                                int cancelable, int *canceled);
/* What sqllock__odbc_wait saw first. */
enum odbc_wait {
    ODBC_WAIT_FAILED = -1,
    ODBC_WAIT_TIMEOUT,
    ODBC_WAIT_READABLE,
    ODBC_WAIT_CANCEL
};
/* The one wait of the ODBC transport: until fd (-1: none) is readable,
   until_ms (sqllock__now_ms() time; -1: none) passes, or, when
   watch_cancel, until sqllock_cancel() is called (the request is
   consumed). The watcher thread and the lease backend's sleeps use it. */
enum odbc_wait sqllock__odbc_wait(sqllock_client *c, int fd, long long until_ms,
                                  int watch_cancel);
/* Closes the cursor and unbinds the parameters of st. */
void sqllock__odbc_reset(SQLHSTMT st);
/* Binds input parameters. */
SQLRETURN sqllock__odbc_bind_text(SQLHSTMT st, int i, const char *v, SQLLEN *len);
SQLRETURN sqllock__odbc_bind_i64(SQLHSTMT st, int i, const int64_t *v, SQLLEN *len);
SQLRETURN sqllock__odbc_bind_i32(SQLHSTMT st, int i, const SQLINTEGER *v, SQLLEN *len);
/* Fetches the first row's first column as text into buf: 1 row, 0 none, -1 error. */
int sqllock__odbc_fetch_text(SQLHSTMT st, char *buf, size_t n);
/* Commits or rolls back (SQL_COMMIT / SQL_ROLLBACK) the connection's transaction. */
SQLRETURN sqllock__odbc_end_tran(struct odbc_state *s, SQLSMALLINT how);
void sqllock__odbc_state_free(struct odbc_state *s);
/* Frees only what is ours, calling no ODBC function (a child after fork()). */
void sqllock__odbc_state_abandon(struct odbc_state *s);

/* Whether the session holds l (1/0) or a negative status; `what` names the
   caller in messages. Each ODBC backend supplies its own. */
typedef int (*odbc_held_fn)(sqllock_client *c, const sqllock_lock *l, const char *what);
/* Vtable members every ODBC backend shares, around its own held(). */
sqllock_status sqllock__odbc_check(sqllock_client *c, sqllock_lock *l, odbc_held_fn held);
int sqllock__odbc_still_held(sqllock_client *c, const sqllock_lock *e, odbc_held_fn held);
int sqllock__odbc_in_transaction(sqllock_client *c);

/* Run on a connection once its row's backend is installed on c: what the
   DBMS needs checked or set (settings of our own connection, a standby
   refused, the locks an attached session already holds). */
typedef sqllock_status (*odbc_setup_fn)(sqllock_client *c, struct odbc_state *s);

/* lease_odbc.c: the lease backend over ODBC, in a DBMS's dialect; also the
   whole backend of a client whose DBMS has no session locks (SQLite).
   _install adds leases in dialect d to c over s. */
struct lease_dialect;
extern const struct sqllock_backend sqllock__lease_odbc;
extern const struct lease_dialect sqllock__lease_odbc_pg, sqllock__lease_odbc_sqlite;
sqllock_status sqllock__lease_odbc_install(sqllock_client *c, struct odbc_state *s,
                                           const struct lease_dialect *d);

/* mssql_applock_odbc.c, pg_advisory_odbc.c */
extern const struct sqllock_backend sqllock__mssql_applock;
extern const struct sqllock_backend sqllock__pg_advisory_odbc;
sqllock_status sqllock__pg_odbc_setup(sqllock_client *c, struct odbc_state *s);

/* odbc_dbms.c: one row per DBMS sqllock knows over ODBC, ended by a row of
   NULLs. A connection gets the row of the DBMS its driver reports, or the
   row whose backend= name the caller forced; leases only on the DBMS's own
   row (never beside the applock emulation, whose DBMS is PostgreSQL). */
struct odbc_dbms {
    const char *dbms;                    /* SQL_DBMS_NAME, as the driver says it */
    const char *backend;                 /* backend= forces this row; NULL: never */
    const struct sqllock_backend *locks; /* session locks; NULL: leases only */
    const struct lease_dialect *lease;   /* NULL: no leases */
    odbc_map_fn map;                     /* its error codes; NULL: none of its own */
    odbc_setup_fn setup;                 /* NULL: nothing to set up */
};
extern const struct odbc_dbms sqllock__odbc_dbms[];
/* The row by SQL_DBMS_NAME, or by backend= name (len bytes); NULL if none. */
const struct odbc_dbms *sqllock__odbc_dbms_named(const char *dbms);
const struct odbc_dbms *sqllock__odbc_dbms_by_backend(const char *name, size_t len);
/* The rows' DBMS names ("A, B and C"), or their backend= names ("a or b"). */
void sqllock__odbc_dbms_list(char *buf, size_t n, int backends);

/* mssql_name.c: the SQL Server resource a name maps to (see odbc.h), as
   UTF-8 in out (at least MSSQL_RESOURCE_MAX + 1 bytes); returns its length. */
#define MSSQL_RESOURCE_MAX SQLLOCK_MSSQL_RESOURCE_MAX
#define MSSQL_HASH_PREFIX "sqllock:sha256:"
size_t sqllock__mssql_resource(const char *name, size_t len, char *out);
/* UTF-8 to UTF-16 code units (valid input only); returns the unit count. */
size_t sqllock__mssql_utf16(const char *s, size_t len, SQLWCHAR *out, size_t max);

/* sha256.c */
void sqllock__sha256(const unsigned char *data, size_t len, unsigned char out[32]);

#endif /* SQLLOCK_ODBC_INT_H */
