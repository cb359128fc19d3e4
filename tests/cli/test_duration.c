/* SPDX-License-Identifier: MIT */
/*
 * Proves the DURATION parser of the sqllock command on its own: every form
 * the man page lists, the boundaries of int64 milliseconds, and the refusal
 * of signs, fractions, spaces, unknown units, trailing junk and overflow.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"

int main(void)
{
    static const struct {
        const char *in;
        int64_t ms;
    } good[] = {
        {"0", 0},
        {"250ms", 250},
        {"10s", 10000},
        {"5m", 300000},
        {"1h", 3600000},
        {"30", 30000},
        {"0ms", 0},
        {"007s", 7000},
        {"9223372036854775807ms", INT64_MAX},
        {"9223372036854775s", INT64_C(9223372036854775000)},
        {"2562047788015h", INT64_C(2562047788015) * 3600000},
    };
    static const char *const bad[] = {
        "",
        "-1",
        "+1",
        "1.5",
        "1e3",
        ".5s",
        "10x",
        "5 s",
        " 5s",
        "5s ",
        "s",
        "ms",
        "1sec",
        "1S",
        "1H",
        "0x10",
        "1h1m",
        "1m30s",
        "9223372036854775808ms",
        "9223372036854776s",
        "2562047788016h",
        "99999999999999999999",
        "153722867280912931m",
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t ms = -1;
        if (cli_parse_duration(&ms, good[i].in) != 0 || ms != good[i].ms) {
            printf("not ok - \"%s\": got %" PRId64 ", want %" PRId64 "\n", good[i].in, ms,
                   good[i].ms);
            failed = 1;
        }
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = -1;
        if (cli_parse_duration(&ms, bad[i]) == 0) {
            printf("not ok - \"%s\" accepted as %" PRId64 "\n", bad[i], ms);
            failed = 1;
        }
    }
    printf("%s - %zu accepted, %zu refused\n", failed ? "FAIL" : "ok",
           sizeof(good) / sizeof(good[0]), sizeof(bad) / sizeof(bad[0]));
    return failed;
}
