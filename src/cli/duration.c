/* SPDX-License-Identifier: MIT */
/*
 * Durations on the command line: "250ms", "10s", "5m", "1h" or a bare number
 * of seconds. Whole numbers only, so that "0.5" or "1e3" is refused rather
 * than read as something the user did not mean; every multiplication is
 * checked, because a wrapped value would turn "wait a long time" into "do
 * not wait".
 */
#include <stdint.h>
#include <string.h>

#include "cli.h"

int cli_parse_duration(int64_t *ms, const char *s)
{
    static const struct {
        const char *suffix;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"", 1000}, {"m", 60000}, {"h", 3600000}};

    size_t digits = strspn(s, "0123456789");
    if (digits == 0)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < digits; i++) {
        if (n > (INT64_MAX - (s[i] - '0')) / 10)
            return -1;
        n = n * 10 + (s[i] - '0');
    }
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        if (strcmp(s + digits, units[u].suffix) != 0)
            continue;
        if (n > INT64_MAX / units[u].ms)
            return -1;
        *ms = n * units[u].ms;
        return 0;
    }
    return -1;
}
