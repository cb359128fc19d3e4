/* SPDX-License-Identifier: MIT */
/*
 * Hostile deployments: sqllock used the way real deployments set up
 * PostgreSQL: an application role without CREATE anywhere (PostgreSQL 15's
 * public schema), tables installed by their owner with `sqllock init` and
 * granted, a role that may only read, a read-only default transaction, a
 * search_path that is empty or names a schema the role may not create in,
 * and a DBA's statement_timeout, lock_timeout, idle_session_timeout and
 * idle_in_transaction_session_timeout on the role or the database. On
 * SQLite: a missing schema and a read-only database file.
 *
 * Every case ends with the "not wedged" assertion: after whatever failed,
 * the same client still takes and releases an advisory lock, the lock it
 * held before the failure can still be released, and its session is not
 * left in a transaction.
 *
 * ctest runs this binary once per backend and transport (libpq, psqlODBC,
 * SQLite ODBC: SQLLOCK_SUITE_URL_VAR names the URL's variable), each with
 * the cases that apply to it. Each PostgreSQL case makes roles, a schema
 * and maybe a database of its own (tests/hostile/deploy.c) and drops them.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deploy.h"

#define TTL 60000

/* A client of a case's role, the advisory lock it took before anything
   could fail, and the application_name that finds its session. */
struct app {
    sqllock_client *c;
    sqllock_lock *before;
    char appname[64];
};

/* options: server options in the URL, or NULL. */
static int app_open_with(struct app *a, struct deploy *d, const char *user, const char *options)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->appname, sizeof(a->appname), "%s", t_tag("hostile-app"));
    a->c = deploy_client(user, d->db[0] ? d->db : NULL, a->appname, options);
    if (!a->c)
        return 0;
    sqllock_acquire_opts o = t_opts(0, SQLLOCK_SESSION);
    CHECK_ST_R(sqllock_acquire(&a->before, a->c, t_tag("hostile-before"), &o), SQLLOCK_OK, a->c);
    return 1;
}

static int app_open(struct app *a, struct deploy *d, const char *user)
{
    return app_open_with(a, d, user, NULL);
}

/*
 * The "not wedged" assertion: the client takes and releases another
 * advisory lock, releases the one it held before the failure, and its
 * session is idle, not in a (failed) transaction.
 */
static int not_wedged(struct app *a, struct deploy *d)
{
    sqllock_acquire_opts o = t_opts(0, SQLLOCK_SESSION);
    sqllock_lock *l = NULL;
    CHECK_ST_R(sqllock_acquire(&l, a->c, t_tag("hostile-after"), &o), SQLLOCK_OK, a->c);
    CHECK_ST_R(sqllock_release(l), SQLLOCK_OK, a->c);
    CHECK_ST_R(sqllock_release(a->before), SQLLOCK_OK, a->c);
    a->before = NULL;
    CHECK_R(strcmp(sqllock_errmsg(a->c), "") == 0 || sqllock_last_status(a->c) == SQLLOCK_OK);
    long long in_txn = t_sql_ll(d->admin,
                                "SELECT count(*) FROM pg_stat_activity WHERE "
                                "application_name = $1 AND state LIKE 'idle in transaction%'",
                                a->appname, NULL);
    CHECKF_R(in_txn == 0, "the session is left idle in a transaction");
    return 1;
}

static void app_close(struct app *a)
{
    if (a->before)
        (void)sqllock_release(a->before);
    sqllock_client_free(a->c);
    a->c = NULL;
}

static int ran_fn(void *p)
{
    ++*(int *)p;
    return 0;
}

/* The lease tables, installed by the schema's owner as `sqllock init` does. */
static int owner_installs(struct deploy *d)
{
    sqllock_client *o =
        deploy_client(d->owner, d->db[0] ? d->db : NULL, t_tag("hostile-own"), NULL);
    if (!o)
        return 0;
    sqllock_status st = sqllock_install_schema(o);
    CHECKF_R(st == SQLLOCK_OK, "the owner's install failed: %s", sqllock_errmsg(o));
    sqllock_client_free(o);
    return 1;
}

/* The owner runs job once, so that it is recorded done. */
static int owner_marks_done(struct deploy *d, const char *job)
{
    sqllock_client *o =
        deploy_client(d->owner, d->db[0] ? d->db : NULL, t_tag("hostile-own"), NULL);
    if (!o)
        return 0;
    int ran = 0, calls = 0;
    sqllock_status st = sqllock_run_once(&ran, o, job, 5000, ran_fn, &calls);
    CHECKF_R(st == SQLLOCK_OK && ran == 1, "the owner's run_once: %s", sqllock_errmsg(o));
    sqllock_client_free(o);
    return 1;
}

/*
 * A role that cannot record a job done: run_once of a job not yet done is
 * refused with code before fn runs (fn run with no marker written would be
 * run again by every later caller), while a job recorded done answers
 * ran == 0 as for anyone.
 */
static int once_refused(struct app *a, struct deploy *d, const char *code, const char *word)
{
    const char *job = t_tag("hostile-once-ro"), *done = t_tag("hostile-once-done");
    int ran = 0, calls = 0;
    sqllock_status st = sqllock_run_once(&ran, a->c, job, 1000, ran_fn, &calls);
    CHECKF_R(st == SQLLOCK_ESERVER && strcmp(sqllock_errcode(a->c), code) == 0,
             "run_once: %s (%s), expected ESERVER (%s): %s", sqllock_status_str(st),
             sqllock_errcode(a->c), code, sqllock_errmsg(a->c));
    CHECKF_R(strstr(sqllock_errmsg(a->c), word), "run_once: the message does not say %s: %s",
             word, sqllock_errmsg(a->c));
    CHECKF_R(calls == 0 && ran == 0, "fn ran although it could not be recorded done");
    if (!owner_marks_done(d, done))
        return 0;
    CHECK_ST_R(sqllock_run_once(&ran, a->c, done, 1000, ran_fn, &calls), SQLLOCK_OK, a->c);
    CHECK_R(ran == 0 && calls == 0);
    return 1;
}

static int grant(struct deploy *d, const char *privileges)
{
    return deploy_sql(d, "GRANT %s ON ALL TABLES IN SCHEMA %s TO %s", privileges, d->schema,
                      d->role);
}

static int tables_in(struct deploy *d)
{
    return (int)t_sql_ll(d->admin,
                         "SELECT count(*) FROM pg_tables WHERE schemaname = $1"
                         " AND tablename IN ('sqllock_lease', 'sqllock_once')",
                         d->schema, NULL);
}

/* Leases and run-once work for a's role: take, check, extend, release, a
   wait that is granted, and run-once that runs once. */
static int leases_work(struct app *a)
{
    sqllock_acquire_opts o = t_lease(TTL, 0);
    sqllock_lock *l = NULL;
    const char *name = t_tag("hostile-lease");
    CHECK_ST_R(sqllock_acquire(&l, a->c, name, &o), SQLLOCK_OK, a->c);
    CHECK_ST_R(sqllock_check(l), SQLLOCK_OK, a->c);
    CHECK_ST_R(sqllock_extend(l, TTL), SQLLOCK_OK, a->c);
    CHECK_ST_R(sqllock_release(l), SQLLOCK_OK, a->c);
    o.wait_ms = 2000;
    CHECK_ST_R(sqllock_acquire(&l, a->c, name, &o), SQLLOCK_OK, a->c);
    CHECK_ST_R(sqllock_release(l), SQLLOCK_OK, a->c);
    const char *job = t_tag("hostile-once");
    int ran = 0, calls = 0;
    CHECK_ST_R(sqllock_run_once(&ran, a->c, job, 5000, ran_fn, &calls), SQLLOCK_OK, a->c);
    CHECK_R(ran == 1 && calls == 1);
    CHECK_ST_R(sqllock_run_once(&ran, a->c, job, 5000, ran_fn, &calls), SQLLOCK_OK, a->c);
    CHECK_R(ran == 0 && calls == 1);
    int existed = 0;
    CHECK_ST_R(sqllock_once_forget(&existed, a->c, job), SQLLOCK_OK, a->c);
    CHECK_R(existed == 1);
    return 1;
}

/* A lease acquire fails with SQLSTATE code and a message saying word. */
static int lease_refused(struct app *a, const char *code, const char *word)
{
    sqllock_acquire_opts o = t_lease(TTL, 0);
    sqllock_lock *l = NULL;
    sqllock_status st = sqllock_acquire(&l, a->c, t_tag("hostile-refused"), &o);
    CHECKF_R(st == SQLLOCK_ESERVER, "acquire returned %s, expected ESERVER: %s",
             sqllock_status_str(st), sqllock_errmsg(a->c));
    CHECKF_R(strcmp(sqllock_errcode(a->c), code) == 0, "errcode %s, expected %s: %s",
             sqllock_errcode(a->c), code, sqllock_errmsg(a->c));
    CHECKF_R(strstr(sqllock_errmsg(a->c), word) != NULL, "the message does not say \"%s\": %s",
             word, sqllock_errmsg(a->c));
    CHECKF_R(!strchr(sqllock_errmsg(a->c), '\n'), "not one line: %s", sqllock_errmsg(a->c));
    CHECKF_R(!strstr(sqllock_errmsg(a->c), DEPLOY_PASSWORD), "the password is shown");
    return 1;
}

/* ---- schema and privileges --------------------------------------------- */

static void t_creates_missing_tables(void)
{
    struct deploy d;
    struct app a = {0};
    if (deploy_begin(&d, "create") &&
        deploy_sql(&d, "GRANT CREATE ON SCHEMA %s TO %s", d.schema, d.role) &&
        app_open(&a, &d, d.role)) {
        if (tables_in(&d) != 0)
            t_fail(__FILE__, __LINE__, "the tables exist before the first lease");
        else if (leases_work(&a) && tables_in(&d) != 2)
            t_fail(__FILE__, __LINE__, "the first lease did not create both tables");
        else if (!t_failed)
            (void)not_wedged(&a, &d);
    }
    app_close(&a);
    deploy_end(&d);
}

static void t_least_privilege(void)
{
    struct deploy d;
    struct app a = {0};
    if (deploy_begin(&d, "least") && owner_installs(&d) &&
        grant(&d, "SELECT, INSERT, UPDATE, DELETE") && app_open(&a, &d, d.role) &&
        leases_work(&a))
        (void)not_wedged(&a, &d);
    app_close(&a);
    deploy_end(&d);
}

static void t_no_grants(void)
{
    struct deploy d;
    struct app a = {0};
    if (deploy_begin(&d, "nogrant") && owner_installs(&d) && app_open(&a, &d, d.role) &&
        lease_refused(&a, "42501", "permission")) {
        int ran = 0, calls = 0;
        sqllock_status st =
            sqllock_run_once(&ran, a.c, t_tag("hostile-once"), 1000, ran_fn, &calls);
        if (st != SQLLOCK_ESERVER || strcmp(sqllock_errcode(a.c), "42501") != 0 || calls)
            t_fail(__FILE__, __LINE__, "run_once: %s (%s), fn ran %d times: %s",
                   sqllock_status_str(st), sqllock_errcode(a.c), calls, sqllock_errmsg(a.c));
        else
            (void)not_wedged(&a, &d);
    }
    app_close(&a);
    deploy_end(&d);
}

static void t_read_only_role(void)
{
    struct deploy d;
    struct app a = {0};
    if (deploy_begin(&d, "reader") && owner_installs(&d) && grant(&d, "SELECT") &&
        app_open(&a, &d, d.role) && lease_refused(&a, "42501", "permission") &&
        once_refused(&a, &d, "42501", "permission"))
        (void)not_wedged(&a, &d);
    app_close(&a);
    deploy_end(&d);
}

static void t_read_only_transaction(void)
{
    struct deploy d;
    struct app a = {0};
    /* Missing tables first (the install is refused), then installed ones
       (the lease's write is refused). */
    if (deploy_begin(&d, "rotxn") &&
        deploy_sql(&d, "GRANT CREATE ON SCHEMA %s TO %s", d.schema, d.role) &&
        deploy_sql(&d, "ALTER ROLE %s SET default_transaction_read_only = on", d.role) &&
        app_open(&a, &d, d.role) && lease_refused(&a, "25006", "read-only") &&
        owner_installs(&d) && grant(&d, "SELECT, INSERT, UPDATE, DELETE") &&
        lease_refused(&a, "25006", "read-only") && once_refused(&a, &d, "25006", "read-only"))
        (void)not_wedged(&a, &d);
    app_close(&a);
    deploy_end(&d);
}

static void t_unwritable_search_path(void)
{
    struct deploy d;
    struct app a = {0};
    if (deploy_begin(&d, "unwritable") && app_open(&a, &d, d.role) &&
        lease_refused(&a, "42501", "permission"))
        (void)not_wedged(&a, &d);
    app_close(&a);
    deploy_end(&d);
}

static void t_empty_search_path(void)
{
    struct deploy d;
    struct app a = {0};
    if (deploy_begin(&d, "emptypath") &&
        deploy_sql(&d, "ALTER ROLE %s SET search_path = ''", d.role) &&
        app_open(&a, &d, d.role) && lease_refused(&a, "3F000", "search_path"))
        (void)not_wedged(&a, &d);
    app_close(&a);
    deploy_end(&d);
}

/* ---- a DBA's timeouts ---------------------------------------------------- */

/* Short enough that every wait below outlasts each of them several times. */
static const char *const dba_timeouts[] = {
    "statement_timeout = '300ms'", "lock_timeout = '200ms'", "idle_session_timeout = '500ms'",
    "idle_in_transaction_session_timeout = '300ms'"};

static int set_timeouts(struct deploy *d, const char *target)
{
    for (size_t i = 0; i < sizeof(dba_timeouts) / sizeof(dba_timeouts[0]); i++)
        if (!deploy_sql(d, "ALTER %s SET %s", target, dba_timeouts[i]))
            return 0;
    return 1;
}

/* A wait of wait_ms for a lock held elsewhere: TIMEOUT, and not before. */
static int waits_in_full(struct app *a, const char *name, int64_t ttl)
{
    sqllock_acquire_opts o = t_lease(ttl, 1500);
    sqllock_lock *l = NULL;
    long long t0 = t_now_ms();
    CHECK_ST_R(sqllock_acquire(&l, a->c, name, &o), SQLLOCK_TIMEOUT, a->c);
    long long took = t_now_ms() - t0;
    CHECKF_R(took >= 1400, "the 1500 ms wait ended after %lld ms", took);
    return 1;
}

/* A connection of the admin's to the case's database that no DBA setting
   times out, to hold a row lock while a client waits behind it. */
static PGconn *blocker_open(struct deploy *d)
{
    const char *admin = t_env("SQLLOCK_TEST_ADMIN_URL");
    char conninfo[1024];
    snprintf(conninfo, sizeof(conninfo),
             "%s dbname=%s application_name=hostile-blocker "
             "options='-c statement_timeout=0 -c lock_timeout=0 -c idle_session_timeout=0 "
             "-c idle_in_transaction_session_timeout=0'",
             admin ? admin : "", d->db[0] ? d->db : PQdb(d->admin));
    PGconn *pc = PQconnectdb(conninfo);
    if (PQstatus(pc) != CONNECTION_OK) {
        t_fail(__FILE__, __LINE__, "blocker: %s", PQerrorMessage(pc));
        PQfinish(pc);
        return NULL;
    }
    return pc;
}

/* The lease row of name locked by another transaction for about a second,
   and an acquire with a wait of 5 s behind it: want is what it returns (OK:
   then it waited the second out, and releases the lease). */
static int behind_row_lock(struct app *a, struct deploy *d, const char *name,
                           sqllock_status want)
{
    PGconn *b = blocker_open(d);
    if (!b)
        return 0;
    char sql[512], pid[16];
    snprintf(sql, sizeof(sql),
             "BEGIN; SELECT 1 FROM %s.sqllock_lease WHERE name = "
             "convert_to('%s', 'UTF8') FOR UPDATE; SELECT pg_sleep(1); COMMIT",
             d->db[0] ? "public" : d->schema, name);
    snprintf(pid, sizeof(pid), "%d", PQbackendPID(b));
    int ok = PQsendQuery(b, sql);
    long long end = t_now_ms() + 10000, locked = 0;
    while (ok && !locked && t_now_ms() < end) {
        locked = t_sql_ll(d->admin,
                          "SELECT count(*) FROM pg_locks WHERE pid = $1::int AND "
                          "locktype = 'transactionid'",
                          pid, NULL);
        usleep(2000);
    }
    sqllock_acquire_opts o = t_lease(TTL, 5000);
    sqllock_lock *l = NULL;
    long long t0 = t_now_ms();
    sqllock_status st = locked > 0 ? sqllock_acquire(&l, a->c, name, &o) : SQLLOCK_ESTATE;
    long long took = t_now_ms() - t0;
    PGresult *r;
    while ((r = PQgetResult(b)) != NULL)
        PQclear(r);
    PQfinish(b);
    CHECKF_R(locked > 0, "the blocker never locked the row");
    CHECKF_R(st == want, "acquire behind a row lock: %s after %lld ms, expected %s: %s",
             sqllock_status_str(st), took, sqllock_status_str(want), sqllock_errmsg(a->c));
    CHECKF_R(want != SQLLOCK_OK || took >= 500, "the row lock was not waited for (%lld ms)",
             took);
    if (st == SQLLOCK_OK)
        CHECK_ST_R(sqllock_release(l), SQLLOCK_OK, a->c);
    return 1;
}

static int slow_fn(void *p)
{
    ++*(int *)p;
    usleep(1200 * 1000); /* idle in the holder's session longer than the DBA allows */
    return 0;
}

/*
 * With dba_timeouts in force: a holder that stays idle longer than
 * idle_session_timeout keeps its lock and its lease; a waiter's 1.5 s waits
 * last 1.5 s (not lock_timeout's or statement_timeout's 0.2-0.3 s); a lease
 * acquire waits behind a row lock; run-once with a fn longer than every
 * timeout runs once and records it.
 */
static int timeouts_harmless(struct deploy *d)
{
    struct app h = {0}, w = {0};
    int ok = 0;
    const char *lock = t_tag("hostile-held"), *lease = t_tag("hostile-leased");
    sqllock_acquire_opts adv = t_opts(0, SQLLOCK_SESSION), lo = t_lease(TTL, 0);
    sqllock_lock *l = NULL, *q = NULL;
    if (app_open(&h, d, d->role) && app_open(&w, d, d->role) &&
        sqllock_acquire(&l, h.c, lock, &adv) == SQLLOCK_OK &&
        sqllock_acquire(&q, h.c, lease, &lo) == SQLLOCK_OK && waits_in_full(&w, lock, 0) &&
        waits_in_full(&w, lease, TTL)) {
        sqllock_status sl = sqllock_check(l), sq = sqllock_check(q);
        if (sl != SQLLOCK_OK || sq != SQLLOCK_OK)
            t_fail(__FILE__, __LINE__, "after 3 s idle the holder's lock: %s, lease: %s: %s",
                   sqllock_status_str(sl), sqllock_status_str(sq), sqllock_errmsg(h.c));
        else if (sqllock_release(q) != SQLLOCK_OK)
            t_fail(__FILE__, __LINE__, "release: %s", sqllock_errmsg(h.c));
        else if (behind_row_lock(&w, d, lease, SQLLOCK_OK)) {
            int ran = 0, calls = 0;
            const char *job = t_tag("hostile-slow");
            sqllock_status st = sqllock_run_once(&ran, h.c, job, 5000, slow_fn, &calls);
            if (st != SQLLOCK_OK || ran != 1 || calls != 1)
                t_fail(__FILE__, __LINE__, "run_once with a slow fn: %s, ran %d: %s",
                       sqllock_status_str(st), ran, sqllock_errmsg(h.c));
            else if (sqllock_run_once(&ran, w.c, job, 5000, slow_fn, &calls) != SQLLOCK_OK ||
                     ran != 0 || calls != 1)
                t_fail(__FILE__, __LINE__, "run_once ran again: %s", sqllock_errmsg(w.c));
            else if (sqllock_release(l) != SQLLOCK_OK)
                t_fail(__FILE__, __LINE__, "release: %s", sqllock_errmsg(h.c));
            else
                ok = not_wedged(&h, d) && not_wedged(&w, d);
            l = NULL;
        }
        q = NULL;
    } else if (!t_failed) {
        t_fail(__FILE__, __LINE__, "the holder could not take its lock and lease: %s",
               h.c ? sqllock_errmsg(h.c) : "");
    }
    app_close(&w);
    app_close(&h);
    return ok;
}

static void t_role_timeouts(void)
{
    struct deploy d;
    char target[96];
    if (deploy_begin(&d, "roletmo") &&
        deploy_sql(&d, "GRANT CREATE ON SCHEMA %s TO %s", d.schema, d.role)) {
        snprintf(target, sizeof(target), "ROLE %s", d.role);
        if (set_timeouts(&d, target))
            (void)timeouts_harmless(&d);
    }
    deploy_end(&d);
}

static void t_database_timeouts(void)
{
    struct deploy d;
    char target[96];
    /* The role owns the database, so its tables go to that database's
       public schema. */
    if (deploy_begin(&d, "dbtmo") && deploy_database(&d) &&
        deploy_sql(&d, "ALTER ROLE %s RESET search_path", d.role)) {
        snprintf(target, sizeof(target), "DATABASE %s", d.db);
        if (set_timeouts(&d, target))
            (void)timeouts_harmless(&d);
    }
    deploy_end(&d);
}

/* The caller's own lock_timeout (the URL's options) wins over ours: a lease
   acquire behind a row lock then times out as the caller asked. */
static void t_callers_timeouts_win(void)
{
    struct deploy d;
    struct app h = {0}, w = {0};
    const char *name = t_tag("hostile-mine");
    sqllock_acquire_opts lo = t_lease(TTL, 0);
    sqllock_lock *l = NULL;
    if (deploy_begin(&d, "callers") &&
        deploy_sql(&d, "GRANT CREATE ON SCHEMA %s TO %s", d.schema, d.role) &&
        app_open(&h, &d, d.role) && app_open_with(&w, &d, d.role, "-c lock_timeout=200")) {
        if (sqllock_acquire(&l, h.c, name, &lo) != SQLLOCK_OK ||
            sqllock_release(l) != SQLLOCK_OK)
            t_fail(__FILE__, __LINE__, "the lease row: %s", sqllock_errmsg(h.c));
        else if (behind_row_lock(&w, &d, name, SQLLOCK_TIMEOUT) && not_wedged(&w, &d))
            (void)not_wedged(&h, &d);
    }
    app_close(&w);
    app_close(&h);
    deploy_end(&d);
}

/* ---- SQLite ---------------------------------------------------------------- */

/* A client on a SQLite database file of the case's own; ro opens it
   read-only (mode=ro). */
static sqllock_client *sqlite_client(const char *path, int ro)
{
    const char *driver = t_env("SQLLOCK_TEST_ODBC_SQLITE_DRIVER");
    if (!driver)
        return NULL;
    char url[512];
    snprintf(url, sizeof(url), "odbc:Driver=%s;Database=%s%s%s;Timeout=30000", driver,
             ro ? "file:" : "", path, ro ? "?mode=ro" : "");
    sqllock_client *c = NULL;
    if (sqllock_connect(&c, url) != SQLLOCK_OK) {
        t_fail(__FILE__, __LINE__, "connect to %s: %s", path, sqllock_errmsg(c));
        sqllock_client_free(c);
        return NULL;
    }
    return c;
}

static void sqlite_path(char *buf, size_t n, const char *what)
{
    snprintf(buf, n, "%s/%s.db", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", t_tag(what));
    unlink(buf);
}

static void t_sqlite_creates_missing_tables(void)
{
    char path[256];
    sqlite_path(path, sizeof(path), "hostile-fresh");
    struct app a = {0};
    a.c = sqlite_client(path, 0);
    if (a.c)
        (void)leases_work(&a);
    app_close(&a);
    unlink(path);
}

/* A read-only database file, without the tables and with them: a lease is
   refused as read-only (25006, as PostgreSQL says it), and the client still
   answers what needs no write: run-once of a job recorded done. */
static void t_sqlite_read_only(void)
{
    char empty[256], full[256];
    sqlite_path(empty, sizeof(empty), "hostile-ro-empty");
    sqlite_path(full, sizeof(full), "hostile-ro-full");
    const char *job = t_tag("hostile-done");
    int ran = 0, calls = 0;
    sqllock_client *w = sqlite_client(empty, 0), *w2 = sqlite_client(full, 0);
    struct app a = {0}, b = {0};
    /* An empty file (no tables), and one with the tables and a job done. */
    if (w && w2 && sqllock_run_once(&ran, w2, job, 1000, ran_fn, &calls) == SQLLOCK_OK &&
        ran == 1) {
        sqllock_client_free(w);
        sqllock_client_free(w2);
        w = w2 = NULL;
        a.c = sqlite_client(empty, 1);
        b.c = sqlite_client(full, 1);
        if (a.c && b.c && lease_refused(&a, "25006", "read-only") &&
            lease_refused(&a, "25006", "read-only") && lease_refused(&b, "25006", "read-only")) {
            sqllock_status st = sqllock_run_once(&ran, b.c, job, 1000, ran_fn, &calls);
            if (st != SQLLOCK_OK || ran != 0 || calls != 1)
                t_fail(__FILE__, __LINE__, "run_once of a done job on a read-only file: %s: %s",
                       sqllock_status_str(st), sqllock_errmsg(b.c));
        }
    } else if (!t_failed) {
        t_fail(__FILE__, __LINE__, "setting up: %s", w2 ? sqllock_errmsg(w2) : "");
    }
    sqllock_client_free(w);
    sqllock_client_free(w2);
    app_close(&a);
    app_close(&b);
    unlink(empty);
    unlink(full);
}

static const struct tcase cases[] = {
    {"creates_missing_tables", t_creates_missing_tables,
     "a role with CREATE on its schema: the first lease creates the tables there"},
    {"least_privilege", t_least_privilege,
     "tables from the owner's `sqllock init` + grants: a role without CREATE uses leases "
     "and run-once"},
    {"no_grants", t_no_grants,
     "a role without table privileges: ESERVER, 42501, a message saying permission"},
    {"read_only_role", t_read_only_role,
     "a role with SELECT only: leases and run-once (before fn runs) 42501, not wedged"},
    {"read_only_transaction", t_read_only_transaction,
     "default_transaction_read_only = on: 25006 with or without the tables, run-once "
     "refused before fn runs, not wedged"},
    {"unwritable_search_path", t_unwritable_search_path,
     "tables missing from a schema the role may not create in: 42501, not wedged"},
    {"empty_search_path", t_empty_search_path,
     "search_path = '': 3F000 and a message naming the search_path, not wedged"},
    {"role_timeouts", t_role_timeouts,
     "ALTER ROLE SET statement/lock/idle timeouts: locks, leases, run-once unharmed"},
    {"database_timeouts", t_database_timeouts,
     "ALTER DATABASE SET statement/lock/idle timeouts: locks, leases, run-once unharmed"},
    {"callers_timeouts_win", t_callers_timeouts_win,
     "a lock_timeout in the URL's options is the caller's: kept, not neutralised"},
    {"sqlite_creates_missing_tables", t_sqlite_creates_missing_tables,
     "a fresh SQLite file: the first lease creates the tables"},
    {"sqlite_read_only", t_sqlite_read_only,
     "a read-only SQLite file: 25006 and a message saying read-only; reads still work"},
};

T_MAIN(cases)
