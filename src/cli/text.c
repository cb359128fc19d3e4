/*
 * Small text helpers the subcommands share: a strict integer parser for
 * option values, UTF-8 validation (a name that is not UTF-8 cannot be
 * written as an SQL literal, and JSON must be UTF-8) and JSON strings.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int64_t cli_parse_uint(const char *s, int64_t max)
{
    size_t digits = strspn(s, "0123456789");
    if (digits == 0 || s[digits] != '\0' || digits > 18)
        return -1;
    int64_t n = strtoll(s, NULL, 10);
    return n <= max ? n : -1;
}

size_t cli_utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n;
    uint32_t cp, min;
    if ((p[0] & 0xe0) == 0xc0)
        n = 2, cp = p[0] & 0x1fu, min = 0x80;
    else if ((p[0] & 0xf0) == 0xe0)
        n = 3, cp = p[0] & 0x0fu, min = 0x800;
    else if ((p[0] & 0xf8) == 0xf0)
        n = 4, cp = p[0] & 0x07u, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0; /* also stops at the terminating NUL */
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    /* Overlong forms, UTF-16 surrogates and values past Unicode are not UTF-8. */
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return n;
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = cli_utf8_len(p);
        if (n == 0) {
            fputs("\\ufffd", f);
            p++;
        } else if (n > 1) {
            fwrite(p, 1, n, f);
            p += n;
        } else {
            if (*p == '"' || *p == '\\')
                fprintf(f, "\\%c", *p);
            else if (*p == '\n')
                fputs("\\n", f);
            else if (*p == '\t')
                fputs("\\t", f);
            else if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
            p++;
        }
    }
    fputc('"', f);
}
