/* SPDX-License-Identifier: MIT */
/*
 * What the hostile-deployment suite (test_hostile.c) needs besides the
 * shared support: roles, schemas and databases of a case's own, made and
 * dropped over the admin connection, and the URL under test rewritten to
 * log in as one of those roles to one of those databases, whatever its
 * form (libpq key=value, postgresql:// URI, or an "odbc:" string).
 */
#ifndef SQLLOCK_TEST_DEPLOY_H
#define SQLLOCK_TEST_DEPLOY_H

#include "support.h"

/* Every role a case makes logs in with this password. */
#define DEPLOY_PASSWORD "hostile-Pa55"

/* The objects of one case; names are unique per process and case. */
struct deploy {
    PGconn *admin;
    char role[64];   /* the application's role */
    char owner[64];  /* the role that owns the schema and ran `sqllock init` */
    char schema[64]; /* the schema both roles' search_path names */
    char db[64];     /* a database of the case's own, or "" */
};

/* Makes role and owner (LOGIN, DEPLOY_PASSWORD, no other privilege) and a
   schema owned by owner, on the database under test. 1, or 0 with the case
   failed or skipped. */
int deploy_begin(struct deploy *d, const char *tag);
/* Also a database of the case's own, owned by role, for settings given
   with ALTER DATABASE. */
int deploy_database(struct deploy *d);
/* Drops everything deploy_begin and deploy_database made (terminating
   their sessions first) and closes the admin connection. */
void deploy_end(struct deploy *d);

/* Runs the printf-formatted SQL on the admin connection (the names above
   are plain lowercase identifiers, safe to format in). 1, or 0 with the
   case failed. */
int deploy_sql(struct deploy *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The URL under test, logging in as user (DEPLOY_PASSWORD) to db (NULL:
   the URL's own), with application_name appname and, unless NULL, the
   server options options (libpq's options=, psqlODBC's pqopt). The caller
   frees it. */
char *deploy_url(const char *user, const char *db, const char *appname, const char *options);
/* sqllock_connect to deploy_url(); NULL with the case failed. */
sqllock_client *deploy_client(const char *user, const char *db, const char *appname,
                              const char *options);

/* Whether the URL under test goes through ODBC (SQLite or PostgreSQL). */
int deploy_is_odbc(void);

#endif
