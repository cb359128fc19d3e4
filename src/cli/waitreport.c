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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define REPORT_EVERY_MS 3000

struct waitreport {
    pthread_t thread;
    int wake[2]; /* written by waitreport_stop() */
    /* Borrowed from the caller, which outlives us. */
    const char *url;
    int n;
    const char *const *whats;
    const struct cli_key *keys;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A session of this process's lock client: while it waits for several
   locks it holds those before in key order. Known by the application_name
   the library gives it, unless the URL chose another. */
static int ours(const struct holder *h)
{
    char tag[32];
    snprintf(tag, sizeof(tag), "sqllock[%ld]@", (long)getpid());
    return h->granted && h->appname && strncmp(h->appname, tag, strlen(tag)) == 0;
}

/* "<intro> lock "NAME" (key K): held by", then one line per holder; with
   quiet, nothing when nobody holds it. 1 when something was said. */
static int report_one(PGconn *conn, const char *what, const struct cli_key *key,
                      const char *intro, int quiet)
{
    struct holders h;
    if (holders_fetch(&h, conn, key) != 0)
        return 0;
    int held = holders_granted(&h), mine = 0;
    for (int i = 0; i < h.count; i++)
        mine += ours(&h.rows[i]);
    held -= mine;
    if (!held && quiet) {
        holders_free(&h);
        return 0;
    }
    cli_err("%s %s: %s", intro, what, held ? "held by" : "nobody holds it at this instant");
    for (int i = 0; i < h.count; i++) {
        if (!h.rows[i].granted || ours(&h.rows[i]))
            continue;
        fputs("sqllock:   ", stderr);
        holder_print_text(stderr, &h.rows[i], 0);
        fputc('\n', stderr);
    }
    if (h.count > held + mine)
        cli_err("  and %d session(s) waiting for it", h.count - held - mine);
    holders_free(&h);
    return 1;
}

/* Each of the locks; of several, only those someone holds. */
static void report(PGconn *conn, int n, const char *const *whats, const struct cli_key *keys,
                   const char *intro)
{
    int said = 0;
    for (int i = 0; i < n; i++)
        said += report_one(conn, whats[i], &keys[i], intro, n > 1);
    if (n > 1 && !said)
        cli_err("%s %d locks: nobody holds any of them at this instant", intro, n);
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
        report(conn, w->n, w->whats, w->keys, intro);
        if (poll(&p, 1, REPORT_EVERY_MS) != 0)
            break; /* asked to stop (or poll failed: stop too) */
    }
    PQfinish(conn);
    return NULL;
}

struct waitreport *waitreport_start(const char *url, int n, const char *const *whats,
                                    const struct cli_key *keys)
{
    struct waitreport *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->url = url;
    w->n = n;
    w->whats = whats;
    w->keys = keys;
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

void waitreport_once(const char *url, int n, const char *const *whats,
                     const struct cli_key *keys)
{
    PGconn *conn;
    if (cli_pg_open(&conn, url, "sqllock (wait report)") != 0)
        return;
    report(conn, n, whats, keys, "could not take");
    PQfinish(conn);
}
