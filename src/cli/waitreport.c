/* SPDX-License-Identifier: MIT */
/*
 * `run -v` while it waits: who holds the lock, said on stderr at once and
 * every few seconds. The wait itself is one blocking call into the library
 * (the server queues waiters; polling would lose the place in the queue), so
 * the reports come from a second thread with its own connection, which never
 * touches the lock client.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define REPORT_EVERY_MS 3000

struct waitreport {
    pthread_t thread;
    int wake[2];            /* written by waitreport_stop() */
    const char *url, *what; /* borrowed from the caller, which outlives us */
    const struct cli_key *key;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "<intro> lock "NAME" (key K): held by", then one line per holder. */
static void report(PGconn *conn, const char *what, const struct cli_key *key, const char *intro)
{
    struct holders h;
    if (holders_fetch(&h, conn, key) != 0)
        return;
    int held = holders_granted(&h);
    cli_err("%s %s: %s", intro, what, held ? "held by" : "nobody holds it at this instant");
    for (int i = 0; i < h.count; i++) {
        if (!h.rows[i].granted)
            continue;
        fputs("sqllock:   ", stderr);
        holder_print_text(stderr, &h.rows[i], 0);
        fputc('\n', stderr);
    }
    if (h.count > held)
        cli_err("  and %d session(s) waiting for it", h.count - held);
    holders_free(&h);
}

static void *run_reports(void *arg)
{
    struct waitreport *w = arg;
    PGconn *conn;
    if (cli_pg_open(&conn, w->url, "sqllock (wait report)") != 0)
        return NULL;
    long long start = now_ms();
    struct pollfd p = {.fd = w->wake[0], .events = POLLIN};
    for (int first = 1;; first = 0) {
        char intro[64] = "waiting for";
        if (!first)
            snprintf(intro, sizeof(intro), "still waiting (%llds) for",
                     (now_ms() - start) / 1000);
        report(conn, w->what, w->key, intro);
        if (poll(&p, 1, REPORT_EVERY_MS) != 0)
            break; /* asked to stop (or poll failed: stop too) */
    }
    PQfinish(conn);
    return NULL;
}

struct waitreport *waitreport_start(const char *url, const char *what, const struct cli_key *key)
{
    struct waitreport *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->url = url;
    w->what = what;
    w->key = key;
    if (pipe(w->wake) != 0) {
        free(w);
        return NULL;
    }
    /* Signals are for the main thread, whose handler cancels the wait. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&w->thread, NULL, run_reports, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        close(w->wake[0]);
        close(w->wake[1]);
        free(w);
        return NULL;
    }
    return w;
}

void waitreport_stop(struct waitreport *w)
{
    if (!w)
        return;
    (void)!write(w->wake[1], "x", 1);
    pthread_join(w->thread, NULL);
    close(w->wake[0]);
    close(w->wake[1]);
    free(w);
}

void waitreport_once(const char *url, const char *what, const struct cli_key *key)
{
    PGconn *conn;
    if (cli_pg_open(&conn, url, "sqllock (wait report)") != 0)
        return;
    report(conn, what, key, "could not take");
    PQfinish(conn);
}
