/* SPDX-License-Identifier: MIT */
/*
 * sqllock_acquire_all: several locks, all or none, in one global order (by
 * key, then by name bytes), so that callers asking for overlapping sets in
 * any order cannot deadlock each other. Built on lock.c's two halves of an
 * acquire, so that every name is checked, routed and recorded exactly as a
 * single acquire does it. A try goes to the backend's try_all when it has
 * one (one round trip); otherwise, and for every wait, the locks are taken
 * one by one in key order under one deadline, and those taken are let go
 * again when one fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqllock_int.h"

/* A lock of the set, with where its handle goes in out. */
struct item {
    sqllock_lock *l;
    size_t at;
};

/* Key order: the key as the signed int8 the server sees, then the name. */
static int cmp_lock(const void *pa, const void *pb)
{
    const sqllock_lock *a = ((const struct item *)pa)->l, *b = ((const struct item *)pb)->l;
    int64_t ka = (int64_t)a->ident, kb = (int64_t)b->ident;
    if (ka != kb)
        return ka < kb ? -1 : 1;
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int d = memcmp(a->name, b->name, n);
    if (d)
        return d;
    return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

/* After sorting, neighbours with one key are one lock: refused. */
static sqllock_status refuse_same(sqllock_client *c, const struct item *it, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        const sqllock_lock *a = it[i - 1].l, *b = it[i].l;
        if (a->ident != b->ident)
            continue;
        if (a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0)
            return sqllock__fail(c, SQLLOCK_EINVAL,
                                 "acquire_all: the name \"%s\" is given twice", a->name);
        return sqllock__fail(c, SQLLOCK_EINVAL,
                             "acquire_all: \"%s\" and \"%s\" are the same lock (key %lld on "
                             "%s): give one of them",
                             a->name, b->name, (long long)(int64_t)a->ident, a->be->name);
    }
    return SQLLOCK_OK;
}

/* What lock i of the set may still wait, under the call's one deadline. */
static int64_t wait_left(int64_t wait_ms, long long deadline)
{
    if (wait_ms == 0 || wait_ms == SQLLOCK_WAIT_FOREVER)
        return wait_ms;
    long long left = deadline - sqllock__now_ms();
    return left > 0 ? left : 0;
}

/* Gives back the k locks this call took (in out), newest first. */
static void let_go(sqllock_lock **out, const struct item *it, size_t k)
{
    while (k > 0) {
        k--;
        (void)sqllock_release(out[it[k].at]);
        out[it[k].at] = NULL;
    }
}

/*
 * Takes it[0..n) (key order) one by one into out. On a failure at lock k,
 * those before it are released and the failure is reported with its name.
 */
static sqllock_status take_each(sqllock_client *c, sqllock_lock **out, struct item *it, size_t n,
                                const sqllock_acquire_opts *opts)
{
    long long deadline = sqllock__now_ms() + (opts->wait_ms > 0 ? opts->wait_ms : 0);
    for (size_t k = 0; k < n; k++) {
        int64_t w = wait_left(opts->wait_ms, deadline);
        sqllock_lock *l = it[k].l, *got = NULL;
        sqllock_status st = sqllock__held_reserve(&c->held) == SQLLOCK_OK
                                ? sqllock__op_run(c, SQLLOCK_OP_ACQUIRE, l, w)
                                : sqllock__fail(c, SQLLOCK_ENOMEM, "out of memory");
        /* Past the deadline the lock was tried, not waited for: busy is
           then the whole call's timeout. */
        if (st == SQLLOCK_BUSY && opts->wait_ms != 0)
            st = sqllock__fail(c, SQLLOCK_TIMEOUT, "the wait for the whole set timed out");
        struct sqllock_err e;
        sqllock__err_save(c, &e);
        char name[SQLLOCK_NAME_MAX + 1];
        memcpy(name, l->name, l->name_len + 1);
        if (sqllock__acquire_end(c, l, st, &got) == SQLLOCK_OK) {
            out[it[k].at] = got;
            continue;
        }
        for (size_t j = k + 1; j < n; j++)
            free(it[j].l);
        let_go(out, it, k);
        sqllock__fail(c, st, "acquire_all: \"%s\" (%zu of %zu in key order): %s", name, k + 1, n,
                      e.msg[0] ? e.msg : sqllock_status_str(st));
        sqllock__set_errcode(c, e.code[0] ? e.code : NULL);
        return st;
    }
    return SQLLOCK_OK;
}

char *sqllock__keys_array(sqllock_lock *const *ls, size_t n)
{
    char *keys = malloc(n * 21 + 3), *at = keys;
    if (!keys)
        return NULL;
    *at++ = '{';
    for (size_t i = 0; i < n; i++)
        at += sprintf(at, "%s%lld", i ? "," : "", (long long)(int64_t)ls[i]->ident);
    strcpy(at, "}");
    return keys;
}

/* The one-round-trip try of the backend: every lock into out, or none. */
static sqllock_status try_all(sqllock_client *c, sqllock_lock **out, struct item *it, size_t n)
{
    sqllock_lock **ls = malloc(n * sizeof(*ls));
    /* One reserve for n adds: the set chains, so a table fuller than
       reserved costs a longer chain until its next growth, not a failure. */
    if (!ls || sqllock__held_reserve(&c->held) != SQLLOCK_OK) {
        free(ls);
        for (size_t i = 0; i < n; i++)
            free(it[i].l);
        return sqllock__fail(c, SQLLOCK_ENOMEM, "acquire_all: out of memory");
    }
    for (size_t i = 0; i < n; i++)
        ls[i] = it[i].l;
    sqllock_status st = it[0].l->be->try_all(c, ls, n);
    free(ls);
    for (size_t i = 0; i < n; i++)
        (void)sqllock__acquire_end(c, it[i].l, st, &out[it[i].at]);
    return st;
}

sqllock_status sqllock_acquire_all(sqllock_lock **out, sqllock_client *c,
                                   const char *const *names, size_t n,
                                   const sqllock_acquire_opts *opts)
{
    static const sqllock_acquire_opts defaults = SQLLOCK_ACQUIRE_OPTS_INIT;
    if (!c)
        return SQLLOCK_EINVAL;
    if (!out)
        return sqllock__fail(c, SQLLOCK_EINVAL, "acquire_all: out is NULL");
    if (n == 0 || n > SQLLOCK_ACQUIRE_ALL_MAX)
        return sqllock__fail(
            c, SQLLOCK_EINVAL,
            "acquire_all: n is %zu; it must be 1 to %d (SQLLOCK_ACQUIRE_ALL_MAX)", n,
            SQLLOCK_ACQUIRE_ALL_MAX);
    memset(out, 0, n * sizeof(*out));
    if (!names)
        return sqllock__fail(c, SQLLOCK_EINVAL, "acquire_all: names is NULL");
    if (!opts)
        opts = &defaults;
    struct item *it = calloc(n, sizeof(*it));
    if (!it)
        return sqllock__fail(c, SQLLOCK_ENOMEM, "acquire_all: out of memory");
    sqllock_status st = SQLLOCK_OK;
    size_t ready = 0;
    for (; ready < n; ready++) {
        it[ready].at = ready;
        st = names[ready]
                 ? sqllock__acquire_prepare(&it[ready].l, c, names[ready], 0, 0,
                                            SQLLOCK_SPACE_INT8, opts, 0)
                 : sqllock__fail(c, SQLLOCK_EINVAL, "acquire_all: names[%zu] is NULL", ready);
        if (st != SQLLOCK_OK)
            break;
    }
    if (st == SQLLOCK_OK) {
        qsort(it, n, sizeof(*it), cmp_lock);
        st = refuse_same(c, it, n);
    }
    if (st != SQLLOCK_OK) {
        for (size_t i = 0; i < ready; i++)
            free(it[i].l);
    } else if (n > 1 && opts->wait_ms == 0 && opts->scope == SQLLOCK_SESSION &&
               it[0].l->be->try_all) {
        /* Not for one name: the set's statement made a set of one 4-10%
           slower than the plain try (bench --only acquire_all, names=1). */
        st = try_all(c, out, it, n);
    } else {
        st = take_each(c, out, it, n, opts);
    }
    free(it);
    return sqllock__done(c, st);
}
