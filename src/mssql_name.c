/* SPDX-License-Identifier: MIT */
/*
 * Lock names as SQL Server resources (the rule is documented in
 * <sqllock/odbc.h>): a name SQL Server can hold exactly is sent as it is;
 * anything else, including a name that looks like a hashed one, becomes
 * "sqllock:sha256:" and the hex SHA-256 of its bytes. Also the UTF-8 to
 * UTF-16 conversion the resource is bound with (nvarchar).
 */
#include <string.h>

#include "odbc_int.h"

/* Decodes one strict UTF-8 sequence at s (no overlongs, no surrogates, at
   most U+10FFFF): its length, or 0 when invalid. */
static size_t utf8_one(const unsigned char *s, size_t left, unsigned long *cp)
{
    static const unsigned long min[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t n = s[0] < 0x80             ? 1
               : (s[0] & 0xe0) == 0xc0 ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3
               : (s[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (!n || n > left)
        return 0;
    unsigned long v = n == 1 ? s[0] : s[0] & (0x3f >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* UTF-16 length of s, or 0 when s is not valid UTF-8. */
static size_t utf16_len(const char *s, size_t len)
{
    size_t units = 0;
    for (size_t i = 0; i < len;) {
        unsigned long cp;
        size_t n = utf8_one((const unsigned char *)s + i, len - i, &cp);
        if (!n)
            return 0;
        units += cp >= 0x10000 ? 2 : 1;
        i += n;
    }
    return units;
}

size_t sqllock__mssql_resource(const char *name, size_t len, char *out)
{
    size_t plen = sizeof(MSSQL_HASH_PREFIX) - 1;
    size_t units = utf16_len(name, len);
    if (units && units <= 255 && name[len - 1] != ' ' &&
        !(len >= plen && memcmp(name, MSSQL_HASH_PREFIX, plen) == 0)) {
        memcpy(out, name, len);
        out[len] = '\0';
        return len;
    }
    unsigned char h[32];
    sqllock__sha256((const unsigned char *)name, len, h);
    memcpy(out, MSSQL_HASH_PREFIX, plen);
    for (int i = 0; i < 32; i++) {
        out[plen + 2 * i] = "0123456789abcdef"[h[i] >> 4];
        out[plen + 2 * i + 1] = "0123456789abcdef"[h[i] & 15];
    }
    out[plen + 64] = '\0';
    return plen + 64;
}

size_t sqllock_mssql_resource(const char *name, char *out, size_t size)
{
    char buf[MSSQL_RESOURCE_MAX + 1];
    size_t len = name ? strlen(name) : 0;
    if (!len || len > SQLLOCK_NAME_MAX || !out)
        return 0;
    size_t n = sqllock__mssql_resource(name, len, buf);
    if (n + 1 > size)
        return 0;
    memcpy(out, buf, n + 1);
    return n;
}

size_t sqllock__mssql_utf16(const char *s, size_t len, SQLWCHAR *out, size_t max)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 2 <= max;) {
        unsigned long cp;
        size_t n = utf8_one((const unsigned char *)s + i, len - i, &cp);
        if (!n)
            break;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            out[o++] = (SQLWCHAR)(0xd800 + (cp >> 10));
            out[o++] = (SQLWCHAR)(0xdc00 + (cp & 0x3ff));
        } else {
            out[o++] = (SQLWCHAR)cp;
        }
        i += n;
    }
    return o;
}
