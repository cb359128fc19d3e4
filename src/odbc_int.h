/* SPDX-License-Identifier: MIT */
/*
 * Internal to the library: the ODBC transport shared by the backends that
 * run over it (mssql-applock, and pg-advisory over psqlODBC). It owns the
 * connection state, turns ODBC diagnostics into statuses and messages with
 * every password masked, and runs a statement that may wait while a
 * watcher thread turns sqllock_cancel() into SQLCancel(). Never installed.
 */
#ifndef SQLLOCK_ODBC_INT_H
#define SQLLOCK_ODBC_INT_H

#include <sql.h>
#include <sqlext.h>

#include "sqllock_int.h"
#include "sqllock/odbc.h"

#define ODBC_STMT_MAX 32

struct odbc_state {
    SQLHENV env; /* ours; SQL_NULL_HENV when attached */
    SQLHDBC dbc;
    int owned;                      /* opened by us: disconnected and freed */
    struct sqllock_secrets secrets; /* never shown */
    char dbms[64];                  /* SQL_DBMS_NAME */
    SQLHSTMT stmt[ODBC_STMT_MAX];   /* prepared lazily, by index */
};

/* The first diagnostic record of a failed call, and the rest of the text. */
struct odbc_diag {
    char sqlstate[6];
    long native;
    char msg[512];
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
/* 1 when the driver says the connection is dead. */
int sqllock__odbc_dead(struct odbc_state *s);
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
/* Runs the prepared statement. When cancelable, a watcher thread calls
   SQLCancel on it (again, with backoff, until it returns) once
   sqllock_cancel() is called; *canceled then says it was. The thread has
   ended when this returns. */
SQLRETURN sqllock__odbc_execute(sqllock_client *c, SQLHSTMT st, int cancelable, int *canceled);
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

/* mssql_applock_odbc.c, pg_advisory_odbc.c */
extern const struct sqllock_backend sqllock__mssql_applock;
extern const struct sqllock_backend sqllock__pg_advisory_odbc;
/* Records the advisory locks the session already holds (attach). */
sqllock_status sqllock__pg_odbc_snapshot_held(sqllock_client *c, struct odbc_state *s);
/* ESTATE when the PostgreSQL server behind c is a standby. */
sqllock_status sqllock__pg_odbc_refuse_standby(sqllock_client *c, const char *what);

/* lease_odbc.c: the lease backend over ODBC, also the whole backend of a
   client whose DBMS has no session locks (SQLite). _install adds leases to
   c over s when the DBMS has a lease dialect (PostgreSQL, SQLite);
   otherwise it leaves c without. */
extern const struct sqllock_backend sqllock__lease_odbc;
sqllock_status sqllock__lease_odbc_install(sqllock_client *c, struct odbc_state *s);

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
