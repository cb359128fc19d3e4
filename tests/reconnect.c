/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reconnect.h"
#include "support.h"

void t_reconnect_after_restart_of(sqllock_client *c, const char *name, const char *label)
{
    const char *restart = t_env("SQLLOCK_TEST_RESTART_CMD");
    CHECK(restart && c);
    sqllock_lock *l, *l2 = NULL;
    CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c);
    CHECK(system(restart) == 0);
    CHECK_ST(sqllock_check(l), SQLLOCK_LOST, c);
    long long t0 = t_now_ms();
    CHECK_ST(sqllock_acquire(&l2, c, name, NULL), SQLLOCK_OK, c);
    printf("%safter the restart: reconnected and acquired in %lld ms\n", label, t_now_ms() - t0);
    CHECK_ST(sqllock_release(l), SQLLOCK_LOST, c);
    CHECK_ST(sqllock_release(l2), SQLLOCK_OK, c);
}

void t_reconnect_after_down_of(sqllock_client *c, const char *name, const char *label,
                               const char *secret)
{
    const char *stop = t_env("SQLLOCK_TEST_STOP_CMD"), *start = t_env("SQLLOCK_TEST_START_CMD");
    CHECK(stop && start && c);
    sqllock_lock *l, *l2 = NULL;
    CHECK_ST(sqllock_acquire(&l, c, name, NULL), SQLLOCK_OK, c);
    CHECK(system(stop) == 0);
    CHECK_ST(sqllock_check(l), SQLLOCK_LOST, c);
    long long t0 = t_now_ms();
    sqllock_status st = sqllock_acquire(&l2, c, name, NULL);
    long long refused = t_now_ms() - t0;
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s", sqllock_errmsg(c));
    usleep(3000 * 1000); /* the fault: the server stays down */
    CHECK(system(start) == 0);
    CHECKF(st == SQLLOCK_ECONNECT, "while down: %s: %s", sqllock_status_str(st), msg);
    CHECKF(!secret || strstr(msg, secret) == NULL, "the password is in: %s", msg);
    CHECK(refused < 5000);
    t0 = t_now_ms();
    CHECK_ST(sqllock_acquire(&l2, c, name, NULL), SQLLOCK_OK, c);
    printf("%sdown 3 s: refused in %lld ms; back: reconnected and acquired in %lld ms\n", label,
           refused, t_now_ms() - t0);
    CHECK_ST(sqllock_release(l), SQLLOCK_LOST, c);
    CHECK_ST(sqllock_release(l2), SQLLOCK_OK, c);
}
