/* SPDX-License-Identifier: MIT */
/*
 * The set of locks a client holds, keyed by server-side identity, so that
 * acquiring a lock the client already holds is refused in O(1) whatever the
 * number held. Chained hash table that doubles when it fills; the entries
 * are the lock objects themselves, so holding a lock costs no extra
 * allocation.
 */
#include <stdlib.h>

#include "sqllock_int.h"

static size_t bucket_of(const struct sqllock_held *h, uint64_t ident)
{
    /* Fibonacci hashing: advisory keys are already hashes, raw numeric keys
       are often small consecutive integers; the multiply spreads both. */
    return (size_t)((ident * 0x9E3779B97F4A7C15ull) >> 32) & (h->nbuckets - 1);
}

sqllock_lock *sqllock__held_find(const struct sqllock_held *h, const struct sqllock_backend *be,
                                 uint64_t ident, int space)
{
    if (!h->nbuckets)
        return NULL;
    for (sqllock_lock *l = h->buckets[bucket_of(h, ident)]; l; l = l->bucket_next)
        if (l->ident == ident && l->be == be && l->space == space)
            return l;
    return NULL;
}

static int grow(struct sqllock_held *h)
{
    size_t old_n = h->nbuckets, new_n = old_n ? old_n * 2 : 16;
    sqllock_lock **nb = calloc(new_n, sizeof(*nb));
    if (!nb)
        return -1;
    sqllock_lock **old = h->buckets;
    h->buckets = nb;
    h->nbuckets = new_n;
    for (size_t i = 0; i < old_n; i++) {
        for (sqllock_lock *l = old[i], *next; l; l = next) {
            next = l->bucket_next;
            size_t b = bucket_of(h, l->ident);
            l->bucket_next = nb[b];
            nb[b] = l;
        }
    }
    free(old);
    return 0;
}

sqllock_status sqllock__held_reserve(struct sqllock_held *h)
{
    if (h->count >= h->nbuckets && grow(h) != 0)
        return SQLLOCK_ENOMEM;
    return SQLLOCK_OK;
}

void sqllock__held_add(struct sqllock_held *h, sqllock_lock *l)
{
    size_t b = bucket_of(h, l->ident);
    l->bucket_next = h->buckets[b];
    h->buckets[b] = l;
    l->prev = NULL;
    l->next = h->all;
    if (h->all)
        h->all->prev = l;
    h->all = l;
    h->count++;
    if (l->kind == SQLLOCK_ENTRY_RETIRED)
        h->retired++;
}

static void unhash(struct sqllock_held *h, sqllock_lock *l)
{
    sqllock_lock **p = &h->buckets[bucket_of(h, l->ident)];
    while (*p != l)
        p = &(*p)->bucket_next;
    *p = l->bucket_next;
    if (l->kind == SQLLOCK_ENTRY_RETIRED)
        h->retired--;
}

void sqllock__held_end(struct sqllock_held *h, sqllock_lock *l)
{
    unhash(h, l);
    l->kind = SQLLOCK_ENTRY_ENDED;
}

void sqllock__held_lose_session(struct sqllock_held *h)
{
    for (sqllock_lock *l = h->all, *next; l; l = next) {
        next = l->next;
        if ((l->be->caps & SQLLOCK_CAP_EXPIRY) || l->kind == SQLLOCK_ENTRY_ENDED)
            continue;
        if (l->kind == SQLLOCK_ENTRY_LIVE) {
            sqllock__held_end(h, l);
            l->lost = 1;
        } else {
            sqllock__held_remove(h, l);
            free(l);
        }
    }
}

void sqllock__held_remove(struct sqllock_held *h, sqllock_lock *l)
{
    if (l->kind != SQLLOCK_ENTRY_ENDED)
        unhash(h, l);
    if (l->prev)
        l->prev->next = l->next;
    else
        h->all = l->next;
    if (l->next)
        l->next->prev = l->prev;
    h->count--;
}

void sqllock__held_drop_retired(struct sqllock_held *h)
{
    for (sqllock_lock *l = h->all, *next; l && h->retired; l = next) {
        next = l->next;
        if (l->kind == SQLLOCK_ENTRY_RETIRED) {
            sqllock__held_remove(h, l);
            free(l);
        }
    }
}

void sqllock__held_free(struct sqllock_held *h)
{
    for (sqllock_lock *l = h->all, *next; l; l = next) {
        next = l->next;
        free(l);
    }
    free(h->buckets);
    h->buckets = NULL;
    h->all = NULL;
    h->nbuckets = h->count = h->retired = 0;
}

void sqllock__held_retire(struct sqllock_held *h, sqllock_lock *l)
{
    if (l->kind != SQLLOCK_ENTRY_RETIRED) {
        l->kind = SQLLOCK_ENTRY_RETIRED;
        h->retired++;
    }
}

sqllock_status sqllock__add_foreign(sqllock_client *c, uint64_t ident, int space)
{
    if (sqllock__held_find(&c->held, c->be, ident, space))
        return SQLLOCK_OK;
    sqllock_lock *l = calloc(1, sizeof(*l) + 1);
    if (!l || sqllock__held_reserve(&c->held) != SQLLOCK_OK) {
        free(l);
        return SQLLOCK_ENOMEM;
    }
    l->client = c;
    l->be = c->be;
    l->ident = ident;
    l->kind = SQLLOCK_ENTRY_FOREIGN;
    l->space = (unsigned char)space;
    sqllock__held_add(&c->held, l);
    return SQLLOCK_OK;
}
