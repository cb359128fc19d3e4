/* SPDX-License-Identifier: MIT */
/* What the fuzz targets share: a check that aborts, so libFuzzer keeps the
   input that broke a property, with the line that says which. */
#ifndef SQLLOCK_FUZZ_H
#define SQLLOCK_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);                          \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

#endif
