/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: no message of sqllock_connect() ever shows a password.
 * The input is spliced into a connection string that also holds a known
 * password PW, in the places a password can sit: a URL's userinfo, a
 * password= keyword (quoted, with the input inside the quotes), a URL query
 * parameter, and an ODBC PWD= attribute (plain and {braced}); and strings
 * with many password parameters (MANY of them, key=value, URL query and
 * PWD=, each a different password that starts with PW), past any fixed
 * number of slots a list of secrets could have. Whatever libpq or the
 * ODBC driver manager then says about the string, the password, or any
 * 6-byte piece of it, must not be in sqllock_errmsg():
 * libpq quotes fragments of the string in its parse errors and host names
 * in its connect errors, and a host name can hold part of a password when
 * the input adds a second '@'.
 *
 * Nothing may reach the network or take long: connect() and getaddrinfo()
 * are replaced below (the executable's definitions win over libc's for
 * libpq and for ODBC drivers loaded later), so every attempt fails at once,
 * on the path that quotes host names. ODBC strings that could name a real
 * driver or data source are not tried.
 */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sqllock.h"

#define PW "Zq7xK3pW9mTe"
#define PIECE 6
/* Password parameters in the "many" forms: PW01 .. PW<MANY>, none a prefix
   of another (masking PW1 in PW12 would hide the leak of the rest). */
#define MANY 12

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* No network: every connection is refused, every name unknown. Exported
   (the build hides symbols by default) so that libpq binds to these. */
#define EXPORTED __attribute__((visibility("default")))

EXPORTED int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    (void)fd, (void)addr, (void)len;
    errno = ECONNREFUSED;
    return -1;
}

EXPORTED int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                         struct addrinfo **res)
{
    (void)node, (void)service, (void)hints;
    *res = NULL;
    return EAI_NONAME;
}

/* 1 when s contains PW or any PIECE bytes of it. */
static int has_piece(const char *s, size_t len)
{
    static const char pw[] = PW;
    for (size_t p = 0; p + PIECE <= sizeof(pw) - 1; p++)
        for (size_t i = 0; i + PIECE <= len; i++)
            if (memcmp(s + i, &pw[p], PIECE) == 0)
                return 1;
    return 0;
}

/* 1 when in, with backslashes dropped and %XX decoded, holds a piece. */
static int brings_piece(const char *in)
{
    char flat[1025];
    size_t n = 0;
    for (size_t i = 0; in[i]; i++) {
        if (in[i] == '\\')
            continue;
        if (in[i] == '%' && isxdigit((unsigned char)in[i + 1]) &&
            isxdigit((unsigned char)in[i + 2])) {
            char hex[3] = {in[i + 1], in[i + 2], '\0'};
            flat[n++] = (char)strtol(hex, NULL, 16);
            i += 2;
            continue;
        }
        flat[n++] = in[i];
    }
    return has_piece(flat, n);
}

/* 1 when, ignoring case and blanks, s mentions a keyword that makes the
   driver manager load a real driver or read/write a DSN file. */
static int names_driver(const char *s)
{
    static const char *const words[] = {"driver", "dsn", "savefile"};
    char flat[4096];
    size_t n = 0;
    for (size_t i = 0; s[i] && n + 1 < sizeof(flat); i++)
        if (!isspace((unsigned char)s[i]))
            flat[n++] = (char)tolower((unsigned char)s[i]);
    flat[n] = '\0';
    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++)
        if (strstr(flat, words[w]))
            return 1;
    return 0;
}

/* A form is the text before and after the input. */
struct form {
    const char *before, *after;
};

static void check(const struct form *f, const char *in)
{
    char url[2048];
    snprintf(url, sizeof(url), "%s%s%s", f->before, in, f->after);
    sqllock_client *c = NULL;
    sqllock_status st = sqllock_connect(&c, url);
    const char *msg = sqllock_errmsg(c);
    if (st == SQLLOCK_OK || has_piece(msg, strlen(msg))) {
        fprintf(stderr, "password leaked (status %d)\n  url: %s\n  msg: %s\n", (int)st, url,
                msg);
        abort();
    }
    sqllock_client_free(c);
}

/* The "many" forms: text before and after the input, built once. */
#define MANY_BUF (MANY * 32 + 64)
static char kv_many[MANY_BUF], kv_host[MANY_BUF], kv_tail[64], url_query_after[MANY_BUF],
    url_user[64], url_path[MANY_BUF], odbc_many[MANY_BUF];
static const struct form many_forms[] = {
    {kv_host, kv_tail},    /* the input is the host name */
    {kv_many, kv_tail},    /* the input between the passwords */
    {url_query_after, ""}, /* the input after a query of passwords */
    {url_user, url_path},  /* the input is the host of such a URL */
    {odbc_many, ""},       /* many PWD=, the input after them: ODBC */
};
#define N_MANY_PG (sizeof(many_forms) / sizeof(many_forms[0]) - 1)

/* sep-separated key=PW01 .. key=PW<last>, every other value {braced} if braces. */
static size_t many(char *out, size_t n, const char *sep, const char *key, int last, int braces)
{
    size_t o = 0;
    for (int i = 1; i <= last && o < n; i++) {
        int b = braces && i % 2 == 0;
        o += (size_t)snprintf(out + o, n - o, "%s%s%s" PW "%02d%s", i > 1 ? sep : "", key,
                              b ? "{" : "", i, b ? "}" : "");
    }
    return o;
}

static void build_many_forms(void)
{
    many(kv_many, sizeof(kv_many), " ", "password=", MANY - 1, 0);
    /* An empty host= before the last one: libpq takes "password=PW12" as
       the host name, and quotes it. */
    snprintf(kv_host, sizeof(kv_host), "%s host=", kv_many);
    snprintf(kv_tail, sizeof(kv_tail), " password=" PW "%02d", MANY);
    size_t o = (size_t)snprintf(url_query_after, sizeof(url_query_after), "postgres://h/db?");
    o += many(url_query_after + o, sizeof(url_query_after) - o, "&", "password=", MANY - 1, 0);
    snprintf(url_query_after + o, sizeof(url_query_after) - o, "&");
    snprintf(url_user, sizeof(url_user), "postgresql://u:" PW "%02d@", MANY);
    o = (size_t)snprintf(url_path, sizeof(url_path), "/db?");
    many(url_path + o, sizeof(url_path) - o, "&", "password=", MANY - 1, 0);
    o = (size_t)snprintf(odbc_many, sizeof(odbc_many), "odbc:Driver={sqllock-fuzz-none};");
    o += many(odbc_many + o, sizeof(odbc_many) - o, ";", "PWD=", MANY, 1);
    snprintf(odbc_many + o, sizeof(odbc_many) - o, ";");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    build_many_forms();
    /* Only the string decides: no password, service or host from outside. */
    unsetenv("PGPASSWORD");
    unsetenv("PGSERVICE");
    unsetenv("PGHOST");
    unsetenv("PGHOSTADDR");
    setenv("PGPASSFILE", "/nonexistent/pgpass", 1);
    setenv("PGSERVICEFILE", "/nonexistent/pg_service.conf", 1);
    setenv("PGCONNECT_TIMEOUT", "1", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024 || memchr(data, '\0', size))
        return 0; /* C strings; long ones add nothing */
    char in[1025];
    memcpy(in, data, size);
    in[size] = '\0';
    /* The input must not bring the password itself: then a message that
       quotes the input would be no leak. Nor in escaped form: libpq drops
       a backslash in a keyword value and decodes %XX in a URL. */
    if (has_piece(in, size) || brings_piece(in))
        return 0;

    static const struct form pg_forms[] = {
        {"postgresql://u:" PW "@", ""},
        {"postgresql://u:" PW, "@h/db"}, /* the input may end the userinfo */
        {"postgresql://", ":" PW "@h/db"},
        {"postgres://h/db?password=" PW "&", ""},
        {"host=", " password=" PW},
        {"password='" PW, "' host=/nonexistent"},
        {"password=" PW " ", ""},
        {"", " password=" PW},
    };
    for (size_t f = 0; f < sizeof(pg_forms) / sizeof(pg_forms[0]); f++)
        check(&pg_forms[f], in);
    for (size_t f = 0; f < N_MANY_PG; f++)
        check(&many_forms[f], in);

    if (names_driver(in))
        return 0;
    static const struct form odbc_forms[] = {
        {"odbc:Driver={sqllock-fuzz-none};PWD=" PW ";", ""},
        {"odbc:Driver={sqllock-fuzz-none};", ";PWD={" PW "}"},
        {"odbc:Driver={sqllock-fuzz-none};PWD={" PW, "}"},
    };
    for (size_t f = 0; f < sizeof(odbc_forms) / sizeof(odbc_forms[0]); f++)
        check(&odbc_forms[f], in);
    check(&many_forms[N_MANY_PG], in);
    return 0;
}
