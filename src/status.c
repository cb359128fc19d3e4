/* SPDX-License-Identifier: MIT */
/* Static descriptions of statuses and the run-time version. */
#include "sqllock.h"

const char *sqllock_status_str(sqllock_status s)
{
    switch (s) {
    case SQLLOCK_OK: return "ok";
    case SQLLOCK_BUSY: return "lock held elsewhere (busy)";
    case SQLLOCK_TIMEOUT: return "timed out waiting for the lock";
    case SQLLOCK_CANCELED: return "wait canceled";
    case SQLLOCK_DEADLOCK: return "deadlock detected by the server";
    case SQLLOCK_LOST: return "lock no longer held (lost)";
    case SQLLOCK_PENDING: return "operation in flight (poll again)";
    case SQLLOCK_EINVAL: return "invalid argument";
    case SQLLOCK_ECONNECT: return "cannot connect to the database, or the connection broke";
    case SQLLOCK_ESERVER: return "the database server reported an error";
    case SQLLOCK_ENOMEM: return "out of memory";
    case SQLLOCK_ENOTSUP: return "not supported by this backend or build";
    case SQLLOCK_ESTATE: return "not possible in the current state";
    }
    return "unknown status";
}

int sqllock_version(void)
{
    return SQLLOCK_VERSION_NUMBER;
}
