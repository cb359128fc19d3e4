/* SPDX-License-Identifier: MIT */
/*
 * workload --url URL --proc ID --history FILE --name NAME [--names K]
 *          (--seconds S | --rounds R) [--mode advisory|lease|broken]
 *          [--ttl-ms T] [--wait-ms W] [--hold-ms H] [--check-ms C] [--fence]
 *
 * A fault run's client: per round it takes one of the K names, increments
 * that name's counter read-sleep-write while holding it (checking the lock
 * every C ms), releases, and records each step in its history (history.h)
 * for the checker. Modes:
 *   advisory  session lock on a connection of its own (sqllock_attach_pg),
 *             the counter statements in that same session, so a session the
 *             server ended cannot write: that is what an advisory lock gives;
 *   lease     a lease (sqllock_connect, ttl T) and a second connection for
 *             the counter; --fence makes the store refuse stale tokens;
 *   broken    a "lock" that grants at once without asking anyone: the
 *             checker must catch it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "history.h"
#include "workload.h"

#define DETAIL_MAX 160

static void record(struct wl *w, int64_t at, enum hist_event e, const char *name, int64_t token,
                   const char *server_ts, const char *detail)
{
    if (hist_write(w->fd, at, w->proc, e, name, token, server_ts, detail) != 0) {
        perror("workload: history write");
        exit(1);
    }
}

static void sleep_until(int64_t t_ns)
{
    struct timespec ts = {t_ns / 1000000000, t_ns % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0 &&
           hist_mono_ns() < t_ns)
        ;
}

/* A connection-class failure: the server or the path to it went away, so
   the outcome of the call is unknown and the session must be replaced. */
static int broke(struct wl *w, sqllock_status st)
{
    const char *code = w->cl ? sqllock_errcode(w->cl) : "";
    return st == SQLLOCK_ECONNECT ||
           (st < 0 && (strncmp(code, "57", 2) == 0 || strncmp(code, "08", 2) == 0)) ||
           (w->pc && PQstatus(w->pc) != CONNECTION_OK);
}

static sqllock_status acquire(struct wl *w, sqllock_lock **l, const char *name, int64_t *token)
{
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    sqllock_status st;

    if (w->mode == WL_BROKEN) {
        *l = NULL;
        *token = ++w->broken_token;
        return SQLLOCK_OK;
    }
    o.wait_ms = w->wait_ms;
    o.ttl_ms = w->mode == WL_LEASE ? w->ttl_ms : 0;
    st = sqllock_acquire(l, w->cl, name, &o);
    *token = st == SQLLOCK_OK && w->mode == WL_LEASE ? sqllock_fencing_token(*l) : -1;
    return st;
}

/* Holds for --hold-ms, checking every --check-ms: OK, or why it ended. */
static sqllock_status hold(struct wl *w, sqllock_lock *l)
{
    int64_t now = hist_mono_ns(), end = now + w->hold_ms * 1000000;
    int64_t next = w->check_ms > 0 ? now + w->check_ms * 1000000 : INT64_MAX;

    while ((now = hist_mono_ns()) < end) {
        sleep_until(next < end ? next : end);
        if (l && hist_mono_ns() >= next) {
            sqllock_status st = sqllock_check(l);
            if (st != SQLLOCK_OK)
                return st;
            next += w->check_ms * 1000000;
        }
    }
    return SQLLOCK_OK;
}

/* Ends a round in which the lock was lost. What the library then says of
   the lost lock is recorded too: a lease's check, extend and release must
   all refuse (detail "STATUS check=X extend=Y"). The session is replaced
   when it broke. */
static void abandon(struct wl *w, sqllock_lock *l, const char *name, int64_t token,
                    const char *server_ts, const char *why)
{
    char detail[DETAIL_MAX];
    sqllock_status st, chk, ext;

    w->lost++;
    record(w, 0, HIST_LOST, name, token, server_ts, why);
    if (!l)
        return;
    record(w, 0, HIST_RELEASE_INVOKE, name, token, NULL, "after_lost");
    chk = w->mode == WL_LEASE ? sqllock_check(l) : SQLLOCK_LOST;
    ext = w->mode == WL_LEASE ? sqllock_extend(l, w->ttl_ms) : SQLLOCK_LOST;
    st = sqllock_release(l);
    snprintf(detail, sizeof detail, "%s check=%s extend=%s", hist_status_name(st),
             w->mode == WL_LEASE ? hist_status_name(chk) : "-",
             w->mode == WL_LEASE ? hist_status_name(ext) : "-");
    record(w, 0, st == SQLLOCK_OK ? HIST_RELEASE_OK : HIST_RELEASE_FAIL, name, token, NULL,
           detail);
    if (broke(w, st))
        wl_disconnect(w);
}

static void one_round(struct wl *w, const char *name)
{
    char detail[DETAIL_MAX], ts[64] = "", wts[64] = "";
    sqllock_lock *l = NULL;
    int64_t token, t0, t1, value = 0, deadline = 0;
    sqllock_status st;
    int rc;

    snprintf(detail, sizeof detail, "mode=%s ttl_ms=%lld backend=%d reconnects=%d",
             w->mode == WL_ADVISORY ? "advisory"
             : w->mode == WL_LEASE  ? "lease"
                                    : "broken",
             (long long)(w->mode == WL_LEASE ? w->ttl_ms : 0),
             w->mode == WL_ADVISORY ? PQbackendPID(w->pc) : 0, w->reconnected);
    w->reconnected = 0;
    /* The session the lock is asked of, read now: if the server ends it
       just after the grant, PQbackendPID says 0 by the time acquire_ok is
       written, and the checker could not cut the interval at that
       session's session_gone (seen once in faults::chaos, seed 11629). */
    int backend = w->mode == WL_ADVISORY ? PQbackendPID(w->pc) : 0;
    record(w, 0, HIST_ACQUIRE_INVOKE, name, -1, NULL, detail);
    t0 = hist_mono_ns();
    st = acquire(w, &l, name, &token);
    t1 = hist_mono_ns();
    if (st != SQLLOCK_OK) {
        int indeterminate = broke(w, st);
        const char *why = hist_status_name(st);
        w->busy += st == SQLLOCK_BUSY;
        w->timeout += st == SQLLOCK_TIMEOUT;
        w->indeterminate += indeterminate;
        w->errors += st < 0 && !indeterminate;
        record(w, 0, indeterminate ? HIST_ACQUIRE_INDETERMINATE : HIST_ACQUIRE_FAIL, name, -1,
               NULL, why);
        if (st < 0)
            wl_disconnect(w);
        return;
    }
    w->acquired++;
    rc = wl_read(w, name, token, &value, ts, sizeof ts);
    /* acquire_ok carries the first server time seen under the lock, but
       the instant the call returned. */
    deadline = w->mode == WL_LEASE ? t0 + w->ttl_ms * 1000000 : 0;
    if (w->mode == WL_LEASE)
        snprintf(detail, sizeof detail, "deadline_ns=%lld", (long long)deadline);
    else
        snprintf(detail, sizeof detail, "backend=%d", backend);
    record(w, t1, HIST_ACQUIRE_OK, name, token, rc == 0 ? ts : NULL, detail);
    if (rc != 0) {
        abandon(w, l, name, token, NULL, rc > 0 ? "fence_refused_read" : "read_failed");
        return;
    }
    st = hold(w, l);
    if (st != SQLLOCK_OK) {
        abandon(w, l, name, token, NULL, hist_status_name(st));
        return;
    }
    /* Without a fence nothing but the client's own clock stops a lease
       holder that overslept its deadline. */
    if (w->mode == WL_LEASE && !w->fence && hist_mono_ns() >= deadline) {
        abandon(w, l, name, token, NULL, "deadline");
        return;
    }
    rc = wl_write(w, name, token, value + 1, wts, sizeof wts);
    if (rc != 0) {
        abandon(w, l, name, token, rc > 0 ? wts : NULL,
                rc > 0 ? "fence_refused_write" : "write_failed");
        return;
    }
    record(w, 0, HIST_RELEASE_INVOKE, name, token, wts, NULL);
    st = l ? sqllock_release(l) : SQLLOCK_OK;
    record(w, 0, st == SQLLOCK_OK ? HIST_RELEASE_OK : HIST_RELEASE_FAIL, name, token, NULL,
           hist_status_name(st));
    w->lost += st == SQLLOCK_LOST;
    if (st != SQLLOCK_OK && broke(w, st))
        wl_disconnect(w);
}

static void usage(void)
{
    fprintf(stderr, "usage: workload --url URL --proc ID --history FILE --name NAME"
                    " [--names K] (--seconds S | --rounds R)"
                    " [--mode advisory|lease|broken] [--ttl-ms T] [--wait-ms W]"
                    " [--hold-ms H] [--check-ms C] [--fence]\n");
    exit(2);
}

static void parse(struct wl *w, int argc, char **argv)
{
    const char *hist = NULL, *mode = "advisory";
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--fence") == 0) {
            w->fence = 1;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (strcmp(a, "--url") == 0)
            w->url = v;
        else if (strcmp(a, "--proc") == 0)
            w->proc = v;
        else if (strcmp(a, "--history") == 0)
            hist = v;
        else if (strcmp(a, "--name") == 0)
            w->name = v;
        else if (strcmp(a, "--names") == 0)
            w->names = atoi(v);
        else if (strcmp(a, "--seconds") == 0)
            w->seconds = atoll(v);
        else if (strcmp(a, "--rounds") == 0)
            w->rounds = atoll(v);
        else if (strcmp(a, "--mode") == 0)
            mode = v;
        else if (strcmp(a, "--ttl-ms") == 0)
            w->ttl_ms = atoll(v);
        else if (strcmp(a, "--wait-ms") == 0)
            w->wait_ms = atoll(v);
        else if (strcmp(a, "--hold-ms") == 0)
            w->hold_ms = atoll(v);
        else if (strcmp(a, "--check-ms") == 0)
            w->check_ms = atoll(v);
        else
            usage();
    }
    if (strcmp(mode, "advisory") == 0)
        w->mode = WL_ADVISORY;
    else if (strcmp(mode, "lease") == 0)
        w->mode = WL_LEASE;
    else if (strcmp(mode, "broken") == 0)
        w->mode = WL_BROKEN;
    else
        usage();
    if (!w->url || !w->proc || strpbrk(w->proc, " \t\n") || !hist || !w->name || w->names < 1 ||
        (w->seconds > 0) == (w->rounds > 0) || (w->mode == WL_LEASE && w->ttl_ms <= 0) ||
        w->wait_ms < 0 || w->hold_ms < 0)
        usage();
    if ((w->fd = hist_open(hist)) < 0) {
        perror(hist);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    struct wl w = {.names = 1, .wait_ms = 1000, .hold_ms = 20, .check_ms = 10};
    char name[HIST_FIELD_MAX];
    long round;

    parse(&w, argc, argv);
    /* The injectors find this client's sessions by application_name. */
    setenv("PGAPPNAME", w.proc, 1);
    srand((unsigned)(getpid() ^ hist_mono_ns()));
    w.end_ns = w.seconds > 0 ? hist_mono_ns() + w.seconds * 1000000000 : INT64_MAX;
    for (round = 0; w.rounds > 0 ? round < w.rounds : hist_mono_ns() < w.end_ns; round++) {
        if (!w.pc) {
            if (wl_connect(&w) != 0) {
                if (hist_mono_ns() < w.end_ns) {
                    fprintf(stderr, "workload %s: cannot connect\n", w.proc);
                    return 1;
                }
                break;
            }
            w.reconnected += round > 0;
            w.reconnects += round > 0;
        }
        if (w.names == 1)
            snprintf(name, sizeof name, "%s", w.name);
        else
            snprintf(name, sizeof name, "%s.%d", w.name, rand() % w.names);
        one_round(&w, name);
    }
    printf("workload %s: rounds=%ld acquired=%ld busy=%ld timeout=%ld lost=%ld"
           " indeterminate=%ld errors=%ld reconnects=%ld\n",
           w.proc, round, w.acquired, w.busy, w.timeout, w.lost, w.indeterminate, w.errors,
           w.reconnects);
    wl_disconnect(&w);
    return 0;
}
