/*
 * Parts of the library that need no server: status strings, the name -> key
 * rule (against values PostgreSQL 15 computed), redaction, version.
 */
#include "harness.h"
#include "sqllock_int.h"

static void t_status_strings(void)
{
    const sqllock_status all[] = {SQLLOCK_OK, SQLLOCK_BUSY, SQLLOCK_TIMEOUT, SQLLOCK_CANCELED,
                                  SQLLOCK_DEADLOCK, SQLLOCK_LOST, SQLLOCK_EINVAL,
                                  SQLLOCK_ECONNECT, SQLLOCK_ESERVER, SQLLOCK_ENOMEM,
                                  SQLLOCK_ENOTSUP, SQLLOCK_ESTATE};
    const size_t n = sizeof(all) / sizeof(all[0]);
    for (size_t i = 0; i < n; i++) {
        const char *s = sqllock_status_str(all[i]);
        CHECK(s && *s && strcmp(s, "unknown status") != 0);
        for (size_t j = 0; j < i; j++)
            CHECKF(strcmp(s, sqllock_status_str(all[j])) != 0, "%d and %d share \"%s\"",
                   all[i], all[j], s);
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

static void t_redact(void)
{
    char out[128];
    const char *secrets[] = {"hunter2", "p%40ss", NULL};
    sqllock__redact(out, sizeof(out), "password hunter2 and p%40ss here", secrets, 0);
    CHECK(strcmp(out, "password *** and *** here") == 0);
    sqllock__redact(out, sizeof(out), "missing \"=\" after \"hunter2\" in", NULL, 1);
    CHECK(strcmp(out, "missing \"***\" after \"***\" in") == 0);
    /* An unterminated quote may hide a secret up to the end. */
    sqllock__redact(out, sizeof(out), "bad \"secret tail", NULL, 1);
    CHECK(strstr(out, "secret") == NULL);
    /* Truncation keeps the result terminated and never splits in a secret. */
    sqllock__redact(out, 8, "hunter2hunter2hunter2", secrets, 0);
    CHECK(strlen(out) < 8 && strstr(out, "hunter") == NULL);
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
    {"version", t_version, "the version macros and sqllock_version() agree"},
};

T_MAIN(cases)
