/* SPDX-License-Identifier: MIT */
/*
 * The command line of `sqllock run`, apart from running it: options and
 * NAMEs (one or more, or --key) up to "--", then PROGRAM. Kept alone so
 * that a fuzzer can drive it.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define DEFAULT_CHECK_MS 5000
#define DEFAULT_GRACE_MS 5000

enum { OPT_TTL = 256, OPT_CHECK, OPT_GRACE, OPT_URL, OPT_KEY };

static const struct option long_opts[] = {
    {"nonblock", no_argument, NULL, 'n'},
    {"no-wait", no_argument, NULL, 'n'},
    {"wait", required_argument, NULL, 'w'},
    {"timeout", required_argument, NULL, 'w'},
    {"shared", no_argument, NULL, 's'},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"conflict-exit-code", required_argument, NULL, 'E'},
    {"check-every", required_argument, NULL, OPT_CHECK},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"verbose", no_argument, NULL, 'v'},
    {"url", required_argument, NULL, OPT_URL},
    {"key", required_argument, NULL, OPT_KEY},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int duration_arg(int64_t *ms, const char *option, const char *value, int64_t min,
                        int64_t max)
{
    if (cli_parse_duration(ms, value) != 0)
        return cli_usage("run", "bad DURATION '%s' for %s (use e.g. 250ms, 10s, 5m, 1h)", value,
                         option);
    if (*ms < min || *ms > max)
        return cli_usage("run", "%s %s is out of range (%lldms to %lldms)", option, value,
                         (long long)min, (long long)max);
    return 0;
}

/* o->what for messages: lock "A", or locks "A", "B", ... (cut short with
   "..." where the buffer ends). */
static void describe_names(struct run_opts *o)
{
    size_t n = sizeof(o->what),
           at = (size_t)snprintf(o->what, n, "%s", o->nnames > 1 ? "locks" : "lock");
    for (int i = 0; i < o->nnames && at < n; i++) {
        size_t need = strlen(o->names[i]) + 4;
        if (at + need + 4 >= n) {
            snprintf(o->what + at, n - at, " ...");
            return;
        }
        at += (size_t)snprintf(o->what + at, n - at, "%s \"%s\"", i ? "," : "", o->names[i]);
    }
}

int run_opts_parse(struct cli *cli, struct run_opts *o, int argc, char **argv, int *help)
{
    int dashdash = 1, nonblock = 0, waits = 0, has_key = 0, c, err;
    *o = (struct run_opts){.wait_ms = SQLLOCK_WAIT_FOREVER,
                           .busy_code = CLI_EXIT_BUSY,
                           .check_ms = DEFAULT_CHECK_MS,
                           .grace_ms = DEFAULT_GRACE_MS};
    optind = 0; /* glibc: start afresh, whatever parsed before */
    while (dashdash < argc && strcmp(argv[dashdash], "--") != 0)
        dashdash++;
    opterr = 0;
    /* The options end at "--": what follows belongs to PROGRAM. */
    while ((c = getopt_long(dashdash, argv, ":nw:sE:vh", long_opts, NULL)) != -1) {
        switch (c) {
        case 'n': nonblock = 1; break;
        case 'w':
            waits = 1;
            if ((err = duration_arg(&o->wait_ms, "--wait", optarg, 0, INT_MAX)))
                return err;
            break;
        case 's': o->shared = 1; break;
        case OPT_TTL:
            if ((err = duration_arg(&o->ttl_ms, "--ttl", optarg, 1, INT64_MAX)))
                return err;
            break;
        case 'E': {
            int64_t code = cli_parse_uint(optarg, 255);
            if (code < 0)
                return cli_usage("run", "bad exit code '%s' for -E (use 0 to 255)", optarg);
            o->busy_code = (int)code;
            break;
        }
        case OPT_CHECK:
            if ((err = duration_arg(&o->check_ms, "--check-every", optarg, 1, INT_MAX)))
                return err;
            break;
        case OPT_GRACE:
            if ((err = duration_arg(&o->grace_ms, "--grace", optarg, 0, INT_MAX)))
                return err;
            break;
        case 'v': cli->verbose = 1; break;
        case OPT_URL: cli->url = optarg; break;
        case OPT_KEY:
            if (cli_parse_key(&o->key, optarg) != 0)
                return cli_usage("run",
                                 "bad --key '%s' (use N, a bigint, or A/B, two "
                                 "integers, as pg_advisory_lock takes them)",
                                 optarg);
            has_key = 1;
            break;
        case 'h': *help = 1; return 0;
        default: return cli_bad_option("run", c, argv);
        }
    }
    if (nonblock && waits)
        return cli_usage("run", "-n and -w exclude each other");
    if (nonblock)
        o->wait_ms = 0;
    if (optind == dashdash && !has_key)
        return cli_usage("run", "missing NAME (or --key)");
    if (dashdash == argc)
        return cli_usage("run", "missing -- before PROGRAM");
    if (has_key && optind < dashdash)
        return cli_usage("run", "give NAME or --key, not both ('%s' before --)", argv[optind]);
    if (dashdash - optind > SQLLOCK_ACQUIRE_ALL_MAX)
        return cli_usage("run", "%d NAMEs; at most %d are taken at once", dashdash - optind,
                         SQLLOCK_ACQUIRE_ALL_MAX);
    if (has_key && o->ttl_ms > 0)
        return cli_usage("run", "--ttl takes a lease, and leases are named: give NAME, "
                                "not --key");
    if (has_key) {
        char k[32];
        cli_key_format(k, sizeof(k), &o->key);
        snprintf(o->what, sizeof(o->what), "lock key %s", k);
    } else {
        o->names = (const char *const *)argv + optind;
        o->nnames = dashdash - optind;
        o->name = o->names[0];
        for (int i = 0; i < o->nnames; i++)
            if (!*o->names[i] || strlen(o->names[i]) > SQLLOCK_NAME_MAX)
                return cli_usage("run", "NAME must be 1 to %d bytes", SQLLOCK_NAME_MAX);
        o->key.key = sqllock_advisory_key(o->name);
        describe_names(o);
    }
    if (dashdash + 1 == argc)
        return cli_usage("run", "missing PROGRAM after --");
    o->program = argv + dashdash + 1;
    return 0;
}
