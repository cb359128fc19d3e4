/* SPDX-License-Identifier: MIT */
/*
 * The connector over libpq: opens or attaches the transport (pq_conn.c),
 * refuses a standby, and installs the backends that run over it, pg-advisory
 * for locks without a ttl and leases for locks with one, which register
 * their statements with it; on a lent connection the transport prepares
 * pg-advisory's at once.
 */
#include "pg_sql.h"
#include "pq_int.h"
#include "sqllock/pg.h"

static sqllock_status install(sqllock_client *c, struct pq_state *s, const char *what)
{
    c->conn = s;
    c->conn_ops = &sqllock__pq_conn_ops;
    c->owns_connection = s->owned;
    if (s->standby)
        return sqllock__fail(c, SQLLOCK_ESTATE, "%s: " PG_STANDBY_REFUSED, what);
    sqllock__pg_advisory_install(c, s);
    sqllock_status st = sqllock__lease_pq_install(c, s);
    if (st != SQLLOCK_OK || s->owned || s->pooled)
        return st; /* ours: statements are prepared as they are first sent */
    return sqllock__pq_prepare_all(c, s);
}

sqllock_status sqllock__pg_open(sqllock_client *c, const char *conninfo)
{
    struct pq_state *s;
    sqllock_status st = sqllock__pq_open(c, conninfo, &s);
    if (st == SQLLOCK_OK && (st = install(c, s, "connect")) != SQLLOCK_OK)
        sqllock__client_disconnect(c);
    return st;
}

/* The non-blocking connect: the transport's steps, then the same install. */
static sqllock_status open_step(sqllock_client *c, struct sqllock_op *op)
{
    struct pq_opening *o = op->space;
    sqllock_status st = sqllock__pq_open_step(c, o, &op->wait);
    if (st != SQLLOCK_OK)
        return st;
    if ((st = install(c, o->s, "connect")) != SQLLOCK_OK)
        sqllock__client_disconnect(c);
    return st;
}

sqllock_status sqllock__pg_open_start(sqllock_client *c, const char *conninfo)
{
    sqllock_status st = sqllock__op_begin(c, &c->op, open_step, sizeof(struct pq_opening),
                                          SQLLOCK_OP_CONNECT, NULL, 0);
    if (st != SQLLOCK_OK)
        return st;
    if ((st = sqllock__pq_open_start(c, conninfo, c->op.space)) != SQLLOCK_OK) {
        sqllock__op_end(&c->op);
        return st;
    }
    return sqllock__op_launch(c);
}

sqllock_status sqllock_attach_pg(sqllock_client **out, PGconn *conn)
{
    if (!out)
        return SQLLOCK_EINVAL;
    sqllock_client *c = *out = sqllock__client_new();
    if (!c)
        return SQLLOCK_ENOMEM;
    struct pq_state *s;
    sqllock_status st = sqllock__pq_attach(c, conn, &s);
    if (st != SQLLOCK_OK)
        return st;
    st = install(c, s, "attach");
    if (st == SQLLOCK_OK)
        st = sqllock__pg_snapshot_held(c, s);
    if (st != SQLLOCK_OK) {
        sqllock__held_free(&c->held);
        sqllock__client_disconnect(c);
        return st;
    }
    return sqllock__done(c, SQLLOCK_OK);
}
