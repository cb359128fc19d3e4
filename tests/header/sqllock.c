/* SPDX-License-Identifier: MIT */
/* Compiled alone by a test: the header needs nothing before it. */
#include <sqllock.h>

int main(void)
{
    sqllock_acquire_opts o = SQLLOCK_ACQUIRE_OPTS_INIT;
    return o.version == SQLLOCK_ACQUIRE_OPTS_VERSION ? 0 : 1;
}
