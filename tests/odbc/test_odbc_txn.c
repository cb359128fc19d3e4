/* SPDX-License-Identifier: MIT */
/*
 * Transaction scope over ODBC, written once and run per backend (the URL
 * comes from the variable SQLLOCK_SUITE_URL_VAR names: advisory locks
 * through psqlODBC, or mssql-applock against the emulation). The test holds
 * the ODBC connection itself, attaches a client to it, and ends its
 * transactions with SQLEndTran, as an application would.
 */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <string.h>

#include "odbc_support.h"

static void t_needs_transaction(void)
{
    const char *url = t_url();
    struct t_odbc o;
    CHECK(url && t_odbc_open(&o, url, t_tag("t")));
    sqllock_client *c = t_odbc_attach(&o);
    CHECK(c);
    sqllock_lock *l;
    sqllock_acquire_opts x = t_opts(0, SQLLOCK_TRANSACTION);
    CHECK_ST(sqllock_acquire(&l, c, t_tag("notx"), &x), SQLLOCK_ESTATE, c);
    CHECK(strstr(sqllock_errmsg(c), "autocommit"));
    x.wait_ms = 100;
    CHECK_ST(sqllock_acquire(&l, c, t_tag("notx"), &x), SQLLOCK_ESTATE, c);
    sqllock_client_free(c);
    t_odbc_close(&o);
}

/* how: SQL_COMMIT or SQL_ROLLBACK; wait: 0 (try) or a bounded wait. */
static void ended_by(SQLSMALLINT how, int64_t wait)
{
    const char *url = t_url();
    const char *name = t_tag("tx");
    struct t_odbc o;
    CHECK(url && t_odbc_open(&o, url, t_tag("t")));
    sqllock_client *c = t_odbc_attach(&o), *other = t_client(t_tag("other"));
    CHECK(c && other);
    CHECK(t_odbc_autocommit(&o, 0));
    sqllock_lock *l, *lo;
    sqllock_acquire_opts x = t_opts(wait, SQLLOCK_TRANSACTION);
    CHECK_ST(sqllock_acquire(&l, c, name, &x), SQLLOCK_OK, c);
    CHECK_ST(sqllock_acquire(&lo, other, name, NULL), SQLLOCK_BUSY, other);
    CHECK_ST(sqllock_check(l), SQLLOCK_OK, c);
    /* Re-entry in the same transaction is refused, as for session locks. */
    CHECK_ST(sqllock_acquire(&lo, c, name, &x), SQLLOCK_ESTATE, c);
    CHECK(t_odbc_end(&o, how));
    CHECK_ST(sqllock_check(l), SQLLOCK_LOST, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_LOST, c);
    CHECK(t_free_for_others(name));
    /* The next transaction can take it again. */
    CHECK_ST(sqllock_acquire(&l, c, name, &x), SQLLOCK_OK, c);
    CHECK_ST(sqllock_release(l), SQLLOCK_OK, c); /* forgets; held until the end */
    CHECK_ST(sqllock_acquire(&lo, other, name, NULL), SQLLOCK_BUSY, other);
    CHECK(t_odbc_end(&o, how));
    CHECK(t_free_for_others(name));
    sqllock_client_free(c);
    sqllock_client_free(other);
    t_odbc_close(&o);
}

static void t_commit_releases(void)
{
    ended_by(SQL_COMMIT, 0);
}

static void t_rollback_releases(void)
{
    ended_by(SQL_ROLLBACK, 300);
}

/* A wait that fails inside the caller's transaction leaves it usable, and
   a session lock taken inside a transaction outlives its rollback. */
static void t_failed_wait_keeps_transaction(void)
{
    const char *url = t_url();
    const char *name = t_tag("keep"), *sname = t_tag("sess");
    struct t_odbc o;
    CHECK(url && t_odbc_open(&o, url, t_tag("t")));
    sqllock_client *c = t_odbc_attach(&o), *holder = t_client(t_tag("h"));
    CHECK(c && holder);
    sqllock_lock *h, *l, *s;
    CHECK_ST(sqllock_acquire(&h, holder, name, NULL), SQLLOCK_OK, holder);
    CHECK(t_odbc_autocommit(&o, 0));
    /* A table of the session's own, in each server's dialect. */
    const char *keep = strcasestr(url, "Driver=FreeTDS") ? "#sqllock_keep" : "sqllock_keep";
    char sql[96];
    snprintf(sql, sizeof(sql),
             strcmp(keep, "#sqllock_keep") == 0 ? "CREATE TABLE %s (x int)"
                                                : "CREATE TEMP TABLE %s (x int)",
             keep);
    CHECK(t_odbc_exec(&o, sql));
    snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (1)", keep);
    CHECK(t_odbc_exec(&o, sql));
    for (int scope = 0; scope < 2; scope++) {
        sqllock_acquire_opts x = t_opts(200, scope);
        CHECK_ST(sqllock_acquire(&l, c, name, &x), SQLLOCK_TIMEOUT, c);
        x.wait_ms = 0;
        CHECK_ST(sqllock_acquire(&l, c, name, &x), SQLLOCK_BUSY, c);
    }
    snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (2)", keep);
    CHECK(t_odbc_exec(&o, sql));
    sqllock_acquire_opts w = t_opts(1000, SQLLOCK_SESSION);
    CHECK_ST(sqllock_acquire(&s, c, sname, &w), SQLLOCK_OK, c);
    CHECK(t_odbc_end(&o, SQL_ROLLBACK));
    CHECK_ST(sqllock_check(s), SQLLOCK_OK, c);
    CHECK(!t_free_for_others(sname));
    CHECK_ST(sqllock_release(s), SQLLOCK_OK, c);
    CHECK(t_free_for_others(sname));
    CHECK_ST(sqllock_release(h), SQLLOCK_OK, holder);
    CHECK(t_odbc_autocommit(&o, 1));
    sqllock_client_free(c);
    sqllock_client_free(holder);
    t_odbc_close(&o);
}

/* The attached connection stays the caller's: freeing the client releases
   its session locks and leaves the connection open and usable. */
static void t_attached_stays_open(void)
{
    const char *url = t_url();
    const char *name = t_tag("att");
    struct t_odbc o;
    CHECK(url && t_odbc_open(&o, url, t_tag("t")));
    sqllock_client *c = t_odbc_attach(&o);
    CHECK(c);
    sqllock_lock *l;
    CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c);
    CHECK(!t_free_for_others(name));
    sqllock_client_free(c);
    CHECK(t_free_for_others(name));
    CHECK(t_odbc_exec(&o, "SELECT 1"));
    t_odbc_close(&o);
}

static const struct tcase cases[] = {
    {"needs_transaction", t_needs_transaction,
     "transaction scope with autocommit on is ESTATE, for a try and a wait"},
    {"commit_releases", t_commit_releases,
     "a transaction lock excludes others until SQLEndTran(COMMIT), then check and release say LOST"},
    {"rollback_releases", t_rollback_releases,
     "the same for a waited-for lock ended by SQLEndTran(ROLLBACK); release inside only forgets"},
    {"failed_wait_keeps_transaction", t_failed_wait_keeps_transaction,
     "TIMEOUT and BUSY inside a transaction leave it usable; a session lock outlives ROLLBACK"},
    {"attached_stays_open", t_attached_stays_open,
     "freeing a client on an attached connection releases its locks and keeps the connection"},
};

T_MAIN(cases)
