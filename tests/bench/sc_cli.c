/* SPDX-License-Identifier: MIT */
/*
 * Scenario 5, the command: wall time of one `sqllock run -n NAME -- true`
 * (a process that connects, takes the lock, runs a child, releases) against
 * `psql -X -c "select pg_advisory_lock(hashtextextended('NAME', 0))"`, run
 * both as the psql binary itself and as users type it (on Debian, a Perl
 * wrapper that picks the binary), and against a bare libpq connect and
 * close in this process, the floor of any client. All run in turns; the
 * ratios are taken per turn.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "scenarios.h"

#define MAX_RUNS 100

struct cli_side {
    const char *label;
    char **argv; /* NULL: a bare PQconnectdb in this process */
    struct samples ns;
    double ratio[MAX_RUNS]; /* sqllock / this, per turn */
};

static double timed(const struct cli_side *s, const char *conninfo)
{
    int64_t t0 = bench_now_ns();
    if (s->argv) {
        int rc = run_program(s->argv, NULL, 0, 0);
        if (rc != 0) {
            fprintf(stderr, "bench: cli: %s exited %d\n", s->argv[0], rc);
            return -1;
        }
    } else {
        PGconn *conn = PQconnectdb(conninfo);
        int ok = conn && PQstatus(conn) == CONNECTION_OK;
        PQfinish(conn);
        if (!ok) {
            fprintf(stderr, "bench: cli: PQconnectdb failed\n");
            return -1;
        }
    }
    return (double)(bench_now_ns() - t0);
}

int sc_cli(const struct bench_cfg *cfg, const struct bench_backend *b)
{
    if (!b->cli || !cfg->cli || !cfg->psql || !b->baseline)
        return 0;
    char name[64], sql[160];
    snprintf(name, sizeof(name), "bench-cli-%ld", (long)getpid());
    snprintf(sql, sizeof(sql), "select pg_advisory_lock(hashtextextended('%s', 0))", name);
    char *cli[] = {(char *)cfg->cli, "--url", (char *)b->url, "run", "-n", name, "--",
                   "true",           NULL};
    char *psql[] = {(char *)cfg->psql,   "-X", "-q", "-At", "-d",
                    (char *)b->baseline, "-c", sql,  NULL};
    char *wrapped[] = {(char *)cfg->psql_wrapper, "-X", "-q", "-At", "-d",
                       (char *)b->baseline,       "-c", sql,  NULL};
    struct cli_side sides[4] = {
        {"sqllock run", cli, {0}, {0}},
        {"psql (binary)", psql, {0}, {0}},
        {"PQconnectdb", NULL, {0}, {0}},
        {"psql (wrapper)", wrapped, {0}, {0}},
    };
    int nsides = cfg->psql_wrapper ? 4 : 3, runs = cfg->quick ? 3 : 30, ok = 1;
    for (int i = 0; i < nsides && ok; i++) /* warm caches */
        ok = timed(&sides[i], b->baseline) > 0;
    for (int r = 0; r < runs && ok; r++) {
        double t[4];
        for (int i = 0; i < nsides && ok; i++)
            ok = (t[i] = timed(&sides[i], b->baseline)) > 0 &&
                 samples_add(&sides[i].ns, (int64_t)t[i]) == 0;
        for (int i = 0; i < nsides && ok; i++)
            sides[i].ratio[r] = t[0] / t[i];
    }
    for (int i = 0; i < nsides; i++)
        samples_sort(&sides[i].ns);
    for (int i = 1; i < nsides && ok; i++) {
        struct figure f = {"cli",
                           b->label,
                           1,
                           sides[0].label,
                           "wall_ms",
                           samples_pct(&sides[0].ns, 0.5) / 1e6,
                           samples_pct(&sides[0].ns, 0.5) / 1e3,
                           samples_pct(&sides[0].ns, 0.99) / 1e3,
                           sides[i].label,
                           samples_pct(&sides[i].ns, 0.5) / 1e6,
                           median_d(sides[i].ratio, runs)};
        figure_emit(&f);
    }
    for (int i = 1; i < nsides && ok; i++) {
        struct figure g = {"cli",
                           b->label,
                           1,
                           sides[i].label,
                           "wall_ms",
                           samples_pct(&sides[i].ns, 0.5) / 1e6,
                           samples_pct(&sides[i].ns, 0.5) / 1e3,
                           samples_pct(&sides[i].ns, 0.99) / 1e3,
                           NULL,
                           NAN,
                           NAN};
        figure_emit(&g);
    }
    for (int i = 0; i < nsides; i++)
        samples_free(&sides[i].ns);
    return ok ? 0 : -1;
}
