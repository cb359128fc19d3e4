/* SPDX-License-Identifier: MIT */
/*
 * Who holds and who waits: advisory locks as pg_locks shows them, joined
 * with pg_stat_activity for the session behind each. Shared by `status`,
 * `list` and the reports of `run -v`. PostgreSQL does not record when a lock
 * was granted (pg_locks.waitstart covers waiters only), so a holder is shown
 * with the start of its session and labelled as such.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* An int8 key k appears as classid = k >> 32, objid = k & 0xffffffff and
   objsubid = 1; a pair of int4 keys as classid, objid and objsubid = 2
   (struct cli_key holds both in that form). */
#define HOLDERS_SQL(waitstart, waitorder)                                                       \
    "SELECT l.classid, l.objid, l.objsubid, l.mode, l.granted, l.pid,"                          \
    " a.application_name,"                                                                      \
    " CASE WHEN a.client_addr IS NOT NULL THEN pg_catalog.host(a.client_addr)"                  \
    "      WHEN a.client_port = -1 THEN 'local' END,"                                           \
    " pg_catalog.to_char(a.backend_start AT TIME ZONE 'UTC',"                                   \
    "                    'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"                                    \
    " " waitstart " FROM pg_catalog.pg_locks l"                                                 \
    " LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"                                 \
    " WHERE l.locktype = 'advisory'"                                                            \
    " AND l.database = (SELECT oid FROM pg_catalog.pg_database"                                 \
    "                   WHERE datname = pg_catalog.current_database())"                         \
    " AND ($1::pg_catalog.oid IS NULL"                                                          \
    "      OR (l.classid = $1::pg_catalog.oid AND l.objid = $2::pg_catalog.oid"                 \
    "          AND l.objsubid = $3::pg_catalog.int2))"                                          \
    " ORDER BY l.classid, l.objid, l.objsubid, l.granted DESC, " waitorder " l.pid"

static const char sql_14[] = HOLDERS_SQL(
    "pg_catalog.to_char(l.waitstart AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
    "l.waitstart,");
static const char sql_old[] = HOLDERS_SQL("NULL", "");

int holders_fetch(struct holders *out, PGconn *conn, const struct cli_key *key)
{
    char classid[16], objid[16];
    const char *params[3] = {NULL, NULL, NULL};
    memset(out, 0, sizeof(*out));
    if (key) {
        snprintf(classid, sizeof(classid), "%" PRIu32, (uint32_t)((uint64_t)key->key >> 32));
        snprintf(objid, sizeof(objid), "%" PRIu32, (uint32_t)((uint64_t)key->key & 0xffffffffu));
        params[0] = classid;
        params[1] = objid;
        params[2] = key->pair ? "2" : "1";
    }
    PGresult *r = PQexecParams(conn, PQserverVersion(conn) >= 140000 ? sql_14 : sql_old, 3, NULL,
                               params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        /* A query's error is the server's text about the query, never the
           connection string. */
        cli_err("reading pg_locks failed: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int n = cli_pg_rows((void **)&out->rows, r, sizeof(*out->rows));
    if (n < 0) {
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        struct holder *h = &out->rows[i];
        uint32_t hi = (uint32_t)strtoul(PQgetvalue(r, i, 0), NULL, 10);
        uint32_t lo = (uint32_t)strtoul(PQgetvalue(r, i, 1), NULL, 10);
        h->pair = strcmp(PQgetvalue(r, i, 2), "2") == 0;
        h->pair1 = hi;
        h->pair2 = lo;
        h->key = (int64_t)((uint64_t)hi << 32 | lo);
        h->shared = strcmp(PQgetvalue(r, i, 3), "ShareLock") == 0;
        h->granted = PQgetvalue(r, i, 4)[0] == 't';
        h->pid = PQgetisnull(r, i, 5) ? 0 : strtol(PQgetvalue(r, i, 5), NULL, 10);
        h->appname = cli_pg_value(r, i, 6);
        h->client = cli_pg_value(r, i, 7);
        h->session_since = cli_pg_value(r, i, 8);
        h->waiting_since = cli_pg_value(r, i, 9);
        out->count++;
    }
    PQclear(r);
    return 0;
}

void holders_free(struct holders *h)
{
    for (int i = 0; i < h->count; i++) {
        free(h->rows[i].appname);
        free(h->rows[i].client);
        free(h->rows[i].session_since);
        free(h->rows[i].waiting_since);
    }
    free(h->rows);
    memset(h, 0, sizeof(*h));
}

int holders_granted(const struct holders *h)
{
    int n = 0;
    for (int i = 0; i < h->count; i++)
        n += h->rows[i].granted;
    return n;
}

void holder_print_text(FILE *f, const struct holder *h, int with_key)
{
    if (with_key && h->pair)
        fprintf(f, "key=%" PRId32 "/%" PRId32 " ", (int32_t)h->pair1, (int32_t)h->pair2);
    else if (with_key)
        fprintf(f, "key=%" PRId64 " ", h->key);
    fprintf(f, "state=%s mode=%s", h->granted ? "held" : "waiting",
            h->shared ? "shared" : "exclusive");
    if (h->pid)
        fprintf(f, " pid=%ld", h->pid);
    else
        fputs(" pid=prepared-transaction", f);
    cli_put_field(f, "client", h->client);
    cli_put_field(f, "application_name", h->appname);
    cli_put_field(f, "session_start", h->session_since);
    if (!h->granted)
        cli_put_field(f, "waiting_since", h->waiting_since);
}

static void put_json(FILE *f, const char *name, const char *v)
{
    fprintf(f, ",\"%s\":", name);
    if (v)
        cli_json_string(f, v);
    else
        fputs("null", f);
}

void holder_print_json(FILE *f, const struct holder *h)
{
    if (h->pair)
        fprintf(f, "{\"key\":null,\"key_pair\":[%" PRId32 ",%" PRId32 "]", (int32_t)h->pair1,
                (int32_t)h->pair2);
    else
        /* A string: JSON readers (jq, JavaScript) hold numbers as doubles,
           which round most 64-bit keys. */
        fprintf(f, "{\"key\":\"%" PRId64 "\",\"key_pair\":null", h->key);
    fprintf(f, ",\"mode\":\"%s\",\"state\":\"%s\"", h->shared ? "shared" : "exclusive",
            h->granted ? "held" : "waiting");
    if (h->pid)
        fprintf(f, ",\"pid\":%ld", h->pid);
    else
        fputs(",\"pid\":null", f);
    put_json(f, "client", h->client);
    put_json(f, "application_name", h->appname);
    put_json(f, "session_start", h->session_since);
    put_json(f, "waiting_since", h->granted ? NULL : h->waiting_since);
    fputs(",\"kind\":\"advisory\"}\n", f); /* leases are kind "lease" (leases.c) */
}
