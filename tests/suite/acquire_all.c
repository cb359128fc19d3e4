/* SPDX-License-Identifier: MIT */
/*
 * The shared suite's cases of sqllock_acquire_all, on every backend and
 * transport test_locks runs on: all or none, the refusals, one deadline for
 * the set, and crossed orders between processes that never deadlock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "suite.h"


/* acquire_all with the suite's ttl, as acq() gives it to single acquires
   (blocking only: there is no _start variant). */
static sqllock_status acq_all(sqllock_lock **out, sqllock_client *c, const char *const *names,
                              size_t n, int64_t wait_ms)
{
    sqllock_acquire_opts o = wait_opts(wait_ms);
    o.ttl_ms = suite_ttl();
    return sqllock_acquire_all(out, c, names, n, &o);
}

/* The advisory locks the session of appname holds, as pg_locks has them;
   0 where there is no pg_locks to ask (SQL Server, SQLite, leases). */
static long long pg_held_by(adm *admin, const char *appname)
{
    if (adm_is_tds(admin) || LEASE)
        return 0;
    return t_advisory_count(admin->pg, t_pid(admin->pg, appname), "true");
}

/* Names of a case: tag-0 .. tag-(n-1), in buf. */
static void set_names(char (*buf)[64], const char **names, int n, const char *tag)
{
    for (int i = 0; i < n; i++) {
        snprintf(buf[i], sizeof(buf[i]), "%s-%d", tag, i);
        names[i] = buf[i];
    }
}

/* Whether every name is free for a client of its own. */
static int all_free(const char *const *names, int n)
{
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok &= free_for_others(names[i]);
    return ok;
}

static void t_acquire_all_none_held(void)
{
    const char *an = t_tag("a");
    sqllock_client *a = t_client(an), *b = t_client(t_tag("b"));
    adm *admin = adm_open(NULL);
    CHECK(a && b && admin);
    char buf[4][64];
    const char *names[4];
    set_names(buf, names, 4, t_tag("all"));
    sqllock_lock *out[4], *lb;
    CHECK_ST(acq(&lb, b, names[2], NULL), SQLLOCK_OK, b);
    CHECK_ST(acq_all(out, a, names, 4, 0), SQLLOCK_BUSY, a);
    CHECK(!out[0] && !out[1] && !out[2] && !out[3]);
    /* pg-advisory, over libpq and ODBC, tries the set in one statement,
       which cannot say which lock was busy; elsewhere lock by lock. */
    if (!LEASE && strcmp(sqllock_backend_name(a), "pg-advisory") == 0)
        CHECKF(strstr(sqllock_errmsg(a), "none was taken"), "not the one-statement try: %s",
               sqllock_errmsg(a));
    CHECK(pg_held_by(admin, an) == 0);
    CHECK(free_for_others(names[0]) && free_for_others(names[1]) && free_for_others(names[3]));
    CHECK_ST(acq_all(out, a, names, 4, 300), SQLLOCK_TIMEOUT, a);
    CHECK(!out[0] && !out[1] && !out[2] && !out[3]);
    CHECKF(strstr(sqllock_errmsg(a), names[2]), "the message names the busy lock: %s",
           sqllock_errmsg(a));
    CHECK(pg_held_by(admin, an) == 0);
    CHECK(free_for_others(names[0]) && free_for_others(names[1]) && free_for_others(names[3]));
    CHECK_ST(rel(b, lb), SQLLOCK_OK, b);
    CHECK_ST(acq_all(out, a, names, 4, 0), SQLLOCK_OK, a);
    if (!serverless(a) && !adm_is_tds(admin) && !LEASE)
        CHECK(pg_held_by(admin, an) == 4);
    for (int i = 0; i < 4; i++) {
        CHECK(strcmp(sqllock_lock_name(out[i]), names[i]) == 0);
        CHECK_ST(acq(&lb, b, names[i], NULL), SQLLOCK_BUSY, b);
        CHECK_ST(rel(a, out[i]), SQLLOCK_OK, a);
    }
    CHECK(all_free(names, 4));
    adm_close(admin);
    sqllock_client_free(a);
    sqllock_client_free(b);
}

static void t_acquire_all_refused(void)
{
    sqllock_client *a = t_client(t_tag("a"));
    CHECK(a);
    char buf[3][64];
    const char *names[3];
    set_names(buf, names, 3, t_tag("dup"));
    names[2] = names[0];
    sqllock_lock *out[3];
    CHECK_ST(acq_all(out, a, names, 3, 0), SQLLOCK_EINVAL, a);
    CHECK(strstr(sqllock_errmsg(a), "given twice") && !out[0] && !out[1] && !out[2]);
    CHECK_ST(acq_all(out, a, names, 0, 0), SQLLOCK_EINVAL, a);
    names[2] = NULL;
    CHECK_ST(acq_all(out, a, names, 3, 0), SQLLOCK_EINVAL, a);
    CHECK(all_free(names, 2));
    /* One of the set already held by this client: refused as a single
       acquire is, and the rest not taken. */
    sqllock_lock *l;
    names[2] = buf[2];
    CHECK_ST(acq(&l, a, names[1], NULL), SQLLOCK_OK, a);
    CHECK_ST(acq_all(out, a, names, 3, 0), SQLLOCK_ESTATE, a);
    CHECK_ST(rel(a, l), SQLLOCK_OK, a);
    CHECK(all_free(names, 3));
    sqllock_client_free(a);
}

static void t_acquire_all_wait_bounded(void)
{
    sqllock_client *a = t_client(t_tag("a")), *b = t_client(t_tag("b"));
    CHECK(a && b);
    char buf[4][64];
    const char *names[4];
    set_names(buf, names, 4, t_tag("bound"));
    sqllock_lock *out[4], *lb;
    CHECK_ST(acq(&lb, b, names[3], NULL), SQLLOCK_OK, b);
    long long t0 = t_now_ms();
    CHECK_ST(acq_all(out, a, names, 4, 400), SQLLOCK_TIMEOUT, a);
    long long took = t_now_ms() - t0;
    printf("a 400 ms wait for a set of 4, one held elsewhere: TIMEOUT after %lld ms\n", took);
    CHECKF(took >= 390 && took < 3000, "a 400 ms wait took %lld ms", took);
    CHECK_ST(rel(b, lb), SQLLOCK_OK, b);
    CHECK(all_free(names, 4));
    sqllock_client_free(a);
    sqllock_client_free(b);
}

#define CROSS_NAMES 6
#define CROSS_PICK 4

struct cross_run {
    const char *tag;
    int procs, rounds;
};

/* What a process held: name index, from t0 to t1 (CLOCK_MONOTONIC ns). */
struct held_iv {
    long long name, t0, t1;
};

static long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Rounds of acquire_all of 4 of the 6 names, in an order of its own each
   round, reporting every name's held interval through fd. */
static int cross_child(const void *arg, int id, int fd, int start_fd)
{
    const struct cross_run *r = arg;
    char appname[64], buf[CROSS_NAMES][64];
    const char *all[CROSS_NAMES];
    snprintf(appname, sizeof(appname), "cross-%d-%d", (int)getppid(), id);
    set_names(buf, all, CROSS_NAMES, r->tag);
    sqllock_client *c = t_client(appname);
    char b;
    if (!c || read(start_fd, &b, 1) < 0)
        return 2;
    unsigned seed = (unsigned)(id * 7919 + 1);
    for (int round = 0; round < r->rounds; round++) {
        int idx[CROSS_NAMES];
        for (int i = 0; i < CROSS_NAMES; i++)
            idx[i] = i;
        for (int i = CROSS_NAMES - 1; i > 0; i--) { /* Fisher-Yates */
            int j = (int)(rand_r(&seed) % (unsigned)(i + 1)), t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        const char *pick[CROSS_PICK];
        for (int i = 0; i < CROSS_PICK; i++)
            pick[i] = all[idx[i]];
        sqllock_lock *out[CROSS_PICK];
        sqllock_status st = acq_all(out, c, pick, CROSS_PICK, 20000);
        if (st != SQLLOCK_OK) {
            fprintf(stderr, "cross %d round %d: %s: %s\n", id, round, sqllock_status_str(st),
                    sqllock_errmsg(c));
            return 3;
        }
        long long t0 = mono_ns();
        usleep(500); /* widen the window two holders would overlap in */
        long long t1 = mono_ns();
        for (int i = 0; i < CROSS_PICK; i++) {
            struct held_iv iv = {idx[i], t0, t1};
            if (write(fd, &iv, sizeof(iv)) != sizeof(iv))
                return 4;
        }
        for (int i = 0; i < CROSS_PICK; i++)
            if (sqllock_release(out[i]) != SQLLOCK_OK)
                return 5;
    }
    sqllock_client_free(c);
    return 0;
}

static int cmp_held(const void *a, const void *b)
{
    const struct held_iv *x = a, *y = b;
    if (x->name != y->name)
        return x->name < y->name ? -1 : 1;
    return x->t0 < y->t0 ? -1 : x->t0 > y->t0;
}

static void t_acquire_all_crossed(void)
{
    struct cross_run r = {t_tag("cross"), 8, LEASE ? 20 : 50};
    int max = r.procs * r.rounds * CROSS_PICK, got = 0;
    struct held_iv *iv = calloc((size_t)max, sizeof(*iv));
    CHECK(iv);
    long long t0 = t_now_ms();
    int bad_exit = run_children(r.procs, cross_child, &r, iv, sizeof(*iv), max, &got);
    long long took = t_now_ms() - t0;
    qsort(iv, (size_t)got, sizeof(*iv), cmp_held);
    int overlaps = 0;
    for (int i = 1; i < got; i++)
        overlaps += iv[i].name == iv[i - 1].name && iv[i].t0 < iv[i - 1].t1;
    free(iv);
    printf("%d processes x %d rounds of %d of %d names in crossed orders: %d intervals, %d "
           "overlaps, %d failed processes, %lld ms\n",
           r.procs, r.rounds, CROSS_PICK, CROSS_NAMES, got, overlaps, bad_exit, took);
    CHECK(bad_exit == 0);
    CHECK(got == max);
    CHECK(overlaps == 0);
}

const struct tcase suite_acquire_all_cases[SUITE_ACQUIRE_ALL_CASES] = {
    {"acquire_all_none_held", t_acquire_all_none_held,
     "acquire_all with one name held elsewhere (try, then a wait) takes none, as other clients "
     "and pg_locks see; once free it takes all, out[i] being names[i]'s lock"},
    {"acquire_all_refused", t_acquire_all_refused,
     "acquire_all with a name twice, n 0 or a NULL name is EINVAL, one already held is ESTATE; "
     "nothing is taken"},
    {"acquire_all_wait_bounded", t_acquire_all_wait_bounded,
     "a 400 ms wait bounds the whole set: TIMEOUT after about 400 ms, nothing held"},
    {"acquire_all_crossed", t_acquire_all_crossed,
     "8 processes taking 4 of 6 names in random orders never deadlock or time out, and no two "
     "hold a name at once"},
};
