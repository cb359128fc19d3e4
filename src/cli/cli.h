/* SPDX-License-Identifier: MIT */
/*
 * Internal to the sqllock command: the exit statuses it promises, the
 * context every subcommand receives, and the helpers the subcommand files
 * share (messages, durations, the command's own libpq connection and the
 * pg_locks queries). The command is a client of the public API like any
 * other program; nothing here reaches into the library's internals.
 */
#ifndef SQLLOCK_CLI_H
#define SQLLOCK_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "sqllock.h"

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* The BSD sysexits values, so that scripts can tell the cases apart. */
#define CLI_EXIT_USAGE 64       /* EX_USAGE: bad invocation or bad URL */
#define CLI_EXIT_UNAVAILABLE 69 /* EX_UNAVAILABLE: the database cannot be reached */
#define CLI_EXIT_LOST 70        /* EX_SOFTWARE: the lock was lost while PROGRAM ran */
#define CLI_EXIT_OSERR 71       /* EX_OSERR: fork, pipe or the like failed */
#define CLI_EXIT_CANTCREAT 73   /* EX_CANTCREAT: once: ran, but not recorded as done */
#define CLI_EXIT_BUSY 75        /* EX_TEMPFAIL: the lock could not be had */
#define CLI_EXIT_NOPERM 77      /* EX_NOPERM: the role may not, or the database is read-only */
#define CLI_EXIT_NOTFOUND 127   /* PROGRAM not found, as shells say */
#define CLI_EXIT_NOEXEC 126     /* PROGRAM found but not executable */

/* What the global options set; each subcommand may also set them. */
struct cli {
    const char *url; /* --url, or NULL: see cli_url() */
    int verbose;     /* -v */
};

/*
 * A numeric advisory key as --key takes it: "N" (int8, the space of
 * pg_advisory_lock(bigint)) or "A/B" (two int4, the space of
 * pg_advisory_lock(int, int)): a different server lock from the int8 key
 * with the same bits.
 */
struct cli_key {
    int pair;     /* 1: A/B */
    int32_t a, b; /* the pair */
    int64_t key;  /* the int8 key; for a pair A<<32 | B as unsigned, which
                       is how pg_locks shows both (classid, objid) */
};
/* text.c: parses "N" or "A/B" (decimal, optional '-', nothing else): 0, or -1. */
int cli_parse_key(struct cli_key *k, const char *s);
/* k as --key takes it, into buf. */
void cli_key_format(char *buf, size_t n, const struct cli_key *k);

/* A subcommand: argv[0] is its name; returns the process's exit status. */
typedef int (*cli_cmd_fn)(struct cli *cli, int argc, char **argv);

int cmd_run(struct cli *cli, int argc, char **argv);

/* run_opts.c: what `sqllock run` was asked to do. */
struct run_opts {
    const char *name;                 /* NULL with --key; the first of names */
    const char *const *names;         /* the NAMEs, all taken or none */
    int nnames;                       /* 0 with --key */
    struct cli_key key;               /* --key, or the advisory key of name */
    char what[SQLLOCK_NAME_MAX + 64]; /* for messages: lock "NAME" or lock key N */
    int64_t wait_ms;
    int shared;
    int64_t ttl_ms;
    int busy_code;
    int64_t check_ms, grace_ms;
    char **program;
};
/* Parses run's argv (argv[0] is "run"): 0 with *o filled (*help set for
   --help, and then nothing else is), or the exit status, said on stderr. */
int run_opts_parse(struct cli *cli, struct run_opts *o, int argc, char **argv, int *help);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_list(struct cli *cli, int argc, char **argv);
int cmd_key(struct cli *cli, int argc, char **argv);
int cmd_init(struct cli *cli, int argc, char **argv);
int cmd_once(struct cli *cli, int argc, char **argv);

/* main.c: the database to use: --url, else $SQLLOCK_URL, else $DATABASE_URL
   (empty values count as unset); NULL when there is none. */
const char *cli_url(const struct cli *cli);

/* Whether url is one libpq reads (not "odbc:..."): status, list and the
   reports of -v read pg_locks over libpq. */
int cli_url_is_libpq(const char *url);

/* The help texts, printed by --help and `sqllock help COMMAND`. */
extern const char cmd_run_help[], cmd_status_help[], cmd_list_help[], cmd_key_help[];
extern const char cmd_init_help[], cmd_once_help[];
/* main.c: connects a library client to cli_url() for subcommand `what`.
   Returns 0 with *out set, or an exit status after saying why on stderr
   (64 no URL, a malformed one or one this build cannot use; 69 otherwise). */
int cli_connect(sqllock_client **out, const struct cli *cli, const char *what);

/* ---- messages (message.c) -------------------------------------------------- */

/* Prints "sqllock: <message>" on stderr as exactly one line: line breaks in
   the message (libpq's detail lines) become "; ". */
void cli_err(const char *fmt, ...) CLI_PRINTF(1, 2);

/* Says why a library call on c failed with st (c's message), and returns
   the exit status for it: CLI_EXIT_USAGE for EINVAL and ENOTSUP (a bad URL
   or one this build cannot use), CLI_EXIT_NOPERM when the server refused
   for want of a privilege (42501) or because it is read-only (25006), and
   CLI_EXIT_UNAVAILABLE for everything else. c may be NULL. */
int cli_fail(const sqllock_client *c, sqllock_status st);

/* cli_err(), then returns CLI_EXIT_USAGE with a pointer to --help. */
int cli_usage(const char *command, const char *fmt, ...) CLI_PRINTF(2, 3);

/* Reports what getopt_long() complained about (it returned c, '?' or ':',
   and is quiet because opterr is 0); returns CLI_EXIT_USAGE. */
int cli_bad_option(const char *command, int c, char **argv);

/* ---- text (text.c) ----------------------------------------------------------- */

/* Parses a whole non-negative decimal integer in [0, max]; -1 if s is not one. */
int64_t cli_parse_uint(const char *s, int64_t max);

/* Length of the valid UTF-8 sequence at p (1 for ASCII), 0 if invalid. */
size_t cli_utf8_len(const unsigned char *p);

/* Writes s as a JSON string (quotes included); invalid UTF-8 becomes U+FFFD. */
void cli_json_string(FILE *f, const char *s);
/* Writes " name=value", the value as a JSON string when it would not read
   back as one word; "?" for NULL (what this role may not see). */
void cli_put_field(FILE *f, const char *name, const char *v);

/* ---- durations (duration.c) ------------------------------------------------ */

/*
 * "250ms", "10s", "5m", "1h" or a bare number of seconds, into *ms. The number
 * is a decimal integer; anything else (sign, empty, fraction, unknown unit,
 * trailing junk, more than INT64_MAX ms) is refused. 0 on success, -1 not.
 */
int cli_parse_duration(int64_t *ms, const char *s);

/* ---- the command's own libpq connection (pgconn.c) ------------------------- */

/*
 * Opens a plain libpq connection for what the lock API does not offer
 * (reading pg_locks). purpose becomes its fallback application_name. Returns
 * 0 with *out set, or an exit status (CLI_EXIT_USAGE for a malformed URL,
 * CLI_EXIT_UNAVAILABLE otherwise) after saying why on stderr, with every
 * password and quoted fragment masked.
 */
int cli_pg_open(PGconn **out, const char *url, const char *purpose);
/* *rows: a zeroed array of one element of size per row of r (NULL for no
   rows). The number of rows, or -1 after saying "out of memory". */
int cli_pg_rows(void **rows, const PGresult *r, size_t size);
/* A copy of the value (NULL for SQL NULL, or when out of memory). */
char *cli_pg_value(const PGresult *r, int row, int col);

/* ---- holders and waiters (holders.c) --------------------------------------- */

/* One row of pg_locks for an advisory lock, with its session's details. */
struct holder {
    int64_t key; /* the int8 key when pair == 0 */
    int pair;    /* 1 for a pg_advisory_lock(int4, int4) lock */
    uint32_t pair1, pair2;
    int shared;          /* ShareLock rather than ExclusiveLock */
    int granted;         /* 0: waiting */
    long pid;            /* 0 for a prepared transaction */
    char *appname;       /* NULL when not visible to this role */
    char *client;        /* "local", an address, or NULL */
    char *session_since; /* backend_start, UTC, ISO 8601 */
    char *waiting_since; /* pg_locks.waitstart (PostgreSQL 14+), or NULL */
};

struct holders {
    struct holder *rows;
    int count;
};

/* Fills *out with the advisory locks on the current database, only those of
   *key when key is not NULL; holders first. 0, or -1 after saying why. */
int holders_fetch(struct holders *out, PGconn *conn, const struct cli_key *key);
void holders_free(struct holders *h);
/* Number of rows that hold (granted). */
int holders_granted(const struct holders *h);
/* One human-readable line for h, without a newline. */
void holder_print_text(FILE *f, const struct holder *h, int with_key);
/* One JSON object for h, followed by a newline. */
void holder_print_json(FILE *f, const struct holder *h);

/* ---- SQL Server applocks (applocks.c) ---------------------------------------- */

/* status (name) or list (name NULL) over an odbc: URL whose DBMS is SQL
   Server: prints the applocks from sys.dm_tran_locks and returns the exit
   status; -1 (nothing printed) when the DBMS is another. */
int applocks_show(const char *url, const char *command, const char *name, int json);

/* ---- leases (leases.c) ------------------------------------------------------- */

/* One held lease: a row of sqllock_lease that has not expired. */
struct lease_row {
    char *name;  /* the name's bytes, NUL-terminated */
    char *token; /* fencing token, decimal */
    char *owner_host, *owner_id;
    long owner_pid;
    char *since, *expires; /* acquired_at, expires_at: UTC, ISO 8601 */
    int released;          /* released before its ttl_min_ms: held until then */
};

struct leases {
    struct lease_row *rows;
    int count;
    int unreadable; /* the table exists but could not be read (said):
                              the exit status for it, 77 (no SELECT) or 69 */
};

/* Fills *out with the held leases, only name's when name is not NULL. A
   database without the table has none; a failed read sets unreadable after
   saying why on stderr. 0, or -1 (out of memory, said). */
int leases_fetch(struct leases *out, PGconn *conn, const char *name);
void leases_free(struct leases *ls);
/* One human-readable line for l, without a newline. */
void lease_print_text(FILE *f, const struct lease_row *l, int with_name);
/* One JSON object for l, followed by a newline. */
void lease_print_json(FILE *f, const struct lease_row *l);

/* ---- reporting a wait (waitreport.c) --------------------------------------- */

struct waitreport;

/* Says on stderr now, and every few seconds until waitreport_stop(), who
   holds the locks with these n keys (of several, those someone holds);
   whats[i] names keys[i] ("lock \"NAME\" (key K)"). All are borrowed until
   waitreport_stop(). NULL if it could not start (not fatal). */
struct waitreport *waitreport_start(const char *url, int n, const char *const *whats,
                                    const struct cli_key *keys);
void waitreport_stop(struct waitreport *w);

/* Says once, on stderr, who holds those locks (a failed wait). */
void waitreport_once(const char *url, int n, const char *const *whats,
                     const struct cli_key *keys);

/* ---- watching the lock while PROGRAM runs (checker.c) ---------------------- */

struct checker;

/* Calls sqllock_check on each of l[0..n) every every_ms on a thread of its
   own, which is the only user of c until checker_stop(); leases are kept
   alive instead (sqllock_keep_alive_run). l must live until then. NULL if
   it could not start. */
struct checker *checker_start(sqllock_client *c, sqllock_lock *const *l, int n, int every_ms);
/* Becomes readable once a check found the lock gone; the thread then ends. */
int checker_fd(const struct checker *k);
/* Why the lock was found gone; call once, after checker_fd() is readable. */
const char *checker_reason(struct checker *k);
/* Ends the thread (after the check in progress, if any) and frees k: 0;
   -1 when that check has not ended in seconds (the server does not
   answer), and the thread still uses c. */
int checker_stop(struct checker *k);

/* ---- signals and the child (signals.c) ------------------------------------- */

/*
 * Catches SIGINT, SIGTERM, SIGHUP (unless ignored at start) and SIGCHLD.
 * Each signal is queued on a self-pipe; the first three also call
 * sqllock_cancel() on the client given to signals_set_client(), so that a
 * waiting acquire returns SQLLOCK_CANCELED. 0, or -1 with errno.
 */
int signals_init(void);
/* The client to cancel (NULL: none). */
void signals_set_client(sqllock_client *c);
/* The first of SIGINT, SIGTERM, SIGHUP that arrived, or 0. Checked after
   signals_set_client(), so that one arriving before the client existed is
   not lost. */
int signals_terminating(void);
/* The fd that becomes readable when a signal was queued. */
int signals_fd(void);
/* The next queued signal, or 0 when none; *from_kernel is set when the
   terminal (or another kernel source) sent it rather than kill(2). */
int signals_next(int *from_kernel);

#endif /* SQLLOCK_CLI_H */
