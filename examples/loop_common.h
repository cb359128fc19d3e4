/* SPDX-License-Identifier: MIT */
/*
 * What the three event-loop examples (loop_poll.c, loop_libuv.c,
 * loop_libevent.c) share: the clients, each one's round of acquire, hold
 * and release, the record of who held what when, and the check of that
 * record at the end. None of it knows which loop drives it; each example
 * is only the glue that waits for what demo_watch() says and then calls
 * demo_step().
 *
 * The glue, whatever the loop:
 *
 *     demo_init(&d, ...)                  connects, starts every acquire
 *     for each client: arm(client)        watch what demo_watch() says
 *     run the loop; whenever a client's socket is ready for the events
 *     asked or its timeout has passed (either one!):
 *         demo_step(&d, client)           advances that client
 *         arm(client) again               socket, events and timeout change
 *         stop the loop when d.running == 0 or demo_step failed
 *     return demo_finish(&d)              checks, summary, frees
 */
#ifndef LOOP_COMMON_H
#define LOOP_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <sqllock.h>

#define DEMO_HOLD_MS 20         /* how long each client holds a lock */
#define DEMO_DEADLINE_MS 60000L /* the whole run gives up after this */
#define DEMO_MAX_NAMES 26       /* names are "<label>:a" .. "<label>:z" */

enum demo_phase { DEMO_ACQUIRING, DEMO_HOLDING, DEMO_RELEASING, DEMO_DONE };

struct demo_client {
    int id; /* 1-based, as printed */
    sqllock_client *c;
    sqllock_lock *l; /* while holding */
    enum demo_phase phase;
    int round, name;
    size_t turn; /* this round's entry in demo.turns, once granted */
    int64_t hold_until_us;
    void *glue; /* the example's own per-client state (its handles) */
};

/* One grant and its release, in microseconds since the start. */
struct demo_turn {
    int client, name;
    int64_t got_us, end_us;
};

struct demo {
    const char *label; /* "loop_poll", ...: names and messages */
    int nclients, nnames, rounds;
    char names[DEMO_MAX_NAMES][32];
    struct demo_client *clients;
    struct demo_turn *turns;
    size_t nturns;
    int64_t start_us;
    int running; /* clients not yet DEMO_DONE */
    int failed;
};

/*
 * Reads "[-n CLIENTS] [-k NAMES] [-r ROUNDS] CONNINFO", connects the clients
 * (blocking: connecting is not part of the non-blocking API) and starts
 * every client's first acquire. Returns 0, or the exit status to return
 * at once (2: usage; 1: an error, printed, with everything freed).
 */
int demo_init(struct demo *d, const char *label, const char *loop_name, int argc, char **argv);

/* Microseconds on CLOCK_MONOTONIC since the run started. */
int64_t demo_now_us(const struct demo *d);

/*
 * What to wait for before the next demo_step() on cl: *fd ready for
 * *events (SQLLOCK_EV_READ | SQLLOCK_EV_WRITE; 0: do not watch the socket),
 * or *timeout_ms passing (-1: no limit; 0: step at once). A client that is
 * done wants nothing: fd -1, events 0, timeout -1.
 */
void demo_watch(const struct demo *d, const struct demo_client *cl, int *fd, int *events,
                int64_t *timeout_ms);

/*
 * Advances cl when its socket was ready or its timeout passed: finishes an
 * acquire (and prints the grant), ends a hold that is over (prints it and
 * starts the release), starts the next round after a release. Returns 0,
 * or -1 after printing what failed (the run is then over: d->failed).
 */
int demo_step(struct demo *d, struct demo_client *cl);

/* For the glue when the loop itself fails or the deadline passes: prints
   "<label>: <what>" and marks the run failed. */
void demo_fail(struct demo *d, const char *what);

/*
 * Checks the record (no two holders of a name at once, every round of
 * every client done), prints the summary, frees every client and returns
 * the exit status: 0 only when the run passed.
 */
int demo_finish(struct demo *d);

#endif
