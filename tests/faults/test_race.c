/* SPDX-License-Identifier: MIT */
/*
 * The timeout boundary race at scale (run by race.sh, once over the unix
 * socket and once over TCP; SQLLOCK_RACE_ROUNDS rounds, 3000 by default).
 *
 * Each round the holder (a thread with a connection of its own) holds the
 * lock, both threads meet at a barrier, the waiter starts a 5 ms wait and
 * the holder releases `delay` after the barrier. delay tracks the boundary:
 * 50 us later after an OK, 50 us earlier after a TIMEOUT, so it settles
 * where the outcome flips (the instant the wait expires, as the server sees
 * it), with +-1 ms of jitter around that. After each round an admin
 * connection asks pg_locks whether the waiter's backend holds the lock:
 * TIMEOUT must mean it does not, OK that it does.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "support.h"

#define WAIT_MS 5
#define STEP_US 50
#define JITTER_US 1000

struct holder {
    sqllock_client *c;
    sqllock_lock *lock;
    long delay_us;
    sqllock_status released;
    int stop;
    pthread_barrier_t start, done;
};

static void *holder_main(void *arg)
{
    struct holder *h = arg;
    for (;;) {
        pthread_barrier_wait(&h->start);
        if (h->stop)
            return NULL;
        struct timespec at;
        clock_gettime(CLOCK_MONOTONIC, &at);
        at.tv_nsec += h->delay_us * 1000;
        at.tv_sec += at.tv_nsec / 1000000000L;
        at.tv_nsec %= 1000000000L;
        /* The release time is the fault being injected, not a wait for
           the other thread (the barrier was that). */
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) != 0)
            ;
        h->released = sqllock_release(h->lock);
        pthread_barrier_wait(&h->done);
    }
}

static int rounds_wanted(void)
{
    const char *s = getenv("SQLLOCK_RACE_ROUNDS");
    int n = s ? atoi(s) : 3000;
    return n > 0 ? n : 3000;
}

static void t_boundary(void)
{
    const char *name = t_tag("race"), *wname = t_tag("race-w");
    const char *via = getenv("SQLLOCK_SUITE_URL_VAR");
    int64_t key = sqllock_advisory_key(name);
    struct holder h = {.c = t_client(t_tag("race-h"))};
    sqllock_client *w = t_client(wname);
    PGconn *admin = t_admin();
    CHECK(h.c && w && admin);
    int wpid = t_pid(admin, wname);
    CHECK(wpid > 0);
    CHECK(pthread_barrier_init(&h.start, NULL, 2) == 0 &&
          pthread_barrier_init(&h.done, NULL, 2) == 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, holder_main, &h) == 0);

    int rounds = rounds_wanted(), timeouts = 0, oks = 0, wrong = 0, i;
    unsigned seed = 7;
    long center_us = WAIT_MS * 1000;
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.wait_ms = WAIT_MS;
    long long t0 = t_now_ms();
    for (i = 0; i < rounds; i++) {
        /* A try: a lock the waiter kept by mistake shows up as BUSY here. */
        sqllock_status st = sqllock_acquire(&h.lock, h.c, name, NULL);
        if (st != SQLLOCK_OK) {
            t_fail(__FILE__, __LINE__, "round %d: the holder could not take the lock: %s", i,
                   sqllock_status_str(st));
            break;
        }
        long delay = center_us - JITTER_US + (long)(rand_r(&seed) % (2 * JITTER_US + 1));
        h.delay_us = delay < 0 ? 0 : delay;
        pthread_barrier_wait(&h.start);
        sqllock_lock *l = NULL;
        st = sqllock_acquire(&l, w, name, &o);
        pthread_barrier_wait(&h.done);
        center_us += st == SQLLOCK_OK ? STEP_US : -STEP_US;
        int held = t_holds(admin, wpid, key);
        if (h.released != SQLLOCK_OK) {
            t_fail(__FILE__, __LINE__, "round %d: the holder's release gave %s", i,
                   sqllock_status_str(h.released));
            break;
        }
        if (st == SQLLOCK_TIMEOUT) {
            timeouts++;
            wrong += held != 0;
        } else if (st == SQLLOCK_OK) {
            oks++;
            wrong += held != 1;
            if ((st = sqllock_release(l)) != SQLLOCK_OK) {
                t_fail(__FILE__, __LINE__, "round %d: release gave %s", i,
                       sqllock_status_str(st));
                break;
            }
        } else {
            t_fail(__FILE__, __LINE__, "round %d: acquire gave %s: %s", i,
                   sqllock_status_str(st), sqllock_errmsg(w));
            break;
        }
        if (wrong) {
            t_fail(__FILE__, __LINE__,
                   "round %d: acquire said %s but pg_locks says the waiter "
                   "holds the lock %d time(s)",
                   i, sqllock_status_str(st), held);
            break;
        }
    }
    long long wall = t_now_ms() - t0;
    h.stop = 1;
    pthread_barrier_wait(&h.start);
    pthread_join(th, NULL);
    /* boundary_us: where the releases settled, after the barrier. */
    printf("race: via=%s rounds=%d timeout=%d ok=%d disagreements=%d wall_ms=%lld "
           "boundary_us=%ld\n",
           via ? via : "SQLLOCK_TEST_URL", timeouts + oks, timeouts, oks, wrong, wall,
           center_us);
    CHECK(i == rounds);
    /* Otherwise the releases missed the boundary, and the run proved little. */
    CHECKF(timeouts >= rounds / 10 && oks >= rounds / 10,
           "one outcome under 10%% of the rounds (%d TIMEOUT, %d OK): the boundary was not hit",
           timeouts, oks);
    pthread_barrier_destroy(&h.start);
    pthread_barrier_destroy(&h.done);
    sqllock_client_free(h.c);
    sqllock_client_free(w);
    PQfinish(admin);
}

static const struct tcase cases[] = {
    {"boundary", t_boundary,
     "a release at the instant a wait expires: TIMEOUT never leaves the lock held, OK always holds it"},
};

T_MAIN(cases)
