/* SPDX-License-Identifier: MIT */
/* See deploy.h. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deploy.h"

int deploy_is_odbc(void)
{
    const char *url = t_url();
    return url && strncmp(url, "odbc:", 5) == 0;
}

int deploy_sql(struct deploy *d, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return t_exec(d->admin, sql);
}

/* tag as an identifier: lowercase letters, digits and '_'. */
static void ident(char *out, size_t n, const char *kind, const char *tag)
{
    snprintf(out, n, "hostile_%s_%s", kind, tag);
    for (char *p = out; *p; p++)
        *p = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
}

int deploy_begin(struct deploy *d, const char *tag)
{
    memset(d, 0, sizeof(*d));
    const char *t = t_tag(tag);
    ident(d->role, sizeof(d->role), "app", t);
    ident(d->owner, sizeof(d->owner), "own", t);
    ident(d->schema, sizeof(d->schema), "s", t);
    if (!t_url() || !(d->admin = t_admin()))
        return 0;
    return deploy_sql(d, "SET client_min_messages = warning") &&
           deploy_sql(d, "CREATE ROLE %s LOGIN PASSWORD '" DEPLOY_PASSWORD "'", d->role) &&
           deploy_sql(d, "CREATE ROLE %s LOGIN PASSWORD '" DEPLOY_PASSWORD "'", d->owner) &&
           deploy_sql(d, "CREATE SCHEMA %s AUTHORIZATION %s", d->schema, d->owner) &&
           deploy_sql(d, "GRANT USAGE ON SCHEMA %s TO %s", d->schema, d->role) &&
           deploy_sql(d, "ALTER ROLE %s SET search_path = %s", d->role, d->schema) &&
           deploy_sql(d, "ALTER ROLE %s SET search_path = %s", d->owner, d->schema);
}

int deploy_database(struct deploy *d)
{
    snprintf(d->db, sizeof(d->db), "%.50s_db", d->role);
    return deploy_sql(d, "CREATE DATABASE %s OWNER %s TEMPLATE template0", d->db, d->role);
}

void deploy_end(struct deploy *d)
{
    if (!d->admin)
        return;
    /* Not t_exec: a failed case still cleans up, and what a failed step
       never made is not an error here. */
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
             " WHERE usename IN ('%s', '%s')",
             d->role, d->owner);
    PQclear(PQexec(d->admin, sql));
    if (d->db[0]) {
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", d->db);
        PQclear(PQexec(d->admin, sql));
    }
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", d->schema);
    PQclear(PQexec(d->admin, sql));
    snprintf(sql, sizeof(sql), "DROP OWNED BY %s, %s", d->role, d->owner);
    PQclear(PQexec(d->admin, sql));
    snprintf(sql, sizeof(sql), "DROP ROLE IF EXISTS %s, %s", d->role, d->owner);
    PQclear(PQexec(d->admin, sql));
    PQfinish(d->admin);
    d->admin = NULL;
}

/* Appends "key='value' " to a libpq conninfo string being built. */
static void kv(char *out, size_t n, const char *key, const char *val)
{
    size_t o = strlen(out);
    o += (size_t)snprintf(out + o, o < n ? n - o : 0, "%s='", key);
    for (const char *p = val; *p && o + 3 < n; p++) {
        if (*p == '\'' || *p == '\\')
            out[o++] = '\\';
        out[o++] = *p;
    }
    if (o + 2 < n) {
        out[o++] = '\'';
        out[o++] = ' ';
    }
    out[o < n ? o : n - 1] = '\0';
}

static char *libpq_url(const char *url, const char *user, const char *db, const char *app,
                       const char *options)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &err);
    if (!opts) {
        t_fail(__FILE__, __LINE__, "cannot parse the URL under test: %s", err ? err : "");
        PQfreemem(err);
        return NULL;
    }
    size_t n = strlen(url) + 512;
    char *out = calloc(1, n);
    const char *dbname = db;
    for (PQconninfoOption *o = opts; out && o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "dbname") == 0 && !dbname)
            dbname = o->val;
        if (strcmp(o->keyword, "user") && strcmp(o->keyword, "password") &&
            strcmp(o->keyword, "dbname") && strcmp(o->keyword, "application_name"))
            kv(out, n, o->keyword, o->val);
    }
    if (out) {
        kv(out, n, "user", user);
        kv(out, n, "password", DEPLOY_PASSWORD);
        kv(out, n, "dbname", dbname ? dbname : user);
        kv(out, n, "application_name", app);
        if (options)
            kv(out, n, "options", options);
    }
    PQconninfoFree(opts);
    return out;
}

/* The attributes of an ODBC string but the login and the database, then
   ours. Values may be {braced} and hold ';'. */
static char *odbc_url(const char *url, const char *user, const char *db, const char *app,
                      const char *options)
{
    size_t n = strlen(url) + 512;
    char *out = calloc(1, n);
    if (!out)
        return NULL;
    strcpy(out, "odbc:");
    const char *p = url + 5, *dbval = NULL;
    size_t dblen = 0;
    while (*p) {
        const char *start = p, *eq = strchr(p, '=');
        if (!eq)
            break;
        const char *v = eq + 1, *end = v;
        if (*v == '{')
            end = strchr(v, '}') ? strchr(v, '}') + 1 : v + strlen(v);
        end += strcspn(end, ";");
        size_t klen = (size_t)(eq - start);
        int drop = (klen == 3 && strncasecmp(start, "UID", 3) == 0) ||
                   (klen == 3 && strncasecmp(start, "PWD", 3) == 0) ||
                   (klen == 5 && strncasecmp(start, "pqopt", 5) == 0);
        if (klen == 8 && strncasecmp(start, "Database", 8) == 0)
            drop = 1, dbval = v, dblen = (size_t)(end - v);
        if (!drop)
            snprintf(out + strlen(out), n - strlen(out), "%.*s;", (int)(end - start), start);
        p = *end ? end + 1 : end;
    }
    size_t o = strlen(out);
    if (db)
        snprintf(out + o, n - o, "Database=%s;", db);
    else
        snprintf(out + o, n - o, "Database=%.*s;", (int)dblen, dbval ? dbval : "");
    o = strlen(out);
    snprintf(out + o, n - o,
             "UID=%s;PWD={" DEPLOY_PASSWORD "};pqopt={application_name=%s%s%s%s}", user, app,
             options ? " options='" : "", options ? options : "", options ? "'" : "");
    return out;
}

char *deploy_url(const char *user, const char *db, const char *appname, const char *options)
{
    const char *url = t_url();
    if (!url)
        return NULL;
    return strncmp(url, "odbc:", 5) == 0 ? odbc_url(url, user, db, appname, options)
                                         : libpq_url(url, user, db, appname, options);
}

sqllock_client *deploy_client(const char *user, const char *db, const char *appname,
                              const char *options)
{
    char *url = deploy_url(user, db, appname, options);
    if (!url)
        return NULL;
    sqllock_client *c = NULL;
    sqllock_status st = sqllock_connect(&c, url);
    free(url);
    if (st != SQLLOCK_OK) {
        t_fail(__FILE__, __LINE__, "connect as %s failed: %s", user, sqllock_errmsg(c));
        sqllock_client_free(c);
        return NULL;
    }
    return c;
}
