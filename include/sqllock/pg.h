/* SPDX-License-Identifier: MIT */
/*
 * sqllock over a libpq connection the application already holds. Only users
 * of libpq need this header; it pulls in <libpq-fe.h>.
 */
#ifndef SQLLOCK_PG_H
#define SQLLOCK_PG_H

#include <libpq-fe.h>

#include "../sqllock.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Makes a pg-advisory client on conn, which stays the caller's: the library
 * never closes it, and sqllock_client_free() leaves it open (after unlocking
 * the session-scoped locks taken through the client).
 *
 * conn must be connected (CONNECTION_OK) and idle or inside a transaction,
 * and must not be in pipeline mode between sqllock calls. Advisory locks the
 * session already held when it was attached are looked up in pg_locks (one
 * round trip) so that acquiring one of them again is refused rather than
 * silently succeeding. The library prepares statements named "sqllock_*" on
 * conn; DEALLOCATE ALL or DISCARD ALL by the application is noticed and they
 * are prepared again. The client must be freed before conn is closed. A
 * server-side DISCARD ALL or pg_advisory_unlock_all() also drops the locks,
 * which sqllock_check() then reports as LOST.
 *
 * The session's settings are left as they are (keepalives, idle timeouts:
 * a session the server ends is reported by sqllock_check() as LOST). When a
 * pooler is between conn and the server (PQbackendPID differs from the
 * server's pg_backend_pid()), session-scoped acquires fail with ESTATE and
 * transaction-scoped ones work, sent without prepared statements.
 *
 * Threads: conn and the client may be used by one thread at a time.
 *
 * Returns OK and sets *out; EINVAL when out or conn is NULL; ECONNECT when
 * conn is not connected; ESTATE when it is busy, its transaction has
 * failed, or the server is in recovery (a hot standby); ENOMEM. On failure other than ENOMEM *out is a client holding the
 * reason in sqllock_errmsg(), to be freed; conn is untouched.
 */
SQLLOCK_EXTERN sqllock_status sqllock_attach_pg(sqllock_client **out, PGconn *conn);

#ifdef __cplusplus
}
#endif

#endif /* SQLLOCK_PG_H */
