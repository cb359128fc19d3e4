/* SPDX-License-Identifier: MIT */
/*
 * The fault runs' client (workload.c): takes locks in a loop and, under each,
 * increments a counter read-sleep-write, recording every step in its history
 * (history.h). workload_pg.c holds its connections and counter statements.
 */
#ifndef SQLLOCK_FAULTS_WORKLOAD_H
#define SQLLOCK_FAULTS_WORKLOAD_H

#include <libpq-fe.h>
#include <stdint.h>

#include "sqllock.h"

enum wl_mode { WL_ADVISORY, WL_LEASE, WL_BROKEN };

struct wl {
    /* options */
    const char *url, *proc, *name;
    int names;
    int64_t seconds, rounds, ttl_ms, wait_ms, hold_ms, check_ms;
    enum wl_mode mode;
    int fence;
    /* state */
    int fd;               /* the history */
    int64_t end_ns;       /* --seconds: when to stop */
    PGconn *pc;           /* counter statements (and, advisory, the lock) */
    sqllock_client *cl;   /* NULL in broken mode */
    int64_t broken_token; /* broken mode's per-process "tokens" */
    int reconnected;      /* reconnects since the last acquire_invoke */
    long acquired, busy, timeout, lost, errors, reconnects, indeterminate;
};

/* (Re)connects with bounded retries and backoff: 0, or -1 when the run's
   time is up or every attempt failed. */
int wl_connect(struct wl *w);
void wl_disconnect(struct wl *w);

/* The counter of name (and, when fenced, registers token with the store).
   0 read, 1 refused (a newer token was seen), -1 statement failed. */
int wl_read(struct wl *w, const char *name, int64_t token, int64_t *value, char *server_ts,
            size_t ts_cap);
/* Writes value (with a counter_log row, and when fenced only if no newer
   token was seen, with a fence_log row). 0 written, 1 refused, -1 failed. */
int wl_write(struct wl *w, const char *name, int64_t token, int64_t value, char *server_ts,
             size_t ts_cap);

#endif
