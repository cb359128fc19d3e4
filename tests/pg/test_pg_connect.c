/* SPDX-License-Identifier: MIT */
/*
 * Connecting: every accepted URL form, and every bad one with a clear status
 * and a message that never shows the password; a silent server bounded by
 * the connect timeout; a server restart seen as LOST.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reconnect.h"
#include "support.h"

#define PASSWORD "s3cret-Pa55"

static sqllock_status connect_status(const char *url, char *msg, size_t n)
{
    sqllock_client *c = NULL;
    sqllock_status st = sqllock_connect(&c, url);
    snprintf(msg, n, "%s", sqllock_errmsg(c));
    sqllock_client_free(c);
    return st;
}

static void t_url_forms(void)
{
    const char *tcp = t_env("SQLLOCK_TEST_TCP_URL");
    const char *unix_url = t_url();
    CHECK(tcp && unix_url);
    char msg[1024], alt[512];
    CHECK_ST(connect_status(tcp, msg, sizeof(msg)), SQLLOCK_OK, NULL);
    CHECK_ST(connect_status(unix_url, msg, sizeof(msg)), SQLLOCK_OK, NULL);
    /* postgres:// is the same as postgresql:// */
    snprintf(alt, sizeof(alt), "postgres://%s", strstr(tcp, "://") + 3);
    CHECK_ST(connect_status(alt, msg, sizeof(msg)), SQLLOCK_OK, NULL);
    /* An application_name in the URL wins over the library's fallback. */
    PGconn *admin = t_admin();
    CHECK(admin);
    const char *appname = t_tag("mine");
    snprintf(alt, sizeof(alt), "%s?application_name=%s", tcp, appname);
    sqllock_client *c;
    CHECK_ST(sqllock_connect(&c, alt), SQLLOCK_OK, c);
    CHECK(t_pid(admin, appname) > 0);
    sqllock_client_free(c);
    PQfinish(admin);
}

static void t_bad_urls(void)
{
    const char *tcp = t_env("SQLLOCK_TEST_TCP_URL");
    CHECK(tcp);
    char msg[1024], url[512];
    CHECK_ST(sqllock_connect(NULL, "x"), SQLLOCK_EINVAL, NULL);
    CHECK_ST(connect_status(NULL, msg, sizeof(msg)), SQLLOCK_EINVAL, NULL);
    CHECK_ST(connect_status("", msg, sizeof(msg)), SQLLOCK_EINVAL, NULL);
    CHECK_ST(connect_status("mysql://u:" PASSWORD "@h/db", msg, sizeof(msg)), SQLLOCK_EINVAL,
             NULL);
    CHECK(strstr(msg, "mysql") && !strstr(msg, PASSWORD));
    /* ENOTSUP without ODBC; with it, the driver manager finds no driver X. */
    sqllock_status odbc_st = connect_status("odbc:Driver=X;PWD=" PASSWORD, msg, sizeof(msg));
    CHECKF(odbc_st == SQLLOCK_ENOTSUP || odbc_st == SQLLOCK_ECONNECT, "odbc: %s: %s",
           sqllock_status_str(odbc_st), msg);
    CHECK(!strstr(msg, PASSWORD));
    /* Malformed strings in which libpq would echo the password back. */
    const char *malformed[] = {
        "host=localhost password=" PASSWORD " sslmode",
        "host=localhost password='" PASSWORD,
        "postgresql://u:" PASSWORD "@localhost:5432/db?bad%zz=1",
        "postgresql://u:" PASSWORD "@localhost:notaport/db",
        "postgresql://u:" PASSWORD "@localhost/db?" PASSWORD,
        "postgresql://u:" PASSWORD "@[::1/db",
        "host=localhost " PASSWORD,
        "postgresql://u@localhost/db?password=" PASSWORD "&nonsense_option=1",
        /* An unencoded '@' in the password: libpq takes the rest as the host. */
        "postgresql://u:s3cret@Pa55@127.0.0.1:1/db",
    };
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        sqllock_status st = connect_status(malformed[i], msg, sizeof(msg));
        CHECKF(st == SQLLOCK_EINVAL || st == SQLLOCK_ECONNECT, "%s: %s", malformed[i],
               sqllock_status_str(st));
        CHECKF(msg[0] && !strstr(msg, PASSWORD), "password shown for %s: %s", malformed[i], msg);
        CHECKF(!strstr(msg, "s3cret") && !strstr(msg, "Pa55"),
               "password fragment shown for %s: %s", malformed[i], msg);
        printf("  %s -> %s\n", sqllock_status_str(st), msg);
    }
    /* Wrong password: ECONNECT, says why, does not echo it. */
    const char *wrong = t_env("SQLLOCK_TEST_WRONGPW_URL");
    CHECK(wrong);
    CHECK_ST(connect_status(wrong, msg, sizeof(msg)), SQLLOCK_ECONNECT, NULL);
    CHECK(strstr(msg, "password authentication failed") && !strstr(msg, "wrong-password"));
    /* The right password in a URL whose database does not exist. */
    snprintf(url, sizeof(url), "%s", tcp);
    char *slash = strrchr(url, '/');
    CHECK(slash);
    snprintf(slash, sizeof(url) - (size_t)(slash - url), "/no_such_db_%d", (int)getpid());
    CHECK_ST(connect_status(url, msg, sizeof(msg)), SQLLOCK_ECONNECT, NULL);
    CHECK(!strstr(msg, PASSWORD));
    /* A port nobody listens on. */
    CHECK_ST(connect_status("host=127.0.0.1 port=1 connect_timeout=2", msg, sizeof(msg)),
             SQLLOCK_ECONNECT, NULL);
}

/* A host that accepts TCP but never answers: the connect timeout bounds it. */
static void t_silent_server_bounded(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    CHECK(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(s, 8) == 0);
    CHECK(getsockname(s, (struct sockaddr *)&a, &len) == 0);
    char url[128], msg[1024];
    snprintf(url, sizeof(url), "host=127.0.0.1 port=%d connect_timeout=2 user=x dbname=x",
             ntohs(a.sin_port));
    long long t0 = t_now_ms();
    sqllock_status st = connect_status(url, msg, sizeof(msg));
    long long took = t_now_ms() - t0;
    close(s);
    CHECK_ST(st, SQLLOCK_ECONNECT, NULL);
    printf("silent server: ECONNECT after %lld ms: %s\n", took, msg);
    /* libpq counts the timeout in whole seconds from a time() that may be
       about to tick: 2 s can end after little more than 1. */
    CHECKF(took >= 900 && took < 6000, "took %lld ms", took);
}

static void t_server_restart(void)
{
    const char *restart = t_env("SQLLOCK_TEST_RESTART_CMD");
    const char *name = t_tag("restart");
    sqllock_client *a = t_client(t_tag("a"));
    CHECK(restart && a);
    sqllock_lock *l;
    CHECK_ST(sqllock_acquire(&l, a, name, NULL), SQLLOCK_OK, a);
    CHECK(system(restart) == 0);
    long long t0 = t_now_ms();
    CHECK_ST(sqllock_check(l), SQLLOCK_LOST, a);
    CHECK_ST(sqllock_release(l), SQLLOCK_LOST, a);
    CHECKF(t_now_ms() - t0 < 5000, "noticing the restart took %lld ms", t_now_ms() - t0);
    sqllock_client *b = t_client(t_tag("b"));
    CHECK(b);
    CHECK_ST(sqllock_acquire(&l, b, name, NULL), SQLLOCK_OK, b);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, b);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

/* The session idles past the role's idle_session_timeout with a lock held;
   returns what check then says. options, when set, goes into the URL. */
static sqllock_status idle_past_role_timeout(const char *role, const char *options)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s user=%s application_name=%s%s%s%s", t_url(), role, role,
             options ? " options='" : "", options ? options : "", options ? "'" : "");
    sqllock_client *c = NULL;
    sqllock_lock *l = NULL;
    sqllock_status st = sqllock_connect(&c, url);
    if (st == SQLLOCK_OK)
        st = sqllock_acquire(&l, c, role, NULL);
    if (st != SQLLOCK_OK) {
        printf("connect/acquire as %s: %s\n", role, sqllock_errmsg(c));
        sqllock_client_free(c);
        return st;
    }
    /* Idle for three timeouts: that is the fault itself, not a wait for
       something else to happen. */
    usleep(900 * 1000);
    st = sqllock_check(l);
    (void)sqllock_release(l);
    sqllock_client_free(c);
    return st;
}

static void t_session_settings(void)
{
    PGconn *admin = t_admin();
    CHECK(admin);
    if (PQserverVersion(admin) < 140000)
        return; /* idle_session_timeout is PostgreSQL 14's */
    const char *role = t_tag("idle");
    char sql[256];
    snprintf(sql, sizeof(sql),
             "CREATE ROLE \"%s\" LOGIN; ALTER ROLE \"%s\" SET "
             "idle_session_timeout = '300ms'",
             role, role);
    CHECK(t_exec(admin, sql));
    /* The role's setting would end an idle lock holder; ours wins over it. */
    CHECK(idle_past_role_timeout(role, NULL) == SQLLOCK_OK);
    /* What the caller put in the connection string wins over ours: the
       session is ended, and the lock is reported lost, not held. */
    CHECK(idle_past_role_timeout(role, "-c idle_session_timeout=300") == SQLLOCK_LOST);
    /* The other spellings the server accepts, read the same way. */
    CHECK(idle_past_role_timeout(role, "-cstatement_timeout=0 --Idle-Session-Timeout=300") ==
          SQLLOCK_LOST);
    snprintf(sql, sizeof(sql), "DROP ROLE \"%s\"", role);
    CHECK(t_exec(admin, sql));
    PQfinish(admin);
}

/* 0, or i when msg shows the secret "<tag><i>z" (none is a prefix of another). */
static int shows_secret(const char *msg, const char *tag, int n)
{
    char secret[64];
    for (int i = 1; i <= n; i++) {
        snprintf(secret, sizeof(secret), "%s%02dz", tag, i);
        if (strstr(msg, secret))
            return i;
    }
    return 0;
}

/*
 * Many password parameters, in key=value and URL form: every value is a
 * secret, however many there are. The last key=value one sits behind an
 * empty "host=" (a variable that expanded to nothing), so libpq takes
 * "password=..." as the host name and quotes it in its connect error: a
 * list of secrets that stops collecting at some count would show it. The
 * URL forms: plain, and with a second '@' that puts part of the userinfo
 * password into the quoted host name.
 */
#define MANY_PASSWORDS 12
static void t_many_passwords(void)
{
    char kv[2048] = "", url[2048] = "postgresql://u@127.0.0.1:1/db?connect_timeout=2", at[2048];
    const char *tag = "Mny9pw";
    size_t k = 0, u = strlen(url);
    for (int i = 1; i < MANY_PASSWORDS; i++) {
        k += (size_t)snprintf(kv + k, sizeof(kv) - k, "password=%s%02dz ", tag, i);
        u += (size_t)snprintf(url + u, sizeof(url) - u, "&password=%s%02dz", tag, i);
    }
    snprintf(kv + k, sizeof(kv) - k, "port=1 connect_timeout=2 host= password=%s%02dz", tag,
             MANY_PASSWORDS);
    snprintf(at, sizeof(at), "postgresql://u:%s%02dz@%s%02dz@127.0.0.1:1/db?%s", tag,
             MANY_PASSWORDS, tag, MANY_PASSWORDS - 1, strchr(url, '?') + 1);
    const char *forms[] = {kv, url, at};
    for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
        char msg[1024];
        sqllock_status st = connect_status(forms[f], msg, sizeof(msg));
        printf("  form %zu -> %s: %s\n", f, sqllock_status_str(st), msg);
        CHECKF(st == SQLLOCK_ECONNECT || st == SQLLOCK_EINVAL, "%s", sqllock_status_str(st));
        CHECKF(msg[0] && !shows_secret(msg, tag, MANY_PASSWORDS), "password %d shown: %s",
               shows_secret(msg, tag, MANY_PASSWORDS), msg);
    }
}

/* The backend pid of c's session (through c's own connection, as an
   attached admin would see it): by name through the admin connection. */
static int pid_of(PGconn *admin, const char *appname)
{
    return t_pid(admin, appname);
}

/*
 * After the session is terminated the held lock is LOST, and the same
 * client's next acquire opens a new session (a new backend, the same
 * application_name) and takes locks again: the lost one too, once its
 * handle says LOST, never behind the caller's back.
 */
static void t_reconnect_after_terminate(void)
{
    const char *app = t_tag("re"), *name = t_tag("held"), *other = t_tag("other");
    sqllock_client *c = t_client(app);
    PGconn *admin = t_admin();
    CHECK(c && admin);
    sqllock_lock *l, *l2, *l3;
    CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c);
    int before = pid_of(admin, app);
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", before);
    CHECK(t_sql_ll(admin, "SELECT pg_terminate_backend($1::int, 5000)::int", pid, NULL) == 1);
    CHECK_ST(sqllock_check(l), SQLLOCK_LOST, c);
    long long t0 = t_now_ms();
    CHECK_ST(sqllock_acquire(&l2, c, other, NULL), SQLLOCK_OK, c);
    printf("reconnected and acquired %lld ms after the loss was seen\n", t_now_ms() - t0);
    int after = pid_of(admin, app);
    CHECK(after != 0 && after != before);
    /* Nothing of the old session was taken again. */
    CHECK(t_free_for_others(name));
    CHECK_ST(sqllock_check(l), SQLLOCK_LOST, c);
    CHECK(strstr(sqllock_errmsg(c), "connected again") != NULL);
    CHECK_ST(sqllock_acquire(&l3, c, name, NULL), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_LOST, c);
    CHECK_ST(sqllock_release(l3), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(l2), SQLLOCK_OK, c);
    sqllock_client_free(c);
    PQfinish(admin);
}

/* A client that held nothing and made no call while its session was
   terminated: its very next acquire reconnects and works (the server's
   last word was waiting on the socket), rather than failing on the dead
   connection and leaving the reconnect to the call after. */
static void t_reconnect_on_first_call(void)
{
    const char *app = t_tag("first");
    sqllock_client *c = t_client(app);
    PGconn *admin = t_admin();
    CHECK(c && admin);
    sqllock_lock *l;
    CHECK_ST(sqllock_acquire(&l, c, t_tag("a"), NULL), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    int before = pid_of(admin, app);
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", before);
    CHECK(t_sql_ll(admin, "SELECT pg_terminate_backend($1::int, 5000)::int", pid, NULL) == 1);
    CHECK_ST(sqllock_acquire(&l, c, t_tag("b"), NULL), SQLLOCK_OK, c);
    int after = pid_of(admin, app);
    CHECK(after != 0 && after != before);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    sqllock_client_free(c);
    PQfinish(admin);
}

/* An immediate restart: the first call sees the break, the next one
   reconnects and works. */
static void t_reconnect_after_restart(void)
{
    sqllock_client *c = t_client(t_tag("rr"));
    t_reconnect_after_restart_of(c, t_tag("rr"), "");
    sqllock_client_free(c);
}

/* The server is down for 3 s: calls meanwhile say ECONNECT at once (a
   refused connect), and the first call after it is back reconnects. */
static void t_reconnect_after_down(void)
{
    sqllock_client *c = t_client(t_tag("down"));
    t_reconnect_after_down_of(c, t_tag("down"), "", NULL);
    sqllock_client_free(c);
}

static const struct tcase cases[] = {
    {"reconnect_after_terminate", t_reconnect_after_terminate,
     "a terminated session: its lock is LOST, and the next acquire reconnects and works, "
     "never taking the lost lock again unasked"},
    {"reconnect_on_first_call", t_reconnect_on_first_call,
     "an idle client whose session was terminated: its next acquire reconnects and works"},
    {"reconnect_after_restart", t_reconnect_after_restart,
     "after pg_ctl restart -m immediate the same client reconnects on its next acquire"},
    {"reconnect_after_down", t_reconnect_after_down,
     "server down 3 s: ECONNECT meanwhile, then the same client reconnects and takes the lock"},
    {"url_forms", t_url_forms,
     "postgresql://, postgres:// and key=value strings connect; a URL's application_name wins"},
    {"bad_urls", t_bad_urls,
     "malformed, unsupported, wrong-password and unreachable URLs fail clearly, never showing the password"},
    {"many_passwords", t_many_passwords,
     "with 12 password parameters (key=value and URL) none of them is shown, even quoted"},
    {"silent_server_bounded", t_silent_server_bounded,
     "a server that accepts but never answers fails after the connect timeout, not never"},
    {"session_settings", t_session_settings,
     "an own session ignores the role's idle_session_timeout, unless the URL's options set it"},
    {"server_restart", t_server_restart,
     "after pg_ctl restart -m immediate check and release say LOST and a new client gets the lock"},
};

T_MAIN(cases)
