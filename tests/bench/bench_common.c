/* SPDX-License-Identifier: MIT */
/*
 * The shared machinery of the benchmarks (see bench_common.h): the clock,
 * sample sets and percentiles, the crew of forked workers behind a pipe
 * barrier, running other programs, and printing figures as a table row and
 * a JSON line tagged with the commit ($SQLLOCK_COMMIT) and the date.
 */
#include "bench_common.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t bench_now_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail for this clock */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int samples_append(struct samples *s, const int64_t *x, size_t n)
{
    if (s->n + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->n + n)
            cap *= 2;
        int64_t *p = realloc(s->v, cap * sizeof(*p));
        if (!p)
            return -1;
        s->v = p;
        s->cap = cap;
    }
    memcpy(s->v + s->n, x, n * sizeof(*x));
    s->n += n;
    return 0;
}

int samples_add(struct samples *s, int64_t x)
{
    return samples_append(s, &x, 1);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void samples_sort(struct samples *s)
{
    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), cmp_i64);
}

double samples_pct(const struct samples *s, double p)
{
    if (!s->n)
        return NAN;
    size_t rank = (size_t)ceil(p * (double)s->n);
    return (double)s->v[rank > 0 ? rank - 1 : 0];
}

void samples_free(struct samples *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double median_d(double *v, int n)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof(*v), cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- crews ------------------------------------------------------------- */

int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int crew_ready(struct crew_ctx *ctx)
{
    char ok = 1, go;
    if (write_all(ctx->ready_fd, &ok, 1) != 0)
        return -1;
    ssize_t r;
    do
        r = read(ctx->go_fd, &go, 1);
    while (r < 0 && errno == EINTR);
    /* EOF is "go"; a byte is "give up". */
    return r == 0 ? 0 : -1;
}

int crew_start(struct crew *c, int n, crew_fn fn, void *arg)
{
    int ready[2], go[2];
    memset(c, 0, sizeof(*c));
    c->ready_r = c->go_w = -1;
    if (n < 1 || n > BENCH_MAX_CLIENTS || pipe(ready) != 0)
        return -1;
    if (pipe(go) != 0) {
        close(ready[0]);
        close(ready[1]);
        return -1;
    }
    c->ready_r = ready[0];
    c->go_w = go[1];
    (void)fflush(NULL); /* the children must not write the parent's buffers again */
    for (int i = 0; i < n; i++) {
        int out[2];
        if (pipe(out) != 0)
            break;
        pid_t pid = fork();
        if (pid < 0) {
            close(out[0]);
            close(out[1]);
            break;
        }
        if (pid == 0) {
            close(out[0]);
            close(ready[0]);
            close(go[1]);
            for (int j = 0; j < i; j++)
                close(c->out[j]);
            struct crew_ctx ctx = {i, out[1], ready[1], go[0]};
            int rc = fn(&ctx, arg);
            if (rc != 0) {
                char fail = 0; /* so the parent is not left waiting for us */
                (void)write_all(ready[1], &fail, 1);
            }
            (void)fflush(NULL);
            _exit(rc == 0 ? 0 : 1);
        }
        close(out[1]);
        c->pid[i] = pid;
        c->out[i] = out[0];
        c->n++;
    }
    close(ready[1]);
    close(go[0]);
    if (c->n != n) {
        fprintf(stderr, "bench: could not start %d workers\n", n);
        (void)crew_finish(c);
        return -1;
    }
    return 0;
}

int crew_go(struct crew *c)
{
    int ok = 1;
    for (int i = 0; i < c->n; i++) {
        char b;
        ssize_t r;
        do
            r = read(c->ready_r, &b, 1);
        while (r < 0 && errno == EINTR);
        if (r != 1 || b != 1) {
            ok = 0;
            break;
        }
    }
    if (!ok) {
        char stop = 1;
        for (int i = 0; i < c->n; i++)
            (void)write_all(c->go_w, &stop, 1);
    }
    close(c->go_w); /* EOF: go */
    c->go_w = -1;
    return ok ? 0 : -1;
}

int crew_collect(struct crew *c, int i, char **buf, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    if (!b)
        return -1;
    for (;;) {
        if (n == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) {
                free(b);
                return -1;
            }
            b = nb;
        }
        ssize_t r = read(c->out[i], b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(b);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *buf = b;
    *len = n;
    return 0;
}

int crew_finish(struct crew *c)
{
    int ok = 1;
    if (c->go_w >= 0)
        close(c->go_w);
    if (c->ready_r >= 0)
        close(c->ready_r);
    for (int i = 0; i < c->n; i++) {
        int status;
        close(c->out[i]);
        while (waitpid(c->pid[i], &status, 0) < 0)
            if (errno != EINTR) {
                status = -1;
                break;
            }
        if (status != 0)
            ok = 0;
    }
    memset(c, 0, sizeof(*c));
    c->ready_r = c->go_w = -1;
    return ok ? 0 : -1;
}

/* ---- other programs --------------------------------------------------------- */

int run_program(char *const argv[], char *out, size_t cap, int quiet_stderr)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    (void)fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        if (dup2(p[1], STDOUT_FILENO) < 0)
            _exit(127);
        if (quiet_stderr && !freopen("/dev/null", "w", stderr))
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    char sink[4096];
    for (;;) {
        char *dst = out && n + 1 < cap ? out + n : sink;
        size_t room = out && n + 1 < cap ? cap - 1 - n : sizeof(sink);
        ssize_t r = read(p[0], dst, room);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (dst != sink)
            n += (size_t)r;
    }
    if (out && cap)
        out[n] = '\0';
    close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- figures ------------------------------------------------------------------ */

static FILE *json;
static int emitted;
static char date[32];
static char machine[256] = "unknown";

/* SQLLOCK_COMMIT goes into JSON unescaped, so only a plausible id is used. */
static const char *commit_id(void)
{
    static const char safe[] = "0123456789abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ._-";
    const char *c = getenv("SQLLOCK_COMMIT");
    if (!c || !*c || strlen(c) > 64 || strspn(c, safe) != strlen(c))
        return "unknown";
    return c;
}

int figures_open(const char *json_path)
{
    time_t t = time(NULL);
    struct tm tm;
    if (t == (time_t)-1 || !gmtime_r(&t, &tm) ||
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(date, sizeof(date), "unknown");
    /* $SQLLOCK_BENCH_MACHINE, made safe to put between JSON quotes. */
    const char *m = getenv("SQLLOCK_BENCH_MACHINE");
    if (m && *m) {
        snprintf(machine, sizeof(machine), "%s", m);
        for (char *p = machine; *p; p++)
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
                *p = '_';
    }
    if (!json_path)
        return 0;
    json = fopen(json_path, "w");
    if (!json) {
        fprintf(stderr, "bench: %s: %s\n", json_path, strerror(errno));
        return -1;
    }
    return 0;
}

void figures_close(void)
{
    if (json && fclose(json) != 0)
        fprintf(stderr, "bench: writing the JSON lines failed\n");
    json = NULL;
}

int figures_emitted(void)
{
    return emitted;
}

void figure_section(const char *title)
{
    printf("\n== %s\n%-18s %3s %-14s %-16s %9s %9s %9s   %-22s %9s %7s\n", title, "backend",
           "cl", "variant", "metric", "median", "p50 us", "p99 us", "baseline", "baseline",
           "ratio");
}

/* A number for the table: "-" for none, no decimals once it is large. */
static const char *num(char *buf, size_t n, double v, int decimals)
{
    if (isnan(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.*f", fabs(v) >= 1000 ? 0 : decimals, v);
    return buf;
}

static void json_num(const char *key, double v)
{
    if (isnan(v))
        fprintf(json, ",\"%s\":null", key);
    else
        fprintf(json, ",\"%s\":%.6g", key, v);
}

void figure_emit(const struct figure *f)
{
    char a[32], b[32], c[32], d[32], e[32];
    printf("%-18s %3d %-14s %-16s %9s %9s %9s   %-22s %9s %7s\n", f->backend, f->clients,
           f->variant ? f->variant : "", f->metric, num(a, sizeof(a), f->value, 1),
           num(b, sizeof(b), f->p50, 1), num(c, sizeof(c), f->p99, 1),
           f->baseline ? f->baseline : "-", num(d, sizeof(d), f->baseline_value, 1),
           num(e, sizeof(e), f->ratio, 3));
    (void)fflush(stdout);
    emitted++;
    if (!json)
        return;
    fprintf(json, "{\"scenario\":\"%s\",\"backend\":\"%s\",\"clients\":%d", f->scenario,
            f->backend, f->clients);
    if (f->variant)
        fprintf(json, ",\"variant\":\"%s\"", f->variant);
    fprintf(json, ",\"metric\":\"%s\"", f->metric);
    json_num("value", f->value);
    json_num("p50_us", f->p50);
    json_num("p99_us", f->p99);
    fprintf(json, ",\"baseline\":\"%s\"", f->baseline ? f->baseline : "");
    json_num("baseline_value", f->baseline_value);
    json_num("ratio", f->ratio);
    fprintf(json, ",\"commit\":\"%s\",\"date\":\"%s\",\"machine\":\"%s\"}\n", commit_id(), date,
            machine);
    (void)fflush(json);
}
