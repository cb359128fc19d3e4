/* SPDX-License-Identifier: MIT */
/*
 * Handoff runs, shared by the contended and lease scenarios: n processes
 * take one name in turn, each waiting (bounded) and releasing at once, for
 * a given time. Each process records, on CLOCK_MONOTONIC (one clock for the
 * whole machine), when its acquire was called and returned and when its
 * release was called and returned; the parent merges them in acquisition
 * order, from which the handoffs, the fairness and the longest wait follow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqllock.h>

#include "scenarios.h"

static int cmp_event(const void *x, const void *y)
{
    const struct handoff_event *a = x, *b = y;
    return (a->acquired > b->acquired) - (a->acquired < b->acquired);
}

/* One acquire+release of name; OK, TIMEOUT (ev->timed_out set) or an error,
   reported. */
static sqllock_status one_turn(sqllock_client *c, const char *name,
                               const sqllock_acquire_opts *opts, struct handoff_event *ev)
{
    sqllock_lock *l;
    ev->called = bench_now_ns();
    sqllock_status st = sqllock_acquire(&l, c, name, opts);
    ev->acquired = bench_now_ns();
    if (st == SQLLOCK_TIMEOUT) {
        ev->timed_out = 1;
        return st;
    }
    if (st == SQLLOCK_OK) {
        ev->release_called = bench_now_ns();
        st = sqllock_release(l);
        ev->released = bench_now_ns();
    }
    if (st != SQLLOCK_OK)
        fprintf(stderr, "bench: handoff: %s: %s\n", sqllock_status_str(st), sqllock_errmsg(c));
    return st;
}

static int worker(struct crew_ctx *ctx, void *argp)
{
    const struct handoff_spec *a = argp;
    sqllock_client *c = NULL;
    if (sqllock_connect(&c, a->url) != SQLLOCK_OK) {
        fprintf(stderr, "bench: connect %s: %s\n", a->label, sqllock_errmsg(c));
        sqllock_client_free(c);
        return -1;
    }
    sqllock_acquire_opts opts = SQLLOCK_ACQUIRE_OPTS_INIT;
    opts.ttl_ms = a->ttl_ms;
    /* Bounded: a waiter starved this long is recorded as such and stops. */
    opts.wait_ms = HANDOFF_WAIT_MS;
    size_t cap = 1 << 16, n = 0;
    struct handoff_event *ev = malloc(cap * sizeof(*ev)), warm = {0};
    char own[128];
    snprintf(own, sizeof(own), "%s:warm:%d", a->name, ctx->index);
    /* A first pair on a name of its own, so that what a client does once
       (preparing, creating its row) is out of the timed loop. */
    int rc = ev && one_turn(c, own, &opts, &warm) == SQLLOCK_OK ? crew_ready(ctx) : -1;
    int64_t end = bench_now_ns() + (int64_t)(a->seconds * 1e9);
    while (rc == 0 && n < cap && bench_now_ns() < end) {
        struct handoff_event *e = &ev[n];
        memset(e, 0, sizeof(*e));
        e->worker = ctx->index;
        sqllock_status st = one_turn(c, a->name, &opts, e);
        n++;
        if (st == SQLLOCK_TIMEOUT)
            break;
        if (st != SQLLOCK_OK)
            rc = -1;
    }
    if (rc == 0 && write_all(ctx->out_fd, ev, n * sizeof(*ev)) != 0)
        rc = -1;
    free(ev);
    sqllock_client_free(c);
    return rc;
}

int handoff_run(const struct handoff_spec *spec, int n, struct handoff_run *out)
{
    memset(out, 0, sizeof(*out));
    struct crew crew;
    if (crew_start(&crew, n, worker, (void *)spec) != 0)
        return -1;
    int ok = crew_go(&crew) == 0;
    for (int i = 0; i < n && ok; i++) {
        char *buf;
        size_t len;
        if (crew_collect(&crew, i, &buf, &len) != 0 || len % sizeof(struct handoff_event)) {
            ok = 0;
            break;
        }
        size_t k = len / sizeof(struct handoff_event);
        struct handoff_event *p = realloc(out->ev, (out->n + k) * sizeof(*p) + 1);
        if (p) {
            memcpy(p + out->n, buf, len);
            out->ev = p;
            out->n += k;
        }
        ok = p != NULL;
        free(buf);
    }
    if (crew_finish(&crew) != 0 || !ok) {
        fprintf(stderr, "bench: handoff %s, %d processes: a worker failed\n", spec->label, n);
        handoff_free(out);
        return -1;
    }
    handoff_sort(out->ev, out->n);
    /* Timed-out waits sort among the rest by when they gave up; they count
       for the longest wait only. */
    size_t acq = 0;
    const struct handoff_event *prev = NULL;
    for (size_t i = 0; i < out->n; i++) {
        const struct handoff_event *e = &out->ev[i];
        int64_t wait = e->acquired - e->called;
        if (wait > out->longest_wait_ns)
            out->longest_wait_ns = wait;
        if (e->timed_out) {
            out->timeouts++;
            continue;
        }
        if (acq == 0)
            out->first_ns = e->acquired;
        out->last_ns = e->released;
        acq++;
        if (prev && prev->worker != e->worker)
            out->handoffs++;
        prev = e;
    }
    out->acquisitions = acq;
    return 0;
}

void handoff_sort(struct handoff_event *ev, size_t n)
{
    if (n)
        qsort(ev, n, sizeof(*ev), cmp_event);
}

int handoff_samples(const struct handoff_run *r, struct samples *from_returned,
                    struct samples *from_called)
{
    const struct handoff_event *prev = NULL;
    for (size_t i = 0; i < r->n; i++) {
        const struct handoff_event *e = &r->ev[i];
        if (e->timed_out)
            continue;
        if (prev && prev->worker != e->worker &&
            ((from_returned && samples_add(from_returned, e->acquired - prev->released) != 0) ||
             (from_called && samples_add(from_called, e->acquired - prev->release_called) != 0)))
            return -1;
        prev = e;
    }
    return 0;
}

double handoff_rate(const struct handoff_run *r)
{
    double span = (double)(r->last_ns - r->first_ns) / 1e9;
    return r->acquisitions >= 2 && span > 0 ? (double)r->acquisitions / span : -1;
}

void handoff_free(struct handoff_run *r)
{
    free(r->ev);
    memset(r, 0, sizeof(*r));
}
