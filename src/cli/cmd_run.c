/* SPDX-License-Identifier: MIT */
/*
 * `sqllock run NAME... [options] -- PROGRAM [ARGS...]`: flock(1) across
 * machines. Takes the lock (several NAMEs: all of them or none, through
 * sqllock_acquire_all, in key order) through the public API, runs PROGRAM as a child
 * (never through a shell), passes SIGINT, SIGTERM and SIGHUP on to it, and
 * releases the lock once it has exited. While PROGRAM runs the lock is
 * checked every --check-every; a lock that is gone means another holder may
 * already be running, so PROGRAM is stopped (SIGTERM, then SIGKILL after
 * --grace) and the exit status says so (70). A lease (--ttl) is renewed
 * every third of its ttl while PROGRAM runs (sqllock_keep_alive_run); its
 * deadline is known in advance, so when renewals fail PROGRAM is stopped
 * before the lease could end, not after.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char cmd_run_help[] =
    "usage: sqllock run NAME [NAME...]|--key N|--key A/B [-n | -w DURATION] [-s]\n"
    "                   [--ttl DURATION] [-E CODE]\n"
    "                   [--check-every DURATION] [--grace DURATION]\n"
    "                   -- PROGRAM [ARGS...]\n"
    "\n"
    "Takes the lock NAME (or a numeric key), runs PROGRAM (not through a shell)\n"
    "while holding it and releases it once PROGRAM has exited. Several NAMEs\n"
    "(at most 1024) are taken all or none, in one order whatever the order given,\n"
    "so that runs asking for overlapping NAMEs never deadlock; -n, -w, -s and\n"
    "--ttl apply to each, and -w bounds them all together. SIGINT, SIGTERM and\n"
    "SIGHUP are passed on to PROGRAM. The lock is checked every --check-every while PROGRAM runs; if it\n"
    "is lost (connection killed, server restarted, lease not renewed), PROGRAM gets\n"
    "SIGTERM, then SIGKILL after --grace, and sqllock exits 70.\n"
    "\n"
    "Options:\n"
    "  -n, --nonblock           try once; if the lock is held, give up at once\n"
    "  -w, --wait DURATION      wait at most DURATION (default: wait for ever)\n"
    "      --key N|A/B          the advisory lock of a number instead of NAME, as\n"
    "                           other tools take it: N as pg_advisory_lock(N)\n"
    "                           (bigint), A/B as pg_advisory_lock(A, B) (two\n"
    "                           integers; a different lock from any bigint)\n"
    "  -s, --shared             a shared lock: other shared holders may run too,\n"
    "                           exclusive ones may not\n"
    "      --ttl DURATION       a lease that expires DURATION after it was taken\n"
    "                           or renewed; it is renewed every DURATION/3 while\n"
    "                           PROGRAM runs (reconnecting if need be). If the\n"
    "                           renewals fail, PROGRAM gets SIGTERM --grace (at\n"
    "                           most DURATION/2) before the lease could end,\n"
    "                           SIGKILL just before (100ms at most), and sqllock\n"
    "                           exits 70; never two PROGRAMs at once\n"
    "  -E, --conflict-exit-code CODE\n"
    "                           exit CODE (0-255) instead of 75 when the lock\n"
    "                           could not be had\n"
    "      --check-every DURATION\n"
    "                           how often to check that the lock is held (5s;\n"
    "                           a lease is checked by each renewal instead)\n"
    "      --grace DURATION     time PROGRAM has to exit after SIGTERM once the\n"
    "                           lock is lost or its lease ends, before SIGKILL (5s)\n"
    "  -v, --verbose            say what it waits for and who holds the lock\n"
    "      --url URL            the database, as for sqllock --url\n"
    "  -h, --help               this help\n"
    "\n"
    "DURATION is 250ms, 10s, 5m, 1h or a bare number of seconds (whole numbers).\n"
    "\n"
    "Exit status: PROGRAM's own (128+N if signal N killed it); 75 the lock could\n"
    "not be had (busy or timed out; see -E); 69 the database cannot be reached;\n"
    "64 usage error; 70 the lock was lost while PROGRAM ran; 77 the role may not\n"
    "use the lease table, or the database is read-only (--ttl); 126 or 127 PROGRAM\n"
    "could not be run; 128+N signal N ended the wait for the lock.\n";

/* The longest the supervising loop sleeps, so that a SIGCHLD dropped by a
   full self-pipe delays noticing PROGRAM's exit by no more than this. */
#define REAP_EVERY_MS 1000

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the wait reports ask about: each lock of o, named with its key. */
struct report_set {
    int n;
    const char **whats;
    struct cli_key *keys;
    char *text;
};

static void report_set_free(struct report_set *r)
{
    free(r->whats);
    free(r->keys);
    free(r->text);
}

/* 0, or -1 out of memory (no report then). */
static int report_set_init(struct report_set *r, const struct run_opts *o)
{
    enum { WHAT_MAX = SQLLOCK_NAME_MAX + 96 }; /* o->what, and its key */
    r->n = o->nnames > 1 ? o->nnames : 1;
    r->whats = calloc((size_t)r->n, sizeof(*r->whats));
    r->keys = calloc((size_t)r->n, sizeof(*r->keys));
    r->text = malloc((size_t)r->n * WHAT_MAX);
    if (!r->whats || !r->keys || !r->text) {
        report_set_free(r);
        return -1;
    }
    for (int i = 0; i < r->n; i++) {
        char *t = r->text + (size_t)i * WHAT_MAX;
        r->keys[i] = o->key;
        if (o->nnames > 1)
            r->keys[i] = (struct cli_key){.key = sqllock_advisory_key(o->names[i])};
        if (o->nnames > 1)
            snprintf(t, WHAT_MAX, "lock \"%s\" (key %lld)", o->names[i],
                     (long long)r->keys[i].key);
        else if (o->name)
            snprintf(t, WHAT_MAX, "%s (key %lld)", o->what, (long long)o->key.key);
        else
            snprintf(t, WHAT_MAX, "%s", o->what);
        r->whats[i] = t;
    }
    return 0;
}

/* Takes every lock of o into locks (o->nnames of them, or the one key). */
static sqllock_status acquire(sqllock_lock **lock, sqllock_client *c, const struct run_opts *o,
                              const sqllock_acquire_opts *ao)
{
    if (o->nnames > 1)
        return sqllock_acquire_all(lock, c, o->names, (size_t)o->nnames, ao);
    if (o->name)
        return sqllock_acquire(lock, c, o->name, ao);
    if (o->key.pair)
        return sqllock_acquire_key_pair(lock, c, o->key.a, o->key.b, ao);
    return sqllock_acquire_key(lock, c, o->key.key, ao);
}

/* The leases of o for messages: lease "A", or (several NAMEs, whichever
   ends first) one of leases "A", "B", ... */
static const char *leases_of(const struct run_opts *o, char *buf, size_t n)
{
    if (o->nnames > 1)
        snprintf(buf, n, "one of leases%s", o->what + strlen("locks"));
    else
        snprintf(buf, n, "lease \"%s\"", o->name);
    return buf;
}

/* A lease that ended before PROGRAM could start: as if never had. */
static int lease_too_short(const struct run_opts *o)
{
    char w[sizeof(o->what) + 16];
    cli_err("%s ran out before '%s' could start (--ttl %lldms)", leases_of(o, w, sizeof(w)),
            o->program[0], (long long)o->ttl_ms);
    return o->busy_code;
}

/* The exit status for an acquire that did not return OK. */
static int not_acquired(const struct cli *cli, const struct run_opts *o, sqllock_client *c,
                        sqllock_status st, const char *url)
{
    struct report_set r;
    switch (st) {
    case SQLLOCK_BUSY:
        /* An expected outcome, silent as flock's (cron mails every line). */
        if (cli->verbose && cli_url_is_libpq(url) && report_set_init(&r, o) == 0) {
            waitreport_once(url, r.n, r.whats, r.keys);
            report_set_free(&r);
        } else if (cli->verbose)
            cli_err("%s is held elsewhere", o->what);
        return o->busy_code;
    case SQLLOCK_TIMEOUT:
        if (cli->verbose)
            cli_err("gave up waiting for %s after %lldms", o->what, (long long)o->wait_ms);
        return o->busy_code;
    case SQLLOCK_CANCELED: /* only our signal handler cancels */
        return 128 + signals_terminating();
    case SQLLOCK_DEADLOCK: cli_err("%s", sqllock_errmsg(c)); return o->busy_code;
    case SQLLOCK_EINVAL:
        if (o->nnames > 1) /* a NAME twice, or two NAMEs of one key */
            return cli_usage("run", "%s", sqllock_errmsg(c));
        return cli_fail(c, st);
    default: return cli_fail(c, st);
    }
}

/* Takes the lock. */
static sqllock_status take(const struct cli *cli, const struct run_opts *o, sqllock_client *c,
                           const char *url, sqllock_lock **lock)
{
    sqllock_acquire_opts ao = SQLLOCK_ACQUIRE_OPTS_INIT;
    ao.mode = o->shared ? SQLLOCK_SHARED : SQLLOCK_EXCLUSIVE;
    ao.ttl_ms = o->ttl_ms;
    ao.wait_ms = 0;
    /* With -v, a try first: only a lock that is busy is worth a report. */
    int report = cli->verbose && o->wait_ms != 0;
    sqllock_status st = SQLLOCK_BUSY;
    if (report)
        st = acquire(lock, c, o, &ao);
    if (st != SQLLOCK_BUSY)
        return st;
    struct waitreport *w = NULL;
    struct report_set r = {0};
    /* The report reads pg_locks, over libpq. */
    if (report && cli_url_is_libpq(url) && report_set_init(&r, o) == 0)
        w = waitreport_start(url, r.n, r.whats, r.keys);
    else if (report)
        cli_err("waiting for %s (who holds it is shown for PostgreSQL URLs only)", o->what);
    ao.wait_ms = o->wait_ms;
    st = acquire(lock, c, o, &ao);
    waitreport_stop(w);
    report_set_free(&r);
    return st;
}

/*
 * Whether sqllock runs in the foreground of a terminal. PROGRAM then stays
 * in the terminal's foreground process group, so that it can read the
 * terminal and ^C reaches it directly. Otherwise (cron, CI, containers)
 * PROGRAM leads a process group of its own and every signal goes to that
 * whole group, so that the children of a script stop with it.
 */
static int in_terminal_foreground(void)
{
    int fd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int fg = tcgetpgrp(fd) == getpgrp();
    close(fd);
    return fg;
}

/* Starts PROGRAM: its pid, or -1. *own_group: it leads a process group. */
static pid_t spawn(char **program, int *own_group)
{
    *own_group = !in_terminal_foreground();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) {
        /* Both sides set the group, so that it exists before either acts. */
        if (pid > 0 && *own_group)
            (void)setpgid(pid, pid);
        return pid;
    }
    if (*own_group)
        (void)setpgid(0, 0);
    /* If sqllock dies (even by SIGKILL), the server frees the lock at once;
       PROGRAM must then not go on as if it still held it. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(128 + SIGTERM);
    execvp(program[0], program);
    int e = errno;
    cli_err("cannot run '%s': %s", program[0], strerror(e));
    _exit(e == ENOENT ? CLI_EXIT_NOTFOUND : CLI_EXIT_NOEXEC);
}

/* Passes queued signals on to PROGRAM. The terminal sends its SIGINT and
   SIGHUP to the whole foreground process group, PROGRAM included, so those
   are not sent a second time. */
static void forward_signals(pid_t target)
{
    int sig, from_kernel;
    while ((sig = signals_next(&from_kernel)) != 0) {
        if (sig == SIGCHLD || (from_kernel && target > 0))
            continue;
        kill(target, sig);
    }
}

static int poll_timeout(long long deadline)
{
    long long left = deadline - now_ms();
    return left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

static int exit_status_of(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

/*
 * When PROGRAM must be stopped because its lease could end, renewed or not
 * (the deadline moves with every renewal): SIGKILL a little before the
 * client-side deadline (so that a late wake-up of this process still lands
 * before it), SIGTERM --grace earlier (at most half the ttl, so that a
 * short lease still runs PROGRAM).
 */
struct lease_stop {
    long long term_at, kill_at; /* LLONG_MAX: no lease */
};

#define LEASE_SLACK_MS 100

/* The number of locks o holds: its NAMEs, or the one key. */
static int nlocks(const struct run_opts *o)
{
    return o->nnames > 1 ? o->nnames : 1;
}

static struct lease_stop lease_stop_plan(const struct run_opts *o, sqllock_lock *const *locks)
{
    if (o->ttl_ms <= 0)
        return (struct lease_stop){LLONG_MAX, LLONG_MAX};
    /* The first lease to end ends the protection of PROGRAM. */
    long long lease_end = LLONG_MAX;
    for (int i = 0; i < nlocks(o); i++) {
        long long d = sqllock_lease_deadline(locks[i]);
        if (d < lease_end)
            lease_end = d;
    }
    long long slack = o->ttl_ms / 10 < LEASE_SLACK_MS ? o->ttl_ms / 10 : LEASE_SLACK_MS;
    long long grace = o->grace_ms < o->ttl_ms / 2 ? o->grace_ms : o->ttl_ms / 2;
    long long kill_at = lease_end - slack;
    return (struct lease_stop){kill_at - grace, kill_at};
}

/*
 * Waits for the child while the checker watches the lock; signals go to
 * target (the child, or -pgid for its process group). Returns the child's
 * exit status as a shell reports it; *lost is set when the lock was found
 * gone, or its lease was ending, and the child was stopped for it.
 */
static int supervise(const struct run_opts *o, struct checker *k, pid_t child, pid_t target,
                     sqllock_lock *const *locks, int *lost)
{
    struct lease_stop plan = lease_stop_plan(o, locks);
    long long kill_at = plan.kill_at;
    char w[sizeof(o->what) + 16];
    int status, killed = 0;
    struct pollfd p[2] = {{.fd = signals_fd(), .events = POLLIN},
                          {.fd = checker_fd(k), .events = POLLIN}};
    for (;;) {
        pid_t r = waitpid(child, &status, WNOHANG);
        if (r == child)
            return exit_status_of(status);
        if (r < 0 && errno != EINTR) {
            cli_err("waiting for '%s': %s", o->program[0], strerror(errno));
            return CLI_EXIT_OSERR;
        }
        long long now = now_ms();
        if (!*lost) { /* read on this thread while the checker renews */
            plan = lease_stop_plan(o, locks);
            kill_at = plan.kill_at;
        }
        if (!*lost && now >= plan.term_at) {
            *lost = 1;
            cli_err("%s was not renewed and may end in %lldms (--ttl %lldms); "
                    "stopping '%s'",
                    leases_of(o, w, sizeof(w)), plan.kill_at > now ? plan.kill_at - now : 0,
                    (long long)o->ttl_ms, o->program[0]);
            kill(target, SIGTERM);
        }
        if (*lost && !killed && now >= kill_at) {
            if (kill_at == plan.kill_at)
                cli_err("'%s' did not exit before %s ended; sending SIGKILL", o->program[0],
                        leases_of(o, w, sizeof(w)));
            else
                cli_err("'%s' did not exit within the grace period; sending SIGKILL",
                        o->program[0]);
            kill(target, SIGKILL);
            killed = 1;
        }
        long long deadline = now + REAP_EVERY_MS;
        if (!*lost && plan.term_at < deadline)
            deadline = plan.term_at;
        if (*lost && !killed && kill_at < deadline)
            deadline = kill_at;
        if (poll(p, *lost ? 1 : 2, poll_timeout(deadline)) <= 0)
            continue;
        if (p[0].revents)
            forward_signals(target);
        if (!*lost && p[1].revents) {
            *lost = 1;
            cli_err("%s lost while '%s' ran (%s); stopping it", o->what, o->program[0],
                    checker_reason(k));
            kill(target, SIGTERM);
            if (now_ms() + o->grace_ms < kill_at)
                kill_at = now_ms() + o->grace_ms;
        }
    }
}

/* Releases every lock: OK, LOST when one was lost, or another failure. */
static sqllock_status release_all(const struct run_opts *o, sqllock_lock **locks)
{
    sqllock_status worst = SQLLOCK_OK;
    for (int i = 0; i < nlocks(o); i++) {
        sqllock_status st = sqllock_release(locks[i]);
        if (st != SQLLOCK_OK && worst != SQLLOCK_LOST)
            worst = st;
    }
    return worst;
}

static int run_locked(const struct cli *cli, const struct run_opts *o, sqllock_client *c,
                      sqllock_lock **locks, int *stuck)
{
    if (now_ms() >= lease_stop_plan(o, locks).kill_at) {
        release_all(o, locks);
        return lease_too_short(o);
    }
    int own_group;
    pid_t child = spawn(o->program, &own_group);
    if (child < 0) {
        cli_err("cannot start '%s': %s", o->program[0], strerror(errno));
        release_all(o, locks);
        return CLI_EXIT_OSERR;
    }
    pid_t target = own_group ? -child : child;
    /* Started after the fork, so that the child is forked from one thread. */
    struct checker *k = checker_start(c, locks, nlocks(o), (int)o->check_ms);
    if (!k) {
        cli_err("cannot watch the lock (out of threads or memory); stopping '%s'",
                o->program[0]);
        kill(target, SIGKILL);
        (void)waitpid(child, NULL, 0);
        release_all(o, locks);
        return CLI_EXIT_OSERR;
    }
    if (cli->verbose)
        cli_err("holding %s; running '%s' (pid %ld)", o->what, o->program[0], (long)child);
    int lost = 0;
    int code = supervise(o, k, child, target, locks, &lost);
    if (checker_stop(k) != 0) {
        /* The server stopped answering mid-check: PROGRAM is stopped, and
           nothing more can be asked of the client. */
        cli_err("the database did not answer; not releasing %s (a lease ends by its ttl, a "
                "session lock with the connection when sqllock exits)",
                o->what);
        *stuck = 1;
        return lost ? CLI_EXIT_LOST : code;
    }
    sqllock_status st = release_all(o, locks);
    if (lost)
        return CLI_EXIT_LOST;
    if (st == SQLLOCK_LOST) {
        cli_err("%s was lost at some point while '%s' ran (%s); it exited with "
                "status %d",
                o->what, o->program[0], sqllock_errmsg(c), code);
        return CLI_EXIT_LOST;
    }
    if (st != SQLLOCK_OK)
        cli_err("releasing %s: %s (closing the connection releases it)", o->what,
                sqllock_errmsg(c));
    else if (cli->verbose)
        cli_err("'%s' exited with status %d; released %s", o->program[0], code, o->what);
    return code;
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
    struct run_opts o;
    int help = 0;
    int code = run_opts_parse(cli, &o, argc, argv, &help);
    if (code || help) {
        if (help)
            fputs(cmd_run_help, stdout);
        return code;
    }
    const char *url = cli_url(cli);
    if (!url)
        return cli_usage("run", "no database: give --url or set SQLLOCK_URL or DATABASE_URL");
    if (signals_init() != 0) {
        cli_err("cannot set up signal handling: %s", strerror(errno));
        return CLI_EXIT_OSERR;
    }

    sqllock_client *c;
    sqllock_status st = sqllock_connect(&c, url);
    if (st != SQLLOCK_OK) {
        code = cli_fail(c, st);
        sqllock_client_free(c);
        return code;
    }
    signals_set_client(c);
    sqllock_lock **locks = calloc((size_t)nlocks(&o), sizeof(*locks));
    if (!locks) {
        cli_err("out of memory");
        sqllock_client_free(c);
        return CLI_EXIT_OSERR;
    }
    long long start = now_ms();
    st = signals_terminating() ? SQLLOCK_CANCELED : take(cli, &o, c, url, locks);
    signals_set_client(NULL);
    if (st == SQLLOCK_OK && signals_terminating()) {
        /* Told to stop while the lock was being granted: do not start now. */
        release_all(&o, locks);
        st = SQLLOCK_CANCELED;
    }
    if (st != SQLLOCK_OK)
        code = not_acquired(cli, &o, c, st, url);
    else {
        if (cli->verbose)
            cli_err("took %s after %lldms", o.what, now_ms() - start);
        int stuck = 0;
        code = run_locked(cli, &o, c, locks, &stuck);
        if (stuck) /* another thread is inside a call on c, which exit() ends */
            return code;
    }
    free(locks);
    sqllock_client_free(c);
    return code;
}
