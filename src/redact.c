/* SPDX-License-Identifier: MIT */
/*
 * Keeping secrets out of messages. libpq's own error text can carry a
 * password: parse errors quote the offending fragment of the connection
 * string verbatim. Every message that came from a driver passes through
 * here before the caller can see it.
 *
 * Fail closed: the list of secrets grows with the string (a string may
 * hold any number of password parameters), and once an allocation has
 * failed the list is known to be incomplete, so the driver's text is not
 * shown at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqllock_int.h"

#define MASK "***"
#define WITHHELD                                                                                \
    "(the driver's message is withheld: out of memory while collecting the "                    \
    "passwords to mask in it)"

int sqllock__secrets_add(struct sqllock_secrets *s, const char *secret, size_t len)
{
    if (!secret || !len)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        char **v = realloc(s->v, cap * sizeof(*v));
        if (!v) {
            s->incomplete = 1;
            return -1;
        }
        s->v = v;
        s->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        s->incomplete = 1;
        return -1;
    }
    memcpy(copy, secret, len);
    copy[len] = '\0';
    s->v[s->n++] = copy;
    return 0;
}

void sqllock__secrets_free(struct sqllock_secrets *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* The length of the longest secret that starts at p, or 0: masking a
   shorter one that is a prefix of a longer would show the longer's tail. */
static size_t secret_at(const char *p, const struct sqllock_secrets *s)
{
    size_t best = 0;
    for (size_t k = 0; s && k < s->n; k++) {
        size_t len = strlen(s->v[k]);
        if (len > best && strncmp(p, s->v[k], len) == 0)
            best = len;
    }
    return best;
}

void sqllock__redact(char *dst, size_t n, const char *src, const struct sqllock_secrets *secrets,
                     int mask_quoted)
{
    size_t o = 0;
    if (n == 0)
        return;
    if (secrets && secrets->incomplete) {
        snprintf(dst, n, "%s", WITHHELD);
        return;
    }
    for (size_t i = 0; src && src[i] && o + 1 < n;) {
        size_t skip = 0;
        if (mask_quoted && src[i] == '"') {
            const char *end = strchr(src + i + 1, '"');
            /* An unterminated quote hides the rest: it may be all secret. */
            skip = end ? (size_t)(end - (src + i)) + 1 : strlen(src + i);
        }
        if (!skip)
            skip = secret_at(src + i, secrets);
        if (!skip) {
            dst[o++] = src[i++];
            continue;
        }
        const char *mask = mask_quoted && src[i] == '"' ? "\"" MASK "\"" : MASK;
        for (size_t m = 0; mask[m] && o + 1 < n; m++)
            dst[o++] = mask[m];
        i += skip;
    }
    dst[o] = '\0';
}
