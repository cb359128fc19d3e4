/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: lock names of arbitrary bytes through the name rules.
 * The advisory key (sqllock_advisory_key) is the lookup3 hash of the bytes
 * up to the first NUL, the same on every call, and equal to the internal
 * sqllock__hashtext64 it is built on. The SQL Server resource
 * (sqllock__mssql_resource) must fit nvarchar(255): at most 255 UTF-16 units of
 * valid UTF-8; a name SQL Server can hold exactly (valid UTF-8, 1..255
 * units, no trailing space, not starting with the hash prefix) is sent as
 * it is, anything else becomes the prefix and 64 hex digits of its SHA-256;
 * and sqllock__mssql_utf16 must convert the resource completely. The checks here are
 * written independently of src/mssql_name.c, so that they can disagree.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sqllock.h"
#include "sqllock_int.h"
#ifdef SQLLOCK_WITH_ODBC
#include "odbc_int.h" /* the SQL Server mapping is built with ODBC only */
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef SQLLOCK_WITH_ODBC
/* UTF-16 units of s, or -1 when s is not strict UTF-8 (RFC 3629). */
static long utf16_units(const unsigned char *s, size_t len)
{
    long units = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80)
            n = 1, cp = c;
        else if (c >= 0xc2 && c <= 0xdf)
            n = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 4, cp = c & 0x07;
        else
            return -1;
        if (n > len - i)
            return -1;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return -1;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        units += cp >= 0x10000 ? 2 : 1;
        i += n;
    }
    return units;
}

static void check_resource(const char *name, size_t len)
{
    char out[MSSQL_RESOURCE_MAX + 1], again[MSSQL_RESOURCE_MAX + 1];
    memset(out, 0x5a, sizeof(out));
    size_t n = sqllock__mssql_resource(name, len, out);
    CHECK(n <= MSSQL_RESOURCE_MAX && out[n] == '\0' && strlen(out) == n);
    CHECK(sqllock__mssql_resource(name, len, again) == n && memcmp(out, again, n) == 0);

    long units = utf16_units((const unsigned char *)out, n);
    CHECK(units >= 1 && units <= 255);

    size_t plen = strlen(MSSQL_HASH_PREFIX);
    long in_units = utf16_units((const unsigned char *)name, len);
    int exact = len > 0 && in_units >= 1 && in_units <= 255 && name[len - 1] != ' ' &&
                !(len >= plen && memcmp(name, MSSQL_HASH_PREFIX, plen) == 0);
    if (exact) {
        CHECK(n == len && memcmp(out, name, len) == 0);
    } else {
        CHECK(n == plen + 64 && memcmp(out, MSSQL_HASH_PREFIX, plen) == 0);
        CHECK(strspn(out + plen, "0123456789abcdef") == 64);
    }

    SQLWCHAR w[256];
    CHECK(sqllock__mssql_utf16(out, n, w, 256) == (size_t)units);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SQLLOCK_NAME_MAX + 64)
        return 0;
    char name[SQLLOCK_NAME_MAX + 65];
    memcpy(name, data, size);
    name[size] = '\0';
    size_t len = strlen(name); /* what the C API sees: up to the first NUL */

    int64_t key = sqllock_advisory_key(name);
    CHECK(key == sqllock_advisory_key(name));
    CHECK((uint64_t)key == sqllock__hashtext64((const unsigned char *)name, len));
    /* The internal hash takes any bytes, NULs included. */
    CHECK(sqllock__hashtext64(data, size) == sqllock__hashtext64(data, size));

#ifdef SQLLOCK_WITH_ODBC
    if (len <= SQLLOCK_NAME_MAX)
        check_resource(name, len);
#endif
    return 0;
}
