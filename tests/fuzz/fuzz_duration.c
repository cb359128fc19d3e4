/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the command line's number parsers (src/cli/duration.c,
 * src/cli/text.c). cli_parse_duration must accept exactly
 * <digits>[ms|s|m|h] whose value in milliseconds fits an int64_t, and give
 * that value: a wrapped or negative result would turn "wait a long time"
 * into "do not wait". cli_parse_uint must accept exactly 1..18 digits not
 * above max. Both are checked against a plain reference computed in 128
 * bits, so an overflow in the parser cannot hide in the reference too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The value of the leading digits of s, saturated above INT64_MAX. */
static __int128 digits_value(const char *s, size_t n)
{
    __int128 v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
        if (v > INT64_MAX)
            v = (__int128)INT64_MAX + 1;
    }
    return v;
}

static void check_duration(const char *s)
{
    size_t n = strspn(s, "0123456789");
    const char *unit = s + n;
    __int128 scale = !strcmp(unit, "ms")                       ? 1
                     : !strcmp(unit, "") || !strcmp(unit, "s") ? 1000
                     : !strcmp(unit, "m")                      ? 60000
                     : !strcmp(unit, "h")                      ? 3600000
                                                               : 0;
    __int128 want = n && scale ? digits_value(s, n) * scale : -1;
    int ok = want >= 0 && want <= INT64_MAX;

    int64_t ms = -42;
    int r = cli_parse_duration(&ms, s);
    if (ok) {
        CHECK(r == 0 && ms == (int64_t)want);
    } else {
        CHECK(r == -1 && ms == -42); /* refused, and the output left alone */
    }
}

static void check_uint(const char *s, int64_t max)
{
    size_t n = strspn(s, "0123456789");
    int ok = n >= 1 && n <= 18 && s[n] == '\0' && digits_value(s, n) <= max;
    int64_t v = cli_parse_uint(s, max);
    CHECK(ok ? v == (int64_t)digits_value(s, n) : v == -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 || memchr(data, '\0', size))
        return 0;
    char s[257];
    memcpy(s, data, size);
    s[size] = '\0';
    check_duration(s);
    check_uint(s, 255);
    check_uint(s, INT64_MAX);
    return 0;
}
