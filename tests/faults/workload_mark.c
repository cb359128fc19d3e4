/* SPDX-License-Identifier: MIT */
/*
 * For fault injectors (shell scripts), which have no CLOCK_MONOTONIC:
 *   workload_mark --now                  prints the monotonic time in ns
 *   workload_mark HISTORY PROC EVENT NAME DETAIL [AT_NS]
 *                                        appends one history line (history.h)
 *                                        stamped now, or at AT_NS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"

int main(int argc, char **argv)
{
    struct hist_line probe;
    int fd;

    if (argc == 2 && strcmp(argv[1], "--now") == 0) {
        printf("%lld\n", (long long)hist_mono_ns());
        return 0;
    }
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: workload_mark --now | workload_mark HISTORY PROC EVENT"
                        " NAME DETAIL [AT_NS]\n");
        return 2;
    }
    /* Checked through the parser, so that a typo fails here, not in the checker. */
    char line[4 * HIST_FIELD_MAX];
    snprintf(line, sizeof line, "1\t%s\t%s\t%s\t-\t-\t%s", argv[2], argv[3], argv[4], argv[5]);
    if (hist_parse(line, &probe) != 0) {
        fprintf(stderr, "workload_mark: not a valid history line: %s\n", line);
        return 2;
    }
    if ((fd = hist_open(argv[1])) < 0) {
        perror(argv[1]);
        return 1;
    }
    return hist_write(fd, argc == 7 ? atoll(argv[6]) : 0, argv[2], probe.event, argv[4], -1,
                      NULL, argv[5]) == 0
               ? 0
               : 1;
}
