/* SPDX-License-Identifier: MIT */
/*
 * Leases as the lease table shows them (sqllock_lease, in the search_path
 * the library uses), for `status` and `list`: a name can be held as a lease
 * while pg_locks shows nothing. A database without the table has no leases;
 * a role that may not read it is told so, and the caller still shows what
 * pg_locks says.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define ISO_UTC(col)                                                                            \
    "pg_catalog.to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* Held: not yet expired (a release before min_until keeps it until then). */
static const char leases_sql[] =
    "SELECT name, token, owner_host, owner_pid, owner_id, " ISO_UTC("acquired_at") ", " ISO_UTC(
        "expires_at") ", released"
                      " FROM sqllock_lease"
                      " WHERE ($1::pg_catalog.bytea IS NULL OR name = $1::pg_catalog.bytea)"
                      " AND expires_at > pg_catalog.clock_timestamp()"
                      " ORDER BY name";

/* bytea's text form "\x6a6f62" back into bytes, NUL-terminated. */
static char *unhex(const char *s)
{
    if (s[0] != '\\' || s[1] != 'x')
        return strdup(s);
    size_t n = strlen(s + 2) / 2;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char byte[3] = {s[2 + 2 * i], s[3 + 2 * i], '\0'};
        out[i] = (char)strtoul(byte, NULL, 16);
    }
    out[n] = '\0';
    return out;
}

int leases_fetch(struct leases *out, PGconn *conn, const char *name)
{
    memset(out, 0, sizeof(*out));
    const char *params[1] = {name};
    int lengths[1] = {name ? (int)strlen(name) : 0}, formats[1] = {1};
    PGresult *r = PQexecParams(conn, leases_sql, 1, NULL, params, lengths, formats, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (!(state && strcmp(state, "42P01") == 0)) { /* no table: no leases */
            out->unreadable =
                state && strcmp(state, "42501") == 0 ? CLI_EXIT_NOPERM : CLI_EXIT_UNAVAILABLE;
            cli_err("leases not shown: reading sqllock_lease failed: %s",
                    PQresultErrorMessage(r));
        }
        PQclear(r);
        return 0;
    }
    int n = cli_pg_rows((void **)&out->rows, r, sizeof(*out->rows));
    if (n < 0) {
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        struct lease_row *l = &out->rows[i];
        l->name = unhex(PQgetvalue(r, i, 0));
        l->token = cli_pg_value(r, i, 1);
        l->owner_host = cli_pg_value(r, i, 2);
        l->owner_pid = strtol(PQgetvalue(r, i, 3), NULL, 10);
        l->owner_id = cli_pg_value(r, i, 4);
        l->since = cli_pg_value(r, i, 5);
        l->expires = cli_pg_value(r, i, 6);
        l->released = PQgetvalue(r, i, 7)[0] == 't';
        out->count++;
        if (!l->name || !l->token || !l->owner_host || !l->owner_id || !l->since ||
            !l->expires) {
            PQclear(r);
            cli_err("out of memory");
            return -1;
        }
    }
    PQclear(r);
    return 0;
}

void leases_free(struct leases *ls)
{
    for (int i = 0; i < ls->count; i++) {
        struct lease_row *l = &ls->rows[i];
        free(l->name);
        free(l->token);
        free(l->owner_host);
        free(l->owner_id);
        free(l->since);
        free(l->expires);
    }
    free(ls->rows);
    memset(ls, 0, sizeof(*ls));
}

void lease_print_text(FILE *f, const struct lease_row *l, int with_name)
{
    fputs("kind=lease", f);
    if (with_name)
        cli_put_field(f, "name", l->name);
    fprintf(f, " state=held token=%s", l->token);
    cli_put_field(f, "owner_host", l->owner_host);
    fprintf(f, " owner_pid=%ld", l->owner_pid);
    cli_put_field(f, "owner_id", l->owner_id);
    fprintf(f, " since=%s expires=%s", l->since, l->expires);
    if (l->released)
        fputs(" released=yes", f); /* early: kept until ttl_min_ms */
}

void lease_print_json(FILE *f, const struct lease_row *l)
{
    fputs("{\"kind\":\"lease\",\"name\":", f);
    cli_json_string(f, l->name);
    /* A string, as keys are: JSON readers round 64-bit numbers. */
    fprintf(f, ",\"state\":\"held\",\"token\":\"%s\",\"owner_host\":", l->token);
    cli_json_string(f, l->owner_host);
    fprintf(f, ",\"owner_pid\":%ld,\"owner_id\":", l->owner_pid);
    cli_json_string(f, l->owner_id);
    fprintf(f, ",\"since\":\"%s\",\"expires\":\"%s\",\"released\":%s}\n", l->since, l->expires,
            l->released ? "true" : "false");
}
