/* SPDX-License-Identifier: MIT */
/* The harness's runner; see harness.h. */
#include <stdarg.h>
#include <stdlib.h>

#include "harness.h"

int t_failed;
int t_skipped;

void t_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    t_failed = 1;
}

void t_skip(const char *why)
{
    fprintf(stderr, "skipped: %s\n", why);
    t_skipped = 1;
}

static int run(const struct tcase *tc)
{
    t_failed = t_skipped = 0;
    printf("case %s: proves %s\n", tc->name, tc->proves);
    fflush(stdout);
    tc->fn();
    printf("case %s: %s\n", tc->name, t_failed ? "FAILED" : t_skipped ? "skipped" : "passed");
    fflush(stdout);
    return t_failed ? 1 : t_skipped ? 77 : 0;
}

int t_main(int argc, char **argv, const struct tcase *cases, size_t n)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", cases[i].name);
        return 0;
    }
    if (argc == 2) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(argv[1], cases[i].name) == 0)
                return run(&cases[i]);
        fprintf(stderr, "no case named %s\n", argv[1]);
        return 2;
    }
    int failed = 0, passed = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        int r = run(&cases[i]);
        failed += r == 1;
        skipped += r == 77;
        passed += r == 0;
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : skipped ? 77 : 0;
}
