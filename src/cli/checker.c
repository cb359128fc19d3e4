/* SPDX-License-Identifier: MIT */
/*
 * Watching the lock while PROGRAM runs. Each check is a query, and a server
 * that has stopped answering (or a network that drops packets) can hold it
 * for as long as TCP takes to give up; the checks therefore run on a thread
 * of their own, so that the main loop keeps passing signals on and reaping
 * PROGRAM whatever the database does. While the thread runs it is the only
 * user of the client, as the library requires. Every lock of the run is
 * checked (several NAMEs: each in turn, every period). Leases are not
 * checked but kept alive (sqllock_keep_alive_run renews every kept-alive
 * lease of the client): each renewal is a check, and the renewals keep
 * PROGRAM protected past the ttl.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

/* How long checker_stop waits for a check or renewal in flight. */
#define CHECKER_STOP_MS 3000

struct checker {
    pthread_t thread;
    int stop[2]; /* written by checker_stop() */
    int lost[2]; /* written by the thread when the lock is gone */
    int done[2]; /* written by the thread as it ends */
    sqllock_client *client;
    sqllock_lock *const *locks;
    int n, every_ms;
    char reason[512]; /* written before lost[1], read after lost[0] */
};

static void gone(struct checker *k)
{
    snprintf(k->reason, sizeof(k->reason), "%s", sqllock_errmsg(k->client));
    (void)!write(k->lost[1], "x", 1);
}

static void *run_checks(void *arg)
{
    struct checker *k = arg;
    struct pollfd p = {.fd = k->stop[0], .events = POLLIN};
    if (sqllock_lease_deadline(k->locks[0]) >= 0) {
        int kept = 1;
        for (int i = 0; i < k->n && kept; i++)
            kept = sqllock_keep_alive(k->locks[i], 1) == SQLLOCK_OK;
        if (!kept || sqllock_keep_alive_run(NULL, k->client, k->stop[0]) != SQLLOCK_OK)
            gone(k);
    } else {
        int held = 1;
        while (held && poll(&p, 1, k->every_ms) == 0)
            for (int i = 0; i < k->n && held; i++)
                held = sqllock_check(k->locks[i]) == SQLLOCK_OK;
        if (!held)
            gone(k);
    }
    (void)!write(k->done[1], "x", 1);
    return NULL;
}

static void free_checker(struct checker *k)
{
    for (int i = 0; i < 2; i++) {
        if (k->stop[i] >= 0)
            close(k->stop[i]);
        if (k->lost[i] >= 0)
            close(k->lost[i]);
        if (k->done[i] >= 0)
            close(k->done[i]);
    }
    free(k);
}

struct checker *checker_start(sqllock_client *c, sqllock_lock *const *l, int n, int every_ms)
{
    struct checker *k = malloc(sizeof(*k));
    if (!k)
        return NULL;
    *k = (struct checker){.stop = {-1, -1},
                          .lost = {-1, -1},
                          .done = {-1, -1},
                          .client = c,
                          .locks = l,
                          .n = n,
                          .every_ms = every_ms};
    if (pipe(k->stop) != 0 || pipe(k->lost) != 0 || pipe(k->done) != 0) {
        free_checker(k);
        return NULL;
    }
    /* Signals are for the main thread, which passes them on to PROGRAM. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&k->thread, NULL, run_checks, k);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        free_checker(k);
        return NULL;
    }
    return k;
}

int checker_fd(const struct checker *k)
{
    return k->lost[0];
}

const char *checker_reason(struct checker *k)
{
    /* Reading the byte, not only polling for it, is what orders the
       thread's write of reason before ours (and tells ThreadSanitizer). */
    char x;
    (void)!read(k->lost[0], &x, 1);
    return k->reason;
}

int checker_stop(struct checker *k)
{
    (void)!write(k->stop[1], "x", 1);
    /* A check or renewal in flight ends within a round trip, unless the
       server has stopped answering: then the thread is left to exit(). */
    struct pollfd p = {.fd = k->done[0], .events = POLLIN};
    int r;
    do
        r = poll(&p, 1, CHECKER_STOP_MS);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return -1;
    pthread_join(k->thread, NULL);
    free_checker(k);
    return 0;
}
