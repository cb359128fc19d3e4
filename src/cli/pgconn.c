/* SPDX-License-Identifier: MIT */
/*
 * The command's own libpq connection, for reading pg_locks and
 * pg_stat_activity (the lock API deliberately offers no such view). libpq's
 * error text can echo the connection string, password included, so nothing
 * it says is shown before every password and every "quoted" fragment in it
 * has been masked.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_SECRETS 4

struct secrets {
    char *s[MAX_SECRETS];
    int n;
};

static void add_secret(struct secrets *sec, const char *s, size_t len)
{
    if (s && len && sec->n < MAX_SECRETS) {
        char *copy = malloc(len + 1);
        if (!copy)
            return;
        memcpy(copy, s, len);
        copy[len] = '\0';
        sec->s[sec->n++] = copy;
    }
}

static void free_secrets(struct secrets *sec)
{
    for (int i = 0; i < sec->n; i++)
        free(sec->s[i]);
}

/* The password as typed in a URL's userinfo: it may be percent-encoded and
   so differ from the decoded value libpq reports. */
static void add_url_password(struct secrets *sec, const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return;
    p += 3;
    size_t authority = strcspn(p, "/?");
    const char *at = NULL;
    for (size_t i = 0; i < authority; i++)
        if (p[i] == '@')
            at = p + i;
    const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
    if (colon)
        add_secret(sec, colon + 1, (size_t)(at - colon - 1));
}

/* Copies src to dst (size n) with each secret and quoted fragment masked;
   an unterminated quote masks the rest, which may be all secret. */
static void mask(char *dst, size_t n, const char *src, const struct secrets *sec)
{
    size_t o = 0;
    for (size_t i = 0; src[i] && o + 6 < n;) {
        size_t skip = 0;
        const char *m = "***";
        if (src[i] == '"') {
            const char *end = strchr(src + i + 1, '"');
            skip = end ? (size_t)(end - (src + i)) + 1 : strlen(src + i);
            m = "\"***\"";
        }
        for (int s = 0; !skip && s < sec->n; s++)
            if (strncmp(src + i, sec->s[s], strlen(sec->s[s])) == 0)
                skip = strlen(sec->s[s]);
        if (!skip) {
            dst[o++] = src[i++];
            continue;
        }
        while (*m)
            dst[o++] = *m++;
        i += skip;
    }
    dst[o] = '\0';
}

int cli_pg_open(PGconn **out, const char *url, const char *purpose)
{
    struct secrets sec = {{NULL}, 0};
    char clean[1024], *perr = NULL;
    *out = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (!opts) {
        if (!perr) {
            cli_err("out of memory");
            return CLI_EXIT_UNAVAILABLE;
        }
        mask(clean, sizeof(clean), perr, &sec);
        PQfreemem(perr);
        cli_err("malformed database URL: %s", clean);
        return CLI_EXIT_USAGE;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if ((strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0) &&
            o->val)
            add_secret(&sec, o->val, strlen(o->val));
    PQconninfoFree(opts);
    add_url_password(&sec, url);
    const char *env = getenv("PGPASSWORD");
    add_secret(&sec, env, env ? strlen(env) : 0);

    /* Defaults first: the URL is expanded after them and wins where it names
       the same keyword. */
    const char *kw[4], *val[4];
    int n = 0;
    kw[n] = "fallback_application_name", val[n++] = purpose;
    if (!getenv("PGCONNECT_TIMEOUT"))
        kw[n] = "connect_timeout", val[n++] = "10";
    kw[n] = "dbname", val[n++] = url;
    kw[n] = NULL, val[n] = NULL;
    PGconn *conn = PQconnectdbParams(kw, val, 1);
    if (!conn) {
        free_secrets(&sec);
        cli_err("out of memory");
        return CLI_EXIT_UNAVAILABLE;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        mask(clean, sizeof(clean), PQerrorMessage(conn), &sec);
        free_secrets(&sec);
        PQfinish(conn);
        cli_err("cannot connect to the database: %s", clean);
        return CLI_EXIT_UNAVAILABLE;
    }
    free_secrets(&sec);
    *out = conn;
    return 0;
}

int cli_pg_rows(void **rows, const PGresult *r, size_t size)
{
    int n = PQntuples(r);
    *rows = n ? calloc((size_t)n, size) : NULL;
    if (n && !*rows) {
        cli_err("out of memory");
        return -1;
    }
    return n;
}

char *cli_pg_value(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}
