/* SPDX-License-Identifier: MIT */
/*
 * keepalive: a blocking job that runs longer than any ttl one would dare
 * to set. It takes the lease "nightly" (ttl -t, 30 s by default), has the
 * library keep it alive from a thread of its own (sqllock_keep_alive_run),
 * and works in slices of 50 ms for -w ms (by default 3 ttls). Before each
 * slice it asks sqllock_lease_deadline whether the lease is certainly
 * still held when the slice ends; when it is not (the renewals failed),
 * it stops rather than work unprotected. Exit 0 when the work was done
 * under the lease and the lease was released, 1 otherwise.
 *
 * Usage: keepalive [-t TTL_MS] [-w WORK_MS] CONNINFO
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <sqllock.h>

#define SLICE_MS 50

struct keeper {
    sqllock_client *c;
    int stop[2];
    sqllock_status st;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The renewals: this thread is the client's only user until stop[1] is
   written (the main thread only reads the deadline meanwhile). */
static void *keep(void *arg)
{
    struct keeper *k = arg;
    k->st = sqllock_keep_alive_run(NULL, k->c, k->stop[0]);
    return NULL;
}

/* Works for work_ms unless the lease could end first: the ms worked. */
static long long work(const sqllock_lock *l, long long work_ms)
{
    long long start = now_ms(), done = 0;
    while (done < work_ms) {
        if (now_ms() + SLICE_MS >= sqllock_lease_deadline(l)) {
            fprintf(stderr, "keepalive: the lease was not renewed in time; stopping\n");
            break;
        }
        usleep(SLICE_MS * 1000); /* one slice of the job */
        done = now_ms() - start;
    }
    return done;
}

int main(int argc, char **argv)
{
    long long ttl_ms = 30000, work_ms = -1;
    int opt;
    while ((opt = getopt(argc, argv, "t:w:")) != -1) {
        if (opt == 't')
            ttl_ms = atoll(optarg);
        else if (opt == 'w')
            work_ms = atoll(optarg);
        else
            break;
    }
    if (optind != argc - 1 || ttl_ms <= 0) {
        fprintf(stderr, "usage: %s [-t TTL_MS] [-w WORK_MS] CONNINFO\n", argv[0]);
        return 2;
    }
    if (work_ms < 0)
        work_ms = 3 * ttl_ms;

    sqllock_client *c;
    sqllock_lock *l = NULL;
    sqllock_status st = sqllock_connect(&c, argv[optind]);
    sqllock_acquire_opts opts = SQLLOCK_ACQUIRE_OPTS_INIT;
    opts.ttl_ms = ttl_ms;
    opts.wait_ms = 10000;
    if (st == SQLLOCK_OK)
        st = sqllock_acquire(&l, c, "nightly", &opts);
    if (st == SQLLOCK_OK)
        st = sqllock_keep_alive(l, 1);
    struct keeper k = {.c = c, .stop = {-1, -1}, .st = SQLLOCK_OK};
    pthread_t thread;
    if (st == SQLLOCK_OK &&
        (pipe(k.stop) != 0 || pthread_create(&thread, NULL, keep, &k) != 0)) {
        fprintf(stderr, "keepalive: cannot start the renewing thread\n");
        sqllock_release(l);
        sqllock_client_free(c);
        return 1;
    }
    long long worked = 0, first = l ? sqllock_lease_deadline(l) : 0, last = first;
    if (st == SQLLOCK_OK) {
        worked = work(l, work_ms);
        last = sqllock_lease_deadline(l);
        (void)!write(k.stop[1], "x", 1);
        pthread_join(thread, NULL);
        close(k.stop[0]);
        close(k.stop[1]);
        st = k.st != SQLLOCK_OK ? k.st : sqllock_release(l);
    }
    if (st == SQLLOCK_OK)
        printf("worked %lld ms under a %lld ms lease; its deadline moved %lld ms\n", worked,
               ttl_ms, last - first);
    else
        fprintf(stderr, "keepalive: %s: %s\n", sqllock_status_str(st), sqllock_errmsg(c));
    sqllock_client_free(c);
    return st == SQLLOCK_OK && worked >= work_ms ? 0 : 1;
}
