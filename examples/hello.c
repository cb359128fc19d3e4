/* SPDX-License-Identifier: MIT */
/*
 * hello: the smallest complete sqllock program. It connects to the database
 * named by its argument, takes the lock "hello" (waiting up to 5 s while
 * someone else holds it), says so and lets it go.
 *
 * Usage: hello CONNINFO   (e.g. "postgresql://user@host/db")
 */
#include <stdio.h>

#include <sqllock.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CONNINFO\n", argv[0]);
        return 2;
    }
    sqllock_client *c;
    sqllock_status st = sqllock_connect(&c, argv[1]);
    if (st == SQLLOCK_OK) {
        sqllock_acquire_opts opts = SQLLOCK_ACQUIRE_OPTS_INIT;
        opts.wait_ms = 5000;
        sqllock_lock *l;
        st = sqllock_acquire(&l, c, "hello", &opts);
        if (st == SQLLOCK_OK) {
            printf("holding \"%s\"\n", sqllock_lock_name(l));
            st = sqllock_release(l);
        }
    }
    if (st != SQLLOCK_OK)
        fprintf(stderr, "hello: %s: %s\n", sqllock_status_str(st), sqllock_errmsg(c));
    /* Even a failed connect leaves a client (holding the reason) to free. */
    sqllock_client_free(c);
    return st == SQLLOCK_OK ? 0 : 1;
}
