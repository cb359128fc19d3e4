/* SPDX-License-Identifier: MIT */
/*
 * A lock client for the network fault tests that writes what it saw as a
 * history (one tab-separated line per event, the fault suite's format:
 * mono_ns proc event name token server_ts detail), so that the script can
 * time the events against the fault on one clock (CLOCK_MONOTONIC is one
 * clock for every process of the kernel, network namespaces included) and
 * the checker can look for overlapping holds.
 *
 *   net_client hold NAME HISTORY CHECK_MS MAX_MS
 *       takes NAME (a try: the test made sure it is free), then asks the
 *       server every CHECK_MS whether it is still held, until it is LOST
 *       (exit 0) or MAX_MS have passed (exit 2: never noticed the loss;
 *       the history then ends with a release_invoke at that moment).
 *   net_client take NAME HISTORY WAIT_MS
 *       waits up to WAIT_MS for NAME, then releases it (exit 0 when taken).
 *   net_client fault HISTORY VICTIM DETAIL
 *       a "fault" line stamped now: taken just before the fault is injected.
 *
 * The server is $NET_URL, from the environment so that its password stays
 * out of every process's command line. No server_ts: the library does not
 * give its statements' clock_timestamp() back, so that field is "-".
 * $NET_TTL_MS > 0 makes hold and take acquire a lease of that ttl: its
 * acquire_ok then carries the fencing token, and the holder's its
 * deadline_ns, past which it may not assume the lease (nor does the checker).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "history.h"
#include "sqllock.h"

static int hist = -1;
static const char *proc;
static sqllock_acquire_opts opts = SQLLOCK_ACQUIRE_OPTS_INIT;

/* Advisory locks have no fencing token: "-". */
static void event(enum hist_event ev, const char *name, const char *detail)
{
    hist_write(hist, 0, proc, ev, name, -1, NULL, detail);
}

/* acquire_ok, with a lease's token and, for a try sent at invoked_ns (0:
   a wait, whose last statement's time is not known here), the client-side
   deadline: the ttl runs from the server's grant, which is later. */
static void granted(const sqllock_lock *l, const char *name, int64_t invoked_ns)
{
    char detail[64] = "";
    if (opts.ttl_ms <= 0) {
        event(HIST_ACQUIRE_OK, name, NULL);
        return;
    }
    if (invoked_ns > 0)
        snprintf(detail, sizeof detail, "deadline_ns=%lld",
                 (long long)(invoked_ns + opts.ttl_ms * 1000000));
    hist_write(hist, 0, proc, HIST_ACQUIRE_OK, name, sqllock_fencing_token(l), NULL, detail);
}

static sqllock_client *connect_env(void)
{
    const char *url = getenv("NET_URL");
    sqllock_client *c = NULL;
    if (!url) {
        fprintf(stderr, "net_client: NET_URL is not set\n");
        return NULL;
    }
    if (sqllock_connect(&c, url) != SQLLOCK_OK) {
        fprintf(stderr, "net_client: connect: %s\n", sqllock_errmsg(c));
        sqllock_client_free(c);
        return NULL;
    }
    return c;
}

/* The holder's deadline, kept by a thread of its own: without a TCP
   timeout, sqllock_check may block for as long as TCP keeps retrying
   (minutes), so the deadline cannot wait for it to return. */
struct watchdog {
    const char *name;
    long max_ms;
};

static void *watchdog_main(void *arg)
{
    const struct watchdog *w = arg;
    struct timespec at;
    clock_gettime(CLOCK_MONOTONIC, &at);
    at.tv_sec += w->max_ms / 1000;
    at.tv_nsec += w->max_ms % 1000 * 1000000L;
    at.tv_sec += at.tv_nsec / 1000000000L;
    at.tv_nsec %= 1000000000L;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) != 0)
        ;
    /* The holder stops believing it holds the lock now, so its history
       must say so: its held interval ends here, not at its last line. */
    event(HIST_RELEASE_INVOKE, w->name, "gave up: no LOST reported in time");
    fprintf(stderr, "net_client: no LOST after %ld ms\n", w->max_ms);
    _exit(2);
}

static int hold(sqllock_client *c, const char *name, long check_ms, long max_ms)
{
    sqllock_lock *l;
    event(HIST_ACQUIRE_INVOKE, name, "try");
    int64_t invoked = hist_mono_ns();
    sqllock_status st = sqllock_acquire(&l, c, name, &opts);
    if (st != SQLLOCK_OK) {
        event(HIST_ACQUIRE_FAIL, name, sqllock_status_str(st));
        fprintf(stderr, "net_client: acquire: %s\n", sqllock_errmsg(c));
        return 1;
    }
    granted(l, name, invoked);
    struct watchdog w = {name, max_ms};
    pthread_t th;
    if (pthread_create(&th, NULL, watchdog_main, &w) != 0) {
        fprintf(stderr, "net_client: cannot start the watchdog\n");
        return 1;
    }
    struct timespec pause = {check_ms / 1000, check_ms % 1000 * 1000000L};
    /* The pause paces the checks (the detection granularity under test);
       it synchronises with nothing. */
    for (long i = 0; i <= max_ms / check_ms; i++) {
        st = sqllock_check(l);
        if (st == SQLLOCK_LOST) {
            event(HIST_LOST, name, sqllock_errmsg(c));
            sqllock_release(l);
            return 0;
        }
        if (st != SQLLOCK_OK) {
            event(HIST_LOST, name, sqllock_status_str(st));
            fprintf(stderr, "net_client: check gave %s, not OK or LOST: %s\n",
                    sqllock_status_str(st), sqllock_errmsg(c));
            return 1;
        }
        nanosleep(&pause, NULL);
    }
    pthread_join(th, NULL); /* its deadline is near: it ends the process */
    return 2;
}

static int take(sqllock_client *c, const char *name, long wait_ms)
{
    sqllock_lock *l;
    opts.wait_ms = wait_ms;
    event(HIST_ACQUIRE_INVOKE, name, "wait");
    sqllock_status st = sqllock_acquire(&l, c, name, &opts);
    if (st != SQLLOCK_OK) {
        event(HIST_ACQUIRE_FAIL, name, sqllock_status_str(st));
        fprintf(stderr, "net_client: acquire: %s: %s\n", sqllock_status_str(st),
                sqllock_errmsg(c));
        return 1;
    }
    granted(l, name, 0);
    event(HIST_RELEASE_INVOKE, name, NULL);
    st = sqllock_release(l);
    event(st == SQLLOCK_OK ? HIST_RELEASE_OK : HIST_RELEASE_FAIL, name, sqllock_status_str(st));
    return st != SQLLOCK_OK;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int is_fault = strcmp(mode, "fault") == 0;
    if (!((strcmp(mode, "hold") == 0 && argc == 6) || (strcmp(mode, "take") == 0 && argc == 5) ||
          (is_fault && argc == 5))) {
        fprintf(stderr, "usage: net_client hold NAME HISTORY CHECK_MS MAX_MS\n"
                        "       net_client take NAME HISTORY WAIT_MS\n"
                        "       net_client fault HISTORY VICTIM DETAIL\n");
        return 64;
    }
    hist = hist_open(is_fault ? argv[2] : argv[3]);
    if (hist < 0) {
        perror("net_client: history");
        return 1;
    }
    if (is_fault) {
        proc = argv[3];
        event(HIST_FAULT, NULL, argv[4]);
        return close(hist) != 0;
    }
    proc = mode[0] == 'h' ? "holder" : "taker";
    long ms = atol(argv[4]), max_ms = mode[0] == 'h' ? atol(argv[5]) : 1;
    if (ms <= 0 || max_ms <= 0) {
        fprintf(stderr, "net_client: durations are milliseconds > 0\n");
        return 64;
    }
    const char *ttl = getenv("NET_TTL_MS");
    opts.ttl_ms = ttl ? atol(ttl) : 0;
    sqllock_client *c = connect_env();
    if (!c)
        return 1;
    int rc = mode[0] == 'h' ? hold(c, argv[2], ms, max_ms) : take(c, argv[2], ms);
    sqllock_client_free(c);
    close(hist);
    return rc;
}
