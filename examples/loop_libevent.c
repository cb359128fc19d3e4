/* SPDX-License-Identifier: MIT */
/*
 * loop_libevent: many sqllock clients driven by one thread with libevent.
 *
 * The same program as loop_poll.c (read that first), over a libevent base:
 * per client one struct event, for its socket's events and its timeout at
 * once (event_add() takes a timeout, which serves both sqllock's and the
 * end of a 20 ms hold). The event is not persistent: it fires once, the
 * client takes one step, and arm() adds it again for what the client
 * wants next.
 *
 * Usage: loop_libevent [-n CLIENTS] [-k NAMES] [-r ROUNDS] CONNINFO
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "loop_common.h"

struct glue {
    struct demo *d;
    struct demo_client *cl;
    struct event *ev;
};

static void on_event(evutil_socket_t fd, short what, void *arg);

/* Adds g's event again, for what its client wants now: the socket, its
   events and the timeout all change as an operation goes. */
static int arm(struct glue *g)
{
    int fd, ev;
    int64_t t;
    demo_watch(g->d, g->cl, &fd, &ev, &t);
    short what = (short)(((ev & SQLLOCK_EV_READ) ? EV_READ : 0) |
                         ((ev & SQLLOCK_EV_WRITE) ? EV_WRITE : 0));
    /* Reassigned every time rather than only when the socket changed (a
       reconnect may bring another): the event is not pending here, having
       just fired, and with no events it is a plain timer (fd -1). */
    if (event_assign(g->ev, event_get_base(g->ev), what ? fd : -1, what, on_event, g) != 0)
        return -1;
    if (!what && t < 0)
        return 0; /* done: nothing left to wait for */
    struct timeval tv = {(time_t)(t / 1000), (suseconds_t)(t % 1000 * 1000)};
    return event_add(g->ev, t >= 0 ? &tv : NULL);
}

/* One step of the client whose event fired (socket ready, or its timeout:
   both go to demo_step), then its event added again; ends the loop when
   the run is over, failed or not. */
static void on_event(evutil_socket_t fd, short what, void *arg)
{
    struct glue *g = arg;
    (void)fd;
    (void)what;
    if (demo_step(g->d, g->cl) == 0 && arm(g) != 0)
        demo_fail(g->d, "event_add failed");
    if (g->d->failed || g->d->running == 0)
        (void)event_base_loopbreak(event_get_base(g->ev));
}

int main(int argc, char **argv)
{
    struct demo d;
    int rc = demo_init(&d, "loop_libevent", "libevent", argc, argv);
    if (rc != 0)
        return rc;
    struct event_base *base = event_base_new();
    struct glue *g = calloc((size_t)d.nclients, sizeof(*g));
    /* The run's bound: the loop stops itself after it. */
    struct timeval limit = {DEMO_DEADLINE_MS / 1000, 0};
    if (!base || !g || event_base_loopexit(base, &limit) != 0)
        demo_fail(&d, "libevent setup failed");
    for (int i = 0; i < d.nclients && !d.failed; i++) {
        g[i] = (struct glue){.d = &d, .cl = &d.clients[i]};
        /* Made as a timer; arm() gives it the socket. */
        if (!(g[i].ev = event_new(base, -1, 0, on_event, &g[i])) || arm(&g[i]) != 0)
            demo_fail(&d, "libevent setup failed");
    }
    /* Returns when on_event() breaks the loop, or at the bound. */
    if (!d.failed && event_base_dispatch(base) < 0)
        demo_fail(&d, "event_base_dispatch failed");
    if (!d.failed && event_base_got_exit(base))
        demo_fail(&d, "gave up: the run took longer than its deadline");

    for (int i = 0; g && i < d.nclients; i++)
        if (g[i].ev)
            event_free(g[i].ev); /* deletes it first if it is pending */
    if (base)
        event_base_free(base);
    free(g);
    return demo_finish(&d);
}
