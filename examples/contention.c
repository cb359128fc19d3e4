/* SPDX-License-Identifier: MIT */
/*
 * contention: several processes compete for one sqllock lock, and the demo
 * checks that they took turns.
 *
 * The parent forks N workers (-n, default 4). Each opens its own client,
 * waits at a start barrier so that all of them ask at the same moment, then
 * R times (-r, default 3) acquires "demo:nightly-report" with no time limit,
 * works for ~150 ms and releases. Workers print each grant and release, and
 * send the interval they held the lock to the parent, which checks that no
 * two intervals overlap. ci/demo runs it against a throwaway PostgreSQL.
 *
 * Usage: contention [-n WORKERS] [-r ROUNDS] CONNINFO
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqllock.h>

#define LOCK_NAME "demo:nightly-report"
#define WORK_MS 150
#define MAX_WORKERS 64
#define MAX_ROUNDS 1000

/*
 * One turn with the lock, as a worker reports it to the parent. Records are
 * far smaller than PIPE_BUF, so each write() of one arrives whole even with
 * every worker writing into the same pipe.
 */
struct turn {
    int worker;
    int64_t got_us, end_us; /* since the start */
};

struct worker {
    int id;
    long pid;
    int64_t start_us; /* CLOCK_MONOTONIC; the same clock in every process */
    struct turn turn;
};

static int64_t now_us(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail for this clock */
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(long ms)
{
    struct timespec left = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* 1: got len bytes; 0: end of file first; -1: error. */
static int read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return (int)n;
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

/* Formats a line and writes it with one write(), so that lines from
   different processes never interleave. */
__attribute__((format(printf, 2, 3))) static int emit(int fd, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    return write_all(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static int say(const struct worker *w, int64_t at_us, const char *what)
{
    return emit(STDOUT_FILENO, "+%5" PRId64 " ms  worker %d (pid %ld) %s\n", at_us / 1000, w->id,
                w->pid, what);
}

/* The critical section: runs only while the lock is held. */
static int work(void *arg)
{
    struct worker *w = arg;
    w->turn.got_us = now_us() - w->start_us;
    if (say(w, w->turn.got_us, "got the lock") != 0)
        return -1;
    sleep_ms(WORK_MS); /* the simulated work */
    /* Stamped and printed before the release is sent: the next waiter can be
       granted the lock before our release call returns, so this is the last
       instant we can vouch for holding it, and printing it now keeps the
       output in order. */
    w->turn.end_us = now_us() - w->start_us;
    return say(w, w->turn.end_us, "releasing it");
}

/* One acquire, work, release. Odd rounds show sqllock_with(), the others
   the explicit calls; both release the lock whatever work() returns. */
static int take_turn(sqllock_client *c, struct worker *w, int round)
{
    sqllock_acquire_opts opts = SQLLOCK_ACQUIRE_OPTS_INIT;
    opts.wait_ms = SQLLOCK_WAIT_FOREVER;
    sqllock_status st;
    int rc = -1;
    if (round % 2 == 1) {
        st = sqllock_with(&rc, c, LOCK_NAME, &opts, work, w);
    } else {
        sqllock_lock *l;
        st = sqllock_acquire(&l, c, LOCK_NAME, &opts);
        if (st == SQLLOCK_OK) {
            rc = work(w);
            st = sqllock_release(l);
        }
    }
    if (st != SQLLOCK_OK) {
        /* Not only failed acquires: LOST means the lock went away while the
           worker thought it held it, and the turn proves nothing. */
        (void)emit(STDERR_FILENO, "worker %d: %s: %s\n", w->id, sqllock_status_str(st),
                   sqllock_errmsg(c));
        return -1;
    }
    return rc;
}

/* A worker process: connect, meet the others at the barrier, take turns. */
static int run_worker(int id, const char *conninfo, int rounds, int ready_fd, int go_fd,
                      int turns_fd)
{
    struct worker w = {.id = id, .pid = (long)getpid(), .turn = {.worker = id}};
    sqllock_client *c;
    sqllock_status st = sqllock_connect(&c, conninfo);
    if (st != SQLLOCK_OK) {
        (void)emit(STDERR_FILENO, "worker %d: %s\n", id, sqllock_errmsg(c));
        sqllock_client_free(c);
        return 1;
    }
    /* Connected: tell the parent, then wait for its start time. Closing our
       end of the ready pipe lets the parent see the end of file once every
       worker has either reported or died. */
    int ok = write_all(ready_fd, "r", 1) == 0 && close(ready_fd) == 0;
    if (ok && read_full(go_fd, &w.start_us, sizeof(w.start_us)) != 1) {
        (void)emit(STDERR_FILENO, "worker %d: the start was called off\n", id);
        ok = 0;
    }
    for (int r = 0; ok && r < rounds; r++)
        ok = take_turn(c, &w, r) == 0 && write_all(turns_fd, &w.turn, sizeof(w.turn)) == 0;
    sqllock_client_free(c);
    return ok ? 0 : 1;
}

static int by_start(const void *a, const void *b)
{
    const struct turn *x = a, *y = b;
    return (x->got_us > y->got_us) - (x->got_us < y->got_us);
}

/* 0 when the turns, sorted here, are pairwise disjoint; prints the first
   overlap otherwise. */
static int check_turns(struct turn *t, size_t n)
{
    qsort(t, n, sizeof(*t), by_start);
    for (size_t i = 1; i < n; i++) {
        if (t[i].got_us < t[i - 1].end_us) {
            printf("OVERLAP: worker %d held the lock over +%.1f..+%.1f ms, "
                   "but worker %d got it at +%.1f ms\n",
                   t[i - 1].worker, t[i - 1].got_us / 1e3, t[i - 1].end_us / 1e3, t[i].worker,
                   t[i].got_us / 1e3);
            return -1;
        }
    }
    printf("no overlap: at most one worker held the lock at any time\n");
    return 0;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [-n WORKERS (1-%d)] [-r ROUNDS (1-%d)] CONNINFO\n", argv0,
            MAX_WORKERS, MAX_ROUNDS);
    return 2;
}

int main(int argc, char **argv)
{
    int workers = 4, rounds = 3, opt;
    while ((opt = getopt(argc, argv, "n:r:")) != -1) {
        if ((opt == 'n' && parse_int(optarg, 1, MAX_WORKERS, &workers) == 0) ||
            (opt == 'r' && parse_int(optarg, 1, MAX_ROUNDS, &rounds) == 0))
            continue;
        return usage(argv[0]);
    }
    if (optind != argc - 1)
        return usage(argv[0]);
    const char *conninfo = argv[optind];

    printf("sqllock %s: %d workers x %d rounds contend for \"%s\"\n", SQLLOCK_VERSION, workers,
           rounds, LOCK_NAME);
    printf("advisory key %" PRId64 "; in psql the same lock is:\n"
           "  SELECT pg_advisory_lock(hashtextextended('%s', 0));\n\n",
           sqllock_advisory_key(LOCK_NAME), LOCK_NAME);
    /* Flushed before fork, or each child would inherit and repeat it. */
    if (fflush(stdout) != 0)
        return 1;

    size_t expected = (size_t)workers * (size_t)rounds;
    struct turn *turns = calloc(expected, sizeof(*turns));
    pid_t pids[MAX_WORKERS];
    int ready[2], go[2], tp[2], started = 0, failed = 0;
    if (!turns || pipe(ready) != 0 || pipe(go) != 0 || pipe(tp) != 0) {
        perror("contention: setup");
        free(turns);
        return 1;
    }
    for (; started < workers; started++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("contention: fork");
            failed = 1;
            break;
        }
        if (pid == 0) {
            /* Only the parent may hold the write end of go: its closing is
               what calls the start off. */
            int rc = close(ready[0]) == 0 && close(go[1]) == 0 && close(tp[0]) == 0
                         ? run_worker(started + 1, conninfo, rounds, ready[1], go[0], tp[1])
                         : 1;
            _exit(rc); /* _exit: never flush stdio buffers that belong to the parent */
        }
        pids[started] = pid;
    }
    if (close(ready[1]) != 0 || close(tp[1]) != 0)
        failed = 1;

    /* The barrier: once every worker is connected, hand out the start time.
       The read end of go stays open here until then, so writing to it cannot
       raise SIGPIPE. */
    int ready_count = 0;
    char byte;
    while (read_full(ready[0], &byte, 1) == 1)
        ready_count++;
    int64_t start_us = now_us();
    for (int i = 0; !failed && i < workers; i++)
        if (write_all(go[1], &start_us, sizeof(start_us)) != 0)
            failed = 1;
    if (ready_count != workers) {
        fprintf(stderr, "contention: only %d of %d workers connected\n", ready_count, workers);
        failed = 1;
    }
    if (close(go[1]) != 0 || close(go[0]) != 0 || close(ready[0]) != 0)
        failed = 1;

    /* Read until every worker has closed its end, then reap them all. */
    size_t n = 0;
    struct turn t;
    int r;
    while ((r = read_full(tp[0], &t, sizeof(t))) == 1)
        if (n < expected)
            turns[n++] = t;
    if (r != 0 || close(tp[0]) != 0)
        failed = 1;
    for (int i = 0; i < started; i++) {
        int status;
        pid_t w;
        while ((w = waitpid(pids[i], &status, 0)) < 0 && errno == EINTR)
            ;
        if (w < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "contention: worker %d failed\n", i + 1);
            failed = 1;
        }
    }

    if (n > 0) {
        printf("\nsummary: %zu acquisitions (expected %zu) in %" PRId64 " ms\n", n, expected,
               (now_us() - start_us) / 1000);
        if (check_turns(turns, n) != 0)
            failed = 1;
    }
    free(turns);
    if (fflush(stdout) != 0 || n != expected)
        failed = 1;
    if (failed)
        fprintf(stderr, "contention: FAILED\n");
    return failed ? 1 : 0;
}
