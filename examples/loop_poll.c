/* SPDX-License-Identifier: MIT */
/*
 * loop_poll: many sqllock clients driven by one thread with plain poll(2).
 *
 * Each of N clients (-n, default 12) does R rounds (-r, default 3) of:
 * acquire one of K names (-k, default 3) with no time limit, hold it for
 * 20 ms, release it. Nothing blocks: every acquire and release is started
 * with a sqllock_*_start() call and finished by sqllock_poll() when poll()
 * says the client's socket is ready or its timeout has passed. It prints
 * each grant and release, and at the end checks that no two clients ever
 * held one name at once. loop_libuv.c and loop_libevent.c are the same
 * program over libuv and libevent; loop_common.c is what they share.
 *
 * Usage: loop_poll [-n CLIENTS] [-k NAMES] [-r ROUNDS] CONNINFO
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "loop_common.h"

int main(int argc, char **argv)
{
    struct demo d;
    int rc = demo_init(&d, "loop_poll", "plain poll()", argc, argv);
    if (rc != 0)
        return rc;
    struct pollfd *p = calloc((size_t)d.nclients, sizeof(*p));
    int64_t *due_us = calloc((size_t)d.nclients, sizeof(*due_us));
    if (!p || !due_us)
        demo_fail(&d, "out of memory");

    while (!d.failed && d.running > 0) {
        /* Rebuilt every time round: a step changes its client's socket,
           events and timeout. The loop sleeps until the nearest timeout. */
        int64_t now_us = demo_now_us(&d), wait_ms = DEMO_DEADLINE_MS - now_us / 1000;
        if (wait_ms <= 0) {
            demo_fail(&d, "gave up: the run took longer than its deadline");
            break;
        }
        for (int i = 0; i < d.nclients; i++) {
            int fd, ev;
            int64_t t;
            demo_watch(&d, &d.clients[i], &fd, &ev, &t);
            p[i].fd = ev ? fd : -1; /* poll() skips a negative fd */
            p[i].events = (short)(((ev & SQLLOCK_EV_READ) ? POLLIN : 0) |
                                  ((ev & SQLLOCK_EV_WRITE) ? POLLOUT : 0));
            p[i].revents = 0;
            due_us[i] = t < 0 ? -1 : now_us + t * 1000;
            if (t >= 0 && t < wait_ms)
                wait_ms = t;
        }
        if (poll(p, (nfds_t)d.nclients, (int)wait_ms) < 0) {
            perror("loop_poll: poll");
            demo_fail(&d, "poll() failed");
            break;
        }
        /* Step every client whose socket is ready or whose timeout has
           passed. The timeout matters on its own: a client whose outcome
           is already known says "timeout 0", and its socket may never
           become readable. */
        now_us = demo_now_us(&d);
        for (int i = 0; i < d.nclients && !d.failed; i++)
            if (p[i].revents || (due_us[i] >= 0 && now_us >= due_us[i]))
                (void)demo_step(&d, &d.clients[i]); /* a failure sets d.failed */
    }
    free(p);
    free(due_us);
    return demo_finish(&d);
}
