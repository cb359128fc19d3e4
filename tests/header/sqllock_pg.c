/* SPDX-License-Identifier: MIT */
/* Compiled alone by a test: <sqllock/pg.h> brings what it needs. */
#include <sqllock/pg.h>

int main(void)
{
    sqllock_status (*attach)(sqllock_client **, PGconn *) = sqllock_attach_pg;
    return attach ? 0 : 1;
}
