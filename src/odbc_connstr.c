/*
 * ODBC connection strings: walking their key=value attributes (values may
 * be {braced}, where }} stands for a literal }), so that the library can
 * take out its own "backend=" attribute and mask every PWD value before a
 * driver's message or the string itself reaches a person.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "odbc_int.h"

int odbc_connstr_each(const char *s, odbc_attr_fn fn, void *arg)
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

struct redact_walk {
    const char *s;
    char *dst;
    size_t n, o, copied; /* output used; input copied so far */
};

static void put(struct redact_walk *w, const char *p, size_t len)
{
    for (size_t i = 0; i < len && w->o + 1 < w->n; i++)
        w->dst[w->o++] = p[i];
}

static int redact_attr(void *arg, const char *key, size_t klen, const char *val, size_t vlen,
                       size_t start, size_t end)
{
    struct redact_walk *w = arg;
    (void)start;
    (void)end;
    if (klen == 3 && strncasecmp(key, "PWD", 3) == 0) {
        size_t v0 = (size_t)(val - w->s);
        put(w, w->s + w->copied, v0 - w->copied);
        put(w, "***", 3);
        w->copied = v0 + vlen;
    }
    return 0;
}

void odbc_connstr_redact(char *dst, size_t n, const char *s)
{
    struct redact_walk w = {s, dst, n, 0, 0};
    if (n == 0)
        return;
    if (odbc_connstr_each(s, redact_attr, &w) != 0) {
        /* Unparsable: no telling where a password ends, so show nothing. */
        snprintf(dst, n, "(malformed connection string, not shown)");
        return;
    }
    put(&w, s + w.copied, strlen(s + w.copied));
    dst[w.o] = '\0';
}
