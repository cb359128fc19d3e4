/* SPDX-License-Identifier: MIT */
/*
 * What the command says and how: every complaint is one line on stderr
 * starting with "sqllock: ", so that a log shows one line per failure and a
 * script can show it as is. libpq's messages span several lines (a reason,
 * then tab-indented hints); they are folded into that one line here. Also
 * the one mapping from a failed library call to the exit status.
 */
#include <getopt.h>
#include <stdarg.h>
#include <string.h>

#include "cli.h"

CLI_PRINTF(1, 0) static void vsay(const char *fmt, va_list ap)
{
    char msg[2048], line[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t o = 0;
    for (size_t i = 0; msg[i] && o + 3 < sizeof(line);) {
        if (msg[i] != '\n') {
            line[o++] = msg[i] == '\t' || msg[i] == '\r' ? ' ' : msg[i];
            i++;
            continue;
        }
        while (msg[i] == '\n' || msg[i] == '\t' || msg[i] == ' ' || msg[i] == '\r')
            i++;
        if (msg[i]) {
            line[o++] = ';';
            line[o++] = ' ';
        }
    }
    while (o && line[o - 1] == ' ')
        o--;
    line[o] = '\0';
    fprintf(stderr, "sqllock: %s\n", line);
}

void cli_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
}

int cli_fail(const sqllock_client *c, sqllock_status st)
{
    cli_err("%s", sqllock_errmsg(c));
    if (st == SQLLOCK_EINVAL || st == SQLLOCK_ENOTSUP)
        return CLI_EXIT_USAGE;
    const char *code = sqllock_errcode(c);
    if (strcmp(code, "42501") == 0 || strcmp(code, "25006") == 0)
        return CLI_EXIT_NOPERM;
    return CLI_EXIT_UNAVAILABLE;
}

int cli_usage(const char *command, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (command)
        cli_err("%s: %s; see 'sqllock %s --help'", command, msg, command);
    else
        cli_err("%s; see 'sqllock --help'", msg);
    return CLI_EXIT_USAGE;
}

int cli_bad_option(const char *command, int c, char **argv)
{
    const char *arg = argv[optind - 1];
    if (c == ':')
        return cli_usage(command, "option '%s' needs a value", arg);
    if (optopt && arg[0] == '-' && arg[1] != '-')
        return cli_usage(command, "unknown option '-%c'", optopt);
    return cli_usage(command, "unknown option '%s'", arg);
}
