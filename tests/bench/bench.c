/* SPDX-License-Identifier: MIT */
/*
 * bench: every benchmark of sqllock side by side with its baseline, in one
 * run. ci/bench starts a throwaway PostgreSQL and calls this with the table
 * of backends; each scenario (sc_*.c) runs against each backend row and
 * prints figures as a table for people and, with --json, one JSON line per
 * figure for tools. It reports and never judges: the exit status says only
 * whether everything could run.
 *
 * Usage: bench [--quick] [--json FILE] [--rounds R] [--seconds S]
 *              [--pgbench PATH] [--psql PATH] [--psql-wrapper PATH] [--cli PATH]
 *              [--only a,b]
 *              --backend LABEL URL BASELINE FLAGS [--backend ...]
 *   BASELINE: a libpq conninfo to the same server for the hand-written
 *             baselines, or "-"; FLAGS: comma list of pgbench, cli, or "-".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios.h"

#define MAX_BACKENDS 8

static const struct {
    const char *name, *title;
    int (*run)(const struct bench_cfg *cfg, const struct bench_backend *b);
} scenarios[] = {
    {"uncontended", "1. uncontended acquire+release (own name per client)", sc_uncontended},
    {"contended", "2. contended: N processes, one name, wait forever; handoff", sc_contended},
    {"names", "3. many names: one pair while K other locks are held", sc_names},
    {"memory", "4. memory (mallinfo2, main arena)", sc_memory},
    {"cli", "5. the command: process wall time", sc_cli},
    {"lease",
     "6. leases beside advisory locks, in turns (sc: the session's synchronous_commit)\n"
     "   cl: clients (pairs); waiters on one name (handoff_us: next acquire returned -\n"
     "   release returned; stmts_handoff: pg_stat_database xacts per handoff); names,\n"
     "   one waiter each (to_waiter_us: release called -> its waiter's acquire returned;\n"
     "   woken_*: of the other waiters, those that in the 300 ms after it sent a statement\n"
     "   (pg_stat_activity.query_start), or whose client or backend process woke (/proc))",
     sc_lease},
    {"eventloop",
     "7. one thread and an event loop vs one thread per client: 100 clients, 10 names\n"
     "   (--quick: 20 clients, 4 names); client i takes name i % names, releases at once;\n"
     "   handoff_us: per name, next grant returned - release returned (rel-ret) or called\n"
     "   (rel-call); rss_per_client: resident set after the run - before connecting, / clients\n"
     "   (thread stacks included); cpu_us_per_acq: the process's user + system CPU per grant",
     sc_eventloop},
    {"acquire_all",
     "8. several names at once: sqllock_acquire_all of K free names vs K sqllock_acquire,\n"
     "   one client, in turns; a try (one statement over libpq) and a wait (lock by lock);\n"
     "   sets_per_s of acquire + K releases; ratio > 1: acquire_all is faster",
     sc_acquire_all},
};
#define NSCEN (sizeof(scenarios) / sizeof(scenarios[0]))

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--quick] [--json FILE] [--rounds 1-%d] [--seconds S] "
            "[--pgbench PATH] [--psql PATH] [--psql-wrapper PATH] [--cli PATH] [--only a,b] "
            "--backend LABEL URL BASELINE|- FLAGS|- ...\n",
            argv0, BENCH_MAX_ROUNDS);
    return 2;
}

static int has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; p && *p;) {
        if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return 1;
        p = strchr(p, ',');
        p = p ? p + 1 : NULL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct bench_cfg cfg = {.pgbench = "pgbench", .scripts = BENCH_SCRIPTS_DIR};
    struct bench_backend be[MAX_BACKENDS];
    int nbe = 0;
    const char *json = NULL, *only = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (strcmp(a, "--quick") == 0) {
            cfg.quick = 1;
        } else if (strcmp(a, "--json") == 0 && more) {
            json = argv[++i];
        } else if (strcmp(a, "--rounds") == 0 && more) {
            cfg.rounds = atoi(argv[++i]);
            if (cfg.rounds < 1 || cfg.rounds > BENCH_MAX_ROUNDS - 2)
                return usage(argv[0]);
        } else if (strcmp(a, "--seconds") == 0 && more) {
            cfg.seconds = atof(argv[++i]);
            if (!(cfg.seconds >= 0.05 && cfg.seconds <= 60))
                return usage(argv[0]);
        } else if (strcmp(a, "--pgbench") == 0 && more) {
            cfg.pgbench = argv[++i];
        } else if (strcmp(a, "--psql") == 0 && more) {
            cfg.psql = argv[++i];
        } else if (strcmp(a, "--psql-wrapper") == 0 && more) {
            cfg.psql_wrapper = argv[++i];
        } else if (strcmp(a, "--cli") == 0 && more) {
            cfg.cli = argv[++i];
        } else if (strcmp(a, "--only") == 0 && more) {
            only = argv[++i];
        } else if (strcmp(a, "--backend") == 0 && i + 4 < argc && nbe < MAX_BACKENDS) {
            struct bench_backend *b = &be[nbe++];
            b->label = argv[i + 1];
            b->url = argv[i + 2];
            b->baseline = strcmp(argv[i + 3], "-") ? argv[i + 3] : NULL;
            b->pgbench = has_word(argv[i + 4], "pgbench") && b->baseline;
            b->cli = has_word(argv[i + 4], "cli");
            i += 4;
        } else {
            return usage(argv[0]);
        }
    }
    if (nbe == 0)
        return usage(argv[0]);
    if (!cfg.rounds)
        cfg.rounds = cfg.quick ? 1 : 5;
    if (!(cfg.seconds > 0))
        cfg.seconds = cfg.quick ? 0.25 : 0.5;
    if (figures_open(json) != 0)
        return 1;

    printf("%d round(s) of %.2f s per side, sides interleaved; medians of rounds, "
           "p50/p99 over every sample; ratio = sqllock / baseline, median of per-round "
           "ratios\n",
           cfg.rounds, cfg.seconds);
    int failed = 0;
    for (size_t s = 0; s < NSCEN; s++) {
        if (only && !has_word(only, scenarios[s].name))
            continue;
        figure_section(scenarios[s].title);
        for (int i = 0; i < nbe; i++)
            if (scenarios[s].run(&cfg, &be[i]) != 0) {
                fprintf(stderr, "bench: %s on %s failed\n", scenarios[s].name, be[i].label);
                failed = 1;
            }
    }
    figures_close();
    printf("\n%d figures%s\n", figures_emitted(), failed ? "; SOME SCENARIOS FAILED" : "");
    return failed || figures_emitted() == 0 ? 1 : 0;
}
