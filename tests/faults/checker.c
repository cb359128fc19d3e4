/* SPDX-License-Identifier: MIT */
/*
 * checker --history DIR [--server DIR] [--max-holders N]
 *         [--expect-violations | --expect KINDS]
 *
 * Judges a fault run from the clients' histories (every file of the history
 * DIR, format in history.h) and the server's logs (the --server DIR holds
 * the dumps of schema.sql's tables: counter_log.tsv, counters.tsv,
 * fence_log.tsv, grant_log.tsv, psql \copy text format, rows in id order):
 *  (A) two believed-held intervals of one name, of two procs, overlap (with
 *      --max-holders N, for a counting semaphore: N + 1 of them at once);
 *  (B) a lost update: a name's counter_log values are not exactly 1..N, or
 *      its final counter is not N;
 *  (C) a fenced write accepted with a lower token than one accepted before;
 *  (D) a name's lease tokens not strictly increasing in grant order;
 *  (E) a fencing token going back as the clients saw it: a grant of a name
 *      invoked after another grant of it had returned carries a token no
 *      greater. (D) reads the server's log, which a failover to a standby
 *      that missed the last commits rewrites along with the grants; the
 *      clients' histories keep what they were told.
 * An interval runs from acquire_ok to the first of release_invoke, lost,
 * the lease's deadline_ns, a session_gone that ended its session (session
 * locks only), or else the end of the run; an acquire_indeterminate is
 * held from its invoke until that proc's next acquire_invoke or session_gone;
 * since it may also not have taken effect, its overlaps are counted apart
 * ("possible_A") rather than as violations.
 * Also reports how long victims took to notice (session_gone to their next
 * lost / release_fail / acquire_indeterminate).
 * Exit: 0 clean (or, when violations are expected, each kind of KINDS, or
 * any kind, found); 1 otherwise; 2 on bad input.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"

#define SHOW_MAX 5

struct ev {
    struct hist_line h;
    long seq; /* reading order: breaks ties of mono within one proc */
};

struct interval {
    const char *proc, *name;
    int64_t start, end, deadline, backend; /* end: INT64_MAX while open */
    int64_t invoked, token;                /* the acquire's invoke; its token, -1 for none */
    int lease, indeterminate;
};

static struct ev *evs;
static size_t nev, capev;
static struct interval *ivs;
static size_t niv, capiv;
#define KINDS 5
static long violations[KINDS], faults, acquisitions, sessions_gone, possible_overlaps;
static double *detect_ms;
static size_t ndetect;

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return p;
    *cap = *cap ? *cap * 2 : 1024;
    if (!(p = realloc(p, *cap * size))) {
        perror("checker");
        exit(2);
    }
    return p;
}

static void bad_input(const char *what, const char *where, long line)
{
    fprintf(stderr, "checker: %s: %s:%ld\n", what, where, line);
    exit(2);
}

static void violation(int kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(int kind, const char *fmt, ...)
{
    va_list ap;
    if (violations[kind]++ >= SHOW_MAX)
        return;
    printf("violation %c: ", 'A' + kind);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* ---- reading ------------------------------------------------------------ */

static void read_history(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4096], line[2048];
    long seq = 0;

    if (!d)
        bad_input("cannot open history directory", dir, 0);
    while ((de = readdir(d)) != NULL) {
        FILE *f;
        long ln = 0;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (!(f = fopen(path, "r")))
            bad_input("cannot open", path, 0);
        while (fgets(line, sizeof line, f)) {
            ln++;
            line[strcspn(line, "\n")] = '\0';
            evs = grow(evs, &capev, nev, sizeof *evs);
            if (hist_parse(line, &evs[nev].h) != 0)
                bad_input("malformed history line", path, ln);
            evs[nev++].seq = seq++;
        }
        fclose(f);
    }
    closedir(d);
    if (nev == 0)
        bad_input("no history lines", dir, 0);
}

/* Calls row(fields, n, where, line) for each line of dir/file (tab-separated). */
static void read_tsv(const char *dir, const char *file, int nf,
                     void (*row)(char **f, const char *where, long line))
{
    char path[4096], line[4096], *f[8];
    FILE *fp;
    long ln = 0;

    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (!(fp = fopen(path, "r")))
        bad_input("cannot open server dump", path, 0);
    while (fgets(line, sizeof line, fp)) {
        char *s = line;
        int i;
        ln++;
        line[strcspn(line, "\n")] = '\0';
        for (i = 0; i < nf && s; i++)
            f[i] = strsep(&s, "\t");
        if (i != nf || s)
            bad_input("wrong number of columns", path, ln);
        row(f, path, ln);
    }
    fclose(fp);
}

/* ---- (A) intervals ------------------------------------------------------ */

static int by_proc_time(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    int c = strcmp(x->h.proc, y->h.proc);
    if (c)
        return c;
    if (x->h.mono_ns != y->h.mono_ns)
        return x->h.mono_ns < y->h.mono_ns ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static struct interval *open_iv(const struct ev *e, int64_t start, int indeterminate)
{
    struct interval *iv;
    ivs = grow(ivs, &capiv, niv, sizeof *ivs);
    iv = &ivs[niv++];
    memset(iv, 0, sizeof *iv);
    iv->proc = e->h.proc;
    iv->name = e->h.name;
    iv->start = start;
    iv->end = INT64_MAX;
    iv->indeterminate = indeterminate;
    iv->token = -1;
    return iv;
}

/* Closes the proc's intervals opened since first that are still open:
   those of name (all when name is NULL), only indeterminate ones if asked. */
static void close_ivs(size_t first, const char *name, int only_indet, int64_t at)
{
    size_t i;
    for (i = first; i < niv; i++)
        if (ivs[i].end == INT64_MAX && (!name || strcmp(ivs[i].name, name) == 0) &&
            (!only_indet || ivs[i].indeterminate))
            ivs[i].end = at;
}

/* The proc's events e[0..n) become intervals (session_gone applied later). */
static void build_intervals(const struct ev *e, size_t n)
{
    size_t first = niv, i;
    int64_t invoked = 0, ttl = 0, backend = 0, v;

    for (i = 0; i < n; i++) {
        const struct hist_line *h = &e[i].h;
        struct interval *iv;
        switch (h->event) {
        case HIST_ACQUIRE_INVOKE:
            close_ivs(first, NULL, 1, h->mono_ns);
            invoked = h->mono_ns;
            ttl = hist_detail_ll(h->detail, "ttl_ms", &v) ? v : 0;
            backend = hist_detail_ll(h->detail, "backend", &v) ? v : 0;
            break;
        case HIST_ACQUIRE_OK:
            acquisitions++;
            iv = open_iv(&e[i], h->mono_ns, 0);
            iv->invoked = invoked ? invoked : h->mono_ns;
            iv->token = h->token;
            if (hist_detail_ll(h->detail, "deadline_ns", &v) && v > 0) {
                iv->lease = 1;
                iv->deadline = v;
            }
            if (hist_detail_ll(h->detail, "backend", &v))
                iv->backend = v;
            break;
        case HIST_ACQUIRE_INDETERMINATE:
            iv = open_iv(&e[i], invoked ? invoked : h->mono_ns, 1);
            iv->lease = ttl > 0;
            iv->backend = backend;
            break;
        case HIST_RELEASE_INVOKE:
        case HIST_RELEASE_OK:
        case HIST_RELEASE_FAIL:
        case HIST_LOST: close_ivs(first, h->name, 0, h->mono_ns); break;
        case HIST_FAULT: faults++; break;
        case HIST_SESSION_GONE: sessions_gone++; break;
        case HIST_ACQUIRE_FAIL:
        case HIST_NONE: break;
        }
    }
    /* What is still open stays open to the end of the run: a client that
       died or hung holding a lock never said it stopped believing so. */
    /* The client may not assume a lease past its deadline, whatever came later. */
    for (i = first; i < niv; i++)
        if (ivs[i].deadline && ivs[i].deadline < ivs[i].end)
            ivs[i].end = ivs[i].deadline;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Cuts the proc's session-bound intervals at session_gone g (history.h) and
   measures how long the proc took to notice. */
static void apply_session_gone(const struct ev *e, size_t n, const struct ev *g, size_t first)
{
    int64_t t = g->h.mono_ns, backend = 0, until = 0;
    int had = 0;
    size_t i;

    hist_detail_ll(g->h.detail, "backend", &backend);
    hist_detail_ll(g->h.detail, "until_ns", &until);
    for (i = first; i < niv; i++) {
        struct interval *iv = &ivs[i];
        int cut;
        if (iv->lease || iv->end <= t)
            continue;
        if (backend && iv->backend)
            cut = iv->backend == backend;
        else if (until)
            cut = iv->start < until;
        else
            cut = iv->start <= t;
        if (!cut)
            continue;
        had |= iv->start <= t && !iv->indeterminate;
        iv->end = iv->start > t ? iv->start : t;
    }
    if (!had)
        return;
    for (i = 0; i < n; i++) {
        enum hist_event k = e[i].h.event;
        if (e[i].h.mono_ns >= t &&
            (k == HIST_LOST || k == HIST_RELEASE_FAIL || k == HIST_ACQUIRE_INDETERMINATE)) {
            detect_ms = realloc(detect_ms, (ndetect + 1) * sizeof *detect_ms);
            if (!detect_ms)
                exit(2);
            detect_ms[ndetect++] = (double)(e[i].h.mono_ns - t) / 1e6;
            return;
        }
    }
}

static int by_name_start(const void *a, const void *b)
{
    const struct interval *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return (x->start > y->start) - (x->start < y->start);
}

/* An overlap with an indeterminate acquire is only "possible": that acquire
   may not have taken effect, which explains the overlap, so it proves
   nothing alone. Overlaps of two acquire_ok intervals are violations. */
static long max_holders = 1;

static void check_overlaps(void)
{
    struct interval **active = calloc(niv + 1, sizeof *active);
    size_t i, j, nact = 0;

    if (!active)
        exit(2);
    qsort(ivs, niv, sizeof *ivs, by_name_start);
    for (i = 0; i < niv; i++) {
        struct interval *iv = &ivs[i], *definite = NULL;
        size_t keep = 0;
        long held = 0, maybe = 0; /* other holders at iv's start: acquire_ok ones, and any */
        if (iv->end <= iv->start)
            continue;
        for (j = 0; j < nact; j++)
            if (strcmp(active[j]->name, iv->name) == 0 && active[j]->end > iv->start)
                active[keep++] = active[j];
        nact = keep;
        for (j = 0; j < nact; j++) {
            if (strcmp(active[j]->proc, iv->proc) == 0)
                continue;
            maybe++;
            if (!iv->indeterminate && !active[j]->indeterminate)
                held++, definite = active[j];
        }
        if (held >= max_holders && max_holders == 1)
            violation(0, "%s: %s and %s both held it for %.3f ms from mono %lld", iv->name,
                      definite->proc, iv->proc,
                      (double)((definite->end < iv->end ? definite->end : iv->end) - iv->start) /
                          1e6,
                      (long long)iv->start);
        else if (held >= max_holders)
            violation(0, "%s: %ld holders at once (at most %ld), the last %s, from mono %lld",
                      iv->name, held + 1, max_holders, iv->proc, (long long)iv->start);
        else
            possible_overlaps += maybe >= max_holders;
        active[nact++] = iv;
    }
    free(active);
}

static int by_invoked(const void *a, const void *b)
{
    const struct interval *const *x = a, *const *y = b;
    int c = strcmp((*x)->name, (*y)->name);
    return c ? c : ((*x)->invoked > (*y)->invoked) - ((*x)->invoked < (*y)->invoked);
}

/* (E) over the granted intervals that carry a token, sorted by name and
   start (check_overlaps did it): per name, the grants in invoke order; each
   is compared with the highest token among the grants that had returned
   before it was invoked. */
static void check_tokens(void)
{
    struct interval **inv = calloc(niv + 1, sizeof *inv);
    size_t n = 0, i, j, first = 0, done = 0;
    int64_t max = -1;

    if (!inv)
        exit(2);
    for (i = 0; i < niv; i++)
        if (ivs[i].token >= 0 && !ivs[i].indeterminate)
            inv[n++] = &ivs[i];
    /* inv is in start order within each name; a copy sorted by invoke
       walks it. */
    struct interval **by_start = malloc((n + 1) * sizeof *by_start);
    if (!by_start)
        exit(2);
    memcpy(by_start, inv, n * sizeof *inv);
    qsort(inv, n, sizeof *inv, by_invoked);
    for (i = 0; i < n; i++) {
        if (i == 0 || strcmp(inv[i - 1]->name, inv[i]->name) != 0) {
            while (first < n && strcmp(by_start[first]->name, inv[i]->name) < 0)
                first++;
            done = first, max = -1;
        }
        for (j = done; j < n && strcmp(by_start[j]->name, inv[i]->name) == 0 &&
                       by_start[j]->start < inv[i]->invoked;
             j++)
            max = by_start[j]->token > max ? by_start[j]->token : max;
        done = j;
        if (max >= 0 && inv[i]->token <= max)
            violation(4, "%s: %s was granted token %lld after token %lld had been granted",
                      inv[i]->name, inv[i]->proc, (long long)inv[i]->token, (long long)max);
    }
    free(by_start);
    free(inv);
}

static void check_history(void)
{
    size_t i = 0, j, k;

    qsort(evs, nev, sizeof *evs, by_proc_time);
    while (i < nev) {
        size_t first = niv;
        for (j = i; j < nev && strcmp(evs[j].h.proc, evs[i].h.proc) == 0; j++)
            ;
        build_intervals(&evs[i], j - i);
        for (k = i; k < j; k++)
            if (evs[k].h.event == HIST_SESSION_GONE)
                apply_session_gone(&evs[i], j - i, &evs[k], first);
        i = j;
    }
    check_overlaps();
    check_tokens();
}

/* ---- (B)-(D) server logs -------------------------------------------------- */

struct srow {
    char name[HIST_FIELD_MAX];
    long long v;
    long order;
};

static struct srow *rows;
static size_t nrows, caprows;
static long counter_writes, fenced_writes, fenced_refused, grants;

static void add_row(const char *name, const char *v, const char *where, long line)
{
    char *end;
    rows = grow(rows, &caprows, nrows, sizeof *rows);
    if (strlen(name) >= sizeof rows->name)
        bad_input("name too long", where, line);
    strcpy(rows[nrows].name, name);
    rows[nrows].v = strtoll(v, &end, 10);
    if (end == v || *end)
        bad_input("not a number", where, line);
    rows[nrows].order = (long)nrows;
    nrows++;
}

static int by_name_order(const void *a, const void *b)
{
    const struct srow *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

static int by_name_value(const void *a, const void *b)
{
    const struct srow *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->v > y->v) - (x->v < y->v);
}

/* counter_log: id name value proc token ts */
static void counter_row(char **f, const char *where, long line)
{
    counter_writes++;
    add_row(f[1], f[2], where, line);
}

/* counters: name value fence */
static void final_row(char **f, const char *where, long line)
{
    size_t i;
    long long n = 0;
    char *end;
    long long value = strtoll(f[1], &end, 10);

    if (end == f[1] || *end)
        bad_input("not a number", where, line);
    for (i = 0; i < nrows; i++)
        n += strcmp(rows[i].name, f[0]) == 0;
    if (value != n)
        violation(1, "counter %s ends at %lld after %lld logged writes", f[0], value, n);
}

/* fence_log: id name token proc ts accepted (refused rows only counted) */
static void fence_row(char **f, const char *where, long line)
{
    fenced_writes++;
    if (strcmp(f[5], "t") != 0) {
        fenced_refused++;
        return;
    }
    add_row(f[1], f[2], where, line);
}

/* grant_log: id name token ts */
static void grant_row(char **f, const char *where, long line)
{
    grants++;
    add_row(f[1], f[2], where, line);
}

static void check_server(const char *dir)
{
    long long max = 0;
    size_t i;

    nrows = 0;
    read_tsv(dir, "counter_log.tsv", 6, counter_row);
    read_tsv(dir, "counters.tsv", 3, final_row);
    qsort(rows, nrows, sizeof *rows, by_name_value);
    for (i = 0; i < nrows; i++) {
        long long want =
            i > 0 && strcmp(rows[i - 1].name, rows[i].name) == 0 ? rows[i - 1].v + 1 : 1;
        if (rows[i].v != want)
            violation(1, "counter %s: value %lld written where %lld was due", rows[i].name,
                      rows[i].v, want);
    }
    nrows = 0;
    read_tsv(dir, "fence_log.tsv", 6, fence_row);
    qsort(rows, nrows, sizeof *rows, by_name_order);
    for (i = 0; i < nrows; i++) {
        if (i == 0 || strcmp(rows[i - 1].name, rows[i].name) != 0)
            max = rows[i].v;
        if (rows[i].v < max)
            violation(2, "%s: fenced write with token %lld accepted after token %lld",
                      rows[i].name, rows[i].v, max);
        max = rows[i].v > max ? rows[i].v : max;
    }
    nrows = 0;
    read_tsv(dir, "grant_log.tsv", 4, grant_row);
    qsort(rows, nrows, sizeof *rows, by_name_order);
    for (i = 1; i < nrows; i++)
        if (strcmp(rows[i - 1].name, rows[i].name) == 0 && rows[i].v <= rows[i - 1].v)
            violation(3, "%s: token %lld granted after token %lld", rows[i].name, rows[i].v,
                      rows[i - 1].v);
}

/* ---- main ----------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const char *hdir = NULL, *sdir = NULL, *expect = NULL;
    double mn = 0, med = 0, mx = 0;
    long total = 0;
    int i, ok;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--expect-violations") == 0)
            expect = "";
        else if (i + 1 < argc && strcmp(argv[i], "--expect") == 0)
            expect = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--history") == 0)
            hdir = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--server") == 0)
            sdir = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--max-holders") == 0)
            max_holders = atol(argv[++i]);
        else
            hdir = NULL, i = argc;
    }
    if (!hdir || max_holders < 1) {
        fprintf(stderr, "usage: checker --history DIR [--server DIR] [--max-holders N]"
                        " [--expect-violations | --expect A,B,C,D,E]\n");
        return 2;
    }
    read_history(hdir);
    check_history();
    if (sdir)
        check_server(sdir);
    if (ndetect) {
        qsort(detect_ms, ndetect, sizeof *detect_ms, cmp_dbl);
        mn = detect_ms[0], med = detect_ms[ndetect / 2], mx = detect_ms[ndetect - 1];
    }
    for (i = 0; i < KINDS; i++)
        total += violations[i];
    printf(
        "checker: %zu events, %ld acquisitions, %ld faults, %ld session_gone, %zu intervals\n",
        nev, acquisitions, faults, sessions_gone, niv);
    printf("checker: server logs: %s; %ld counter writes, %ld fenced writes (%ld refused),"
           " %ld lease grants\n",
           sdir ? "read" : "not given (B-D not checked)", counter_writes, fenced_writes,
           fenced_refused, grants);
    printf("checker: violations A=%ld B=%ld C=%ld D=%ld E=%ld; overlaps with an indeterminate"
           " acquire (not violations): %ld\n",
           violations[0], violations[1], violations[2], violations[3], violations[4],
           possible_overlaps);
    printf("checker: detection session_gone->noticed: n=%zu min=%.1fms median=%.1fms"
           " max=%.1fms\n",
           ndetect, mn, med, mx);
    printf(
        "{\"events\":%zu,\"acquisitions\":%ld,\"faults\":%ld,\"session_gone\":%ld,"
        "\"A\":%ld,\"B\":%ld,\"C\":%ld,\"D\":%ld,\"E\":%ld,\"possible_A\":%ld,\"detect_n\":%zu,"
        "\"detect_min_ms\":%.1f,\"detect_median_ms\":%.1f,\"detect_max_ms\":%.1f}\n",
        nev, acquisitions, faults, sessions_gone, violations[0], violations[1], violations[2],
        violations[3], violations[4], possible_overlaps, ndetect, mn, med, mx);
    if (!expect)
        return total == 0 ? 0 : 1;
    ok = total > 0;
    for (i = 0; i < KINDS; i++)
        if (strchr(expect, 'A' + i) && violations[i] == 0) {
            printf("checker: expected %c violations, found none\n", 'A' + i);
            ok = 0;
        }
    return ok ? 0 : 1;
}
