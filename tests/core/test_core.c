/* SPDX-License-Identifier: MIT */
/*
 * The core (lock.c, held.c, client.c) over small fake backends, with no
 * server: what the core decides by itself, whatever a backend does. Each
 * fake records which of its members the core called, so a case can tell
 * which backend the core asked. The core's sources are compiled into this
 * binary (the library hides its internals). No connector is compiled in
 * and none is stubbed: the core links without one (connect.c alone calls
 * connectors).
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sqllock_int.h"

struct calls {
    int acquire, release, still_held;
    int still_held_answer; /* what still_held says: 1 held, 0 not */
};
static struct calls primary_calls, lease_calls;

static uint64_t fake_ident(const char *name, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: any stable hash serves */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
    return h;
}

static struct calls *calls_of(sqllock_client *c, const sqllock_lock *l)
{
    return l->be == c->lease_be ? &lease_calls : &primary_calls;
}

static sqllock_status fake_acquire(sqllock_client *c, sqllock_lock *l, int64_t wait_ms)
{
    (void)wait_ms;
    calls_of(c, l)->acquire++;
    return SQLLOCK_OK;
}

static sqllock_status fake_release(sqllock_client *c, sqllock_lock *l)
{
    calls_of(c, l)->release++;
    return SQLLOCK_OK;
}

static sqllock_status fake_check(sqllock_client *c, sqllock_lock *l)
{
    (void)c;
    (void)l;
    return SQLLOCK_OK;
}

static int primary_still_held(sqllock_client *c, const sqllock_lock *e)
{
    (void)c;
    (void)e;
    primary_calls.still_held++;
    return primary_calls.still_held_answer;
}

static int lease_still_held(sqllock_client *c, const sqllock_lock *e)
{
    (void)c;
    (void)e;
    lease_calls.still_held++;
    return lease_calls.still_held_answer;
}

static int fake_in_transaction(sqllock_client *c)
{
    (void)c;
    return 1;
}

static void fake_close(sqllock_client *c)
{
    (void)c;
}

static struct sqllock_backend primary = {
    .name = "fake-primary",
    .caps = SQLLOCK_CAP_SESSION | SQLLOCK_CAP_NUMERIC_KEYS | SQLLOCK_CAP_SHARED |
            SQLLOCK_CAP_TRANSACTION,
    .ident = fake_ident,
    .acquire = fake_acquire,
    .release = fake_release,
    .check = fake_check,
    .still_held = primary_still_held,
    .in_transaction = fake_in_transaction,
    .close = fake_close,
    .abandon = fake_close,
};

static struct sqllock_backend lease = {
    .name = "fake-lease",
    .caps = SQLLOCK_CAP_EXPIRY,
    .ident = fake_ident,
    .acquire = fake_acquire,
    .release = fake_release,
    .check = fake_check,
    .still_held = lease_still_held,
    .in_transaction = fake_in_transaction,
    .close = fake_close,
    .abandon = fake_close,
};

/* A client over both fakes, with fresh call counts and vtables. */
static sqllock_client *fake_client(void)
{
    memset(&primary_calls, 0, sizeof(primary_calls));
    memset(&lease_calls, 0, sizeof(lease_calls));
    primary.still_held = primary_still_held;
    lease.still_held = lease_still_held;
    sqllock_client *c = sqllock__client_new();
    if (c) {
        c->be = &primary;
        c->lease_be = &lease;
        c->owns_connection = 1;
    }
    return c;
}

/* An entry the core must ask about before a colliding acquire: one the
   session held before it was attached (a foreign entry) of backend be. */
static int add_foreign_of(sqllock_client *c, const struct sqllock_backend *be, const char *name)
{
    const struct sqllock_backend *saved = c->be;
    c->be = be;
    sqllock_status st =
        sqllock__add_foreign(c, be->ident(name, strlen(name)), SQLLOCK_SPACE_INT8);
    c->be = saved;
    return st == SQLLOCK_OK;
}

static sqllock_acquire_opts lease_opts(void)
{
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    o.ttl_ms = 1000;
    return o;
}

/* The int8 key and the int4 pair with the same 64 bits are two entries of
   the held-set: each is taken once, each refuses re-entry on its own, and
   releasing one leaves the other held. */
static void t_key_spaces(void)
{
    sqllock_client *c = fake_client();
    CHECK(c);
    sqllock_lock *pair, *key, *again;
    int64_t bits = (int64_t)((uint64_t)7 << 32 | 9);
    CHECK_ST(sqllock_acquire_key_pair(&pair, c, 7, 9, NULL), SQLLOCK_OK, c);
    CHECK_ST(sqllock_acquire_key(&key, c, bits, NULL), SQLLOCK_OK, c);
    CHECK_ST(sqllock_acquire_key_pair(&again, c, 7, 9, NULL), SQLLOCK_ESTATE, c);
    CHECK_ST(sqllock_acquire_key(&again, c, bits, NULL), SQLLOCK_ESTATE, c);
    CHECK(primary_calls.acquire == 2);
    CHECK_ST(sqllock_release(pair), SQLLOCK_OK, c);
    CHECK_ST(sqllock_acquire_key(&again, c, bits, NULL), SQLLOCK_ESTATE, c);
    CHECK_ST(sqllock_acquire_key_pair(&pair, c, 7, 9, NULL), SQLLOCK_OK, c);
    /* Negative halves: the pair's bits are the two int4 as unsigned. */
    CHECK_ST(sqllock_acquire_key_pair(&again, c, -1, -2, NULL), SQLLOCK_OK, c);
    CHECK(again->ident == ((uint64_t)0xffffffffu << 32 | 0xfffffffeu));
    CHECK(again->space == SQLLOCK_SPACE_PAIR && key->space == SQLLOCK_SPACE_INT8);
    CHECK_ST(sqllock_release(again), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(pair), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(key), SQLLOCK_OK, c);
    /* A backend without numeric keys says so for both spaces. */
    primary.caps &= ~(unsigned)SQLLOCK_CAP_NUMERIC_KEYS;
    CHECK_ST(sqllock_acquire_key_pair(&again, c, 7, 9, NULL), SQLLOCK_ENOTSUP, c);
    CHECK(again == NULL && strstr(sqllock_errmsg(c), "numeric keys"));
    primary.caps |= SQLLOCK_CAP_NUMERIC_KEYS;
    sqllock_client_free(c);
}

/* A lease colliding with a lease entry the core must ask about is asked of
   the entry's backend (the lease's), never the client's primary. */
static void t_collision_asks_entry_backend(void)
{
    sqllock_client *c = fake_client();
    CHECK(c);
    CHECK(add_foreign_of(c, &lease, "job"));
    lease_calls.still_held_answer = 0; /* gone: the acquire may go on */
    sqllock_acquire_opts o = lease_opts();
    sqllock_lock *l;
    CHECK_ST(sqllock_acquire(&l, c, "job", &o), SQLLOCK_OK, c);
    CHECKF(lease_calls.still_held == 1 && primary_calls.still_held == 0,
           "still_held asked of the lease %d times, of the primary %d times",
           lease_calls.still_held, primary_calls.still_held);
    CHECK(l->be == &lease && lease_calls.acquire == 1);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c);
    sqllock_client_free(c);
}

/* A backend whose still_held is NULL cannot say whether an entry ended: a
   colliding acquire is refused (ESTATE, never a second hold), not a crash,
   and nothing is asked of any other backend. */
static void t_null_still_held_refuses(void)
{
    sqllock_client *c = fake_client();
    CHECK(c);
    primary.still_held = NULL;
    lease.still_held = NULL;
    CHECK(add_foreign_of(c, &primary, "job"));
    CHECK(add_foreign_of(c, &lease, "job"));
    sqllock_lock *l = NULL;
    CHECK_ST(sqllock_acquire(&l, c, "job", NULL), SQLLOCK_ESTATE, c);
    CHECK(l == NULL && *sqllock_errmsg(c));
    sqllock_acquire_opts o = lease_opts();
    CHECK_ST(sqllock_acquire(&l, c, "job", &o), SQLLOCK_ESTATE, c);
    CHECK(l == NULL && primary_calls.acquire == 0 && lease_calls.acquire == 0);
    sqllock_client_free(c);
}

static const struct tcase cases[] = {
    {"key_spaces", t_key_spaces,
     "an int8 key and the int4 pair of the same bits are two held-set entries, each "
     "refusing re-entry alone; without numeric keys both are ENOTSUP"},
    {"collision_asks_entry_backend", t_collision_asks_entry_backend,
     "whether a colliding entry still holds is asked of the entry's backend, not the "
     "client's primary"},
    {"null_still_held_refuses", t_null_still_held_refuses,
     "a backend without still_held gets a colliding acquire refused (ESTATE), not a crash"},
};

T_MAIN(cases)
