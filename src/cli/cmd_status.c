/* SPDX-License-Identifier: MIT */
/*
 * `sqllock status NAME` and `sqllock list`: who holds and who waits, read
 * from pg_locks and the lease table over the command's own connection (on
 * SQL Server from sys.dm_tran_locks: applocks.c).
 * status answers one question for scripts through its exit status (0 free,
 * 1 held); list shows every advisory lock and lease on the database.
 * Advisory keys are hashes, so list cannot name those locks; `sqllock key
 * NAME` goes the other way.
 */
#include <getopt.h>
#include <string.h>

#include "cli.h"

const char cmd_status_help[] =
    "usage: sqllock status NAME | --key N | --key A/B [--json]\n"
    "\n"
    "Shows who holds the lock NAME (or the numeric key N, as pg_advisory_lock(N)\n"
    "takes it, or A/B, as pg_advisory_lock(A, B) does) and who waits for it, one\n"
    "line each: state (held or waiting), mode (exclusive or shared), the\n"
    "backend's pid, client address (\"local\" for a Unix socket),\n"
    "application_name, session_start (when the holder's session began:\n"
    "PostgreSQL does not record when a lock was granted) and, for waiters,\n"
    "waiting_since. \"?\" marks what this role may not see (pg_read_all_stats\n"
    "shows everything). A lease of NAME (run --ttl) is a line of its own:\n"
    "kind=lease, token, owner_host, owner_pid, owner_id, since and expires (UTC).\n"
    "A role that may not read the lease table is told so on stderr.\n"
    "Over an odbc: URL to SQL Server: its applocks from sys.dm_tran_locks (state,\n"
    "mode, session, host, program, session_start), NAME matched on the first 32\n"
    "characters of its resource, all SQL Server keeps in plain text.\n"
    "\n"
    "Options:\n"
    "      --key N|A/B  a numeric key instead of NAME: N a bigint, A/B two integers\n"
    "                   (a different lock from the bigint with the same bits)\n"
    "      --json       one JSON object per holder or waiter, as list --json\n"
    "      --url URL    the database, as for sqllock --url\n"
    "  -h, --help       this help\n"
    "\n"
    "Exit status: 0 free, 1 held (advisory lock or lease), 69 the database\n"
    "cannot be reached or read (the leases too: never \"free\" unread), 77 the\n"
    "role may not read the lease table (and no advisory lock holds it), 64 usage\n"
    "error.\n";

const char cmd_list_help[] =
    "usage: sqllock list [--json]\n"
    "\n"
    "Every advisory lock on the current database, held or waited for, one line\n"
    "each: key, state, mode, pid, client, application_name, session_start and,\n"
    "for waiters, waiting_since. Names are hashed into keys and cannot be read\n"
    "back from them: 'sqllock key NAME' shows a name's key. Locks taken with the\n"
    "two-integer form pg_advisory_lock(int4, int4) show as key=A/B. Then every\n"
    "held lease, one line each: kind=lease, name, token, owner_host, owner_pid,\n"
    "owner_id, since and expires.\n"
    "Over an odbc: URL to SQL Server: every applock of the database from\n"
    "sys.dm_tran_locks, one line each (kind=applock, resource: its first 32\n"
    "characters, state, mode, session, host, program, session_start).\n"
    "\n"
    "Options:\n"
    "      --json       one JSON object per line: key (a string, exact where a\n"
    "                   JSON number would round; null for A/B keys), key_pair\n"
    "                   ([A, B] or null), mode, state, pid, client,\n"
    "                   application_name, session_start, waiting_since, kind\n"
    "                   (\"advisory\"); for a\n"
    "                   lease kind \"lease\", name, state, token (a string),\n"
    "                   owner_host, owner_pid, owner_id, since, expires, released\n"
    "      --url URL    the database, as for sqllock --url\n"
    "  -h, --help       this help\n"
    "\n"
    "Exit status: 0, 69 the database cannot be reached or read, 64 usage error.\n";

enum { OPT_JSON = 256, OPT_URL, OPT_KEY };

static const struct option long_opts[] = {
    {"json", no_argument, NULL, OPT_JSON},     {"url", required_argument, NULL, OPT_URL},
    {"key", required_argument, NULL, OPT_KEY}, {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
};

/* Parses the options both commands share (and status's --key, into *key
   when key is not NULL; *has_key says it was given): 0, -1 after --help, or
   the exit status of a usage error. */
static int parse(struct cli *cli, int *json, struct cli_key *key, int *has_key, int argc,
                 char **argv, const char *help)
{
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":vh", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_JSON: *json = 1; break;
        case OPT_URL: cli->url = optarg; break;
        case OPT_KEY:
            if (!key)
                return cli_bad_option(argv[0], '?', argv);
            if (cli_parse_key(key, optarg) != 0)
                return cli_usage(argv[0],
                                 "bad --key '%s' (use N, a bigint, or A/B, two "
                                 "integers, as pg_advisory_lock takes them)",
                                 optarg);
            *has_key = 1;
            break;
        case 'v': cli->verbose = 1; break;
        case 'h': fputs(help, stdout); return -1;
        default: return cli_bad_option(argv[0], c, argv);
        }
    }
    return 0;
}

/* What status and list show: advisory locks from pg_locks and leases from
   the lease table. */
struct locks {
    struct holders h;
    struct leases ls;
};

static void locks_free(struct locks *l)
{
    holders_free(&l->h);
    leases_free(&l->ls);
}

/*
 * Connects and reads the rows: the advisory locks of key (all when NULL)
 * and, unless with_leases is 0 (numeric keys are never leases), the leases
 * of name (all when NULL). 0, or the exit status.
 */
static int fetch(struct cli *cli, const char *command, const struct cli_key *key,
                 int with_leases, const char *name, struct locks *out)
{
    memset(out, 0, sizeof(*out));
    const char *url = cli_url(cli);
    if (!url)
        return cli_usage(command, "no database: give --url or set SQLLOCK_URL or "
                                  "DATABASE_URL");
    if (!cli_url_is_libpq(url))
        return cli_usage(command,
                         "reading pg_locks needs a PostgreSQL URL "
                         "(postgresql://... or key=value), not odbc: (which works for SQL "
                         "Server only)");
    PGconn *conn;
    char purpose[32];
    snprintf(purpose, sizeof(purpose), "sqllock %s", command);
    int code = cli_pg_open(&conn, url, purpose);
    if (code)
        return code;
    if (holders_fetch(&out->h, conn, key) != 0 ||
        (with_leases && leases_fetch(&out->ls, conn, name) != 0)) {
        locks_free(out);
        code = CLI_EXIT_UNAVAILABLE;
    }
    PQfinish(conn);
    return code;
}

static void print_rows(const struct locks *l, int json, int with_key)
{
    for (int i = 0; i < l->h.count; i++) {
        if (json) {
            holder_print_json(stdout, &l->h.rows[i]);
        } else {
            holder_print_text(stdout, &l->h.rows[i], with_key);
            fputc('\n', stdout);
        }
    }
    for (int i = 0; i < l->ls.count; i++) {
        if (json) {
            lease_print_json(stdout, &l->ls.rows[i]);
        } else {
            lease_print_text(stdout, &l->ls.rows[i], with_key);
            fputc('\n', stdout);
        }
    }
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
    int json = 0, has_key = 0;
    struct cli_key key;
    int code = parse(cli, &json, &key, &has_key, argc, argv, cmd_status_help);
    if (code)
        return code < 0 ? 0 : code;
    if (optind == argc && !has_key)
        return cli_usage("status", "missing NAME (or --key)");
    if (optind < argc && has_key)
        return cli_usage("status", "give NAME or --key, not both ('%s')", argv[optind]);
    if (optind + 1 < argc)
        return cli_usage("status", "unexpected argument '%s'", argv[optind + 1]);
    const char *name = has_key ? NULL : argv[optind];
    if (name && (!*name || strlen(name) > SQLLOCK_NAME_MAX))
        return cli_usage("status", "NAME must be 1 to %d bytes", SQLLOCK_NAME_MAX);
    if (name)
        key = (struct cli_key){.key = sqllock_advisory_key(name)};

#ifdef SQLLOCK_WITH_ODBC
    if (name && cli_url(cli) && strncmp(cli_url(cli), "odbc:", 5) == 0 &&
        (code = applocks_show(cli_url(cli), "status", name, json)) >= 0)
        return code;
#endif
    struct locks l;
    if ((code = fetch(cli, "status", &key, name != NULL, name, &l)))
        return code;
    int held = holders_granted(&l.h) > 0 || l.ls.count > 0;
    /* Free only when both were read: a lease we could not see may hold it. */
    const char *state = held ? "is held"
                        : l.ls.unreadable
                            ? "has no advisory holder; its leases could not be read"
                            : "is free";
    char k[32];
    cli_key_format(k, sizeof(k), &key);
    if (!json && name)
        printf("lock \"%s\" (key %s) %s\n", name, k, state);
    else if (!json)
        printf("lock key %s %s\n", k, state);
    print_rows(&l, json, 0);
    code = held ? 1 : l.ls.unreadable;
    locks_free(&l);
    return code;
}

int cmd_list(struct cli *cli, int argc, char **argv)
{
    int json = 0;
    int code = parse(cli, &json, NULL, NULL, argc, argv, cmd_list_help);
    if (code)
        return code < 0 ? 0 : code;
    if (optind < argc)
        return cli_usage("list", "unexpected argument '%s'", argv[optind]);
#ifdef SQLLOCK_WITH_ODBC
    if (cli_url(cli) && strncmp(cli_url(cli), "odbc:", 5) == 0 &&
        (code = applocks_show(cli_url(cli), "list", NULL, json)) >= 0)
        return code;
#endif
    struct locks l;
    if ((code = fetch(cli, "list", NULL, 1, NULL, &l)))
        return code;
    print_rows(&l, json, 1);
    locks_free(&l);
    return 0;
}
