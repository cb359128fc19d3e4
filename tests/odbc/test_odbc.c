/* SPDX-License-Identifier: MIT */
/*
 * ODBC specifics: how the backend is chosen (detected from the DBMS, or
 * forced by backend=), connection errors without passwords, a libpq client
 * and an ODBC client excluding each other, every sp_getapplock return code
 * (forced through the emulation's control table), the SQL Server resource
 * name rule checked against SQL computed by the server, and a wait's
 * watcher thread being gone once the wait returns.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "odbc_int.h"
#include "odbc_support.h"

static sqllock_client *connect_url(const char *url, sqllock_status want)
{
    sqllock_client *c = NULL;
    sqllock_status st = sqllock_connect(&c, url);
    if (st != want) {
        t_fail(__FILE__, __LINE__, "connect returned %s, expected %s: %s",
               sqllock_status_str(st), sqllock_status_str(want), sqllock_errmsg(c));
        sqllock_client_free(c);
        return NULL;
    }
    return c;
}

static void t_detect_postgresql(void)
{
    const char *pg = t_env("SQLLOCK_TEST_ODBC_PG_URL"),
               *ms = t_env("SQLLOCK_TEST_ODBC_MSSQL_URL");
    CHECK(pg && ms);
    sqllock_client *a = connect_url(pg, SQLLOCK_OK), *b = connect_url(ms, SQLLOCK_OK);
    CHECK(a && b);
    CHECK(strcmp(sqllock_backend_name(a), "pg-advisory") == 0);
    CHECK(strcmp(sqllock_backend_name(b), "mssql-applock") == 0);
    /* Our own connections name themselves when the string does not. */
    PGconn *admin = t_admin();
    CHECK(admin);
    char pat[64];
    snprintf(pat, sizeof(pat), "sqllock[%ld]@%%", (long)getpid());
    long long named = t_sql_ll(admin,
                               "SELECT count(*) FROM pg_stat_activity "
                               "WHERE application_name LIKE $1",
                               pat, NULL);
    PQfinish(admin);
    CHECKF(named == 1, "%lld sessions named %s", named, pat);
    /* pg-advisory over ODBC has numeric keys; applocks do not. */
    sqllock_lock *l;
    CHECK_ST(sqllock_acquire_key(&l, a, 4242, NULL), SQLLOCK_OK, a);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, a);
    CHECK_ST(sqllock_acquire_key(&l, b, 4242, NULL), SQLLOCK_ENOTSUP, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

/* SQLite (the one other DBMS with an ODBC driver here) is detected and
   gets the lease backend alone: it has no session locks. */
static void t_detect_sqlite(void)
{
    const char *drv = t_env("SQLLOCK_TEST_ODBC_SQLITE_DRIVER");
    CHECK(drv);
    char dir[] = "/tmp/sqllock-sqlite.XXXXXX", url[512], db[64];
    CHECK(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/t.db", dir);
    snprintf(url, sizeof(url), "odbc:Driver=%s;Database=%s", drv, db);
    sqllock_client *c = connect_url(url, SQLLOCK_OK);
    CHECK(c);
    int lease_only = strcmp(sqllock_backend_name(c), "lease") == 0;
    sqllock_lock *l = NULL;
    sqllock_status plain = sqllock_acquire(&l, c, "x", NULL);
    int says_ttl = strstr(sqllock_errmsg(c), "ttl_ms") != NULL;
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.ttl_ms = 60000;
    sqllock_status keyed = sqllock_acquire_key(&l, c, 7, &o);
    sqllock_status leased = sqllock_acquire(&l, c, "x", &o);
    sqllock_status released = leased == SQLLOCK_OK ? sqllock_release(l) : leased;
    sqllock_client_free(c);
    unlink(db);
    rmdir(dir);
    CHECK(lease_only && plain == SQLLOCK_ENOTSUP && says_ttl);
    CHECK(keyed == SQLLOCK_ENOTSUP && leased == SQLLOCK_OK && released == SQLLOCK_OK);
}

static void t_bad_urls(void)
{
    const char *pg = t_env("SQLLOCK_TEST_ODBC_PG_URL");
    CHECK(pg);
    char url[1024];
    snprintf(url, sizeof(url), "odbc:backend=oracle-dbms-lock;%s", pg + 5);
    sqllock_client *c = connect_url(url, SQLLOCK_EINVAL);
    CHECK(c && strstr(sqllock_errmsg(c), "oracle-dbms-lock"));
    sqllock_client_free(c);
    /* Unparsable: the message must not echo a password it cannot find. */
    c = connect_url("odbc:Driver={x;PWD={hunter2-secret;UID=u", SQLLOCK_EINVAL);
    CHECK(c && !strstr(sqllock_errmsg(c), "hunter2"));
    sqllock_client_free(c);
    c = connect_url("odbc:Driver=no-such-driver-xyz;PWD=hunter2-secret", SQLLOCK_ECONNECT);
    CHECK(c && !strstr(sqllock_errmsg(c), "hunter2"));
    sqllock_client_free(c);
    /* A driver that echoes the password (here as the host it cannot find):
       masked, plain and braced. */
    const char *drv = strstr(pg, "Driver=");
    CHECK(drv);
    const char *pw[] = {"PWD=hunter2-host", "PWD={hunter2-host}", "pwd={hunter2-host}"};
    for (int i = 0; i < 3; i++) {
        snprintf(url, sizeof(url), "odbc:%.*s;Servername=hunter2-host;Port=1;%s",
                 (int)strcspn(drv, ";"), drv, pw[i]);
        c = connect_url(url, SQLLOCK_ECONNECT);
        CHECK(c);
        CHECKF(!strstr(sqllock_errmsg(c), "hunter2") && strstr(sqllock_errmsg(c), "***"),
               "%s: %s", pw[i], sqllock_errmsg(c));
        sqllock_client_free(c);
    }
}

static void t_wrong_password(void)
{
    const char *pg = t_env("SQLLOCK_TEST_ODBC_PG_URL");
    CHECK(pg);
    /* Braced and plain, in a string the driver rejects. */
    const char *pw[] = {"PWD={wrong-Pa55;x}}y}", "PWD=wrong-Pa55"};
    for (int i = 0; i < 2; i++) {
        char url[1024];
        snprintf(url, sizeof(url), "%.*s%s", (int)(strstr(pg, "PWD=") - pg), pg, pw[i]);
        sqllock_client *c = connect_url(url, SQLLOCK_ECONNECT);
        CHECK(c);
        printf("message: %s (errcode %s)\n", sqllock_errmsg(c), sqllock_errcode(c));
        CHECK(strstr(sqllock_errmsg(c), "password authentication failed"));
        CHECK(!strstr(sqllock_errmsg(c), "wrong-Pa55"));
        CHECK(strcmp(sqllock_errcode(c), "08001") == 0);
        sqllock_client_free(c);
    }
}

static sqllock_client *client_on(const char *var)
{
    const char *url = t_env(var);
    if (!url)
        return NULL;
    return connect_url(url, SQLLOCK_OK);
}

static void t_libpq_and_odbc_exclude(void)
{
    const char *name = t_tag("cross");
    sqllock_client *pq = client_on("SQLLOCK_TEST_URL"),
                   *od = client_on("SQLLOCK_TEST_ODBC_PG_URL");
    CHECK(pq && od);
    sqllock_lock *a, *b;
    sqllock_acquire_opts sh = SQLLOCK_ACQUIRE_OPTS_INIT;
    sh.mode = SQLLOCK_SHARED;
    CHECK_ST(sqllock_acquire(&a, pq, name, NULL), SQLLOCK_OK, pq);
    CHECK_ST(sqllock_acquire(&b, od, name, NULL), SQLLOCK_BUSY, od);
    CHECK_ST(sqllock_acquire(&b, od, name, &sh), SQLLOCK_BUSY, od);
    CHECK_ST(sqllock_release(a), SQLLOCK_OK, pq);
    CHECK_ST(sqllock_acquire(&b, od, name, NULL), SQLLOCK_OK, od);
    CHECK_ST(sqllock_acquire(&a, pq, name, NULL), SQLLOCK_BUSY, pq);
    CHECK_ST(sqllock_release(b), SQLLOCK_OK, od);
    /* Shared on both sides coexists. */
    CHECK_ST(sqllock_acquire(&a, pq, name, &sh), SQLLOCK_OK, pq);
    CHECK_ST(sqllock_acquire(&b, od, name, &sh), SQLLOCK_OK, od);
    CHECK_ST(sqllock_release(a), SQLLOCK_OK, pq);
    CHECK_ST(sqllock_release(b), SQLLOCK_OK, od);
    sqllock_client_free(pq);
    sqllock_client_free(od);
}

/* Makes the next sp_getapplock of the session appname return code. */
static int force_next(PGconn *admin, const char *appname, int code)
{
    char pid[16], cs[16];
    snprintf(pid, sizeof(pid), "%d", t_pid(admin, appname));
    snprintf(cs, sizeof(cs), "%d", code);
    return t_sql_ll(admin,
                    "WITH i AS (INSERT INTO sqllock_emulation_force VALUES "
                    "($1::int, $2::int) RETURNING 1) SELECT count(*) FROM i",
                    pid, cs) == 1;
}

static void t_mssql_return_codes(void)
{
    const char *url = t_env("SQLLOCK_TEST_ODBC_MSSQL_URL");
    const char *app = t_tag("codes");
    PGconn *admin = t_admin();
    CHECK(url && admin);
    sqllock_client *c = t_client(app); /* SQLLOCK_SUITE_URL_VAR names the mssql URL */
    CHECK(c && strcmp(sqllock_backend_name(c), "mssql-applock") == 0);
    const char *name = t_tag("code");
    sqllock_acquire_opts wait = SQLLOCK_ACQUIRE_OPTS_INIT;
    wait.wait_ms = 5000;
    const struct {
        int code;
        int64_t wait_ms;
        sqllock_status want;
        const char *errcode, *says;
    } v[] = {
        {-1, 0, SQLLOCK_BUSY, "", "held by another"},
        {-1, 5000, SQLLOCK_TIMEOUT, "", "returned -1"},
        {-2, 5000, SQLLOCK_CANCELED, "", "returned -2"},
        {-3, 5000, SQLLOCK_DEADLOCK, "40001", "returned -3"},
        {-999, 0, SQLLOCK_ESERVER, "01000", "forced -999"},
        {-999, 5000, SQLLOCK_ESERVER, "01000", "call error"},
        {-7, 0, SQLLOCK_ESERVER, "", "not a documented return code"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        CHECK(force_next(admin, app, v[i].code));
        sqllock_lock *l;
        wait.wait_ms = v[i].wait_ms;
        long long t0 = t_now_ms();
        sqllock_status st = sqllock_acquire(&l, c, name, &wait);
        CHECKF(st == v[i].want, "code %d: %s, expected %s: %s", v[i].code,
               sqllock_status_str(st), sqllock_status_str(v[i].want), sqllock_errmsg(c));
        CHECKF(strstr(sqllock_errmsg(c), v[i].says), "code %d: \"%s\" lacks \"%s\"", v[i].code,
               sqllock_errmsg(c), v[i].says);
        CHECKF(strcmp(sqllock_errcode(c), v[i].errcode) == 0, "code %d: errcode %s", v[i].code,
               sqllock_errcode(c));
        CHECK(l == NULL && t_now_ms() - t0 < 2000); /* forced: no wait happened */
        /* Nothing held, and the session works on. */
        CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c);
        CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    }
    printf("-999 reads: %s\n", sqllock_errmsg(c));
    sqllock_client_free(c);
    PQfinish(admin);
}

/* The documented name rule, checked against the server: the admin session
   takes the resource the rule predicts, computed in SQL, and must find it
   held by the client. */
static void t_mssql_resource_names(void)
{
    const char *app = t_tag("names");
    PGconn *admin = t_admin();
    sqllock_client *c = t_client(app);
    CHECK(admin && c && strcmp(sqllock_backend_name(c), "mssql-applock") == 0);
    char n255[256], n256[257], long_a[400], long_b[400];
    memset(n255, 'a', 255), n255[255] = '\0';
    memset(n256, 'b', 256), n256[256] = '\0';
    memset(long_a, 'c', 399), long_a[399] = '\0';
    memcpy(long_b, long_a, 400), long_b[300] = 'd'; /* differs after 255 */
    /* 4-byte UTF-8 (2 UTF-16 units each): 127 of them plus "x" is 255 units. */
    char astral[600] = "";
    for (int i = 0; i < 127; i++)
        strcat(astral, "\xf0\x9f\x94\x92");
    strcat(astral, "x");
    char astral_over[sizeof(astral) + 1];
    snprintf(astral_over, sizeof(astral_over), "%sy", astral);
    const struct {
        const char *name;
        int as_is;
    } v[] = {
        {"plain", 1},
        {n255, 1},
        {"ünïcødé ✓", 1},
        {astral, 1},
        {n256, 0},
        {long_a, 0},
        {long_b, 0},
        {astral_over, 0},
        {"\xff\xfe invalid utf-8", 0},
        {"trailing space ", 0},
        {"sqllock:sha256:looks-hashed", 0},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        sqllock_lock *l;
        CHECK_ST(sqllock_acquire(&l, c, v[i].name, NULL), SQLLOCK_OK, c);
        char hex[2100] = "";
        for (size_t k = 0; v[i].name[k]; k++)
            snprintf(hex + 2 * k, 3, "%02x", (unsigned char)v[i].name[k]);
        long long busy = t_sql_ll(
            admin,
            v[i].as_is ? "SELECT sp_getapplock(convert_from(decode($1, 'hex'), 'UTF8'),"
                         " 'Exclusive', 'Session', 0)"
                       : "SELECT sp_getapplock('sqllock:sha256:' ||"
                         " encode(sha256(decode($1, 'hex')), 'hex'), 'Exclusive', 'Session', 0)",
            hex, NULL);
        CHECKF(busy == -1, "name %zu: the predicted resource was not held (%lld)", i, busy);
        CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    }
    /* Two long names that share their first 255 bytes are two locks. */
    sqllock_lock *la, *lb;
    CHECK_ST(sqllock_acquire(&la, c, long_a, NULL), SQLLOCK_OK, c);
    CHECK_ST(sqllock_acquire(&lb, c, long_b, NULL), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(la), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(lb), SQLLOCK_OK, c);
    /* The local rule agrees: hashed forms are 79 characters. */
    char out[MSSQL_RESOURCE_MAX + 1];
    CHECK(sqllock__mssql_resource(long_a, strlen(long_a), out) == 79);
    CHECK(strncmp(out, MSSQL_HASH_PREFIX, strlen(MSSQL_HASH_PREFIX)) == 0);
    CHECK(sqllock__mssql_resource(n255, 255, out) == 255 && memcmp(out, n255, 255) == 0);
    /* The public form (sqllock status on SQL Server) is the same rule. */
    char pub[SQLLOCK_MSSQL_RESOURCE_MAX + 1];
    CHECK(sqllock_mssql_resource(long_a, pub, sizeof(pub)) == 79);
    CHECK(sqllock__mssql_resource(long_a, strlen(long_a), out) == 79 && strcmp(pub, out) == 0);
    CHECK(sqllock_mssql_resource("plain", pub, sizeof(pub)) == 5 && strcmp(pub, "plain") == 0);
    CHECK(sqllock_mssql_resource("plain", pub, 5) == 0); /* no room for the NUL */
    CHECK(sqllock_mssql_resource("", pub, sizeof(pub)) == 0);
    CHECK(sqllock_mssql_resource(NULL, pub, sizeof(pub)) == 0);
    sqllock_client_free(c);
    PQfinish(admin);
}

static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

struct canceler {
    sqllock_client *c;
    PGconn *admin;
    const char *app;
};

static void *cancel_when_blocked(void *arg)
{
    struct canceler *k = arg;
    (void)t_wait_blocked(k->admin, t_pid(k->admin, k->app), 5000);
    sqllock_cancel(k->c);
    return NULL;
}

/* A client has one watcher thread, from its first wait to
   sqllock_client_free, however many waits and cancels come between, and a
   cancel during a wait on either ODBC backend works. */
static void t_watcher_gone(void)
{
    const char *vars[] = {"SQLLOCK_TEST_ODBC_PG_URL", "SQLLOCK_TEST_ODBC_MSSQL_URL"};
    PGconn *admin = t_admin();
    CHECK(admin);
    for (int i = 0; i < 2; i++) {
        const char *url = t_env(vars[i]), *app = t_tag("w"), *name = t_tag("watch");
        CHECK(url);
        char full[1024];
        snprintf(full, sizeof(full), "%s;pqopt={application_name=%s}", url, app);
        sqllock_client *c = connect_url(full, SQLLOCK_OK), *h = connect_url(url, SQLLOCK_OK);
        CHECK(c && h);
        sqllock_lock *hl, *l;
        CHECK_ST(sqllock_acquire(&hl, h, name, NULL), SQLLOCK_OK, h);
        int before = thread_count();
        sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
        o.wait_ms = 0;
        CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_BUSY, c);
        CHECK(thread_count() == before); /* a try starts none */
        o.wait_ms = 150;
        CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_TIMEOUT, c);
        CHECK(thread_count() == before + 1);
        struct canceler k = {c, admin, app};
        pthread_t th;
        CHECK(pthread_create(&th, NULL, cancel_when_blocked, &k) == 0);
        o.wait_ms = SQLLOCK_WAIT_FOREVER;
        sqllock_status st = sqllock_acquire(&l, c, name, &o);
        pthread_join(th, NULL);
        CHECK_ST(st, SQLLOCK_CANCELED, c);
        CHECK(thread_count() == before + 1);
        CHECK_ST(sqllock_release(hl), SQLLOCK_OK, h);
        o.wait_ms = 1000;
        CHECK_ST(sqllock_acquire(&l, c, name, &o), SQLLOCK_OK, c);
        CHECK(thread_count() == before + 1);
        CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
        sqllock_client_free(c);
        CHECK(thread_count() == before);
        sqllock_client_free(h);
    }
    PQfinish(admin);
}

/* ODBC has no reliable asynchronous mode across drivers: every _start is
   ENOTSUP, says so, and leaves nothing in flight. */
static void t_no_nonblocking(void)
{
    const char *vars[] = {"SQLLOCK_TEST_ODBC_PG_URL", "SQLLOCK_TEST_ODBC_MSSQL_URL"};
    for (int i = 0; i < 2; i++) {
        const char *url = t_env(vars[i]), *name = t_tag("nb");
        CHECK(url);
        sqllock_client *c = connect_url(url, SQLLOCK_OK);
        CHECK(c);
        CHECK(sqllock_socket(c) == -1 && sqllock_events(c) == 0 && sqllock_timeout_ms(c) == -1);
        CHECK_ST(sqllock_acquire_start(c, name, NULL), SQLLOCK_ENOTSUP, c);
        CHECK(strstr(sqllock_errmsg(c), "without blocking") != NULL);
        CHECK_ST(sqllock_acquire_key_start(c, 77, NULL), SQLLOCK_ENOTSUP, c);
        CHECK_ST(sqllock_poll(NULL, c), SQLLOCK_ENOTSUP, c);
        sqllock_lock *l;
        CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c); /* nothing was in flight */
        CHECK_ST(sqllock_check_start(l), SQLLOCK_ENOTSUP, c);
        CHECK_ST(sqllock_release_start(l), SQLLOCK_ENOTSUP, c);
        CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
        sqllock_client_free(c);
    }
}

/* pg-advisory over ODBC leaves the session's settings as it found them. */
static void t_pg_settings_left_as_found(void)
{
    const char *url = t_env("SQLLOCK_TEST_ODBC_PG_URL"), *name = t_tag("settings");
    CHECK(url);
    struct t_odbc o;
    CHECK(t_odbc_open(&o, url, t_tag("s")));
    CHECK(t_odbc_exec(&o, "SET lock_timeout = '7s'"));
    CHECK(t_odbc_exec(&o, "SET statement_timeout = '9s'"));
    sqllock_client *c = t_odbc_attach(&o), *h = connect_url(url, SQLLOCK_OK);
    CHECK(c && h);
    sqllock_lock *hl, *l;
    CHECK_ST(sqllock_acquire(&hl, h, name, NULL), SQLLOCK_OK, h);
    for (int txn = 0; txn < 2; txn++) {
        if (txn)
            CHECK(t_odbc_autocommit(&o, 0));
        sqllock_acquire_opts x = SQLLOCK_ACQUIRE_OPTS_INIT;
        x.wait_ms = 150;
        CHECK_ST(sqllock_acquire(&l, c, name, &x), SQLLOCK_TIMEOUT, c);
        CHECK(t_odbc_exec(&o, "DO $$ BEGIN IF current_setting('lock_timeout') <> '7s' OR "
                              "current_setting('statement_timeout') <> '9s' THEN RAISE "
                              "EXCEPTION 'settings changed'; END IF; END $$"));
    }
    CHECK(t_odbc_end(&o, SQL_COMMIT));
    CHECK(t_odbc_autocommit(&o, 1));
    CHECK_ST(sqllock_release(hl), SQLLOCK_OK, h);
    sqllock_client_free(c);
    sqllock_client_free(h);
    t_odbc_close(&o);
}

/* The piece that needs no server: SHA-256. (PWD masking is tested where
   it happens, on the messages of a real connect: bad_urls, wrong_password.) */
static void t_local_rules(void)
{
    unsigned char h[32];
    char hex[65];
    sqllock__sha256((const unsigned char *)"abc", 3, h);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
}

/*
 * Many PWD attributes (plain, braced, braced with }}): every value is a
 * secret, however many there are, in the form the driver reads it too
 * ({a}}b} is a}b). The driver uses the last; the string's Servername
 * repeats the eleventh password (a template that put a variable in the
 * wrong place), and psqlODBC quotes the host name it could not resolve: a
 * list of secrets that stops collecting at some count would show it.
 */
#define MANY_PWD 12
static void t_many_passwords(void)
{
    const char *pg = t_env("SQLLOCK_TEST_ODBC_PG_URL");
    CHECK(pg);
    const char *tag = "Odbc7pw";
    /* Around each password: plain, braced, braced with a doubled brace. */
    const char *open[] = {"", "{", "{"}, *close[] = {"", "}", "}}}"};
    char url[4096];
    size_t n = (size_t)snprintf(url, sizeof(url), "%.*s", (int)(strstr(pg, "PWD=") - pg), pg);
    for (int i = 1; i <= MANY_PWD; i++)
        n += (size_t)snprintf(url + n, sizeof(url) - n, "PWD=%s%s%02dz%s;", open[i % 3], tag, i,
                              close[i % 3]);
    snprintf(url + n, sizeof(url) - n, "Servername={%s%02dz}}}", tag, MANY_PWD - 1);
    sqllock_client *c = connect_url(url, SQLLOCK_ECONNECT);
    CHECK(c);
    const char *msg = sqllock_errmsg(c);
    printf("message: %s\n", msg);
    for (int i = 1; i <= MANY_PWD; i++) {
        char secret[64];
        snprintf(secret, sizeof(secret), "%s%02dz", tag, i);
        CHECKF(!strstr(msg, secret), "password %d shown: %s", i, msg);
    }
    CHECK(msg[0]);
    sqllock_client_free(c);
}

static const struct tcase cases[] = {
    {"local_rules", t_local_rules, "SHA-256 matches FIPS 180-4"},
    {"detect_postgresql", t_detect_postgresql,
     "a PostgreSQL DBMS gives pg-advisory over ODBC, named sqllock[pid]@host; "
     "backend=mssql-applock forces applocks"},
    {"detect_sqlite", t_detect_sqlite,
     "SQLite is detected and has leases only: a lock without a ttl is ENOTSUP"},
    {"bad_urls", t_bad_urls,
     "an unknown backend= is EINVAL; malformed strings, unknown drivers and a driver "
     "echoing the password (plain or braced) show no password"},
    {"many_passwords", t_many_passwords,
     "with 12 PWD attributes (plain, braced, }}-escaped) none of them is shown, even quoted"},
    {"wrong_password", t_wrong_password,
     "a refused login is ECONNECT with the driver's reason and 08001, the password masked"},
    {"libpq_and_odbc_exclude", t_libpq_and_odbc_exclude,
     "a libpq client and an ODBC client exclude each other on one name, in both directions"},
    {"mssql_return_codes", t_mssql_return_codes,
     "sp_getapplock's -1, -2, -3, -999 and unknown codes map to BUSY/TIMEOUT, CANCELED, "
     "DEADLOCK and ESERVER with diagnostics, leaving nothing held"},
    {"mssql_resource_names", t_mssql_resource_names,
     "names are sent as is or as sqllock:sha256:<hex> exactly as documented"},
    {"no_nonblocking", t_no_nonblocking,
     "over ODBC every non-blocking call is ENOTSUP with a clear message, nothing in flight"},
    {"watcher_gone", t_watcher_gone,
     "cancel ends ODBC waits on both backends; one watcher thread per client, ended with it"},
    {"pg_settings_left_as_found", t_pg_settings_left_as_found,
     "a failed wait over ODBC leaves lock_timeout and statement_timeout as the caller set them"},
};

T_MAIN(cases)
