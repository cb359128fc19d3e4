/*
 * Keeping secrets out of messages. libpq's own error text can carry a
 * password: parse errors quote the offending fragment of the connection
 * string verbatim. Every message that came from a driver passes through
 * here before the caller can see it.
 */
#include <string.h>

#include "sqllock_int.h"

#define MASK "***"

void sqllock__redact(char *dst, size_t n, const char *src, const char *const *secrets,
                     int mask_quoted)
{
    size_t o = 0;
    if (n == 0)
        return;
    for (size_t i = 0; src && src[i] && o + 1 < n;) {
        size_t skip = 0;
        if (mask_quoted && src[i] == '"') {
            const char *end = strchr(src + i + 1, '"');
            /* An unterminated quote hides the rest: it may be all secret. */
            skip = end ? (size_t)(end - (src + i)) + 1 : strlen(src + i);
        }
        for (int s = 0; !skip && secrets && secrets[s]; s++) {
            size_t len = strlen(secrets[s]);
            if (len && strncmp(src + i, secrets[s], len) == 0)
                skip = len;
        }
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
