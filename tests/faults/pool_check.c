/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* program_invocation_short_name */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "pool_check.h"

int failed;

void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", program_invocation_short_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    failed = 1;
}

int expect(const char *what, sqllock_status st, sqllock_status want, const sqllock_client *c)
{
    if (st == want)
        return 1;
    fail("%s: got %s, expected %s (%s)", what, sqllock_status_str(st), sqllock_status_str(want),
         sqllock_errmsg(c));
    return 0;
}
