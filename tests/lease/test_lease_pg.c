/* SPDX-License-Identifier: MIT */
/*
 * Leases on a connection the application lends to sqllock (libpq): no lease
 * statement inside the caller's transaction (ESTATE, the handle stays
 * valid), a missing table is ESTATE naming `sqllock init` until
 * sqllock_install_schema(), a wait leaves the session as found (not
 * listening), and sqllock_client_free releases the leases it took.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sqllock/pg.h"
#include "support.h"

/* A borrowed connection: no lease inside its transaction, and without the
   tables ESTATE naming `sqllock init` until sqllock_install_schema. */
static void t_attached(void)
{
    char schema[64];
    snprintf(schema, sizeof(schema), "lease_att_%d", (int)getpid());
    PGconn *pc = t_pq(t_tag("att"));
    CHECK(pc);
    char sql[256];
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s; SET search_path = %s", schema, schema);
    CHECK(t_exec(pc, sql));
    sqllock_client *c;
    CHECK_ST(sqllock_attach_pg(&c, pc), SQLLOCK_OK, c);
    sqllock_acquire_opts o = t_lease(60000, 0);
    sqllock_lock *l;
    CHECK_ST(sqllock_acquire(&l, c, "att", &o), SQLLOCK_ESTATE, c);
    CHECKF(strstr(sqllock_errmsg(c), "sqllock init"), "message: %s", sqllock_errmsg(c));
    CHECK_ST(sqllock_install_schema(c), SQLLOCK_OK, c);
    CHECK_ST(sqllock_install_schema(c), SQLLOCK_OK, c); /* again: harmless */
    CHECK_ST(sqllock_acquire(&l, c, "att", &o), SQLLOCK_OK, c);
    CHECK(t_exec(pc, "BEGIN"));
    CHECK_ST(sqllock_check(l), SQLLOCK_ESTATE, c);
    sqllock_lock *l2;
    CHECK_ST(sqllock_acquire(&l2, c, "att2", &o), SQLLOCK_ESTATE, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_ESTATE, c); /* l stays valid */
    CHECK(t_exec(pc, "COMMIT"));
    CHECK_ST(sqllock_check(l), SQLLOCK_OK, c);
    /* The waiting path on a borrowed connection. */
    o.wait_ms = 5000;
    o.ttl_ms = 200;
    CHECK_ST(sqllock_acquire(&l2, c, "att2", &o), SQLLOCK_OK, c);
    sqllock_client_free(c); /* releases both leases on the borrowed connection */
    CHECK(t_sql_ll(pc, "SELECT count(*) FROM sqllock_lease WHERE NOT released", NULL, NULL) ==
          0);
    CHECK(t_sql_ll(pc, "SELECT count(*) FROM pg_listening_channels()", NULL, NULL) == 0);
    snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", schema);
    CHECK(t_exec(pc, sql));
    PQfinish(pc);
}

static const struct tcase cases[] = {
    {"attached", t_attached,
     "borrowed connections: ESTATE in a transaction or without the tables"},
};

T_MAIN(cases)
