/* SPDX-License-Identifier: MIT */
/*
 * The C-API side of pgbouncer.sh and standby.sh: each mode drives the
 * library against a server that must not be trusted with session locks and
 * checks what the library answered. Exit 0 when every answer was the one
 * the contract gives, 1 (with the reason on stderr) otherwise.
 *
 *   pool_client pooled-session POOLER_URL NAME
 *   pool_client pooled-xact POOLER_URL DIRECT_URL NAME
 *   pool_client standby STANDBY_URL
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pool_check.h"
#include "sqllock.h"
#include "sqllock/pg.h"


/* A refusal must say why in words a person can act on. */
static void expect_refusal(const char *what, sqllock_status st, const sqllock_client *c,
                           const char *word1, const char *word2)
{
    if (!expect(what, st, SQLLOCK_ESTATE, c))
        return;
    const char *msg = sqllock_errmsg(c);
    if (!strstr(msg, word1) && !(word2 && strstr(msg, word2)))
        fail("%s: the message does not mention \"%s\": %s", what, word1, msg);
    else
        printf("%s: ESTATE: %s\n", what, msg);
}

static PGconn *pq_open(const char *url)
{
    PGconn *pc = PQconnectdb(url);
    if (PQstatus(pc) != CONNECTION_OK) {
        fail("libpq connect: %s", PQerrorMessage(pc));
        PQfinish(pc);
        return NULL;
    }
    return pc;
}

static int pq_cmd(PGconn *pc, const char *sql)
{
    PGresult *r = PQexec(pc, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fail("%s: %s", sql, PQerrorMessage(pc));
    PQclear(r);
    return ok;
}

/* A session lock taken through a transaction-mode pooler would stay on a
   server connection that the next client of the pool gets: refused. */
static void pooled_session(const char *pooler_url, const char *name)
{
    sqllock_client *c;
    sqllock_status st = sqllock_connect(&c, pooler_url);
    if (!expect("connect through the pooler", st, SQLLOCK_OK, c)) {
        sqllock_client_free(c);
        return;
    }
    sqllock_lock *l = NULL;
    expect_refusal("session acquire by name", sqllock_acquire(&l, c, name, NULL), c, "pooler",
                   NULL);
    sqllock_acquire_opts waiting = SQLLOCK_ACQUIRE_OPTS_INIT;
    waiting.wait_ms = 1000;
    expect_refusal("session acquire with a wait", sqllock_acquire(&l, c, name, &waiting), c,
                   "pooler", NULL);
    expect_refusal("session acquire by key",
                   sqllock_acquire_key(&l, c, sqllock_advisory_key(name), NULL), c, "pooler",
                   NULL);
    if (l)
        fail("a refused acquire returned a lock");
    sqllock_client_free(c);
}

/* Transaction-scoped locks end with the transaction, which a transaction-
   mode pooler keeps on one server connection: allowed, and they exclude
   clients that do not go through the pooler. */
static void pooled_xact(const char *pooler_url, const char *direct_url, const char *name)
{
    PGconn *app = pq_open(pooler_url);
    sqllock_client *pooled = NULL, *direct = NULL;
    sqllock_lock *held = NULL, *l = NULL, *waited = NULL;
    char other[SQLLOCK_NAME_MAX + 8];
    snprintf(other, sizeof(other), "%s-other", name);
    if (!app || !pq_cmd(app, "BEGIN"))
        goto out;
    sqllock_status st = sqllock_attach_pg(&pooled, app);
    if (!expect("attach to a pooled connection", st, SQLLOCK_OK, pooled))
        goto out;
    st = sqllock_connect(&direct, direct_url);
    if (!expect("direct connect", st, SQLLOCK_OK, direct))
        goto out;

    sqllock_acquire_opts xact = SQLLOCK_ACQUIRE_OPTS_INIT;
    xact.scope = SQLLOCK_TRANSACTION;
    if (!expect("transaction acquire through the pooler",
                sqllock_acquire(&held, pooled, name, &xact), SQLLOCK_OK, pooled))
        goto out;
    expect("direct try while the pooled transaction holds it",
           sqllock_acquire(&l, direct, name, NULL), SQLLOCK_BUSY, direct);

    /* A wait through the pooler that runs out leaves the transaction usable
       and the lock it already had still held. */
    if (expect("direct acquire of a second name", sqllock_acquire(&l, direct, other, NULL),
               SQLLOCK_OK, direct)) {
        xact.wait_ms = 300;
        expect("transaction wait through the pooler on a held name",
               sqllock_acquire(&waited, pooled, other, &xact), SQLLOCK_TIMEOUT, pooled);
        expect("direct release of the second name", sqllock_release(l), SQLLOCK_OK, direct);
        l = NULL;
        xact.wait_ms = 0;
    }
    expect("check of the pooled lock inside its transaction", sqllock_check(held), SQLLOCK_OK,
           pooled);
    expect("direct try after the timed-out wait", sqllock_acquire(&l, direct, name, NULL),
           SQLLOCK_BUSY, direct);

    if (!pq_cmd(app, "COMMIT"))
        goto out;
    if (expect("direct try after COMMIT", sqllock_acquire(&l, direct, name, NULL), SQLLOCK_OK,
               direct))
        expect("direct release", sqllock_release(l), SQLLOCK_OK, direct);
    expect("release of the pooled handle after COMMIT", sqllock_release(held), SQLLOCK_LOST,
           pooled);
    held = NULL;
out:
    sqllock_client_free(direct);
    sqllock_client_free(pooled);
    PQfinish(app);
}

/* Advisory locks taken on a standby are invisible to the primary, where
   everyone else locks: the library must refuse the standby outright. */
static void standby(const char *url)
{
    sqllock_client *c;
    sqllock_status st = sqllock_connect(&c, url);
    expect_refusal("connect to the standby", st, c, "recovery", "standby");
    sqllock_client_free(c);

    PGconn *pc = pq_open(url);
    if (!pc)
        return;
    sqllock_client *a;
    st = sqllock_attach_pg(&a, pc);
    expect_refusal("attach to a standby connection", st, a, "recovery", "standby");
    sqllock_client_free(a);
    if (PQstatus(pc) != CONNECTION_OK || PQtransactionStatus(pc) != PQTRANS_IDLE)
        fail("the refused attach left the caller's connection unusable");
    PQfinish(pc);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "pooled-session") == 0)
        pooled_session(argv[2], argv[3]);
    else if (argc == 5 && strcmp(argv[1], "pooled-xact") == 0)
        pooled_xact(argv[2], argv[3], argv[4]);
    else if (argc == 3 && strcmp(argv[1], "standby") == 0)
        standby(argv[2]);
    else {
        fprintf(stderr, "usage: pool_client pooled-session POOLER_URL NAME\n"
                        "       pool_client pooled-xact POOLER_URL DIRECT_URL NAME\n"
                        "       pool_client standby STANDBY_URL\n");
        return 2;
    }
    return failed;
}
