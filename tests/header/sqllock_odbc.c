/* SPDX-License-Identifier: MIT */
/* Compiled alone by a test: <sqllock/odbc.h> brings what it needs. */
#include <sqllock/odbc.h>

int main(void)
{
    sqllock_status (*attach)(sqllock_client **, SQLHDBC) = sqllock_attach_odbc;
    return attach ? 0 : 1;
}
