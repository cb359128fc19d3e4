/* SPDX-License-Identifier: MIT */
/*
 * What the lease backends share besides their SQL: the owner identity
 * written into each lease row (host and a random id per client, so that a
 * stale holder can be told from the new one even on one host), names as hex
 * text, reading the schema files statement by statement, what a refused
 * lease statement means in words, and the vtable members that are the same
 * for every lease backend.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "lease_int.h"

void sqllock__lease_hex(char *out, const char *p, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[(unsigned char)p[i] >> 4];
        out[2 * i + 1] = digits[(unsigned char)p[i] & 15];
    }
    out[2 * len] = '\0';
}

int sqllock__lease_owner_init(struct lease_owner *o)
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof(b)) { /* a kernel without getrandom(2) */
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, b, sizeof(b)) : -1;
        if (fd >= 0)
            close(fd);
        if (n != (ssize_t)sizeof(b))
            return -1;
    }
    sqllock__lease_hex(o->id, (const char *)b, sizeof(b));
    if (gethostname(o->host, sizeof(o->host) - 1) != 0)
        snprintf(o->host, sizeof(o->host), "unknown");
    o->host[sizeof(o->host) - 1] = '\0';
    return 0;
}

int sqllock__lease_schema_next(const char **p, char *buf, size_t n)
{
    for (;;) {
        const char *s = *p;
        while (*s == ' ' || *s == '\n' || *s == '\t')
            s++;
        if (strncmp(s, "--", 2) == 0) { /* a comment line */
            s += strcspn(s, "\n");
            *p = s;
            continue;
        }
        if (!*s)
            return 0;
        size_t len = strcspn(s, ";");
        *p = s[len] ? s + len + 1 : s + len;
        if (len >= n)
            return -1;
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (strcasecmp(buf, "BEGIN") == 0 || strcasecmp(buf, "COMMIT") == 0)
            continue;
        return 1;
    }
}

int sqllock__lease_no_transaction(sqllock_client *c)
{
    (void)c;
    return 0;
}

sqllock_status sqllock__lease_release_outcome(sqllock_client *c, sqllock_status st)
{
    if (st == SQLLOCK_ECONNECT)
        return sqllock__fail(c, SQLLOCK_LOST,
                             "release: the connection was lost; the lease "
                             "row expires by its ttl");
    return st;
}

sqllock_status sqllock__lease_explain(sqllock_client *c, sqllock_status st)
{
    static const struct {
        char code[6];
        const char *hint;
    } hints[] = {
        {"42501", "permission denied: this role needs SELECT, INSERT, UPDATE and DELETE on "
                  "sqllock_lease and sqllock_once (and CREATE on the schema, unless their "
                  "owner installs them with `sqllock init`)"},
        {"25006", "the database or the session is read-only (default_transaction_read_only, "
                  "a read-only role or file): leases and run-once write rows"},
        {"3F000", "no schema to create the lease tables in: the search_path is empty or names "
                  "no schema that exists; set search_path, or install them with `sqllock init`"},
    };
    if (st != SQLLOCK_ESERVER)
        return st;
    for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
        if (strcmp(c->errcode, hints[i].code) != 0)
            continue;
        char said[SQLLOCK_ERRMSG_MAX];
        memcpy(said, c->errmsg, sizeof(said));
        return sqllock__fail(c, st, "%s; %s", said, hints[i].hint);
    }
    return st;
}

sqllock_status sqllock__lease_once_unwritable(sqllock_client *c, const char *sqlstate)
{
    if (!sqlstate[0])
        return SQLLOCK_OK;
    sqllock__set_errcode(c, sqlstate);
    sqllock__fail(c, SQLLOCK_ESERVER,
                  "run once: the job is not done, and could not be "
                  "recorded done (SQLSTATE %s), so it is not run",
                  sqlstate);
    return sqllock__lease_explain(c, SQLLOCK_ESERVER);
}
