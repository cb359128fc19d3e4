/* SPDX-License-Identifier: MIT */
/*
 * `sqllock once NAME [-w DURATION] -- PROGRAM`: runs PROGRAM once across
 * every machine that runs this command with the same NAME on the same
 * database (sqllock_run_once): one runs it, the others wait and then skip
 * it; once it has exited 0, later calls skip it. `--forget NAME` removes the
 * done marker, so that the next call runs PROGRAM again. A PROGRAM that
 * exited 0 but whose marker could not be recorded has its own exit status,
 * because every later call will run it again.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

const char cmd_once_help[] =
    "usage: sqllock once NAME [-w DURATION] -- PROGRAM [ARGS...]\n"
    "       sqllock once --forget NAME\n"
    "\n"
    "Runs PROGRAM once for NAME across every machine that calls this at the\n"
    "same time or later: one caller runs it while holding the lock NAME, the\n"
    "others wait for it; when PROGRAM exits 0 a done marker is recorded in the\n"
    "database (table sqllock_once) and every later call exits 0 at once without\n"
    "running it. When PROGRAM fails or its runner dies, nothing is recorded\n"
    "and the next caller (or a waiting one) runs it. If sqllock itself is\n"
    "killed, PROGRAM gets SIGTERM.\n"
    "\n"
    "Options:\n"
    "  -w, --wait DURATION  wait at most this long for another runner\n"
    "                       (default: as long as it takes); 250ms, 10s, 5m, 1h\n"
    "      --forget         remove the done marker of NAME and exit\n"
    "      --url URL        the database (default: $SQLLOCK_URL, $DATABASE_URL)\n"
    "  -v, --verbose        say on stderr what is happening\n"
    "  -h, --help           this help\n"
    "\n"
    "Exit status: PROGRAM's when it ran; 0 when it had already been done (or\n"
    "--forget succeeded); 73 when PROGRAM exited 0 but the done marker could\n"
    "not be recorded (the next call runs it again); 75 when another runner\n"
    "did not finish within -w; 64 usage; 69 the database cannot be reached;\n"
    "77 the role may not use the run-once table, or the database is read-only.\n";

enum { OPT_URL = 256, OPT_FORGET };
static const struct option long_opts[] = {
    {"help", no_argument, NULL, 'h'},          {"verbose", no_argument, NULL, 'v'},
    {"wait", required_argument, NULL, 'w'},    {"forget", no_argument, NULL, OPT_FORGET},
    {"url", required_argument, NULL, OPT_URL}, {NULL, 0, NULL, 0},
};

struct program {
    char **argv;
    int status; /* PROGRAM's exit status, as a shell reports it */
};

/* fn of sqllock_run_once: runs PROGRAM to its end; 0 when it exited 0. */
static int run_program(void *payload)
{
    struct program *p = payload;
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        cli_err("cannot fork: %s", strerror(errno));
        p->status = CLI_EXIT_OSERR;
        return 1;
    }
    if (pid == 0) {
        /* Our death frees the lock at once: PROGRAM must not go on. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
            _exit(128 + SIGTERM);
        execvp(p->argv[0], p->argv);
        int e = errno;
        cli_err("cannot run '%s': %s", p->argv[0], strerror(e));
        _exit(e == ENOENT ? CLI_EXIT_NOTFOUND : CLI_EXIT_NOEXEC);
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0) {
        if (errno != EINTR) {
            p->status = CLI_EXIT_OSERR;
            return 1;
        }
    }
    p->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    return p->status != 0;
}

static int forget(struct cli *cli, sqllock_client *c, const char *name)
{
    int existed = 0;
    sqllock_status st = sqllock_once_forget(&existed, c, name);
    if (st != SQLLOCK_OK)
        return cli_fail(c, st);
    if (cli->verbose)
        cli_err(existed ? "forgot that \"%s\" was done" : "\"%s\" was not marked done", name);
    return 0;
}

int cmd_once(struct cli *cli, int argc, char **argv)
{
    int ch, forgetting = 0;
    int64_t wait_ms = SQLLOCK_WAIT_FOREVER;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "+:hvw:", long_opts, NULL)) != -1) {
        if (ch == 'h') {
            fputs(cmd_once_help, stdout);
            return 0;
        } else if (ch == 'v') {
            cli->verbose = 1;
        } else if (ch == 'w') {
            if (cli_parse_duration(&wait_ms, optarg) != 0 || wait_ms > 2147483647)
                return cli_usage("once",
                                 "bad duration '%s' for --wait (e.g. 250ms, 10s, "
                                 "5m, 1h; at most 24 days)",
                                 optarg);
        } else if (ch == OPT_URL) {
            cli->url = optarg;
        } else if (ch == OPT_FORGET) {
            forgetting = 1;
        } else {
            return cli_bad_option("once", ch, argv);
        }
    }
    if (optind == argc)
        return cli_usage("once", "missing NAME");
    const char *name = argv[optind++];
    if (forgetting && optind < argc)
        return cli_usage("once", "--forget takes NAME only");
    if (!forgetting) {
        if (optind == argc || strcmp(argv[optind], "--") != 0)
            return cli_usage("once", "expected -- PROGRAM after NAME");
        if (++optind == argc)
            return cli_usage("once", "missing PROGRAM after --");
    }
    sqllock_client *c;
    int code = cli_connect(&c, cli, "once");
    if (code)
        return code;
    if (forgetting) {
        code = forget(cli, c, name);
        sqllock_client_free(c);
        return code;
    }
    struct program p = {argv + optind, 0};
    int ran = SQLLOCK_RAN_NONE;
    sqllock_status st = sqllock_run_once(&ran, c, name, wait_ms, run_program, &p);
    if (ran == SQLLOCK_RAN_NOT_RECORDED) {
        cli_err("\"%s\" ran (exit 0) but was not recorded as done, so the next call runs it "
                "again: %s",
                name, sqllock_errmsg(c));
        code = CLI_EXIT_CANTCREAT;
    } else if (st == SQLLOCK_OK) {
        code = ran ? p.status : 0;
        if (cli->verbose && ran)
            cli_err("ran \"%s\": exit %d", name, p.status);
        else if (cli->verbose)
            cli_err("\"%s\" was already done", name);
    } else if (st == SQLLOCK_BUSY || st == SQLLOCK_TIMEOUT) {
        if (cli->verbose)
            cli_err("\"%s\" is being run elsewhere and did not finish in time", name);
        code = CLI_EXIT_BUSY;
    } else {
        code = cli_fail(c, st);
    }
    sqllock_client_free(c);
    return code;
}
