/* SPDX-License-Identifier: MIT */
/*
 * sqllock_connect: the one place that knows every connector. It reads the
 * URL's form (odbc:, a postgresql:// or postgres:// URL, a libpq key=value
 * string), makes the client and hands it to the connector, which installs a
 * backend. It sits above both the core and the connectors, so that the core
 * (client.c, lock.c) never calls a connector that calls back into it.
 */
#include <string.h>

#include "sqllock_int.h"

static int has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Length of an RFC 3986 scheme followed by "://" at the start of s, else 0. */
static size_t scheme_len(const char *s)
{
    size_t i = 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    while (s[i] && (strchr("+-.", s[i]) || (s[i] >= '0' && s[i] <= '9') ||
                    (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
        i++;
    return strncmp(s + i, "://", 3) == 0 ? i : 0;
}

static sqllock_status connect_url(sqllock_client **out, const char *url, int nonblocking)
{
    if (!out)
        return SQLLOCK_EINVAL;
    *out = NULL;
    sqllock_client *c = sqllock__client_new();
    if (!c)
        return SQLLOCK_ENOMEM;
    *out = c;
    if (!url || !*url)
        return sqllock__fail(c, SQLLOCK_EINVAL, "connect: the URL is %s",
                             url ? "empty" : "NULL");
    if (has_prefix(url, "odbc:")) {
#ifdef SQLLOCK_WITH_ODBC
        if (nonblocking)
            return sqllock__fail(c, SQLLOCK_ENOTSUP,
                                 "connect: an ODBC connection cannot be opened without "
                                 "blocking (ODBC's asynchronous mode is not reliable across "
                                 "drivers); use sqllock_connect");
        return sqllock__done(c, sqllock__odbc_open(c, url + strlen("odbc:")));
#else
        return sqllock__fail(c, SQLLOCK_ENOTSUP,
                             "connect: this build of sqllock has no ODBC support");
#endif
    }

    /* Anything else with a scheme must be one libpq knows, or it is not ours. */
    size_t n = scheme_len(url);
    if (n && !has_prefix(url, "postgresql://") && !has_prefix(url, "postgres://")) {
        return sqllock__fail(c, SQLLOCK_EINVAL,
                             "connect: unsupported URL scheme \"%.*s\" (use postgresql://, "
                             "postgres://, a key=value string or odbc:)",
                             n > 32 ? 32 : (int)n, url);
    }
    if (nonblocking)
        return sqllock__pg_open_start(c, url);
    return sqllock__done(c, sqllock__pg_open(c, url));
}

sqllock_status sqllock_connect(sqllock_client **out, const char *url)
{
    return connect_url(out, url, 0);
}

sqllock_status sqllock_connect_start(sqllock_client **out, const char *url)
{
    return connect_url(out, url, 1);
}
