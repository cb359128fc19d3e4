/* SPDX-License-Identifier: MIT */
/*
 * The part of the event-loop examples that is the same whatever the loop
 * (see loop_common.h): each client's rounds as a small state machine over
 * sqllock's non-blocking calls, the record of every turn, and its check.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "loop_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 100 /* each is a server connection */
#define MAX_ROUNDS 1000

static int64_t clock_us(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail for this clock */
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t demo_now_us(const struct demo *d)
{
    return clock_us() - d->start_us;
}

static void say(const struct demo *d, int64_t at_us, const struct demo_client *cl,
                const char *what)
{
    printf("[%5lld ms] client %2d %s %s\n", (long long)(at_us / 1000), cl->id, what,
           d->names[cl->name]);
}

void demo_fail(struct demo *d, const char *what)
{
    fprintf(stderr, "%s: %s\n", d->label, what);
    d->failed = 1;
}

/* A call on cl returned st where it should not have: says so with the
   library's detail message, and ends the run. */
static int fail_status(struct demo *d, const struct demo_client *cl, const char *call,
                       sqllock_status st)
{
    fprintf(stderr, "%s: client %d, %s %s: %s: %s\n", d->label, cl->id, call, d->names[cl->name],
            sqllock_status_str(st), sqllock_errmsg(cl->c));
    d->failed = 1;
    return -1;
}

/* The next round: name (id + round) mod names, so that the clients spread
   over every name and each name has several of them queued. */
static int start_acquire(struct demo *d, struct demo_client *cl)
{
    sqllock_acquire_opts opts = SQLLOCK_ACQUIRE_OPTS_INIT;
    opts.wait_ms = SQLLOCK_WAIT_FOREVER; /* the run's deadline bounds it instead */
    cl->name = (cl->id + cl->round) % d->nnames;
    cl->phase = DEMO_ACQUIRING;
    sqllock_status st = sqllock_acquire_start(cl->c, d->names[cl->name], &opts);
    /* Anything but PENDING was decided before anything started: an error. */
    return st == SQLLOCK_PENDING ? 0 : fail_status(d, cl, "acquire_start", st);
}

void demo_watch(const struct demo *d, const struct demo_client *cl, int *fd, int *events,
                int64_t *timeout_ms)
{
    if (cl->phase == DEMO_DONE) {
        *fd = -1;
        *events = 0;
        *timeout_ms = -1;
        return;
    }
    /* Asked afresh every time: they change as an operation goes. While
       holding, nothing is in flight and these say "READ, no timeout":
       watching the socket then is how a session the server ended is heard. */
    *fd = sqllock_socket(cl->c);
    *events = sqllock_events(cl->c);
    *timeout_ms = sqllock_timeout_ms(cl->c);
    if (cl->phase == DEMO_HOLDING) {
        int64_t left_us = cl->hold_until_us - demo_now_us(d);
        /* Rounded up, so that the timer does not fire just before the end. */
        *timeout_ms = left_us > 0 ? (left_us + 999) / 1000 : 0;
    }
}

int demo_step(struct demo *d, struct demo_client *cl)
{
    sqllock_status st;
    switch (cl->phase) {
    case DEMO_ACQUIRING: {
        sqllock_lock *got = NULL;
        st = sqllock_poll(&got, cl->c);
        if (st == SQLLOCK_PENDING)
            return 0;
        if (st != SQLLOCK_OK)
            return fail_status(d, cl, "acquire", st);
        cl->turn = d->nturns++; /* turns has room for every round */
        struct demo_turn *t = &d->turns[cl->turn];
        *t = (struct demo_turn){.client = cl->id, .name = cl->name, .got_us = demo_now_us(d)};
        say(d, t->got_us, cl, "holds   ");
        cl->l = got;
        cl->phase = DEMO_HOLDING;
        /* The loop's timer ends the hold: sleeping here would stall every
           other client this thread drives. */
        cl->hold_until_us = t->got_us + DEMO_HOLD_MS * 1000;
        return 0;
    }
    case DEMO_HOLDING:
        /* Woken by the socket (the server sent something: a poll reads it,
           and says LOST if the session ended) or by the hold's timer. */
        st = sqllock_poll(NULL, cl->c);
        if (st != SQLLOCK_OK)
            return fail_status(d, cl, "holding", st);
        if (demo_now_us(d) < cl->hold_until_us)
            return 0;
        /* Stamped before the release is sent: the next holder can be
           granted the lock as soon as the server has it, so this is the
           last instant this client can vouch for holding it. */
        d->turns[cl->turn].end_us = demo_now_us(d);
        say(d, d->turns[cl->turn].end_us, cl, "releases");
        st = sqllock_release_start(cl->l);
        if (st != SQLLOCK_PENDING)
            return fail_status(d, cl, "release_start", st);
        cl->l = NULL; /* the release frees it when it ends */
        cl->phase = DEMO_RELEASING;
        return 0;
    case DEMO_RELEASING:
        st = sqllock_poll(NULL, cl->c);
        if (st == SQLLOCK_PENDING)
            return 0;
        /* LOST too is a failure: the lock went away while the client
           thought it held it, and the turn proves nothing. */
        if (st != SQLLOCK_OK)
            return fail_status(d, cl, "release", st);
        if (++cl->round < d->rounds)
            return start_acquire(d, cl);
        cl->phase = DEMO_DONE;
        d->running--;
        return 0;
    case DEMO_DONE: break;
    }
    return 0;
}

static int by_name_then_start(const void *a, const void *b)
{
    const struct demo_turn *x = a, *y = b;
    if (x->name != y->name)
        return x->name - y->name;
    return (x->got_us > y->got_us) - (x->got_us < y->got_us);
}

/* 0 when, name by name, the turns are pairwise disjoint; prints the first
   overlap otherwise. */
static int check_turns(const struct demo *d)
{
    qsort(d->turns, d->nturns, sizeof(*d->turns), by_name_then_start);
    for (size_t i = 1; i < d->nturns; i++) {
        const struct demo_turn *p = &d->turns[i - 1], *t = &d->turns[i];
        if (t->name == p->name && t->got_us < p->end_us) {
            fprintf(stderr,
                    "%s: OVERLAP on %s: client %d held it from %.1f ms to %.1f ms, "
                    "but client %d got it at %.1f ms\n",
                    d->label, d->names[t->name], p->client, p->got_us / 1e3, p->end_us / 1e3,
                    t->client, t->got_us / 1e3);
            return -1;
        }
    }
    return 0;
}

int demo_finish(struct demo *d)
{
    size_t expected = (size_t)d->nclients * (size_t)d->rounds;
    int64_t took_ms = demo_now_us(d) / 1000;
    int ok = !d->failed;
    /* Complete first: only then has every turn an end to compare. */
    if (ok && (d->running != 0 || d->nturns != expected)) {
        fprintf(stderr, "%s: only %zu of %zu turns were taken\n", d->label, d->nturns, expected);
        ok = 0;
    }
    if (ok && check_turns(d) != 0)
        ok = 0;
    if (ok)
        printf("summary: %zu turns (%d clients x %d rounds) on %d names in %lld ms, "
               "never two holders of a name at once\n",
               d->nturns, d->nclients, d->rounds, d->nnames, (long long)took_ms);
    /* Frees held locks too (a failed run may leave some), and a client with
       an operation in flight gives it up. */
    for (int i = 0; i < d->nclients; i++)
        sqllock_client_free(d->clients[i].c);
    free(d->clients);
    free(d->turns);
    if (fflush(stdout) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "%s: FAILED\n", d->label);
    return ok ? 0 : 1;
}

/* Options: -n CLIENTS, -k NAMES, -r ROUNDS, each an integer in its range. */
static int parse_args(struct demo *d, int argc, char **argv)
{
    struct {
        int letter, *value, lo, hi;
    } opt[] = {
        {'n', &d->nclients, 1, MAX_CLIENTS},
        {'k', &d->nnames, 1, DEMO_MAX_NAMES},
        {'r', &d->rounds, 1, MAX_ROUNDS},
    };
    int c;
    while ((c = getopt(argc, argv, "n:k:r:")) != -1) {
        size_t i = 0;
        while (i < sizeof(opt) / sizeof(opt[0]) && opt[i].letter != c)
            i++;
        if (i == sizeof(opt) / sizeof(opt[0]))
            return -1;
        char *end;
        errno = 0;
        long v = strtol(optarg, &end, 10);
        if (errno != 0 || end == optarg || *end != '\0' || v < opt[i].lo || v > opt[i].hi)
            return -1;
        *opt[i].value = (int)v;
    }
    return optind == argc - 1 ? 0 : -1;
}

int demo_init(struct demo *d, const char *label, const char *loop_name, int argc, char **argv)
{
    *d = (struct demo){.label = label, .nclients = 12, .nnames = 3, .rounds = 3};
    if (parse_args(d, argc, argv) != 0) {
        fprintf(stderr,
                "usage: %s [-n CLIENTS (1-%d)] [-k NAMES (1-%d)] [-r ROUNDS (1-%d)] CONNINFO\n",
                argv[0], MAX_CLIENTS, DEMO_MAX_NAMES, MAX_ROUNDS);
        return 2;
    }
    /* Line by line even into a pipe, so that the output and the error
       messages (unbuffered) stay in order. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int n = 0; n < d->nnames; n++)
        snprintf(d->names[n], sizeof(d->names[n]), "%s:%c", label, 'a' + n);
    printf("sqllock %s: %d clients x %d rounds on %d names (%s:a..), holding each %d ms, "
           "one thread, %s\n",
           SQLLOCK_VERSION, d->nclients, d->rounds, d->nnames, label, DEMO_HOLD_MS, loop_name);

    d->clients = calloc((size_t)d->nclients, sizeof(*d->clients));
    d->turns = calloc((size_t)d->nclients * (size_t)d->rounds, sizeof(*d->turns));
    if (!d->clients || !d->turns) {
        demo_fail(d, "out of memory");
        d->nclients = 0; /* none to free */
        return demo_finish(d);
    }
    d->start_us = clock_us();
    for (int i = 0; i < d->nclients; i++) {
        struct demo_client *cl = &d->clients[i];
        cl->id = i + 1;
        sqllock_status st = sqllock_connect(&cl->c, argv[optind]);
        if (st != SQLLOCK_OK) {
            fprintf(stderr, "%s: client %d, connect: %s: %s\n", label, cl->id,
                    sqllock_status_str(st), sqllock_errmsg(cl->c));
            d->failed = 1;
            return demo_finish(d);
        }
        if (start_acquire(d, cl) != 0)
            return demo_finish(d);
        d->running++;
    }
    return 0;
}
