/* SPDX-License-Identifier: MIT */
/*
 * Scenario 7, event loop: N clients contend on K names (client i on name
 * i % K), each acquiring its name (wait forever), releasing it at once and
 * going again for the run's seconds. Side A drives all N clients from one
 * thread through the non-blocking API and a poll() loop; side B, the
 * baseline, is N threads, one client each, with the blocking calls. Each
 * side runs in a forked process of its own (a crew of one), so that its
 * memory is its alone:
 *   acquires_per_s  grants returned in the timed window / its length
 *   handoff_us      per name, consecutive grants to different clients: the
 *                   next grant returned (by sqllock_poll in A, by
 *                   sqllock_acquire in B) - the release returned (rel-ret),
 *                   or - the release called (rel-call); one clock for both
 *   rss_per_client  resident set (/proc/self/statm) once the run is over,
 *                   every client still connected and every thread still
 *                   alive, less that before connecting, / N: thread stacks
 *                   and per-thread malloc arenas count (mallinfo2 sees
 *                   neither), and so does the libpq connection
 *   cpu_us_per_acq  the process's user + system CPU in the window / grants
 * The lock is released at once, as in the contended row: a hold would make
 * both sides wait the same fixed time and hide what passing the lock on
 * costs each. Over libpq only (the non-blocking API has no ODBC).
 */
#include <malloc.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqllock.h>

#include "scenarios.h"

#define EL_CLIENTS 100
#define EL_NAMES 10
#define EL_QUICK_CLIENTS 20
#define EL_QUICK_NAMES 4
#define EL_SPARE_CONNECTIONS 10 /* beyond the clients: baselines, pgstat, superuser slots */

struct el_spec {
    const struct bench_backend *b;
    int n, k, threads; /* threads: side B */
    double seconds;
    size_t cap; /* events logged per client at most */
};

struct el_client {
    sqllock_client *c;
    sqllock_lock *l;
    char name[96];
    int phase; /* side A: 0 acquiring, 1 releasing, 2 done */
    int failed;
    size_t n, dropped;
    struct handoff_event *ev; /* cap of them */
    struct el_side *side;
    pthread_t thread;
};

struct el_side {
    const struct el_spec *spec;
    struct el_client *cl;
    int64_t start, end; /* the timed window */
    /* Side B: the threads wait for go, then count themselves finished and
       wait for leave. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int go, finished, leave;
};

/* What the side's process sends back, then nh + nhc int64 samples in ns. */
struct el_report {
    int64_t grants, window_ns, rss_bytes, cpu_ns, nh, nhc;
};

static int64_t rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

static int64_t cpu_ns(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

static void el_log(struct el_client *x, int worker, int64_t called, int64_t acquired,
                   int64_t release_called, int64_t released)
{
    if (x->n == x->side->spec->cap) {
        x->dropped++;
        return;
    }
    struct handoff_event *e = &x->ev[x->n++];
    e->called = called;
    e->acquired = acquired;
    e->release_called = release_called;
    e->released = released;
    e->worker = worker;
    e->timed_out = 0;
}

static int el_fail(struct el_client *x, const char *what, sqllock_status st)
{
    fprintf(stderr, "bench: eventloop: %s %s: %s: %s\n", what, x->name, sqllock_status_str(st),
            sqllock_errmsg(x->c));
    x->failed = 1;
    return -1;
}

static sqllock_acquire_opts wait_forever(void)
{
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.wait_ms = SQLLOCK_WAIT_FOREVER;
    return o;
}

/* ---- side A: one thread, a poll() loop --------------------------------- */

static int loop_start(struct el_client *x, int64_t *called)
{
    sqllock_acquire_opts forever = wait_forever();
    *called = bench_now_ns();
    sqllock_status st = sqllock_acquire_start(x->c, x->name, &forever);
    x->phase = 0;
    return st == SQLLOCK_PENDING ? 0 : el_fail(x, "acquire_start", st);
}

/* One step of client i whose socket was ready or whose timeout passed. */
static int loop_step(struct el_side *s, int i, int64_t *called, int64_t *acquired,
                     int64_t *rel_called, int *active)
{
    struct el_client *x = &s->cl[i];
    sqllock_lock *got = NULL;
    sqllock_status st = sqllock_poll(&got, x->c);
    if (st == SQLLOCK_PENDING)
        return 0;
    int64_t now = bench_now_ns();
    if (st != SQLLOCK_OK)
        return el_fail(x, x->phase == 0 ? "acquire" : "release", st);
    if (x->phase == 0) {
        acquired[i] = now;
        x->phase = 1;
        rel_called[i] = bench_now_ns();
        st = sqllock_release_start(got);
        return st == SQLLOCK_PENDING ? 0 : el_fail(x, "release_start", st);
    }
    el_log(x, i, called[i], acquired[i], rel_called[i], now);
    if (now < s->end)
        return loop_start(x, &called[i]);
    x->phase = 2;
    (*active)--;
    return 0;
}

static int run_loop(struct el_side *s)
{
    int n = s->spec->n, active = n, rc = 0;
    struct pollfd *p = calloc((size_t)n, sizeof(*p));
    int64_t *t = calloc((size_t)n * 4, sizeof(*t));
    if (!p || !t) {
        rc = -1;
        goto out;
    }
    int64_t *called = t, *acquired = t + n, *rel_called = t + 2 * n, *due = t + 3 * n;
    s->start = bench_now_ns();
    s->end = s->start + (int64_t)(s->spec->seconds * 1e9);
    for (int i = 0; i < n && rc == 0; i++)
        rc = loop_start(&s->cl[i], &called[i]);
    int64_t give_up = s->end + (int64_t)HANDOFF_WAIT_MS * 1000000;
    while (rc == 0 && active > 0) {
        int timeout = 1000;
        int64_t now = bench_now_ns();
        for (int i = 0; i < n; i++) {
            struct el_client *x = &s->cl[i];
            int ev = x->phase == 2 ? 0 : sqllock_events(x->c);
            int64_t ms = x->phase == 2 ? -1 : sqllock_timeout_ms(x->c);
            p[i].fd = x->phase == 2 ? -1 : sqllock_socket(x->c);
            p[i].events = (short)(((ev & SQLLOCK_EV_READ) ? POLLIN : 0) |
                                  ((ev & SQLLOCK_EV_WRITE) ? POLLOUT : 0));
            p[i].revents = 0;
            due[i] = ms < 0 ? -1 : now + ms * 1000000;
            if (ms >= 0 && ms < timeout)
                timeout = (int)ms;
        }
        if (poll(p, (nfds_t)n, timeout) < 0 || bench_now_ns() > give_up) {
            fprintf(stderr, "bench: eventloop: the loop failed or hung\n");
            rc = -1;
            break;
        }
        now = bench_now_ns();
        for (int i = 0; i < n && rc == 0; i++)
            if (s->cl[i].phase != 2 && (p[i].revents || (due[i] >= 0 && now >= due[i])))
                rc = loop_step(s, i, called, acquired, rel_called, &active);
    }
out:
    free(p);
    free(t);
    return rc;
}

/* ---- side B: one thread per client, blocking calls ------------------------ */

static void *blocking_thread(void *arg)
{
    struct el_client *x = arg;
    struct el_side *s = x->side;
    sqllock_acquire_opts forever = wait_forever();
    int worker = (int)(x - s->cl);
    pthread_mutex_lock(&s->mu);
    while (!s->go)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    for (;;) {
        int64_t called = bench_now_ns();
        if (called >= s->end)
            break;
        sqllock_lock *l;
        sqllock_status st = sqllock_acquire(&l, x->c, x->name, &forever);
        int64_t acquired = bench_now_ns();
        if (st != SQLLOCK_OK) {
            el_fail(x, "acquire", st);
            break;
        }
        int64_t rel_called = bench_now_ns();
        st = sqllock_release(l);
        int64_t released = bench_now_ns();
        if (st != SQLLOCK_OK) {
            el_fail(x, "release", st);
            break;
        }
        el_log(x, worker, called, acquired, rel_called, released);
    }
    /* The main thread reads the resident set between finished and leave,
       with every thread (and its stack) still there. */
    pthread_mutex_lock(&s->mu);
    s->finished++;
    pthread_cond_broadcast(&s->cv);
    while (!s->leave)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Lets the parked threads run until s->end (0: stop at once) and waits for
   them; the resident set once all are done but none has left, or 0. */
static int64_t threads_run(struct el_side *s, int started)
{
    pthread_mutex_lock(&s->mu);
    s->go = 1;
    pthread_cond_broadcast(&s->cv);
    while (s->finished < started)
        pthread_cond_wait(&s->cv, &s->mu);
    int64_t rss = rss_bytes();
    s->leave = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < started; i++)
        (void)pthread_join(s->cl[i].thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    return rss;
}

/* Starts the threads, parked until go; 0, or -1 with none left running. */
static int threads_start(struct el_side *s)
{
    int n = s->spec->n, started = 0;
    s->start = s->end = 0;
    s->go = s->finished = s->leave = 0;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        return -1;
    if (pthread_cond_init(&s->cv, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        return -1;
    }
    while (started < n &&
           pthread_create(&s->cl[started].thread, NULL, blocking_thread, &s->cl[started]) == 0)
        started++;
    if (started == n)
        return 0;
    /* Those started see a window already over (end 0) and stop at once. */
    fprintf(stderr, "bench: eventloop: could not start %d threads\n", n);
    (void)threads_run(s, started);
    return -1;
}

/* ---- one side, in a process of its own ------------------------------------ */

/* Per name, the clients' events in grant order, into handoff samples;
   -1 also when a grant came before the previous holder's release was
   called (the name was held twice). */
static int side_samples(struct el_side *s, struct samples *h, struct samples *hc)
{
    const struct el_spec *sp = s->spec;
    size_t most = 0;
    for (int i = 0; i < sp->n; i++)
        most += s->cl[i].n;
    struct handoff_run r = {.ev = malloc((most + 1) * sizeof(*r.ev))};
    if (!r.ev)
        return -1;
    int rc = 0;
    for (int k = 0; k < sp->k && rc == 0; k++) {
        r.n = 0;
        for (int i = k; i < sp->n; i += sp->k) {
            memcpy(r.ev + r.n, s->cl[i].ev, s->cl[i].n * sizeof(*r.ev));
            r.n += s->cl[i].n;
        }
        handoff_sort(r.ev, r.n);
        for (size_t j = 1; j < r.n && rc == 0; j++)
            if (r.ev[j].acquired < r.ev[j - 1].release_called) {
                fprintf(stderr, "bench: eventloop: %s held by two clients at once\n",
                        s->cl[k].name);
                rc = -1;
            }
        if (rc == 0)
            rc = handoff_samples(&r, h, hc);
    }
    handoff_free(&r);
    return rc;
}

static int side_connect(struct el_side *s)
{
    const struct el_spec *sp = s->spec;
    for (int i = 0; i < sp->n; i++) {
        struct el_client *x = &s->cl[i];
        snprintf(x->name, sizeof(x->name), "bench:eventloop:%ld:%d", (long)getppid(), i % sp->k);
        x->side = s;
        sqllock_status st = sqllock_connect(&x->c, sp->b->url);
        /* A first pair, so that what a client does once is out of the run. */
        sqllock_lock *l;
        if (st == SQLLOCK_OK && (st = sqllock_acquire(&l, x->c, x->name, NULL)) == SQLLOCK_OK)
            st = sqllock_release(l);
        if (st != SQLLOCK_OK)
            return el_fail(x, "connect and warm up", st);
    }
    return 0;
}

static int side_worker(struct crew_ctx *ctx, void *arg)
{
    const struct el_spec *sp = arg;
    struct el_side s = {.spec = sp, .cl = calloc((size_t)sp->n, sizeof(*s.cl))};
    struct handoff_event *ev = malloc((size_t)sp->n * sp->cap * sizeof(*ev));
    struct el_report rep = {0};
    struct samples h = {0}, hc = {0};
    int rc = -1;
    if (!s.cl || !ev)
        goto out;
    /* The log is touched now, so that the resident set before counts it. */
    memset(ev, 0, (size_t)sp->n * sp->cap * sizeof(*ev));
    for (int i = 0; i < sp->n; i++)
        s.cl[i].ev = ev + (size_t)i * sp->cap;
    (void)malloc_trim(0); /* freed heap the parent left must not hide growth */
    int64_t before = rss_bytes();
    if (side_connect(&s) != 0 || (sp->threads && threads_start(&s) != 0))
        goto out;
    int ready = crew_ready(ctx);
    int64_t cpu0 = cpu_ns(), rss;
    if (sp->threads) {
        s.start = bench_now_ns();
        s.end = ready == 0 ? s.start + (int64_t)(sp->seconds * 1e9) : 0;
        rss = threads_run(&s, sp->n);
        rc = ready;
    } else {
        rc = ready == 0 ? run_loop(&s) : -1;
        rss = rss_bytes();
    }
    rep.cpu_ns = cpu_ns() - cpu0;
    rep.rss_bytes = rss - before;
    size_t dropped = 0;
    for (int i = 0; i < sp->n; i++) {
        if (s.cl[i].failed)
            rc = -1;
        dropped += s.cl[i].dropped;
        for (size_t j = 0; j < s.cl[i].n; j++)
            rep.grants += s.cl[i].ev[j].acquired < s.end;
    }
    if (dropped)
        fprintf(stderr, "bench: eventloop: %zu grants past the log's end not sampled\n",
                dropped);
    rep.window_ns = s.end - s.start;
    if (rc == 0 && side_samples(&s, &h, &hc) != 0)
        rc = -1;
    rep.nh = (int64_t)h.n;
    rep.nhc = (int64_t)hc.n;
    if (rc == 0 && (write_all(ctx->out_fd, &rep, sizeof(rep)) != 0 ||
                    write_all(ctx->out_fd, h.v, h.n * sizeof(*h.v)) != 0 ||
                    write_all(ctx->out_fd, hc.v, hc.n * sizeof(*hc.v)) != 0))
        rc = -1;
out:
    for (int i = 0; s.cl && i < sp->n; i++)
        sqllock_client_free(s.cl[i].c);
    samples_free(&h);
    samples_free(&hc);
    free(ev);
    free(s.cl);
    return rc;
}

/* Runs one side; its grants/s, RSS per client and CPU per grant, and its
   handoff samples added to h and hc. */
static int run_side(const struct el_spec *sp, double *rate, double *rss, double *cpu,
                    struct samples *h, struct samples *hc)
{
    struct crew crew;
    if (crew_start(&crew, 1, side_worker, (void *)sp) != 0)
        return -1;
    char *buf = NULL;
    size_t len = 0;
    int ok = crew_go(&crew) == 0 && crew_collect(&crew, 0, &buf, &len) == 0;
    struct el_report rep = {0};
    if (ok && len >= sizeof(rep)) {
        memcpy(&rep, buf, sizeof(rep));
        const int64_t *v = (const int64_t *)(buf + sizeof(rep));
        ok = len == sizeof(rep) + (size_t)(rep.nh + rep.nhc) * sizeof(*v) && rep.grants > 0 &&
             samples_append(h, v, (size_t)rep.nh) == 0 &&
             samples_append(hc, v + rep.nh, (size_t)rep.nhc) == 0;
    } else {
        ok = 0;
    }
    free(buf);
    if (crew_finish(&crew) != 0 || !ok) {
        fprintf(stderr, "bench: eventloop %s, %d %s: the run failed\n", sp->b->label, sp->n,
                sp->threads ? "threads" : "clients in a loop");
        return -1;
    }
    *rate = (double)rep.grants / ((double)rep.window_ns / 1e9);
    *rss = (double)rep.rss_bytes / sp->n;
    *cpu = (double)rep.cpu_ns / 1e3 / (double)rep.grants;
    return 0;
}

/* The server's max_connections through the baseline conninfo, or -1. */
static int max_connections(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    int m = -1;
    if (conn && PQstatus(conn) == CONNECTION_OK) {
        PGresult *r = PQexec(conn, "SHOW max_connections");
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            m = atoi(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    PQfinish(conn);
    return m;
}

static void emit_handoff(const struct bench_backend *b, int n, const char *variant,
                         const struct samples *s, const char *baseline, double base)
{
    double p50 = samples_pct(s, 0.5) / 1e3;
    struct figure f = {"eventloop",
                       b->label,
                       n,
                       variant,
                       "handoff_us",
                       p50,
                       p50,
                       samples_pct(s, 0.99) / 1e3,
                       baseline,
                       base,
                       baseline ? p50 / base : NAN};
    figure_emit(&f);
}

/* A figure of the loop beside the threads: medians of rounds and of the
   per-round ratios. */
static void emit_pair(const struct bench_backend *b, int n, const char *metric,
                      const char *baseline, double *a, double *t, int rounds)
{
    double ratio[BENCH_MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        ratio[r] = a[r] / t[r];
    struct figure f = {"eventloop",
                       b->label,
                       n,
                       "loop",
                       metric,
                       median_d(a, rounds),
                       NAN,
                       NAN,
                       baseline,
                       median_d(t, rounds),
                       median_d(ratio, rounds)};
    figure_emit(&f);
}

int sc_eventloop(const struct bench_cfg *cfg, const struct bench_backend *b)
{
    /* The non-blocking API is pg-advisory over libpq's. */
    if (!b->baseline || strncmp(b->label, "pg-", 3) != 0 || strncmp(b->url, "odbc:", 5) == 0)
        return 0;
    struct el_spec sp = {b,
                         cfg->quick ? EL_QUICK_CLIENTS : EL_CLIENTS,
                         cfg->quick ? EL_QUICK_NAMES : EL_NAMES,
                         0,
                         cfg->seconds,
                         0};
    /* Room for 200,000 grants/s, several times what a 2-CPU machine does. */
    sp.cap = (size_t)(cfg->seconds * 200000 / sp.n) + 256;
    int maxconn = max_connections(b->baseline);
    if (maxconn < sp.n + EL_SPARE_CONNECTIONS) {
        printf("%-18s %d clients need %d connections; the server allows %d: skipped\n", b->label,
               sp.n, sp.n + EL_SPARE_CONNECTIONS, maxconn);
        return maxconn < 0 ? -1 : 0;
    }
    double rate[2][BENCH_MAX_ROUNDS], rss[2][BENCH_MAX_ROUNDS], cpu[2][BENCH_MAX_ROUNDS];
    struct samples h[2] = {{0}}, hc[2] = {{0}};
    int ok = 1;
    for (int r = 0; r < cfg->rounds && ok; r++)
        for (int side = 0; side < 2 && ok; side++) {
            sp.threads = side;
            ok = run_side(&sp, &rate[side][r], &rss[side][r], &cpu[side][r], &h[side],
                          &hc[side]) == 0;
        }
    if (ok) {
        char base[32];
        snprintf(base, sizeof(base), "%d threads, blocking", sp.n);
        for (int side = 0; side < 2; side++) {
            samples_sort(&h[side]);
            samples_sort(&hc[side]);
        }
        emit_pair(b, sp.n, "acquires_per_s", base, rate[0], rate[1], cfg->rounds);
        double t50 = samples_pct(&h[1], 0.5) / 1e3, tc50 = samples_pct(&hc[1], 0.5) / 1e3;
        emit_handoff(b, sp.n, "loop rel-ret", &h[0], base, t50);
        emit_handoff(b, sp.n, "loop rel-call", &hc[0], base, tc50);
        emit_handoff(b, sp.n, "thr rel-ret", &h[1], NULL, NAN);
        emit_handoff(b, sp.n, "thr rel-call", &hc[1], NULL, NAN);
        emit_pair(b, sp.n, "rss_per_client", base, rss[0], rss[1], cfg->rounds);
        emit_pair(b, sp.n, "cpu_us_per_acq", base, cpu[0], cpu[1], cfg->rounds);
    }
    for (int side = 0; side < 2; side++) {
        samples_free(&h[side]);
        samples_free(&hc[side]);
    }
    return ok ? 0 : -1;
}
