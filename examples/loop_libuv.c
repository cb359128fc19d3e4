/* SPDX-License-Identifier: MIT */
/*
 * loop_libuv: many sqllock clients driven by one thread with libuv.
 *
 * The same program as loop_poll.c (read that first), over a libuv loop:
 * per client one uv_poll_t on its socket and one uv_timer_t, which serves
 * both sqllock's timeout and the end of a 20 ms hold. Whichever fires, the
 * client takes one step, and arm() sets both up again from what the client
 * wants next.
 *
 * Usage: loop_libuv [-n CLIENTS] [-k NAMES] [-r ROUNDS] CONNINFO
 */
#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include "loop_common.h"

struct glue {
    struct demo *d;
    struct demo_client *cl;
    uv_poll_t *poll; /* on fd; NULL when there is none */
    int fd;
    uv_timer_t timer;
};

static void on_poll(uv_poll_t *h, int status, int events);
static void on_timer(uv_timer_t *h);

static void free_handle(uv_handle_t *h)
{
    free(h);
}

/* Sets g's watchers to what its client wants now. Called after every step:
   the socket, its events and the timeout all change as an operation goes. */
static int arm(struct glue *g)
{
    int fd, ev, rc = 0;
    int64_t t;
    demo_watch(g->d, g->cl, &fd, &ev, &t);
    /* A uv_poll_t belongs to one fd for life, and libuv allows one per fd:
       if the socket is another one now (sqllock may reconnect), the old
       handle is closed (freed once libuv is done with it) before a new one
       is made. */
    if (g->poll && fd != g->fd) {
        uv_close((uv_handle_t *)g->poll, free_handle);
        g->poll = NULL;
    }
    if (!g->poll && fd >= 0) {
        if (!(g->poll = malloc(sizeof(*g->poll))))
            return UV_ENOMEM;
        if ((rc = uv_poll_init(g->timer.loop, g->poll, fd)) != 0) {
            free(g->poll);
            g->poll = NULL;
            return rc;
        }
        g->poll->data = g;
        g->fd = fd;
    }
    /* step() stopped it, so it is only started, when events are wanted. */
    int flags =
        ((ev & SQLLOCK_EV_READ) ? UV_READABLE : 0) | ((ev & SQLLOCK_EV_WRITE) ? UV_WRITABLE : 0);
    if (g->poll && flags)
        rc = uv_poll_start(g->poll, flags, on_poll);
    /* The timer is re-armed whether or not the socket fires first, so that
       a stale timeout can never step the client at the wrong moment. */
    if (rc == 0)
        rc = t >= 0 ? uv_timer_start(&g->timer, on_timer, (uint64_t)t, 0)
                    : uv_timer_stop(&g->timer);
    return rc;
}

/* One step of g's client, then its watchers set up again; stops the loop
   when the run is over, failed or not. */
static void step(struct glue *g)
{
    int rc = 0;
    /* Not polled while sqllock works on the socket: libuv must not watch an
       fd that gets closed (a reconnect may close it and open another, even
       under the same number). arm() starts it again. */
    if (g->poll)
        (void)uv_poll_stop(g->poll);
    if (demo_step(g->d, g->cl) == 0 && (rc = arm(g)) != 0)
        demo_fail(g->d, uv_strerror(rc));
    if (g->d->failed || g->d->running == 0)
        uv_stop(g->timer.loop);
}

/* A status < 0 (the socket failed) is stepped like readiness: sqllock_poll
   finds out what happened to the connection and says so. */
static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    step(h->data);
}

static void on_timer(uv_timer_t *h)
{
    step(h->data);
}

static void on_deadline(uv_timer_t *h)
{
    demo_fail(h->data, "gave up: the run took longer than its deadline");
    uv_stop(h->loop);
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_POLL ? free_handle : NULL);
}

int main(int argc, char **argv)
{
    struct demo d;
    int rc = demo_init(&d, "loop_libuv", "libuv", argc, argv);
    if (rc != 0)
        return rc;
    uv_loop_t loop;
    uv_timer_t deadline;
    struct glue *g = calloc((size_t)d.nclients, sizeof(*g));
    if (!g || (rc = uv_loop_init(&loop)) != 0) {
        demo_fail(&d, g ? uv_strerror(rc) : "out of memory");
        free(g);
        return demo_finish(&d);
    }
    (void)uv_timer_init(&loop, &deadline); /* cannot fail */
    deadline.data = &d;
    (void)uv_timer_start(&deadline, on_deadline, DEMO_DEADLINE_MS, 0);
    for (int i = 0; i < d.nclients && !d.failed; i++) {
        g[i] = (struct glue){.d = &d, .cl = &d.clients[i], .fd = -1};
        (void)uv_timer_init(&loop, &g[i].timer);
        g[i].timer.data = &g[i];
        if ((rc = arm(&g[i])) != 0)
            demo_fail(&d, uv_strerror(rc));
    }
    if (!d.failed)
        (void)uv_run(&loop, UV_RUN_DEFAULT); /* until step() or on_deadline() stops it */

    /* Every handle is closed and the loop run until their close callbacks
       have been called: only then may their memory go. */
    uv_walk(&loop, close_handle, NULL);
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        demo_fail(&d, "a libuv handle was left open");
    free(g);
    return demo_finish(&d);
}
