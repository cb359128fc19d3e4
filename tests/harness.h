/* SPDX-License-Identifier: MIT */
/*
 * A small test harness: a test binary holds a table of named cases, each
 * with a sentence saying what it proves. `test_x NAME` runs one case (ctest
 * registers each as its own test), `test_x` runs all, `test_x --list` lists
 * them. A failed check prints where and why and ends the case.
 */
#ifndef SQLLOCK_TEST_HARNESS_H
#define SQLLOCK_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>

#include "sqllock.h"

struct tcase {
    const char *name;
    void (*fn)(void);
    const char *proves;
};

/* Set by a failed check; a case returns as soon as it sees it. */
extern int t_failed;
void t_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Marks the case skipped (exit 77), which CI turns into a failure. */
void t_skip(const char *why);
extern int t_skipped;

int t_main(int argc, char **argv, const struct tcase *cases, size_t n);
#define T_MAIN(cases)                                                                           \
    int main(int argc, char **argv)                                                             \
    {                                                                                           \
        return t_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));                     \
    }

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            t_fail(__FILE__, __LINE__, "check failed: %s", #cond);                              \
            return;                                                                             \
        }                                                                                       \
    } while (0)

#define CHECKF(cond, ...)                                                                       \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            t_fail(__FILE__, __LINE__, __VA_ARGS__);                                            \
            return;                                                                             \
        }                                                                                       \
    } while (0)

/* CHECK and CHECKF for helpers that return 1 (passed) or 0. */
#define CHECK_R(cond) CHECKF_R(cond, "check failed: %s", #cond)
#define CHECKF_R(cond, ...)                                                                     \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            t_fail(__FILE__, __LINE__, __VA_ARGS__);                                            \
            return 0;                                                                           \
        }                                                                                       \
    } while (0)

/* expr must return the sqllock_status want; c (may be NULL) explains why not. */
#define CHECK_ST(expr, want, c)                                                                 \
    do {                                                                                        \
        sqllock_status got_ = (expr);                                                           \
        if (got_ != (want)) {                                                                   \
            t_fail(__FILE__, __LINE__, "%s returned %d (%s), expected %d (%s): %s", #expr,      \
                   got_, sqllock_status_str(got_), (want), sqllock_status_str(want),            \
                   sqllock_errmsg(c));                                                          \
            return;                                                                             \
        }                                                                                       \
    } while (0)

/* CHECK_ST for helpers that return 1 (passed) or 0. */
#define CHECK_ST_R(expr, want, c)                                                               \
    do {                                                                                        \
        sqllock_status got_ = (expr);                                                           \
        CHECKF_R(got_ == (want), "%s returned %d (%s), expected %d (%s): %s", #expr, got_,      \
                 sqllock_status_str(got_), (want), sqllock_status_str(want),                    \
                 sqllock_errmsg(c));                                                            \
    } while (0)

#endif
