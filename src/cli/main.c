/* SPDX-License-Identifier: MIT */
/*
 * The sqllock command: global options, the table of subcommands and the
 * dispatch to them. Each subcommand lives in its own cmd_*.c file with its
 * help text; this file knows only their names and one-line summaries.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int cmd_help(struct cli *cli, int argc, char **argv);

static const struct command {
    const char *name;
    cli_cmd_fn fn;
    const char *args;
    const char *summary;
    const char *help; /* NULL: the overview */
} commands[] = {
    {"run", cmd_run, "NAME [options] -- PROGRAM [ARGS...]",
     "run PROGRAM while holding the lock NAME", cmd_run_help},
    {"status", cmd_status, "NAME|--key K [--json]",
     "who holds NAME (lock or lease) and who waits for it; exit 0 free, 1 held",
     cmd_status_help},
    {"list", cmd_list, "[--json]", "every advisory lock and lease on the database",
     cmd_list_help},
    {"key", cmd_key, "NAME", "the advisory key for NAME and the SQL to take it in psql",
     cmd_key_help},
    {"once", cmd_once, "NAME [-w DURATION] -- PROGRAM [ARGS...] | --forget NAME",
     "run PROGRAM once across machines; later calls skip it", cmd_once_help},
    {"init", cmd_init, "", "create the lease and run-once tables", cmd_init_help},
    {"help", cmd_help, "[COMMAND]", "this overview, or the help of COMMAND", NULL},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void overview(FILE *f)
{
    fputs("usage: sqllock [--url URL] [-v] COMMAND [ARGS...]\n"
          "       sqllock --version | --help\n"
          "\n"
          "Locks that live in PostgreSQL (advisory locks), for shell scripts, cron jobs\n"
          "and CI steps: flock(1) across machines.\n"
          "\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %s %s\n      %s\n", commands[i].name, commands[i].args,
                commands[i].summary);
    fputs("\n"
          "Options:\n"
          "  --url URL       the database: a postgresql:// URL or a libpq key=value\n"
          "                  string, or for run odbc:CONNSTR in builds with ODBC\n"
          "                  (default: $SQLLOCK_URL, then $DATABASE_URL)\n"
          "  -v, --verbose   say on stderr what is happening\n"
          "  -h, --help      this help\n"
          "  --version       the versions of sqllock, its library and libpq\n"
          "\n"
          "Exit status: 64 usage error, 69 the database cannot be reached, 77 not\n"
          "permitted (a privilege missing, or a read-only database), 75 the lock\n"
          "could not be had, 70 it was lost while PROGRAM ran; run exits with PROGRAM's\n"
          "status otherwise. See 'sqllock help COMMAND' and sqllock(1).\n",
          f);
}

static int cmd_help(struct cli *cli, int argc, char **argv)
{
    (void)cli;
    if (argc > 2)
        return cli_usage("help", "unexpected argument '%s'", argv[2]);
    if (argc == 1 || strcmp(argv[1], "help") == 0) {
        overview(stdout);
        return 0;
    }
    const struct command *cmd = find(argv[1]);
    if (!cmd)
        return cli_usage(NULL, "unknown command '%s'", argv[1]);
    fputs(cmd->help, stdout);
    return 0;
}

const char *cli_url(const struct cli *cli)
{
    static const char *const vars[] = {"SQLLOCK_URL", "DATABASE_URL"};
    if (cli->url && *cli->url)
        return cli->url;
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return v;
    }
    return NULL;
}

int cli_connect(sqllock_client **out, const struct cli *cli, const char *what)
{
    *out = NULL;
    const char *url = cli_url(cli);
    if (!url)
        return cli_usage(what, "no database: give --url or set SQLLOCK_URL or DATABASE_URL");
    sqllock_status st = sqllock_connect(out, url);
    if (st == SQLLOCK_OK)
        return 0;
    int code = cli_fail(*out, st);
    sqllock_client_free(*out);
    *out = NULL;
    return code;
}

int cli_url_is_libpq(const char *url)
{
    return strncmp(url, "odbc:", 5) != 0;
}

static void version(void)
{
    int lib = sqllock_version(), pq = PQlibVersion();
    printf("sqllock %s\n", SQLLOCK_VERSION);
    printf("libsqllock %d.%d.%d, libpq %d.%d\n", lib / 10000, lib / 100 % 100, lib % 100,
           pq / 10000, pq % 10000);
}

int main(int argc, char **argv)
{
    struct cli cli = {NULL, 0};
    int i = 1;
    /* Global options come before COMMAND; each command takes --url and -v
       too, so that they may also follow it. */
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--url") == 0) {
            if (++i == argc)
                return cli_usage(NULL, "option '--url' needs a value");
            cli.url = argv[i];
        } else if (strncmp(a, "--url=", 6) == 0) {
            cli.url = a + 6;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            cli.verbose = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            overview(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            version();
            return 0;
        } else {
            return cli_usage(NULL, "unknown option '%s'", a);
        }
    }
    if (i == argc)
        return cli_usage(NULL, "missing COMMAND");
    const struct command *cmd = find(argv[i]);
    if (!cmd)
        return cli_usage(NULL, "unknown command '%s'", argv[i]);
    return cmd->fn(&cli, argc - i, argv + i);
}
