/* SPDX-License-Identifier: MIT */
/*
 * ODBC connection strings: walking their key=value attributes (values may
 * be {braced}, where }} stands for a literal }), so that the library can
 * take out its own "backend=" attribute and collect every PWD value, to be
 * masked before a driver's message reaches a person.
 */
#include "odbc_int.h"

int sqllock__odbc_connstr_each(const char *s, odbc_attr_fn fn, void *arg)
{
    size_t i = 0;
    while (s[i]) {
        size_t start = i;
        while (s[i] == ' ' || s[i] == ';')
            i++;
        if (!s[i])
            break;
        start = i;
        size_t k0 = i;
        while (s[i] && s[i] != '=' && s[i] != ';')
            i++;
        if (s[i] != '=')
            return -1; /* an attribute without a value */
        size_t klen = i - k0;
        while (klen && s[k0 + klen - 1] == ' ')
            klen--;
        i++;
        size_t v0 = i, vlen;
        if (s[i] == '{') {
            /* Braced: ends at a } that is not doubled. */
            for (i++;; i++) {
                if (!s[i])
                    return -1;
                if (s[i] == '}') {
                    if (s[i + 1] == '}') {
                        i++;
                        continue;
                    }
                    break;
                }
            }
            i++;
            vlen = i - v0;
            while (s[i] == ' ')
                i++;
            if (s[i] && s[i] != ';')
                return -1;
        } else {
            while (s[i] && s[i] != ';')
                i++;
            vlen = i - v0;
        }
        if (fn && fn(arg, s + k0, klen, s + v0, vlen, start, i) != 0)
            return -1;
        if (s[i] == ';')
            i++;
    }
    return 0;
}
