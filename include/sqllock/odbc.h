/* SPDX-License-Identifier: MIT */
/*
 * sqllock over an ODBC connection (unixODBC or any ODBC 3 driver manager).
 * Only users of ODBC need this header; it pulls in <sql.h> and <sqlext.h>.
 *
 * Backends. The backend is chosen from the DBMS the driver reports
 * (SQLGetInfo(SQL_DBMS_NAME)):
 *   "Microsoft SQL Server"  mssql-applock: sp_getapplock / sp_releaseapplock
 *                           / APPLOCK_MODE, sent as ODBC call escapes with
 *                           bound parameters
 *   "PostgreSQL"            pg-advisory: the same advisory locks and the same
 *                           name -> key rule as over libpq, so an ODBC client
 *                           and a libpq client exclude each other by name
 *   anything else           SQLLOCK_ENOTSUP, naming the DBMS
 * An "odbc:" URL may force a backend instead: "odbc:backend=mssql-applock;
 * Driver=...;..." (or backend=pg-advisory) uses that backend whatever the
 * DBMS says, for a server that speaks the other one's procedures (sqllock's
 * own tests run mssql-applock against a PostgreSQL emulation of the
 * procedures this way). The attribute is taken out of the string before it
 * reaches the driver.
 *
 * Connections sqllock_connect() opens for "odbc:" URLs use their own ODBC
 * environment with connection pooling off, a 10 s login timeout
 * (SQL_ATTR_LOGIN_TIMEOUT), autocommit on, and an application name
 * "sqllock[<pid>]@<host>" (APP= for SQL Server; application_name for
 * PostgreSQL) unless the string sets one. PWD values are masked in every
 * message. Such a connection that broke is opened again, with the same
 * string and setup, by the client's next acquire (see sqllock_connect);
 * an attached one never is.
 *
 * SQL Server resource names. sp_getapplock's @Resource is nvarchar(255). A
 * name that is valid UTF-8, at most 255 UTF-16 code units long, does not end
 * in a space (SQL Server ignores trailing spaces when it compares) and does
 * not begin with "sqllock:sha256:" is sent as it is. Every other name is
 * sent as "sqllock:sha256:" followed by the 64 lowercase hex digits of the
 * SHA-256 of its bytes (79 characters), so it is deterministic, stays under
 * the limit, and never equals a name sent as it is. Transaction-scoped locks
 * use @LockOwner = 'Transaction', session ones 'Session'; the database
 * principal is always 'public'.
 *
 * Transactions. Over ODBC "inside a transaction" means autocommit off
 * (SQL_ATTR_AUTOCOMMIT = SQL_AUTOCOMMIT_OFF): transaction scope with
 * autocommit on is SQLLOCK_ESTATE. The transaction ends with the
 * application's SQLEndTran(), which releases transaction-scoped locks.
 *
 * Cancel. sqllock_cancel() works as on libpq: while an acquire waits, a
 * thread of the library's own watches the client's cancel request and calls
 * SQLCancel() on the waiting statement; the thread ends before the acquire
 * returns.
 */
#ifndef SQLLOCK_ODBC_H
#define SQLLOCK_ODBC_H

#include <stddef.h>
#include <sql.h>
#include <sqlext.h>

#include "../sqllock.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The SQL Server resource mssql-applock sends as @Resource for name (the rule
 * above), UTF-8 and NUL-terminated, into out of size bytes
 * (SQLLOCK_MSSQL_RESOURCE_MAX + 1 always suffice). Its length, or 0 when
 * name is NULL, empty or longer than SQLLOCK_NAME_MAX or out is too small.
 * sys.dm_tran_locks shows the first 32 characters of it.
 */
#define SQLLOCK_MSSQL_RESOURCE_MAX 1020
SQLLOCK_EXTERN size_t sqllock_mssql_resource(const char *name, char *out, size_t size);

/*
 * Makes a client on dbc, which stays the caller's: the library never
 * disconnects or frees it, and sqllock_client_free() leaves it connected
 * (after releasing the session-scoped locks taken through the client). The
 * backend is chosen from the DBMS the driver reports, as described above.
 *
 * dbc must be connected. The library allocates its own statement handles on
 * it (freed by sqllock_client_free) and does not change its attributes. On
 * PostgreSQL the advisory locks the session already holds are looked up in
 * pg_locks so that acquiring one of them again is refused; SQL Server has
 * no such view for application locks, so a lock the session took before it
 * was attached is not known to the client.
 *
 * Pooling: do not attach a connection that a driver manager's connection
 * pool may reset or hand to someone else. A pooled "disconnect" keeps the
 * session, and its session locks, alive in the pool; a reset (SQL Server's
 * sp_reset_connection) releases them behind the client's back, which
 * sqllock_check() then reports as LOST. The library never turns pooling on.
 *
 * Threads: dbc and the client may be used by one thread at a time. The
 * client must be freed before dbc is disconnected.
 *
 * Returns OK and sets *out; EINVAL when out or dbc is NULL; ECONNECT when
 * the driver cannot say what it is connected to; ENOTSUP for a DBMS that is
 * neither SQL Server nor PostgreSQL; ENOMEM. On failure other than ENOMEM
 * *out is a client holding the reason in sqllock_errmsg(), to be freed.
 */
SQLLOCK_EXTERN sqllock_status sqllock_attach_odbc(sqllock_client **out, SQLHDBC dbc);

/*
 * As sqllock_attach_odbc(), with the backend forced rather than detected:
 * "mssql-applock" or "pg-advisory" (NULL: detect). An unknown name is
 * SQLLOCK_EINVAL.
 */
SQLLOCK_EXTERN sqllock_status sqllock_attach_odbc_as(sqllock_client **out, SQLHDBC dbc,
                                                     const char *backend);

#ifdef __cplusplus
}
#endif

#endif /* SQLLOCK_ODBC_H */
