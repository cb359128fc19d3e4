/* SPDX-License-Identifier: MIT */
/*
 * Small text helpers the subcommands share: a strict integer parser for
 * option values, UTF-8 validation (a name that is not UTF-8 cannot be
 * written as an SQL literal, and JSON must be UTF-8) and JSON strings.
 */
#include <errno.h>
#include <inttypes.h>
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

/* A whole decimal integer in [min, max], with an optional '-': 0, or -1. */
static int parse_int(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
{
    size_t sign = len > 0 && s[0] == '-';
    size_t digits = strspn(s + sign, "0123456789");
    if (digits == 0 || sign + digits != len || digits > 19)
        return -1;
    char buf[24];
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno == ERANGE || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_key(struct cli_key *k, const char *s)
{
    const char *slash = strchr(s, '/');
    *k = (struct cli_key){0};
    if (!slash)
        return parse_int(s, strlen(s), INT64_MIN, INT64_MAX, &k->key);
    int64_t a, b;
    if (parse_int(s, (size_t)(slash - s), INT32_MIN, INT32_MAX, &a) != 0 ||
        parse_int(slash + 1, strlen(slash + 1), INT32_MIN, INT32_MAX, &b) != 0)
        return -1;
    k->pair = 1;
    k->a = (int32_t)a;
    k->b = (int32_t)b;
    k->key = (int64_t)((uint64_t)(uint32_t)k->a << 32 | (uint32_t)k->b);
    return 0;
}

void cli_key_format(char *buf, size_t n, const struct cli_key *k)
{
    if (k->pair)
        snprintf(buf, n, "%" PRId32 "/%" PRId32, k->a, k->b);
    else
        snprintf(buf, n, "%" PRId64, k->key);
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

/* name=value, the value quoted when it would not read back as one word;
   "?" when this role may not see it. */
void cli_put_field(FILE *f, const char *name, const char *v)
{
    fprintf(f, " %s=", name);
    if (!v) {
        fputc('?', f);
        return;
    }
    if (*v && !strpbrk(v, " \t\n\"\\="))
        fputs(v, f);
    else
        cli_json_string(f, v);
}
