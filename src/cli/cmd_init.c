/* SPDX-License-Identifier: MIT */
/*
 * `sqllock init`: installs the lease and run-once tables (sql/<dialect>.sql,
 * compiled into the library) in the database, for applications that attach
 * their own connection and so never create them on first use.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

const char cmd_init_help[] =
    "usage: sqllock init\n"
    "\n"
    "Creates the tables that leases (run --ttl) and `sqllock once` keep their\n"
    "state in, sqllock_lease and sqllock_once, in the first schema of the\n"
    "search_path, unless they exist. Safe to run again. Needs the right to\n"
    "create tables there. A client that opens its own connection creates them\n"
    "when it finds them missing; an application that attaches its connection,\n"
    "or whose role may not create tables, needs this (or\n"
    "sqllock_install_schema()) once, run by the tables' owner, who then grants\n"
    "SELECT, INSERT, UPDATE, DELETE on both to the application's role.\n"
    "\n"
    "Options:\n"
    "  --url URL        the database (default: $SQLLOCK_URL, then $DATABASE_URL)\n"
    "  -v, --verbose    say on stderr what is happening\n"
    "  -h, --help       this help\n"
    "\n"
    "Exit status: 0 installed (or there already); 64 usage; 69 the database\n"
    "cannot be reached; 77 this role may not create them, or the database is\n"
    "read-only.\n";

enum { OPT_URL = 256 };
static const struct option long_opts[] = {
    {"help", no_argument, NULL, 'h'},
    {"verbose", no_argument, NULL, 'v'},
    {"url", required_argument, NULL, OPT_URL},
    {NULL, 0, NULL, 0},
};

int cmd_init(struct cli *cli, int argc, char **argv)
{
    int ch;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":hv", long_opts, NULL)) != -1) {
        if (ch == 'h') {
            fputs(cmd_init_help, stdout);
            return 0;
        } else if (ch == 'v') {
            cli->verbose = 1;
        } else if (ch == OPT_URL) {
            cli->url = optarg;
        } else {
            return cli_bad_option("init", ch, argv);
        }
    }
    if (optind < argc)
        return cli_usage("init", "unexpected argument '%s'", argv[optind]);
    sqllock_client *c;
    int code = cli_connect(&c, cli, "init");
    if (code)
        return code;
    sqllock_status st = sqllock_install_schema(c);
    if (st != SQLLOCK_OK)
        code = cli_fail(c, st);
    else if (cli->verbose)
        cli_err("the lease and run-once tables are installed");
    sqllock_client_free(c);
    return code;
}
