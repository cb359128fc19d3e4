/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: `sqllock run`'s command line (src/cli/run_opts.c). The
 * input is split at NUL bytes into arguments after "run". Whatever they
 * are, the parser must return 0 or the usage status (64), never read past
 * argv, and on 0 describe a run that can happen: a NAME of 1 to
 * SQLLOCK_NAME_MAX bytes taken from before "--" (or, with --key, no NAME
 * and no --ttl, since leases are named), a PROGRAM after it, and
 * every duration within its option's range (a wrapped value would turn
 * "wait a little" into "wait for ever" or "do not check").
 *
 * The command's message functions are replaced here: they format the
 * message (so a format mistake still shows) and drop it, instead of
 * printing one stderr line per input.
 */
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

void cli_err(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
}

int cli_usage(const char *command, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cli_err("%s: %s", command ? command : "", msg);
    return CLI_EXIT_USAGE;
}

int cli_bad_option(const char *command, int c, char **argv)
{
    /* What message.c reads: the argument getopt stopped at. */
    return cli_usage(command, "bad option %d '%s'", c, argv[optind - 1]);
}

#define ARGS_MAX 24

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *buf = malloc(size + 1);
    CHECK(buf);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[ARGS_MAX + 2] = {"run"};
    int argc = 1;
    for (char *p = buf; p <= buf + size && argc <= ARGS_MAX; p += strlen(p) + 1)
        argv[argc++] = p;
    argv[argc] = NULL;

    struct cli cli = {0};
    struct run_opts o;
    int help = 0;
    int rc = run_opts_parse(&cli, &o, argc, argv, &help);
    CHECK(rc == 0 || rc == CLI_EXIT_USAGE);
    if (rc == 0 && !help) {
        int dashdash = 1;
        while (dashdash < argc && strcmp(argv[dashdash], "--") != 0)
            dashdash++;
        CHECK(dashdash + 1 < argc && o.program == argv + dashdash + 1 && o.program[0]);
        int from_before = 0;
        for (int i = 1; i < dashdash; i++)
            from_before |= o.name == argv[i];
        if (o.name)
            CHECK(from_before && o.name[0] && strlen(o.name) <= SQLLOCK_NAME_MAX &&
                  !o.key.pair && o.key.key == sqllock_advisory_key(o.name));
        else
            CHECK(strncmp(o.what, "lock key ", 9) == 0 && o.ttl_ms == 0);
        CHECK(o.wait_ms == SQLLOCK_WAIT_FOREVER || (o.wait_ms >= 0 && o.wait_ms <= INT_MAX));
        CHECK(o.ttl_ms >= 0);
        CHECK(o.check_ms >= 1 && o.check_ms <= INT_MAX);
        CHECK(o.grace_ms >= 0 && o.grace_ms <= INT_MAX);
        CHECK(o.busy_code >= 0 && o.busy_code <= 255);
    }
    free(buf);
    return 0;
}
