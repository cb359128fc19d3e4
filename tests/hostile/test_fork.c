/* SPDX-License-Identifier: MIT */
/*
 * Hostile deployments: a forking server. A parent holds a lock and forks;
 * the child inherits the client (and with it the parent's connection) and
 * frees it, lets an atexit handler free it, just exits, or calls the API on
 * it. None of that may act on the parent's server session: afterwards the
 * parent's lock is still held (another client's try is BUSY, pg_locks shows
 * it on the parent's backend), its session is the same one (same backend
 * pid; check and release answer OK), and every call the child made
 * returned ESTATE naming the parent's pid and changed nothing on the
 * server. Every case ends with the "not wedged" assertion: the parent's
 * client and a fresh one each still take and release a lock.
 *
 * ctest runs this binary once per backend and transport, as the shared
 * suite (tests/suite): SQLLOCK_SUITE_URL_VAR names the URL's variable and
 * SQLLOCK_SUITE_TTL_MS, when set, makes every lock a lease of that ttl.
 * Parent and child synchronise through pipes: the parent reads what the
 * child saw until the child's end of the pipe closes, which happens only
 * once the child has exited (its atexit handlers included).
 */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sqllock/pg.h"
#include "support.h"
#ifdef T_WITH_ODBC
#include "tds_admin.h"
#endif

/* The server session of the client named app: through libpq's admin
   connection, or for a URL through FreeTDS the SQL Server's own view;
   0 when none or serverless. */
struct session_view {
    PGconn *pg;
#ifdef T_WITH_ODBC
    struct t_odbc tds;
    int is_tds;
#endif
};

static int view_open(struct session_view *v)
{
    memset(v, 0, sizeof(*v));
#ifdef T_WITH_ODBC
    if (t_tds_url(t_url())) {
        v->is_tds = 1;
        return t_odbc_open(&v->tds, t_url(), "sqllock-test-admin");
    }
#endif
    v->pg = t_admin();
    return v->pg != NULL;
}

static int view_pid(struct session_view *v, const char *app)
{
#ifdef T_WITH_ODBC
    if (v->is_tds)
        return t_tds_pid(&v->tds, app);
#endif
    return v->pg ? t_pid(v->pg, app) : 0;
}

static void view_close(struct session_view *v)
{
#ifdef T_WITH_ODBC
    if (v->is_tds)
        t_odbc_close(&v->tds);
#endif
    PQfinish(v->pg);
}

static int64_t suite_ttl(void)
{
    const char *v = getenv("SQLLOCK_SUITE_TTL_MS");
    return v ? atoll(v) : 0;
}

static sqllock_acquire_opts opts(int64_t wait_ms)
{
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.wait_ms = wait_ms;
    o.ttl_ms = suite_ttl();
    return o;
}

/* SQLite has no server session to look at. */
static int serverless(sqllock_client *c)
{
    return strcmp(sqllock_backend_name(c), "lease") == 0;
}


/* What the child saw, one row per call, sent to the parent whole. */
#define SEEN_MAX 12
struct seen {
    int n;
    int fn_ran; /* sqllock_with's or sqllock_run_once's fn ran in the child */
    int own_st; /* a client of the child's own: acquire, then release */
    struct {
        char what[24];
        int st;
        char msg[200];
    } call[SEEN_MAX];
};

static void note(struct seen *s, sqllock_client *c, const char *what, sqllock_status st)
{
    if (s->n == SEEN_MAX)
        return;
    snprintf(s->call[s->n].what, sizeof(s->call[0].what), "%s", what);
    s->call[s->n].st = st;
    snprintf(s->call[s->n].msg, sizeof(s->call[0].msg), "%s", sqllock_errmsg(c));
    s->n++;
}

enum child_end { END_FREE, END_ATEXIT_FREE, END_EXIT, END_CALLS };

/* The child's view of the parent's state. */
static sqllock_client *inherited;
static sqllock_lock *inherited_lock;
static const char *other_name;

static void free_at_exit(void)
{
    sqllock_client_free(inherited);
}

static int child_fn(void *payload)
{
    ((struct seen *)payload)->fn_ran = 1;
    return 0;
}

/* Every call of the API that would talk to the server, from the child. */
static void child_calls(struct seen *s)
{
    sqllock_acquire_opts o = opts(1000);
    sqllock_lock *l = NULL;
    note(s, inherited, "acquire", sqllock_acquire(&l, inherited, other_name, &o));
    if (l)
        return; /* taken in the parent's session: the parent will see it */
    note(s, inherited, "acquire_key",
         sqllock_acquire_key(&l, inherited, sqllock_advisory_key(other_name) + 1, NULL));
    if (l)
        return;
    note(s, inherited, "check", sqllock_check(inherited_lock));
    note(s, inherited, "extend", sqllock_extend(inherited_lock, 120000));
    note(s, inherited, "with", sqllock_with(NULL, inherited, other_name, &o, child_fn, s));
    int ran = 0;
    note(s, inherited, "run_once",
         sqllock_run_once(&ran, inherited, other_name, 0, child_fn, s));
    note(s, inherited, "once_forget", sqllock_once_forget(NULL, inherited, other_name));
    note(s, inherited, "install_schema", sqllock_install_schema(inherited));
    /* Last: with the defect, a release that worked frees the handle. */
    sqllock_status rs = sqllock_release(inherited_lock);
    note(s, inherited, "release", rs);
    if (rs != SQLLOCK_ESTATE)
        inherited_lock = NULL;
    /* A cancel from the child must not reach a wait of the parent's. */
    sqllock_cancel(inherited);
    /* What the child should do instead: a client of its own. */
    sqllock_client *own = t_client(t_tag("fork-child"));
    sqllock_acquire_opts t = opts(0);
    s->own_st = own ? sqllock_acquire(&l, own, t_tag("fork-child-lock"), &t) : SQLLOCK_ECONNECT;
    if (s->own_st == SQLLOCK_OK)
        s->own_st = sqllock_release(l);
    sqllock_client_free(own);
}

static void child_main(enum child_end end, int out)
{
    struct seen *s = calloc(1, sizeof(*s));
    if (!s)
        _exit(3);
    if (end == END_CALLS)
        child_calls(s);
    if (end == END_FREE || end == END_CALLS)
        sqllock_client_free(inherited);
    if (end == END_ATEXIT_FREE && atexit(free_at_exit) != 0)
        _exit(4);
    ssize_t w = write(out, s, sizeof(*s));
    free(s);
    /* exit(), not _exit(): atexit handlers and stdio run as in a real child
       (and a leak checker reports what the child's free left behind). */
    exit(w == (ssize_t)sizeof(*s) ? 0 : 5);
}

/* Forks a child that ends as `end` says; fills *s with what it saw.
   1 when the child exited 0 having reported, 0 (case failed) otherwise. */
static int fork_child(enum child_end end, struct seen *s)
{
    int p[2];
    CHECK_R(pipe(p) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK_R(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child_main(end, p[1]);
    }
    close(p[1]);
    memset(s, 0, sizeof(*s));
    size_t got = 0;
    int eof = 0;
    long long deadline = t_now_ms() + 60000;
    while (!eof && t_now_ms() < deadline) {
        struct pollfd pf = {p[0], POLLIN, 0};
        if (poll(&pf, 1, 1000) <= 0)
            continue;
        ssize_t n = read(p[0], (char *)s + got, got < sizeof(*s) ? sizeof(*s) - got : 1);
        if (n <= 0)
            eof = 1;
        else
            got += (size_t)n;
    }
    close(p[0]);
    if (!eof)
        kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECKF_R(eof, "the child did not finish within 60 s");
    CHECKF_R(got == sizeof(*s), "the child reported %zu of %zu bytes", got, sizeof(*s));
    CHECKF_R(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child ended with status 0x%x",
             status);
    return 1;
}

/* The "not wedged" assertion: c, and a fresh client, take and release a lock. */
static void usable(sqllock_client *c)
{
    sqllock_acquire_opts o = opts(0);
    sqllock_lock *l;
    CHECK_ST(sqllock_acquire(&l, c, t_tag("usable"), &o), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    sqllock_client *d = t_client(t_tag("fork-fresh"));
    CHECK(d);
    CHECK_ST(sqllock_acquire(&l, d, t_tag("usable"), &o), SQLLOCK_OK, d);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, d);
    sqllock_client_free(d);
}

/* Another client's try on name: BUSY while someone holds it. */
static sqllock_status try_other(const char *name)
{
    sqllock_client *d = t_client(t_tag("fork-other"));
    if (!d)
        return SQLLOCK_ECONNECT;
    sqllock_acquire_opts o = opts(0);
    sqllock_lock *l;
    sqllock_status st = sqllock_acquire(&l, d, name, &o);
    if (st == SQLLOCK_OK)
        (void)sqllock_release(l);
    sqllock_client_free(d);
    return st;
}

/* A client attached to a libpq connection of the test's own (*pc). */
static sqllock_client *attached_client(const char *app, PGconn **pc)
{
    sqllock_client *c = NULL;
    *pc = t_pq(app);
    if (*pc && sqllock_attach_pg(&c, *pc) != SQLLOCK_OK) {
        t_fail(__FILE__, __LINE__, "attach failed: %s", sqllock_errmsg(c));
        sqllock_client_free(c);
        return NULL;
    }
    return c;
}

/*
 * The parent holds name on c (session pid on the server, or 0), attached
 * to a connection of its own when `attach`, and forks a child that ends as
 * `end` says; afterwards the parent's lock and session are as they were.
 */
static void parent_keeps(enum child_end end, int attach)
{
    const char *app = t_tag("fork-parent"), *name = t_tag("fork");
    other_name = t_tag("fork-other-name");
    PGconn *pc = NULL;
    sqllock_client *c = inherited = attach ? attached_client(app, &pc) : t_client(app);
    CHECK(c);
    struct session_view view = {0};
    int viewing = !serverless(c);
    CHECK(!viewing || view_open(&view));
    int pid = viewing ? view_pid(&view, app) : 0;
    CHECK(!viewing || pid > 0);
    sqllock_acquire_opts o = opts(0);
    CHECK_ST(sqllock_acquire(&inherited_lock, c, name, &o), SQLLOCK_OK, c);
    sqllock_lock *l = inherited_lock;

    struct seen s;
    if (!fork_child(end, &s))
        return;

    /* What the child's calls returned: ESTATE naming this process. */
    char owner[32];
    snprintf(owner, sizeof(owner), "process %ld", (long)getpid());
    for (int i = 0; i < s.n; i++)
        CHECKF(s.call[i].st == SQLLOCK_ESTATE && strstr(s.call[i].msg, owner),
               "the child's %s returned %d (%s): \"%s\"; expected ESTATE naming %s",
               s.call[i].what, s.call[i].st, sqllock_status_str(s.call[i].st), s.call[i].msg,
               owner);
    CHECK(end != END_CALLS || s.n == 9);
    CHECKF(!s.fn_ran, "fn ran in the child");
    CHECK_ST((sqllock_status)s.own_st, SQLLOCK_OK, NULL);

    /* The lock is still the parent's (with a lease: its row is not gone),
       in the session it had. */
    CHECK_ST(try_other(name), SQLLOCK_BUSY, NULL);
    if (viewing) {
        CHECKF(view_pid(&view, app) == pid, "the parent's session %d is gone (now %d)", pid,
               view_pid(&view, app));
        if (strcmp(sqllock_backend_name(c), "pg-advisory") == 0 && !suite_ttl())
            CHECKF(t_holds(view.pg, pid, sqllock_advisory_key(name)) == 1,
                   "pg_locks: the parent's backend holds the lock %d times",
                   t_holds(view.pg, pid, sqllock_advisory_key(name)));
    }
    /* Nothing the child asked for was taken on the server. */
    CHECK_ST(try_other(other_name), SQLLOCK_OK, NULL);
    CHECK_ST(sqllock_check(l), SQLLOCK_OK, c);
    /* A cancel the child sent does not end the parent's next wait. */
    sqllock_acquire_opts w = opts(2000);
    sqllock_lock *l2;
    CHECK_ST(sqllock_acquire(&l2, c, other_name, &w), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(l2), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    CHECK_ST(try_other(name), SQLLOCK_OK, NULL);
    usable(c);
    sqllock_client_free(c);
    if (pc)
        PQfinish(pc);
    if (viewing)
        view_close(&view);
}

static void t_child_frees(void)
{
    parent_keeps(END_FREE, 0);
}

static void t_child_frees_at_exit(void)
{
    parent_keeps(END_ATEXIT_FREE, 0);
}

static void t_child_exits(void)
{
    parent_keeps(END_EXIT, 0);
}

static void t_child_calls(void)
{
    parent_keeps(END_CALLS, 0);
}

/* Attaching is libpq's here: on an "odbc:" URL the case runs on the libpq
   URL of the same server (with advisory locks), others and all. */
static void t_child_frees_attached(void)
{
    const char *url = t_url();
    if (url && strncmp(url, "odbc:", 5) == 0) {
        setenv("SQLLOCK_SUITE_URL_VAR", "SQLLOCK_TEST_URL", 1);
        unsetenv("SQLLOCK_SUITE_TTL_MS");
    }
    parent_keeps(END_FREE, 1);
}

static const struct tcase cases[] = {
    {"child_frees", t_child_frees,
     "a child's sqllock_client_free of an inherited client leaves the parent's session and "
     "lock (and lease row) alone"},
    {"child_frees_at_exit", t_child_frees_at_exit,
     "a child whose atexit handler frees the inherited client leaves the parent's lock"},
    {"child_exits", t_child_exits,
     "a child that exits without freeing leaves the parent's lock"},
    {"child_calls", t_child_calls,
     "in a child every call on an inherited client is ESTATE naming the owner's pid, changes "
     "nothing on the server, and its cancel does not reach the parent; a client of the "
     "child's own works"},
    /* Last: on an ODBC URL it switches the environment to the libpq URL. */
    {"child_frees_attached", t_child_frees_attached,
     "a child's free of a client attached to the parent's PGconn unlocks nothing"},
};

T_MAIN(cases)
