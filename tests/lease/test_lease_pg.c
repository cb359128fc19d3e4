/* SPDX-License-Identifier: MIT */
/*
 * Leases on a connection the application lends to sqllock (libpq): no lease
 * statement inside the caller's transaction (ESTATE, the handle stays
 * valid), a missing table is ESTATE naming `sqllock init` until
 * sqllock_install_schema(), a wait leaves the session as found (not
 * listening), and sqllock_client_free releases the leases it took.
 */
#include <signal.h>
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

/* SIGSTOPs the backend of c's session (a server that stops answering) and
   runs what(l): how long it took, with *st its status; SIGCONT after. */
static long long with_backend_stopped(PGconn *admin, const char *app, sqllock_lock *l,
                                      sqllock_status (*what)(sqllock_lock *), sqllock_status *st)
{
    int pid = t_pid(admin, app);
    if (pid <= 0 || kill(pid, SIGSTOP) != 0)
        return -1;
    long long t0 = t_now_ms();
    *st = what(l);
    long long took = t_now_ms() - t0;
    kill(pid, SIGCONT);
    return took;
}

static sqllock_client *frozen_client;

static sqllock_status renew_all(sqllock_lock *l)
{
    sqllock_lock *lost = NULL;
    int fds[2];
    if (pipe(fds) != 0)
        return SQLLOCK_ENOMEM;
    sqllock_status st = sqllock_keep_alive(l, 1);
    if (st == SQLLOCK_OK)
        st = sqllock_keep_alive_run(&lost, frozen_client, fds[0]);
    close(fds[0]);
    close(fds[1]);
    return st == SQLLOCK_LOST && lost != l ? SQLLOCK_ESTATE : st;
}

/* A server that stops answering (its backend SIGSTOPped, over the Unix
   socket, where no keepalive or tcp_user_timeout would ever fire): a check,
   and a renewal, of a 1 s lease return LOST at the lease's deadline rather
   than hang, and the next acquire reconnects. */
static void t_unanswered_until_deadline(void)
{
    const char *app = t_tag("frozen");
    sqllock_client *c = frozen_client = t_client(app);
    PGconn *admin = t_admin();
    CHECK(c && admin);
    sqllock_acquire_opts o = t_lease(1000, 0);
    sqllock_lock *l, *l2;
    sqllock_status (*const calls[2])(sqllock_lock *) = {sqllock_check, renew_all};
    for (int i = 0; i < 2; i++) {
        CHECK_ST(sqllock_acquire(&l, c, t_tag(i ? "renewed" : "checked"), &o), SQLLOCK_OK, c);
        long long left = sqllock_lease_deadline(l) - t_now_ms();
        sqllock_status st = SQLLOCK_OK;
        long long took = with_backend_stopped(admin, app, l, calls[i], &st);
        printf("%s with the server stopped: %s after %lld ms (the deadline was %lld ms away)\n",
               i ? "renewal" : "check", sqllock_status_str(st), took, left);
        CHECK_ST(st, SQLLOCK_LOST, c);
        CHECKF(took >= left - 50 && took < left + 1000, "took %lld ms, deadline in %lld", took,
               left);
        CHECK(strstr(sqllock_errmsg(c), "deadline") != NULL);
        st = sqllock_release(l); /* on a connection given up */
        CHECKF(st == SQLLOCK_LOST || st == SQLLOCK_ECONNECT, "release: %s",
               sqllock_status_str(st));
        CHECK_ST(sqllock_acquire(&l2, c, t_tag("after"), NULL), SQLLOCK_OK, c);
        CHECK_ST(sqllock_release(l2), SQLLOCK_OK, c);
    }
    sqllock_client_free(c);
    PQfinish(admin);
}

static const struct tcase cases[] = {
    {"unanswered_until_deadline", t_unanswered_until_deadline,
     "a check or renewal of a lease on a server that stopped answering is LOST at its deadline"},
    {"attached", t_attached,
     "borrowed connections: ESTATE in a transaction or without the tables"},
};

T_MAIN(cases)
