/* SPDX-License-Identifier: MIT */
/*
 * Parts of the library that need no server: status strings, the name -> key
 * rule (against values PostgreSQL 15 computed), redaction, version.
 */
#include "harness.h"
#include "sqllock_int.h"

static void t_status_strings(void)
{
    const sqllock_status all[] = {SQLLOCK_OK,       SQLLOCK_BUSY,     SQLLOCK_TIMEOUT,
                                  SQLLOCK_CANCELED, SQLLOCK_DEADLOCK, SQLLOCK_LOST,
                                  SQLLOCK_EINVAL,   SQLLOCK_ECONNECT, SQLLOCK_ESERVER,
                                  SQLLOCK_ENOMEM,   SQLLOCK_ENOTSUP,  SQLLOCK_ESTATE};
    const size_t n = sizeof(all) / sizeof(all[0]);
    for (size_t i = 0; i < n; i++) {
        const char *s = sqllock_status_str(all[i]);
        CHECK(s && *s && strcmp(s, "unknown status") != 0);
        for (size_t j = 0; j < i; j++)
            CHECKF(strcmp(s, sqllock_status_str(all[j])) != 0, "%d and %d share \"%s\"", all[i],
                   all[j], s);
    }
    /* The numbering is the ABI: it must never change. */
    CHECK(SQLLOCK_OK == 0 && SQLLOCK_BUSY == 1 && SQLLOCK_TIMEOUT == 2 &&
          SQLLOCK_CANCELED == 3 && SQLLOCK_DEADLOCK == 4 && SQLLOCK_LOST == 5);
    CHECK(SQLLOCK_EINVAL == -1 && SQLLOCK_ECONNECT == -2 && SQLLOCK_ESERVER == -3 &&
          SQLLOCK_ENOMEM == -4 && SQLLOCK_ENOTSUP == -5 && SQLLOCK_ESTATE == -6);
    CHECK(strcmp(sqllock_status_str((sqllock_status)1234), "unknown status") == 0);
}

static void t_key_vectors(void)
{
    /* SELECT hashtextextended(n, 0) on PostgreSQL 15, x86-64. Lengths
       cover every tail case of the 12-byte blocks. */
    static const struct {
        const char *name;
        long long key;
    } v[] = {
        {"a", 3591986179850072241LL},
        {"abc", -6747756470228489321LL},
        {"hello", 3449563369152288809LL},
        {"exactly12byt", -1607044592329689743LL},
        {"a longer name of 25 bytes", -1604368427894919318LL},
        {"x", -474845166489675639LL},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        CHECKF(sqllock_advisory_key(v[i].name) == v[i].key, "key(%s) = %lld, want %lld",
               v[i].name, (long long)sqllock_advisory_key(v[i].name), v[i].key);
    CHECK(sqllock_advisory_key(NULL) == 0);
}

/* A secret list of the given strings (the case fails if memory runs out). */
static int secrets_of(struct sqllock_secrets *s, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (sqllock__secrets_add(s, v[i], strlen(v[i])) != 0)
            return 0;
    return 1;
}

static void t_redact(void)
{
    char out[128];
    const char *list[] = {"hunter2", "p%40ss"};
    struct sqllock_secrets secrets = {0};
    CHECK(secrets_of(&secrets, list, 2));
    sqllock__redact(out, sizeof(out), "password hunter2 and p%40ss here", &secrets, 0);
    CHECK(strcmp(out, "password *** and *** here") == 0);
    sqllock__redact(out, sizeof(out), "missing \"=\" after \"hunter2\" in", NULL, 1);
    CHECK(strcmp(out, "missing \"***\" after \"***\" in") == 0);
    /* An unterminated quote may hide a secret up to the end. */
    sqllock__redact(out, sizeof(out), "bad \"secret tail", NULL, 1);
    CHECK(strstr(out, "secret") == NULL);
    /* Truncation keeps the result terminated and never splits in a secret. */
    sqllock__redact(out, 8, "hunter2hunter2hunter2", &secrets, 0);
    CHECK(strlen(out) < 8 && strstr(out, "hunter") == NULL);
    sqllock__secrets_free(&secrets);
}

/*
 * The secret list has no fixed size: 200 secrets (past any slot count a
 * list could have had) are all masked, the longest match first, so that a
 * secret that is a prefix of another ("pw1" of "pw12") does not leave the
 * longer one's tail behind. Once an add has failed the list is
 * incomplete, and the whole text is withheld rather than shown.
 */
static void t_secrets_grow(void)
{
    struct sqllock_secrets s = {0};
    char secret[32], msg[8192] = "", out[8192];
    size_t m = 0;
    for (int i = 1; i <= 200; i++) {
        snprintf(secret, sizeof(secret), "Grw5pw%d", i);
        CHECK(sqllock__secrets_add(&s, secret, strlen(secret)) == 0);
        m += (size_t)snprintf(msg + m, sizeof(msg) - m, "host \"%s\" ", secret);
    }
    CHECK(s.n == 200 && !s.incomplete);
    sqllock__redact(out, sizeof(out), msg, &s, 0);
    char want[8192] = "";
    for (size_t i = 0, w = 0; i < 200; i++)
        w += (size_t)snprintf(want + w, sizeof(want) - w, "host \"***\" ");
    CHECKF(strcmp(out, want) == 0, "shown: %.200s", out);
    /* Empty strings are no secrets (they would match everywhere). */
    CHECK(sqllock__secrets_add(&s, "", 0) == 0 && sqllock__secrets_add(&s, NULL, 0) == 0);
    CHECK(s.n == 200);
    /* As after a failed allocation: nothing of the text is shown. */
    s.incomplete = 1;
    sqllock__redact(out, sizeof(out), "could not translate host name \"unlisted\"", &s, 0);
    CHECKF(!strstr(out, "unlisted") && strstr(out, "withheld"), "%s", out);
    sqllock__secrets_free(&s);
    CHECK(s.n == 0 && s.v == NULL && !s.incomplete);
}

static void t_version(void)
{
    CHECK(sqllock_version() == SQLLOCK_VERSION_NUMBER);
    char buf[32];
    snprintf(buf, sizeof(buf), "%d.%d.%d", SQLLOCK_VERSION_MAJOR, SQLLOCK_VERSION_MINOR,
             SQLLOCK_VERSION_PATCH);
    CHECK(strcmp(buf, SQLLOCK_VERSION) == 0);
}

static const struct tcase cases[] = {
    {"status_strings", t_status_strings,
     "every status has its own description and the numbering is fixed"},
    {"key_vectors", t_key_vectors,
     "names map to the keys PostgreSQL's hashtextextended(name, 0) gives"},
    {"redact", t_redact, "known secrets and quoted fragments are masked in messages"},
    {"secrets_grow", t_secrets_grow,
     "any number of secrets is masked, longest first; an incomplete list withholds the text"},
    {"version", t_version, "the version macros and sqllock_version() agree"},
};

T_MAIN(cases)
