/* SPDX-License-Identifier: MIT */
/*
 * `sqllock key NAME`: the advisory key a name maps to, and the SQL that
 * takes the same lock from psql, so that a shell script and a psql session
 * (or a migration tool) can share a lock. Computed locally, no database
 * needed. The SQL form names the lock by hashtextextended(NAME, 0); a name
 * that cannot be written as a UTF-8 SQL literal is given by its key.
 */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "cli.h"

const char cmd_key_help[] =
    "usage: sqllock key NAME\n"
    "\n"
    "Prints the advisory key for NAME (PostgreSQL's hashtextextended(NAME, 0)),\n"
    "the SQL that takes and releases the same lock from psql, and how the lock\n"
    "appears in pg_locks. For a shared lock use pg_advisory_lock_shared and\n"
    "pg_advisory_unlock_shared. The SQL form matches on UTF8 databases; a name\n"
    "that is not valid UTF-8 is given by its key. Needs no database.\n"
    "\n"
    "Options:\n"
    "  -h, --help       this help\n";

static const struct option long_opts[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/*
 * Writes NAME as an SQL literal: '...' with quotes doubled when that is
 * plainly the name; E'...' when it holds a backslash (which
 * standard_conforming_strings = off would otherwise read as an escape) or
 * control characters. 0, or -1 when NAME is not UTF-8.
 */
static int literal(char *out, size_t n, const char *name)
{
    const unsigned char *p = (const unsigned char *)name;
    int escape = 0;
    for (size_t i = 0, len; p[i]; i += len) {
        if ((len = cli_utf8_len(p + i)) == 0)
            return -1;
        if (p[i] == '\\' || p[i] < 0x20 || p[i] == 0x7f)
            escape = 1;
    }
    size_t o = 0;
    if (escape)
        out[o++] = 'E';
    out[o++] = '\'';
    for (size_t i = 0; p[i] && o + 6 < n; i++) {
        if (p[i] == '\'')
            o += (size_t)snprintf(out + o, n - o, "''");
        else if (escape && p[i] == '\\')
            o += (size_t)snprintf(out + o, n - o, "\\\\");
        else if (escape && (p[i] < 0x20 || p[i] == 0x7f))
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", p[i]);
        else
            out[o++] = (char)p[i];
    }
    out[o++] = '\'';
    out[o] = '\0';
    return 0;
}

int cmd_key(struct cli *cli, int argc, char **argv)
{
    int c;
    (void)cli;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
        if (c != 'h')
            return cli_bad_option("key", c, argv);
        fputs(cmd_key_help, stdout);
        return 0;
    }
    if (optind == argc)
        return cli_usage("key", "missing NAME");
    if (optind + 1 < argc)
        return cli_usage("key", "unexpected argument '%s'", argv[optind + 1]);
    const char *name = argv[optind];
    if (!*name || strlen(name) > SQLLOCK_NAME_MAX)
        return cli_usage("key", "NAME must be 1 to %d bytes", SQLLOCK_NAME_MAX);

    int64_t key = sqllock_advisory_key(name);
    /* Every byte may become \xHH (4 bytes), plus E, quotes and NUL. */
    char lit[4 * SQLLOCK_NAME_MAX + 8], arg[sizeof(lit) + 32];
    if (literal(lit, sizeof(lit), name) == 0)
        snprintf(arg, sizeof(arg), "hashtextextended(%s, 0)", lit);
    else
        snprintf(arg, sizeof(arg), "%" PRId64, key);
    printf("key       %" PRId64 "\n", key);
    printf("lock      SELECT pg_advisory_lock(%s);\n", arg);
    printf("unlock    SELECT pg_advisory_unlock(%s);\n", arg);
    printf("pg_locks  locktype = 'advisory' AND classid = %" PRIu32 " AND objid = %" PRIu32
           " AND objsubid = 1\n",
           (uint32_t)((uint64_t)key >> 32), (uint32_t)((uint64_t)key & 0xffffffffu));
    return 0;
}
