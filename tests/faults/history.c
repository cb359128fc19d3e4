/* SPDX-License-Identifier: MIT */
/* Writing and reading history lines (format: history.h). */
#include "history.h"
#include "sqllock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const event_names[] = {
    "acquire_invoke", "acquire_ok",  "acquire_fail", "acquire_indeterminate",
    "release_invoke", "release_ok",  "release_fail", "lost",
    "fault",          "session_gone"};

int64_t hist_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *hist_event_str(enum hist_event e)
{
    return e < HIST_NONE ? event_names[e] : "?";
}

const char *hist_status_name(int s)
{
    static const char *const pos[] = {"OK", "BUSY", "TIMEOUT", "CANCELED", "DEADLOCK", "LOST"};
    static const char *const neg[] = {"EINVAL", "ECONNECT", "ESERVER",
                                      "ENOMEM", "ENOTSUP",  "ESTATE"};
    if (s >= 0 && s <= SQLLOCK_LOST)
        return pos[s];
    if (s < 0 && s >= SQLLOCK_ESTATE)
        return neg[-s - 1];
    return "UNKNOWN";
}

int hist_open(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* Copies s (or "-") into dst[0..cap), tabs and line breaks made blanks. */
static void field(char *dst, size_t cap, const char *s)
{
    size_t i;
    if (!s || !*s)
        s = "-";
    for (i = 0; s[i] && i + 1 < cap; i++)
        dst[i] = (s[i] == '\t' || s[i] == '\n' || s[i] == '\r') ? ' ' : s[i];
    dst[i] = '\0';
}

int hist_write(int fd, int64_t mono_ns, const char *proc, enum hist_event e, const char *name,
               int64_t token, const char *server_ts, const char *detail)
{
    char p[HIST_FIELD_MAX], n[HIST_FIELD_MAX], ts[64], d[HIST_FIELD_MAX], tok[24];
    char line[4 * HIST_FIELD_MAX + 128];
    int len;
    size_t i;

    field(p, sizeof p, proc);
    field(n, sizeof n, name);
    field(ts, sizeof ts, server_ts);
    for (i = 0; ts[i]; i++)
        if (ts[i] == ' ')
            ts[i] = 'T';
    field(d, sizeof d, detail);
    if (token < 0)
        strcpy(tok, "-");
    else
        snprintf(tok, sizeof tok, "%lld", (long long)token);
    len = snprintf(line, sizeof line, "%lld\t%s\t%s\t%s\t%s\t%s\t%s\n",
                   (long long)(mono_ns > 0 ? mono_ns : hist_mono_ns()), p, hist_event_str(e), n,
                   tok, ts, d);
    if (len < 0 || (size_t)len >= sizeof line)
        return -1;
    return write(fd, line, (size_t)len) == len ? 0 : -1;
}

/* Copies the field that starts at *s into dst (max cap) and moves *s past its
   tab; -1 when the field is empty or too long. */
static int take(const char **s, char *dst, size_t cap)
{
    size_t n = strcspn(*s, "\t");
    if (n == 0 || n >= cap)
        return -1;
    memcpy(dst, *s, n);
    dst[n] = '\0';
    *s += n + ((*s)[n] == '\t');
    return 0;
}

static int parse_ll(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

int hist_parse(const char *line, struct hist_line *out)
{
    char mono[32], ev[32], tok[24];
    const char *s = line;
    int i;

    if (take(&s, mono, sizeof mono) || take(&s, out->proc, sizeof out->proc) ||
        take(&s, ev, sizeof ev) || take(&s, out->name, sizeof out->name) ||
        take(&s, tok, sizeof tok) || take(&s, out->server_ts, sizeof out->server_ts) ||
        take(&s, out->detail, sizeof out->detail) || *s)
        return -1;
    if (parse_ll(mono, &out->mono_ns) || out->mono_ns <= 0)
        return -1;
    out->token = -1;
    if (strcmp(tok, "-") != 0 && (parse_ll(tok, &out->token) || out->token < 0))
        return -1;
    out->event = HIST_NONE;
    for (i = 0; i < HIST_NONE; i++)
        if (strcmp(ev, event_names[i]) == 0)
            out->event = (enum hist_event)i;
    return out->event == HIST_NONE ? -1 : 0;
}

int hist_detail_ll(const char *detail, const char *key, int64_t *out)
{
    size_t k = strlen(key);
    const char *p = detail;

    while ((p = strstr(p, key)) != NULL) {
        if ((p == detail || p[-1] == ' ') && p[k] == '=') {
            char *end;
            long long v = strtoll(p + k + 1, &end, 10);
            if (end != p + k + 1 && (*end == ' ' || *end == '\0')) {
                *out = v;
                return 1;
            }
        }
        p += k;
    }
    return 0;
}
