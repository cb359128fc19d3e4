/* SPDX-License-Identifier: MIT */
/*
 * libpq connections: opening one of our own (with the defaults a lock
 * holder needs: an application_name that identifies it, TCP keepalives, a
 * bounded connect timeout) or attaching one the application holds, learning
 * what is behind it (a standby, a pooler), and preparing the statements the
 * backends registered. Which backends run over it is pg_connect.c's call.
 */
#include <ctype.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg_sql.h"
#include "pq_int.h"

static void state_free(struct pq_state *s)
{
    if (!s)
        return;
    if (s->owned && s->conn)
        PQfinish(s->conn);
    PQfreeCancel(s->cancel);
    sqllock__secrets_free(&s->secrets);
    free(s->conninfo);
    free(s);
}

/*
 * libpq has no way to close a connection without a word: PQfinish sends
 * Terminate, which on a socket shared with the parent ends the parent's
 * session. So /dev/null takes the socket's place in this process's fd
 * table first (dup2 swaps it atomically; the parent's descriptor is its
 * own): libpq's send() of Terminate (and, over TLS, of close_notify) then
 * fails with ENOTSOCK, and its close() closes our copy only. shutdown()
 * would not do: it acts on the socket, which the parent shares. Without a
 * /dev/null (no descriptor left) the connection is leaked rather than
 * finished: memory is the lesser loss.
 */
static void state_abandon(void *conn)
{
    struct pq_state *s = conn;
    if (s && s->owned && s->conn && PQsocket(s->conn) >= 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, PQsocket(s->conn)) < 0)
            s->conn = NULL;
        if (null >= 0)
            close(null);
    }
    state_free(s);
}

static void state_close(void *conn)
{
    state_free(conn);
}

static int state_socket(const void *conn)
{
    const struct pq_state *s = conn;
    return PQsocket(s->conn);
}

/* A session the server ended (terminated, shut down) sends its last word
   and closes: reading both marks the connection bad. They may come in two
   reads, so read while the socket stays readable (a few times at most:
   on a lent connection the owner's notifications may keep coming, and
   what is read stays queued for the owner). Every acquire on a connection
   of ours asks first, so the common case, nothing arrived, is one poll(). */
static int state_alive(void *conn)
{
    struct pq_state *s = conn;
    for (int i = 0; i < 8 && PQstatus(s->conn) == CONNECTION_OK; i++) {
        struct pollfd p = {.fd = PQsocket(s->conn), .events = POLLIN};
        if (poll(&p, 1, 0) <= 0)
            return 1;
        if (!PQconsumeInput(s->conn))
            return 0;
    }
    return PQstatus(s->conn) == CONNECTION_OK;
}

static sqllock_status state_reconnect(sqllock_client *c, void *conn)
{
    return sqllock__pq_reconnect(c, conn);
}

static int state_broken(const void *conn)
{
    const struct pq_state *s = conn;
    return PQstatus(s->conn) != CONNECTION_OK;
}

static sqllock_status state_reconnect_step(sqllock_client *c, void *conn, void *space, int start,
                                           struct sqllock_wait *w)
{
    return sqllock__pq_reconnect_step(c, conn, space, start, w);
}

const struct sqllock_conn_ops sqllock__pq_conn_ops = {
    .close = state_close,
    .abandon = state_abandon,
    .socket = state_socket,
    .alive = state_alive,
    .reconnect = state_reconnect,
    .broken = state_broken,
    .reconnect_size = sizeof(struct pq_opening),
    .reconnect_step = state_reconnect_step,
};

void sqllock__pq_register(struct pq_state *s, const struct pq_stmts *set)
{
    if (s->nsets < PQ_STMT_SETS)
        s->sets[s->nsets++] = set;
}

static int add_secret(struct pq_state *s, const char *secret, size_t len)
{
    return sqllock__secrets_add(&s->secrets, secret, len);
}

/*
 * The password as typed in a URL's userinfo, which may be percent-encoded
 * and so differ from the decoded value libpq reports. Sets *ambiguous when
 * the authority holds more than one '@' (libpq then splits the password at
 * the first one and the rest of it becomes part of the host name) or the
 * '@' comes after a '/': libpq's messages quote host and port, so the
 * caller must mask quoted fragments as well.
 */
static int add_url_password(struct pq_state *s, const char *url, int *ambiguous)
{
    const char *p = strstr(url, "://");
    *ambiguous = 0;
    if (!p)
        return 0;
    p += 3;
    /* A '/' or '?' in the password ends the authority for libpq, which then
       reads the password's first part as the port and quotes it when that
       fails: so take the last '@' anywhere, and one past the authority as
       ambiguous too (masking more than the password is the safe error). */
    size_t authority = strcspn(p, "/?"), end = strlen(p);
    const char *at = NULL;
    for (size_t i = 0; i < end; i++) {
        if (p[i] == '@') {
            *ambiguous = at != NULL || i >= authority;
            at = p + i;
        }
    }
    if (!at)
        return 0;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    return colon ? add_secret(s, colon + 1, (size_t)(at - colon - 1)) : 0;
}

/*
 * Every value the string writes after "password=" (also sslpassword=, and a
 * URL's ?password=), as typed, whatever libpq makes of it. libpq skips
 * blanks after '=', so "host= password=pw" (an empty variable expanded into
 * the string) sets the host to "password=pw", and the connect error quotes
 * that host name: the password the user meant is then no password to libpq.
 */
static int add_keyword_passwords(struct pq_state *s, const char *conninfo)
{
    const char *stop = strstr(conninfo, "://") ? "&# \t\n\r\f\v" : " \t\n\r\f\v";
    for (const char *p = conninfo; (p = strstr(p, "password")) != NULL;) {
        p += strlen("password");
        p += strspn(p, " \t\n\r\f\v");
        if (*p != '=')
            continue;
        p++;
        p += strspn(p, " \t\n\r\f\v");
        /* Quoted: up to the closing quote (or the end); \' does not close. */
        size_t len = 0;
        if (*p == '\'') {
            p++;
            while (p[len] && p[len] != '\'')
                len += p[len] == '\\' && p[len + 1] ? 2 : 1;
        } else {
            len = strcspn(p, stop);
        }
        if (add_secret(s, p, len))
            return -1;
        p += len;
    }
    return 0;
}

static int collect_secrets(struct pq_state *s, const char *conninfo, PQconninfoOption *opts,
                           int *ambiguous)
{
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val &&
            add_secret(s, o->val, strlen(o->val)))
            return -1;
    if (add_keyword_passwords(s, conninfo))
        return -1;
    return add_url_password(s, conninfo, ambiguous);
}

static void discard_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Prepares, in one pipeline, every statement of the at_attach sets that
   s->have does not mark, and marks them. */
static sqllock_status prepare_missing(sqllock_client *c, struct pq_state *s)
{
    struct pqx x;
    sqllock_status st = sqllock__pqx_begin(&x, c, s, 0);
    if (st != SQLLOCK_OK)
        return st == SQLLOCK_ECONNECT ? sqllock__pqx_fail(&x, "preparing statements") : st;
    for (int i = 0; i < s->nsets; i++)
        for (int k = 0; k < s->sets[i]->n; k++)
            if (s->sets[i]->at_attach && !s->have[i][k])
                sqllock__pqx_send_prepare(&x, s->sets[i]->name[k], s->sets[i]->sql[k]);
    sqllock__pqx_end(&x);
    if (x.failed)
        return sqllock__pqx_fail(&x, "preparing statements");
    for (int i = 0; i < s->nsets; i++)
        if (s->sets[i]->at_attach)
            memset(s->have[i], 1, (size_t)s->sets[i]->n);
    return SQLLOCK_OK;
}

sqllock_status sqllock__pq_prepare_all(sqllock_client *c, struct pq_state *s)
{
    memset(s->have, 0, sizeof(s->have));
    if (s->pooled)
        return SQLLOCK_OK;
    /* Another client on this connection may have prepared some already;
       preparing one twice would fail and abort the caller's transaction. */
    PGresult *r = PQexec(s->conn, "SELECT name FROM pg_catalog.pg_prepared_statements"
                                  " WHERE name LIKE 'sqllock1\\_%'");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return sqllock__pq_fail_result(c, s, r, "preparing statements");
    for (int row = 0; row < PQntuples(r); row++)
        for (int i = 0; i < s->nsets; i++)
            for (int k = 0; k < s->sets[i]->n; k++)
                if (strcmp(PQgetvalue(r, row, 0), s->sets[i]->name[k]) == 0)
                    s->have[i][k] = 1;
    PQclear(r);
    return s->owned ? SQLLOCK_OK : prepare_missing(c, s); /* ours: prepared on use */
}

/*
 * Settings for the server side of our own sessions, applied unless the
 * caller's options (or PGOPTIONS) chose them, and only when no pooler is in
 * between. The server's keepalives are looser than the client's (10 s idle,
 * 3 probes 5 s apart, 20 s unacknowledged), so across a silent partition
 * the client reports LOST well before the server frees the lock: the other
 * way round, a second holder could be granted it while the first still
 * believes it holds it. The operating system's default keepalive is two
 * hours; without ours a vanished client would hold its locks that long.
 * PG_SQL_OWN_SETTINGS: the settings both transports apply.
 */
static const char setup_sql[] =
    "SELECT pg_catalog.pg_backend_pid(), pg_catalog.pg_is_in_recovery()"
    " FROM (SELECT pg_catalog.count(pg_catalog.set_config(d.name, d.setting, false))"
    "  FROM (VALUES " PG_SQL_OWN_SETTINGS ") AS d(name, setting)"
    "  WHERE pg_catalog.pg_backend_pid() = $1::pg_catalog.int4"
    "   AND d.name <> ALL ($2::pg_catalog.text[])"
    "   AND pg_catalog.current_setting(d.name, true) IS NOT NULL) AS applied";

/*
 * The settings the connection's startup options (the URL's options,
 * PGOPTIONS) set, as a text[] literal for setup_sql: "-c name=v",
 * "-cname=v" or "--name=v", names folded to lower case with '-' for '_',
 * as the server reads them. The server reports such a setting's source as
 * 'client'; reading the options here spares a fresh session the scan of
 * pg_settings, which was a third of a connect's time. 0 when out does not
 * hold them all (then every setting counts as the caller's).
 */
static int chosen_settings(const char *options, char *out, size_t cap)
{
    size_t o = 0;
    out[o++] = '{';
    for (const char *p = options ? options : ""; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *tok = p;
        while (*p && *p != ' ' && *p != '\t')
            p += p[0] == '\\' && p[1] ? 2 : 1;
        if (p - tok == 2 && strncmp(tok, "-c", 2) == 0) {
            while (*p == ' ' || *p == '\t')
                p++;
            tok = p;
            while (*p && *p != ' ' && *p != '\t')
                p += p[0] == '\\' && p[1] ? 2 : 1;
        } else if (strncmp(tok, "-c", 2) == 0 || strncmp(tok, "--", 2) == 0) {
            tok += 2;
        } else {
            continue;
        }
        const char *eq = memchr(tok, '=', (size_t)(p - tok));
        if (!eq || eq == tok)
            continue;
        if (o + (size_t)(eq - tok) * 2 + 4 >= cap)
            return 0;
        if (o > 1)
            out[o++] = ',';
        out[o++] = '"';
        for (const char *k = tok; k < eq; k++) {
            char ch = *k == '-' ? '_' : (char)tolower((unsigned char)*k);
            if (ch == '"' || ch == '\\')
                out[o++] = '\\';
            out[o++] = ch;
        }
        out[o++] = '"';
    }
    out[o++] = '}';
    out[o] = '\0';
    return 1;
}

/* Sends the statement that says whether the session is on a standby and
   whether a pooler is in between (a pooler gives libpq a backend pid of
   its own making); on a connection of ours it also applies our settings.
   The texts it points to live in *id. */
static sqllock_status identify_send(sqllock_client *c, struct pq_state *s,
                                    struct pq_identify *id)
{
    snprintf(id->pid, sizeof(id->pid), "%d", PQbackendPID(s->conn));
    struct pqx *x = &id->x;
    sqllock_status st = sqllock__pqx_begin_one(x, c, s);
    if (st != SQLLOCK_OK)
        return st == SQLLOCK_ECONNECT ? sqllock__pqx_fail(x, "connect") : st;
    if (s->owned) {
        /* Options too long to read here: apply none (a NULL array excludes all). */
        int known = chosen_settings(PQoptions(s->conn), id->chosen, sizeof(id->chosen));
        sqllock__pqx_send_sql(x, setup_sql, 2,
                              (const char *const[]){id->pid, known ? id->chosen : NULL});
    } else
        sqllock__pqx_send_sql(x, PG_SQL_IDENTIFY, 0, NULL);
    return SQLLOCK_OK;
}

static sqllock_status identify_done(struct pq_state *s, struct pq_identify *id)
{
    if (id->x.failed)
        return sqllock__pqx_fail(&id->x, "connect");
    s->standby = strcmp(id->r.value[1], "t") == 0;
    s->pooled = strcmp(id->r.value[0], id->pid) != 0;
    return SQLLOCK_OK;
}

/* What a freshly connected session needs before the first lock, up to the
   identifying statement, which it sends. */
static sqllock_status setup_send(sqllock_client *c, struct pq_state *s, struct pq_identify *id)
{
    if (PQserverVersion(s->conn) < 90600)
        return sqllock__fail(c, SQLLOCK_ENOTSUP,
                             "the server is PostgreSQL %d; sqllock needs "
                             "9.6 or later",
                             PQserverVersion(s->conn));
    s->cancel = PQgetCancel(s->conn);
    if (!s->cancel)
        return sqllock__fail(c, SQLLOCK_ENOMEM, "out of memory");
    return identify_send(c, s, id);
}

static sqllock_status setup(sqllock_client *c, struct pq_state *s)
{
    struct pq_identify id;
    sqllock_status st = setup_send(c, s, &id);
    if (st != SQLLOCK_OK)
        return st;
    sqllock__pqx_read(&id.x, &id.r);
    sqllock__pqx_end(&id.x);
    return identify_done(s, &id);
}

/*
 * For a message about a string libpq could not split reliably: keeps its
 * first line and turns everything from its first quote to its last into
 * one empty quoted span, for sqllock__redact to mask. Pairing quotes one by
 * one is not safe there, because a '"' in the caller's string (perhaps in
 * the password) pairs with libpq's own; with an odd count, everything after
 * the first quote goes.
 */
static void collapse_quotes(char *msg)
{
    msg[strcspn(msg, "\n")] = '\0';
    char *q1 = strchr(msg, '"'), *q2 = strrchr(msg, '"');
    size_t quotes = 0;
    for (const char *q = q1; q && (q = strchr(q, '"')) != NULL; q++)
        quotes++;
    if (q1 && quotes % 2)
        q1[1] = '\0';
    else if (q1 && q2 > q1)
        memmove(q1 + 1, q2, strlen(q2) + 1);
}

/* A setting as libpq will take it: the string's, else the environment's. */
static const char *conninfo_value(PQconninfoOption *opts, const char *keyword, const char *env)
{
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, keyword) == 0 && o->val && *o->val)
            return o->val;
    return getenv(env);
}

/* connect_timeout as libpq will apply it: the string's, PGCONNECT_TIMEOUT,
   or ours (10 s); 0 or less: none. */
static int connect_timeout_s(PQconninfoOption *opts)
{
    const char *v = conninfo_value(opts, "connect_timeout", "PGCONNECT_TIMEOUT");
    return v ? atoi(v) : 10;
}

/* Connects (nonblocking: starts) with our defaults under conninfo; hosts,
   when not NULL, names the hosts to try instead of the string's: keywords
   host, hostaddr and port, with their values. */
static PGconn *start_params(const char *conninfo, int nonblocking, const char *const *hosts)
{
    char appname[64];
    sqllock__appname(appname, sizeof(appname));
    /* Our defaults come first: the caller's string is expanded after them and
       wins for every key it names (libpq keeps the last value it reads). */
    const char *kw[16], *val[16];
    int n = 0;
    kw[n] = "fallback_application_name", val[n++] = appname;
    kw[n] = "keepalives", val[n++] = "1";
    kw[n] = "keepalives_idle", val[n++] = "10";
    kw[n] = "keepalives_interval", val[n++] = "5";
    kw[n] = "keepalives_count", val[n++] = "3";
    kw[n] = "tcp_user_timeout", val[n++] = "20000";
    if (!getenv("PGCONNECT_TIMEOUT"))
        kw[n] = "connect_timeout", val[n++] = "10";
    kw[n] = "dbname", val[n++] = conninfo;
    for (int i = 0; hosts && i < 3; i++)
        kw[n] = hosts[2 * i], val[n++] = hosts[2 * i + 1];
    kw[n] = NULL, val[n] = NULL;
    return nonblocking ? PQconnectStartParams(kw, val, 1) : PQconnectdbParams(kw, val, 1);
}

/* Starts a connection of our own (nonblocking: PQconnectStartParams,
   else the whole connect): *out, its state, on OK; *timeout_s as
   connect_timeout_s; *ambiguous when its messages must mask quotes. */
static sqllock_status open_begin(sqllock_client *c, const char *conninfo, int nonblocking,
                                 struct pq_state **out, int *timeout_s, int *ambiguous)
{
    *out = NULL;
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (!opts) {
        if (!perr)
            return sqllock__fail(c, SQLLOCK_ENOMEM, "connect: out of memory");
        /* We could not parse out the password: hide what libpq echoed. */
        char clean[512];
        struct sqllock_secrets env = {0};
        const char *pw = getenv("PGPASSWORD");
        collapse_quotes(perr);
        (void)sqllock__secrets_add(&env, pw, pw ? strlen(pw) : 0);
        sqllock__redact(clean, sizeof(clean), perr, &env, 1);
        sqllock__secrets_free(&env);
        PQfreemem(perr);
        return sqllock__fail(c, SQLLOCK_EINVAL, "connect: malformed connection string: %s",
                             clean);
    }
    struct pq_state *s = calloc(1, sizeof(*s));
    *ambiguous = 0;
    *timeout_s = connect_timeout_s(opts);
    if (!s || collect_secrets(s, conninfo, opts, ambiguous) ||
        add_secret(s, getenv("PGPASSWORD"),
                   getenv("PGPASSWORD") ? strlen(getenv("PGPASSWORD")) : 0)) {
        PQconninfoFree(opts);
        state_free(s);
        return sqllock__fail(c, SQLLOCK_ENOMEM, "connect: out of memory");
    }
    PQconninfoFree(opts);
    s->owned = 1;
    if (!(s->conninfo = strdup(conninfo))) {
        state_free(s);
        return sqllock__fail(c, SQLLOCK_ENOMEM, "connect: out of memory");
    }

    s->conn = start_params(conninfo, nonblocking, NULL);
    if (!s->conn) {
        state_free(s);
        return sqllock__fail(c, SQLLOCK_ENOMEM, "connect: out of memory");
    }
    *out = s;
    return SQLLOCK_OK;
}

/* The connect failed: the message without a password in it; s is freed. */
static sqllock_status open_failed(sqllock_client *c, struct pq_state *s, int ambiguous)
{
    char raw[SQLLOCK_ERRMSG_MAX - 32], clean[SQLLOCK_ERRMSG_MAX - 32];
    snprintf(raw, sizeof(raw), "%s", PQerrorMessage(s->conn));
    if (ambiguous)
        collapse_quotes(raw);
    sqllock__redact(clean, sizeof(clean), raw, &s->secrets, ambiguous);
    size_t len = strlen(clean);
    while (len && (clean[len - 1] == '\n' || clean[len - 1] == ' '))
        clean[--len] = '\0';
    state_free(s);
    return sqllock__fail(c, SQLLOCK_ECONNECT, "connect: %s", clean[0] ? clean : "failed");
}

sqllock_status sqllock__pq_open(sqllock_client *c, const char *conninfo, struct pq_state **out)
{
    struct pq_state *s;
    int timeout_s, ambiguous;
    sqllock_status st = open_begin(c, conninfo, 0, &s, &timeout_s, &ambiguous);
    *out = NULL;
    if (st != SQLLOCK_OK)
        return st;
    if (PQstatus(s->conn) != CONNECTION_OK)
        return open_failed(c, s, ambiguous);
    PQsetNoticeProcessor(s->conn, discard_notice, NULL);
    st = setup(c, s);
    if (st != SQLLOCK_OK)
        state_free(s);
    else
        *out = s;
    return st;
}

/* The reopened connection n takes s's place (the backends hold s). */
static sqllock_status adopt(sqllock_client *c, struct pq_state *s, struct pq_state *n)
{
    if (n->standby) {
        state_free(n);
        return sqllock__fail(c, SQLLOCK_ESTATE, "reconnect: " PG_STANDBY_REFUSED);
    }
    PQfinish(s->conn);
    PQfreeCancel(s->cancel);
    s->conn = n->conn;
    s->cancel = n->cancel;
    s->standby = n->standby;
    s->pooled = n->pooled;
    memset(s->have, 0, sizeof(s->have));
    n->conn = NULL;
    n->cancel = NULL;
    state_free(n);
    return SQLLOCK_OK;
}

sqllock_status sqllock__pq_reconnect(sqllock_client *c, struct pq_state *s)
{
    struct pq_state *n;
    sqllock_status st = sqllock__pq_open(c, s->conninfo, &n);
    return st == SQLLOCK_OK ? adopt(c, s, n) : st;
}

sqllock_status sqllock__pq_reconnect_step(sqllock_client *c, struct pq_state *s,
                                          struct pq_opening *o, int start,
                                          struct sqllock_wait *w)
{
    sqllock_status st = start ? sqllock__pq_open_start(c, s->conninfo, o) : SQLLOCK_OK;
    if (st == SQLLOCK_OK)
        st = sqllock__pq_open_step(c, o, w);
    if (st != SQLLOCK_OK)
        return st;
    st = adopt(c, s, o->s);
    o->s = NULL;
    return st;
}

/* The number of entries of a comma-separated list (libpq's host, hostaddr
   and port lists); 0 for NULL or "". */
static int list_count(const char *l)
{
    int n = l && *l ? 1 : 0;
    for (; l && *l; l++)
        n += *l == ',';
    return n;
}

/* Whether entry i of list l is v. */
static int list_entry_is(const char *l, int i, const char *v)
{
    for (; l && *l && i > 0; l++)
        i -= *l == ',';
    size_t len = l ? strcspn(l, ",") : 0;
    return l && v && strlen(v) == len && strncmp(l, v, len) == 0;
}

/* The entries of l from the i-th on, comma-joined (a pointer into l). */
static const char *list_from(const char *l, int i)
{
    for (; l && *l && i > 0; l++)
        i -= *l == ',';
    return l ? l : "";
}

/*
 * The attempt of o timed out at its current host: starts another at the
 * hosts after it, as libpq's blocking connect does (connect_timeout is per
 * host), so that a first host that hangs (an old primary frozen or cut
 * off) does not hide the ones after it. 1 when one started, 0 when none
 * is left (or it could not be told which host was being tried).
 */
static int next_host(struct pq_opening *o)
{
    struct pq_state *s = o->s;
    PQconninfoOption *opts = PQconninfoParse(s->conninfo, NULL);
    if (!opts)
        return 0;
    const char *host = conninfo_value(opts, "host", "PGHOST"),
               *addr = conninfo_value(opts, "hostaddr", "PGHOSTADDR"),
               *port = conninfo_value(opts, "port", "PGPORT");
    int n = list_count(host) > list_count(addr) ? list_count(host) : list_count(addr);
    const char *at = PQhost(s->conn), *at_port = PQport(s->conn);
    int cur = -1;
    for (int i = o->first_host; i < n && cur < 0; i++)
        if ((list_entry_is(host, i, at) || list_entry_is(addr, i, at)) &&
            (list_count(port) <= 1 || list_entry_is(port, i, at_port)))
            cur = i;
    PGconn *conn = NULL;
    if (cur >= 0 && cur + 1 < n) {
        const char *rest[6] = {
            "host",     list_from(host, cur + 1),
            "hostaddr", list_from(addr, cur + 1),
            "port",     list_count(port) > 1 ? list_from(port, cur + 1) : (port ? port : "")};
        conn = start_params(s->conninfo, 1, rest);
    }
    PQconninfoFree(opts);
    if (!conn)
        return 0;
    PQfinish(s->conn);
    s->conn = conn;
    o->first_host = cur + 1;
    o->started = 0;
    o->events = SQLLOCK_EV_WRITE;
    o->cur_host = NULL;
    o->deadline = sqllock__now_ms() + 1000LL * o->timeout_s;
    return 1;
}

sqllock_status sqllock__pq_open_start(sqllock_client *c, const char *conninfo,
                                      struct pq_opening *o)
{
    memset(o, 0, sizeof(*o));
    int timeout_s;
    sqllock_status st = open_begin(c, conninfo, 1, &o->s, &timeout_s, &o->ambiguous);
    if (st != SQLLOCK_OK)
        return st;
    if (PQstatus(o->s->conn) == CONNECTION_BAD) {
        st = open_failed(c, o->s, o->ambiguous);
        o->s = NULL;
        return st;
    }
    o->timeout_s = timeout_s;
    o->deadline = timeout_s > 0 ? sqllock__now_ms() + 1000LL * timeout_s : -1;
    o->events = SQLLOCK_EV_WRITE; /* as PQconnectPoll would have it first */
    return SQLLOCK_OK;
}

static sqllock_status open_abandoned(struct pq_opening *o, sqllock_status st)
{
    state_free(o->s);
    o->s = NULL;
    return st;
}

sqllock_status sqllock__pq_open_step(sqllock_client *c, struct pq_opening *o,
                                     struct sqllock_wait *w)
{
    struct pq_state *s = o->s;
    sqllock_status st;
    while (!o->identifying) {
        if (o->started && o->deadline >= 0 && PQhost(s->conn) != o->cur_host) {
            o->cur_host = PQhost(s->conn); /* a host of its own: its own timeout */
            o->deadline = sqllock__now_ms() + 1000LL * o->timeout_s;
        } else if (o->started && o->deadline >= 0 && sqllock__now_ms() >= o->deadline) {
            if (next_host(o))
                continue;
            return open_abandoned(o, sqllock__fail(c, SQLLOCK_ECONNECT,
                                                   "connect: timed out (connect_timeout, "
                                                   "at every host)"));
        }
        PostgresPollingStatusType ps =
            o->started ? PQconnectPoll(s->conn)
                       : (o->events == SQLLOCK_EV_WRITE ? PGRES_POLLING_WRITING
                                                        : PGRES_POLLING_READING);
        o->started = 1;
        if (ps == PGRES_POLLING_FAILED) {
            st = open_failed(c, s, o->ambiguous);
            o->s = NULL;
            return st;
        }
        if (ps == PGRES_POLLING_OK) {
            PQsetNoticeProcessor(s->conn, discard_notice, NULL);
            if ((st = setup_send(c, s, &o->id)) != SQLLOCK_OK)
                return open_abandoned(o, st);
            sqllock__pqx_nonblocking(&o->id.x);
            o->identifying = 1;
            break;
        }
        /* The socket may change between hosts: ask for it every time. */
        *w = (struct sqllock_wait){.fd = PQsocket(s->conn),
                                   .events = ps == PGRES_POLLING_WRITING ? SQLLOCK_EV_WRITE
                                                                         : SQLLOCK_EV_READ,
                                   .until_ms = o->deadline,
                                   .cancelable = 0};
        return SQLLOCK_PENDING;
    }
    if (!sqllock__pqx_collect(&o->id.x, &o->id.r, 1) || !sqllock__pqx_finish(&o->id.x)) {
        *w = o->id.x.wait;
        return SQLLOCK_PENDING;
    }
    if ((st = identify_done(s, &o->id)) == SQLLOCK_OK)
        return SQLLOCK_OK;
    return open_abandoned(o, st);
}

sqllock_status sqllock__pq_attach(sqllock_client *c, PGconn *conn, struct pq_state **out)
{
    *out = NULL;
    if (!conn)
        return sqllock__fail(c, SQLLOCK_EINVAL, "attach: the connection is NULL");
    if (PQstatus(conn) != CONNECTION_OK)
        return sqllock__fail(c, SQLLOCK_ECONNECT, "attach: the connection is not connected");
    PGTransactionStatusType txn = PQtransactionStatus(conn);
    if (txn == PQTRANS_ACTIVE || PQpipelineStatus(conn) != PQ_PIPELINE_OFF)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "attach: the connection is busy with a query "
                             "or in pipeline mode");
    if (txn == PQTRANS_INERROR)
        return sqllock__fail(c, SQLLOCK_ESTATE,
                             "attach: the connection's transaction has "
                             "failed; ROLLBACK first");
    struct pq_state *s = calloc(1, sizeof(*s));
    if (!s)
        return sqllock__fail(c, SQLLOCK_ENOMEM, "attach: out of memory");
    s->conn = conn;
    sqllock_status st = setup(c, s);
    if (st != SQLLOCK_OK)
        state_free(s);
    else
        *out = s;
    return st;
}
